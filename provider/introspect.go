package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// Introspection is an RFC 7662 §2.2 response: the token's claims, whether
// it is active and its type. An inactive token is reported as
// {"active": false} and nothing else.
type Introspection struct {
	Active bool `json:"active"`
	AccessClaims
	TokenType string `json:"token_type,omitempty"`
}

var inactive = &Introspection{Active: false}

// UserID returns the user an access token was issued for, and false for a
// token a client got for itself (whose sub is its client ID).
func (i *Introspection) UserID() (int64, bool) {
	if i.Subject == i.ClientID {
		return 0, false
	}
	return userIDOf(i.Subject)
}

// Introspect serves the introspection endpoint (RFC 7662). The caller must
// authenticate as a confidential client. Any client's access tokens may be
// introspected (that is what resource servers do); a refresh token only by
// the client it was issued to.
func (p *Provider) Introspect(ctx context.Context, r *http.Request) (*Introspection, error) {
	form, err := ParseForm(r)
	if err != nil {
		return nil, err
	}
	cl, err := p.authenticateEndpointClient(ctx, r, form)
	if err != nil {
		return nil, err
	}
	if cl.TokenEndpointAuthMethod == AuthNone {
		return nil, ErrInvalidClient.WithDescription("introspection requires a confidential client")
	}
	token := form.Get("token")
	if token == "" {
		return nil, ErrInvalidRequest.WithDescription("token is required")
	}
	if hasPrefix(token, PrefixRefreshToken) {
		return p.introspectRefresh(ctx, token, cl)
	}
	if IsPersonalToken(token) {
		return p.introspectPersonal(ctx, token)
	}
	info, err := p.inspectAccess(ctx, token)
	if errors.Is(err, errBadToken) && mayBeUpstream(token) {
		info, err = p.inspectUpstream(ctx, token)
	}
	if errors.Is(err, errBadToken) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}

// authenticateEndpointClient authenticates the caller of introspection or
// revocation.
func (p *Provider) authenticateEndpointClient(ctx context.Context, r *http.Request, form map[string][]string) (*storage.Client, error) {
	cred, err := readClientCredentials(r, form)
	if err != nil {
		return nil, err
	}
	return p.authenticateClient(ctx, cred)
}

func (p *Provider) introspectRefresh(ctx context.Context, raw string, cl *storage.Client) (*Introspection, error) {
	ref, ok := p.secrets.ParseRefreshToken(raw)
	if !ok {
		return inactive, nil
	}
	tok, fam, err := p.tokens.RefreshToken(ctx, ref, p.now())
	if errors.Is(err, storage.ErrNotFound) || err == nil && fam.ClientID != cl.ID {
		return inactive, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up refresh token: %w", err)
	}
	return &Introspection{Active: true, TokenType: "refresh_token", AccessClaims: AccessClaims{
		Scope: fam.Scope, ClientID: fam.ClientID, Subject: fam.Subject,
		Issuer: p.issuer, Expiry: tok.ExpiresAt.Unix(), IssuedAt: tok.CreatedAt.Unix(),
		SessionID: fam.ID, Audience: refreshAudience(fam.Resource),
	}}, nil
}

// introspectPersonal answers for a personal access token (lk_pat_): its
// owner, scope and lifetime, until it expires, is revoked or its owner is
// deactivated.
func (p *Provider) introspectPersonal(ctx context.Context, raw string) (*Introspection, error) {
	tok, err := p.personalToken(ctx, raw)
	if errors.Is(err, ErrInvalidSubjectToken) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	sub, err := p.loadUser(ctx, tok.UserID, false)
	if errors.Is(err, ErrInvalidGrant) {
		return inactive, nil // deleted or deactivated owner
	}
	if err != nil {
		return nil, err
	}
	groups, perms, err := p.userClaims(ctx, sub, tok.Scope)
	if err != nil {
		return nil, err
	}
	return &Introspection{Active: true, TokenType: "Bearer", AccessClaims: AccessClaims{
		Scope: tok.Scope, ClientID: p.firstPartyID, Subject: sub.ID, Username: sub.Username,
		Audience: p.audience, Issuer: p.issuer, Expiry: tok.ExpiresAt.Unix(), IssuedAt: tok.CreatedAt.Unix(),
		ID: tok.ID, Groups: groups, Permissions: perms,
	}}, nil
}

// inspectUpstream asks the opaque backends about a token that is not
// latchkey's. An owner mapped to a local account must still be active.
func (p *Provider) inspectUpstream(ctx context.Context, raw string) (*Introspection, error) {
	if len(p.introspectors) == 0 {
		return nil, errBadToken
	}
	ti, ok, err := p.introspectUpstream(ctx, raw)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errBadToken
	}
	info := &Introspection{Active: true, TokenType: "Bearer", AccessClaims: AccessClaims{
		Scope: ti.Scope, ClientID: ti.ClientID, Audience: p.audience, Issuer: p.issuer,
		IdentityProvider: ti.Identity.Backend,
	}}
	if !ti.ExpiresAt.IsZero() {
		info.Expiry = ti.ExpiresAt.Unix()
	}
	if !ti.IssuedAt.IsZero() {
		info.IssuedAt = ti.IssuedAt.Unix()
	}
	if ti.Identity.UserID == 0 {
		info.Subject, info.Username, info.Groups = identitySubject(ti.Identity), ti.Identity.Username, ti.Identity.Groups
		return info, nil
	}
	sub, err := p.loadUser(ctx, ti.Identity.UserID, false)
	if errors.Is(err, ErrInvalidGrant) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	info.Subject, info.Username = sub.ID, sub.Username
	if info.Groups, info.Permissions, err = p.userClaims(ctx, sub, ti.Scope); err != nil {
		return nil, err
	}
	return info, nil
}

