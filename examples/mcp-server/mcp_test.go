package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/server/servertest"
)

const (
	adminPass  = "admin-pass-123"
	demoSecret = "demo-secret"
	userPass   = "correct-Horse-7"
	otherAPI   = "https://reports.example.com/"
	redirect   = "http://127.0.0.1:9/callback" // a native client's loopback redirect; never reached
)

// startLatchkey runs a real latchkey on a loopback port with resources
// registered, the way server/e2e_helpers_test.go does.
func startLatchkey(t *testing.T, resources []config.Resource) string {
	t.Helper()
	return servertest.Start(t, servertest.Options{
		AdminPassword: adminPass, ClientSecret: demoSecret,
		Mutate: func(c *config.Config) { c.Resources = resources },
	})
}

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (b *browser) send(method, target, contentType, bearer string, body []byte) answer {
	b.t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, raw}
}

func (b *browser) getJSON(target string, out any) {
	b.t.Helper()
	a := b.send(http.MethodGet, target, "", "", nil)
	if a.status != http.StatusOK {
		b.t.Fatalf("GET %s: %d %s", target, a.status, a.body)
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		b.t.Fatalf("GET %s: %v", target, err)
	}
}

// follow answers the hosted pages (login, consent) until latchkey
// redirects to the client, and returns that redirect's query.
func (b *browser) follow(issuer string, a answer, username, password string) url.Values {
	b.t.Helper()
	for range 5 {
		loc := a.header.Get("Location")
		if a.status != http.StatusFound && a.status != http.StatusSeeOther || loc == "" {
			b.t.Fatalf("want a redirect, got %d %s", a.status, a.body)
		}
		if strings.HasPrefix(loc, redirect) {
			u, _ := url.Parse(loc)
			return u.Query()
		}
		target := loc
		if strings.HasPrefix(loc, "/") {
			target = issuer + loc
		}
		page := b.send(http.MethodGet, target, "", "", nil)
		if page.status != http.StatusOK {
			b.t.Fatalf("GET %s: %d %s", target, page.status, page.body)
		}
		form := url.Values{"csrf_token": {hidden(b.t, page.body, "csrf_token")}, "request": {hidden(b.t, page.body, "request")}}
		if strings.HasPrefix(loc, "/login") {
			form.Set("username", username)
			form.Set("password", password)
		} else {
			form.Set("decision", "allow")
		}
		u, _ := url.Parse(target)
		a = b.send(http.MethodPost, issuer+u.Path, "application/x-www-form-urlencoded", "", []byte(form.Encode()))
	}
	b.t.Fatal("too many pages")
	return nil
}

func hidden(t *testing.T, body []byte, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<input type="hidden" name="` + name + `" value="([^"]*)">`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no hidden %s in:\n%s", name, body)
	}
	return html.UnescapeString(string(m[1]))
}

// rpc posts a JSON-RPC request to the MCP endpoint.
func (b *browser) rpc(endpoint, token, method string, params any) answer {
	b.t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	return b.send(http.MethodPost, endpoint, "application/json", token, body)
}

var resourceMetadataParam = regexp.MustCompile(`resource_metadata="([^"]+)"`)

