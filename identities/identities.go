// Package identities turns identities vouched for by outside identity
// providers (social backends) into local accounts: it finds the account
// an identity is linked to (storage.Identities, keyed by backend and
// upstream subject, never by e-mail), links one by verified e-mail when
// the backend allows it, provisions one just in time when the backend
// allows that, links identities explicitly for a signed-in user, unlinks
// them, and keeps the groups the backend's rules manage in step with the
// upstream at each sign-in.
package identities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

// Store is what the service needs of the durable store.
type Store interface {
	storage.Identities
	GetUser(ctx context.Context, id int64) (storage.User, error)
	UserByUsername(ctx context.Context, username string) (storage.User, error)
	UserByEmail(ctx context.Context, email string) (storage.User, error)
	CreateUser(ctx context.Context, u *storage.User) error
	UserGroups(ctx context.Context, userID int64) ([]storage.Group, error)
	SetUserGroups(ctx context.Context, userID int64, groups []string) error
	GetGroup(ctx context.Context, name string) (storage.Group, error)
	CreateGroup(ctx context.Context, g storage.Group) error
}

// Auditor records audit events (*audit.Recorder).
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// Errors of a sign-in or a link, for the pages to put in words.
var (
	// ErrNotLinked: the identity is linked to nobody and the backend
	// neither links by verified e-mail (or the address is not verified)
	// nor provisions.
	ErrNotLinked = errors.New("identities: this account is not linked to a user")
	// ErrInactive: the linked account is deactivated.
	ErrInactive = errors.New("identities: the linked user is not active")
	// ErrLinkedElsewhere: the identity is linked to another user already.
	ErrLinkedElsewhere = errors.New("identities: the identity is linked to another user")
	// ErrAlreadyLinked: the user has an identity of that backend already.
	ErrAlreadyLinked = errors.New("identities: the user already has an identity of this backend")
	// ErrLastSignIn: unlinking would leave the user no way to sign in.
	ErrLastSignIn = errors.New("identities: this is the user's only way to sign in")
)

// Options configure the service.
type Options struct {
	Store Store
	Audit Auditor
	Now   func() time.Time
	Log   *slog.Logger
	// AllowMixedScripts lets provisioned usernames mix scripts
	// (users.username_mixed_scripts: allow).
	AllowMixedScripts bool
}

// Service links identities to accounts.
type Service struct {
	opts Options
}

// New returns a Service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Audit == nil {
		opts.Audit = nopAuditor{}
	}
	return &Service{opts: opts}
}

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, audit.Event) {}

// SignIn returns the active local account of an identity the backend
// vouched for: the linked one, or one linked now by verified e-mail, or
// one provisioned now, as pol allows. The groups pol manages follow the
// identity's Groups. The returned identity has UserID and the account's
// username and e-mail filled in.
func (s *Service) SignIn(ctx context.Context, id backends.Identity, pol backends.LinkPolicy) (backends.Identity, error) {
	u, err := s.account(ctx, id, pol)
	if err != nil {
		return backends.Identity{}, err
	}
	if !u.IsActive {
		return backends.Identity{}, ErrInactive
	}
	if err := s.opts.Store.TouchIdentity(ctx, id.Backend, id.Subject, storage.CutText(id.Email, 320), s.opts.Now()); err != nil {
		s.opts.Log.WarnContext(ctx, "could not record a social sign-in", "backend", id.Backend, "err", err)
	}
	if err := s.syncGroups(ctx, u.ID, id.Groups, pol.ManagedGroups); err != nil {
		return backends.Identity{}, err
	}
	id.UserID, id.Username, id.Email, id.EmailVerified = u.ID, u.Username, u.Email, u.EmailVerified
	return id, nil
}

