package provider

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/latchkey-auth/latchkey/storage"
)

var errBadCode = ErrInvalidGrant.WithDescription("the authorization code is invalid, expired or already used")

// authorizationCodeGrant redeems an authorization code (RFC 6749 §4.1.3,
// OIDC Core §3.1.3, RFC 7636 §4.5). The code is consumed in one atomic
// step before anything else is checked, so it can never be redeemed twice;
// a replay revokes what the first redemption gave (§4.1.2). Every refusal
// is invalid_grant with the same words, whatever the reason.
//
// The tokens start a session (a refresh family chosen when the code was
// issued, so a replay can revoke it): its ID is the sid of the tokens, and
// a refresh token is returned when offline_access was granted and the
// client may refresh.
type authorizationCodeGrant struct{ p *Provider }

func (authorizationCodeGrant) Type() string { return GrantAuthorizationCode }

func (g authorizationCodeGrant) Token(ctx context.Context, req *TokenRequest) (*TokenResponse, error) {
	p := g.p
	raw := req.Form.Get("code")
	if raw == "" {
		return nil, ErrInvalidRequest.WithDescription("code is required")
	}
	if !hasPrefix(raw, PrefixAuthorizationCode) {
		return nil, errBadCode
	}
	code, err := p.codes.ConsumeCode(ctx, p.secrets.Hash(raw), req.Time)
	switch {
	case errors.Is(err, storage.ErrCodeReused):
		// A code whose first redemption failed (a wrong verifier, another
		// client) gave nothing: its family does not exist.
		if rerr := p.tokens.RevokeFamily(ctx, code.FamilyID, req.Time); rerr != nil && !errors.Is(rerr, storage.ErrNotFound) {
			return nil, fmt.Errorf("revoke the tokens of a replayed code: %w", rerr)
		}
		p.log.WarnContext(ctx, "authorization code replayed; its tokens are revoked", "client_id", req.Client.ID)
		return nil, errBadCode
	case errors.Is(err, storage.ErrNotFound):
		return nil, errBadCode
	case err != nil:
		return nil, fmt.Errorf("consume authorization code: %w", err)
	}
	if err := checkCode(code, req); err != nil {
		return nil, err
	}
	// The request may repeat the code's resource, or name one when the
	// authorization request named none (RFC 8707 §2.2).
	res, err := p.grantResource(req, code.Resource)
	if err != nil {
		return nil, err
	}
	scope, err := res.limit(code.Scope)
	if err != nil {
		return nil, err
	}
	uid, ok := userIDOf(code.Subject)
	if !ok {
		return nil, errBadCode
	}
	sub, err := p.loadUser(ctx, uid, true)
	if err != nil {
		return nil, err
	}
	spec := grantSpec{
		client: req.Client, subject: sub, scope: scope, authTime: code.AuthTime, now: req.Time,
		nonce: code.Nonce, amr: stringList(code.Claims["amr"]), resource: res,
	}
	spec.sid, _ = code.Claims["sid"].(string)
	spec.idp, _ = code.Claims["idp"].(string)
	fam, refresh, err := p.newFamilyFor(ctx, req, code.FamilyID, sub, scope, code.AuthTime, res)
	if err != nil {
		return nil, err
	}
	spec.family = fam
	if p.sessions != nil && code.SessionID != "" {
		// A logout that ends the login session may revoke these tokens.
		if err := p.sessions.AddFamily(ctx, code.SessionID, fam.ID); err != nil {
			p.log.WarnContext(ctx, "could not tie the tokens to their login session", "err", err)
		}
	}
	if hasScope(scope, "offline_access") && allowsGrant(req.Client, GrantRefreshToken) {
		spec.refresh = refresh
	}
	return p.mint(ctx, spec)
}

// checkCode checks a consumed code against the token request: the same
// client, the same redirect URI, and the PKCE verifier of the challenge.
func checkCode(code storage.Code, req *TokenRequest) error {
	if code.ClientID != req.Client.ID {
		return errBadCode
	}
	// RFC 6749 §4.1.3: redirect_uri is required when the authorization
	// request carried one; we always bound the code to the one used, so a
	// redirect_uri sent must equal it, and one left out is accepted only
	// when the authorization request left it out too (single registered
	// URI) — which we cannot tell apart, so we require it whenever the
	// client has more than one.
	got := req.Form.Get("redirect_uri")
	if got == "" && len(req.Client.RedirectURIs) != 1 {
		return ErrInvalidRequest.WithDescription("redirect_uri is required")
	}
	if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(code.RedirectURI)) != 1 {
		return errBadCode
	}
	verifier := req.Form.Get("code_verifier")
	switch {
	case code.CodeChallenge != "":
		if verifier == "" {
			return ErrInvalidGrant.WithDescription("code_verifier is required")
		}
		return verifyPKCE(code.CodeChallenge, verifier)
	case verifier != "":
		// A verifier for a code issued without a challenge is a PKCE
		// downgrade attempt (RFC 9700 §2.1.1).
		return ErrInvalidGrant.WithDescription("the authorization request had no code_challenge")
	}
	return nil
}