// TestDiscoveryChain walks what an MCP client does, from nothing but the
// server's URL: the 401 names the resource metadata, which names latchkey,
// whose RFC 8414 metadata gives the endpoints; the code flow with PKCE and
// the resource indicator gives a token whose aud is the server; tools
// work with it. Tokens for another resource, or for latchkey's default
// audience, are refused.
func TestDiscoveryChain(t *testing.T) {
	mcp := httptest.NewUnstartedServer(nil)
	resource := "http://" + mcp.Listener.Addr().String() + "/mcp"
	issuer := startLatchkey(t, []config.Resource{
		{URI: resource, Scopes: []string{ScopeRead, ScopeCall}},
		{URI: otherAPI},
	})
	h, err := New(t.Context(), Options{Issuer: issuer, Resource: resource})
	if err != nil {
		t.Fatal(err)
	}
	mcp.Config.Handler = h
	mcp.Start()
	t.Cleanup(mcp.Close)
	b := newBrowser(t)
	setUp(t, b, issuer)

	// 1. No token: 401 naming the resource metadata.
	a := b.rpc(resource, "", "tools/list", nil)
	m := resourceMetadataParam.FindStringSubmatch(a.header.Get("WWW-Authenticate"))
	if a.status != http.StatusUnauthorized || m == nil {
		t.Fatalf("without a token: %d %q", a.status, a.header.Get("WWW-Authenticate"))
	}
	// 2. The Protected Resource Metadata (RFC 9728).
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
		BearerMethods        []string `json:"bearer_methods_supported"`
	}
	b.getJSON(m[1], &prm)
	if prm.Resource != resource || len(prm.AuthorizationServers) != 1 || !slices.Equal(prm.BearerMethods, []string{"header"}) {
		t.Fatalf("metadata %+v", prm)
	}
	// 3. The authorization server's metadata (RFC 8414).
	var as struct {
		Issuer                string   `json:"issuer"`
		AuthorizationEndpoint string   `json:"authorization_endpoint"`
		TokenEndpoint         string   `json:"token_endpoint"`
		CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	}
	b.getJSON(prm.AuthorizationServers[0]+"/.well-known/oauth-authorization-server", &as)
	if as.Issuer != prm.AuthorizationServers[0] || !slices.Contains(as.CodeChallengeMethods, "S256") {
		t.Fatalf("authorization server metadata %+v", as)
	}
	// 4. The code flow with PKCE and the resource indicator, as a public
	// client, through latchkey's login and consent pages.
	clientID := registerClient(t, b, issuer)
	oc := &oauth2.Config{ClientID: clientID, RedirectURL: redirect, Scopes: prm.ScopesSupported,
		Endpoint: oauth2.Endpoint{AuthURL: as.AuthorizationEndpoint, TokenURL: as.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	withResource := oauth2.SetAuthURLParam("resource", prm.Resource)
	authURL := oc.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), withResource)
	q := b.follow(issuer, b.send(http.MethodGet, authURL, "", "", nil), "alice", userPass)
	if q.Get("state") != "state-1" || q.Get("iss") != issuer || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, &http.Client{Timeout: 30 * time.Second})
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier), withResource)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if aud := claims(t, tok.AccessToken)["aud"]; aud != resource {
		t.Fatalf("aud %v, want %s", aud, resource)
	}
	// 5. The tools work with it.
	a = b.rpc(resource, tok.AccessToken, "tools/list", nil)
	if a.status != http.StatusOK || !bytes.Contains(a.body, []byte(`"name":"echo"`)) {
		t.Fatalf("tools/list: %d %s", a.status, a.body)
	}
	a = b.rpc(resource, tok.AccessToken, "tools/call", map[string]any{"name": "echo", "arguments": map[string]string{"text": "hello"}})
	var out struct {
		Result struct {
			Content []struct{ Type, Text string } `json:"content"`
		} `json:"result"`
	}
	if err := json.Unmarshal(a.body, &out); a.status != http.StatusOK || err != nil || len(out.Result.Content) != 1 || out.Result.Content[0].Text != "hello" {
		t.Fatalf("tools/call: %d %s", a.status, a.body)
	}
	// 6. A token for another resource, and one for latchkey's default
	// audience, are refused with the same pointer to the metadata.
	for name, token := range map[string]string{
		"another resource":     clientToken(t, b, issuer, otherAPI),
		"the default audience": clientToken(t, b, issuer, ""),
	} {
		a = b.rpc(resource, token, "tools/list", nil)
		if a.status != http.StatusUnauthorized || !strings.Contains(a.header.Get("WWW-Authenticate"), `error="invalid_token"`) ||
			!resourceMetadataParam.MatchString(a.header.Get("WWW-Authenticate")) {
			t.Errorf("a token for %s: %d %q", name, a.status, a.header.Get("WWW-Authenticate"))
		}
	}
	// 7. A token with tools:read only may list but not call: 403 naming the scope.
	verifier = oauth2.GenerateVerifier()
	oc.Scopes = []string{ScopeRead}
	q = b.follow(issuer, b.send(http.MethodGet, oc.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier), withResource), "", "", nil), "alice", userPass)
	readOnly, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	a = b.rpc(resource, readOnly.AccessToken, "tools/call", map[string]any{"name": "whoami"})
	if a.status != http.StatusForbidden || !strings.Contains(a.header.Get("WWW-Authenticate"), `scope="tools:call"`) {
		t.Errorf("tools/call with tools:read only: %d %q", a.status, a.header.Get("WWW-Authenticate"))
	}
}

// claims decodes a JWT's payload (the server verified it already).
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64URL(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// adminToken is the bootstrapped admin's token (password grant, demo client).
func adminToken(t *testing.T, issuer string) string {
	t.Helper()
	oc := oauth2.Config{ClientID: "demo", ClientSecret: demoSecret,
		Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := oc.PasswordCredentialsToken(t.Context(), "admin", adminPass)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// setUp registers alice through the user API.
func setUp(t *testing.T, b *browser, issuer string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": "alice", "email": "alice@example.com", "password": userPass})
	if a := b.send(http.MethodPost, issuer+"/auth/users/", "application/json", "", body); a.status != http.StatusCreated {
		t.Fatalf("register alice: %d %s", a.status, a.body)
	}
}

// registerClient registers the MCP client: public, PKCE, loopback redirect.
func registerClient(t *testing.T, b *browser, issuer string) string {
	t.Helper()
	return createClient(t, b, issuer, map[string]any{
		"client_name": "MCP agent", "redirect_uris": []string{redirect},
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"scope": "openid tools:read tools:call", "token_endpoint_auth_method": "none",
	})["client_id"].(string)
}

func createClient(t *testing.T, b *browser, issuer string, md map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(md)
	a := b.send(http.MethodPost, issuer+"/admin/clients/", "application/json", adminToken(t, issuer), body)
	if a.status != http.StatusCreated {
		t.Fatalf("create client: %d %s", a.status, a.body)
	}
	var out map[string]any
	if err := json.Unmarshal(a.body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// clientToken is a client_credentials token for resource ("" for none).
func clientToken(t *testing.T, b *browser, issuer, resource string) string {
	t.Helper()
	cl := createClient(t, b, issuer, map[string]any{
		"client_name": "service", "grant_types": []string{"client_credentials"},
		"scope": "tools:read", "token_endpoint_auth_method": "client_secret_post",
	})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {cl["client_id"].(string)}, "client_secret": {cl["client_secret"].(string)}}
	if resource != "" {
		form.Set("resource", resource)
	}
	a := b.send(http.MethodPost, issuer+"/oauth2/token", "application/x-www-form-urlencoded", "", []byte(form.Encode()))
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &out) != nil {
		t.Fatalf("client_credentials: %d %s", a.status, a.body)
	}
	return out.AccessToken
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
