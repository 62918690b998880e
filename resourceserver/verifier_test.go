package resourceserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestVerifyAccessToken(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(nil)
	p, err := v.Verify(context.Background(), is.sign(is.claims(), "at+jwt"))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != "42" || p.Username != "alice" || p.ClientID != "web" || p.TokenID != "j1" ||
		!p.HasScope("products:read") || !p.InGroup("ProductManagers") || !p.HasPermission("store.change_product") ||
		p.IsClient() || p.IsStaff() || p.Claims["username"] != "alice" {
		t.Fatalf("principal = %+v", p)
	}
	// RFC 7515 §4.1.9: the application/ prefix may be written.
	if _, err := v.Verify(context.Background(), is.sign(is.claims(), "application/at+jwt")); err != nil {
		t.Fatalf("application/at+jwt: %v", err)
	}
}

// TestVerifyRefuses: every token that is not a valid access token of this
// issuer for this audience is ErrInvalidToken.
func TestVerifyRefuses(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(nil)
	with := func(k string, val any) map[string]any {
		c := is.claims()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	now := time.Now().Unix()
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := is.sign(is.claims(), "at+jwt")
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	cases := map[string]string{
		"other issuer":          is.sign(with("iss", "https://evil.example.com"), "at+jwt"),
		"no issuer":             is.sign(with("iss", nil), "at+jwt"),
		"other audience":        is.sign(with("aud", "https://other.example.com"), "at+jwt"),
		"no audience":           is.sign(with("aud", nil), "at+jwt"),
		"expired past leeway":   is.sign(with("exp", now-120), "at+jwt"),
		"no exp":                is.sign(with("exp", nil), "at+jwt"),
		"not yet valid":         is.sign(with("nbf", now+120), "at+jwt"),
		"no sub":                is.sign(with("sub", nil), "at+jwt"),
		"ID token (typ JWT)":    is.sign(is.claims(), "JWT"),
		"no typ":                is.sign(is.claims(), ""),
		"unknown key":           signWith(t, stranger, "k0-not", "at+jwt", is.claims()),
		"stranger, our kid":     signWith(t, stranger, "k0", "at+jwt", is.claims()),
		"alg none":              b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"k0"}`)) + "." + parts[1] + ".",
		"HS256":                 b64([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"k0"}`)) + "." + parts[1] + "." + parts[2],
		"tampered claims":       parts[0] + "." + b64([]byte(`{"iss":"`+is.srv.URL+`","sub":"1","aud":"https://api.example.com","exp":9999999999}`)) + "." + parts[2],
		"garbage":               "a.b.c",
		"opaque, no introspect": "lk_at_abc",
		"empty":                 "",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
	// Within the leeway is fine.
	if _, err := v.Verify(context.Background(), is.sign(with("exp", now-20), "at+jwt")); err != nil {
		t.Fatalf("expired 20s ago, leeway 30s: %v", err)
	}
}

// TestUnknownKidRefetch: a key published after the verifier started is
// found by refetching the JWKS; unknown kids refetch at most once per
// JWKSRefreshInterval.
func TestUnknownKidRefetch(t *testing.T) {
	is := newTestIssuer(t)
	clk := newClock()
	v := is.verifier(func(c *Config) { c.Now = clk.Now })
	if got := is.jwksHits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times by New, want 1", got)
	}
	clk.Advance(11 * time.Second)
	is.rotate()
	if _, err := v.Verify(context.Background(), is.sign(is.claims(), "at+jwt")); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for i := range 20 {
		tok := signWith(t, stranger, "forged"+string(rune('a'+i)), "at+jwt", is.claims())
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if got := is.jwksHits.Load(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (New, the new key; the forged kids come within its interval)", got)
	}
	clk.Advance(11 * time.Second)
	tok := signWith(t, stranger, "forged-later", "at+jwt", is.claims())
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("forged kid: %v", err)
	}
	if got := is.jwksHits.Load(); got != 3 {
		t.Fatalf("JWKS fetched %d times, want 3 after the interval", got)
	}
}

// TestJWKSMaxAge: a key removed from the JWKS stops working once the
// cached set is older than JWKSMaxAge.
func TestJWKSMaxAge(t *testing.T) {
	is := newTestIssuer(t)
	clk := newClock()
	v := is.verifier(func(c *Config) { c.Now = clk.Now; c.Leeway = time.Hour })
	tok := is.sign(is.claims(), "at+jwt")
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	is.keys, is.kids = nil, nil
	is.mu.Unlock()
	is.rotate()
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within max age: %v", err)
	}
	clk.Advance(11 * time.Minute)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("removed key after max age: %v", err)
	}
}

