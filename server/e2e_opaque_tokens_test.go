package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/local"
	"github.com/latchkey-auth/latchkey/backends/opaque"
	"github.com/latchkey-auth/latchkey/backends/webhook"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/server"
)

const tokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
const accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

// withAllBackends registers the opaque and webhook types besides local.
func withAllBackends(o *server.Options) {
	o.Backends = backends.Registry{
		"local":   func() backends.Config { return &local.Config{Argon2: fastArgon2} },
		"opaque":  func() backends.Config { return new(opaque.Config) },
		"webhook": func() backends.Config { return new(webhook.Config) },
	}
}

func backendBlock(t *testing.T, id, typ string, cfg map[string]any) config.Backend {
	t.Helper()
	var node yaml.Node
	if err := node.Encode(cfg); err != nil {
		t.Fatal(err)
	}
	return config.Backend{ID: id, Type: typ, Config: node}
}

func (ts *testServer) exchange(subject, typ string, extra url.Values) response {
	ts.t.Helper()
	form := url.Values{"grant_type": {tokenExchange}, "subject_token": {subject}, "subject_token_type": {typ}}
	for k, v := range extra {
		form[k] = v
	}
	return ts.postForm("/oauth2/token", form, demoClient, demoSecret)
}

func TestPersonalAccessTokensIntrospectRevokeAndExchange(t *testing.T) {
	ts := startServer(t, nil)
	mia := ts.createUser("mia", "mia's long password", false)
	tok, _ := ts.jwtPair("mia", "mia's long password")
	newPAT := func(scope string) string {
		t.Helper()
		res := ts.call(http.MethodPost, "/auth/users/me/tokens/", bearer(tok), map[string]any{"name": "ci", "scope": scope, "expires_in": 3600})
		if res.Status != http.StatusCreated {
			t.Fatalf("create token: %s", res)
		}
		secret, _ := res.json(t)["token"].(string)
		return secret
	}
	pat := newPAT("profile email")

	t.Run("a PAT introspects active with its owner and scope", func(t *testing.T) {
		active, m := ts.introspectActive(pat)
		if !active {
			t.Fatalf("PAT introspects inactive")
		}
		if m["sub"] != itoa(mia.ID) || m["username"] != "mia" || m["scope"] != "profile email" || m["token_type"] != "Bearer" {
			t.Errorf("introspection = %v", m)
		}
		// groups and permissions are omitted while empty (mia has none)
		// until the permission mapper makes them always-present arrays.
		for _, k := range []string{"exp", "iat", "client_id"} {
			if _, ok := m[k]; !ok {
				t.Errorf("introspection lacks %s: %v", k, m)
			}
		}
	})

	t.Run("the stored row holds a hash, not the secret", func(t *testing.T) {
		var hashes []string
		if err := ts.sqlDB().NewSelect().Table("personal_tokens").Column("hash").Scan(ts.ctx(), &hashes); err != nil {
			t.Fatal(err)
		}
		if len(hashes) == 0 {
			t.Fatal("no personal_tokens row")
		}
		for _, h := range hashes {
			if strings.Contains(h, strings.TrimPrefix(pat, "lk_pat_")) || h == pat {
				t.Errorf("a stored row holds the secret")
			}
		}
	})

	t.Run("a PAT exchanges for a JWT of its owner, never with more scope", func(t *testing.T) {
		res := ts.exchange(pat, accessTokenType, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("exchange: %s", res)
		}
		m := res.json(t)
		if m["issued_token_type"] != accessTokenType || m["token_type"] != "Bearer" || m["refresh_token"] != nil || m["id_token"] != nil {
			t.Errorf("exchange answer = %v", m)
		}
		_, claims := mustVerifyJWT(t, m["access_token"].(string), ts.jwks())
		if claims["sub"] != itoa(mia.ID) || claims["scope"] != "profile email" {
			t.Errorf("exchanged token claims = %v", claims)
		}
		narrow := ts.exchange(pat, accessTokenType, url.Values{"scope": {"email"}})
		if narrow.Status != http.StatusOK || narrow.json(t)["scope"] != "email" {
			t.Errorf("narrower exchange: %s", narrow)
		}
		wantOAuthError(t, ts.exchange(pat, accessTokenType, url.Values{"scope": {"email latchkey"}}), http.StatusBadRequest, "invalid_scope")
	})

	t.Run("bad exchanges are invalid_request and change nothing", func(t *testing.T) {
		wantOAuthError(t, ts.exchange("lk_pat_"+strings.Repeat("A", 43), accessTokenType, nil), http.StatusBadRequest, "invalid_request")
		wantOAuthError(t, ts.exchange(pat, "urn:ietf:params:oauth:token-type:saml2", nil), http.StatusBadRequest, "invalid_request")
		wantOAuthError(t, ts.exchange(pat, "", nil), http.StatusBadRequest, "invalid_request")
		wantOAuthError(t, ts.exchange(tok, accessTokenType, nil), http.StatusBadRequest, "invalid_request")
		wantOAuthError(t, ts.exchange(pat, accessTokenType, url.Values{"actor_token": {pat}, "actor_token_type": {accessTokenType}}), http.StatusBadRequest, "invalid_request")
		if active, _ := ts.introspectActive(pat); !active {
			t.Error("a refused exchange changed the PAT")
		}
	})

	t.Run("discovery lists the token exchange grant", func(t *testing.T) {
		res := ts.get("/.well-known/openid-configuration", "")
		if !strings.Contains(string(res.Body), tokenExchange) {
			t.Errorf("discovery: %s", res.Body)
		}
	})

	t.Run("a revoked PAT introspects inactive and exchanges nothing", func(t *testing.T) {
		other := newPAT("email")
		ts.revoke(other, demoClient, demoSecret)
		if active, _ := ts.introspectActive(other); active {
			t.Error("a PAT revoked at /oauth2/revoke is still active")
		}
		wantOAuthError(t, ts.exchange(other, accessTokenType, nil), http.StatusBadRequest, "invalid_request")
	})

	t.Run("an expired PAT introspects inactive", func(t *testing.T) {
		short := ts.call(http.MethodPost, "/auth/users/me/tokens/", bearer(tok), map[string]any{"name": "short", "expires_in": 60})
		secret, _ := short.json(t)["token"].(string)
		if active, _ := ts.introspectActive(secret); !active {
			t.Fatal("a fresh PAT is inactive")
		}
		ts.Clock.Advance(61e9)
		if active, _ := ts.introspectActive(secret); active {
			t.Error("an expired PAT is active")
		}
	})

	t.Run("logoutall revokes PATs", func(t *testing.T) {
		p := newPAT("email")
		if res := ts.call(http.MethodPost, "/auth/token/logoutall/", bearer(tok), nil); res.Status != http.StatusNoContent {
			t.Fatalf("logoutall: %s", res)
		}
		if active, _ := ts.introspectActive(p); active {
			t.Error("a PAT is active after logoutall")
		}
	})

	t.Run("a deactivated owner's PAT introspects inactive", func(t *testing.T) {
		tok, _ = ts.jwtPair("mia", "mia's long password")
		p := newPAT("email")
		res := ts.call(http.MethodPatch, "/auth/users/"+itoa(mia.ID)+"/", bearer(ts.adminToken()), map[string]any{"is_active": false})
		if res.Status != http.StatusOK {
			t.Fatalf("deactivate: %s", res)
		}
		if active, _ := ts.introspectActive(p); active {
			t.Error("a deactivated owner's PAT is active")
		}
		wantOAuthError(t, ts.exchange(p, accessTokenType, nil), http.StatusBadRequest, "invalid_request")
	})
}

