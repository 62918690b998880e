package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey-auth/latchkey/storage"
)

var errBadRefresh = ErrInvalidGrant.WithDescription("the refresh token is invalid, expired or revoked")

// refreshGrant rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2):
// the presented token stops working, a new one is returned, and a token that
// was already rotated out revokes its whole family. The store makes the
// rotation atomic, so of concurrent refreshes with one token exactly one wins.
//
// Nothing is spent before every check has passed: a live token presented by
// another client, or with a wider scope than its grant, fails and stays
// usable by its owner.
func (p *Provider) refreshGrant(ctx context.Context, st *tokenRequest, raw, scope string) (*TokenResponse, error) {
	ref, ok := p.secrets.ParseRefreshToken(raw)
	if !ok {
		return nil, errBadRefresh
	}
	now := p.now()
	if scope != "" {
		// Narrowing needs the grant's scope before anything is spent.
		_, fam, err := p.tokens.RefreshToken(ctx, ref, now)
		switch {
		case err == nil && fam.ClientID == st.client.ID:
			if scope, err = narrowScope(scope, splitScope(fam.Scope)); err != nil {
				return nil, err
			}
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("look up refresh token: %w", storeError(err))
		}
	}
	// One atomic step checks the client, spends the token and stores the
	// next one; the store detects a rotated-out token and revokes its family.
	nextRaw := p.secrets.NewRefreshToken(ref.FamilyID, ref.Generation+1)
	next := storage.RefreshToken{
		Hash: p.secrets.Hash(nextRaw), CreatedAt: now,
		ExpiresAt: now.Add(p.refreshTTL(st.client)), // the store caps it at the family's
	}
	fam, err := p.tokens.Rotate(ctx, ref, st.client.ID, next, now)
	switch {
	case errors.Is(err, storage.ErrReused):
		p.log.WarnContext(ctx, "refresh token reused; session revoked", "client_id", st.client.ID)
		return nil, errBadRefresh
	case errors.Is(err, storage.ErrNotFound):
		return nil, errBadRefresh
	case err != nil:
		return nil, fmt.Errorf("rotate refresh token: %w", storeError(err))
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
		if sub, err = p.loadUser(ctx, uid, false); err != nil {
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
