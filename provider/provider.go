// Package provider is latchkey's protocol core: OAuth 2.0 grants, tokens,
// keys, introspection, revocation and discovery. It uses go-oauth2/oauth2/v4
// as the protocol engine (request validation, grant dispatch) and puts
// latchkey's logic behind its seams: a Manager of ours with atomic refresh
// rotation and reuse detection, our client authentication, and our error
// mapping where the engine departs from the RFCs. It imports no HTTP
// framework; handlers pass it *http.Request values.
package provider

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	"github.com/go-oauth2/oauth2/v4/server"

	"github.com/latchkey-auth/latchkey/backends"
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

// supportedGrants are the grants the token endpoint implements today.
var supportedGrants = map[string]oauth2.GrantType{
	GrantPassword:          oauth2.PasswordCredentials,
	GrantRefreshToken:      oauth2.Refreshing,
	GrantClientCredentials: oauth2.ClientCredentials,
}

// Store is the durable data the provider reads: clients, signing keys,
// users and their groups.
type Store interface {
	clientStore
	keyStore
	GetUser(ctx context.Context, id int64) (storage.User, error)
	UpdateUser(ctx context.Context, id int64, fn func(*storage.User) error) (storage.User, error)
	UserGroups(ctx context.Context, userID int64) ([]storage.Group, error)
}

// PasswordBackend is one configured backend that checks passwords.
type PasswordBackend struct {
	ID      string
	Checker backends.PasswordChecker
}

// Observer is told about protocol events (metrics); every method must be
// cheap and safe for concurrent use.
type Observer interface {
	TokenIssued(grant string)
	LoginFailed(backend string)
	// RateLimited counts a credential check refused by a rate limit
	// (account_address, account or address).
	RateLimited(limit string)
}

type nopObserver struct{}

func (nopObserver) TokenIssued(string) {}
func (nopObserver) LoginFailed(string) {}
func (nopObserver) RateLimited(string) {}

// Lifetimes are the default token lifetimes; a client may override access
// and refresh lifetimes.
type Lifetimes struct {
	Access     time.Duration
	Refresh    time.Duration // sliding: each rotation extends by this
	RefreshMax time.Duration // absolute cap of a family
	IDToken    time.Duration
}

// Options configures a Provider.
type Options struct {
	Issuer    string
	Audience  []string // of access tokens; default the issuer
	Store     Store
	Tokens    storage.Tokens
	Secrets   *Secrets
	Keys      KeyRingOptions
	Lifetimes Lifetimes
	Passwords []PasswordBackend
	// ClientCacheTTL is how long a client is trusted from the cache.
	ClientCacheTTL time.Duration
	// UserCacheTTL is how long a user (flags, groups) is trusted from the
	// cache on refresh and userinfo; a login always reads the user afresh.
	UserCacheTTL time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
	Observer     Observer

	// RateLimits protects every credential check; a nil Store turns it off.
	RateLimits RateLimits
}

// Provider serves the OAuth 2.0 / OIDC protocol.
type Provider struct {
	issuer    string
	audience  Audience
	store     Store
	tokens    storage.Tokens
	secrets   *Secrets
	keys      *KeyRing
	clients   *clientCache
	users     *ttlCache[int64, subject]
	lifetimes Lifetimes
	passwords []PasswordBackend
	// passwordSlots bounds concurrent password checks.
	passwordSlots chan struct{}
	now           func() time.Time
	log           *slog.Logger
	obs           Observer
	engine        *server.Server

	// throttle limits failed credential checks; nil when off.
	throttle *throttle
	// mailThrottle limits e-mail requests; nil when rate limits are off.
	mailThrottle *throttle
}

// MaxClientAccessTTL bounds a client's own access-token lifetime; signing
// keys stay published at least this long after they retire.
const MaxClientAccessTTL = 24 * time.Hour

// New builds a Provider. Call Start before serving.
func New(opts Options) *Provider {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if len(opts.Audience) == 0 {
		opts.Audience = []string{opts.Issuer}
	}
	if opts.Keys.MaxTokenTTL == 0 {
		opts.Keys.MaxTokenTTL = max(opts.Lifetimes.Access, opts.Lifetimes.IDToken, MaxClientAccessTTL)
	}
	p := &Provider{
		issuer: opts.Issuer, audience: opts.Audience,
		store: opts.Store, tokens: opts.Tokens, secrets: opts.Secrets,
		keys:      NewKeyRing(opts.Store, opts.Secrets, opts.Keys, opts.Now, opts.Logger),
		clients:   newClientCache(opts.Store, opts.ClientCacheTTL, opts.Now),
		users:     newTTLCache[int64, subject](opts.UserCacheTTL, maxCachedUsers, opts.Now),
		lifetimes: opts.Lifetimes, passwords: opts.Passwords,
		passwordSlots: make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		now:           opts.Now, log: opts.Logger, obs: opts.Observer,
	}
	p.throttle = newThrottle(opts.RateLimits, opts.Secrets, opts.Observer, opts.Logger, opts.Now)
	p.mailThrottle = mailThrottle(opts.RateLimits, opts.Secrets, opts.Observer, opts.Logger, opts.Now)
	p.engine = p.newEngine()
	return p
}

