package clients

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// Dynamic client registration (RFC 7591) and its management protocol
// (RFC 7592). Clients that register themselves are third-party: they are
// marked Registered, never skip consent, are never registered for the
// latchkey scope (provider.ScopeAPI), so their tokens never act on /auth/
// or /admin/, and never get the password grant. With
// oauth2.registration_client_ttl they are deleted once unused for that long.

// Prefixes of the registration secrets.
const (
	// PrefixRegistrationAccessToken starts RFC 7592 registration access
	// tokens.
	PrefixRegistrationAccessToken = "lk_rat_"
	// PrefixInitialAccessToken starts the initial access tokens an
	// administrator makes for oauth2.registration: initial_access_token.
	PrefixInitialAccessToken = "lk_iat_"
)

// grantDeviceCode is RFC 8628's grant type: a registered client may use it
// where the server serves it.
const grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// registrableGrants are the grant types a registered client may ask for
// (where the server serves them). The password grant is first-party only.
var registrableGrants = []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken, provider.GrantClientCredentials, grantDeviceCode}

// Errors of the registration endpoints.
var (
	// ErrRegistrationOff answers every registration endpoint when
	// oauth2.registration is off: there is no such endpoint.
	ErrRegistrationOff = &provider.Error{Code: "not_found", Status: http.StatusNotFound, Description: "dynamic client registration is off on this server"}
	// ErrBadRegistrationToken is a missing, unknown, expired or used-up
	// initial access token, or a wrong registration access token (RFC 6750
	// §3.1, RFC 7592 §2).
	ErrBadRegistrationToken = &provider.Error{Code: "invalid_token", Status: http.StatusUnauthorized, Description: "the access token is missing, unknown or expired"}
)

