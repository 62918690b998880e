package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/storage"
)

// Revoke serves the revocation endpoint (RFC 7009). Confidential clients
// authenticate; public clients identify themselves with client_id (§2.1).
// A token that is unknown, invalid or already revoked is answered like a
// revoked one (§2.2): 200, and nothing changes. A valid token issued to
// another client is refused with unauthorized_client (§2.1), and nothing
// changes.
// Revoking a refresh token ends its whole session, so the access tokens of
// the grant stop working too.
func (p *Provider) Revoke(ctx context.Context, r *http.Request) error {
	form, err := ParseForm(r)
	if err != nil {
		return err
	}
	cl, err := p.authenticateEndpointClient(ctx, r, form)
	if err != nil {
		return err
	}
	token := form.Get("token")
	if token == "" {
		return ErrInvalidRequest.WithDescription("token is required")
	}
	if hasPrefix(token, PrefixRefreshToken) {
		return p.revokeRefresh(ctx, token, cl.ID)
	}
	if IsPersonalToken(token) {
		return p.revokePersonal(ctx, token)
	}
	return p.revokeAccess(ctx, token, cl.ID)
}

// revokePersonal deletes a personal access token. It belongs to a user,
// not to a client: whoever holds the secret may revoke it (as a leaked
// key's finder should be able to), whichever client asks.
func (p *Provider) revokePersonal(ctx context.Context, raw string) error {
	tok, err := p.personalToken(ctx, raw)
	if errors.Is(err, ErrInvalidSubjectToken) {
		return nil // RFC 7009 §2.2
	}
	if err != nil {
		return err
	}
	if err := p.pats.DeletePersonalToken(ctx, tok.UserID, tok.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("revoke personal token: %w", err)
	}
	p.auditRevoked(ctx, "personal_access_token", strconv.FormatInt(tok.UserID, 10), "", "")
	return nil
}

var errNotYourToken = ErrUnauthorizedClient.WithDescription("the token was not issued to this client")

// revokeRefresh revokes the session of a live refresh token. clientID, when
// not empty, must be the token's client.
func (p *Provider) revokeRefresh(ctx context.Context, raw, clientID string) error {
	ref, ok := p.secrets.ParseRefreshToken(raw)
	if !ok {
		return nil // RFC 7009 §2.2: an invalid token needs no revoking
	}
	now := p.now()
	_, fam, err := p.tokens.RefreshToken(ctx, ref, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("look up refresh token: %w", err)
	case clientID != "" && fam.ClientID != clientID:
		return errNotYourToken
	}
	if err := p.tokens.RevokeFamily(ctx, fam.ID, now); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	p.auditRevoked(ctx, "refresh_token", fam.Subject, fam.ClientID, fam.ID)
	return nil
}

// auditRevoked records a revoked token: its kind, owner, client and session.
func (p *Provider) auditRevoked(ctx context.Context, kind, subject, clientID, session string) {
	d := map[string]string{"token_type": kind}
	if session != "" {
		d["session"] = session
	}
	p.audit.Record(ctx, audit.Event{Type: audit.TypeTokenRevoked, Subject: subject, ClientID: clientID, Detail: d})
}

// revokeAccess denies an access token's jti until it expires.
func (p *Provider) revokeAccess(ctx context.Context, raw, clientID string) error {
	info, err := p.inspectAccess(ctx, raw)
	if errors.Is(err, errBadToken) {
		return nil
	}
	if err != nil {
		return err
	}
	if clientID != "" && info.ClientID != clientID {
		return errNotYourToken
	}
	if err := p.tokens.RevokeAccessToken(ctx, info.ID, time.Unix(info.Expiry, 0)); err != nil {
		return fmt.Errorf("revoke access token: %w", err)
	}
	p.auditRevoked(ctx, "access_token", info.Subject, info.ClientID, info.SessionID)
	return nil
}

// RevokeSession ends one session (refresh-token family) by ID.
func (p *Provider) RevokeSession(ctx context.Context, id string) error {
	if err := p.tokens.RevokeFamily(ctx, id, p.now()); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	p.audit.Record(ctx, audit.Event{Type: audit.TypeSessionRevoked, Detail: map[string]string{"session": id}})
	return nil
}

// RevokeSubjectAccessTokens revokes every access token without a session
// (a client without the refresh_token grant gets those) that was issued to
// the user subject until now; the user's sessions, and so their tokens,
// are revoked with storage.Tokens.RevokeSubject. It returns once a token
// issued afterwards is valid.
//
// An access token's iat has one-second resolution, so the mark is a whole
// second: the one after now. Every token issued in now's second, before or
// after this call, has an iat earlier than the mark and is revoked; a
// token from before is never missed. The call then waits (less than a
// second) until the clock reaches the mark, so a token issued after it
// returns, such as a login right after "log out everywhere", has an iat no
// earlier than the mark and is valid. Clocks of the instances are assumed
// to be in step (as exp and iat checks already assume).
func (p *Provider) RevokeSubjectAccessTokens(ctx context.Context, subject string) error {
	now := p.now()
	before := subjectMark(now)
	// Every token the mark revokes has expired by keepUntil.
	keepUntil := before.Add(p.maxAccessTTL())
	if err := p.tokens.RevokeSubjectTokensBefore(ctx, subject, before, keepUntil); err != nil {
		return fmt.Errorf("revoke access tokens: %w", err)
	}
	if wait := before.Sub(now); wait > 0 {
		t := time.NewTimer(min(wait, time.Second))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done(): // the tokens are revoked; only the wait is cut short
		}
	}
	return nil
}

// subjectMark is the mark RevokeSubjectAccessTokens sets at now: the next
// whole second (see there).
func subjectMark(now time.Time) time.Time {
	return now.Truncate(time.Second).Add(time.Second)
}

// maxAccessTTL is the longest lifetime an access token may get: the
// server's default or a client's own, capped at MaxClientAccessTTL.
func (p *Provider) maxAccessTTL() time.Duration {
	return max(p.lifetimes.Access, MaxClientAccessTTL)
}
