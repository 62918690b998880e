package resourceserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testIssuer is an authorization server for the unit tests: discovery, a
// JWKS of keys it can rotate, and an introspection endpoint whose answers
// the test sets. (The example's tests run against a real latchkey.)
type testIssuer struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	keys       []*ecdsa.PrivateKey
	kids       []string
	active     map[string]map[string]any // introspection answers by token
	release    chan struct{}             // when not nil, introspection waits for it
	jwksHits   atomic.Int32
	introHits  atomic.Int32
	introArriv chan struct{}
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	is := &testIssuer{t: t, active: map[string]map[string]any{}, introArriv: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks",
			"introspection_endpoint": is.srv.URL + "/introspect"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		is.mu.Lock()
		var set jose.JSONWebKeySet
		for i, k := range is.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: is.kids[i], Algorithm: "ES256", Use: "sig"})
		}
		is.mu.Unlock()
		writeJSON(w, set)
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		is.introHits.Add(1)
		is.introArriv <- struct{}{}
		if id, secret, ok := r.BasicAuth(); !ok || id != "rs" || secret != "rs-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		is.mu.Lock()
		rel := is.release
		ans, ok := is.active[r.PostFormValue("token")]
		is.mu.Unlock()
		if rel != nil {
			<-rel
		}
		if !ok {
			ans = map[string]any{"active": false}
		}
		writeJSON(w, ans)
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	is.rotate()
	return is
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// rotate adds a new signing key, which signs from now on.
func (is *testIssuer) rotate() {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		is.t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys, k)
	is.kids = append(is.kids, "k"+string(rune('0'+len(is.kids))))
}

// claims are an access token's claims valid for an hour.
func (is *testIssuer) claims() map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": is.srv.URL, "sub": "42", "aud": "https://api.example.com", "exp": now + 3600,
		"iat": now, "jti": "j1", "client_id": "web", "scope": "openid products:read", "username": "alice",
		"groups": []string{"ProductManagers"}, "permissions": []string{"store.change_product", "store.view_product"}}
}

// sign signs claims with the current key, with header typ and kid.
func (is *testIssuer) sign(claims map[string]any, typ string) string {
	is.mu.Lock()
	k, kid := is.keys[len(is.keys)-1], is.kids[len(is.kids)-1]
	is.mu.Unlock()
	return signWith(is.t, k, kid, typ, claims)
}

func signWith(t testing.TB, k *ecdsa.PrivateKey, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verifier returns a Verifier of the issuer for audience
// https://api.example.com; mutate changes the config first.
func (is *testIssuer) verifier(mutate func(*Config)) *Verifier {
	is.t.Helper()
	cfg := Config{Issuer: is.srv.URL, Audience: "https://api.example.com"}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		is.t.Fatalf("New: %v", err)
	}
	return v
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
