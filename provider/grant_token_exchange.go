package provider

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

// Token type identifiers (RFC 8693 §3).
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeRefresh     = "urn:ietf:params:oauth:token-type:refresh_token"
)

// SubjectToken is what a subject token says: who it is about and what it
// allows (RFC 8693 §2.1 subject_token).
type SubjectToken struct {
	// Identity is the token's owner: a local account (UserID) or an
	// external subject (Backend and Subject).
	Identity backends.Identity
	// Scope is the token's scope. AnyScope marks a token limited only by
	// what its owner and the client may have (a personal access token made
	// without a scope).
	Scope    string
	AnyScope bool
	// ExpiresAt is when the subject token stops working; the issued token
	// never outlives it. Zero when unknown.
	ExpiresAt time.Time
	// SignIn marks a subject token that proves a sign-in (an ID token of a
	// social backend), not a delegated credential: the exchange may then
	// start a session, answering a refresh token when one is asked for
	// (requested_token_type refresh_token, or the offline_access scope) and
	// the client may refresh.
	SignIn bool
}

// SubjectTokenResolver resolves the subject tokens of one
// subject_token_type. A token that is unknown, expired, revoked or
// otherwise not acceptable is ErrInvalidSubjectToken (or wraps it); any
// other error means the resolver could not answer (a store or an upstream
// server down) and is answered 503.
type SubjectTokenResolver interface {
	ResolveSubjectToken(ctx context.Context, token string) (SubjectToken, error)
}

// SubjectTokenResolverFunc adapts a function to SubjectTokenResolver.
type SubjectTokenResolverFunc func(ctx context.Context, token string) (SubjectToken, error)

// ResolveSubjectToken calls f.
func (f SubjectTokenResolverFunc) ResolveSubjectToken(ctx context.Context, token string) (SubjectToken, error) {
	return f(ctx, token)
}

// ErrInvalidSubjectToken is a resolver's answer to a subject token it does
// not accept; the client gets invalid_request (RFC 8693 §2.2.2).
var ErrInvalidSubjectToken = errors.New("subject token is not valid")

// tokenExchangeGrant is the token exchange grant (RFC 8693): a client
// trades a subject token for a short-lived latchkey access token about the
// same subject, with at most the subject token's scope. Subject token types
// register into it (Options.SubjectTokenTypes): the built-in
// access_token type takes latchkey's personal access tokens and the opaque
// tokens of the configured opaque backends; the social backends add
// id_token.
type tokenExchangeGrant struct{ p *Provider }

func (tokenExchangeGrant) Type() string { return GrantTokenExchange }

