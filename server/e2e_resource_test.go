package server_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/resourceserver"
)

// Resource indicators (RFC 8707): a client names a resource registered in
// `resources:` at /oauth2/authorize and /oauth2/token; the access token's
// aud is its URI, its scope is what the resource accepts, its lifetime at
// most the resource's; anything else is invalid_target.

const (
	mcpResource   = "https://mcp.example.com/mcp"
	otherResource = "https://reports.example.com/"
)

func withResources(c *config.Config) {
	c.Resources = []config.Resource{
		{URI: mcpResource, Scopes: []string{"tools:read", "tools:call"}, AccessTTL: 2 * time.Minute},
		{URI: otherResource},
	}
}

// resourceFixture is the authorization-code fixture with resources and a
// relying party that may ask for the MCP scopes.
func resourceFixture(t *testing.T) (authzFixture, relyingParty) {
	t.Helper()
	f := newAuthzFixture(t, withResources)
	rp := f.ts.newRelyingParty(f.admin, []string{"https://agent.example.com/cb"},
		map[string]any{"scope": "openid profile offline_access tools:read tools:call reports"})
	return f, rp
}

// accessClaims verifies an access JWT with the server's keys.
func (ts *testServer) accessClaims(raw string) map[string]any {
	ts.t.Helper()
	_, c := mustVerifyJWT(ts.t, raw, ts.jwks())
	return c
}

// tokenError posts a token request and checks it is a 400 with code.
func wantTokenError(t *testing.T, ts *testServer, form url.Values, id, secret, code string) {
	t.Helper()
	res := ts.postForm("/oauth2/token", form, id, secret)
	if res.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", res.Status, res)
	}
	if got := res.json(t)["error"]; got != code {
		t.Fatalf("error %v, want %s: %s", got, code, res)
	}
}

func TestResourceAtAuthorizeIsCheckedAndRedirected(t *testing.T) {
	f, rp := resourceFixture(t)
	ts := f.ts
	b := newWebBrowser(t, ts)
	a := rp.authorization("openid tools:read")
	for _, tc := range []struct {
		name string
		a    authRequest
		code string
	}{
		{"an unregistered resource", a.with("resource", "https://evil.example.net/"), "invalid_target"},
		{"a resource that differs by a slash", a.with("resource", mcpResource+"/"), "invalid_target"},
		{"an empty resource", a.with("resource", " "), "invalid_target"},
		{"a scope the resource does not accept", a.with("resource", mcpResource, "scope", "reports"), "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAuthorizeError(t, ts, b.authorize(tc.a), tc.a, tc.code)
		})
	}
	t.Run("two resources", func(t *testing.T) {
		two := a.with("resource", mcpResource)
		two.Params.Add("resource", otherResource)
		wantAuthorizeError(t, ts, b.authorize(two), two, "invalid_target")
	})
}