// account finds or makes the account of id.
func (s *Service) account(ctx context.Context, id backends.Identity, pol backends.LinkPolicy) (storage.User, error) {
	st := s.opts.Store
	linked, err := st.GetIdentity(ctx, id.Backend, id.Subject)
	if err == nil {
		return s.user(ctx, linked.UserID)
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, fmt.Errorf("identities: look up identity: %w", err)
	}
	if pol.LinkByVerifiedEmail && id.EmailVerified && id.Email != "" {
		u, err := st.UserByEmail(ctx, id.Email)
		switch {
		case err == nil:
			if err := s.link(ctx, u.ID, id, "verified_email"); err != nil {
				return storage.User{}, err
			}
			return u, nil
		case !errors.Is(err, storage.ErrNotFound):
			return storage.User{}, fmt.Errorf("identities: look up user by e-mail: %w", err)
		}
	}
	if !pol.Provision {
		return storage.User{}, ErrNotLinked
	}
	return s.provision(ctx, id)
}

func (s *Service) user(ctx context.Context, id int64) (storage.User, error) {
	u, err := s.opts.Store.GetUser(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, ErrNotLinked
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("identities: load user: %w", err)
	}
	return u, nil
}

// link records the identity for a user; how says why (audit).
func (s *Service) link(ctx context.Context, userID int64, id backends.Identity, how string) error {
	now := s.opts.Now()
	err := s.opts.Store.CreateIdentity(ctx, storage.LinkedIdentity{
		Backend: id.Backend, Subject: id.Subject, UserID: userID, Email: storage.CutText(id.Email, 320),
		CreatedAt: now, LastLoginAt: now,
	})
	if errors.Is(err, storage.ErrConflict) {
		if got, gerr := s.opts.Store.GetIdentity(ctx, id.Backend, id.Subject); gerr == nil {
			if got.UserID == userID {
				return nil
			}
			return ErrLinkedElsewhere
		}
		return ErrAlreadyLinked
	}
	if err != nil {
		return fmt.Errorf("identities: link: %w", err)
	}
	s.opts.Audit.Record(ctx, audit.Event{
		Type: audit.TypeUserLinked, Subject: strconv.FormatInt(userID, 10), Backend: id.Backend,
		Detail: map[string]string{"how": how},
	})
	return nil
}

// provision creates an account for id (no usable password: the user signs
// in upstream, or sets one through a password reset) and links it.
func (s *Service) provision(ctx context.Context, id backends.Identity) (storage.User, error) {
	st := s.opts.Store
	base := s.username(id)
	now := s.opts.Now()
	u := storage.User{
		Email: storage.CutText(id.Email, 254), EmailVerified: id.Email != "" && id.EmailVerified,
		IsActive: true, DateJoined: now, PasswordChangedAt: now, Profile: id.Profile,
	}
	u.FirstName, u.LastName = splitName(id.Name)
	if u.Email != "" {
		// An address already used by an account that is not linked stays
		// that account's: the new account goes without one.
		if _, err := st.UserByEmail(ctx, u.Email); err == nil {
			u.Email, u.EmailVerified = "", false
		}
	}
	var err error
	for i := 0; i < 20; i++ {
		u.Username = base
		if i > 0 {
			u.Username = fmt.Sprintf("%s%d", strings.TrimRight(base, "0123456789"), i+1)
		}
		if _, err = st.UserByUsername(ctx, u.Username); err == nil {
			continue
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return storage.User{}, fmt.Errorf("identities: provision: %w", err)
		}
		err = st.CreateUser(ctx, &u)
		if !errors.Is(err, storage.ErrConflict) {
			break
		}
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("identities: provision user: %w", err)
	}
	s.opts.Audit.Record(ctx, audit.Event{
		Type: audit.TypeUserCreated, Subject: strconv.FormatInt(u.ID, 10), Backend: id.Backend,
		Detail: map[string]string{"provisioned": "true"},
	})
	if err := s.link(ctx, u.ID, id, "provisioned"); err != nil {
		return storage.User{}, err
	}
	return u, nil
}

