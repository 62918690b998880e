package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey-auth/latchkey/backends"
)

// forger is an upstream OpenID provider whose token endpoint answers with
// whatever ID token the test makes: correct, or broken in one way.
type forger struct {
	*httptest.Server
	key   *ecdsa.PrivateKey
	other *ecdsa.PrivateKey // a key the JWKS does not publish

	mu     sync.Mutex
	down   bool                               // discovery answers 503
	idt    func(claims map[string]any) string // builds the next ID token
	claims map[string]any
	calls  int
}

func newForger(t *testing.T) *forger {
	t.Helper()
	f := &forger{}
	f.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.other, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		down := f.down
		f.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": f.URL, "authorization_endpoint": f.URL + "/authorize", "token_endpoint": f.URL + "/token",
			"jwks_uri": f.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"ES256"},
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls++
		tok := f.idt(f.claims)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": tok})
	})
	return f
}

func (f *forger) sign(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

func (f *forger) next(build func(map[string]any) string, claims map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idt, f.claims = build, claims
}

func open(t *testing.T, f *forger, extra func(*Config)) *Backend {
	t.Helper()
	c := &Config{Issuer: f.URL, ClientID: "latchkey", ClientSecret: "s3cret", Timeout: 2 * time.Second,
		Claims:     map[string]string{"groups": "realm_access.roles", "profile.department": "dept"},
		GroupRules: []GroupRule{{Upstream: "admins", Group: "Staff"}, {Upstream: "eng", Claim: "dept", Group: "Engineering"}},
	}
	if extra != nil {
		extra(c)
	}
	b, err := c.Open("corp", backends.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return b.(*Backend)
}

func goodClaims(f *forger, nonce string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": f.URL, "sub": "u-1", "aud": "latchkey", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(),
		"nonce": nonce, "email": "kim@corp.example", "email_verified": "true", "preferred_username": "kim",
		"name": "Kim Lee", "realm_access": map[string]any{"roles": []string{"admins", "users"}}, "dept": "eng",
	}
}

// The exchange accepts exactly the ID token it should and maps its
// claims; every forgery is ErrRefused, an upstream fault ErrUnavailable.
func TestExchangeVerifiesTheIDToken(t *testing.T) {
	f := newForger(t)
	b := open(t, f, nil)
	ctx := context.Background()
	const nonce = "n-123"

	f.next(func(c map[string]any) string { return f.sign(t, f.key, c) }, goodClaims(f, nonce))
	id, err := b.Exchange(ctx, "https://latchkey.example/login/corp/callback", "code", nonce, "verifier")
	if err != nil {
		t.Fatal(err)
	}
	if id.Backend != "corp" || id.Subject != "u-1" || id.Username != "kim" || id.Email != "kim@corp.example" || !id.EmailVerified || id.Name != "Kim Lee" {
		t.Fatalf("identity %+v", id)
	}
	if id.Profile["department"] != "eng" {
		t.Fatalf("profile from claims: %v", id.Profile)
	}
	if strings.Join(id.Groups, ",") != "Staff,Engineering" {
		t.Fatalf("groups from the rules (a nested claim, another claim): %v", id.Groups)
	}
	if p := b.Policy(); strings.Join(p.ManagedGroups, ",") != "Staff,Engineering" {
		t.Fatalf("managed groups %v", p.ManagedGroups)
	}

	none := func(c map[string]any) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		p, _ := json.Marshal(c)
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}
	hs256 := func(c map[string]any) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("latchkey-shared-secret-0123456789")}, nil)
		p, _ := json.Marshal(c)
		obj, _ := s.Sign(p)
		out, _ := obj.CompactSerialize()
		return out
	}
	with := func(k string, v any) map[string]any {
		c := goodClaims(f, nonce)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		build  func(map[string]any) string
		claims map[string]any
	}{
		{"a key the upstream does not publish", func(c map[string]any) string { return f.sign(t, f.other, c) }, goodClaims(f, nonce)},
		{"alg none", none, goodClaims(f, nonce)},
		{"an HMAC signature", hs256, goodClaims(f, nonce)},
		{"expired", func(c map[string]any) string { return f.sign(t, f.key, c) }, with("exp", time.Now().Add(-time.Hour).Unix())},
		{"another issuer", func(c map[string]any) string { return f.sign(t, f.key, c) }, with("iss", "https://evil.example")},
		{"another audience", func(c map[string]any) string { return f.sign(t, f.key, c) }, with("aud", "someone-else")},
		{"a wrong nonce", func(c map[string]any) string { return f.sign(t, f.key, c) }, with("nonce", "n-attacker")},
		{"no nonce", func(c map[string]any) string { return f.sign(t, f.key, c) }, with("nonce", nil)},
		{"no subject", func(c map[string]any) string { return f.sign(t, f.key, c) }, with("sub", "")},
		{"not a JWT", func(map[string]any) string { return "garbage" }, nil},
		{"no ID token", func(map[string]any) string { return "" }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.next(tc.build, tc.claims)
			_, err := b.Exchange(ctx, "https://latchkey.example/login/corp/callback", "code", nonce, "verifier")
			if !errors.Is(err, ErrRefused) || errors.Is(err, backends.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrRefused", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the client secret is in the error: %v", err)
			}
		})
	}
}

