package metadatadoc

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// docServer is an https server of documents that counts every request.
type docServer struct {
	srv      *httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
}

func newDocServer(t *testing.T) *docServer {
	t.Helper()
	d := &docServer{handlers: map[string]http.HandlerFunc{}}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.requests.Add(1)
		d.mu.Lock()
		h := d.handlers[r.URL.Path]
		d.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *docServer) url(path string) string { return d.srv.URL + path }

func (d *docServer) handle(path string, h http.HandlerFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handlers[path] = h
}

// serveJSON serves v at path with the given Cache-Control.
func (d *docServer) serveJSON(path string, v any, cacheControl string) {
	body, _ := json.Marshal(v)
	d.handle(path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		_, _ = w.Write(body)
	})
}

func (d *docServer) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(d.srv.Certificate())
	return pool
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testOptions(d *docServer, c *clock) Options {
	return Options{
		AllowPrivateAddresses: true, // the test server is on loopback
		Scopes:                []string{"openid", "profile", "email", "offline_access", provider.ScopeAPI},
		CacheMin:              time.Minute, CacheMax: time.Hour, ErrorCacheTTL: 30 * time.Second,
		MaxBytes: 5 << 10, Timeout: 5 * time.Second, CacheSize: 100,
		RootCAs: d.roots(), Now: c.now,
	}
}

func validDoc(id string) map[string]any {
	return map[string]any{
		"client_id":     id,
		"client_name":   "Example Agent",
		"redirect_uris": []string{"http://127.0.0.1/callback", "https://agent.example/cb"},
		"grant_types":   []string{"authorization_code", "refresh_token"},
		"scope":         "openid profile latchkey",
	}
}

// refused asserts a *provider.MetadataDocumentError whose reason holds want.
func refused(t *testing.T, err error, want string) {
	t.Helper()
	var de *provider.MetadataDocumentError
	if !errors.As(err, &de) {
		t.Fatalf("want a refused document (%q), got %v", want, err)
	}
	if !strings.Contains(de.Reason, want) {
		t.Fatalf("reason %q does not say %q", de.Reason, want)
	}
}