func TestResourceCodeRefreshAndIntrospection(t *testing.T) {
	f, rp := resourceFixture(t)
	ts := f.ts
	b := newWebBrowser(t, ts)

	// The code flow for the MCP resource: aud, scope and lifetime follow it.
	a := rp.authorization("openid profile offline_access tools:read reports").with("resource", mcpResource)
	code := b.signInForCode(ts, a, authzUser, authzPass)
	tok := rp.mustExchange(t, ts, a, code)
	c := ts.accessClaims(tok.AccessToken)
	if c["aud"] != mcpResource {
		t.Errorf("aud %v, want %s", c["aud"], mcpResource)
	}
	if c["scope"] != "openid profile offline_access tools:read" {
		t.Errorf("scope %q, want the resource's and the OIDC ones only", c["scope"])
	}
	if got := numClaim(t, c, "exp") - numClaim(t, c, "iat"); got != 120 {
		t.Errorf("lifetime %ds, want the resource's 120s", got)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	verifyIDToken(t, ts, rp, tok, a) // the ID token stays the client's

	// Introspection says aud, for the access and the refresh token.
	for name, raw := range map[string]string{"access": tok.AccessToken, "refresh": tok.RefreshToken} {
		res := ts.postForm("/oauth2/introspect", url.Values{"token": {raw}}, rp.ID, rp.Secret)
		m := res.json(t)
		if m["active"] != true || m["aud"] != mcpResource {
			t.Errorf("introspection of the %s token: %s", name, res)
		}
	}
	// latchkey's own endpoints do not take a token for another resource.
	req := ts.newRequest(http.MethodGet, "/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if res := ts.do(req); res.Status != http.StatusUnauthorized {
		t.Errorf("userinfo with a resource's token: %s, want 401", res)
	}

	// A refresh keeps the resource, with or without naming it; naming
	// another is invalid_target and spends nothing.
	refresh := func(extra url.Values) response {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		for k, v := range extra {
			form[k] = v
		}
		return ts.postForm("/oauth2/token", form, rp.ID, rp.Secret)
	}
	wantTokenError(t, ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {otherResource}}, rp.ID, rp.Secret, "invalid_target")
	wantTokenError(t, ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {"https://nope.example/"}}, rp.ID, rp.Secret, "invalid_target")
	for _, extra := range []url.Values{{"resource": {mcpResource}}, {}, {"scope": {"tools:read"}}} {
		res := refresh(extra)
		if res.Status != http.StatusOK {
			t.Fatalf("refresh %v: %s", extra, res)
		}
		m := res.json(t)
		tok.RefreshToken = m["refresh_token"].(string)
		if c := ts.accessClaims(m["access_token"].(string)); c["aud"] != mcpResource {
			t.Errorf("refresh %v: aud %v, want %s", extra, c["aud"], mcpResource)
		}
	}

	// The token request may not name another resource than the code's.
	a2 := rp.authorization("openid tools:read").with("resource", mcpResource)
	code = b.codeWithSession(ts, a2)
	_, err := rp.exchange(ts, a2, code, oauth2.SetAuthURLParam("resource", otherResource))
	wantRetrieveError(t, err, "invalid_target", http.StatusBadRequest)

	// A code for no resource: the token request may bind it to one, and a
	// later refresh cannot move it elsewhere; without any, aud is the
	// server's default (tokens.audience, the issuer).
	a3 := rp.authorization("openid offline_access reports")
	tok3, err := rp.exchange(ts, a3, b.codeAfterConsent(ts, a3), oauth2.SetAuthURLParam("resource", otherResource))
	if err != nil {
		t.Fatal(err)
	}
	if c := ts.accessClaims(tok3.AccessToken); c["aud"] != otherResource || c["scope"] != "openid offline_access reports" {
		t.Errorf("bound at the token endpoint: aud %v scope %v", c["aud"], c["scope"])
	}
	a4 := rp.authorization("openid offline_access")
	tok4 := rp.mustExchange(t, ts, a4, b.codeAfterConsent(ts, a4))
	if c := ts.accessClaims(tok4.AccessToken); c["aud"] != ts.cfg.Issuer {
		t.Errorf("without resource: aud %v, want the issuer", c["aud"])
	}
	wantTokenError(t, ts, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok4.RefreshToken}, "resource": {mcpResource}}, rp.ID, rp.Secret, "invalid_target")
	if _, err := rp.refresh(ts, tok4.RefreshToken); err != nil {
		t.Errorf("the refresh token was spent by a refused request: %v", err)
	}
}

func TestResourceClientCredentials(t *testing.T) {
	f, _ := resourceFixture(t)
	ts := f.ts
	svc := ts.createClient(f.admin, map[string]any{
		"client_name": "svc", "grant_types": []string{"client_credentials"},
		"scope": "tools:read reports", "token_endpoint_auth_method": "client_secret_basic",
	})
	id, secret := svc["client_id"].(string), svc["client_secret"].(string)
	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	res := ts.postForm("/oauth2/token", form("resource", mcpResource), id, secret)
	if res.Status != http.StatusOK {
		t.Fatal(res)
	}
	m := res.json(t)
	c := ts.accessClaims(m["access_token"].(string))
	if c["aud"] != mcpResource || c["scope"] != "tools:read" || m["expires_in"] != float64(120) {
		t.Errorf("aud %v scope %v expires_in %v", c["aud"], c["scope"], m["expires_in"])
	}
	wantTokenError(t, ts, form("resource", "https://nope.example/"), id, secret, "invalid_target")
	wantTokenError(t, ts, form("resource", mcpResource, "resource", otherResource), id, secret, "invalid_target")
	wantTokenError(t, ts, form("resource", mcpResource, "scope", "reports"), id, secret, "invalid_scope")
	tok, err := ts.clientToken(id, secret)
	if err != nil {
		t.Fatal(err)
	}
	if c := ts.accessClaims(tok.AccessToken); c["aud"] != ts.cfg.Issuer {
		t.Errorf("without resource: aud %v", c["aud"])
	}

	// An opaque token's introspection carries its resource too.
	op := ts.createClient(f.admin, map[string]any{
		"client_name": "opaque svc", "grant_types": []string{"client_credentials"}, "access_token_format": "opaque",
		"scope": "reports", "token_endpoint_auth_method": "client_secret_basic",
	})
	res = ts.postForm("/oauth2/token", form("resource", otherResource), op["client_id"].(string), op["client_secret"].(string))
	if res.Status != http.StatusOK {
		t.Fatal(res)
	}
	if _, m := ts.introspectActive(res.json(t)["access_token"].(string)); m["aud"] != otherResource {
		t.Errorf("opaque introspection: aud %v", m["aud"])
	}
}