// An upstream that is down, slow or not TLS-trusted is ErrUnavailable,
// within the timeout, and a later call retries discovery.
func TestUpstreamFaultsAreUnavailableAndRetried(t *testing.T) {
	ctx := context.Background()
	t.Run("down at start, then up", func(t *testing.T) {
		f := newForger(t)
		f.down = true
		b := open(t, f, nil)
		if _, err := b.AuthCodeURL(ctx, "https://x/cb", "st", "n", "v"); !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("down: %v", err)
		}
		f.mu.Lock()
		f.down = false
		f.mu.Unlock()
		if _, err := b.AuthCodeURL(ctx, "https://x/cb", "st", "n", "v"); err != nil {
			t.Fatalf("up again, the same backend: %v", err)
		}
	})
	t.Run("slow: the timeout holds", func(t *testing.T) {
		block := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
		t.Cleanup(func() { close(block); slow.Close() })
		c := &Config{Issuer: slow.URL, ClientID: "x", Timeout: 300 * time.Millisecond}
		raw, err := c.Open("slow", backends.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = raw.(*Backend).AuthCodeURL(ctx, "https://x/cb", "st", "n", "v")
		if !errors.Is(err, backends.ErrUnavailable) || time.Since(start) > 10*time.Second {
			t.Fatalf("slow upstream: %v after %v", err, time.Since(start))
		}
	})
	t.Run("a certificate nobody vouches for", func(t *testing.T) {
		tlsUp := httptest.NewTLSServer(http.NotFoundHandler())
		t.Cleanup(tlsUp.Close)
		c := &Config{Issuer: tlsUp.URL, ClientID: "x", Timeout: 2 * time.Second}
		raw, _ := c.Open("tls", backends.Deps{})
		if _, err := raw.(*Backend).AuthCodeURL(ctx, "https://x/cb", "st", "n", "v"); !errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("bad TLS: %v", err)
		}
	})
}

// The authorization URL carries PKCE S256, state and nonce.
func TestAuthCodeURLHasPKCEStateAndNonce(t *testing.T) {
	f := newForger(t)
	b := open(t, f, func(c *Config) { c.Scopes = []string{"email", "openid"} })
	to, err := b.AuthCodeURL(context.Background(), "https://latchkey.example/login/corp/callback", "st-1", "n-1", "verifier-verifier-verifier-verifier-43chars")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(to)
	q := u.Query()
	if q.Get("state") != "st-1" || q.Get("nonce") != "n-1" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("scope") != "openid email" || q.Get("redirect_uri") != "https://latchkey.example/login/corp/callback" || q.Get("client_id") != "latchkey" {
		t.Fatalf("authorization URL %s", to)
	}
}

// Token exchange accepts ID tokens for the backend's client or an accepted
// audience, and nothing else.
func TestVerifyIDTokenChecksTheAudience(t *testing.T) {
	f := newForger(t)
	b := open(t, f, func(c *Config) { c.AcceptedAudiences = []string{"ios-app"} })
	ctx := context.Background()
	for aud, ok := range map[string]bool{"latchkey": true, "ios-app": true, "other-app": false} {
		c := goodClaims(f, "")
		c["aud"] = aud
		_, err := b.VerifyIDToken(ctx, f.sign(t, f.key, c))
		if ok != (err == nil) {
			t.Errorf("aud %s: %v", aud, err)
		}
	}
	c := goodClaims(f, "")
	c["exp"] = time.Now().Add(-time.Minute).Unix()
	if _, err := b.VerifyIDToken(ctx, f.sign(t, f.key, c)); !errors.Is(err, ErrRefused) {
		t.Errorf("expired: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"no issuer":         {ClientID: "x"},
		"ftp issuer":        {Issuer: "ftp://x", ClientID: "x"},
		"no client":         {Issuer: "https://x"},
		"both secrets":      {Issuer: "https://x", ClientID: "x", ClientSecret: "a", ClientSecretFile: "/f"},
		"unknown claim":     {Issuer: "https://x", ClientID: "x", Claims: map[string]string{"shoe_size": "s"}},
		"bad profile key":   {Issuer: "https://x", ClientID: "x", Claims: map[string]string{"profile.Bad-Key": "s"}},
		"rule without goal": {Issuer: "https://x", ClientID: "x", GroupRules: []GroupRule{{Upstream: "a"}}},
		"http icon":         {Issuer: "https://x", ClientID: "x", IconURL: "http://x/i.png"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
