package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

func subjectOf(userID int64) string { return strconv.FormatInt(userID, 10) }

// Session is an active refresh family of the caller.
type Session struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	Scope     string    `json:"scope"`
	UserAgent string    `json:"device"`
	IP        string    `json:"ip"`
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used"`
	Expires   time.Time `json:"expires"`
	Current   bool      `json:"current"`
}

// Sessions lists the caller's active sessions, newest first.
func (s *Service) Sessions(ctx context.Context, p *Principal) ([]Session, error) {
	fams, err := s.opts.Sessions.ListFamilies(ctx, subjectOf(p.User.ID), s.now())
	if err != nil {
		return nil, storeErr("list sessions", err)
	}
	out := make([]Session, 0, len(fams))
	for _, f := range fams {
		out = append(out, Session{
			ID: f.ID, ClientID: f.ClientID, Scope: f.Scope, UserAgent: f.UserAgent, IP: f.IP,
			Created: apiTime(f.CreatedAt), LastUsed: apiTime(f.LastUsedAt), Expires: apiTime(f.ExpiresAt),
			Current: f.ID == p.SessionID,
		})
	}
	return out, nil
}

// RevokeSession ends one of the caller's sessions; another user's is
// ErrNotFound.
func (s *Service) RevokeSession(ctx context.Context, p *Principal, id string) error {
	return s.revokeSessionOf(ctx, p.User.ID, id)
}

// UserSessions lists any user's sessions (admin API, staff only).
func (s *Service) UserSessions(ctx context.Context, p *Principal, userID int64) ([]Session, error) {
	u, err := s.target(ctx, p, userID)
	if err != nil {
		return nil, err
	}
	return s.Sessions(ctx, &Principal{User: u})
}

// RevokeUserSession ends one session of any user (admin API, staff only;
// a superuser's only by a superuser).
func (s *Service) RevokeUserSession(ctx context.Context, p *Principal, userID int64, id string) error {
	u, err := s.writable(ctx, p, userID)
	if err != nil {
		return err
	}
	return s.revokeSessionOf(ctx, u.ID, id)
}

func (s *Service) revokeSessionOf(ctx context.Context, userID int64, id string) error {
	if len(id) > 128 {
		return ErrNotFound
	}
	f, err := s.opts.Sessions.GetFamily(ctx, id)
	if err != nil {
		return storeErr("get session", err)
	}
	if f.Subject != subjectOf(userID) || !f.RevokedAt.IsZero() {
		return ErrNotFound
	}
	if err := s.opts.Sessions.RevokeFamily(ctx, id, s.now()); err != nil {
		return storeErr("revoke session", err)
	}
	s.opts.Audit.Record(ctx, audit.Event{
		Type: audit.TypeSessionRevoked, Subject: f.Subject, ClientID: f.ClientID, Detail: map[string]string{"session": id},
	})
	return nil
}

// PersonalToken is a personal access token as listed; Token is set only
// in the answer that creates it.
type PersonalToken struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Scope   string    `json:"scope"`
	Created time.Time `json:"created"`
	Expiry  time.Time `json:"expiry"`
	Token   string    `json:"token,omitempty"`
}

func tokenView(t storage.PersonalToken) PersonalToken {
	return PersonalToken{ID: t.ID, Name: t.Name, Kind: t.Kind, Scope: t.Scope, Created: apiTime(t.CreatedAt), Expiry: apiTime(t.ExpiresAt)}
}

// PersonalTokens lists the caller's live tokens (personal and login).
func (s *Service) PersonalTokens(ctx context.Context, p *Principal) ([]PersonalToken, error) {
	list, err := s.opts.Store.ListPersonalTokens(ctx, p.User.ID, s.now())
	if err != nil {
		return nil, storeErr("list tokens", err)
	}
	out := make([]PersonalToken, len(list))
	for i, t := range list {
		out[i] = tokenView(t)
	}
	return out, nil
}

