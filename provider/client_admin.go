package provider

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
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// ClientMetadata is a client as the admin API and the CLI show it, with
// RFC 7591 §2 names plus latchkey's token settings.
type ClientMetadata struct {
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
}

// Errors of client registration (RFC 7591 §3.2.2).
var (
	ErrInvalidClientMetadata = &Error{Code: "invalid_client_metadata", Status: http.StatusBadRequest}
	ErrInvalidRedirectURI    = &Error{Code: "invalid_redirect_uri", Status: http.StatusBadRequest}
	ErrClientNotFound        = &Error{Code: "not_found", Status: http.StatusNotFound, Description: "no such client"}
	ErrClientExists          = &Error{Code: "invalid_client_metadata", Status: http.StatusConflict, Description: "a client with this client_id exists"}
)

// DefaultClientScope is what a client may ask for when it registers none.
const DefaultClientScope = "openid profile email offline_access groups"

// ScopeAPI lets an access token act on latchkey's own user and admin APIs
// (/auth/, /admin/) for its user. Tokens of the first-party client need no
// scope; any other client must be registered for this one, so an app a
// user signed in to cannot change their password or, for staff, use the
// admin API with the token it holds.
const ScopeAPI = "latchkey"

var (
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$`)
	scopePattern    = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`) // RFC 6749 §3.3 scope-token
	knownGrants     = []string{GrantAuthorizationCode, GrantPassword, GrantRefreshToken, GrantClientCredentials, GrantTokenExchange}
)

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
		panic("provider: crypto/rand failed: " + err.Error())
	}
	return "c" + hex.EncodeToString(b[:])
}

// normalize fills defaults and validates the metadata.
func (m *ClientMetadata) normalize() error {
	if m.ClientID != "" && !validClientID(m.ClientID) {
		return ErrInvalidClientMetadata.WithDescription("client_id: use 1 to 128 letters, digits, '.', '_', '~' or '-', starting with a letter or digit and not all digits (those are user IDs)")
	}
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = AuthSecretBasic
	}
	if !contains([]string{AuthSecretBasic, AuthSecretPost, AuthNone}, m.TokenEndpointAuthMethod) {
		return ErrInvalidClientMetadata.WithDescription("token_endpoint_auth_method: must be client_secret_basic, client_secret_post or none")
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	for _, g := range m.GrantTypes {
		if !contains(knownGrants, g) {
			return ErrInvalidClientMetadata.WithDescription("grant_types: unknown grant type " + quoteScope(g))
		}
	}
	if m.TokenEndpointAuthMethod == AuthNone && contains(m.GrantTypes, GrantClientCredentials) {
		return ErrInvalidClientMetadata.WithDescription("grant_types: a public client cannot use client_credentials")
	}
	if len(m.ResponseTypes) == 0 && contains(m.GrantTypes, GrantAuthorizationCode) {
		m.ResponseTypes = []string{"code"}
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return ErrInvalidClientMetadata.WithDescription(`response_types: only "code" is supported`)
		}
	}
	if m.Scope == "" {
		m.Scope = DefaultClientScope
	}
	for _, s := range strings.Fields(m.Scope) {
		if !scopePattern.MatchString(s) {
			return ErrInvalidClientMetadata.WithDescription("scope: invalid scope token")
		}
	}
	m.Scope = strings.Join(strings.Fields(m.Scope), " ")
	if m.AccessTokenFormat == "" {
		m.AccessTokenFormat = "jwt"
	}
	if m.AccessTokenFormat != "jwt" && m.AccessTokenFormat != "opaque" {
		return ErrInvalidClientMetadata.WithDescription(`access_token_format: must be "jwt" or "opaque"`)
	}
	if m.AccessTokenTTL < 0 || time.Duration(m.AccessTokenTTL)*time.Second > MaxClientAccessTTL || m.RefreshTokenTTL < 0 {
		return ErrInvalidClientMetadata.WithDescription("access_token_ttl: 0 to 86400 seconds; refresh_token_ttl: 0 or more")
	}
	if len(m.ClientName) > 200 {
		return ErrInvalidClientMetadata.WithDescription("client_name: at most 200 characters")
	}
	if err := validateRedirects(m.RedirectURIs, contains(m.GrantTypes, GrantAuthorizationCode)); err != nil {
		return err
	}
	return validateRedirects(m.PostLogoutRedirectURIs, false)
}

// validateRedirects checks redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7,
// RFC 9700 §2.1): absolute, no fragment, and plain http only for loopback.
func validateRedirects(uris []string, required bool) error {
	if required && len(uris) == 0 {
		return ErrInvalidRedirectURI.WithDescription("redirect_uris: required for the authorization_code grant")
	}
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Fragment != "" || len(raw) > 2000 {
			return ErrInvalidRedirectURI.WithDescription("redirect_uris: must be absolute URIs without a fragment")
		}
		if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
			return ErrInvalidRedirectURI.WithDescription("redirect_uris: http is only allowed for loopback addresses; use https")
		}
		if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
			return ErrInvalidRedirectURI.WithDescription("redirect_uris: missing host")
		}
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (m *ClientMetadata) toRecord(c *storage.Client) {
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
}