func (g tokenExchangeGrant) Token(ctx context.Context, req *TokenRequest) (*TokenResponse, error) {
	p := g.p
	raw, typ := req.Form.Get("subject_token"), req.Form.Get("subject_token_type")
	if raw == "" || typ == "" {
		return nil, ErrInvalidRequest.WithDescription("subject_token and subject_token_type are required")
	}
	resolver, ok := p.subjectTypes[typ]
	if !ok {
		return nil, ErrInvalidRequest.WithDescription("subject_token_type " + quoteScope(typ) + " is not supported")
	}
	if req.Form.Get("actor_token") != "" || req.Form.Get("actor_token_type") != "" {
		return nil, ErrInvalidRequest.WithDescription("actor tokens (delegation) are not supported")
	}
	requested := req.Form.Get("requested_token_type")
	switch requested {
	case "", TokenTypeAccessToken, TokenTypeRefresh:
	default:
		return nil, ErrInvalidRequest.WithDescription("requested_token_type must be " + TokenTypeAccessToken + " or " + TokenTypeRefresh)
	}
	if req.Form.Get("audience") != "" {
		return nil, ErrInvalidTarget.WithDescription("audience is not supported in token exchange; name a registered resource with resource")
	}
	// A resource indicator (RFC 8707, RFC 8693 §2.1) binds the issued
	// access token to a registered resource.
	res, err := p.resources.resolve(req.Form[ParamResource])
	if err != nil {
		return nil, err
	}
	if res != nil && requested == TokenTypeRefresh {
		return nil, ErrInvalidTarget.WithDescription("a resource is named for access tokens, not refresh tokens")
	}
	if len(raw) > 8192 {
		return nil, ErrInvalidRequest.WithDescription("the subject token is not valid")
	}
	st, err := resolver.ResolveSubjectToken(ctx, raw)
	if errors.Is(err, ErrInvalidSubjectToken) {
		return nil, ErrInvalidRequest.WithDescription("the subject token is not valid").WithCause(err)
	}
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, ErrTemporarilyUnavailable.WithCause(fmt.Errorf("resolve subject token: %w", err))
	}
	if !st.ExpiresAt.IsZero() && !st.ExpiresAt.After(req.Time) {
		return nil, ErrInvalidRequest.WithDescription("the subject token is not valid")
	}
	scope, err := exchangeScope(req.Client, st, req.Form.Get("scope"))
	if err != nil {
		return nil, err
	}
	if scope, err = res.limit(scope); err != nil {
		return nil, err
	}
	sub, err := p.exchangeSubject(ctx, st.Identity)
	if err != nil {
		return nil, err
	}
	spec := grantSpec{client: req.Client, subject: sub, scope: scope, now: req.Time, idp: st.Identity.Backend, resource: res}
	if !st.ExpiresAt.IsZero() && !st.SignIn {
		spec.maxTTL = st.ExpiresAt.Sub(req.Time)
	}
	wantsRefresh := requested == TokenTypeRefresh || hasScope(scope, "offline_access")
	if requested == TokenTypeRefresh && (!st.SignIn || !allowsGrant(req.Client, GrantRefreshToken)) {
		return nil, ErrInvalidRequest.WithDescription("a refresh token is issued only for an ID token, to a client that may refresh")
	}
	if st.SignIn && wantsRefresh && allowsGrant(req.Client, GrantRefreshToken) {
		if spec.family, spec.refresh, err = p.newFamily(ctx, req, sub, scope); err != nil {
			return nil, err
		}
		spec.authTime = req.Time
	}
	resp, err := p.mint(ctx, spec)
	if err != nil {
		return nil, err
	}
	// RFC 8693 §2.2.1: the issued token is in access_token (an access
	// token unless a refresh token was asked for); no ID token.
	resp.IDToken = ""
	resp.IssuedTokenType = TokenTypeAccessToken
	if requested == TokenTypeRefresh {
		resp.AccessToken, resp.RefreshToken = resp.RefreshToken, ""
		resp.TokenType, resp.IssuedTokenType = "N_A", TokenTypeRefresh
		resp.ExpiresIn = int64(p.refreshTTL(req.Client) / time.Second)
	}
	if resp.Scope == "" {
		resp.Scope = scope
	}
	return resp, nil
}

// exchangeScope is the issued token's scope: what was asked for (or, when
// nothing was, everything allowed), where allowed is what both the client
// may ask for and the subject token holds. Asking for more is invalid_scope.
func exchangeScope(cl *storage.Client, st SubjectToken, requested string) (string, error) {
	allowed := strings.Fields(cl.Scope)
	if !st.AnyScope {
		var both []string
		for _, s := range strings.Fields(st.Scope) {
			if contains(allowed, s) {
				both = append(both, s)
			}
		}
		allowed = both
	}
	if strings.TrimSpace(requested) == "" {
		return strings.Join(allowed, " "), nil
	}
	return narrowScope(requested, allowed)
}

// exchangeSubject loads the subject of an exchanged token: a local user
// afresh (a deactivated owner gets nothing), or an external subject.
func (p *Provider) exchangeSubject(ctx context.Context, id backends.Identity) (subject, error) {
	if id.UserID == 0 {
		if id.Subject == "" {
			return subject{}, ErrInvalidRequest.WithDescription("the subject token is not valid")
		}
		return subject{ID: identitySubject(id), Username: id.Username, Email: id.Email, EmailVerified: id.EmailVerified, Groups: id.Groups}, nil
	}
	sub, err := p.loadUser(ctx, id.UserID, true)
	if errors.Is(err, ErrInvalidGrant) {
		return subject{}, ErrInvalidRequest.WithDescription("the subject token is not valid")
	}
	return sub, err
}