func TestResolveValidDocument(t *testing.T) {
	d := newDocServer(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	f := New(testOptions(d, c))
	id := d.url("/oauth/client.json")
	d.serveJSON("/oauth/client.json", validDoc(id), "max-age=600")

	cl, err := f.Resolve(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if cl.ID != id || cl.Name != "Example Agent" || cl.TokenEndpointAuthMethod != provider.AuthNone || cl.SkipConsent || cl.SecretHash != "" {
		t.Fatalf("client %+v", cl)
	}
	if cl.Scope != "openid profile" {
		t.Fatalf("scope %q: the latchkey scope must never be given", cl.Scope)
	}
	if strings.Join(cl.GrantTypes, " ") != "authorization_code refresh_token" || strings.Join(cl.ResponseTypes, " ") != "code" {
		t.Fatalf("grants %v, response types %v", cl.GrantTypes, cl.ResponseTypes)
	}
	if !f.Handles(id) || f.Handles("c0123") {
		t.Fatal("Handles must answer for URLs only")
	}

	// Cached for max-age (600s, within 1m..1h): no second request.
	c.add(599 * time.Second)
	if _, err := f.Resolve(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := d.requests.Load(); n != 1 {
		t.Fatalf("%d requests within max-age, want 1", n)
	}
	c.add(2 * time.Second)
	if _, err := f.Resolve(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := d.requests.Load(); n != 2 {
		t.Fatalf("%d requests after max-age, want 2", n)
	}
}

func TestCacheFloorAndCeiling(t *testing.T) {
	for _, tc := range []struct {
		name, cacheControl string
		fresh, stale       time.Duration
	}{
		{"no-store gets the floor", "no-store", 59 * time.Second, 61 * time.Second},
		{"a short max-age gets the floor", "max-age=5", 59 * time.Second, 61 * time.Second},
		{"no header gets the floor", "", 59 * time.Second, 61 * time.Second},
		{"a long max-age gets the ceiling", "max-age=86400", 59 * time.Minute, 61 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDocServer(t)
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			f := New(testOptions(d, c))
			id := d.url("/client")
			d.serveJSON("/client", validDoc(id), tc.cacheControl)
			resolve := func() {
				t.Helper()
				if _, err := f.Resolve(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			resolve()
			c.add(tc.fresh)
			resolve()
			if n := d.requests.Load(); n != 1 {
				t.Fatalf("%d requests while fresh, want 1", n)
			}
			c.add(tc.stale - tc.fresh)
			resolve()
			if n := d.requests.Load(); n != 2 {
				t.Fatalf("%d requests once stale, want 2", n)
			}
		})
	}
}

func TestInvalidDocumentsAreRefusedAndCachedBriefly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(doc map[string]any, id string)
		reason string
	}{
		{"mismatched client_id", func(doc map[string]any, id string) { doc["client_id"] = id + "x" }, "client_id is not the URL"},
		{"missing client_id", func(doc map[string]any, _ string) { delete(doc, "client_id") }, "no client_id"},
		{"a secret", func(doc map[string]any, _ string) { doc["client_secret"] = "s3cret" }, "must not hold a secret"},
		{"client_secret_basic", func(doc map[string]any, _ string) { doc["token_endpoint_auth_method"] = "client_secret_basic" }, "must be none"},
		{"private_key_jwt", func(doc map[string]any, _ string) { doc["token_endpoint_auth_method"] = "private_key_jwt" }, "private_key_jwt is not supported"},
		{"client_credentials", func(doc map[string]any, _ string) { doc["grant_types"] = []string{"client_credentials"} }, "grant_types"},
		{"no redirect_uris", func(doc map[string]any, _ string) { delete(doc, "redirect_uris") }, "no redirect_uris"},
		{"a javascript: redirect", func(doc map[string]any, _ string) { doc["redirect_uris"] = []string{"javascript:alert(1)"} }, "redirect_uris"},
		{"a wildcard redirect", func(doc map[string]any, _ string) { doc["redirect_uris"] = []string{"https://*.example.com/cb"} }, "wildcards"},
		{"redirect_uris not a list", func(doc map[string]any, _ string) { doc["redirect_uris"] = "https://a.example/cb" }, "redirect_uris must be a list"},
		{"only the latchkey scope", func(doc map[string]any, _ string) { doc["scope"] = provider.ScopeAPI }, "none of the scopes"},
		{"token response type", func(doc map[string]any, _ string) { doc["response_types"] = []string{"token"} }, "response_types"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDocServer(t)
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			f := New(testOptions(d, c))
			id := d.url("/client.json")
			doc := validDoc(id)
			tc.edit(doc, id)
			d.serveJSON("/client.json", doc, "max-age=3600")
			_, err := f.Resolve(context.Background(), id)
			refused(t, err, tc.reason)
			// The refusal is remembered: no second request.
			_, err = f.Resolve(context.Background(), id)
			refused(t, err, tc.reason)
			if n := d.requests.Load(); n != 1 {
				t.Fatalf("%d requests, want 1", n)
			}
			// ... for error_cache_ttl only.
			c.add(31 * time.Second)
			_, _ = f.Resolve(context.Background(), id)
			if n := d.requests.Load(); n != 2 {
				t.Fatalf("%d requests after error_cache_ttl, want 2", n)
			}
		})
	}
}

func TestNotJSONObject(t *testing.T) {
	for _, body := range []string{`[1,2]`, `"x"`, `null`, `{"client_id":`, `<html>`} {
		d := newDocServer(t)
		c := &clock{t: time.Unix(1_800_000_000, 0)}
		f := New(testOptions(d, c))
		d.handle("/c", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) })
		_, err := f.Resolve(context.Background(), d.url("/c"))
		refused(t, err, "JSON")
	}
}