// counting is a reverse proxy in front of an upstream server that counts
// the requests it forwards, and can play dead.
type counting struct {
	calls atomic.Int64
	down  atomic.Bool
	srv   *httptest.Server
}

func newCounting(t *testing.T, upstream string) *counting {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.calls.Add(1)
		if c.down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func TestUpstreamOpaqueTokensOfAnotherLatchkey(t *testing.T) {
	up := startServer(t, nil)
	admin := up.adminToken()
	cl := up.createClient(admin, map[string]any{
		"client_name": "legacy", "grant_types": []string{"password"}, "scope": "profile email",
		"token_endpoint_auth_method": "client_secret_basic", "access_token_format": "opaque",
	})
	clientID, secret := cl["client_id"].(string), cl["client_secret"].(string)
	up.createUser("ola", "ola's long password", false)
	upstreamToken := func() string {
		t.Helper()
		res := up.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"ola"}, "password": {"ola's long password"}, "scope": {"profile email"}}, clientID, secret)
		if res.Status != http.StatusOK {
			t.Fatalf("upstream token: %s", res)
		}
		tok, _ := res.json(t)["access_token"].(string)
		if !strings.HasPrefix(tok, "lk_at_") {
			t.Fatalf("upstream token %.10q is not opaque", tok)
		}
		return tok
	}
	proxy := newCounting(t, up.URL)
	ts := startServerWith(t, "127.0.0.1:0", t.TempDir(), newTestClock(), func(c *config.Config) {
		c.Backends = append(c.Backends, backendBlock(t, "legacy", "opaque", map[string]any{
			"introspection_url": proxy.srv.URL + "/oauth2/introspect",
			"client_id":         demoClient, "client_secret": demoSecret,
		}))
	}, withAllBackends)

	tokA := upstreamToken()
	t.Run("an active upstream token introspects active with an external subject", func(t *testing.T) {
		active, m := ts.introspectActive(tokA)
		if !active || !strings.HasPrefix(m["sub"].(string), "legacy:") || m["scope"] != "profile email" || m["username"] != "ola" {
			t.Fatalf("introspection = %v", m)
		}
	})
	t.Run("the answer is cached", func(t *testing.T) {
		before := proxy.calls.Load()
		for range 5 {
			if active, _ := ts.introspectActive(tokA); !active {
				t.Fatal("inactive on a cached lookup")
			}
		}
		if n := proxy.calls.Load() - before; n != 0 {
			t.Errorf("%d upstream calls for cached lookups; want 0", n)
		}
	})
	t.Run("concurrent lookups of a new token make one upstream call", func(t *testing.T) {
		tokB := upstreamToken()
		before := proxy.calls.Load()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				res := ts.introspect(tokB)
				if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"active":true`) {
					t.Errorf("concurrent introspection: %s", res)
				}
			})
		}
		wg.Wait()
		if n := proxy.calls.Load() - before; n != 1 {
			t.Errorf("%d upstream calls for 8 concurrent lookups; want 1", n)
		}
	})
	t.Run("an unknown token is inactive, and the answer is cached too", func(t *testing.T) {
		before := proxy.calls.Load()
		for range 3 {
			if active, _ := ts.introspectActive("not-a-token-anyone-issued"); active {
				t.Fatal("an unknown token is active")
			}
		}
		if n := proxy.calls.Load() - before; n != 1 {
			t.Errorf("%d upstream calls for 3 lookups of an unknown token; want 1", n)
		}
	})
	t.Run("an upstream token exchanges for a latchkey JWT with at most its scope", func(t *testing.T) {
		res := ts.exchange(tokA, accessTokenType, url.Values{"scope": {"email"}})
		if res.Status != http.StatusOK {
			t.Fatalf("exchange: %s", res)
		}
		_, claims := mustVerifyJWT(t, res.json(t)["access_token"].(string), ts.jwks())
		if !strings.HasPrefix(claims["sub"].(string), "legacy:") || claims["scope"] != "email" || claims["idp"] != "legacy" {
			t.Errorf("claims = %v", claims)
		}
		wantOAuthError(t, ts.exchange(tokA, accessTokenType, url.Values{"scope": {"openid"}}), http.StatusBadRequest, "invalid_scope")
	})
	t.Run("upstream down is a 503, never a 500 or an active answer", func(t *testing.T) {
		proxy.down.Store(true)
		defer proxy.down.Store(false)
		tokD := upstreamToken()
		wantOAuthError(t, ts.introspect(tokD), http.StatusServiceUnavailable, "temporarily_unavailable")
		wantOAuthError(t, ts.exchange(tokD, accessTokenType, nil), http.StatusServiceUnavailable, "temporarily_unavailable")
	})
}
