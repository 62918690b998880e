package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

// PrefixAuthorizationCode marks authorization codes for secret scanners.
const PrefixAuthorizationCode = "lk_ac_"

// codeTTL is how long an authorization code can be redeemed (RFC 6749
// §4.1.2 recommends at most 10 minutes; a browser redirect takes seconds).
const codeTTL = 60 * time.Second

// Prompt values (OIDC Core §3.1.2.1).
const (
	PromptNone    = "none"
	PromptLogin   = "login"
	PromptConsent = "consent"
)

// ErrLoginRequired, ErrConsentRequired and ErrInteractionRequired answer
// prompt=none when the user would have to act (OIDC Core §3.1.2.6).
var (
	ErrLoginRequired       = &Error{Code: "login_required", Status: http.StatusBadRequest, Description: "the user is not signed in"}
	ErrConsentRequired     = &Error{Code: "consent_required", Status: http.StatusBadRequest, Description: "the user has not allowed this client the requested scopes"}
	ErrInteractionRequired = &Error{Code: "interaction_required", Status: http.StatusBadRequest, Description: "the user must interact with the server"}
)

// AuthorizeRequest is a valid authorization request (RFC 6749 §4.1.1, RFC
// 7636 §4.3, OIDC Core §3.1.2.1): the client and redirect URI are checked,
// the scope is within the client's, PKCE is well formed.
type AuthorizeRequest struct {
	Client              *storage.Client
	RedirectURI         string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	// MaxAge is the largest acceptable age of the login in seconds; -1
	// when the client sent none.
	MaxAge    int
	LoginHint string
	// ClientHost is the host a metadata-document client's document came
	// from (the consent page shows it); "" for a registered client.
	ClientHost string
	// Resource is the registered resource the tokens are for (RFC 8707);
	// nil when the request named none.
	Resource *Resource
}

// HasPrompt reports whether the request carries a prompt value.
func (r *AuthorizeRequest) HasPrompt(p string) bool { return slices.Contains(r.Prompt, p) }

// NeedsLogin reports whether a login that happened at authTime (zero: no
// login) is not good enough for the request: none, forced by
// prompt=login, or older than max_age.
func (r *AuthorizeRequest) NeedsLogin(authTime, now time.Time) bool {
	if authTime.IsZero() || r.HasPrompt(PromptLogin) {
		return true
	}
	return r.MaxAge >= 0 && now.Sub(authTime) > time.Duration(r.MaxAge)*time.Second
}

// ParseAuthorize validates an authorization request (GET query or POST
// form). It answers in one of three ways:
//   - (req, nil): a valid request;
//   - (nil, err): the client or the redirect URI cannot be trusted, so the
//     error must be shown to the user and never sent to the redirect URI
//     (RFC 6749 §4.1.2.1, RFC 9700 §4.11);
//   - (req, err): any other error, for the client: redirect the browser to
//     AuthorizeErrorURL(req, err).
func (p *Provider) ParseAuthorize(ctx context.Context, r *http.Request) (*AuthorizeRequest, error) {
	q, err := authorizeParams(r)
	if err != nil {
		return nil, err
	}
	clientID := q.Get("client_id")
	if clientID == "" || !validText(clientID) {
		return nil, ErrInvalidRequest.WithDescription("client_id is required")
	}
	cl, err := p.clients.get(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidClient.WithDescription("unknown client")
	}
	if err != nil {
		return nil, err
	}
	redirect, ok := matchRedirectURI(cl.RedirectURIs, q.Get("redirect_uri"))
	if !ok {
		return nil, ErrInvalidRequest.WithDescription("redirect_uri is not registered for this client")
	}
	req := &AuthorizeRequest{
		Client: cl, RedirectURI: redirect, State: q.Get("state"), Nonce: q.Get("nonce"),
		LoginHint: q.Get("login_hint"), MaxAge: -1, ClientHost: p.MetadataDocumentHost(clientID),
	}
	return req, p.checkAuthorize(r, q, req)
}

