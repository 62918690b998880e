package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

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
	return p.revokeAccess(ctx, token, cl.ID)
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
		return fmt.Errorf("look up refresh token: %w", storeError(err))
	case clientID != "" && fam.ClientID != clientID:
		return errNotYourToken
	}
	if err := p.tokens.RevokeFamily(ctx, fam.ID, now); err != nil {
		return fmt.Errorf("revoke session: %w", storeError(err))
	}
	return nil
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
		return fmt.Errorf("revoke access token: %w", storeError(err))
	}
	return nil
}

// RevokeSession ends one session (refresh-token family) by ID.
func (p *Provider) RevokeSession(ctx context.Context, id string) error {
	if err := p.tokens.RevokeFamily(ctx, id, p.now()); err != nil {
		return fmt.Errorf("revoke session: %w", storeError(err))
	}
	return nil
}
