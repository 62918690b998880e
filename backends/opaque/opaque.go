// Package opaque is the opaque-token backend: it vouches for bearer tokens
// another OAuth server issued, by asking that server's RFC 7662
// introspection endpoint, so the tokens of a server being replaced keep
// working at latchkey's introspection endpoint, in token exchange and on
// the user API. (latchkey's own opaque tokens — lk_pat_ personal access
// tokens, lk_at_ access tokens — need no backend: the provider answers for
// them itself.)
//
// Answers are cached: an active one until the token's exp or cache_ttl,
// whichever comes first; an inactive one for negative_cache_ttl. Concurrent
// lookups of one token make one upstream call (singleflight). Tokens are
// cached under a SHA-256 of the token, never the token.
package opaque

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/latchkey-auth/latchkey/backends"
)

// Config is an opaque backend's `config:` block.
type Config struct {
	// IntrospectionURL is the upstream RFC 7662 endpoint: https, or http
	// on a loopback host.
	IntrospectionURL string `yaml:"introspection_url"`
	// ClientID and ClientSecret (or ClientSecretFile) authenticate latchkey
	// to it with HTTP Basic (client_secret_basic).
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// Timeout bounds one upstream call (default 2s).
	Timeout time.Duration      `yaml:"timeout"`
	TLS     backends.TLSConfig `yaml:"tls"`
	// CacheTTL bounds how long an active answer is trusted (default 30s;
	// never past the token's exp). NegativeCacheTTL is how long an
	// inactive answer is (default 10s). -1 turns either off.
	CacheTTL         time.Duration `yaml:"cache_ttl"`
	NegativeCacheTTL time.Duration `yaml:"negative_cache_ttl"`
	// CacheSize bounds the number of cached answers (default 10000).
	CacheSize int `yaml:"cache_size"`
	// OnError is what a token gets when the upstream cannot answer:
	// "unavailable" (default: the request fails with 503) or "inactive"
	// (the token is refused).
	OnError string `yaml:"on_error"`
	// LinkBy maps the token's owner to a local account: "external"
	// (default: sub is "{id}:{upstream sub}"), "username" or "email"
	// (only when the upstream says email_verified). Provision creates the
	// account on first sight.
	LinkBy    string `yaml:"link_by"`
	Provision bool   `yaml:"provision"`
}

