package provider

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

// This file serves the user API (/auth/jwt/*, /auth/token/login): tokens for
// a login already checked with AuthenticatePassword, issued to the built-in
// first-party public client through the same grants as /oauth2/token.

// FirstPartyScope is what the first-party client may ask for.
const FirstPartyScope = "openid profile email offline_access groups"

// EnsureFirstPartyClient creates the first-party public client (password
// and refresh_token grants, skip_consent: it is latchkey's own) when it is
// missing. An existing client is left as the operator made it.
func (p *Provider) EnsureFirstPartyClient(ctx context.Context, id string) error {
	_, err := p.store.GetClient(ctx, id)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("first-party client: %w", err)
	}
	now := p.now()
	err = p.store.CreateClient(ctx, storage.Client{
		ID: id, Name: "latchkey user API",
		GrantTypes:              []string{GrantPassword, GrantRefreshToken},
		TokenEndpointAuthMethod: AuthNone, Scope: FirstPartyScope, AccessTokenFormat: "jwt",
		SkipConsent: true, CreatedAt: now, UpdatedAt: now,
	})
	if errors.Is(err, storage.ErrConflict) {
		return nil // another instance won the race
	}
	if err != nil {
		return fmt.Errorf("first-party client: %w", err)
	}
	return nil
}

// IssueUserTokens issues tokens for a checked login to the client clientID
// as the password grant does: an access token, and a refresh token (a new
// session) when the client may refresh.
func (p *Provider) IssueUserTokens(ctx context.Context, clientID string, id backends.Identity, userAgent string) (*TokenResponse, error) {
	cl, err := p.firstParty(ctx, clientID, GrantPassword)
	if err != nil {
		return nil, err
	}
	// Every scope the client may ask for; the permission mapper keeps those
	// the user qualifies for.
	scope := strings.Join(p.clientScopes(cl), " ")
	req := &TokenRequest{GrantType: GrantPassword, Client: cl, UserAgent: userAgent, IP: ClientIP(ctx), Time: p.now()}
	resp, err := passwordGrant{p}.issue(ctx, req, id, scope)
	if err != nil {
		return nil, err
	}
	p.obs.TokenIssued(GrantPassword)
	return resp, nil
}

// firstParty loads the first-party client for a grant. A missing one is
// made again, as at start; one the operator took the grant away from
// refuses it (unauthorized_client), so password logins of the user API can
// be switched off by editing the client.
func (p *Provider) firstParty(ctx context.Context, clientID, grant string) (*storage.Client, error) {
	cl, err := p.clients.get(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		if err := p.EnsureFirstPartyClient(ctx, clientID); err != nil {
			return nil, err
		}
		cl, err = p.clients.get(ctx, clientID)
	}
	if err != nil {
		return nil, fmt.Errorf("first-party client %q: %w", clientID, err)
	}
	if !allowsGrant(cl, grant) {
		return nil, ErrUnauthorizedClient.WithDescription("the first-party client is not registered for the " + grant + " grant")
	}
	return cl, nil
}

// ErrBadRefreshToken is RefreshUserTokens' answer to a refresh token that is
// invalid, expired, revoked, rotated out or another client's.
var ErrBadRefreshToken = errBadRefresh

// RefreshUserTokens rotates a refresh token of the client clientID, with
// the rotation and reuse detection of /oauth2/token.
func (p *Provider) RefreshUserTokens(ctx context.Context, clientID, refresh, userAgent string) (*TokenResponse, error) {
	if _, ok := p.secrets.ParseRefreshToken(refresh); !ok {
		return nil, errBadRefresh
	}
	cl, err := p.firstParty(ctx, clientID, GrantRefreshToken)
	if err != nil {
		return nil, err
	}
	req := &TokenRequest{GrantType: GrantRefreshToken, Client: cl, UserAgent: userAgent, IP: ClientIP(ctx), Time: p.now()}
	resp, err := refreshTokenGrant{p}.rotate(ctx, req, refresh, "")
	if err != nil {
		return nil, err
	}
	p.obs.TokenIssued(GrantRefreshToken)
	return resp, nil
}

// VerifyUserToken reports whether a token latchkey issued to the
// first-party client clientID is valid now: an access token (JWT or
// opaque) or a live refresh token. Every reason for rejection is
// ErrInvalidToken, another client's token included (SimpleJWT knows one
// client; the answer does not tell a foreign token from a bad one); a store
// failure is an error of its own.
func (p *Provider) VerifyUserToken(ctx context.Context, clientID, raw string) error {
	if hasPrefix(raw, PrefixRefreshToken) {
		_, err := p.firstPartyFamily(ctx, clientID, raw)
		return err
	}
	info, err := p.VerifyAccessToken(ctx, raw)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(info.ClientID), []byte(clientID)) != 1 {
		return ErrInvalidToken.WithDescription("the access token is invalid, expired or revoked")
	}
	return nil
}

// RevokeRefreshToken ends the session of a live refresh token of the
// first-party client clientID (SimpleJWT's blacklist). A token that is not
// live, or another client's, is ErrInvalidToken and nothing is revoked.
func (p *Provider) RevokeRefreshToken(ctx context.Context, clientID, raw string) error {
	fam, err := p.firstPartyFamily(ctx, clientID, raw)
	if err != nil {
		return err
	}
	if err := p.tokens.RevokeFamily(ctx, fam.ID, p.now()); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	p.auditRevoked(ctx, "refresh_token", fam.Subject, fam.ClientID, fam.ID)
	return nil
}

// firstPartyFamily returns the family of a live refresh token of the
// client clientID; any other token is ErrInvalidToken.
func (p *Provider) firstPartyFamily(ctx context.Context, clientID, raw string) (storage.Family, error) {
	ref, ok := p.secrets.ParseRefreshToken(raw)
	if !ok {
		return storage.Family{}, ErrInvalidToken
	}
	_, fam, err := p.tokens.RefreshToken(ctx, ref, p.now())
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Family{}, ErrInvalidToken
	}
	if err != nil {
		return storage.Family{}, fmt.Errorf("look up refresh token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(fam.ClientID), []byte(clientID)) != 1 {
		return storage.Family{}, ErrInvalidToken
	}
	return fam, nil
}

// HashSecret returns the keyed hash under which a secret is stored.
func (p *Provider) HashSecret(secret string) string { return p.secrets.Hash(secret) }

// ForgetUser drops a user from the provider's cache after a change to the
// account (flags, groups, deletion), so the next refresh sees it.
func (p *Provider) ForgetUser(userID int64) {
	p.users.evict(userID)
	p.claims.clear()
}

// IsPersonalToken reports whether raw looks like one of latchkey's opaque
// personal tokens.
func IsPersonalToken(raw string) bool { return strings.HasPrefix(raw, PrefixPAT) }

// IsAdminKey reports whether raw looks like an admin API key (lk_ak_).
func IsAdminKey(raw string) bool { return strings.HasPrefix(raw, PrefixAdminKey) }
