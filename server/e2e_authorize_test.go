package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers/pages"
	"github.com/latchkey-auth/latchkey/sessions"
)

// Browser sign-in over plain HTTP: the refusals and edge cases of
// /oauth2/authorize, the login, consent and logout pages, and the
// authorization_code grant. A webBrowser is a net/http client with a
// cookie jar that does not follow redirects, so every hop is checked; the
// hidden form fields are read from the HTML as a browser would send them.
// (The happy path in a real Chromium is e2e_browser_login_test.go.)

// webBrowser is a browser without JavaScript: cookies, forms, and
// redirects the test follows by hand.
type webBrowser struct {
	t    *testing.T
	base string // where requests go (the server's listener)
	jar  *cookiejar.Jar
	c    *http.Client
}

func newWebBrowser(t *testing.T, ts *testServer) *webBrowser {
	return newWebBrowserAt(t, ts.URL)
}

// newWebBrowserAt is a browser that reaches the server at base.
func newWebBrowserAt(t *testing.T, base string) *webBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(c.CloseIdleConnections)
	return &webBrowser{t: t, base: base, jar: jar, c: c}
}

// abs makes a path absolute on the server.
func (b *webBrowser) abs(target string) string {
	if strings.HasPrefix(target, "/") {
		return b.base + target
	}
	return target
}

func (b *webBrowser) do(req *http.Request) response {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// get sends a GET to a path on the server or an absolute URL.
func (b *webBrowser) get(target string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(target), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form as a browser does.
func (b *webBrowser) post(target string, form url.Values) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.abs(target), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// api calls the user API with the browser's cookies and optional headers.
func (b *webBrowser) api(method, path string, body any, header http.Header) response {
	b.t.Helper()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			b.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.abs(path), r)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

// cookie is the browser's cookie name for the server, or "".
func (b *webBrowser) cookie(name string) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie plants a cookie for the server in the browser.
func (b *webBrowser) setCookie(name, value string) {
	u, _ := url.Parse(b.base)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// setCookies are the cookies a response sets, by name.
func setCookies(res response) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		out[c.Name] = c
	}
	return out
}

// wantNoSessionCookie fails when res sets a login session.
func wantNoSessionCookie(t *testing.T, what string, res response) {
	t.Helper()
	if c, ok := setCookies(res)[sessions.CookieName]; ok && c.Value != "" && c.MaxAge >= 0 {
		t.Errorf("%s set a login session cookie: %v", what, c)
	}
}

// location is the Location of a redirect, failing the test for anything
// else.
func location(t *testing.T, res response) *url.URL {
	t.Helper()
	if res.Status != http.StatusFound && res.Status != http.StatusSeeOther {
		t.Fatalf("want a redirect, got %d %s", res.Status, res.Body)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.Header.Get("Location") == "" {
		t.Fatalf("redirect without a usable Location %q: %v", res.Header.Get("Location"), err)
	}
	return u
}

// hiddenField reads a hidden input's value from a page.
func hiddenField(t *testing.T, body []byte, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<input type="hidden" name="` + regexp.QuoteMeta(name) + `" value="([^"]*)">`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no hidden %s in the page:\n%s", name, body)
	}
	return html.UnescapeString(string(m[1]))
}

// formMessage is the login form's error message, "" when there is none.
func formMessage(body []byte) string {
	m := regexp.MustCompile(`(?s)<div class="error" role="alert" id="form-error">(.*?)</div>`).FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// wantPage checks a hosted page's status, content type and security
// headers and that it redirects nowhere.
func wantPage(t *testing.T, what string, res response, status int) {
	t.Helper()
	if res.Status != status {
		t.Errorf("%s: status %d, want %d: %s", what, res.Status, status, res.Body)
	}
	if loc := res.Header.Get("Location"); loc != "" {
		t.Errorf("%s: Location %q on a page", what, loc)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want an HTML page", what, ct)
	}
	wantPageHeaders(t, what, res.Header.Get)
}

// relyingParty is a client registered for the code flow.
type relyingParty struct {
	ID, Secret  string
	RedirectURI string
	Public      bool
}

// newRelyingParty registers a confidential client with redirect URIs (the
// first is the one the flow uses) through the admin API; extra, if not
// nil, adds or changes metadata.
func (ts *testServer) newRelyingParty(admin string, redirectURIs []string, extra map[string]any) relyingParty {
	ts.t.Helper()
	md := map[string]any{
		"client_name": "Relying party", "redirect_uris": redirectURIs,
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"scope": "openid profile email offline_access", "token_endpoint_auth_method": "client_secret_basic",
	}
	for k, v := range extra {
		md[k] = v
	}
	got := ts.createClient(admin, md)
	rp := relyingParty{ID: got["client_id"].(string), RedirectURI: redirectURIs[0], Public: md["token_endpoint_auth_method"] == "none"}
	rp.Secret, _ = got["client_secret"].(string)
	return rp
}

// config is the relying party's x/oauth2 configuration on ts.
func (rp relyingParty) config(ts *testServer, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if rp.Public {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: rp.ID, ClientSecret: rp.Secret, RedirectURL: rp.RedirectURI, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: ts.URL + pages.AuthorizePath, TokenURL: ts.URL + "/oauth2/token", AuthStyle: style},
	}
}

// authRequest is an authorization request the relying party makes: its
// parameters and the PKCE verifier it keeps.
type authRequest struct {
	Params   url.Values
	Verifier string
}

// oddState is a state value with characters that need escaping: it must
// come back unchanged (all VSCHAR, RFC 6749 Appendix A.5).
const oddState = "st a+te/?&=#%25\"<'>~"

// authorization starts an authorization request with PKCE S256, a state
// and a nonce.
func (rp relyingParty) authorization(scope string) authRequest {
	v := oauth2.GenerateVerifier()
	return authRequest{Verifier: v, Params: url.Values{
		"response_type": {"code"}, "client_id": {rp.ID}, "redirect_uri": {rp.RedirectURI},
		"scope": {scope}, "state": {oddState + oauth2.GenerateVerifier()[:8]}, "nonce": {"n-" + oauth2.GenerateVerifier()[:16]},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"},
	}}
}

// with returns the request with parameters changed ("" deletes one).
func (a authRequest) with(kv ...string) authRequest {
	p := url.Values{}
	for k, v := range a.Params {
		p[k] = slices.Clone(v)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			p.Del(kv[i])
		} else {
			p.Set(kv[i], kv[i+1])
		}
	}
	return authRequest{Params: p, Verifier: a.Verifier}
}

// authorize sends the browser to the authorization endpoint.
func (b *webBrowser) authorize(a authRequest) response {
	b.t.Helper()
	return b.get(pages.AuthorizePath + "?" + a.Params.Encode())
}

// callback checks that res sends the browser back to the relying party's
// redirect URI and returns the parameters it carries, after checking iss
// (RFC 9207) and that state came back unchanged.
func callback(t *testing.T, ts *testServer, res response, a authRequest) url.Values {
	t.Helper()
	u := location(t, res)
	want, _ := url.Parse(a.Params.Get("redirect_uri"))
	if u.Scheme != want.Scheme || u.Host != want.Host || u.Path != want.Path {
		t.Fatalf("redirected to %s, want the redirect URI %s", u, want)
	}
	q := u.Query()
	if q.Get("iss") != ts.cfg.Issuer {
		t.Errorf("iss %q, want %q (%s)", q.Get("iss"), ts.cfg.Issuer, u)
	}
	if len(q["state"]) != 1 || q.Get("state") != a.Params.Get("state") {
		t.Errorf("state %q, want %q unchanged", q["state"], a.Params.Get("state"))
	}
	return q
}

// wantAuthorizeError checks that res sends error code back to the client
// with a description, the state and iss, and no code.
func wantAuthorizeError(t *testing.T, ts *testServer, res response, a authRequest, code string) {
	t.Helper()
	q := callback(t, ts, res, a)
	if q.Get("error") != code {
		t.Errorf("error %q (%s), want %q", q.Get("error"), q.Get("error_description"), code)
	}
	if q.Get("error_description") == "" {
		t.Errorf("%s without error_description", code)
	}
	if q.Has("code") {
		t.Errorf("an error carries a code: %v", q)
	}
}