// checkAuthorize checks what may be reported to the client, filling req.
func (p *Provider) checkAuthorize(r *http.Request, q url.Values, req *AuthorizeRequest) error {
	cl := req.Client
	// A missing response_type is a missing parameter (RFC 6749 §4.1.2.1);
	// any other value than code is unsupported_response_type.
	if q.Get("response_type") == "" {
		return ErrInvalidRequest.WithDescription("response_type is required")
	}
	if !allowsGrant(cl, GrantAuthorizationCode) || !slices.Contains(cl.ResponseTypes, "code") {
		return ErrUnauthorizedClient.WithDescription("the client is not registered for the authorization code flow")
	}
	// A confidential client may leave PKCE out (the contract); a public one
	// may not (RFC 9700 §2.1.1).
	public := cl.TokenEndpointAuthMethod == AuthNone
	params, err := p.engine.validateAuthorize(r, public || q.Get("code_challenge") != "" || q.Get("code_challenge_method") != "")
	if err != nil {
		return err
	}
	req.CodeChallenge, req.CodeChallengeMethod = params.CodeChallenge, params.CodeChallengeMethod
	if req.Scope, err = grantScope(cl, q.Get("scope")); err != nil {
		return err
	}
	if req.Resource, err = p.resources.resolve(q[ParamResource]); err != nil {
		return err
	}
	if req.Scope, err = req.Resource.limit(req.Scope); err != nil {
		return err
	}
	for _, v := range strings.Fields(q.Get("prompt")) {
		if v != PromptNone && v != PromptLogin && v != PromptConsent {
			return ErrInvalidRequest.WithDescription("prompt must be none, login or consent")
		}
		req.Prompt = append(req.Prompt, v)
	}
	if req.HasPrompt(PromptNone) && len(req.Prompt) > 1 {
		return ErrInvalidRequest.WithDescription("prompt=none cannot be combined with other values")
	}
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return ErrInvalidRequest.WithDescription("max_age must be a number of seconds")
		}
		req.MaxAge = n
	}
	for _, v := range []string{req.State, req.Nonce, req.LoginHint} {
		if len(v) > 512 {
			return ErrInvalidRequest.WithDescription("state, nonce and login_hint are limited to 512 characters")
		}
	}
	return nil
}

// authorizeParams reads the request's parameters: the query of a GET, the
// form of a POST (OIDC Core §3.1.2.1), each at most once.
func authorizeParams(r *http.Request) (url.Values, error) {
	var q url.Values
	switch r.Method {
	case http.MethodGet:
		var err error
		if q, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			return nil, ErrInvalidRequest.WithDescription("malformed query")
		}
	case http.MethodPost:
		form, err := ParseForm(r)
		if err != nil {
			return nil, err
		}
		q = form
	default:
		return nil, ErrMethodNotAllowed
	}
	for key, values := range q {
		// resource may repeat (RFC 8707 §2); checkAuthorize decides.
		if len(values) > 1 && key != ParamResource {
			return nil, ErrInvalidRequest.WithDescription("parameter " + safeName(key) + " given more than once")
		}
		for _, v := range values {
			if len(v) > maxParamLength || !validText(v) {
				return nil, ErrInvalidRequest.WithDescription("parameter " + safeName(key) + " is too long, not UTF-8 or holds a NUL")
			}
		}
	}
	// The engine reads r.Form; let it see exactly what was checked.
	r.Form = q
	return q, nil
}

// matchRedirectURI finds the redirect URI a request may use: an exact
// string match with a registered one (RFC 9700 §2.1), except that the port
// of a loopback http redirect URI may differ (RFC 8252 §7.3). Without a
// redirect_uri the client's only registered one is used (RFC 6749
// §3.1.2.3).
func matchRedirectURI(registered []string, got string) (string, bool) {
	if got == "" {
		if len(registered) == 1 {
			return registered[0], true
		}
		return "", false
	}
	if slices.Contains(registered, got) {
		return got, true
	}
	u, err := url.Parse(got)
	if err != nil || u.Scheme != "http" || !isLoopbackIP(u.Hostname()) {
		return "", false
	}
	for _, reg := range registered {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || !isLoopbackIP(ru.Hostname()) {
			continue
		}
		if ru.Hostname() == u.Hostname() && ru.EscapedPath() == u.EscapedPath() && ru.RawQuery == u.RawQuery &&
			u.User == nil && u.Fragment == "" && u.Port() != "" {
			return got, true
		}
	}
	return "", false
}