func TestURLsRefusedWithoutARequest(t *testing.T) {
	d := newDocServer(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	opts := testOptions(d, c)
	opts.AllowPrivateAddresses = false
	opts.DenyHosts = []string{"evil.example", "*.bad.example"}
	f := New(opts)
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { d.requests.Add(1) }))
	t.Cleanup(plain.Close)

	for _, tc := range []struct{ id, reason string }{
		{plain.URL + "/client.json", "must use https"},
		{"ftp://app.example/client.json", "must use https"},
		{"https://app.example", "must have a path"},
		{"https://app.example/", "must have a path"},
		{"https://app.example/a/../client.json", ". or .. path segments"},
		{"https://app.example/client.json#x", "fragment"},
		{"https://user:pw@app.example/client.json", "user name or password"},
		{"https://evil.example/client.json", "not accepted here"},
		{"https://x.bad.example/client.json", "not accepted here"},
		{"https://EVIL.example/client.json", "not accepted here"},
	} {
		_, err := f.Resolve(context.Background(), tc.id)
		refused(t, err, tc.reason)
	}
	if n := d.requests.Load(); n != 0 {
		t.Fatalf("%d requests for refused URLs, want 0", n)
	}

	opts.DenyHosts, opts.AllowHosts = nil, []string{"good.example"}
	f = New(opts)
	_, err := f.Resolve(context.Background(), "https://other.example/client.json")
	refused(t, err, "not accepted here")
}

func TestPrivateAddressesRefusedAtDial(t *testing.T) {
	d := newDocServer(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	opts := testOptions(d, c)
	opts.AllowPrivateAddresses = false
	f := New(opts)
	port := d.srv.Listener.Addr().(interface{ String() string }).String()
	_, p, _ := strings.Cut(port, ":")
	// An IP literal, and a name that resolves to loopback: both refused
	// on the address dialed, before any byte is sent.
	for _, id := range []string{d.url("/client.json"), "https://localhost:" + p + "/client.json"} {
		d.serveJSON("/client.json", validDoc(id), "")
		_, err := f.Resolve(context.Background(), id)
		refused(t, err, "internal address")
	}
	if n := d.requests.Load(); n != 0 {
		t.Fatalf("%d requests reached a loopback server, want 0", n)
	}
}

func TestAllowedAddr(t *testing.T) {
	for _, tc := range []struct {
		addr        string
		public, dev bool
	}{
		{"93.184.216.34", true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, true},
		{"192.168.1.1", false, true},
		{"169.254.169.254", false, true},
		{"fe80::1", false, true},
		{"fc00::1", false, true},
		{"100.64.0.1", false, true},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"64:ff9b::7f00:1", false, true},
	} {
		ip := netip.MustParseAddr(tc.addr)
		if got := allowedAddr(ip, false); got != tc.public {
			t.Errorf("%s allowed=%v, want %v", tc.addr, got, tc.public)
		}
		if got := allowedAddr(ip, true); got != tc.dev {
			t.Errorf("%s with private addresses allowed: %v, want %v", tc.addr, got, tc.dev)
		}
	}
}

func TestOversizedDocument(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		d := newDocServer(t)
		c := &clock{t: time.Unix(1_800_000_000, 0)}
		f := New(testOptions(d, c))
		id := d.url("/big.json")
		doc := validDoc(id)
		doc["client_name"] = strings.Repeat("a", 6000)
		body, _ := json.Marshal(doc)
		d.handle("/big.json", func(w http.ResponseWriter, _ *http.Request) {
			if chunked {
				_, _ = w.Write(body[:100])
				w.(http.Flusher).Flush()
				_, _ = w.Write(body[100:])
				return
			}
			_, _ = w.Write(body)
		})
		_, err := f.Resolve(context.Background(), id)
		refused(t, err, "larger than 5120 bytes")
		_, err = f.Resolve(context.Background(), id)
		refused(t, err, "larger than 5120 bytes")
		if n := d.requests.Load(); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
	}
}