// wantRedirectTo checks that res sends the browser to path on the server
// and returns the redirect's query.
func wantRedirectTo(t *testing.T, res response, path string) url.Values {
	t.Helper()
	u := location(t, res)
	if u.Host != "" || u.Path != path {
		t.Fatalf("redirected to %s, want %s", u, path)
	}
	return u.Query()
}

// submitLogin fills the login page res redirected to (GET) with the
// credentials and returns the answer to the POST.
func (b *webBrowser) submitLogin(res response, username, password string) response {
	b.t.Helper()
	wantRedirectTo(b.t, res, pages.LoginPath)
	page := b.get(location(b.t, res).String())
	wantPage(b.t, "login page", page, http.StatusOK)
	form := url.Values{
		"csrf_token": {hiddenField(b.t, page.Body, "csrf_token")}, "request": {hiddenField(b.t, page.Body, "request")},
		"username": {username}, "password": {password},
	}
	return b.post(pages.LoginPath, form)
}

// decide answers the consent page res redirected to with decision.
func (b *webBrowser) decide(res response, decision string) response {
	b.t.Helper()
	wantRedirectTo(b.t, res, pages.ConsentPath)
	page := b.get(location(b.t, res).String())
	wantPage(b.t, "consent page", page, http.StatusOK)
	for _, d := range []string{"allow", "deny"} {
		if !bytes.Contains(page.Body, []byte(`name="decision" value="`+d+`"`)) {
			b.t.Errorf("the consent page has no button[name=decision][value=%s]", d)
		}
	}
	return b.post(pages.ConsentPath, url.Values{
		"csrf_token": {hiddenField(b.t, page.Body, "csrf_token")}, "request": {hiddenField(b.t, page.Body, "request")},
		"decision": {decision},
	})
}

// signInForCode runs a first sign-in: authorize → login → consent (when
// asked) → the code.
func (b *webBrowser) signInForCode(ts *testServer, a authRequest, username, password string) string {
	b.t.Helper()
	res := b.submitLogin(b.authorize(a), username, password)
	if loc := res.Header.Get("Location"); strings.HasPrefix(loc, pages.ConsentPath) {
		res = b.decide(res, "allow")
	}
	q := callback(b.t, ts, res, a)
	if q.Get("code") == "" {
		b.t.Fatalf("no code in the callback: %v", q)
	}
	return q.Get("code")
}

// codeWithSession asks for a code with the browser's session and
// remembered consent: the answer is the code at once, no page.
func (b *webBrowser) codeWithSession(ts *testServer, a authRequest) string {
	b.t.Helper()
	q := callback(b.t, ts, b.authorize(a), a)
	if q.Get("code") == "" {
		b.t.Fatalf("no code in the callback: %v", q)
	}
	return q.Get("code")
}

// exchange redeems a code with x/oauth2.
func (rp relyingParty) exchange(ts *testServer, a authRequest, code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	if a.Verifier != "" {
		opts = append([]oauth2.AuthCodeOption{oauth2.VerifierOption(a.Verifier)}, opts...)
	}
	return rp.config(ts).Exchange(ts.ctx(), code, opts...)
}

// mustExchange is exchange that fails the test.
func (rp relyingParty) mustExchange(t *testing.T, ts *testServer, a authRequest, code string) *oauth2.Token {
	t.Helper()
	tok, err := rp.exchange(ts, a, code)
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	return tok
}

// idTokenClaims are the claims of an ID token the tests look at.
type idTokenClaims struct {
	Nonce    string   `json:"nonce"`
	SID      string   `json:"sid"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time"`
}

// verifyIDToken verifies the token's id_token with go-oidc for rp, checks
// its nonce against the request's, and returns its claims.
func verifyIDToken(t *testing.T, ts *testServer, rp relyingParty, tok *oauth2.Token, a authRequest) (*oidc.IDToken, idTokenClaims) {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the token response has no id_token")
	}
	ctx := oidc.ClientContext(context.Background(), ts.client)
	p, err := oidc.NewProvider(ctx, ts.cfg.Issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	// The test clock may be ahead of the wall clock.
	idt, err := p.Verifier(&oidc.Config{ClientID: rp.ID, Now: ts.Clock.Now}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	var c idTokenClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if idt.Nonce != a.Params.Get("nonce") || c.Nonce != a.Params.Get("nonce") {
		t.Errorf("nonce %q, want %q", idt.Nonce, a.Params.Get("nonce"))
	}
	return idt, c
}

// introspectAs asks the introspection endpoint about token as a client.
func (ts *testServer) introspectAs(rp relyingParty, token string) bool {
	ts.t.Helper()
	res := ts.postForm("/oauth2/introspect", url.Values{"token": {token}}, rp.ID, rp.Secret)
	if res.Status != http.StatusOK {
		ts.t.Fatalf("introspect: %s", res)
	}
	active, _ := res.json(ts.t)["active"].(bool)
	return active
}

// refreshAs runs the refresh_token grant for rp with x/oauth2.
func (rp relyingParty) refresh(ts *testServer, refreshToken string) (*oauth2.Token, error) {
	expired := &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Hour)}
	return rp.config(ts).TokenSource(ts.ctx(), expired).Token()
}

// signedIn reports whether the browser's session authenticates the user
// API, and as whom.
func (b *webBrowser) signedIn() (bool, string) {
	b.t.Helper()
	res := b.api(http.MethodGet, "/auth/users/me/", nil, nil)
	switch res.Status {
	case http.StatusOK:
		name, _ := res.json(b.t)["username"].(string)
		return true, name
	case http.StatusUnauthorized:
		return false, ""
	}
	b.t.Fatalf("/auth/users/me/: %s", res)
	return false, ""
}

// wantSignedOut checks that the browser has no usable session: the user
// API refuses it and an authorization request goes to the login page.
func (b *webBrowser) wantSignedOut(what string, a authRequest) {
	b.t.Helper()
	if in, _ := b.signedIn(); in {
		b.t.Errorf("%s: the session still authenticates /auth/users/me/", what)
	}
	wantRedirectTo(b.t, b.authorize(a), pages.LoginPath)
}

// authzFixture is a server with a user, an admin token and a
// confidential relying party that needs consent.
type authzFixture struct {
	ts    *testServer
	admin string
	rp    relyingParty
}

const (
	authzUser = "ana"
	authzPass = "ana-pass-1234"
)

func newAuthzFixture(t *testing.T, mutate func(*config.Config)) authzFixture {
	t.Helper()
	ts := startServer(t, mutate)
	ts.createUser(authzUser, authzPass, false)
	admin := ts.adminToken()
	rp := ts.newRelyingParty(admin, []string{"https://app.example.com/cb", "https://app.example.com/other"},
		map[string]any{"post_logout_redirect_uris": []string{"https://app.example.com/bye"}})
	return authzFixture{ts: ts, admin: admin, rp: rp}
}

// The code flow over HTTP, hop by hop: authorize → login page → consent
// → code → token (PKCE) → an ID token go-oidc accepts, with nonce, sid,
// amr and auth_time; then a second request with the session and the
// remembered consent gets a code at once.
func TestAuthorizeCodeFlowOverHTTP(t *testing.T) {
	runCodeFlow(t, newAuthzFixture(t, nil))
}