// The resource-server kit configured for the MCP resource accepts its
// tokens and refuses those of another resource or the default audience.
func TestResourceServerKitRefusesOtherResources(t *testing.T) {
	f, _ := resourceFixture(t)
	ts := f.ts
	svc := ts.createClient(f.admin, map[string]any{
		"client_name": "svc", "grant_types": []string{"client_credentials"},
		"scope": "tools:read reports", "token_endpoint_auth_method": "client_secret_basic",
	})
	id, secret := svc["client_id"].(string), svc["client_secret"].(string)
	token := func(resource string) string {
		form := url.Values{"grant_type": {"client_credentials"}}
		if resource != "" {
			form.Set("resource", resource)
		}
		res := ts.postForm("/oauth2/token", form, id, secret)
		if res.Status != http.StatusOK {
			t.Fatal(res)
		}
		return res.json(t)["access_token"].(string)
	}
	v, err := resourceserver.New(t.Context(), resourceserver.Config{
		Issuer: ts.cfg.Issuer, Audience: mcpResource, HTTPClient: ts.client, Now: ts.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(t.Context(), token(mcpResource)); err != nil || !p.HasScope("tools:read") {
		t.Fatalf("the MCP resource's token: %v %v", p, err)
	}
	for _, r := range []string{otherResource, ""} {
		if _, err := v.Verify(t.Context(), token(r)); !errors.Is(err, resourceserver.ErrInvalidToken) {
			t.Errorf("a token for %q: %v, want ErrInvalidToken", r, err)
		}
	}
}

// codeAfterConsent asks for a code with the browser's session, allowing
// on the consent page when it comes.
func (b *webBrowser) codeAfterConsent(ts *testServer, a authRequest) string {
	b.t.Helper()
	res := b.authorize(a)
	if loc := res.Header.Get("Location"); len(loc) > 0 && loc[0] == '/' {
		res = b.decide(res, "allow")
	}
	code := callback(b.t, ts, res, a).Get("code")
	if code == "" {
		b.t.Fatal("no code in the callback")
	}
	return code
}

// Token exchange names a resource too (RFC 8693 §2.1, RFC 8707): a
// personal access token traded for a JWT bound to the MCP server.
func TestResourceTokenExchange(t *testing.T) {
	ts := startServer(t, withResources)
	tok := ts.passwordToken(adminUser, adminPass, "openid", "latchkey")
	pat := ts.adminJSON(http.MethodPost, "/auth/users/me/tokens/", tok.AccessToken, map[string]any{"name": "ci"})
	if pat.Status != http.StatusCreated {
		t.Fatalf("make a personal access token: %s", pat)
	}
	raw, _ := pat.json(t)["token"].(string)
	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {raw},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	res := ts.postForm("/oauth2/token", form("resource", mcpResource, "scope", "openid"), demoClient, demoSecret)
	if res.Status != http.StatusOK {
		t.Fatalf("exchange for the MCP server: %s", res)
	}
	if c := ts.accessClaims(res.json(t)["access_token"].(string)); c["aud"] != mcpResource {
		t.Fatalf("aud %v, want %s", c["aud"], mcpResource)
	}
	wantTokenError(t, ts, form("resource", "https://nope.example/"), demoClient, demoSecret, "invalid_target")
	wantTokenError(t, ts, form("audience", "someone"), demoClient, demoSecret, "invalid_target")
}