// TestJWKSIssuerDown: with the issuer down, a stale key set keeps
// verifying with the keys it has, and refetches are rate limited.
func TestJWKSIssuerDown(t *testing.T) {
	is := newTestIssuer(t)
	clk := newClock()
	var attempts atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	v := is.verifier(func(c *Config) { c.Now = clk.Now; c.Leeway = time.Hour; c.HTTPClient = client })
	tok := is.sign(is.claims(), "at+jwt")
	is.srv.Close()
	before := attempts.Load()
	clk.Advance(11 * time.Minute)
	for range 5 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("stale set, issuer down: %v", err)
		}
	}
	if got := attempts.Load() - before; got != 1 {
		t.Fatalf("%d refetch attempts for 5 tokens, want 1", got)
	}
	clk.Advance(11 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil || attempts.Load()-before != 2 {
		t.Fatalf("after the interval: %v, %d attempts", err, attempts.Load()-before)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func introspecting(c *Config) {
	c.Introspection = &Introspection{ClientID: "rs", ClientSecret: "rs-secret", IntrospectJWTs: true}
}

func active(is *testIssuer, token string, claims map[string]any) {
	a := map[string]any{"active": true, "token_type": "Bearer"}
	for k, v := range claims {
		a[k] = v
	}
	is.mu.Lock()
	is.active[token] = a
	is.mu.Unlock()
}

func revoke(is *testIssuer, token string) {
	is.mu.Lock()
	delete(is.active, token)
	is.mu.Unlock()
}

// TestIntrospectionOpaque: an opaque token is what introspection says;
// the answer is cached for CacheTTL, never past the token's exp.
func TestIntrospectionOpaque(t *testing.T) {
	is := newTestIssuer(t)
	clk := newClock()
	v := is.verifier(func(c *Config) { introspecting(c); c.Now = clk.Now; c.Introspection.CacheTTL = time.Minute })
	claims := is.claims()
	claims["exp"] = clk.Now().Unix() + 20
	active(is, "lk_at_one", claims)
	p, err := v.Verify(context.Background(), "lk_at_one")
	if err != nil || p.Username != "alice" {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
	revoke(is, "lk_at_one")
	if _, err := v.Verify(context.Background(), "lk_at_one"); err != nil || is.introHits.Load() != 1 {
		t.Fatalf("cached answer: %v after %d calls", err, is.introHits.Load())
	}
	clk.Advance(21 * time.Second) // past exp, before the TTL
	if _, err := v.Verify(context.Background(), "lk_at_one"); !errors.Is(err, ErrInvalidToken) || is.introHits.Load() != 2 {
		t.Fatalf("after exp: %v after %d calls", err, is.introHits.Load())
	}
	// Inactive answers, refresh tokens, and another issuer's tokens are refused.
	if _, err := v.Verify(context.Background(), "lk_at_unknown"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown: %v", err)
	}
	active(is, "lk_at_refresh", map[string]any{"token_type": "refresh_token", "sub": "42", "exp": clk.Now().Unix() + 60})
	if _, err := v.Verify(context.Background(), "lk_at_refresh"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("refresh token: %v", err)
	}
	other := is.claims()
	other["iss"] = "https://evil.example.com"
	active(is, "lk_at_other", other)
	if _, err := v.Verify(context.Background(), "lk_at_other"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("other issuer: %v", err)
	}
}

// TestIntrospectionJWTRevoked: with IntrospectJWTs and the cache off, a
// revoked JWT is refused at the next request.
func TestIntrospectionJWTRevoked(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(func(c *Config) { introspecting(c); c.Introspection.CacheTTL = -1 })
	tok := is.sign(is.claims(), "at+jwt")
	active(is, tok, is.claims())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	revoke(is, tok)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("revoked: %v", err)
	}
	if is.introHits.Load() != 2 {
		t.Fatalf("%d introspections, want 2", is.introHits.Load())
	}
	// A bad signature is refused before introspection is asked.
	if _, err := v.Verify(context.Background(), tok[:len(tok)-4]+"AAAA"); !errors.Is(err, ErrInvalidToken) || is.introHits.Load() != 2 {
		t.Fatalf("bad signature: %v, %d introspections", err, is.introHits.Load())
	}
}

// TestIntrospectionSingleflight: a burst of requests with one token makes
// one call.
func TestIntrospectionSingleflight(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(introspecting)
	active(is, "lk_at_burst", is.claims())
	release := make(chan struct{})
	is.mu.Lock()
	is.release = release
	is.mu.Unlock()
	const n = 50
	var joined sync.WaitGroup
	joined.Add(n)
	v.beforeFlight = joined.Done
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := v.Verify(context.Background(), "lk_at_burst")
			errs <- err
		}()
	}
	joined.Wait() // every request is at the flight, and one is at the issuer
	<-is.introArriv
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := is.introHits.Load(); got != 1 {
		t.Fatalf("%d introspections for %d concurrent requests, want 1", got, n)
	}
}

func TestIntrospectionUnavailable(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(introspecting)
	is.srv.Close()
	if _, err := v.Verify(context.Background(), "lk_at_x"); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("issuer down: %v, want ErrUnavailable", err)
	}
}

func TestNewChecksDiscovery(t *testing.T) {
	is := newTestIssuer(t)
	if _, err := New(context.Background(), Config{Issuer: is.srv.URL + "/other", Audience: "x"}); err == nil {
		t.Fatal("New accepted a discovery document of another issuer")
	}
	if _, err := New(context.Background(), Config{Issuer: is.srv.URL}); err == nil {
		t.Fatal("New accepted no audience")
	}
}