// RegistrationRequest is the client metadata of a registration or update
// request (RFC 7591 §2). Metadata this server does not keep (client_uri,
// logo_uri, contacts, …) is ignored, as §2 allows.
type RegistrationRequest struct {
	// ClientID must be absent on registration and equal the client's ID on
	// update (RFC 7592 §2.2).
	ClientID string `json:"client_id"`
	// ClientSecret must be absent on registration (the server issues
	// secrets) and, on update, absent or the client's secret.
	ClientSecret            string   `json:"client_secret"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

// Registration is the client information response (RFC 7591 §3.2.1, RFC
// 7592 §3).
type Registration struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string   `json:"registration_access_token"`
	RegistrationClientURI   string   `json:"registration_client_uri"`
	ClientName              string   `json:"client_name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

// RegistrationStore is what registration needs of storage: clients and
// initial access tokens.
type RegistrationStore interface {
	Store
	DeleteUnusedRegisteredClients(ctx context.Context, before time.Time) ([]string, error)
	storage.InitialAccessTokens
}

// RegistrationObserver counts registration requests by outcome (created,
// invalid_metadata, unauthorized, rate_limited, error); *metrics.Registry
// implements it.
type RegistrationObserver interface {
	ClientRegistration(outcome string)
}

// Registration outcomes, the values RegistrationObserver sees.
const (
	OutcomeCreated         = "created"
	OutcomeInvalidMetadata = "invalid_metadata"
	OutcomeUnauthorized    = "unauthorized"
	OutcomeRateLimited     = "rate_limited"
	OutcomeError           = "error"
)

// RegistrationOptions configure a Registrar (oauth2.registration*).
type RegistrationOptions struct {
	// Policy is config.RegistrationOff, RegistrationOpen or
	// RegistrationInitialAccessToken.
	Policy            string
	AllowConfidential bool
	// Issuer is the base of registration_client_uri.
	Issuer string
	// Attempts keeps the rate-limit counters of open registration; nil or
	// a RateLimit of 0 requests is no limit.
	Attempts  storage.Attempts
	RateLimit config.RequestLimit
	Observer  RegistrationObserver
}

// Registrar serves dynamic client registration and the administration of
// initial access tokens. Its methods are safe for concurrent use.
type Registrar struct {
	admin *Admin
	store RegistrationStore
	opts  RegistrationOptions
	limit storage.AttemptLimit
}

type nopRegistrationObserver struct{}

func (nopRegistrationObserver) ClientRegistration(string) {}

// NewRegistrar returns the registration service over a's provider, clock
// and audit, storing in store.
func NewRegistrar(a *Admin, store RegistrationStore, opts RegistrationOptions) *Registrar {
	if opts.Observer == nil {
		opts.Observer = nopRegistrationObserver{}
	}
	if opts.Policy == "" {
		opts.Policy = config.RegistrationOff
	}
	r := &Registrar{admin: a, store: store, opts: opts}
	if opts.Attempts != nil && opts.RateLimit.Requests > 0 {
		w := opts.RateLimit.Window
		r.limit = storage.AttemptLimit{Failures: opts.RateLimit.Requests, Window: w, Backoff: w, MaxBackoff: w}
	}
	return r
}

// Enabled reports whether /oauth2/register is served.
func (r *Registrar) Enabled() bool { return r != nil && r.opts.Policy != config.RegistrationOff }

// Register registers a client (RFC 7591 §3.1). bearer is the token of the
// request's Authorization: Bearer header ("" when none), needed with
// oauth2.registration: initial_access_token; ip is the client address the
// open policy's rate limit counts.
func (r *Registrar) Register(ctx context.Context, req RegistrationRequest, bearer, ip string) (Registration, error) {
	reg, outcome, err := r.register(ctx, req, bearer, ip)
	if r.Enabled() {
		r.opts.Observer.ClientRegistration(outcome)
	}
	return reg, err
}

func (r *Registrar) register(ctx context.Context, req RegistrationRequest, bearer, ip string) (Registration, string, error) {
	if !r.Enabled() {
		return Registration{}, OutcomeError, ErrRegistrationOff
	}
	now := r.admin.now()
	var iatHash string
	switch r.opts.Policy {
	case config.RegistrationOpen:
		if err := r.countRegistration(ctx, ip, now); err != nil {
			if errors.Is(err, provider.ErrRateLimited) {
				return Registration{}, OutcomeRateLimited, err
			}
			return Registration{}, OutcomeError, err
		}
	case config.RegistrationInitialAccessToken:
		if !strings.HasPrefix(bearer, PrefixInitialAccessToken) {
			return Registration{}, OutcomeUnauthorized, ErrBadRegistrationToken.WithDescription("an initial access token is required (Authorization: Bearer lk_iat_...)")
		}
		iatHash = r.admin.provider.HashSecret(bearer)
		// Checked before the metadata, counted after it is valid: a
		// refused request does not use up a token.
		if _, err := r.store.InitialAccessToken(ctx, iatHash, now); err != nil {
			return Registration{}, unauthorizedOr(err), tokenError(err)
		}
	}
	if req.ClientID != "" {
		return Registration{}, OutcomeInvalidMetadata, ErrInvalidMetadata.WithDescription("client_id: assigned by the server; do not send one")
	}
	if req.ClientSecret != "" {
		return Registration{}, OutcomeInvalidMetadata, ErrInvalidMetadata.WithDescription("client_secret: issued by the server; do not send one")
	}
	m, err := r.metadata(req)
	if err != nil {
		return Registration{}, OutcomeInvalidMetadata, err
	}
	if iatHash != "" {
		if _, err := r.store.UseInitialAccessToken(ctx, iatHash, now); err != nil {
			return Registration{}, unauthorizedOr(err), tokenError(err)
		}
	}
	m.ClientID = newClientID()
	rat := provider.NewSecret(PrefixRegistrationAccessToken)
	rec := storage.Client{
		ID: m.ClientID, CreatedAt: now, UpdatedAt: now,
		Registered: true, RegistrationTokenHash: r.admin.provider.HashSecret(rat),
	}
	m.toRecord(&rec)
	var secret string
	if m.TokenEndpointAuthMethod != provider.AuthNone {
		secret = provider.NewSecret(provider.PrefixClientSecret)
		rec.SecretHash = r.admin.provider.HashSecret(secret)
	}
	if err := r.store.CreateClient(ctx, rec); err != nil {
		return Registration{}, OutcomeError, fmt.Errorf("register client: %w", err)
	}
	r.admin.audit.Record(ctx, audit.Event{
		Type: audit.TypeClientCreated, ClientID: rec.ID, Actor: "registration",
		Detail: map[string]string{"registration": r.opts.Policy},
	})
	out := r.registration(rec, rat)
	if secret != "" {
		out.ClientSecret = secret
	}
	return out, OutcomeCreated, nil
}

// countRegistration counts an open registration from ip: past
// oauth2.registration_rate_limit it is provider.ErrRateLimited.
func (r *Registrar) countRegistration(ctx context.Context, ip string, now time.Time) error {
	if r.limit.Failures == 0 {
		return nil
	}
	key := "reg:ip:" + addressKey(ip)
	states, err := r.opts.Attempts.AttemptStates(ctx, now, key)
	if err != nil {
		return provider.ErrTemporarilyUnavailable.WithCause(fmt.Errorf("registration rate limit: %w", err))
	}
	if until := states[0].BlockedUntil; until.After(now) {
		e := *provider.ErrRateLimited
		e.Description = "too many registrations from this address"
		e.RetryAfter = max(int((until.Sub(now)+time.Second-1)/time.Second), 1)
		return &e
	}
	if _, err := r.opts.Attempts.FailAttempt(ctx, key, r.limit, now); err != nil {
		return provider.ErrTemporarilyUnavailable.WithCause(fmt.Errorf("registration rate limit: %w", err))
	}
	return nil
}

// addressKey is the address a counter keys on: an IPv4 address as is, an
// IPv6 address by its /64 (one subscriber usually holds a whole /64).
func addressKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return truncate(ip, 64)
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return addr.String()
	}
	return p.String()
}