// runCodeFlow is the full flow on f's server, whatever its stores.
func runCodeFlow(t *testing.T, f authzFixture) {
	ts, rp := f.ts, f.rp
	b := newWebBrowser(t, ts)
	a := rp.authorization("openid profile offline_access")
	res := b.authorize(a)
	wantRedirectTo(t, res, pages.LoginPath)
	loginAt := ts.Clock.Now()
	res = b.submitLogin(res, authzUser, authzPass)
	if res.Status != http.StatusSeeOther {
		t.Errorf("the login POST answers %d, want 303 (a GET follows)", res.Status)
	}
	ck := setCookies(res)[sessions.CookieName]
	if ck == nil || ck.Value == "" {
		t.Fatalf("the login set no %s cookie: %v", sessions.CookieName, res.Header["Set-Cookie"])
	}
	code := callback(t, ts, b.decide(res, "allow"), a).Get("code")
	if !strings.HasPrefix(code, "lk_ac_") {
		t.Fatalf("code %q", code)
	}
	tok := rp.mustExchange(t, ts, a, code)
	if tok.RefreshToken == "" {
		t.Error("offline_access was granted but no refresh token came")
	}
	idt, c := verifyIDToken(t, ts, rp, tok, a)
	if idt.Subject != itoa(ts.user(authzUser).ID) {
		t.Errorf("sub %q, want the user's ID %d", idt.Subject, ts.user(authzUser).ID)
	}
	if c.SID == "" || !slices.Contains(c.AMR, "pwd") || c.AuthTime != loginAt.Unix() {
		t.Errorf("sid %q, amr %v, auth_time %d (want a sid, pwd, %d)", c.SID, c.AMR, c.AuthTime, loginAt.Unix())
	}
	if !ts.introspectAs(rp, tok.AccessToken) {
		t.Error("the access token is not active")
	}

	// Signed in and consented: the next request is answered with a code at
	// once, in the same session.
	ts.Clock.Advance(5 * time.Second)
	a2 := rp.authorization("openid profile")
	tok2 := rp.mustExchange(t, ts, a2, b.codeWithSession(ts, a2))
	_, c2 := verifyIDToken(t, ts, rp, tok2, a2)
	if c2.SID != c.SID || c2.AuthTime != c.AuthTime {
		t.Errorf("second code: sid %q auth_time %d, want the session's %q %d", c2.SID, c2.AuthTime, c.SID, c.AuthTime)
	}
	if tok2.RefreshToken != "" {
		t.Error("a refresh token without offline_access")
	}
}

// An unknown client or a redirect URI that is not registered, exactly, is
// a 400 page and never a redirect: open-redirect variants included. A
// loopback IP literal may change its port (RFC 8252 §7.3), nothing else.
func TestAuthorizeUnregisteredRedirectURIIsAPage(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts := f.ts
	b := newWebBrowser(t, ts)
	a := f.rp.authorization("openid")
	for name, uri := range map[string]string{
		"unregistered":             "https://evil.example.net/cb",
		"trailing slash":           "https://app.example.com/cb/",
		"host in upper case":       "https://APP.example.com/cb",
		"path in upper case":       "https://app.example.com/CB",
		"extra query":              "https://app.example.com/cb?next=https://evil.example.net",
		"userinfo before host":     "https://evil.example.net@app.example.com/cb",
		"host as userinfo":         "https://app.example.com@evil.example.net/cb",
		"fragment":                 "https://app.example.com/cb#x",
		"another port":             "https://app.example.com:8443/cb",
		"explicit default port":    "https://app.example.com:443/cb",
		"http instead of https":    "http://app.example.com/cb",
		"path suffix":              "https://app.example.com/cb/../evil",
		"encoded path":             "https://app.example.com/%63b",
		"sibling host":             "https://app.example.com.evil.example.net/cb",
		"loopback name, not an IP": "http://localhost:9999/callback",
	} {
		res := b.authorize(a.with("redirect_uri", uri))
		wantPage(t, name, res, http.StatusBadRequest)
		if bytes.Contains(res.Body, []byte("evil.example.net")) {
			t.Errorf("%s: the page echoes the unregistered URI", name)
		}
	}
	// localhost (a name) is not a loopback literal: the demo client's
	// http://localhost:8080/callback only matches exactly.
	demo := relyingParty{ID: demoClient, Secret: demoSecret, RedirectURI: "http://localhost:8080/callback"}
	da := demo.authorization("openid")
	wantPage(t, "localhost, other port", b.authorize(da.with("redirect_uri", "http://localhost:8081/callback")), http.StatusBadRequest)
	for name, uri := range map[string]string{
		"loopback, other port, other path": "http://127.0.0.1:4000/callbackx",
		"loopback, other port, query":      "http://127.0.0.1:4000/callback?x=1",
		"loopback, userinfo":               "http://u@127.0.0.1:4000/callback",
		"loopback, https":                  "https://127.0.0.1:4000/callback",
		"loopback, other IP family":        "http://[::1]:4000/callback",
	} {
		wantPage(t, name, b.authorize(da.with("redirect_uri", uri)), http.StatusBadRequest)
	}
	// The registered loopback URI with any port is accepted: the request
	// goes on to the login page.
	for _, uri := range []string{"http://127.0.0.1/callback", "http://127.0.0.1:54321/callback", "http://127.0.0.1:8080/callback"} {
		wantRedirectTo(t, b.authorize(da.with("redirect_uri", uri)), pages.LoginPath)
	}

	// An unknown client: a page, even with a redirect URI.
	res := b.authorize(a.with("client_id", "no-such-client"))
	wantPage(t, "unknown client", res, http.StatusBadRequest)
	res = b.authorize(a.with("client_id", ""))
	wantPage(t, "no client_id", res, http.StatusBadRequest)
	// A redirect URI registered for another client is not this client's.
	other := ts.newRelyingParty(f.admin, []string{"https://other.example.org/cb"}, nil)
	wantPage(t, "another client's redirect URI", b.authorize(a.with("redirect_uri", other.RedirectURI)), http.StatusBadRequest)
	// With several registered URIs, leaving redirect_uri out is refused.
	wantPage(t, "no redirect_uri, several registered", b.authorize(a.with("redirect_uri", "")), http.StatusBadRequest)
}

// Every other error goes back to the client (RFC 6749 §4.1.2.1): error,
// error_description, the state unchanged and iss (RFC 9207).
func TestAuthorizeErrorsGoBackToTheClient(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts := f.ts
	public := ts.newRelyingParty(f.admin, []string{"http://127.0.0.1/native/cb"}, map[string]any{"token_endpoint_auth_method": "none"})
	narrow := ts.newRelyingParty(f.admin, []string{"https://narrow.example.com/cb"}, map[string]any{"scope": "openid profile"})
	b := newWebBrowser(t, ts)
	a, pa := f.rp.authorization("openid"), public.authorization("openid")
	for _, tc := range []struct {
		name string
		a    authRequest
		code string
	}{
		{"response_type=token", a.with("response_type", "token"), "unsupported_response_type"},
		{"response_type=id_token", a.with("response_type", "id_token"), "unsupported_response_type"},
		{"response_type=code token", a.with("response_type", "code token"), "unsupported_response_type"},
		{"no response_type", a.with("response_type", ""), "invalid_request"},
		{"public client without code_challenge", pa.with("code_challenge", "", "code_challenge_method", ""), "invalid_request"},
		{"public client, plain", pa.with("code_challenge", pa.Verifier, "code_challenge_method", "plain"), "invalid_request"},
		{"confidential client, plain", a.with("code_challenge", a.Verifier, "code_challenge_method", "plain"), "invalid_request"},
		{"challenge without method (plain by default)", pa.with("code_challenge", pa.Verifier, "code_challenge_method", ""), "invalid_request"},
		{"unknown challenge method", a.with("code_challenge_method", "S512"), "invalid_request"},
		{"short challenge", a.with("code_challenge", "abc"), "invalid_request"},
		// Scopes the client may not ask for are dropped when others remain
		// (RFC 6749 §3.3, docs/permissions.md); only them is invalid_scope.
		{"only scopes the client may not ask for", narrow.authorization("email"), "invalid_scope"},
		{"only the API scope, for a third-party client", a.with("scope", "latchkey"), "invalid_scope"},
		{"prompt=none without a session", a.with("prompt", "none"), "login_required"},
		{"unknown prompt", a.with("prompt", "select_account"), "invalid_request"},
		{"prompt=none with login", a.with("prompt", "none login"), "invalid_request"},
		{"negative max_age", a.with("max_age", "-1"), "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAuthorizeError(t, ts, b.authorize(tc.a), tc.a, tc.code)
		})
	}

	// An error without a state carries none.
	res := b.authorize(a.with("state", "", "response_type", "token"))
	if q := location(t, res).Query(); q.Has("state") || q.Get("error") != "unsupported_response_type" {
		t.Errorf("no state sent: %v", q)
	}
	// A redirect_uri given twice (a registered one and another) cannot be
	// trusted: a page, no redirect to either.
	res = b.get(pages.AuthorizePath + "?" + a.Params.Encode() + "&redirect_uri=" + url.QueryEscape("https://evil.example.net/cb"))
	wantPage(t, "redirect_uri twice", res, http.StatusBadRequest)

	// prompt=none with a session but no consent for this client yet.
	wantRedirectTo(t, b.post(pages.LoginPath, loginForm(t, b, authzUser, authzPass)), pages.LoginPath)
	if in, name := b.signedIn(); !in || name != authzUser {
		t.Fatalf("signed in at /login: %v %q", in, name)
	}
	wantAuthorizeError(t, ts, b.authorize(a.with("prompt", "none")), a, "consent_required")
	// Nothing was asked of the user, and nothing was remembered: without
	// prompt=none the consent page comes.
	wantRedirectTo(t, b.authorize(a), pages.ConsentPath)
}

