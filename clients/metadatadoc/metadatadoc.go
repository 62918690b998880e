// Package metadatadoc resolves OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document): a client_id that is an
// https URL names a JSON document, published by the client, that describes
// it. The Fetcher fetches such a document safely (https only, no private,
// loopback or link-local address unless allowed, checked on the address
// actually dialed; no redirects; size and time limits), validates it, and
// turns it into a public client that is never stored. Documents are cached
// by their Cache-Control max-age within a floor and a ceiling; refusals are
// cached briefly; concurrent requests for one URL share one fetch.
//
// The Fetcher implements provider.ClientMetadataDocuments.
package metadatadoc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// Options configures a Fetcher (config: oauth2.client_id_metadata_documents).
type Options struct {
	// AllowHosts, when not empty, are the only hosts documents come from;
	// DenyHosts never (they win). Entries are exact lower-case names or IP
	// addresses, or "*.example.com" for every subdomain of example.com.
	AllowHosts, DenyHosts []string
	// AllowPrivateAddresses allows loopback, private and link-local
	// addresses, and http on a loopback host (development and tests).
	AllowPrivateAddresses bool
	// Scopes are every scope such a client may ask for; a document's scope
	// narrows them. provider.ScopeAPI is always left out.
	Scopes []string
	// CacheMin and CacheMax bound how long a document is trusted (its
	// Cache-Control max-age, or CacheMin without one); ErrorCacheTTL is how
	// long a refusal is remembered.
	CacheMin, CacheMax, ErrorCacheTTL time.Duration
	// MaxBytes limits a document's size (default 5 KiB); Timeout one fetch
	// (default 5s); CacheSize the documents kept (default 1000).
	MaxBytes  int64
	Timeout   time.Duration
	CacheSize int
	// RootCAs are the certificate authorities trusted; nil: the system's.
	RootCAs *x509.CertPool
	Now     func() time.Time
	Logger  *slog.Logger
	// Observe, when set, counts each resolution by outcome: "cached" (a
	// cached document or refusal answered), "fetched" (a document fetched
	// and accepted), "refused" (a URL or a fetched document refused).
	Observe func(outcome string)
}

// Fetcher resolves metadata-document clients. It is safe for concurrent use.
type Fetcher struct {
	opts   Options
	scopes []string
	client *http.Client
	group  singleflight.Group
	// slots bounds the fetches in flight (different URLs), so a flood of
	// made-up client IDs cannot open connections without end.
	slots chan struct{}

	mu    sync.Mutex
	cache map[string]entry
}

// entry is a resolved document or a refusal, until expires.
type entry struct {
	client  *storage.Client
	err     *provider.MetadataDocumentError
	expires time.Time
}

