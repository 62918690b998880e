package provider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/storage"
)

// commitAllowance is how long a rotation's write may take from the clock
// reading before it to its commit: the store's round trip, a queue or a
// lock. A request that arrives within it may have been sent before the
// rotation committed, so it loses the race (invalid_grant) rather than
// revoking the session. A replay gets nothing in that time either, so the
// allowance costs reuse detection only the revocation of a replay that
// arrives within a quarter second of the rotation.
const commitAllowance = 250 * time.Millisecond

var errBadRefresh = ErrInvalidGrant.WithDescription("the refresh token is invalid, expired or revoked")

// refreshTokenGrant rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2):
// the presented token stops working, a new one is returned, and a token that
// was already rotated out revokes its whole family. The store makes the
// rotation atomic, so of concurrent refreshes with one token exactly one wins.
//
// Nothing is spent before every check has passed: a live token presented by
// another client, or with a wider scope than its grant, fails and stays
// usable by its owner.
type refreshTokenGrant struct{ p *Provider }

func (refreshTokenGrant) Type() string { return GrantRefreshToken }

func (g refreshTokenGrant) Token(ctx context.Context, req *TokenRequest) (*TokenResponse, error) {
	raw := req.Form.Get("refresh_token")
	if raw == "" {
		return nil, ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	return g.rotate(ctx, req, raw, req.Form.Get("scope"))
}

// rotate spends raw and issues its successor, narrowed to scope when one
// is given (RFC 6749 §6).
func (g refreshTokenGrant) rotate(ctx context.Context, req *TokenRequest, raw, scope string) (*TokenResponse, error) {
	p := g.p
	ref, ok := p.secrets.ParseRefreshToken(raw)
	if !ok {
		return nil, errBadRefresh
	}
	now := req.Time
	if scope != "" || len(req.Form[ParamResource]) > 0 {
		// Narrowing needs the grant's scope and resource before anything
		// is spent.
		_, fam, err := p.tokens.RefreshToken(ctx, ref, now)
		switch {
		case err == nil && fam.ClientID == req.Client.ID:
			if scope != "" {
				if scope, err = narrowScope(scope, splitScope(fam.Scope)); err != nil {
					return nil, err
				}
			}
			if _, err := p.refreshResource(req, fam.Resource); err != nil {
				return nil, err
			}
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("look up refresh token: %w", err)
		}
	}
	// A rotation that started finishes: from here on the client hanging up
	// cancels nothing (the request's deadline still bounds it), so the store
	// is never cut mid-call with an outcome nobody knows, and a spent token's
	// successor is minted and answered.
	ctx, cancel := detach(ctx)
	defer cancel()
	// One atomic step checks the client, spends the token and stores the
	// next one; the store detects a rotated-out token and revokes its
	// family, tells a request that lost a race it could not see (it arrived
	// before the rotation committed) from a replay, and lets the same
	// client repeat the previous token within the reuse grace. The
	// successor is derived from the presented token, so a repeat gets the
	// same one.
	nextRaw, ok := p.secrets.NextRefreshToken(raw)
	if !ok {
		return nil, errBadRefresh
	}
	next := storage.RefreshToken{
		Hash: p.secrets.Hash(nextRaw), CreatedAt: now,
		ExpiresAt: now.Add(p.refreshTTL(req.Client)), // the store caps it at the family's
	}
	// The store reads the commit time from the clock just before it writes;
	// the write itself (the way to the store and its commit) takes up to
	// commitAllowance more. A request that arrived before then was in
	// flight, not a replay.
	rot := storage.Rotation{
		Now: now, Arrived: req.Time, Grace: p.reuseGrace(req.Client),
		Clock: func() time.Time { return p.now().Add(commitAllowance) },
	}
	fam, err := p.tokens.Rotate(ctx, ref, req.Client.ID, next, rot)
	switch {
	case errors.Is(err, storage.ErrReused):
		p.log.WarnContext(ctx, "refresh token reused; session revoked", "client_id", req.Client.ID)
		p.audit.Record(ctx, audit.Event{
			Type: audit.TypeRefreshReuseDetected, Outcome: audit.OutcomeFailure, ClientID: req.Client.ID,
			Detail: map[string]string{"session": ref.FamilyID, "generation": strconv.FormatInt(ref.Generation, 10)},
		})
		return nil, errBadRefresh
	case errors.Is(err, storage.ErrNotFound):
		return nil, errBadRefresh
	case err != nil:
		return nil, fmt.Errorf("rotate refresh token: %w", err)
	}
	return g.issue(ctx, req, fam, scope, nextRaw)
}

// refreshResource is the resource a refresh's access token is for: the
// session's (RFC 8707 §2.2: a refresh may narrow to a resource of the
// grant; latchkey's grants have one). Naming another, or one for a
// session given for none, is invalid_target.
func (p *Provider) refreshResource(req *TokenRequest, granted string) (*Resource, error) {
	if granted == "" && len(req.Form[ParamResource]) > 0 {
		if _, err := p.resources.resolve(req.Form[ParamResource]); err != nil {
			return nil, err
		}
		return nil, ErrInvalidTarget.WithDescription("the grant was not given for this resource")
	}
	return p.grantResource(req, granted)
}

// issue mints the tokens for a rotated family. The user is read
// again, so a deactivated user's refresh fails and ends the session.
func (g refreshTokenGrant) issue(ctx context.Context, req *TokenRequest, fam storage.Family, scope, nextRaw string) (*TokenResponse, error) {
	p := g.p
	if scope == "" {
		scope = fam.Scope
	}
	res, err := p.refreshResource(req, fam.Resource)
	if err != nil {
		return nil, err
	}
	sub := subject{ID: fam.Subject}
	if uid, ok := userIDOf(fam.Subject); ok {
		if sub, err = p.loadUser(ctx, uid, false); err != nil {
			if errors.Is(err, ErrInvalidGrant) {
				_ = p.tokens.RevokeFamily(ctx, fam.ID, req.Time)
			}
			return nil, err
		}
	}
	return p.mint(ctx, grantSpec{
		client: req.Client, subject: sub, scope: scope,
		authTime: fam.AuthTime, family: &fam, refresh: nextRaw, now: req.Time, resource: res,
	})
}
