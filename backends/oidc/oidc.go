// Package oidc is the social-login backend: users sign in at any OpenID
// Connect issuer (Google, GitLab, Microsoft Entra ID, Keycloak, Okta,
// Auth0, Dex, another latchkey) with the authorization code flow, PKCE
// S256, state and nonce, and the ID token is verified with go-oidc
// (issuer, audience, expiry, nonce, the algorithms of the issuer's
// discovery document). Native apps that already hold such an ID token
// trade it for latchkey tokens through token exchange (VerifyIDToken).
//
// The upstream's discovery is fetched lazily and retried: an issuer that is
// down when latchkey starts does not stop it from starting, and the first
// sign-in after it comes back works.
//
// The backend only authenticates: it turns an upstream login into a
// backends.Identity (with claims mapped by config and group rules
// applied). Linking that identity to a local account, or provisioning one,
// is package identities' job, with the backend's Policy.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/backends"
)

// Config is an `oidc` backend's `config:` block (CONTRACT.md §7).
type Config struct {
	Issuer       string `yaml:"issuer"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// ClientSecretFile holds the secret instead of the YAML (a mounted
	// secret); surrounding white space is ignored.
	ClientSecretFile string `yaml:"client_secret_file"`
	// DisplayName names the button on the login page ("Sign in with …");
	// IconURL is an optional https image shown on it.
	DisplayName string `yaml:"display_name"`
	IconURL     string `yaml:"icon_url"`
	// Scopes asked of the upstream; openid is always asked.
	Scopes []string `yaml:"scopes"`
	// Claims maps identity fields to upstream claims, by dotted path for
	// nested claims ("realm_access.roles"): username, email,
	// email_verified, name, groups, and profile.<attribute> (a profile
	// attribute of an account provisioned on first sign-in). Unset fields
	// use the standard claims.
	Claims map[string]string `yaml:"claims"`
	// UserInfo also reads the userinfo endpoint after the code exchange
	// (claims the ID token leaves out); the ID token's win.
	UserInfo bool `yaml:"userinfo"`
	// Provision creates an account on the first sign-in of an identity
	// that is not linked; LinkByVerifiedEmail links one to the account
	// with the same e-mail when the upstream says email_verified.
	Provision           bool `yaml:"provision"`
	LinkByVerifiedEmail bool `yaml:"link_by_verified_email"`
	// GroupRules turn upstream claim values into local groups at each
	// sign-in.
	GroupRules []GroupRule `yaml:"group_rules"`
	// AcceptedAudiences are the audiences, besides ClientID, of ID tokens
	// accepted by token exchange (a native app's own client ID at the
	// upstream).
	AcceptedAudiences []string `yaml:"accepted_audiences"`
	// Timeout bounds each call to the upstream (discovery, token, JWKS,
	// userinfo); default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// TLS of the calls to the upstream (a private CA, mutual TLS), as the
	// other backends have it.
	TLS backends.TLSConfig `yaml:"tls"`
}

// GroupRule makes members of a local group the users whose upstream claim
// (default: the groups claim) holds a value.
type GroupRule struct {
	Upstream string `yaml:"upstream"`
	Claim    string `yaml:"claim"`
	Group    string `yaml:"group"`
}

// Identity fields a claim can be mapped to.
var claimFields = []string{"username", "email", "email_verified", "name", "groups"}

var defaultClaims = map[string]string{
	"username": "preferred_username", "email": "email", "email_verified": "email_verified",
	"name": "name", "groups": "groups",
}

// Validate checks the block without opening anything.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer: must be an https URL (http only for a test issuer), got %q", c.Issuer)
	}
	if c.ClientID == "" {
		return errors.New("client_id: required")
	}
	if c.ClientSecret != "" && c.ClientSecretFile != "" {
		return errors.New("client_secret and client_secret_file: set one, not both")
	}
	for k := range c.Claims {
		if attr, ok := strings.CutPrefix(k, "profile."); ok && validAttr(attr) {
			continue
		}
		if !slices.Contains(claimFields, k) {
			return fmt.Errorf("claims: unknown field %q (the fields are %s, and profile.<attribute>)", k, strings.Join(claimFields, ", "))
		}
	}
	for i, r := range c.GroupRules {
		if r.Upstream == "" || r.Group == "" {
			return fmt.Errorf("group_rules[%d]: upstream and group are required", i)
		}
	}
	if c.Timeout < 0 {
		return errors.New("timeout: must not be negative")
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	if c.IconURL != "" {
		if iu, err := url.Parse(c.IconURL); err != nil || iu.Scheme != "https" || iu.Host == "" {
			return fmt.Errorf("icon_url: must be an https URL, got %q", c.IconURL)
		}
	}
	return nil
}

// Open opens the backend; the upstream is not contacted yet.
func (c *Config) Open(id string, deps backends.Deps) (any, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	secret, err := backends.SecretFrom(c.ClientSecret, c.ClientSecretFile, "client_secret_file")
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	claims := map[string]string{}
	for k, v := range defaultClaims {
		claims[k] = v
	}
	for k, v := range c.Claims {
		claims[k] = v
	}
	scopes := []string{oidc.ScopeOpenID}
	for _, s := range c.Scopes {
		if s != oidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	name := c.DisplayName
	if name == "" {
		name = id
	}
	// The backends' client: the tls block, the timeout on the whole call,
	// no redirects followed, the environment's proxy (upstreams are
	// usually on the internet).
	client, err := backends.NewHTTPClient(c.TLS, timeout, true)
	if err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backend{
		id: id, cfg: *c, secret: secret, claims: claims, scopes: scopes, name: name,
		client:  client,
		timeout: timeout, log: log,
	}, nil
}

// Backend is an opened `oidc` backend.
type Backend struct {
	id      string
	cfg     Config
	secret  string
	claims  map[string]string
	scopes  []string
	name    string
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	provider *oidc.Provider
}

// ErrUpstream is an upstream that cannot be reached or answers nonsense:
// the sign-in cannot go on now (an error page, 503), not a refusal.
var ErrUpstream = fmt.Errorf("oidc: the upstream identity provider is unavailable: %w", backends.ErrUnavailable)

// ErrRefused is an upstream answer that proves nothing: a bad code, an ID
// token that does not verify, a wrong nonce, a missing subject.
var ErrRefused = errors.New("oidc: the upstream sign-in was not valid")

// ID is the backend instance's ID.
func (b *Backend) ID() string { return b.id }

// DisplayName is the login page's name of the backend.
func (b *Backend) DisplayName() string { return b.name }

// IconURL is the optional image of the login page's button.
func (b *Backend) IconURL() string { return b.cfg.IconURL }

// Issuer is the upstream issuer URL.
func (b *Backend) Issuer() string { return b.cfg.Issuer }

// Policy is how identities of this backend become accounts.
func (b *Backend) Policy() backends.LinkPolicy {
	var managed []string
	for _, r := range b.cfg.GroupRules {
		if !slices.Contains(managed, r.Group) {
			managed = append(managed, r.Group)
		}
	}
	return backends.LinkPolicy{Provision: b.cfg.Provision, LinkByVerifiedEmail: b.cfg.LinkByVerifiedEmail, ManagedGroups: managed}
}

// discovered returns the upstream's provider, fetching its discovery
// document on first use and after a failure.
func (b *Backend) discovered(ctx context.Context) (*oidc.Provider, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.provider != nil {
		return b.provider, nil
	}
	ctx, cancel := context.WithTimeout(b.clientContext(ctx), b.timeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, b.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery of %s: %w", ErrUpstream, b.cfg.Issuer, err)
	}
	b.provider = p
	return p, nil
}

// clientContext makes go-oidc and x/oauth2 use the backend's HTTP client
// (its timeout and TLS settings).
func (b *Backend) clientContext(ctx context.Context) context.Context {
	return context.WithValue(oidc.ClientContext(ctx, b.client), oauth2.HTTPClient, b.client)
}

func (b *Backend) oauth2Config(p *oidc.Provider, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: b.cfg.ClientID, ClientSecret: b.secret, Endpoint: p.Endpoint(),
		RedirectURL: redirectURI, Scopes: b.scopes,
	}
}

// AuthCodeURL is where the browser goes to sign in upstream: the code
// flow with state, nonce and the PKCE S256 challenge of verifier.
func (b *Backend) AuthCodeURL(ctx context.Context, redirectURI, state, nonce, verifier string) (string, error) {
	p, err := b.discovered(ctx)
	if err != nil {
		return "", err
	}
	return b.oauth2Config(p, redirectURI).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange redeems the upstream's code, verifies its ID token (with the
// nonce of the sign-in) and returns the identity.
func (b *Backend) Exchange(ctx context.Context, redirectURI, code, nonce, verifier string) (backends.Identity, error) {
	p, err := b.discovered(ctx)
	if err != nil {
		return backends.Identity{}, err
	}
	ctx, cancel := context.WithTimeout(b.clientContext(ctx), b.timeout)
	defer cancel()
	conf := b.oauth2Config(p, redirectURI)
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return backends.Identity{}, fmt.Errorf("%w: code exchange refused: %s", ErrRefused, re.ErrorCode)
		}
		return backends.Identity{}, fmt.Errorf("%w: code exchange: %w", ErrUpstream, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return backends.Identity{}, fmt.Errorf("%w: the token response has no id_token", ErrRefused)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: b.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return backends.Identity{}, verifyErr(err)
	}
	if nonce == "" || idt.Nonce != nonce {
		return backends.Identity{}, fmt.Errorf("%w: the ID token's nonce does not match", ErrRefused)
	}
	claims := map[string]any{}
	if b.cfg.UserInfo {
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return backends.Identity{}, fmt.Errorf("%w: userinfo: %w", ErrUpstream, err)
		}
		if ui.Subject != idt.Subject {
			return backends.Identity{}, fmt.Errorf("%w: userinfo is about another subject", ErrRefused)
		}
		if err := ui.Claims(&claims); err != nil {
			return backends.Identity{}, fmt.Errorf("%w: userinfo: %w", ErrRefused, err)
		}
	}
	if err := idt.Claims(&claims); err != nil {
		return backends.Identity{}, fmt.Errorf("%w: id token claims: %w", ErrRefused, err)
	}
	return b.identity(idt.Subject, claims)
}

// VerifyIDToken verifies an ID token a native app got from the upstream
// (token exchange): signed by the upstream, not expired, for this
// backend's client or one of its accepted audiences.
func (b *Backend) VerifyIDToken(ctx context.Context, raw string) (backends.Identity, error) {
	p, err := b.discovered(ctx)
	if err != nil {
		return backends.Identity{}, err
	}
	ctx, cancel := context.WithTimeout(b.clientContext(ctx), b.timeout)
	defer cancel()
	idt, err := p.Verifier(&oidc.Config{SkipClientIDCheck: true}).Verify(ctx, raw)
	if err != nil {
		return backends.Identity{}, verifyErr(err)
	}
	accepted := append([]string{b.cfg.ClientID}, b.cfg.AcceptedAudiences...)
	ok := false
	for _, a := range idt.Audience {
		if slices.Contains(accepted, a) {
			ok = true
			break
		}
	}
	if !ok {
		return backends.Identity{}, fmt.Errorf("%w: the ID token is for another audience", ErrRefused)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return backends.Identity{}, fmt.Errorf("%w: id token claims: %w", ErrRefused, err)
	}
	return b.identity(idt.Subject, claims)
}

// verifyErr sorts go-oidc's verification errors: a key set that cannot be
// fetched is the upstream's fault, anything else the token's.
func verifyErr(err error) error {
	if strings.Contains(err.Error(), "fetching keys") {
		return fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	return fmt.Errorf("%w: %w", ErrRefused, err)
}

// identity maps upstream claims to an identity and applies the group
// rules: Groups are the local groups the rules give.
func (b *Backend) identity(sub string, claims map[string]any) (backends.Identity, error) {
	if sub == "" || len(sub) > 255 {
		return backends.Identity{}, fmt.Errorf("%w: no usable subject", ErrRefused)
	}
	id := backends.Identity{
		Backend: b.id, Subject: sub, Claims: claims,
		Username: str(lookup(claims, b.claims["username"])),
		Email:    str(lookup(claims, b.claims["email"])),
		Name:     str(lookup(claims, b.claims["name"])),
	}
	for k, path := range b.claims {
		attr, ok := strings.CutPrefix(k, "profile.")
		if !ok {
			continue
		}
		if v := lookup(claims, path); v != nil {
			if id.Profile == nil {
				id.Profile = map[string]any{}
			}
			id.Profile[attr] = v
		}
	}
	switch v := lookup(claims, b.claims["email_verified"]).(type) {
	case bool:
		id.EmailVerified = v
	case string:
		id.EmailVerified = strings.EqualFold(v, "true")
	}
	for _, r := range b.cfg.GroupRules {
		path := r.Claim
		if path == "" {
			path = b.claims["groups"]
		}
		if slices.Contains(strs(lookup(claims, path)), r.Upstream) && !slices.Contains(id.Groups, r.Group) {
			id.Groups = append(id.Groups, r.Group)
		}
	}
	return id, nil
}

// lookup finds a claim by dotted path ("realm_access.roles").
func lookup(claims map[string]any, path string) any {
	if path == "" {
		return nil
	}
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// strs reads a claim that is a list of strings or one string.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}

// validAttr reports whether a profile attribute name is sane: 1 to 64 of
// a-z, 0-9 and _.
func validAttr(a string) bool {
	if a == "" || len(a) > 64 {
		return false
	}
	for _, r := range a {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