// New returns a Fetcher.
func New(opts Options) *Fetcher {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 5 << 10
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 1000
	}
	if opts.CacheMax < opts.CacheMin {
		opts.CacheMax = opts.CacheMin
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fetcher{opts: opts, cache: map[string]entry{}, slots: make(chan struct{}, maxFetches)}
	for _, s := range opts.Scopes {
		if s != provider.ScopeAPI && !contains(f.scopes, s) {
			f.scopes = append(f.scopes, s)
		}
	}
	dialer := &net.Dialer{Timeout: opts.Timeout, Control: f.checkDialed}
	transport := &http.Transport{
		// Never through a proxy: the address check must see the real peer.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	f.client = &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		// Redirects are never followed (the draft, and SSRF: a redirect
		// could lead anywhere); a 3xx is refused below.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f
}

// maxFetches bounds the documents fetched at once.
const maxFetches = 32

// Handles reports whether clientID is a URL, which the Fetcher answers for
// (refusing it when it is not an acceptable document URL).
func (f *Fetcher) Handles(clientID string) bool {
	l := strings.ToLower(clientID)
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")
}

// Resolve returns the public client the document at clientID describes,
// from the cache or fetched. A refusal is a *provider.MetadataDocumentError.
func (f *Fetcher) Resolve(ctx context.Context, clientID string) (*storage.Client, error) {
	u, reason := f.checkURL(clientID)
	if reason != "" {
		f.observe("refused")
		return nil, &provider.MetadataDocumentError{Host: hostOf(clientID), Reason: reason}
	}
	if e, ok := f.cached(clientID); ok {
		f.observe("cached")
		return e.result()
	}
	// One fetch per URL at a time; it is not cancelled when the request
	// that started it is (the others wait for it), Timeout bounds it.
	v, _, _ := f.group.Do(clientID, func() (any, error) {
		if e, ok := f.cached(clientID); ok {
			return e, nil
		}
		e := f.fetch(context.WithoutCancel(ctx), u, clientID)
		f.keep(clientID, e)
		if e.err != nil {
			f.observe("refused")
		} else {
			f.observe("fetched")
		}
		return e, nil
	})
	return v.(entry).result()
}

func (f *Fetcher) observe(outcome string) {
	if f.opts.Observe != nil {
		f.opts.Observe(outcome)
	}
}

func (e entry) result() (*storage.Client, error) {
	if e.err != nil {
		return nil, e.err
	}
	c := *e.client
	c.RedirectURIs = append([]string(nil), c.RedirectURIs...)
	c.PostLogoutRedirectURIs = append([]string(nil), c.PostLogoutRedirectURIs...)
	c.GrantTypes = append([]string(nil), c.GrantTypes...)
	c.ResponseTypes = append([]string(nil), c.ResponseTypes...)
	return &c, nil
}

// checkURL checks a client identifier URL (the draft's §3): https (or http
// on a loopback host when private addresses are allowed), a host allowed by
// the host lists, a path other than "/" without dot segments, no fragment,
// no userinfo. It answers the reason it is refused, or "".
func (f *Fetcher) checkURL(id string) (*url.URL, string) {
	if len(id) > 2000 {
		return nil, "the client_id URL is longer than 2000 characters"
	}
	u, err := url.Parse(id)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, "the client_id is not a valid URL"
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.opts.AllowPrivateAddresses && isLoopbackHost(u.Hostname()):
	default:
		return nil, "the client_id URL must use https"
	}
	if u.User != nil {
		return nil, "the client_id URL must not contain a user name or password"
	}
	if u.Fragment != "" || strings.Contains(id, "#") {
		return nil, "the client_id URL must not contain a fragment"
	}
	if u.EscapedPath() == "" || u.EscapedPath() == "/" {
		return nil, "the client_id URL must have a path (https://app.example.com/client.json)"
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if seg == "." || seg == ".." {
			return nil, "the client_id URL must not contain . or .. path segments"
		}
	}
	host := strings.ToLower(u.Hostname())
	if matchesAny(f.opts.DenyHosts, host) {
		return nil, "documents from " + host + " are not accepted here"
	}
	if len(f.opts.AllowHosts) > 0 && !matchesAny(f.opts.AllowHosts, host) {
		return nil, "documents from " + host + " are not accepted here"
	}
	return u, ""
}

// matchesAny reports whether host matches one of the patterns: an exact
// name or "*.name" for its subdomains.
func matchesAny(patterns []string, host string) bool {
	for _, p := range patterns {
		p = strings.ToLower(p)
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+rest) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func hostOf(id string) string {
	if u, err := url.Parse(id); err == nil && u.Host != "" {
		return u.Host
	}
	return "an invalid URL"
}

// errAddressNotAllowed is the dial refused by checkDialed.
var errAddressNotAllowed = errors.New("metadatadoc: address not allowed")

// checkDialed refuses to connect to an address documents may not come
// from. It runs on every address the dialer tries, after name resolution,
// so a name that resolves (or re-resolves) to an internal address is
// refused too.
func (f *Fetcher) checkDialed(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errAddressNotAllowed, err)
	}
	if !allowedAddr(ap.Addr().Unmap(), f.opts.AllowPrivateAddresses) {
		return errAddressNotAllowed
	}
	return nil
}

// blocked are ranges never reachable from the Internet besides those the
// netip methods name: shared address space (RFC 6598), "this network",
// IETF protocol assignments, benchmarking, reserved, NAT64 and 6to4 (which
// embed IPv4 addresses), documentation and discard-only.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

func allowedAddr(ip netip.Addr, private bool) bool {
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
		return false
	}
	if private {
		return true
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || !ip.IsGlobalUnicast() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

func (f *Fetcher) cached(id string) (entry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.cache[id]
	if !ok || !f.opts.Now().Before(e.expires) {
		return entry{}, false
	}
	return e, true
}

// keep caches e; when the cache is full, expired entries go first, then
// the one that expires soonest.
func (f *Fetcher) keep(id string, e entry) {
	if !e.expires.After(f.opts.Now()) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.cache[id]; !ok && len(f.cache) >= f.opts.CacheSize {
		now := f.opts.Now()
		for k, v := range f.cache {
			if !now.Before(v.expires) {
				delete(f.cache, k)
			}
		}
		for len(f.cache) >= f.opts.CacheSize {
			var oldest string
			var at time.Time
			for k, v := range f.cache {
				if oldest == "" || v.expires.Before(at) {
					oldest, at = k, v.expires
				}
			}
			delete(f.cache, oldest)
		}
	}
	f.cache[id] = e
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
