package opaque

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/backendtest"
)

// upstream is an RFC 7662 endpoint over tokens, requiring client
// credentials as a real one does.
type upstream struct {
	tokens map[string]backendtest.Token
	calls  atomic.Int64
	// answer, when set, replaces the normal answer.
	answer func(w http.ResponseWriter, r *http.Request)
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	if id, secret, ok := r.BasicAuth(); !ok || id != "latchkey" || secret != "s3cret" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if u.answer != nil {
		u.answer(w, r)
		return
	}
	tok, ok := u.tokens[r.PostFormValue("token")]
	w.Header().Set("Content-Type", "application/json")
	if !ok || !tok.Active || !tok.ExpiresAt.After(time.Now()) {
		_, _ = w.Write([]byte(`{"active":false}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"active": true, "sub": tok.Subject, "username": tok.Username, "scope": tok.Scope,
		"client_id": tok.ClientID, "exp": tok.ExpiresAt.Unix(), "iat": time.Now().Unix(),
	})
}

func serve(t *testing.T, u *upstream) string {
	t.Helper()
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	return srv.URL
}

func openBackend(t *testing.T, cfg Config) *Backend {
	t.Helper()
	cfg.ClientID, cfg.ClientSecret = "latchkey", "s3cret"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	impl, err := cfg.Open("legacy", backends.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return impl.(*Backend)
}

func TestConformance(t *testing.T) {
	backendtest.RunTokenIntrospector(t, backendtest.TokenHarness{
		BackendID: "legacy",
		Open: func(t *testing.T, tokens []backendtest.Token) backends.TokenIntrospector {
			u := &upstream{tokens: map[string]backendtest.Token{}}
			for _, tok := range tokens {
				u.tokens[tok.Value] = tok
			}
			return openBackend(t, Config{IntrospectionURL: serve(t, u)})
		},
		Down: func(t *testing.T) backends.TokenIntrospector {
			return openBackend(t, Config{IntrospectionURL: serve(t, &upstream{answer: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
			}})})
		},
		Hang: func(t *testing.T) backends.TokenIntrospector {
			release := make(chan struct{})
			url := serve(t, &upstream{answer: func(_ http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}})
			t.Cleanup(func() { close(release) }) // before the server's Close
			return openBackend(t, Config{IntrospectionURL: url, Timeout: 5 * time.Second})
		},
	})
}

func TestCacheIsBoundedByExpAndTTL(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	u := &upstream{tokens: map[string]backendtest.Token{
		"short": {Value: "short", Subject: "s", Scope: "a", ExpiresAt: now.Add(5 * time.Second), Active: true},
		"long":  {Value: "long", Subject: "l", Scope: "a", ExpiresAt: now.Add(time.Hour), Active: true},
	}}
	b := openBackend(t, Config{IntrospectionURL: serve(t, u), CacheTTL: time.Minute, NegativeCacheTTL: 10 * time.Second})
	clock := now
	b.now = func() time.Time { return clock }
	look := func(tok string, want bool) {
		t.Helper()
		if _, ok, err := b.IntrospectToken(t.Context(), tok); err != nil || ok != want {
			t.Fatalf("IntrospectToken(%s) = %v, %v; want %v", tok, ok, err, want)
		}
	}
	look("short", true)
	look("long", true)
	look("nope", false)
	look("short", true)
	look("long", true)
	look("nope", false)
	if n := u.calls.Load(); n != 3 {
		t.Fatalf("%d upstream calls; want 3 (the rest cached)", n)
	}
	// Past the short token's exp: its entry is gone (and the token is
	// expired), the long one is still cached, the negative entry still holds.
	clock = now.Add(6 * time.Second)
	look("long", true)
	look("nope", false)
	if n := u.calls.Load(); n != 3 {
		t.Fatalf("%d upstream calls after 6 s; want 3", n)
	}
	look("short", false) // the fake upstream uses the real clock: still active there, but...
	if n := u.calls.Load(); n != 4 {
		t.Fatalf("the short token's entry outlived its exp: %d calls", n)
	}
	// Past the negative TTL and the positive TTL: both asked again.
	clock = now.Add(61 * time.Second)
	look("long", true)
	look("nope", false)
	if n := u.calls.Load(); n != 6 {
		t.Fatalf("%d upstream calls after the TTLs; want 6", n)
	}
}

func TestOnError(t *testing.T) {
	t.Parallel()
	down := &upstream{answer: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }}
	url := serve(t, down)
	if _, ok, err := openBackend(t, Config{IntrospectionURL: url}).IntrospectToken(t.Context(), "tok"); ok || err == nil {
		t.Errorf("on_error default: ok %v err %v; want an error", ok, err)
	}
	if _, ok, err := openBackend(t, Config{IntrospectionURL: url, OnError: "inactive"}).IntrospectToken(t.Context(), "tok"); ok || err != nil {
		t.Errorf("on_error inactive: ok %v err %v; want inactive, nil", ok, err)
	}
	// A failure is not cached: the next lookup asks again.
	b := openBackend(t, Config{IntrospectionURL: url})
	before := down.calls.Load()
	_, _, _ = b.IntrospectToken(t.Context(), "tok")
	_, _, _ = b.IntrospectToken(t.Context(), "tok")
	if n := down.calls.Load() - before; n != 2 {
		t.Errorf("%d calls for two lookups during an outage; want 2", n)
	}
}

func TestBadUpstreamAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"malformed JSON":        `{"active":tru`,
		"a bad e-mail":          `{"active":true,"sub":"x","email":"no at sign"}`,
		"a sub with a newline":  "{\"active\":true,\"sub\":\"x\\ny\"}",
		"wrong credentials 401": "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := &upstream{answer: func(w http.ResponseWriter, _ *http.Request) {
				if body == "" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				_, _ = w.Write([]byte(body))
			}}
			_, ok, err := openBackend(t, Config{IntrospectionURL: serve(t, u)}).IntrospectToken(t.Context(), "secret-token-value")
			if ok || err == nil {
				t.Fatalf("ok %v err %v; want an error", ok, err)
			}
			if strings.Contains(err.Error(), "secret-token-value") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q holds the token or the client secret", err)
			}
		})
	}
	t.Run("an active token without sub is refused, not an error", func(t *testing.T) {
		t.Parallel()
		u := &upstream{answer: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"active":true,"client_id":"c"}`))
		}}
		if _, ok, err := openBackend(t, Config{IntrospectionURL: serve(t, u)}).IntrospectToken(t.Context(), "t"); ok || err != nil {
			t.Errorf("ok %v err %v", ok, err)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{ClientID: "a", ClientSecret: "b"}, "introspection_url: is required"},
		{"plain http elsewhere", Config{IntrospectionURL: "http://old.example.com/i", ClientID: "a", ClientSecret: "b"}, "must be https"},
		{"no client", Config{IntrospectionURL: "https://old.example.com/i", ClientSecret: "b"}, "client_id"},
		{"two secrets", Config{IntrospectionURL: "https://old.example.com/i", ClientID: "a", ClientSecret: "b", ClientSecretFile: "f"}, "client_secret"},
		{"bad on_error", Config{IntrospectionURL: "https://old.example.com/i", ClientID: "a", ClientSecret: "b", OnError: "retry"}, "on_error"},
		{"bad link_by", Config{IntrospectionURL: "https://old.example.com/i", ClientID: "a", ClientSecret: "b", LinkBy: "phone"}, "link_by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v; want %q", err, tc.want)
			}
		})
	}
}
