package backends

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey-auth/latchkey/storage"
)

// Ways an identity from outside (a webhook's answer, an upstream token's
// owner) becomes a latchkey subject.
const (
	// LinkExternal keeps it an external subject: sub is
	// "{backend id}:{subject}", no local account.
	LinkExternal = "external"
	// LinkUsername links to the local account with the same username.
	LinkUsername = "username"
	// LinkEmail links to the local account with the same e-mail address,
	// only when the backend says the address is verified.
	LinkEmail = "email"
)

// Linker maps outside identities to local accounts, with the rules the
// social backends use: link by username or by verified e-mail, and
// optionally provision an account on first sight.
type Linker struct {
	Users storage.Users
	// By is LinkExternal (default), LinkUsername or LinkEmail.
	By string
	// Provision creates an account (no usable password, active) when no
	// account matches.
	Provision bool
}

// ValidateLink checks the link settings of a backend's config block.
func ValidateLink(by string, provision bool) error {
	switch by {
	case "", LinkExternal:
		if provision {
			return errors.New("provision: needs link_by username or email")
		}
	case LinkUsername, LinkEmail:
	default:
		return fmt.Errorf("link_by: must be %q, %q or %q, got %q", LinkExternal, LinkUsername, LinkEmail, by)
	}
	return nil
}

// ErrNotLinked is Link's answer when the identity maps to no usable
// account: none matches and provisioning is off, or the account matched
// is inactive.
var ErrNotLinked = errors.New("backends: identity maps to no active account")

// Link returns id with UserID set to its local account (LinkUsername,
// LinkEmail), or unchanged (LinkExternal). An inactive account, or none
// without provisioning, is ErrNotLinked; a store failure is another error.
func (l Linker) Link(ctx context.Context, id Identity) (Identity, error) {
	var (
		u   storage.User
		err error
	)
	switch l.By {
	case "", LinkExternal:
		return id, nil
	case LinkUsername:
		if id.Username == "" {
			return Identity{}, ErrNotLinked
		}
		u, err = l.Users.UserByUsername(ctx, id.Username)
	case LinkEmail:
		if id.Email == "" || !id.EmailVerified {
			return Identity{}, ErrNotLinked
		}
		u, err = l.Users.UserByEmail(ctx, id.Email)
	default:
		return Identity{}, fmt.Errorf("link_by %q: unknown", l.By)
	}
	if errors.Is(err, storage.ErrNotFound) && l.Provision {
		return l.provision(ctx, id)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return Identity{}, ErrNotLinked
	}
	if err != nil {
		return Identity{}, fmt.Errorf("link identity: %w", err)
	}
	if !u.IsActive {
		return Identity{}, ErrNotLinked
	}
	id.UserID, id.Username = u.ID, u.Username
	if u.Email != "" {
		id.Email, id.EmailVerified = u.Email, u.EmailVerified
	}
	return id, nil
}

func (l Linker) provision(ctx context.Context, id Identity) (Identity, error) {
	name := id.Username
	if name == "" {
		name = id.Backend + "_" + id.Subject
	}
	u := storage.User{
		Username: name, Email: id.Email, EmailVerified: id.Email != "" && id.EmailVerified,
		IsActive: true, PasswordHash: "!", // no usable password: this backend checks it
	}
	u.FirstName, u.LastName, _ = strings.Cut(id.Name, " ")
	err := l.Users.CreateUser(ctx, &u)
	if errors.Is(err, storage.ErrConflict) {
		// Another login provisioned it first, or the e-mail is taken by
		// an account this rule does not link to: link again, no retry loop.
		return Linker{Users: l.Users, By: l.By}.Link(ctx, id)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("provision account: %w", err)
	}
	id.UserID, id.Username = u.ID, u.Username
	return id, nil
}

// CheckIdentity validates an identity that came from outside latchkey: a
// subject (at most 255 bytes of printable text), a username of printable
// text, a syntactically valid e-mail address, group names of printable
// text. The error names the field, never its value.
func CheckIdentity(id Identity) error {
	if id.Subject == "" {
		return errors.New("identity: subject is required")
	}
	if !printable(id.Subject, 255) {
		return errors.New("identity: subject is not printable text of at most 255 bytes")
	}
	if id.Username != "" && !printable(id.Username, 150) {
		return errors.New("identity: username is not printable text of at most 150 bytes")
	}
	if id.Name != "" && !printable(id.Name, 300) {
		return errors.New("identity: name is not printable text of at most 300 bytes")
	}
	if id.Email != "" {
		a, err := mail.ParseAddress(id.Email)
		if err != nil || a.Address != id.Email || len(id.Email) > 254 {
			return errors.New("identity: email is not a valid address")
		}
	}
	if len(id.Groups) > 256 {
		return errors.New("identity: more than 256 groups")
	}
	for _, g := range id.Groups {
		if g == "" || !printable(g, 150) {
			return errors.New("identity: a group name is empty or not printable text of at most 150 bytes")
		}
	}
	return nil
}

func printable(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