// personalTokenStore is what the provider reads of personal access tokens.
type personalTokenStore interface {
	PersonalToken(ctx context.Context, hash string, now time.Time) (storage.PersonalToken, error)
	DeletePersonalToken(ctx context.Context, userID int64, id string) error
}

// accessTokenSubjects resolves subject_token_type access_token: a personal
// access token (lk_pat_), or an opaque token of an opaque backend.
type accessTokenSubjects struct{ p *Provider }

func (a accessTokenSubjects) ResolveSubjectToken(ctx context.Context, raw string) (SubjectToken, error) {
	p := a.p
	if IsPersonalToken(raw) {
		tok, err := p.personalToken(ctx, raw)
		if err != nil {
			return SubjectToken{}, err
		}
		return SubjectToken{
			Identity: backends.Identity{UserID: tok.UserID},
			Scope:    tok.Scope, AnyScope: tok.Scope == "", ExpiresAt: tok.ExpiresAt,
		}, nil
	}
	if !mayBeUpstream(raw) {
		// latchkey's other secrets are never subject tokens of this type.
		return SubjectToken{}, ErrInvalidSubjectToken
	}
	if hasPrefix(raw, PrefixAccessToken) {
		// One of our own opaque access tokens is not a subject token
		// (only personal access tokens are); another latchkey's may be.
		if _, err := p.inspectAccess(ctx, raw); err == nil {
			return SubjectToken{}, ErrInvalidSubjectToken
		} else if !errors.Is(err, errBadToken) {
			return SubjectToken{}, err
		}
	}
	info, ok, err := p.introspectUpstream(ctx, raw)
	if err != nil {
		return SubjectToken{}, err
	}
	if !ok {
		return SubjectToken{}, ErrInvalidSubjectToken
	}
	return SubjectToken{Identity: info.Identity, Scope: info.Scope, ExpiresAt: info.ExpiresAt}, nil
}

// personalToken finds a live personal access token by its secret. Unknown
// and expired tokens are ErrInvalidSubjectToken.
func (p *Provider) personalToken(ctx context.Context, raw string) (storage.PersonalToken, error) {
	if p.pats == nil || len(raw) > 512 {
		return storage.PersonalToken{}, ErrInvalidSubjectToken
	}
	hash := p.secrets.Hash(raw)
	tok, err := p.pats.PersonalToken(ctx, hash, p.now())
	if errors.Is(err, storage.ErrNotFound) {
		return storage.PersonalToken{}, ErrInvalidSubjectToken
	}
	if err != nil {
		return storage.PersonalToken{}, fmt.Errorf("look up personal token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hash)) != 1 {
		return storage.PersonalToken{}, ErrInvalidSubjectToken
	}
	return tok, nil
}

// introspectUpstream asks the opaque backends, in configured order, about
// a token that is not latchkey's. The first that knows it answers; a
// backend that cannot answer is an error unless a later one knows the
// token.
func (p *Provider) introspectUpstream(ctx context.Context, raw string) (backends.TokenInfo, bool, error) {
	var broken error
	for _, b := range p.introspectors {
		info, ok, err := b.Introspector.IntrospectToken(ctx, raw)
		if err != nil {
			broken = errors.Join(broken, fmt.Errorf("backend %s: %w", b.ID, err))
			continue
		}
		if ok {
			if info.Identity.Backend == "" {
				info.Identity.Backend = b.ID
			}
			return info, true, nil
		}
	}
	if broken != nil {
		return backends.TokenInfo{}, false, ErrTemporarilyUnavailable.WithCause(broken)
	}
	return backends.TokenInfo{}, false, nil
}