// loginForm is the login page's form (no authorization request) filled in.
func loginForm(t *testing.T, b *webBrowser, username, password string) url.Values {
	t.Helper()
	page := b.get(pages.LoginPath)
	wantPage(t, "login page", page, http.StatusOK)
	return url.Values{"csrf_token": {hiddenField(t, page.Body, "csrf_token")}, "username": {username}, "password": {password}}
}

// prompt=login and max_age=0 send a signed-in user to the login page
// again; after that login the flow completes (no loop) with the new
// login's auth_time. Denying consent answers access_denied.
func TestAuthorizeForcedLoginAndDeny(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts, rp := f.ts, f.rp
	b := newWebBrowser(t, ts)
	a := rp.authorization("openid")
	_, first := verifyIDToken(t, ts, rp, rp.mustExchange(t, ts, a, b.signInForCode(ts, a, authzUser, authzPass)), a)

	for _, force := range []string{"prompt=login", "max_age=0"} {
		t.Run(force, func(t *testing.T) {
			ts.Clock.Advance(10 * time.Second)
			k, v, _ := strings.Cut(force, "=")
			a := rp.authorization("openid").with(k, v)
			res := b.authorize(a)
			wantRedirectTo(t, res, pages.LoginPath)
			loginAt := ts.Clock.Now()
			// The login answers the client at once: the consent is
			// remembered, and the login just made satisfies the request.
			res = b.submitLogin(res, authzUser, authzPass)
			q := callback(t, ts, res, a)
			if q.Get("code") == "" {
				t.Fatalf("after the forced login: %v", q)
			}
			_, c := verifyIDToken(t, ts, rp, rp.mustExchange(t, ts, a, q.Get("code")), a)
			if c.AuthTime != loginAt.Unix() || c.AuthTime <= first.AuthTime {
				t.Errorf("auth_time %d, want the new login's %d", c.AuthTime, loginAt.Unix())
			}
			if c.SID == first.SID {
				t.Error("the new login kept the old session's sid")
			}
		})
	}

	// prompt=none with a session and the consent: a code, silently.
	a = rp.authorization("openid").with("prompt", "none")
	if q := callback(t, ts, b.authorize(a), a); q.Get("code") == "" || q.Has("error") {
		t.Errorf("prompt=none, signed in and consented: %v", q)
	}

	// max_age that the session meets: no login page.
	ts.Clock.Advance(10 * time.Second)
	a = rp.authorization("openid").with("max_age", "3600")
	if q := callback(t, ts, b.authorize(a), a); q.Get("code") == "" {
		t.Errorf("max_age=3600 with a fresh session: %v", q)
	}

	// prompt=consent shows the consent page again; deny answers
	// access_denied, and the remembered consent still stands.
	a = rp.authorization("openid").with("prompt", "consent")
	res := b.authorize(a)
	wantAuthorizeError(t, ts, b.decide(res, "deny"), a, "access_denied")
	a = rp.authorization("openid")
	if q := callback(t, ts, b.authorize(a), a); q.Get("code") == "" {
		t.Errorf("after a denied prompt=consent: %v", q)
	}
	// A first-time request for a new scope, denied.
	a = rp.authorization("openid email")
	wantAuthorizeError(t, ts, b.decide(b.authorize(a), "deny"), a, "access_denied")
}

