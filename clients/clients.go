// Package clients is the administration of OAuth 2.0 clients: their
// registration metadata (RFC 7591 §2 names plus latchkey's token settings),
// its validation, and creating, listing, updating, deleting and rotating
// the secret of clients, for the admin API, the CLI and the bootstrap. The
// token endpoint's use of clients (authentication, grant and scope checks)
// is protocol and stays in provider.
package clients

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// Store is the client storage the administration needs.
type Store interface {
	GetClient(ctx context.Context, id string) (storage.Client, error)
	CreateClient(ctx context.Context, c storage.Client) error
	ListClients(ctx context.Context) ([]storage.Client, error)
	UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) (storage.Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// Provider is what the administration needs of the protocol core: the
// keyed hash secrets are stored under, dropping a changed client from its
// cache, and the grant types the token endpoint serves (its grant
// registry), the only ones a client may be registered for.
type Provider interface {
	HashSecret(secret string) string
	ForgetClient(id string)
	GrantTypes() []string
}

// Admin administers clients. Its methods are safe for concurrent use.
type Admin struct {
	store    Store
	provider Provider
	now      func() time.Time
	audit    Auditor
}

// Auditor records audit events (client.created, …); *audit.Recorder
// implements it. Record never fails the request.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, audit.Event) {}

// WithAudit makes a record events to r and returns a.
func (a *Admin) WithAudit(r Auditor) *Admin {
	if r != nil {
		a.audit = r
	}
	return a
}

func (a *Admin) record(ctx context.Context, typ, clientID string) {
	a.audit.Record(ctx, audit.Event{Type: typ, ClientID: clientID})
}

// New returns the client administration over store; now defaults to
// time.Now.
func New(store Store, p Provider, now func() time.Time) *Admin {
	if now == nil {
		now = time.Now
	}
	return &Admin{store: store, provider: p, now: now, audit: nopAuditor{}}
}

// Metadata is a client as the admin API and the CLI show it, with RFC 7591
// §2 names plus latchkey's token settings.
type Metadata struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret,omitempty"` // only on creation and rotation
	ClientIDIssuedAt        int64    `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	AccessTokenFormat       string   `json:"access_token_format"`
	AccessTokenTTL          int64    `json:"access_token_ttl"`  // seconds; 0 = server default
	RefreshTokenTTL         int64    `json:"refresh_token_ttl"` // seconds; 0 = server default
	// RefreshReuseGrace is the client's refresh reuse grace in seconds
	// (0: none, strict reuse detection); null or absent: the server's
	// tokens.refresh_reuse_grace.
	RefreshReuseGrace *int64 `json:"refresh_reuse_grace"`
	// SkipConsent marks a first-party client: the hosted consent page is
	// never shown for it, its scopes are granted without asking. Absent:
	// false.
	SkipConsent bool `json:"skip_consent"`
	// Registered marks a client that registered itself (RFC 7591,
	// docs/client-registration.md): third-party, never the latchkey
	// scope. Set by registration only; ignored on input.
	Registered bool `json:"registered"`
	// LastUsedAt is when a token was last issued to a registered client
	// (recorded about hourly); absent when never or not registered.
	LastUsedAt *int64 `json:"last_used_at,omitempty"`
}

// Errors of client registration (RFC 7591 §3.2.2).
var (
	ErrInvalidMetadata    = &provider.Error{Code: "invalid_client_metadata", Status: http.StatusBadRequest}
	ErrInvalidRedirectURI = &provider.Error{Code: "invalid_redirect_uri", Status: http.StatusBadRequest}
	ErrNotFound           = &provider.Error{Code: "not_found", Status: http.StatusNotFound, Description: "no such client"}
	ErrExists             = &provider.Error{Code: "invalid_client_metadata", Status: http.StatusConflict, Description: "a client with this client_id exists"}
)

// DefaultScope is what a client may ask for when it registers none.
const DefaultScope = "openid profile email offline_access groups"

var (
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$`)
	scopePattern    = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`) // RFC 6749 §3.3 scope-token
)

// DefaultGrantTypes is what a client registering no grant_types gets:
// RFC 7591 §2's default, authorization_code (with refresh_token), for a
// client that registers redirect URIs (it signs users in through a
// browser); without redirect URIs, which that flow needs,
// client_credentials for a confidential client and password with
// refresh_token for a public one (a first-party app with its own login
// form). Only served grants are ever returned.
func DefaultGrantTypes(served []string, public, redirects bool) []string {
	var want []string
	switch {
	case redirects && slices.Contains(served, provider.GrantAuthorizationCode):
		want = []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}
	case public:
		want = []string{provider.GrantPassword, provider.GrantRefreshToken}
	default:
		want = []string{provider.GrantClientCredentials}
	}
	out := make([]string, 0, len(want))
	for _, g := range want {
		if slices.Contains(served, g) {
			out = append(out, g)
		}
	}
	return out
}

// validClientID reports whether id may name a client. All-digit IDs are
// refused: a client_credentials token's sub is the client ID, and numeric
// subs are user IDs.
func validClientID(id string) bool {
	return clientIDPattern.MatchString(id) && strings.Trim(id, "0123456789") != ""
}

// newClientID generates a client ID: 128 random bits, hex, prefixed so it
// starts with a letter and is never all digits.
func newClientID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("clients: crypto/rand failed: " + err.Error())
	}
	return "c" + hex.EncodeToString(b[:])
}

// normalize fills defaults and validates the metadata; served are the grant
// types the token endpoint serves.
func (m *Metadata) normalize(served []string) error {
	if m.ClientID != "" && !validClientID(m.ClientID) {
		return ErrInvalidMetadata.WithDescription("client_id: use 1 to 128 letters, digits, '.', '_', '~' or '-', starting with a letter or digit and not all digits (those are user IDs)")
	}
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = provider.AuthSecretBasic
	}
	if !slices.Contains([]string{provider.AuthSecretBasic, provider.AuthSecretPost, provider.AuthNone}, m.TokenEndpointAuthMethod) {
		return ErrInvalidMetadata.WithDescription("token_endpoint_auth_method: must be client_secret_basic, client_secret_post or none")
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = DefaultGrantTypes(served, m.TokenEndpointAuthMethod == provider.AuthNone, len(m.RedirectURIs) > 0)
	}
	for _, g := range m.GrantTypes {
		if !slices.Contains(served, g) {
			return ErrInvalidMetadata.WithDescription("grant_types: " + strconv.Quote(truncate(g, 64)) +
				" is not a grant type this server serves (it serves " + strings.Join(served, ", ") + ")")
		}
	}
	if m.TokenEndpointAuthMethod == provider.AuthNone && slices.Contains(m.GrantTypes, provider.GrantClientCredentials) {
		return ErrInvalidMetadata.WithDescription("grant_types: a public client cannot use client_credentials")
	}
	if len(m.ResponseTypes) == 0 && slices.Contains(m.GrantTypes, provider.GrantAuthorizationCode) {
		m.ResponseTypes = []string{"code"}
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return ErrInvalidMetadata.WithDescription(`response_types: only "code" is supported`)
		}
	}
	if m.Scope == "" {
		m.Scope = DefaultScope
	}
	for _, s := range strings.Fields(m.Scope) {
		if !scopePattern.MatchString(s) {
			return ErrInvalidMetadata.WithDescription("scope: invalid scope token")
		}
	}
	m.Scope = strings.Join(strings.Fields(m.Scope), " ")
	if m.AccessTokenFormat == "" {
		m.AccessTokenFormat = "jwt"
	}
	if m.AccessTokenFormat != "jwt" && m.AccessTokenFormat != "opaque" {
		return ErrInvalidMetadata.WithDescription(`access_token_format: must be "jwt" or "opaque"`)
	}
	if m.AccessTokenTTL < 0 || time.Duration(m.AccessTokenTTL)*time.Second > provider.MaxClientAccessTTL || m.RefreshTokenTTL < 0 {
		return ErrInvalidMetadata.WithDescription("access_token_ttl: 0 to 86400 seconds; refresh_token_ttl: 0 or more")
	}
	if g := m.RefreshReuseGrace; g != nil && (*g < 0 || time.Duration(*g)*time.Second > provider.MaxRefreshReuseGrace) {
		return ErrInvalidMetadata.WithDescription(fmt.Sprintf("refresh_reuse_grace: 0 to %d seconds, or null for the server's", int64(provider.MaxRefreshReuseGrace/time.Second)))
	}
	if len(m.ClientName) > 200 {
		return ErrInvalidMetadata.WithDescription("client_name: at most 200 characters")
	}
	if err := validateRedirects("redirect_uris", m.RedirectURIs, slices.Contains(m.GrantTypes, provider.GrantAuthorizationCode)); err != nil {
		return err
	}
	return validateRedirects("post_logout_redirect_uris", m.PostLogoutRedirectURIs, false)
}

// validateRedirects checks the redirect URIs of one metadata field; the
// error names the field, the URI and the rule it breaks.
func validateRedirects(field string, uris []string, required bool) error {
	if required && len(uris) == 0 {
		return ErrInvalidRedirectURI.WithDescription(field + ": required for the authorization_code grant")
	}
	for _, raw := range uris {
		if rule := redirectRule(raw); rule != "" {
			return ErrInvalidRedirectURI.WithDescription(fmt.Sprintf("%s: %s is refused: %s", field, strconv.Quote(truncate(raw, 200)), rule))
		}
	}
	return nil
}

// RedirectRule returns the rule a redirect URI breaks, or "" when it may be
// registered: the rules of every client, also those described by a Client
// ID Metadata Document (clients/metadatadoc).
func RedirectRule(raw string) string { return redirectRule(raw) }

// neverSchemes are schemes a browser would run or read locally instead of
// navigating to a client.
var neverSchemes = []string{"javascript", "data", "file", "vbscript"}

// redirectRule returns the rule a redirect URI breaks, or "" when it is
// acceptable (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1 and §4.1): an
// absolute URI without a fragment or userinfo whose scheme is https, http
// on a loopback host (RFC 8252 §7.3), or a private-use scheme in
// reverse-domain form for native apps (RFC 8252 §7.1); never a wildcard.
func redirectRule(raw string) string {
	if len(raw) > 2000 {
		return "longer than 2000 characters"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "not an absolute URI"
	}
	scheme := strings.ToLower(u.Scheme)
	if slices.Contains(neverSchemes, scheme) {
		return "the " + scheme + ": scheme is never allowed"
	}
	if strings.Contains(raw, "#") {
		return "a redirect URI must not have a fragment (RFC 6749 §3.1.2)"
	}
	if u.User != nil {
		return "a redirect URI must not have userinfo (user:password@)"
	}
	if strings.Contains(u.Host, "*") || strings.Contains(u.Host, "%2a") || strings.Contains(u.Host, "%2A") {
		return "wildcards are not allowed; register each redirect URI exactly"
	}
	switch scheme {
	case "https":
		if u.Host == "" || u.Hostname() == "" {
			return "an https URI needs a host"
		}
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return "http is only allowed on a loopback host (localhost, 127.0.0.1, [::1]; RFC 8252 §7.3); use https"
		}
	default:
		if !strings.Contains(scheme, ".") {
			return "the scheme must be https, http on a loopback host, or a private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252 §7.1)"
		}
	}
	return ""
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (m *Metadata) toRecord(c *storage.Client) {
	c.Name = m.ClientName
	c.RedirectURIs = m.RedirectURIs
	c.PostLogoutRedirectURIs = m.PostLogoutRedirectURIs
	c.GrantTypes = m.GrantTypes
	c.ResponseTypes = m.ResponseTypes
	c.Scope = m.Scope
	c.TokenEndpointAuthMethod = m.TokenEndpointAuthMethod
	c.AccessTokenFormat = m.AccessTokenFormat
	c.AccessTokenTTL = time.Duration(m.AccessTokenTTL) * time.Second
	c.RefreshTokenTTL = time.Duration(m.RefreshTokenTTL) * time.Second
	c.SkipConsent = m.SkipConsent
	c.RefreshReuseGrace = nil
	if m.RefreshReuseGrace != nil {
		g := time.Duration(*m.RefreshReuseGrace) * time.Second
		c.RefreshReuseGrace = &g
	}
}

func metadataOf(c storage.Client) Metadata {
	return Metadata{
		ClientID: c.ID, ClientIDIssuedAt: c.CreatedAt.Unix(), ClientName: c.Name,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), ResponseTypes: nonNil(c.ResponseTypes), Scope: c.Scope,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, AccessTokenFormat: c.AccessTokenFormat,
		AccessTokenTTL: int64(c.AccessTokenTTL / time.Second), RefreshTokenTTL: int64(c.RefreshTokenTTL / time.Second),
		RefreshReuseGrace: graceSeconds(c.RefreshReuseGrace), SkipConsent: c.SkipConsent, Registered: c.Registered,
		LastUsedAt: unixOrNil(c.LastUsedAt),
	}
}

func unixOrNil(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

func graceSeconds(g *time.Duration) *int64 {
	if g == nil {
		return nil
	}
	s := int64(*g / time.Second)
	return &s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateClient registers a client. Without a client_id one is generated; a
// confidential client gets a secret, returned only here. secret, when not
// empty, is used instead of a generated one (bootstrap, tests).
func (a *Admin) CreateClient(ctx context.Context, m Metadata, secret string) (Metadata, error) {
	if err := m.normalize(a.provider.GrantTypes()); err != nil {
		return Metadata{}, err
	}
	if m.ClientID == "" {
		m.ClientID = newClientID()
	}
	now := a.now()
	rec := storage.Client{ID: m.ClientID, CreatedAt: now, UpdatedAt: now}
	m.toRecord(&rec)
	if m.TokenEndpointAuthMethod != provider.AuthNone {
		if secret == "" {
			secret = provider.NewSecret(provider.PrefixClientSecret)
		}
		rec.SecretHash = a.provider.HashSecret(secret)
	}
	if err := a.store.CreateClient(ctx, rec); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return Metadata{}, ErrExists
		}
		return Metadata{}, fmt.Errorf("create client: %w", err)
	}
	a.record(ctx, audit.TypeClientCreated, rec.ID)
	out := metadataOf(rec)
	if rec.SecretHash != "" {
		out.ClientSecret = secret
		out.ClientSecretExpiresAt = new(int64)
	}
	return out, nil
}

// GetClient returns a client's metadata (never its secret).
func (a *Admin) GetClient(ctx context.Context, id string) (Metadata, error) {
	if !clientIDPattern.MatchString(id) {
		return Metadata{}, ErrNotFound
	}
	c, err := a.store.GetClient(ctx, id)
	if err != nil {
		return Metadata{}, clientError(err)
	}
	return metadataOf(c), nil
}

// ListClients lists every client.
func (a *Admin) ListClients(ctx context.Context) ([]Metadata, error) {
	list, err := a.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	out := make([]Metadata, 0, len(list))
	for _, c := range list {
		out = append(out, metadataOf(c))
	}
	return out, nil
}

// UpdateClient replaces a client's metadata (RFC 7592 §2.2 semantics); the
// ID and secret stay. Changing to or from a public client is refused: rotate
// the secret or make a new client.
func (a *Admin) UpdateClient(ctx context.Context, id string, m Metadata) (Metadata, error) {
	if !clientIDPattern.MatchString(id) {
		return Metadata{}, ErrNotFound
	}
	m.ClientID = ""
	if err := m.normalize(a.provider.GrantTypes()); err != nil {
		return Metadata{}, err
	}
	m.ClientID = id
	c, err := a.store.UpdateClient(ctx, id, func(c *storage.Client) error {
		if (c.TokenEndpointAuthMethod == provider.AuthNone) != (m.TokenEndpointAuthMethod == provider.AuthNone) {
			return ErrInvalidMetadata.WithDescription("token_endpoint_auth_method: cannot switch between public and confidential")
		}
		if c.Registered && (slices.Contains(strings.Fields(m.Scope), provider.ScopeAPI) || slices.Contains(m.GrantTypes, provider.GrantPassword)) {
			return ErrInvalidMetadata.WithDescription("a registered (third-party) client can get neither the " + provider.ScopeAPI + " scope nor the password grant")
		}
		m.toRecord(c)
		c.UpdatedAt = a.now()
		return nil
	})
	if err != nil {
		return Metadata{}, clientError(err)
	}
	a.provider.ForgetClient(id)
	a.record(ctx, audit.TypeClientUpdated, id)
	return metadataOf(c), nil
}

// DeleteClient removes a client.
func (a *Admin) DeleteClient(ctx context.Context, id string) error {
	if !clientIDPattern.MatchString(id) {
		return ErrNotFound
	}
	if err := a.store.DeleteClient(ctx, id); err != nil {
		return clientError(err)
	}
	a.provider.ForgetClient(id)
	a.record(ctx, audit.TypeClientDeleted, id)
	return nil
}

// RotateClientSecret gives a confidential client a new secret; the old one
// stops working at once (on other instances within the client cache TTL).
func (a *Admin) RotateClientSecret(ctx context.Context, id string) (Metadata, error) {
	if !clientIDPattern.MatchString(id) {
		return Metadata{}, ErrNotFound
	}
	secret := provider.NewSecret(provider.PrefixClientSecret)
	c, err := a.store.UpdateClient(ctx, id, func(c *storage.Client) error {
		if c.TokenEndpointAuthMethod == provider.AuthNone {
			return ErrInvalidMetadata.WithDescription("a public client has no secret")
		}
		c.SecretHash = a.provider.HashSecret(secret)
		c.UpdatedAt = a.now()
		return nil
	})
	if err != nil {
		return Metadata{}, clientError(err)
	}
	a.provider.ForgetClient(id)
	a.record(ctx, audit.TypeClientSecretRotated, id)
	out := metadataOf(c)
	out.ClientSecret = secret
	out.ClientSecretExpiresAt = new(int64)
	return out, nil
}

func clientError(err error) error {
	var e *provider.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, storage.ErrNotFound):
		return ErrNotFound
	}
	return fmt.Errorf("client: %w", err)
}