func unauthorizedOr(err error) string {
	if errors.Is(err, storage.ErrNotFound) {
		return OutcomeUnauthorized
	}
	return OutcomeError
}

func tokenError(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return ErrBadRegistrationToken
	}
	return fmt.Errorf("initial access token: %w", err)
}

// metadata turns a request into validated metadata under the registration
// rules: server defaults where the client sent nothing, public clients
// only unless oauth2.registration_allow_confidential, no password grant,
// never the latchkey scope.
func (r *Registrar) metadata(req RegistrationRequest) (Metadata, error) {
	m := Metadata{
		ClientName: req.ClientName, RedirectURIs: req.RedirectURIs, PostLogoutRedirectURIs: req.PostLogoutRedirectURIs,
		GrantTypes: req.GrantTypes, ResponseTypes: req.ResponseTypes, Scope: req.Scope,
		TokenEndpointAuthMethod: req.TokenEndpointAuthMethod,
	}
	if m.TokenEndpointAuthMethod == "" && !r.opts.AllowConfidential {
		// RFC 7591 §2's default is client_secret_basic; a server that
		// registers only public clients substitutes none (§3.2.1).
		m.TokenEndpointAuthMethod = provider.AuthNone
	}
	if m.TokenEndpointAuthMethod != "" && m.TokenEndpointAuthMethod != provider.AuthNone && !r.opts.AllowConfidential {
		return Metadata{}, ErrInvalidMetadata.WithDescription("token_endpoint_auth_method: this server registers public clients only; use \"none\" (with PKCE)")
	}
	served := r.admin.provider.GrantTypes()
	if len(m.GrantTypes) == 0 {
		for _, g := range []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken} {
			if slices.Contains(served, g) {
				m.GrantTypes = append(m.GrantTypes, g)
			}
		}
	}
	for _, g := range m.GrantTypes {
		if !slices.Contains(registrableGrants, g) {
			return Metadata{}, ErrInvalidMetadata.WithDescription("grant_types: " + truncate(g, 64) + " cannot be registered; registered clients may use authorization_code, refresh_token, client_credentials (confidential clients) and the device code grant")
		}
	}
	if slices.Contains(strings.Fields(m.Scope), provider.ScopeAPI) {
		return Metadata{}, ErrInvalidMetadata.WithDescription("scope: " + provider.ScopeAPI + " is for first-party clients and cannot be registered")
	}
	if err := m.normalize(served); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// registration is the client information response of a registered client;
// rat is the registration access token to return.
func (r *Registrar) registration(c storage.Client, rat string) Registration {
	m := metadataOf(c)
	out := Registration{
		ClientID: c.ID, ClientIDIssuedAt: c.CreatedAt.Unix(),
		RegistrationAccessToken: rat,
		RegistrationClientURI:   strings.TrimSuffix(r.opts.Issuer, "/") + "/oauth2/register/" + c.ID,
		ClientName:              m.ClientName, RedirectURIs: m.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: m.GrantTypes, ResponseTypes: m.ResponseTypes, Scope: m.Scope,
		TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
	}
	if c.SecretHash != "" {
		out.ClientSecretExpiresAt = new(int64) // 0: never (RFC 7591 §3.2.1)
	}
	return out
}

// authorize checks a registration access token against a registered
// client (RFC 7592 §2): the hashes are compared in constant time. A
// missing client, one an administrator made, and a wrong token answer
// alike.
func (r *Registrar) authorize(c storage.Client, rat string) error {
	if !strings.HasPrefix(rat, PrefixRegistrationAccessToken) || !c.Registered || c.RegistrationTokenHash == "" {
		return ErrBadRegistrationToken
	}
	if subtle.ConstantTimeCompare([]byte(r.admin.provider.HashSecret(rat)), []byte(c.RegistrationTokenHash)) != 1 {
		return ErrBadRegistrationToken
	}
	return nil
}

// lookup returns the registered client id if rat is its registration
// access token.
func (r *Registrar) lookup(ctx context.Context, id, rat string) (storage.Client, error) {
	if !r.Enabled() {
		return storage.Client{}, ErrRegistrationOff
	}
	if !clientIDPattern.MatchString(id) {
		return storage.Client{}, ErrBadRegistrationToken
	}
	c, err := r.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		r.admin.provider.HashSecret(rat) // the same work as for a client that exists
		return storage.Client{}, ErrBadRegistrationToken
	}
	if err != nil {
		return storage.Client{}, fmt.Errorf("read client: %w", err)
	}
	return c, r.authorize(c, rat)
}

