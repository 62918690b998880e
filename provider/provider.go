// Package provider is latchkey's protocol core: OAuth 2.0 grants, tokens,
// keys, introspection, revocation and discovery. It imports no HTTP
// framework (handlers pass it *http.Request values), no store
// implementation and no driver: it works on the storage interfaces.
//
// # The token endpoint
//
// Token (token.go) reads the form (form.go), looks the grant_type up in the
// registry (builtinGrants), authenticates the client once (clients.go),
// checks the client is registered for the grant, and calls the grant with
// an explicit *TokenRequest. Each grant is one type in its own file
// (grant_password.go, grant_refresh.go, grant_client_credentials.go); they
// share the minting of tokens (issue.go) and sessions (refresh families in
// storage.Tokens). Errors are *Error values carrying RFC 6749 codes
// (errors.go), compared with errors.Is and errors.As.
//
// # What go-oauth2 does for us, and what we do ourselves
//
// github.com/go-oauth2/oauth2/v4 is confined to engine.go. It validates
// authorization requests (response_type, code_challenge and its method,
// with PKCE forced and only S256 allowed) and verifies PKCE code
// verifiers (RFC 7636 §4.6); its errors are translated into ours there.
// Everything else is ours, because the engine cannot do it the way the
// contract and the RFCs want: client authentication (one method per
// request, constant-time secret checks under the brute-force limits, one
// answer for unknown client and wrong secret), grant dispatch and
// per-client grant checks, refresh rotation that is atomic with reuse
// detection (the engine's refresh is a get-then-delete that lets
// concurrent refreshes all win), scopes, token minting, introspection,
// revocation and the error statuses (the engine answers invalid_grant
// with 401; RFC 6749 §5.2 says 400).
package provider

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/permissions"
	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/throttle"
)

// Store is the durable data the provider reads: clients, signing keys,
// users and their groups.
type Store interface {
	clientStore
	keyStore
	GetUser(ctx context.Context, id int64) (storage.User, error)
	UpdateUser(ctx context.Context, id int64, fn func(*storage.User) error) (storage.User, error)
	UserGroups(ctx context.Context, userID int64) ([]storage.Group, error)
	// ListGroups lists every group: a superuser holds every permission.
	ListGroups(ctx context.Context) ([]storage.Group, error)
}

// PasswordBackend is one configured backend that checks passwords.
type PasswordBackend struct {
	ID      string
	Checker backends.PasswordChecker
	// NextOnWrongPassword lets the chain ask the next backend after this
	// one refused a login it knows (config on_wrong_password: next); by
	// default a wrong password stops the chain.
	NextOnWrongPassword bool
}

// TokenBackend is one configured backend that vouches for bearer tokens
// of another server (an opaque backend with an introspection URL).
type TokenBackend struct {
	ID           string
	Introspector backends.TokenIntrospector
}

