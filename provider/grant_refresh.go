package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey-auth/latchkey/storage"
)

var errBadRefresh = ErrInvalidGrant.WithDescription("the refresh token is invalid, expired or revoked")

// lookupRefresh finds a live refresh token and checks that it was issued to
// the authenticated client (RFC 6749 §6). The result is kept on the request.
func (p *Provider) lookupRefresh(ctx context.Context, st *tokenRequest, raw string) (*liveRefresh, error) {
	if st.refresh != nil {
		return st.refresh, nil
	}
	if !hasPrefix(raw, PrefixRefreshToken) {
		return nil, errBadRefresh
	}
	tok, fam, err := p.tokens.RefreshToken(ctx, p.secrets.Hash(raw), p.now())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, errBadRefresh
		}
		return nil, fmt.Errorf("look up refresh token: %w", storeError(err))
	}
	if fam.ClientID != st.client.ID {
		return nil, errBadRefresh
	}
	st.refresh = &liveRefresh{token: tok, family: fam}
	return st.refresh, nil
}

// refreshGrant rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2):
// the presented token stops working, a new one is returned, and a token that
// was already rotated out revokes its whole family. The store makes the
// rotation atomic, so of concurrent refreshes with one token exactly one wins.
func (p *Provider) refreshGrant(ctx context.Context, st *tokenRequest, raw, scope string) (*TokenResponse, error) {
	now := p.now()
	hash := p.secrets.Hash(raw)
	if _, err := p.lookupRefresh(ctx, st, raw); err != nil && !errors.Is(err, errBadRefresh) {
		return nil, err
	}
	// A token that is not live may still be a rotated-out one: Rotate is what
	// tells reuse apart from garbage, and revokes the family on reuse.
	nextRaw := NewSecret(PrefixRefreshToken)
	next := storage.RefreshToken{Hash: p.secrets.Hash(nextRaw), CreatedAt: now}
	if st.refresh != nil {
		next.FamilyID = st.refresh.family.ID
		next.ExpiresAt = minTime(now.Add(p.refreshTTL(st.client)), st.refresh.family.ExpiresAt)
	} else if !hasPrefix(raw, PrefixRefreshToken) {
		return nil, errBadRefresh
	}
	fam, err := p.tokens.Rotate(ctx, hash, next, now)
	switch {
	case errors.Is(err, storage.ErrReused):
		p.log.WarnContext(ctx, "refresh token reused; session revoked", "client_id", st.client.ID)
		return nil, errBadRefresh
	case errors.Is(err, storage.ErrNotFound):
		return nil, errBadRefresh
	case err != nil:
		return nil, fmt.Errorf("rotate refresh token: %w", storeError(err))
	}
	if st.refresh == nil || fam.ClientID != st.client.ID {
		// Only reachable if a token became live between lookup and rotation,
		// which cannot happen; refuse rather than trust it.
		_ = p.tokens.RevokeFamily(ctx, fam.ID, now)
		return nil, errBadRefresh
	}
	return p.issueRefreshed(ctx, st, fam, scope, nextRaw)
}

// issueRefreshed mints the tokens for a rotated family. The user is read
// again, so a deactivated user's refresh fails and ends the session.
func (p *Provider) issueRefreshed(ctx context.Context, st *tokenRequest, fam storage.Family, scope, nextRaw string) (*TokenResponse, error) {
	if scope == "" {
		scope = fam.Scope
	}
	sub := subject{ID: fam.Subject}
	if uid, ok := userIDOf(fam.Subject); ok {
		var err error
		if sub, err = p.loadUser(ctx, uid); err != nil {
			if errors.Is(err, ErrInvalidGrant) {
				_ = p.tokens.RevokeFamily(ctx, fam.ID, p.now())
			}
			return nil, err
		}
	}
	return p.mint(ctx, grantSpec{
		client: st.client, subject: sub, scope: scope,
		authTime: fam.AuthTime, family: &fam, refresh: nextRaw,
	})
}