// CreatePersonalToken makes a personal access token: name, optional scope
// and expires_in (seconds, at most users.personal_token_ttl). The secret is
// in the answer and nowhere else.
func (s *Service) CreatePersonalToken(ctx context.Context, p *Principal, in Input) (PersonalToken, error) {
	r := newReader(in)
	name, _ := r.str("name", true, false, 100)
	scope, scoped := r.str("scope", false, true, 1000)
	maxTTL := int64(s.opts.PersonalTokenTTL / time.Second)
	ttl, hasTTL := r.integer("expires_in", 60, maxTTL)
	if scoped {
		for _, sc := range strings.Fields(scope) {
			if len(sc) > 128 || strings.ContainsAny(sc, "\"\\") {
				r.errs.add("scope", "Enter space-separated scope names.")
				break
			}
		}
		scope = strings.Join(strings.Fields(scope), " ")
	}
	if err := r.done(); err != nil {
		return PersonalToken{}, err
	}
	life := s.opts.PersonalTokenTTL
	if hasTTL {
		life = time.Duration(ttl) * time.Second
	}
	if p.TokenKind == storage.TokenKindPersonal {
		// Made with a personal token: no wider, no longer-lived than it.
		if left := p.TokenExpiry.Sub(s.now()); life > left {
			life = left
		}
		if p.TokenScope != "" {
			if scope == "" {
				scope = p.TokenScope
			}
			for _, sc := range strings.Fields(scope) {
				if !hasScope(p.TokenScope, sc) {
					return PersonalToken{}, FieldErrors{"scope": {"A token cannot grant a scope it does not have."}}
				}
			}
		}
	}
	if scope != "" && s.opts.Scopes != nil {
		held, err := s.opts.Scopes.UserScope(ctx, p.User.ID, scope)
		if err != nil {
			return PersonalToken{}, storeErr("check scope", err)
		}
		var lacking []string
		for _, sc := range strings.Fields(scope) {
			if !hasScope(held, sc) {
				lacking = append(lacking, sc)
			}
		}
		if len(lacking) > 0 {
			return PersonalToken{}, FieldErrors{"scope": {"You do not hold the permissions these scopes require: " + strings.Join(lacking, " ") + "."}}
		}
	}
	raw, tok, err := s.newPersonalToken(ctx, p.User.ID, storage.TokenKindPersonal, name, scope, life)
	if err != nil {
		return PersonalToken{}, err
	}
	v := tokenView(tok)
	v.Token = raw
	return v, nil
}

// DeletePersonalToken revokes one of the caller's tokens.
func (s *Service) DeletePersonalToken(ctx context.Context, p *Principal, id string) error {
	if len(id) > 64 {
		return ErrNotFound
	}
	if err := s.opts.Store.DeletePersonalToken(ctx, p.User.ID, id); err != nil {
		return storeErr("delete token", err)
	}
	return nil
}

func (s *Service) newPersonalToken(ctx context.Context, userID int64, kind, name, scope string, ttl time.Duration) (string, storage.PersonalToken, error) {
	raw := provider.NewSecret(provider.PrefixPAT)
	now := s.now()
	tok := storage.PersonalToken{
		ID: newTokenID(), Hash: s.opts.Authenticator.HashSecret(raw), UserID: userID, Kind: kind,
		Name: name, Scope: scope, CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := s.opts.Store.CreatePersonalToken(ctx, tok); err != nil {
		return "", storage.PersonalToken{}, storeErr("create token", err)
	}
	return raw, tok, nil
}

// newTokenID is a public identifier of 96 random bits.
func newTokenID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// revokeOtherSessions ends every session and login token of the user but
// the principal's own (set_password).
func (s *Service) revokeOtherSessions(ctx context.Context, p *Principal) error {
	now := s.now()
	fams, err := s.opts.Sessions.ListFamilies(ctx, subjectOf(p.User.ID), now)
	if err != nil {
		return storeErr("list sessions", err)
	}
	for _, f := range fams {
		if f.ID == p.SessionID {
			continue
		}
		if err := s.opts.Sessions.RevokeFamily(ctx, f.ID, now); err != nil {
			return storeErr("revoke session", err)
		}
	}
	toks, err := s.opts.Store.ListPersonalTokens(ctx, p.User.ID, now)
	if err != nil {
		return storeErr("list tokens", err)
	}
	for _, t := range toks {
		if t.Kind != storage.TokenKindLogin || t.ID == p.TokenID {
			continue
		}
		if err := s.opts.Store.DeletePersonalToken(ctx, p.User.ID, t.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return storeErr("delete token", err)
		}
	}
	return nil
}