// Validate checks the block without opening anything.
func (c *Config) Validate() error {
	var errs []error
	if err := backends.CheckServiceURL("introspection_url", c.IntrospectionURL); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client_id: is required"))
	}
	if (c.ClientSecret == "") == (c.ClientSecretFile == "") {
		errs = append(errs, errors.New("client_secret: set it or client_secret_file (one of them)"))
	}
	if c.Timeout < 0 || c.Timeout > time.Minute {
		errs = append(errs, errors.New("timeout: must be between 0 (default 2s) and 1m"))
	}
	if c.CacheTTL < -1 || c.NegativeCacheTTL < -1 || c.CacheSize < 0 {
		errs = append(errs, errors.New("cache_ttl, negative_cache_ttl, cache_size: must not be negative (-1 turns a cache off)"))
	}
	switch c.OnError {
	case "", "unavailable", "inactive":
	default:
		errs = append(errs, fmt.Errorf("on_error: must be \"unavailable\" or \"inactive\", got %q", c.OnError))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := backends.ValidateLink(c.LinkBy, c.Provision); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Open opens the backend.
func (c *Config) Open(id string, deps backends.Deps) (any, error) {
	secret, err := backends.SecretFrom(c.ClientSecret, c.ClientSecretFile, "client_secret_file")
	if err != nil {
		return nil, fmt.Errorf("opaque: %w", err)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	client, err := backends.NewHTTPClient(c.TLS, timeout, false)
	if err != nil {
		return nil, fmt.Errorf("opaque: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{
		id: id, url: c.IntrospectionURL, clientID: c.ClientID, secret: secret, client: client,
		ttl: orDefault(c.CacheTTL, 30*time.Second), negTTL: orDefault(c.NegativeCacheTTL, 10*time.Second),
		onErrorInactive: c.OnError == "inactive", log: log, now: time.Now,
		link:  backends.Linker{Users: deps.Users, By: c.LinkBy, Provision: c.Provision},
		cache: map[[32]byte]entry{}, maxEntries: c.CacheSize,
	}
	if b.maxEntries == 0 {
		b.maxEntries = 10000
	}
	return b, nil
}

func orDefault(d, def time.Duration) time.Duration {
	switch d {
	case 0:
		return def
	case -1:
		return 0
	}
	return d
}

// Backend is an opened opaque backend. Its exported methods are its
// capabilities; Calls counts upstream calls (tests, metrics).
type Backend struct {
	id              string
	url             string
	clientID        string
	secret          string
	client          *http.Client
	ttl, negTTL     time.Duration
	onErrorInactive bool
	log             *slog.Logger
	now             func() time.Time
	link            backends.Linker

	group      singleflight.Group
	mu         sync.Mutex
	cache      map[[32]byte]entry
	maxEntries int
	calls      int64
}

var _ backends.TokenIntrospector = (*Backend)(nil)

type entry struct {
	info    backends.TokenInfo
	active  bool
	expires time.Time
}

// Calls returns how many upstream calls the backend has made.
func (b *Backend) Calls() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// IntrospectToken implements backends.TokenIntrospector.
func (b *Backend) IntrospectToken(ctx context.Context, token string) (backends.TokenInfo, bool, error) {
	if token == "" || len(token) > 4096 {
		return backends.TokenInfo{}, false, nil
	}
	key := sha256.Sum256([]byte(token))
	now := b.now()
	if e, ok := b.cached(key, now); ok {
		return e.info, e.active, nil
	}
	// One upstream call per token at a time; the call is not tied to the
	// first caller's context, so one client hanging up does not fail the
	// others waiting on it (the HTTP client's timeout bounds it).
	ch := b.group.DoChan(string(key[:]), func() (any, error) {
		e, err := b.fetch(context.WithoutCancel(ctx), token)
		if err != nil {
			return nil, err
		}
		b.store(key, e)
		return e, nil
	})
	select {
	case <-ctx.Done():
		return backends.TokenInfo{}, false, fmt.Errorf("opaque %s: %w", b.id, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			if b.onErrorInactive {
				b.log.WarnContext(ctx, "upstream introspection failed; token refused (on_error: inactive)", "err", r.Err)
				return backends.TokenInfo{}, false, nil
			}
			return backends.TokenInfo{}, false, r.Err
		}
		e := r.Val.(entry)
		return e.info, e.active, nil
	}
}

func (b *Backend) cached(key [32]byte, now time.Time) (entry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.cache[key]
	if !ok {
		return entry{}, false
	}
	if !now.Before(e.expires) {
		delete(b.cache, key)
		return entry{}, false
	}
	return e, true
}

func (b *Backend) store(key [32]byte, e entry) {
	if !e.expires.After(b.now()) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.cache) >= b.maxEntries {
		// Drop expired entries; if still full, drop an arbitrary tenth.
		now, n := b.now(), 0
		for k, old := range b.cache {
			if !now.Before(old.expires) || n < b.maxEntries/10+1 {
				delete(b.cache, k)
				n++
			}
		}
	}
	b.cache[key] = e
}

// answer is an RFC 7662 §2.2 response.
type answer struct {
	Active        bool            `json:"active"`
	Scope         string          `json:"scope"`
	ClientID      string          `json:"client_id"`
	Username      string          `json:"username"`
	Subject       string          `json:"sub"`
	Exp           json.Number     `json:"exp"`
	Iat           json.Number     `json:"iat"`
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	Groups        []string        `json:"groups"`
}

// fetch asks the upstream server and returns the entry to cache.
func (b *Backend) fetch(ctx context.Context, token string) (entry, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, strings.NewReader(form.Encode()))
	if err != nil {
		return entry{}, fmt.Errorf("opaque %s: build request: %w", b.id, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: client_secret_basic form-encodes both parts.
	req.SetBasicAuth(url.QueryEscape(b.clientID), url.QueryEscape(b.secret))
	resp, err := b.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return entry{}, fmt.Errorf("opaque %s: introspection call: %w", b.id, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return entry{}, fmt.Errorf("opaque %s: read introspection answer: %w", b.id, err)
	}
	if resp.StatusCode != http.StatusOK {
		return entry{}, fmt.Errorf("opaque %s: introspection answered HTTP %d", b.id, resp.StatusCode)
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return entry{}, fmt.Errorf("opaque %s: malformed introspection answer", b.id)
	}
	now := b.now()
	if !a.Active {
		return entry{expires: now.Add(b.negTTL)}, nil
	}
	info := backends.TokenInfo{Scope: a.Scope, ClientID: a.ClientID}
	if exp, err := a.Exp.Int64(); err == nil && exp > 0 {
		info.ExpiresAt = time.Unix(exp, 0)
		if !info.ExpiresAt.After(now) {
			return entry{expires: now.Add(b.negTTL)}, nil
		}
	}
	if iat, err := a.Iat.Int64(); err == nil && iat > 0 {
		info.IssuedAt = time.Unix(iat, 0)
	}
	verified := string(a.EmailVerified) == "true" || string(a.EmailVerified) == `"true"`
	id := backends.Identity{
		Backend: b.id, Subject: a.Subject, Username: a.Username, Email: a.Email,
		EmailVerified: verified, Groups: a.Groups,
	}
	if id.Subject == "" {
		// RFC 7662 makes sub optional; a token without an owner is a
		// client's, and latchkey has no subject to give it.
		b.log.WarnContext(ctx, "upstream token is active but has no sub; refused")
		return entry{expires: now.Add(b.negTTL)}, nil
	}
	if err := backends.CheckIdentity(id); err != nil {
		return entry{}, fmt.Errorf("opaque %s: %w", b.id, err)
	}
	linked, err := b.link.Link(ctx, id)
	if errors.Is(err, backends.ErrNotLinked) {
		return entry{expires: now.Add(b.negTTL)}, nil
	}
	if err != nil {
		return entry{}, fmt.Errorf("opaque %s: %w", b.id, err)
	}
	info.Identity = linked
	expires := now.Add(b.ttl)
	if !info.ExpiresAt.IsZero() && info.ExpiresAt.Before(expires) {
		expires = info.ExpiresAt
	}
	return entry{info: info, active: true, expires: expires}, nil
}