// username is a valid username made from the identity: its username
// claim, else the e-mail's local part, else the backend and subject.
func (s *Service) username(id backends.Identity) string {
	for _, cand := range []string{id.Username, strings.Split(id.Email, "@")[0], id.Backend + "_" + id.Subject} {
		if cand == "" {
			continue
		}
		cand = storage.CutText(cand, 140)
		if name, msg := accounts.CheckNewUsername(cand, s.opts.AllowMixedScripts); msg == "" {
			return name
		}
		if name, msg := accounts.CheckNewUsername(sanitize(cand), s.opts.AllowMixedScripts); msg == "" && name != "" {
			return name
		}
	}
	return "user"
}

// sanitize keeps the characters Django allows in a username.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '.' || r == '@' || r == '+' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func splitName(name string) (string, string) {
	name = storage.CutText(strings.TrimSpace(name), 300)
	first, last, _ := strings.Cut(name, " ")
	return storage.CutText(first, 150), storage.CutText(strings.TrimSpace(last), 150)
}

// syncGroups makes the user's membership of the managed groups what the
// rules gave; other groups stay. Groups that do not exist yet are made.
func (s *Service) syncGroups(ctx context.Context, userID int64, want, managed []string) error {
	if len(managed) == 0 {
		return nil
	}
	st := s.opts.Store
	current, err := st.UserGroups(ctx, userID)
	if err != nil {
		return fmt.Errorf("identities: user groups: %w", err)
	}
	var next []string
	for _, g := range current {
		if !slices.Contains(managed, g.Name) {
			next = append(next, g.Name)
		}
	}
	for _, g := range want {
		if !slices.Contains(managed, g) || slices.Contains(next, g) {
			continue
		}
		if _, err := st.GetGroup(ctx, g); errors.Is(err, storage.ErrNotFound) {
			if err := st.CreateGroup(ctx, storage.Group{Name: g, Permissions: []string{}, CreatedAt: s.opts.Now()}); err != nil && !errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("identities: create group %s: %w", g, err)
			}
		} else if err != nil {
			return fmt.Errorf("identities: group %s: %w", g, err)
		}
		next = append(next, g)
	}
	var names []string
	for _, g := range current {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	slices.Sort(next)
	if slices.Equal(names, next) {
		return nil
	}
	if next == nil {
		next = []string{}
	}
	if err := st.SetUserGroups(ctx, userID, next); err != nil {
		return fmt.Errorf("identities: set user groups: %w", err)
	}
	return nil
}

// Link links an identity to a signed-in user (explicit linking). The
// identity must not be linked to anybody else, and the user must not have
// one of that backend.
func (s *Service) Link(ctx context.Context, userID int64, id backends.Identity) error {
	return s.link(ctx, userID, id, "explicit")
}

// List returns the user's linked identities.
func (s *Service) List(ctx context.Context, userID int64) ([]storage.LinkedIdentity, error) {
	list, err := s.opts.Store.ListIdentities(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("identities: list: %w", err)
	}
	return list, nil
}

// Unlink removes the user's identity of a backend, unless it is the
// user's only way to sign in (no usable password and no other identity).
func (s *Service) Unlink(ctx context.Context, userID int64, backend string) error {
	st := s.opts.Store
	list, err := st.ListIdentities(ctx, userID)
	if err != nil {
		return fmt.Errorf("identities: list: %w", err)
	}
	if !slices.ContainsFunc(list, func(l storage.LinkedIdentity) bool { return l.Backend == backend }) {
		return storage.ErrNotFound
	}
	u, err := s.user(ctx, userID)
	if err != nil {
		return err
	}
	if len(list) == 1 && !usablePassword(u.PasswordHash) {
		return ErrLastSignIn
	}
	if err := st.DeleteIdentity(ctx, userID, backend); err != nil {
		return err
	}
	s.opts.Audit.Record(ctx, audit.Event{
		Type: audit.TypeUserUnlinked, Subject: strconv.FormatInt(userID, 10), Backend: backend,
	})
	return nil
}

// usablePassword reports whether a stored hash can ever match: empty is
// none set, a leading '!' is Django's unusable password.
func usablePassword(hash string) bool {
	return hash != "" && !strings.HasPrefix(hash, "!")
}