func metadataOf(c storage.Client) ClientMetadata {
	return ClientMetadata{
		ClientID: c.ID, ClientIDIssuedAt: c.CreatedAt.Unix(), ClientName: c.Name,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), ResponseTypes: nonNil(c.ResponseTypes), Scope: c.Scope,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, AccessTokenFormat: c.AccessTokenFormat,
		AccessTokenTTL: int64(c.AccessTokenTTL / time.Second), RefreshTokenTTL: int64(c.RefreshTokenTTL / time.Second),
	}
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
func (p *Provider) CreateClient(ctx context.Context, m ClientMetadata, secret string) (ClientMetadata, error) {
	if err := m.normalize(); err != nil {
		return ClientMetadata{}, err
	}
	if m.ClientID == "" {
		m.ClientID = newClientID()
	}
	now := p.now()
	rec := storage.Client{ID: m.ClientID, CreatedAt: now, UpdatedAt: now}
	m.toRecord(&rec)
	if m.TokenEndpointAuthMethod != AuthNone {
		if secret == "" {
			secret = NewSecret(PrefixClientSecret)
		}
		rec.SecretHash = p.secrets.Hash(secret)
	}
	if err := p.store.CreateClient(ctx, rec); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return ClientMetadata{}, ErrClientExists
		}
		return ClientMetadata{}, fmt.Errorf("create client: %w", storeError(err))
	}
	out := metadataOf(rec)
	if rec.SecretHash != "" {
		out.ClientSecret = secret
		out.ClientSecretExpiresAt = new(int64)
	}
	return out, nil
}

// GetClient returns a client's metadata (never its secret).
func (p *Provider) GetClient(ctx context.Context, id string) (ClientMetadata, error) {
	if !clientIDPattern.MatchString(id) {
		return ClientMetadata{}, ErrClientNotFound
	}
	c, err := p.store.GetClient(ctx, id)
	if err != nil {
		return ClientMetadata{}, clientError(err)
	}
	return metadataOf(c), nil
}

// ListClients lists every client.
func (p *Provider) ListClients(ctx context.Context) ([]ClientMetadata, error) {
	list, err := p.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", storeError(err))
	}
	out := make([]ClientMetadata, 0, len(list))
	for _, c := range list {
		out = append(out, metadataOf(c))
	}
	return out, nil
}

// UpdateClient replaces a client's metadata (RFC 7592 §2.2 semantics); the
// ID and secret stay. Changing to or from a public client is refused: rotate
// the secret or make a new client.
func (p *Provider) UpdateClient(ctx context.Context, id string, m ClientMetadata) (ClientMetadata, error) {
	if !clientIDPattern.MatchString(id) {
		return ClientMetadata{}, ErrClientNotFound
	}
	m.ClientID = ""
	if err := m.normalize(); err != nil {
		return ClientMetadata{}, err
	}
	m.ClientID = id
	c, err := p.store.UpdateClient(ctx, id, func(c *storage.Client) error {
		if (c.TokenEndpointAuthMethod == AuthNone) != (m.TokenEndpointAuthMethod == AuthNone) {
			return ErrInvalidClientMetadata.WithDescription("token_endpoint_auth_method: cannot switch between public and confidential")
		}
		m.toRecord(c)
		c.UpdatedAt = p.now()
		return nil
	})
	if err != nil {
		return ClientMetadata{}, clientError(err)
	}
	p.clients.evict(id)
	return metadataOf(c), nil
}

// DeleteClient removes a client.
func (p *Provider) DeleteClient(ctx context.Context, id string) error {
	if !clientIDPattern.MatchString(id) {
		return ErrClientNotFound
	}
	if err := p.store.DeleteClient(ctx, id); err != nil {
		return clientError(err)
	}
	p.clients.evict(id)
	return nil
}

// RotateClientSecret gives a confidential client a new secret; the old one
// stops working at once (on other instances within the client cache TTL).
func (p *Provider) RotateClientSecret(ctx context.Context, id string) (ClientMetadata, error) {
	if !clientIDPattern.MatchString(id) {
		return ClientMetadata{}, ErrClientNotFound
	}
	secret := NewSecret(PrefixClientSecret)
	c, err := p.store.UpdateClient(ctx, id, func(c *storage.Client) error {
		if c.TokenEndpointAuthMethod == AuthNone {
			return ErrInvalidClientMetadata.WithDescription("a public client has no secret")
		}
		c.SecretHash = p.secrets.Hash(secret)
		c.UpdatedAt = p.now()
		return nil
	})
	if err != nil {
		return ClientMetadata{}, clientError(err)
	}
	p.clients.evict(id)
	out := metadataOf(c)
	out.ClientSecret = secret
	out.ClientSecretExpiresAt = new(int64)
	return out, nil
}

func clientError(err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, storage.ErrNotFound):
		return ErrClientNotFound
	}
	return fmt.Errorf("client: %w", storeError(err))
}