// Read returns a registered client's information (RFC 7592 §2.1). The
// registration access token is rotated: the answer carries the new one,
// and the one presented stops working (§2.1 lets the server issue a new
// one; §3 requires one in the answer, and only its hash is stored).
func (r *Registrar) Read(ctx context.Context, id, rat string) (Registration, error) {
	if _, err := r.lookup(ctx, id, rat); err != nil {
		return Registration{}, err
	}
	return r.rotate(ctx, id, rat, nil)
}

// Update replaces a registered client's metadata (RFC 7592 §2.2) under
// the registration rules, and rotates its registration access token.
func (r *Registrar) Update(ctx context.Context, id, rat string, req RegistrationRequest) (Registration, error) {
	c, err := r.lookup(ctx, id, rat)
	if err != nil {
		return Registration{}, err
	}
	if req.ClientID != id {
		return Registration{}, ErrInvalidMetadata.WithDescription("client_id: must be included and equal the client's ID (RFC 7592 §2.2)")
	}
	if req.ClientSecret != "" && (c.SecretHash == "" ||
		subtle.ConstantTimeCompare([]byte(r.admin.provider.HashSecret(req.ClientSecret)), []byte(c.SecretHash)) != 1) {
		return Registration{}, ErrInvalidMetadata.WithDescription("client_secret: does not match the client's secret; leave it out")
	}
	if req.TokenEndpointAuthMethod == "" {
		req.TokenEndpointAuthMethod = c.TokenEndpointAuthMethod
	}
	m, err := r.metadata(req)
	if err != nil {
		return Registration{}, err
	}
	if (c.TokenEndpointAuthMethod == provider.AuthNone) != (m.TokenEndpointAuthMethod == provider.AuthNone) {
		return Registration{}, ErrInvalidMetadata.WithDescription("token_endpoint_auth_method: cannot switch between public and confidential; register a new client")
	}
	reg, err := r.rotate(ctx, id, rat, func(c *storage.Client) {
		m.toRecord(c)
	})
	if err == nil {
		r.admin.provider.ForgetClient(id)
		r.admin.audit.Record(ctx, audit.Event{Type: audit.TypeClientUpdated, ClientID: id, Actor: "registration"})
	}
	return reg, err
}

// rotate gives the client a new registration access token, applying
// change (if any) in the same transaction, provided rat is still its
// token there: of two requests racing with one token, one wins.
func (r *Registrar) rotate(ctx context.Context, id, rat string, change func(*storage.Client)) (Registration, error) {
	next := provider.NewSecret(PrefixRegistrationAccessToken)
	c, err := r.store.UpdateClient(ctx, id, func(c *storage.Client) error {
		if err := r.authorize(*c, rat); err != nil {
			return err
		}
		if change != nil {
			change(c)
		}
		c.RegistrationTokenHash = r.admin.provider.HashSecret(next)
		c.UpdatedAt = r.admin.now()
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return Registration{}, ErrBadRegistrationToken
	}
	if err != nil {
		return Registration{}, clientError(err)
	}
	return r.registration(c, next), nil
}

// Delete deletes a registered client (RFC 7592 §2.3).
func (r *Registrar) Delete(ctx context.Context, id, rat string) error {
	if _, err := r.lookup(ctx, id, rat); err != nil {
		return err
	}
	if err := r.store.DeleteClient(ctx, id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return ErrBadRegistrationToken
		}
		return fmt.Errorf("delete client: %w", err)
	}
	r.admin.provider.ForgetClient(id)
	r.admin.audit.Record(ctx, audit.Event{Type: audit.TypeClientDeleted, ClientID: id, Actor: "registration"})
	return nil
}

// DeleteUnused deletes registered clients no token was issued to for ttl
// (oauth2.registration_client_ttl; 0 deletes none) and returns how many.
func (r *Registrar) DeleteUnused(ctx context.Context, ttl time.Duration) (int, error) {
	if ttl <= 0 {
		return 0, nil
	}
	ids, err := r.store.DeleteUnusedRegisteredClients(ctx, r.admin.now().Add(-ttl))
	if err != nil {
		return 0, fmt.Errorf("delete unused registered clients: %w", err)
	}
	for _, id := range ids {
		r.admin.provider.ForgetClient(id)
		r.admin.audit.Record(ctx, audit.Event{
			Type: audit.TypeClientDeleted, ClientID: id, Actor: "registration_client_ttl",
			Detail: map[string]string{"reason": "unused"},
		})
	}
	return len(ids), nil
}