// isLoopbackIP reports whether host is a loopback IP literal. RFC 8252
// §7.3 asks for literals: "localhost" may resolve elsewhere.
func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// AuthorizeErrorURL is where the browser goes with an error for the
// client (RFC 6749 §4.1.2.1, with iss from RFC 9207).
func (p *Provider) AuthorizeErrorURL(req *AuthorizeRequest, err error) string {
	e := AsError(err)
	q := url.Values{"error": {e.Code}, "iss": {p.issuer}}
	if e.Status >= 500 {
		q.Set("error", ErrServerError.Code)
		if e.Status == http.StatusServiceUnavailable {
			q.Set("error", ErrTemporarilyUnavailable.Code)
		}
	} else if e.Description != "" {
		q.Set("error_description", e.Description)
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	return withQuery(req.RedirectURI, q)
}

// Login is the user the login session vouches for.
type Login struct {
	Subject  string
	AuthTime time.Time
	// SessionKey is the login session's private key (its store record):
	// the code remembers it so that the tokens it gives can be revoked when
	// the session ends (Options.Sessions).
	SessionKey string
	// SessionID is the login session's public ID, the sid claim of the ID
	// token (OIDC Front-Channel and Back-Channel Logout).
	SessionID string
	// AMR are the authentication methods (RFC 8176: "pwd", …).
	AMR []string
	// IDP is the outside identity provider the user signed in at (a
	// social backend's ID), the ID token's idp claim; empty for a local
	// login.
	IDP string
}

// IssueCode issues an authorization code for a signed-in user and returns
// the redirect that carries it (RFC 6749 §4.1.2, RFC 9207). The code is
// stored under its keyed hash, bound to the client, the redirect URI, the
// PKCE challenge and the nonce, for codeTTL.
func (p *Provider) IssueCode(ctx context.Context, req *AuthorizeRequest, login Login) (string, error) {
	if login.Subject == "" {
		return "", ErrLoginRequired
	}
	now := p.now()
	raw := NewSecret(PrefixAuthorizationCode)
	code := storage.Code{
		Hash: p.secrets.Hash(raw), FamilyID: newID(), ClientID: req.Client.ID, Subject: login.Subject,
		RedirectURI: req.RedirectURI, Scope: req.Scope, Nonce: req.Nonce,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
		SessionID: login.SessionKey, Resource: req.Resource.uri(), AuthTime: login.AuthTime, CreatedAt: now, ExpiresAt: now.Add(codeTTL),
		Claims: map[string]any{},
	}
	if len(login.AMR) > 0 {
		code.Claims["amr"] = login.AMR
	}
	if login.SessionID != "" {
		code.Claims["sid"] = login.SessionID
	}
	if login.IDP != "" {
		code.Claims["idp"] = login.IDP
	}
	if err := p.codes.CreateCode(ctx, code); err != nil {
		return "", err
	}
	q := url.Values{"code": {raw}, "iss": {p.issuer}}
	if req.State != "" {
		q.Set("state", req.State)
	}
	return withQuery(req.RedirectURI, q), nil
}

// withQuery adds q to a URI's query, keeping what it already has (RFC 6749
// §3.1.2: the redirect URI may have a query, which must be kept).
func withQuery(uri string, q url.Values) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	merged := u.Query()
	for k, vs := range q {
		merged[k] = vs
	}
	u.RawQuery = merged.Encode()
	return u.String()
}

// ParseAuthorizeParams validates an authorization request kept while the
// user signed in or consented (the parameters as the client sent them),
// exactly as ParseAuthorize does: the client, its redirect URIs and its
// scope are checked again, as they may have changed meanwhile.
func (p *Provider) ParseAuthorizeParams(ctx context.Context, params url.Values) (*AuthorizeRequest, error) {
	r := (&http.Request{Method: http.MethodGet, URL: &url.URL{RawQuery: params.Encode()}, Header: http.Header{}}).WithContext(ctx)
	return p.ParseAuthorize(ctx, r)
}

// LoginSubject turns an identity a backend vouched for into the subject of
// a browser's login session, and records the login (last_login). The
// hosted login page only signs in users with a local account: an identity
// without one is refused as a wrong password would be.
func (p *Provider) LoginSubject(ctx context.Context, id backends.Identity) (string, error) {
	if id.UserID == 0 {
		return "", errBadLogin
	}
	sub, err := p.identityToSubject(ctx, id, p.now())
	if err != nil {
		return "", err
	}
	return sub.ID, nil
}
