package provider

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// Grant types (RFC 6749, RFC 8693).
const (
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Grant serves one grant_type at the token endpoint (RFC 6749 §4). The
// endpoint has authenticated the client and checked that it is registered
// for the grant before Token is called; the grant validates its own
// parameters, decides the scope and issues the tokens. Like fosite's
// token-endpoint handlers, one type per grant, one file each
// (grant_<name>.go), and one line in builtinGrants.
type Grant interface {
	// Type is the grant_type value the grant answers to.
	Type() string
	// Token handles one request. Errors are *Error values (or wrap one);
	// anything else is answered as server_error, a store outage as 503.
	Token(ctx context.Context, req *TokenRequest) (*TokenResponse, error)
}

// builtinGrants is the token endpoint's registry: every grant latchkey
// serves, in the order discovery lists them. A new grant is one file and
// one line here.
func builtinGrants(p *Provider) []Grant {
	return []Grant{
		passwordGrant{p},
		refreshTokenGrant{p},
		clientCredentialsGrant{p},
		authorizationCodeGrant{p},
		tokenExchangeGrant{p},
		deviceCodeGrant{p},
	}
}

// BuiltinGrantTypes lists the grant types of builtinGrants, in order,
// without a Provider: what a server built by New serves (with no test-only
// Options.Grants). The CLI's help uses it.
func BuiltinGrantTypes() []string {
	var out []string
	for _, g := range builtinGrants(nil) {
		out = append(out, g.Type())
	}
	return out
}

// TokenRequest is one token request after client authentication: all a
// grant is given. Nothing about the request travels in the context.
type TokenRequest struct {
	GrantType string
	// Form is the request body (ParseForm): no parameter twice, valid UTF-8.
	Form      url.Values
	Client    *storage.Client
	UserAgent string
	// IP is the caller's address as the HTTP layer determined it
	// (WithClientIP), for sessions and rate limits.
	IP   string
	Time time.Time
}

// TokenResponse is a successful token response (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// grantRegistry maps grant_type values to their grants, keeping the
// registration order for discovery.
type grantRegistry struct {
	byType map[string]Grant
	order  []string
}

func newGrantRegistry(grants []Grant) grantRegistry {
	r := grantRegistry{byType: make(map[string]Grant, len(grants))}
	for _, g := range grants {
		if _, dup := r.byType[g.Type()]; dup {
			panic("provider: grant " + g.Type() + " registered twice")
		}
		r.byType[g.Type()] = g
		r.order = append(r.order, g.Type())
	}
	return r
}

// GrantTypes lists the grant types the token endpoint serves, in
// registration order (discovery's grant_types_supported).
func (p *Provider) GrantTypes() []string { return append([]string(nil), p.grants.order...) }

// Token serves the token endpoint (RFC 6749 §3.2): it reads the form,
// finds the grant, authenticates the client once, checks the client may use
// the grant, and hands the request to the grant. The request body must be
// size-limited by the caller.
func (p *Provider) Token(ctx context.Context, r *http.Request) (*TokenResponse, error) {
	// The arrival time, before anything that may wait (the body, the
	// client's lookup and rate limits): a refresh that arrived before
	// another one's rotation committed lost a race it could not see.
	arrived := p.now()
	form, err := ParseForm(r)
	if err != nil {
		return nil, err
	}
	gt := form.Get("grant_type")
	if gt == "" {
		return nil, ErrInvalidRequest.WithDescription("grant_type is required")
	}
	grant, ok := p.grants.byType[gt]
	if !ok {
		return nil, ErrUnsupportedGrantType.WithDescription("grant_type " + quoteScope(gt) + " is not supported")
	}
	cred, err := readClientCredentials(r, form)
	if err != nil {
		return nil, err
	}
	cl, err := p.authenticateClient(ctx, cred)
	if err != nil {
		return nil, err
	}
	if !allowsGrant(cl, gt) {
		return nil, ErrUnauthorizedClient.WithDescription("the client is not allowed to use this grant type")
	}
	resp, err := grant.Token(ctx, &TokenRequest{
		GrantType: gt, Form: form, Client: cl,
		UserAgent: r.UserAgent(), IP: ClientIP(ctx), Time: arrived,
	})
	if err != nil {
		return nil, err
	}
	p.obs.TokenIssued(gt)
	p.noteClientUse(ctx, cl)
	return resp, nil
}