// Start loads (or creates) the signing keys.
func (p *Provider) Start(ctx context.Context) error {
	return p.keys.Load(ctx)
}

// Keys returns the key ring (for listings and rotation).
func (p *Provider) Keys() *KeyRing { return p.keys }

// Issuer returns the issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// newEngine wires go-oauth2's server to our hooks.
func (p *Provider) newEngine() *server.Server {
	cfg := server.NewConfig()
	cfg.AllowedGrantTypes = []oauth2.GrantType{oauth2.PasswordCredentials, oauth2.Refreshing, oauth2.ClientCredentials}
	cfg.AllowedResponseTypes = []oauth2.ResponseType{oauth2.Code}
	cfg.AllowedCodeChallengeMethods = []oauth2.CodeChallengeMethod{oauth2.CodeChallengeS256}
	cfg.ForcePKCE = true
	srv := server.NewServer(cfg, &manager{p: p})
	srv.ClientInfoHandler = p.engineClientInfo
	srv.PasswordAuthorizationHandler = p.checkPassword
	srv.ClientScopeHandler = p.engineClientScope
	return srv
}

// tokenRequest carries what one token request learned along the engine's
// path, so no step has to look it up twice.
type tokenRequest struct {
	form      url.Values
	grant     string
	userAgent string
	client    *storage.Client
	identity  backends.Identity
	resp      *TokenResponse
}

type tokenRequestKey struct{}

func requestState(ctx context.Context) *tokenRequest {
	st, _ := ctx.Value(tokenRequestKey{}).(*tokenRequest)
	return st
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

// Token serves the token endpoint (RFC 6749 §3.2). The request body must be
// size-limited by the caller.
func (p *Provider) Token(ctx context.Context, r *http.Request) (*TokenResponse, error) {
	form, err := ParseForm(r)
	if err != nil {
		return nil, err
	}
	grant := form.Get("grant_type")
	if grant == "" {
		return nil, ErrInvalidRequest.WithDescription("grant_type is required")
	}
	gt, ok := supportedGrants[grant]
	if !ok {
		return nil, ErrUnsupportedGrantType.WithDescription("grant_type " + quoteScope(grant) + " is not supported")
	}
	st := &tokenRequest{form: form, grant: grant, userAgent: r.UserAgent()}
	r = r.WithContext(context.WithValue(ctx, tokenRequestKey{}, st))
	_, tgr, err := p.engine.ValidationTokenRequest(r)
	if err != nil {
		return nil, AsError(err)
	}
	if _, err := p.engine.GetAccessToken(r.Context(), gt, tgr); err != nil {
		return nil, AsError(err)
	}
	if st.resp == nil {
		return nil, ErrServerError.WithCause(errors.New("engine returned no token"))
	}
	p.obs.TokenIssued(grant)
	return st.resp, nil
}

// engineClientInfo authenticates the client before the engine does anything
// else (the engine would check a password before the client), and checks
// that the client may use the grant.
func (p *Provider) engineClientInfo(r *http.Request) (string, string, error) {
	st := requestState(r.Context())
	cred, err := readClientCredentials(r, st.form)
	if err != nil {
		return "", "", err
	}
	cl, err := p.authenticateClient(r.Context(), cred)
	if err != nil {
		return "", "", err
	}
	if !allowsGrant(cl, st.grant) {
		return "", "", ErrUnauthorizedClient.WithDescription("the client is not allowed to use this grant type")
	}
	st.client = cl
	return cl.ID, cred.secret, nil
}

// engineClientScope decides the scope for password and client_credentials
// grants, writing the granted scope back into the request.
func (p *Provider) engineClientScope(tgr *oauth2.TokenGenerateRequest) (bool, error) {
	st := requestState(tgr.Request.Context())
	scope, err := grantScope(st.client, tgr.Scope)
	if err != nil {
		return false, err
	}
	tgr.Scope = scope
	return true, nil
}