// BackendObserver is an optional part of an Observer: it is told about
// every password check of every backend (per-backend attempts, failures
// and latency). result is accepted, wrong_password, unknown_user or error.
type BackendObserver interface {
	PasswordChecked(backend, result string, d time.Duration)
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

// Auditor records audit events (logins, revocations, key rotations);
// *audit.Recorder implements it. Record never fails the request.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, audit.Event) {}

func (nopObserver) TokenIssued(string) {}
func (nopObserver) LoginFailed(string) {}
func (nopObserver) RateLimited(string) {}

// Lifetimes are the default token lifetimes; a client may override access
// and refresh lifetimes.
type Lifetimes struct {
	Access     time.Duration
	Refresh    time.Duration // sliding: each rotation extends by this
	RefreshMax time.Duration // absolute cap of a family
	// RefreshReuseGrace: for this long after a rotation the same client may
	// present the previous refresh token again and gets the same successor
	// (0: strict reuse detection). A client's own setting overrides it.
	RefreshReuseGrace time.Duration
	IDToken           time.Duration
}

// Options configures a Provider.
type Options struct {
	Issuer   string
	Audience []string // of access tokens; default the issuer
	Store    Store
	Tokens   storage.Tokens
	// Codes stores authorization codes (the authorization code flow).
	Codes storage.Codes
	// DeviceCodes stores device authorizations (RFC 8628); nil turns the
	// device flow off.
	DeviceCodes storage.DeviceCodes
	Secrets     *Secrets
	Keys        KeyRingOptions
	Lifetimes   Lifetimes
	Passwords   []PasswordBackend
	// Introspectors are the backends asked, in order, about a bearer token
	// that is not latchkey's: introspection, token exchange, the user API.
	Introspectors []TokenBackend
	// PersonalTokens stores the users' personal access tokens (lk_pat_);
	// nil: they do not introspect or exchange.
	PersonalTokens personalTokenStore
	// SubjectTokenTypes register subject_token_type values into the token
	// exchange grant besides the built-in access_token type.
	SubjectTokenTypes map[string]SubjectTokenResolver
	// ClientCacheTTL is how long a client is trusted from the cache.
	ClientCacheTTL time.Duration
	// UserCacheTTL is how long a user (flags, groups) is trusted from the
	// cache on refresh and userinfo; a login always reads the user afresh.
	UserCacheTTL time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
	Observer     Observer
	// Audit records audit events; nil records none.
	Audit Auditor

	// RateLimits protects every credential check; a nil Store turns it off.
	RateLimits RateLimits

	// Sessions are the browsers' login sessions (package sessions): the
	// tokens an authorization code gives are tied to the session it was
	// issued in, so that a logout can revoke them. Nil ties nothing.
	Sessions SessionTokens
	// Permissions is the permission mapper (permissions: in the config);
	// nil grants every scope the client may ask for and puts every
	// permission of the user in its tokens.
	Permissions *permissions.Mapper
	// FirstPartyClient is the user API's client (users.first_party_client):
	// it may ask for every scope of the mapper besides its own, and personal
	// access tokens introspect with it.
	FirstPartyClient string

	// ClientMetadataDocuments resolves client IDs that are URLs of Client
	// ID Metadata Documents; nil turns them off (such an ID is then an
	// unknown client).
	ClientMetadataDocuments ClientMetadataDocuments
	// Resources are the protected resources a client may name with the
	// resource parameter (RFC 8707); any other is invalid_target.
	Resources []Resource

	// Grants are constructors of grants served besides the built-in ones
	// (tests).
	Grants []func(*Provider) Grant

	// Registration lists registration_endpoint in discovery: dynamic
	// client registration is on (oauth2.registration).
	Registration bool
}

// SessionTokens ties refresh families to the login session (by its
// private key) they were started in; *sessions.Manager implements it.
type SessionTokens interface {
	AddFamily(ctx context.Context, sessionKey, familyID string) error
}

// Provider serves the OAuth 2.0 / OIDC protocol.
type Provider struct {
	issuer    string
	audience  Audience
	store     Store
	tokens    storage.Tokens
	codes     storage.Codes
	devices   storage.DeviceCodes
	sessions  SessionTokens
	engine    engine
	secrets   *Secrets
	keys      *KeyRing
	clients   *clientCache
	users     *ttlCache[int64, subject]
	lifetimes Lifetimes
	passwords []PasswordBackend
	// introspectors vouch for other servers' tokens; pats are the personal
	// access tokens; subjectTypes are token exchange's subject token types.
	introspectors []TokenBackend
	pats          personalTokenStore
	subjectTypes  map[string]SubjectTokenResolver
	// passwordSlots bounds concurrent password checks to one per CPU:
	// argon2id is CPU-bound, so more at once only adds ~19 MiB of live
	// memory each (a password flood's peak RSS) without adding throughput.
	passwordSlots chan struct{}
	now           func() time.Time
	log           *slog.Logger
	obs           Observer
	audit         Auditor
	grants        grantRegistry
	resources     resources

	// limiter limits failed credential checks and e-mail requests; nil
	// when rate limits are off.
	limiter *throttle.Limiter

	// mapper decides scopes and claims (mapper.go); known caches every
	// permission of every group (a superuser's), under key 0; firstPartyID
	// is the user API's client (Options.FirstPartyClient).
	mapper *permissions.Mapper
	known  *ttlCache[int64, []string]
	// claims caches the groups and permissions of a user's token of a
	// scope (userClaims), as users are cached (tokens.user_cache_ttl).
	claims       *ttlCache[claimsKey, userClaimSet]
	firstPartyID string
	registration bool
	clientUses   clientUses // see noteClientUse
}

// MaxClientAccessTTL bounds a client's own access-token lifetime; signing
// keys stay published at least this long after they retire.
const MaxClientAccessTTL = 24 * time.Hour

// MaxRefreshReuseGrace bounds a refresh reuse grace, the server's and a
// client's: long enough for two tabs or a retry after a lost response.
const MaxRefreshReuseGrace = 5 * time.Minute

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
	if opts.Audit == nil {
		opts.Audit = nopAuditor{}
	}
	if len(opts.Audience) == 0 {
		opts.Audience = []string{opts.Issuer}
	}
	if opts.Keys.MaxTokenTTL == 0 {
		opts.Keys.MaxTokenTTL = max(opts.Lifetimes.Access, opts.Lifetimes.IDToken, MaxClientAccessTTL)
	}
	p := &Provider{
		issuer: opts.Issuer, audience: opts.Audience,
		store: opts.Store, tokens: opts.Tokens, codes: opts.Codes, devices: opts.DeviceCodes, sessions: opts.Sessions, secrets: opts.Secrets, engine: newEngine(),
		keys:      NewKeyRing(opts.Store, opts.Secrets, opts.Keys, opts.Now, opts.Logger),
		clients:   newClientCache(opts.Store, opts.ClientCacheTTL, opts.Now),
		users:     newTTLCache[int64, subject](opts.UserCacheTTL, maxCachedUsers, opts.Now),
		lifetimes: opts.Lifetimes, passwords: opts.Passwords,
		passwordSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		now:           opts.Now, log: opts.Logger, obs: opts.Observer, audit: opts.Audit,
		registration: opts.Registration,
	}
	p.keys.audit = opts.Audit
	p.clients.docs = opts.ClientMetadataDocuments
	p.mapper, p.firstPartyID = opts.Permissions, opts.FirstPartyClient
	p.known = newTTLCache[int64, []string](opts.UserCacheTTL, 1, opts.Now)
	p.claims = newTTLCache[claimsKey, userClaimSet](opts.UserCacheTTL, maxCachedUsers, opts.Now)
	p.introspectors, p.pats = opts.Introspectors, opts.PersonalTokens
	p.subjectTypes = map[string]SubjectTokenResolver{TokenTypeAccessToken: accessTokenSubjects{p}}
	for typ, r := range opts.SubjectTokenTypes {
		p.subjectTypes[typ] = r
	}
	p.limiter = newLimiter(opts)
	p.resources = newResources(opts.Resources)
	grants := builtinGrants(p)
	for _, g := range opts.Grants {
		grants = append(grants, g(p))
	}
	p.grants = newGrantRegistry(grants)
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
