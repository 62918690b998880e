package provider

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

// errBadLogin is the one answer to every failed password login: unknown
// user, wrong password and inactive account look the same (no enumeration).
var errBadLogin = ErrInvalidGrant.WithDescription("invalid username or password")

// checkPassword is the engine's PasswordAuthorizationHandler: it tries the
// password backends in configured order (RFC 6749 §4.3.2). The client has
// already been authenticated by then.
func (p *Provider) checkPassword(ctx context.Context, _, login, password string) (string, error) {
	st := requestState(ctx)
	if len(login) > 320 || len(password) > 1024 {
		return "", errBadLogin
	}
	// Each check costs ~19 MiB of argon2 memory: bound how many run at once so
	// a burst of logins queues instead of exhausting memory.
	select {
	case p.passwordSlots <- struct{}{}:
		defer func() { <-p.passwordSlots }()
	case <-ctx.Done():
		return "", ErrTemporarilyUnavailable.WithCause(ctx.Err())
	}
	for _, b := range p.passwords {
		id, ok, err := b.Checker.CheckPassword(ctx, login, password)
		if err != nil {
			return "", ErrTemporarilyUnavailable.WithCause(fmt.Errorf("backend %s: %w", b.ID, err))
		}
		if ok {
			if id.Backend == "" {
				id.Backend = b.ID
			}
			st.identity = id
			return identitySubject(id), nil
		}
		p.obs.LoginFailed(b.ID)
	}
	return "", errBadLogin
}

// identitySubject is the sub of a backend identity: the local user ID when
// the backend has an account for it.
func identitySubject(id backends.Identity) string {
	if id.UserID != 0 {
		return strconv.FormatInt(id.UserID, 10)
	}
	return id.Backend + ":" + id.Subject
}

// passwordGrant issues tokens for a checked login (RFC 6749 §4.3.3). A
// refresh token, and so a session, is issued when the client may refresh.
func (p *Provider) passwordGrant(ctx context.Context, st *tokenRequest, scope string) (*TokenResponse, error) {
	now := p.now()
	sub, err := p.identityToSubject(ctx, st.identity, now)
	if err != nil {
		return nil, err
	}
	g := grantSpec{client: st.client, subject: sub, scope: scope, authTime: now}
	if allowsGrant(st.client, GrantRefreshToken) {
		if g.family, g.refresh, err = p.newFamily(ctx, st, sub, scope, now); err != nil {
			return nil, err
		}
	}
	return p.mint(ctx, g)
}

// identityToSubject loads the local account behind an identity and records
// the login.
func (p *Provider) identityToSubject(ctx context.Context, id backends.Identity, now time.Time) (subject, error) {
	if id.UserID == 0 {
		return subject{
			ID: identitySubject(id), Username: id.Username, Email: id.Email,
			EmailVerified: id.EmailVerified, Groups: id.Groups,
		}, nil
	}
	sub, err := p.loadUser(ctx, id.UserID, true)
	if err != nil {
		return subject{}, err
	}
	if _, err := p.store.UpdateUser(ctx, id.UserID, func(u *storage.User) error {
		u.LastLogin = now
		return nil
	}); err != nil {
		p.log.WarnContext(ctx, "could not record last login", "user_id", id.UserID, "err", err)
	}
	return sub, nil
}