// userClaims are the groups and permissions a user's token of scope
// carries, decided by the permission mapper as for the user API's client
// (a personal access token, another server's token for a local user); an
// empty scope is everything that client may have.
func (p *Provider) userClaims(ctx context.Context, sub subject, scope string) ([]string, []string, error) {
	set, err := p.claims.get(claimsKey{sub.ID, scope}, func() (userClaimSet, error) {
		g, perms, err := p.mapUserClaims(ctx, sub, scope)
		return userClaimSet{g, perms}, err
	})
	return set.groups, set.permissions, err
}

// claimsKey and userClaimSet are the claims cache's key and value.
type claimsKey struct{ subject, scope string }

type userClaimSet struct{ groups, permissions []string }

func (p *Provider) mapUserClaims(ctx context.Context, sub subject, scope string) ([]string, []string, error) {
	cl := &storage.Client{ID: p.firstPartyID, Scope: FirstPartyScope}
	if strings.TrimSpace(scope) == "" {
		scope = strings.Join(p.clientScopes(cl), " ")
	}
	res, err := p.mapGrant(ctx, cl, sub, scope)
	if errors.Is(err, ErrInvalidScope) {
		return []string{}, []string{}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return nonNil(res.Groups), nonNil(res.Permissions), nil
}

// mayBeUpstream reports whether a token latchkey does not know may be
// another server's: anything but latchkey's own kinds of secret, except
// lk_at_, which another latchkey issues too.
func mayBeUpstream(raw string) bool {
	return !hasPrefix(raw, "lk_") || hasPrefix(raw, PrefixAccessToken)
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// refreshAudience is the aud a refresh token's access tokens get: its
// resource, or nothing said (the default audience).
func refreshAudience(resource string) Audience {
	if resource == "" {
		return nil
	}
	return Audience{resource}
}

// inspectAccess validates an access token of either format and checks it
// has not been revoked, alone or with its session. Every reason for
// rejection is errBadToken; a store failure is an error of its own.
func (p *Provider) inspectAccess(ctx context.Context, raw string) (*Introspection, error) {
	now := p.now()
	var info *Introspection
	if hasPrefix(raw, PrefixAccessToken) {
		rec, err := p.tokens.AccessToken(ctx, p.secrets.Hash(raw), now)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, errBadToken
		}
		if err != nil {
			return nil, fmt.Errorf("look up access token: %w", err)
		}
		info = opaqueIntrospection(rec, p.issuer, p.audience)
	} else {
		c, err := p.keys.verifyAccess(ctx, raw, p.issuer, now)
		if err != nil {
			return nil, errBadToken
		}
		info = &Introspection{Active: true, TokenType: "Bearer", AccessClaims: *c}
	}
	revoked, err := p.tokens.Revoked(ctx, revocationCheck(info), now)
	if err != nil {
		return nil, fmt.Errorf("check revocation: %w", err)
	}
	if revoked {
		return nil, errBadToken
	}
	return info, nil
}

// revocationCheck is what may have revoked a valid access token: its jti,
// its session, and for a user's token without a session, the user's mark
// (RevokeSubjectAccessTokens) compared with its iat. A token with a
// session is revoked with the session, and one whose session began after
// the mark is a new login that must keep working even in the mark's
// second, which the iat's one-second resolution cannot tell apart: so the
// mark is checked only for tokens without a session.
func revocationCheck(info *Introspection) storage.RevocationCheck {
	c := storage.RevocationCheck{JTI: info.ID, FamilyID: info.SessionID}
	if _, user := info.UserID(); user && info.SessionID == "" {
		c.Subject, c.IssuedAt = info.Subject, time.Unix(info.IssuedAt, 0).UTC()
	}
	return c
}

func opaqueIntrospection(rec storage.AccessToken, issuer string, aud Audience) *Introspection {
	info := &Introspection{Active: true, TokenType: "Bearer", AccessClaims: AccessClaims{
		Scope: rec.Scope, ClientID: rec.ClientID, Subject: rec.Subject,
		Audience: aud, Issuer: issuer, Expiry: rec.ExpiresAt.Unix(), IssuedAt: rec.IssuedAt.Unix(),
		ID: rec.ID, SessionID: rec.FamilyID,
	}}
	if res, ok := rec.Claims["aud"].(string); ok && res != "" {
		info.Audience = Audience{res}
	}
	info.Username, _ = rec.Claims["username"].(string)
	info.Groups = stringList(rec.Claims["groups"])
	info.Permissions = stringList(rec.Claims["permissions"])
	return info
}

// stringList reads a []string that went through JSON ([]any) or not.
func stringList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// VerifyAccessToken validates an access token (JWT or opaque, latchkey's
// or one an opaque backend vouches for) for the HTTP layer: userinfo, the
// user and admin APIs. ErrInvalidToken when it is not valid.
//
// A token issued for a resource (RFC 8707: its aud is that resource's URI,
// not the server's audience) is for that resource only: latchkey's own
// endpoints refuse it as they would a token of another server.
func (p *Provider) VerifyAccessToken(ctx context.Context, raw string) (*Introspection, error) {
	info, err := p.inspectAccess(ctx, raw)
	if errors.Is(err, errBadToken) && mayBeUpstream(raw) {
		// Another server's token, vouched for by an opaque backend.
		info, err = p.inspectUpstream(ctx, raw)
	}
	if errors.Is(err, errBadToken) {
		return nil, ErrInvalidToken.WithDescription("the access token is invalid, expired or revoked")
	}
	if err == nil && !slices.ContainsFunc(info.Audience, p.audience.Contains) {
		return nil, ErrInvalidToken.WithDescription("the access token is for another resource")
	}
	return info, err
}