// The token endpoint refuses every code that does not fit with
// invalid_grant: a wrong or missing PKCE verifier, a replay (which also
// revokes what the first redemption gave), an expired code, another
// client's code, another redirect URI.
func TestAuthorizationCodeRefusals(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts, rp := f.ts, f.rp
	b := newWebBrowser(t, ts)
	a := rp.authorization("openid offline_access")
	rp.mustExchange(t, ts, a, b.signInForCode(ts, a, authzUser, authzPass))
	fresh := func() (authRequest, string) {
		a := rp.authorization("openid offline_access")
		return a, b.codeWithSession(ts, a)
	}

	t.Run("wrong verifier", func(t *testing.T) {
		a, code := fresh()
		_, err := rp.exchange(ts, authRequest{}, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
		// The code is used up by the failed attempt.
		_, err = rp.exchange(ts, a, code)
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("missing verifier", func(t *testing.T) {
		_, code := fresh()
		_, err := rp.exchange(ts, authRequest{}, code)
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("the challenge as the verifier", func(t *testing.T) {
		a, code := fresh()
		_, err := rp.exchange(ts, authRequest{}, code, oauth2.VerifierOption(a.Params.Get("code_challenge")))
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("replay revokes the first tokens", func(t *testing.T) {
		a, code := fresh()
		tok := rp.mustExchange(t, ts, a, code)
		if !ts.introspectAs(rp, tok.AccessToken) || tok.RefreshToken == "" {
			t.Fatal("the first redemption gave no usable tokens")
		}
		_, err := rp.exchange(ts, a, code)
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
		if ts.introspectAs(rp, tok.AccessToken) {
			t.Error("the access token of a replayed code is still active")
		}
		if ts.introspectAs(rp, tok.RefreshToken) {
			t.Error("the refresh token of a replayed code is still active")
		}
		_, err = rp.refresh(ts, tok.RefreshToken)
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("expired", func(t *testing.T) {
		a, code := fresh()
		ts.Clock.Advance(61 * time.Second)
		_, err := rp.exchange(ts, a, code)
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("just before expiry", func(t *testing.T) {
		a, code := fresh()
		ts.Clock.Advance(59 * time.Second)
		rp.mustExchange(t, ts, a, code)
	})
	t.Run("another client's code", func(t *testing.T) {
		other := ts.newRelyingParty(f.admin, []string{rp.RedirectURI}, nil)
		a, code := fresh()
		_, err := other.exchange(ts, a, code)
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("another registered redirect_uri", func(t *testing.T) {
		a, code := fresh()
		_, err := rp.exchange(ts, a, code, oauth2.SetAuthURLParam("redirect_uri", "https://app.example.com/other"))
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("an unregistered redirect_uri", func(t *testing.T) {
		a, code := fresh()
		_, err := rp.exchange(ts, a, code, oauth2.SetAuthURLParam("redirect_uri", rp.RedirectURI+"/"))
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("a forged code", func(t *testing.T) {
		a, _ := fresh()
		_, err := rp.exchange(ts, a, "lk_ac_"+oauth2.GenerateVerifier())
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("a verifier for a code issued without PKCE", func(t *testing.T) {
		a := rp.authorization("openid").with("code_challenge", "", "code_challenge_method", "")
		code := b.codeWithSession(ts, a)
		_, err := rp.exchange(ts, authRequest{}, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("a confidential client without PKCE", func(t *testing.T) {
		a := rp.authorization("openid").with("code_challenge", "", "code_challenge_method", "")
		rp.mustExchange(t, ts, authRequest{Params: a.Params}, b.codeWithSession(ts, a))
	})
}

// The login form refuses a POST without its CSRF token (403, no session),
// answers an unknown user and a wrong password with the same message and
// no session, and is rate limited as the password grant is (429).
func TestLoginPageRefusals(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts, rp := f.ts, f.rp
	b := newWebBrowser(t, ts)
	a := rp.authorization("openid")
	res := b.authorize(a)
	wantRedirectTo(t, res, pages.LoginPath)
	page := b.get(location(t, res).String())
	wantPage(t, "login page", page, http.StatusOK)
	for _, hook := range []string{`name="username"`, `name="password"`, `name="csrf_token"`} {
		if !bytes.Contains(page.Body, []byte(hook)) {
			t.Errorf("the login page has no input %s", hook)
		}
	}
	request := hiddenField(t, page.Body, "request")
	token := hiddenField(t, page.Body, "csrf_token")

	t.Run("no csrf token", func(t *testing.T) {
		for name, form := range map[string]url.Values{
			"no token":      {"request": {request}, "username": {authzUser}, "password": {authzPass}},
			"a wrong token": {"csrf_token": {token[:len(token)-2] + "AA"}, "request": {request}, "username": {authzUser}, "password": {authzPass}},
		} {
			res := b.post(pages.LoginPath, form)
			wantPage(t, name, res, http.StatusForbidden)
			wantNoSessionCookie(t, name, res)
			if in, _ := b.signedIn(); in {
				t.Fatalf("%s: signed in", name)
			}
		}
		// Another browser's token does not work with this browser's cookie.
		other := newWebBrowser(t, ts)
		theirs := hiddenField(t, other.get(pages.LoginPath).Body, "csrf_token")
		res := b.post(pages.LoginPath, url.Values{"csrf_token": {theirs}, "request": {request}, "username": {authzUser}, "password": {authzPass}})
		wantPage(t, "another browser's token", res, http.StatusForbidden)
		wantNoSessionCookie(t, "another browser's token", res)
	})

	t.Run("wrong credentials", func(t *testing.T) {
		ts.createUser("bea", "bea-pass-1234", false)
		var msgs []string
		for name, creds := range map[string][2]string{
			"unknown user":   {"nobody-here", "whatever-pass-1"},
			"wrong password": {"bea", "not-her-pass-1"},
		} {
			res := b.post(pages.LoginPath, url.Values{"csrf_token": {token}, "request": {request}, "username": {creds[0]}, "password": {creds[1]}})
			wantPage(t, name, res, http.StatusBadRequest)
			wantNoSessionCookie(t, name, res)
			msg := formMessage(res.Body)
			if msg == "" {
				t.Fatalf("%s: no message on the page:\n%s", name, res.Body)
			}
			// The form comes back, ready for another try.
			if hiddenField(t, res.Body, "request") != request || hiddenField(t, res.Body, "csrf_token") == "" {
				t.Errorf("%s: the form lost its hidden fields", name)
			}
			msgs = append(msgs, msg)
		}
		if msgs[0] != msgs[1] {
			t.Errorf("the messages differ: %q / %q", msgs[0], msgs[1])
		}
		if in, _ := b.signedIn(); in {
			t.Fatal("signed in after wrong credentials")
		}
	})

	t.Run("rate limited", func(t *testing.T) {
		ts.createUser("cy", "cy-pass-1234", false)
		limited := false
		for i := 0; i < 12 && !limited; i++ {
			res := b.post(pages.LoginPath, url.Values{"csrf_token": {token}, "request": {request}, "username": {"cy"}, "password": {"wrong-pass-123"}})
			switch res.Status {
			case http.StatusBadRequest:
			case http.StatusTooManyRequests:
				limited = true
				wantPage(t, "rate limited", res, http.StatusTooManyRequests)
				if res.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
			default:
				t.Fatalf("attempt %d: %s", i, res)
			}
		}
		if !limited {
			t.Fatal("12 wrong passwords and no 429")
		}
		// While blocked, even the right password is refused.
		res := b.post(pages.LoginPath, url.Values{"csrf_token": {token}, "request": {request}, "username": {"cy"}, "password": {"cy-pass-1234"}})
		if res.Status != http.StatusTooManyRequests {
			t.Errorf("the right password while blocked: %d", res.Status)
		}
		wantNoSessionCookie(t, "blocked", res)
		// The same counters as the password grant.
		_, err := ts.passwordConfig("openid").PasswordCredentialsToken(ts.ctx(), "cy", "cy-pass-1234")
		wantRetrieveError(t, err, "rate_limited", http.StatusTooManyRequests)
	})

	t.Run("empty form", func(t *testing.T) {
		res := b.post(pages.LoginPath, url.Values{"csrf_token": {token}, "request": {request}})
		wantPage(t, "empty", res, http.StatusBadRequest)
		wantNoSessionCookie(t, "empty", res)
	})
	t.Run("unknown request", func(t *testing.T) {
		res := b.post(pages.LoginPath, url.Values{"csrf_token": {token}, "request": {"no-such-request"}, "username": {authzUser}, "password": {authzPass}})
		wantPage(t, "unknown request", res, http.StatusBadRequest)
		wantNoSessionCookie(t, "unknown request", res)
	})

	// After all that, the right password signs in and the request goes on.
	res = b.post(pages.LoginPath, url.Values{"csrf_token": {token}, "request": {request}, "username": {authzUser}, "password": {authzPass}})
	wantRedirectTo(t, res, pages.ConsentPath)
}

// The session cookie's flags (HttpOnly, SameSite=Lax, Path=/, Secure only
// with an https issuer), and its value changes at every login: a value
// the browser had before, planted or real, is worth nothing after.
func TestLoginSessionCookie(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts, rp := f.ts, f.rp
	b := newWebBrowser(t, ts)
	// A value planted before the login (session fixation).
	const planted = "attacker-chosen-session-value-0123456789"
	b.setCookie(sessions.CookieName, planted)
	if in, _ := b.signedIn(); in {
		t.Fatal("a planted cookie authenticates")
	}
	res := b.post(pages.LoginPath, loginForm(t, b, authzUser, authzPass))
	wantRedirectTo(t, res, pages.LoginPath)
	ck := setCookies(res)[sessions.CookieName]
	if ck == nil {
		t.Fatalf("no session cookie: %v", res.Header["Set-Cookie"])
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || ck.Domain != "" {
		t.Errorf("cookie flags: HttpOnly %v SameSite %v Path %q Secure %v Domain %q; want HttpOnly, Lax, /, not Secure on http, host-only",
			ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, ck.Domain)
	}
	if ck.Value == planted || len(ck.Value) < 32 {
		t.Errorf("session value %q: kept the planted one or too short", ck.Value)
	}
	if in, name := b.signedIn(); !in || name != authzUser {
		t.Fatalf("the new cookie does not authenticate: %v %q", in, name)
	}
	// The signed-in page is a page too.
	wantPage(t, "signed-in page", b.get(pages.LoginPath), http.StatusOK)

	// A second login rotates the value; the first is dead.
	first := b.cookie(sessions.CookieName)
	a := rp.authorization("openid").with("prompt", "login")
	res = b.submitLogin(b.authorize(a), authzUser, authzPass)
	second := setCookies(res)[sessions.CookieName]
	if second == nil || second.Value == first {
		t.Fatalf("the session value did not change at the second login")
	}
	old := newWebBrowser(t, ts)
	old.setCookie(sessions.CookieName, first)
	if in, _ := old.signedIn(); in {
		t.Error("the session value of before the login still authenticates")
	}
	if in, _ := b.signedIn(); !in {
		t.Error("the rotated value does not authenticate")
	}

	// With an https issuer (behind a TLS proxy) the cookie is Secure.
	tls := startServer(t, func(c *config.Config) { c.Issuer = "https://login.example.com" })
	tls.createUser(authzUser, authzPass, false)
	tb := newWebBrowserAt(t, "http://"+tls.Addr)
	res = tb.post(pages.LoginPath, loginForm(t, tb, authzUser, authzPass))
	if ck := setCookies(res)[sessions.CookieName]; ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("https issuer: session cookie %v, want Secure, HttpOnly, Lax", ck)
	}
	if ck := setCookies(res)[pages.CSRFHeaderCookie]; ck == nil || !ck.Secure {
		t.Errorf("https issuer: %s cookie %v, want Secure", pages.CSRFHeaderCookie, ck)
	}
}

// The login session authenticates /auth/ as DRF's SessionAuthentication
// does: reads as they are, unsafe methods with the csrftoken cookie's
// value in X-CSRFToken only. The browser session is listed with the
// user's sessions, and deleting it there signs the browser out.
func TestLoginSessionOnTheUserAPI(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts, rp := f.ts, f.rp
	b := newWebBrowser(t, ts)
	a := rp.authorization("openid")
	b.signInForCode(ts, a, authzUser, authzPass)
	if in, name := b.signedIn(); !in || name != authzUser {
		t.Fatalf("GET /auth/users/me/ with the session: %v %q", in, name)
	}
	csrf := b.cookie(pages.CSRFHeaderCookie)
	if csrf == "" {
		t.Fatalf("no %s cookie after the login", pages.CSRFHeaderCookie)
	}

	patch := map[string]any{"first_name": "Ana"}
	for name, h := range map[string]http.Header{
		"no header":          nil,
		"a wrong header":     {"X-Csrftoken": {csrf[:len(csrf)-2] + "AA"}},
		"the session cookie": {"X-Csrftoken": {b.cookie(sessions.CookieName)}},
	} {
		res := b.api(http.MethodPatch, "/auth/users/me/", patch, h)
		wantDetail(t, res, http.StatusForbidden, "CSRF Failed: CSRF token missing or incorrect.")
		if name == "no header" && ts.user(authzUser).FirstName != "" {
			t.Fatalf("%s: the PATCH changed the user", name)
		}
	}
	res := b.api(http.MethodPatch, "/auth/users/me/", patch, http.Header{"X-Csrftoken": {csrf}})
	if res.Status != http.StatusOK || ts.user(authzUser).FirstName != "Ana" {
		t.Fatalf("PATCH with X-CSRFToken: %s", res)
	}
	// Another browser's csrftoken is not this session's.
	other := newWebBrowser(t, ts)
	other.post(pages.LoginPath, loginForm(t, other, authzUser, authzPass))
	if theirs := other.cookie(pages.CSRFHeaderCookie); theirs == "" || theirs == csrf {
		t.Fatalf("the second browser's csrftoken %q", theirs)
	} else {
		wantDetail(t, b.api(http.MethodPatch, "/auth/users/me/", patch, http.Header{"X-Csrftoken": {theirs}}), http.StatusForbidden, "CSRF Failed: CSRF token missing or incorrect.")
	}

	// The sessions list shows both browser sessions.
	res = b.api(http.MethodGet, "/auth/users/me/sessions/", nil, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("sessions: %s", res)
	}
	var list struct {
		Results []struct {
			ID       string `json:"id"`
			ClientID string `json:"client_id"`
			Current  bool   `json:"current"`
		} `json:"results"`
	}
	if err := json.Unmarshal(res.Body, &list); err != nil {
		t.Fatal(err)
	}
	var mine string
	browsers := 0
	for _, s := range list.Results {
		if s.ClientID == sessions.BrowserClientID {
			browsers++
			if s.Current {
				mine = s.ID
			}
		}
	}
	if browsers != 2 || mine == "" {
		t.Fatalf("want two %s sessions, one current: %s", sessions.BrowserClientID, res.Body)
	}
	// DELETE needs the CSRF header too.
	wantDetail(t, b.api(http.MethodDelete, "/auth/users/me/sessions/"+mine+"/", nil, nil), http.StatusForbidden, "CSRF Failed: CSRF token missing or incorrect.")
	if in, _ := b.signedIn(); !in {
		t.Fatal("a refused DELETE ended the session")
	}
	if res := b.api(http.MethodDelete, "/auth/users/me/sessions/"+mine+"/", nil, http.Header{"X-Csrftoken": {csrf}}); res.Status != http.StatusNoContent {
		t.Fatalf("DELETE the browser session: %s", res)
	}
	b.wantSignedOut("after DELETE of its session", rp.authorization("openid"))
	if in, _ := other.signedIn(); !in {
		t.Error("deleting one browser session ended the other")
	}
}

// RP-Initiated Logout: a hint of the signed-in user and a registered
// post_logout_redirect_uri sign out and go back with the state; anything
// not registered for the hint's client, exactly, is a 400 page; without a
// hint the user confirms with a CSRF-protected form.
func TestLogout(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts, rp := f.ts, f.rp
	other := ts.newRelyingParty(f.admin, []string{"https://other.example.org/cb"},
		map[string]any{"post_logout_redirect_uris": []string{"https://other.example.org/bye"}})
	const bye = "https://app.example.com/bye"

	signIn := func(t *testing.T) (*webBrowser, string) {
		b := newWebBrowser(t, ts)
		a := rp.authorization("openid")
		tok := rp.mustExchange(t, ts, a, b.signInForCode(ts, a, authzUser, authzPass))
		hint, _ := tok.Extra("id_token").(string)
		return b, hint
	}
	logoutURL := func(q url.Values) string { return pages.LogoutPath + "?" + q.Encode() }

	t.Run("hint and registered URI", func(t *testing.T) {
		b, hint := signIn(t)
		res := b.get(logoutURL(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {bye}, "state": {oddState}}))
		u := location(t, res)
		if u.Scheme+"://"+u.Host+u.Path != bye || u.Query().Get("state") != oddState {
			t.Errorf("redirected to %s, want %s with state %q", u, bye, oddState)
		}
		if ck := setCookies(res)[sessions.CookieName]; ck == nil || ck.MaxAge >= 0 {
			t.Errorf("the session cookie was not cleared: %v", ck)
		}
		b.wantSignedOut("after the logout", rp.authorization("openid"))
	})

	t.Run("refused redirect URIs", func(t *testing.T) {
		b, hint := signIn(t)
		for name, q := range map[string]url.Values{
			"another client's URI":          {"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://other.example.org/bye"}},
			"another client's URI by id":    {"id_token_hint": {hint}, "client_id": {other.ID}, "post_logout_redirect_uri": {"https://other.example.org/bye"}},
			"trailing slash":                {"id_token_hint": {hint}, "post_logout_redirect_uri": {bye + "/"}},
			"extra query":                   {"id_token_hint": {hint}, "post_logout_redirect_uri": {bye + "?next=https://evil.example.net"}},
			"host in upper case":            {"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://APP.example.com/bye"}},
			"userinfo":                      {"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://app.example.com@evil.example.net/bye"}},
			"fragment":                      {"id_token_hint": {hint}, "post_logout_redirect_uri": {bye + "#x"}},
			"a redirect_uri, not a logout":  {"id_token_hint": {hint}, "post_logout_redirect_uri": {rp.RedirectURI}},
			"URI without hint or client_id": {"post_logout_redirect_uri": {bye}},
			"a forged hint":                 {"id_token_hint": {hint[:len(hint)-4] + "AAAA"}, "post_logout_redirect_uri": {bye}},
			"unknown client":                {"client_id": {"no-such-client"}, "post_logout_redirect_uri": {bye}},
		} {
			res := b.get(logoutURL(q))
			wantPage(t, name, res, http.StatusBadRequest)
			wantNoSessionCookie(t, name, res)
			if ck := setCookies(res)[sessions.CookieName]; ck != nil {
				t.Errorf("%s: touched the session cookie: %v", name, ck)
			}
			if in, _ := b.signedIn(); !in {
				t.Fatalf("%s: signed out by a refused logout", name)
			}
		}
	})

	t.Run("confirmation", func(t *testing.T) {
		b, _ := signIn(t)
		res := b.get(logoutURL(url.Values{"client_id": {rp.ID}, "post_logout_redirect_uri": {bye}, "state": {oddState}}))
		wantPage(t, "confirmation page", res, http.StatusOK)
		if !bytes.Contains(res.Body, []byte(`name="decision" value="logout"`)) {
			t.Fatalf("no button[name=decision][value=logout]:\n%s", res.Body)
		}
		if in, _ := b.signedIn(); !in {
			t.Fatal("the confirmation page signed out")
		}
		form := url.Values{"decision": {"logout"}}
		for _, name := range []string{"client_id", "post_logout_redirect_uri", "state"} {
			form.Set(name, hiddenField(t, res.Body, name))
		}
		if form.Get("state") != oddState {
			t.Errorf("the form carries state %q, want %q", form.Get("state"), oddState)
		}
		// Without the token, or with another page's: 403, still signed in.
		// (The signed-in page's sign-out form carries this session's token;
		// another browser's session has another.)
		ob, _ := signIn(t)
		theirs := hiddenField(t, ob.get(pages.LoginPath).Body, "csrf_token")
		for name, tok := range map[string]string{"no token": "", "another session's token": theirs} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if tok != "" {
				f.Set("csrf_token", tok)
			}
			res := b.post(pages.LogoutPath, f)
			wantPage(t, name, res, http.StatusForbidden)
			if in, _ := b.signedIn(); !in {
				t.Fatalf("%s: signed out without a valid token", name)
			}
		}
		form.Set("csrf_token", hiddenField(t, res.Body, "csrf_token"))
		res = b.post(pages.LogoutPath, form)
		u := location(t, res)
		if u.Scheme+"://"+u.Host+u.Path != bye || u.Query().Get("state") != oddState {
			t.Errorf("redirected to %s, want %s with the state", u, bye)
		}
		b.wantSignedOut("after the confirmed logout", rp.authorization("openid"))
	})

	t.Run("a hint of another user asks", func(t *testing.T) {
		ts.createUser("dora", "dora-pass-1234", false)
		b, _ := signIn(t)
		d := newWebBrowser(t, ts)
		a := rp.authorization("openid")
		tok := rp.mustExchange(t, ts, a, d.signInForCode(ts, a, "dora", "dora-pass-1234"))
		res := b.get(logoutURL(url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {bye}}))
		wantPage(t, "hint of another user", res, http.StatusOK)
		if in, _ := b.signedIn(); !in {
			t.Fatal("a hint of another user signed this one out")
		}
	})

	t.Run("the signed-in page's button", func(t *testing.T) {
		b, _ := signIn(t)
		page := b.get(pages.LoginPath)
		wantPage(t, "signed-in page", page, http.StatusOK)
		res := b.post(pages.LogoutPath, url.Values{"decision": {"logout"}, "csrf_token": {hiddenField(t, page.Body, "csrf_token")}})
		wantPage(t, "signed-out page", res, http.StatusOK)
		b.wantSignedOut("after the button", rp.authorization("openid"))
	})

	t.Run("no session", func(t *testing.T) {
		b := newWebBrowser(t, ts)
		wantPage(t, "signed-out page", b.get(pages.LogoutPath), http.StatusOK)
	})
}

// With sessions.logout_revokes_tokens the refresh tokens an application
// got through the session stop working at the logout; without it they go
// on.
func TestLogoutRevokesTokens(t *testing.T) {
	for _, revoke := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[revoke], func(t *testing.T) {
			f := newAuthzFixture(t, func(c *config.Config) { c.Sessions.LogoutRevokesTokens = revoke })
			ts, rp := f.ts, f.rp
			b := newWebBrowser(t, ts)
			a := rp.authorization("openid offline_access")
			tok := rp.mustExchange(t, ts, a, b.signInForCode(ts, a, authzUser, authzPass))
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			// A token from the password grant is not the session's.
			pw := ts.passwordToken(authzUser, authzPass, "openid", "offline_access")
			res := b.get(pages.LogoutPath + "?" + url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://app.example.com/bye"}}.Encode())
			location(t, res)
			b.wantSignedOut("after the logout", rp.authorization("openid"))
			_, err := rp.refresh(ts, tok.RefreshToken)
			if revoke {
				wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
				if ts.introspectAs(rp, tok.AccessToken) {
					t.Error("the session's access token is still active")
				}
			} else if err != nil {
				t.Errorf("refresh after a logout that keeps tokens: %v", err)
			}
			if _, err := ts.refresh(pw.RefreshToken); err != nil {
				t.Errorf("the password grant's refresh token stopped working: %v", err)
			}
		})
	}
}

// The code flow with codes, login sessions and tokens in Redis
// (storage.tokens: redis): the same flow, the same refusals of a replay,
// and the records are Redis keys.
func TestAuthorizeCodeFlowOnRedis(t *testing.T) {
	redisURL := testRedisURL(t)
	prefix, rc := redisPrefix(t, redisURL)
	f := newAuthzFixture(t, func(c *config.Config) {
		c.Storage.Redis.URL = redisURL
		c.Storage.Redis.Prefix = prefix
		c.Storage.Tokens = "redis"
		c.Sessions.LogoutRevokesTokens = true
	})
	runCodeFlow(t, f)
	runReplayAndLogout(t, f)
	keys, err := rc.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no keys under the test prefix in Redis (%v)", err)
	}
	for _, table := range []string{"login_sessions", "auth_codes"} {
		var n int
		if err := f.ts.sqlDB().NewSelect().Table(table).ColumnExpr("count(*)").Scan(context.Background(), &n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		} else if n > 0 {
			t.Errorf("%d rows in SQL's %s with storage.tokens: redis", n, table)
		}
	}
}

// The code flow on Postgres.
func TestAuthorizeCodeFlowOnPostgres(t *testing.T) {
	dsn, _ := postgresDSN(t)
	f := newAuthzFixture(t, func(c *config.Config) {
		c.Storage.Driver = "postgres"
		c.Storage.Postgres.DSN = dsn
		c.Sessions.LogoutRevokesTokens = true
	})
	runCodeFlow(t, f)
	runReplayAndLogout(t, f)
}

// runReplayAndLogout checks, on f's stores, that a replayed code revokes
// its tokens and that a logout ends the session and its tokens (f's
// server has sessions.logout_revokes_tokens).
func runReplayAndLogout(t *testing.T, f authzFixture) {
	ts, rp := f.ts, f.rp
	b := newWebBrowser(t, ts)
	a := rp.authorization("openid offline_access")
	code := b.signInForCode(ts, a, authzUser, authzPass)
	tok := rp.mustExchange(t, ts, a, code)
	_, err := rp.exchange(ts, a, code)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	if ts.introspectAs(rp, tok.AccessToken) {
		t.Error("replay: the first access token is still active")
	}
	_, err = rp.refresh(ts, tok.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)

	a = rp.authorization("openid offline_access")
	tok = rp.mustExchange(t, ts, a, b.codeWithSession(ts, a))
	res := b.get(pages.LogoutPath + "?" + url.Values{"id_token_hint": {tok.Extra("id_token").(string)}, "post_logout_redirect_uri": {"https://app.example.com/bye"}}.Encode())
	location(t, res)
	b.wantSignedOut("after the logout", rp.authorization("openid"))
	_, err = rp.refresh(ts, tok.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
}

// The consent form changes nothing without its session's CSRF token or
// with an unknown decision, and a request is answered once: the same
// form sent again after the code went out is an error page.
func TestConsentPageRefusals(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts, rp := f.ts, f.rp
	b := newWebBrowser(t, ts)
	a := rp.authorization("openid profile")
	res := b.submitLogin(b.authorize(a), authzUser, authzPass)
	consentURL := location(t, res).String()
	wantRedirectTo(t, res, pages.ConsentPath)
	page := b.get(consentURL)
	wantPage(t, "consent page", page, http.StatusOK)
	request, token := hiddenField(t, page.Body, "request"), hiddenField(t, page.Body, "csrf_token")
	for _, scope := range []string{"openid", "profile"} {
		if !bytes.Contains(page.Body, []byte(`data-scope="`+scope+`"`)) {
			t.Errorf("the consent page does not list %s", scope)
		}
	}

	// Another browser: no session, so no consent; its GET goes to login.
	stranger := newWebBrowser(t, ts)
	wantRedirectTo(t, stranger.get(consentURL), pages.LoginPath)
	res = stranger.post(pages.ConsentPath, url.Values{"csrf_token": {token}, "request": {request}, "decision": {"allow"}})
	wantPage(t, "a POST without a session", res, http.StatusForbidden)

	for name, form := range map[string]url.Values{
		"no token":       {"request": {request}, "decision": {"allow"}},
		"a forged token": {"csrf_token": {token[:len(token)-2] + "AA"}, "request": {request}, "decision": {"allow"}},
	} {
		wantPage(t, name, b.post(pages.ConsentPath, form), http.StatusForbidden)
	}
	wantPage(t, "unknown decision", b.post(pages.ConsentPath, url.Values{"csrf_token": {token}, "request": {request}, "decision": {"maybe"}}), http.StatusBadRequest)
	// None of that granted anything.
	wantAuthorizeError(t, ts, b.authorize(a.with("prompt", "none")), a, "consent_required")

	form := url.Values{"csrf_token": {token}, "request": {request}, "decision": {"allow"}}
	q := callback(t, ts, b.post(pages.ConsentPath, form), a)
	if q.Get("code") == "" {
		t.Fatalf("allow: %v", q)
	}
	res = b.post(pages.ConsentPath, form)
	wantPage(t, "the same form again", res, http.StatusBadRequest)
	wantPage(t, "the login page of an answered request", b.get(pages.LoginPath+"?"+url.Values{"request": {request}}.Encode()), http.StatusBadRequest)
}

// A public (native) client: PKCE is its only proof, a loopback redirect
// URI with the port it listens on (RFC 8252), the token request repeats
// that exact URI. POST to /oauth2/authorize works as GET does (OIDC Core
// §3.1.2.1), and login_hint fills the login form, escaped.
func TestAuthorizePublicClientAndPOST(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts := f.ts
	native := ts.newRelyingParty(f.admin, []string{"http://127.0.0.1/native/cb"}, map[string]any{"token_endpoint_auth_method": "none"})
	native.RedirectURI = "http://127.0.0.1:49152/native/cb"
	b := newWebBrowser(t, ts)

	a := native.authorization("openid offline_access").with("login_hint", `ana"><script>x</script>`)
	res := b.post(pages.AuthorizePath, a.Params)
	q := wantRedirectTo(t, res, pages.LoginPath)
	page := b.get(pages.LoginPath + "?" + q.Encode())
	wantPage(t, "login page", page, http.StatusOK)
	if bytes.Contains(page.Body, []byte("<script>x")) || !bytes.Contains(page.Body, []byte(`value="ana&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`)) {
		t.Errorf("login_hint is not in the username input, escaped:\n%s", page.Body)
	}
	res = b.post(pages.LoginPath, url.Values{
		"csrf_token": {hiddenField(t, page.Body, "csrf_token")}, "request": {hiddenField(t, page.Body, "request")},
		"username": {authzUser}, "password": {authzPass},
	})
	code := callback(t, ts, b.decide(res, "allow"), a).Get("code")
	tok := native.mustExchange(t, ts, a, code)
	verifyIDToken(t, ts, native, tok, a)
	if tok.RefreshToken == "" {
		t.Error("no refresh token for offline_access")
	}

	// With the session, by POST: the code comes at once (303 after a POST).
	a = native.authorization("openid")
	res = b.post(pages.AuthorizePath, a.Params)
	if res.Status != http.StatusSeeOther {
		t.Errorf("authorize by POST answers %d, want 303", res.Status)
	}
	code = callback(t, ts, res, a).Get("code")
	// Without the verifier a public client proves nothing.
	_, err := native.exchange(ts, authRequest{}, code)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	// The registered URI without the port is not the one the code was
	// issued for.
	a = native.authorization("openid")
	code = b.codeWithSession(ts, a)
	_, err = native.exchange(ts, a, code, oauth2.SetAuthURLParam("redirect_uri", "http://127.0.0.1/native/cb"))
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
}

// The lifetimes of config (sessions.idle_timeout, sessions.lifetime) end
// sessions on the server; logoutall ends browser sessions too; a login
// page left open past the request's lifetime is an error page, not a
// sign-in.
func TestLoginSessionLifetimesFromConfig(t *testing.T) {
	f := newAuthzFixture(t, func(c *config.Config) {
		c.Sessions.IdleTimeout = 5 * time.Minute
		c.Sessions.Lifetime = 12 * time.Minute
	})
	ts, rp := f.ts, f.rp
	b := newWebBrowser(t, ts)
	b.signInForCode(ts, rp.authorization("openid"), authzUser, authzPass)

	t.Run("idle", func(t *testing.T) {
		ts.Clock.Advance(4 * time.Minute)
		if in, _ := b.signedIn(); !in {
			t.Fatal("signed out before the idle timeout")
		}
		ts.Clock.Advance(4 * time.Minute) // 8m after the login, 4m after the last use
		if in, _ := b.signedIn(); !in {
			t.Fatal("a session in use was not slid")
		}
		ts.Clock.Advance(5*time.Minute + time.Second)
		b.wantSignedOut("after the idle timeout", rp.authorization("openid"))
	})
	t.Run("absolute", func(t *testing.T) {
		b.signInForCode(ts, rp.authorization("openid"), authzUser, authzPass)
		for range 2 {
			ts.Clock.Advance(4 * time.Minute)
			if in, _ := b.signedIn(); !in {
				t.Fatal("signed out before the lifetime")
			}
		}
		ts.Clock.Advance(4*time.Minute + time.Second) // 12m01s after the login
		b.wantSignedOut("after the lifetime", rp.authorization("openid"))
	})
	t.Run("logoutall", func(t *testing.T) {
		b.signInForCode(ts, rp.authorization("openid"), authzUser, authzPass)
		access, _ := ts.jwtPair(authzUser, authzPass)
		if res := ts.call(http.MethodPost, "/auth/token/logoutall/", bearer(access), nil); res.Status != http.StatusNoContent {
			t.Fatalf("logoutall: %s", res)
		}
		b.wantSignedOut("after logoutall", rp.authorization("openid"))
	})
	t.Run("a login page left open", func(t *testing.T) {
		res := b.authorize(rp.authorization("openid"))
		wantRedirectTo(t, res, pages.LoginPath)
		page := b.get(location(t, res).String())
		ts.Clock.Advance(sessions.RequestTTL + time.Second)
		res = b.post(pages.LoginPath, url.Values{
			"csrf_token": {hiddenField(t, page.Body, "csrf_token")}, "request": {hiddenField(t, page.Body, "request")},
			"username": {authzUser}, "password": {authzPass},
		})
		wantPage(t, "an expired request", res, http.StatusBadRequest)
		wantNoSessionCookie(t, "an expired request", res)
	})
}

// A code redeemed by several requests at once is redeemed once: one 200,
// the others invalid_grant, never a 5xx. A registered redirect URI with a
// query keeps it in the callback and matches only exactly. A token
// request with the wrong client secret is invalid_client.
func TestAuthorizationCodeRaceAndRedirectQuery(t *testing.T) {
	f := newAuthzFixture(t, nil)
	ts := f.ts
	rp := ts.newRelyingParty(f.admin, []string{"https://app.example.com/cb?tenant=1"}, nil)
	b := newWebBrowser(t, ts)
	a := rp.authorization("openid offline_access")
	res := b.submitLogin(b.authorize(a), authzUser, authzPass)
	q := callback(t, ts, b.decide(res, "allow"), a)
	if q.Get("tenant") != "1" || q.Get("code") == "" {
		t.Fatalf("the callback lost the registered query: %v", q)
	}
	wantPage(t, "another query value", b.authorize(a.with("redirect_uri", "https://app.example.com/cb?tenant=2")), http.StatusBadRequest)
	wantPage(t, "the query left out", b.authorize(a.with("redirect_uri", "https://app.example.com/cb")), http.StatusBadRequest)

	// The race.
	body := url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {rp.RedirectURI}, "code_verifier": {a.Verifier},
	}.Encode()
	const n = 8
	statuses := make([]int, n)
	codes := make([]string, n)
	start := make(chan struct{})
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(rp.ID, rp.Secret)
			<-start
			res, err := ts.client.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer res.Body.Close()
			var e struct {
				Error string `json:"error"`
			}
			_ = json.NewDecoder(res.Body).Decode(&e)
			statuses[i], codes[i] = res.StatusCode, e.Error
		}()
	}
	close(start)
	for range n {
		<-done
	}
	ok := 0
	for i := range n {
		switch {
		case statuses[i] == http.StatusOK:
			ok++
		case statuses[i] != http.StatusBadRequest || codes[i] != "invalid_grant":
			t.Errorf("request %d: %d %q, want 200 or 400 invalid_grant", i, statuses[i], codes[i])
		}
	}
	if ok != 1 {
		t.Errorf("%d redemptions of one code succeeded (%v), want 1", ok, statuses)
	}

	// Client authentication comes first.
	a = rp.authorization("openid")
	code := b.codeWithSession(ts, a)
	bad := relyingParty{ID: rp.ID, Secret: "not-the-secret", RedirectURI: rp.RedirectURI}
	_, err := bad.exchange(ts, a, code)
	wantRetrieveError(t, err, "invalid_client", http.StatusUnauthorized)
}