func TestSlowDocument(t *testing.T) {
	d := newDocServer(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	opts := testOptions(d, c)
	opts.Timeout = 300 * time.Millisecond
	f := New(opts)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	id := d.url("/slow.json")
	d.handle("/slow.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"client_id":`))
		w.(http.Flusher).Flush()
		select { // never finishes the document
		case <-release:
		case <-r.Context().Done():
		}
	})
	_, err := f.Resolve(context.Background(), id)
	refused(t, err, "did not arrive within 300ms")
	_, err = f.Resolve(context.Background(), id)
	refused(t, err, "did not arrive")
	if n := d.requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	d := newDocServer(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	f := New(testOptions(d, c))
	id := d.url("/moved.json")
	var target atomic.Int64
	d.handle("/moved.json", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/client.json", http.StatusFound)
	})
	d.handle("/client.json", func(w http.ResponseWriter, _ *http.Request) {
		target.Add(1)
		_ = json.NewEncoder(w).Encode(validDoc(id))
	})
	_, err := f.Resolve(context.Background(), id)
	refused(t, err, "redirect (302)")
	if n, tn := d.requests.Load(), target.Load(); n != 1 || tn != 0 {
		t.Fatalf("%d requests, %d to the redirect target; want 1 and 0", n, tn)
	}
}

func TestUntrustedCertificate(t *testing.T) {
	d := newDocServer(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	opts := testOptions(d, c)
	opts.RootCAs = x509.NewCertPool() // trusts nothing
	f := New(opts)
	_, err := f.Resolve(context.Background(), d.url("/client.json"))
	refused(t, err, "certificate")
}

func TestConcurrentResolvesShareOneFetch(t *testing.T) {
	d := newDocServer(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	f := New(testOptions(d, c))
	id := d.url("/client.json")
	d.serveJSON("/client.json", validDoc(id), "max-age=600")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := f.Resolve(context.Background(), id)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := d.requests.Load(); n != 1 {
		t.Fatalf("%d requests for 20 concurrent resolves, want 1", n)
	}
}

func TestCacheSizeBounded(t *testing.T) {
	d := newDocServer(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	opts := testOptions(d, c)
	opts.CacheSize = 3
	f := New(opts)
	for i := range 10 {
		path := "/c" + string(rune('a'+i))
		d.serveJSON(path, validDoc(d.url(path)), "")
		if _, err := f.Resolve(context.Background(), d.url(path)); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	n := len(f.cache)
	f.mu.Unlock()
	if n > 3 {
		t.Fatalf("%d cached documents, want at most 3", n)
	}
}

func TestFetchesInFlightAreBounded(t *testing.T) {
	d := newDocServer(t)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	opts := testOptions(d, c)
	opts.Timeout = 200 * time.Millisecond
	f := New(opts)
	id := d.url("/client.json")
	d.serveJSON("/client.json", validDoc(id), "")
	for range cap(f.slots) { // every slot taken by other fetches
		f.slots <- struct{}{}
	}
	_, err := f.Resolve(context.Background(), id)
	refused(t, err, "too many client metadata documents")
	if n := d.requests.Load(); n != 0 {
		t.Fatalf("%d requests without a free slot", n)
	}
	for range cap(f.slots) {
		<-f.slots
	}
	// That refusal was not the document's fault and is not remembered.
	if _, err := f.Resolve(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkResolveCached is the cost a cached document adds to an
// authorization or token request.
func BenchmarkResolveCached(b *testing.B) {
	srv := httptest.NewServer(nil)
	b.Cleanup(srv.Close)
	f := New(Options{AllowPrivateAddresses: true, Scopes: []string{"openid"}, CacheMin: time.Hour, CacheMax: time.Hour})
	id := srv.URL + "/client.json"
	f.keep(id, entry{client: &storage.Client{ID: id, RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code"}}, expires: time.Now().Add(time.Hour)})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.Resolve(context.Background(), id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
