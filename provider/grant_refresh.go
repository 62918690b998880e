package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	if !hasPrefix(raw, PrefixRefreshToken) {
		return nil, errBadRefresh
	}
	now := p.now()
	hash := p.secrets.Hash(raw)
	_, fam, err := p.tokens.RefreshToken(ctx, hash, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, p.detectReuse(ctx, hash, now)
	case err != nil:
		return nil, fmt.Errorf("look up refresh token: %w", storeError(err))
	case fam.ClientID != st.client.ID:
		return nil, errBadRefresh
	}
	if scope != "" {
		if scope, err = narrowScope(scope, splitScope(fam.Scope)); err != nil {
			return nil, err
		}
	}
	nextRaw := NewSecret(PrefixRefreshToken)
	next := storage.RefreshToken{
		Hash: p.secrets.Hash(nextRaw), FamilyID: fam.ID, CreatedAt: now,
		ExpiresAt: minTime(now.Add(p.refreshTTL(st.client)), fam.ExpiresAt),
	}
	fam, err = p.tokens.Rotate(ctx, hash, next, now)
	switch {
	case errors.Is(err, storage.ErrReused):
		p.log.WarnContext(ctx, "refresh token reused; session revoked", "client_id", st.client.ID, "sid", next.FamilyID)
		return nil, errBadRefresh
	case errors.Is(err, storage.ErrNotFound):
		return nil, errBadRefresh
	case err != nil:
		return nil, fmt.Errorf("rotate refresh token: %w", storeError(err))
	}
	return p.issueRefreshed(ctx, st, fam, scope, nextRaw)
}

// detectReuse handles a refresh token that is not live. It may be garbage,
// expired, or one that was already rotated out: Rotate tells them apart and
// revokes the family on reuse (whoever presents it: a replayed token means
// it leaked). The answer is invalid_grant in every case.
func (p *Provider) detectReuse(ctx context.Context, hash string, now time.Time) error {
	decoy := storage.RefreshToken{Hash: p.secrets.Hash(NewSecret(PrefixRefreshToken)), CreatedAt: now, ExpiresAt: now}
	fam, err := p.tokens.Rotate(ctx, hash, decoy, now)
	switch {
	case errors.Is(err, storage.ErrReused):
		p.log.WarnContext(ctx, "refresh token reused; session revoked")
		return errBadRefresh
	case errors.Is(err, storage.ErrNotFound):
		return errBadRefresh
	case err != nil:
		return fmt.Errorf("rotate refresh token: %w", storeError(err))
	}
	// The token was not live a moment ago yet rotated now: refuse, and end
	// the session rather than trust it.
	if err := p.tokens.RevokeFamily(ctx, fam.ID, now); err != nil {
		return fmt.Errorf("revoke session: %w", storeError(err))
	}
	return errBadRefresh
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
