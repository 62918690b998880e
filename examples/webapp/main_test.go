package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/server/servertest"
)

const (
	adminPass  = "admin-pass-123"
	demoSecret = "demo-secret"
	alicePass  = "correct-Horse-7"
)

// startLatchkey starts a real latchkey server on a loopback port (embedded
// SQLite in a temporary folder), as examples/products does, and returns
// its issuer URL.
func startLatchkey(t *testing.T) string {
	t.Helper()
	return servertest.Start(t, servertest.Options{AdminPassword: adminPass, ClientSecret: demoSecret})
}

// call sends a request (a JSON body when body is not nil, a bearer token
// or basic credentials when given) and decodes a JSON answer into out. It
// fails the test unless the status is want.
func call(t *testing.T, want int, method, u string, body any, auth func(*http.Request), out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, u, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, u, raw, err)
		}
	}
}

// setUp registers the user alice and, with the admin API, the client
// "webapp" for an app at appURL, as docs/browser-login.md does; it returns
// the client's secret ("" for a public client).
func setUp(t *testing.T, lk, appURL string, public bool) string {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPass}}
	req, _ := http.NewRequest("POST", lk+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo", demoSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("admin token: %d %v", resp.StatusCode, err)
	}
	admin := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }

	call(t, 201, "POST", lk+"/auth/users/", map[string]string{
		"username": "alice", "email": "alice@example.com", "password": alicePass,
		"first_name": "Alice", "last_name": "Liddell",
	}, nil, nil)
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	meta := map[string]any{
		"client_id": "webapp", "client_name": "Example web app",
		"redirect_uris":             []string{appURL + "/callback"},
		"post_logout_redirect_uris": []string{appURL + "/"},
		"scope":                     "openid profile email",
	}
	if public {
		meta["token_endpoint_auth_method"] = "none"
	}
	call(t, 201, "POST", lk+"/admin/clients/", meta, admin, &client)
	if client.ClientID != "webapp" || (client.ClientSecret == "") != public {
		t.Fatalf("client %+v", client)
	}
	return client.ClientSecret
}

// startApp serves the example app for the client webapp (public: without
// a secret).
func startApp(t *testing.T, lk string, public bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appURL := "http://" + ln.Addr().String()
	secret := setUp(t, lk, appURL, public)
	app, err := New(context.Background(), Config{Issuer: lk, ClientID: "webapp", ClientSecret: secret, URL: appURL})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return appURL
}

// browser is a user agent without JavaScript: a cookie jar, following
// redirects, remembering the paths it went through.
type browser struct {
	t       *testing.T
	c       *http.Client
	visited []string
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t}
	b.c = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		b.visited = append(b.visited, r.URL.Host+r.URL.Path)
		return nil
	}}
	return b
}

// page is where a request ended, after the redirects.
type page struct {
	Status int
	URL    *url.URL
	Body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	b.visited = nil
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, URL: resp.Request.URL, Body: string(raw)}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

// submit posts the page's form (its hidden fields plus fields) to action,
// resolved against the page's URL, as a browser does.
func (b *browser) submit(p page, action string, fields url.Values) page {
	b.t.Helper()
	form := hidden(p.Body)
	if form.Get("csrf_token") == "" {
		b.t.Fatalf("no csrf_token on %s:\n%s", p.URL, p.Body)
	}
	for k, v := range fields {
		form[k] = v
	}
	to, err := p.URL.Parse(action)
	if err != nil {
		b.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", to.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hidden returns a page's hidden form fields (csrf_token, request, ...).
func hidden(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// TestSignInAndOut: the walk-through of docs/browser-login.md. The app
// sends the browser to latchkey; alice signs in on the hosted page and
// allows the app; the app exchanges the code with its PKCE verifier,
// verifies the ID token and greets her by name. A second sign-in goes
// through without a page (session and consent remembered). Signing out
// ends the app's and latchkey's sessions and comes back to the app.
func TestSignInAndOut(t *testing.T) {
	lk := startLatchkey(t)
	appURL := startApp(t, lk, false)
	lkHost := strings.TrimPrefix(lk, "http://")
	b := newBrowser(t)

	p := b.get(appURL + "/")
	if !strings.Contains(p.Body, "You are not signed in") {
		t.Fatalf("home before sign-in: %s", p.Body)
	}
	p = b.get(appURL + "/login")
	if p.Status != 200 || p.URL.Path != "/login" || p.URL.Host != lkHost || !strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("sign-in did not reach latchkey's login page: %d %s", p.Status, p.URL)
	}
	if !strings.Contains(p.Body, "Example web app") {
		t.Fatalf("the login page does not name the app:\n%s", p.Body)
	}

	wrong := b.submit(p, "/login", url.Values{"username": {"alice"}, "password": {"wrong-password"}})
	if wrong.Status != 400 || !strings.Contains(wrong.Body, "The username or password is incorrect.") {
		t.Fatalf("wrong password: %d %s", wrong.Status, wrong.Body)
	}

	p = b.submit(wrong, "/login", url.Values{"username": {"alice"}, "password": {alicePass}})
	if p.Status != 200 || p.URL.Host != lkHost || p.URL.Path != "/consent" {
		t.Fatalf("after login: %d %s, want the consent page", p.Status, p.URL)
	}
	for _, want := range []string{`value="allow"`, `value="deny"`, "See your name and username", "See your e-mail address"} {
		if !strings.Contains(p.Body, want) {
			t.Fatalf("consent page lacks %q:\n%s", want, p.Body)
		}
	}
	p = b.submit(p, "/consent", url.Values{"decision": {"allow"}})
	if p.Status != 200 || p.URL.String() != appURL+"/" || !strings.Contains(p.Body, `<strong id="name">Alice Liddell</strong>`) {
		t.Fatalf("after consent: %d %s\n%s", p.Status, p.URL, p.Body)
	}

	// Signed in at latchkey and consent remembered: the next sign-in
	// goes straight through latchkey, no page shown.
	p = b.get(appURL + "/login")
	if p.URL.String() != appURL+"/" || !strings.Contains(p.Body, "Alice Liddell") {
		t.Fatalf("second sign-in: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	for _, v := range b.visited {
		if strings.HasSuffix(v, "/login") && strings.HasPrefix(v, lkHost) || strings.HasSuffix(v, "/consent") {
			t.Fatalf("second sign-in showed a page: %v", b.visited)
		}
	}
	if !slices.Contains(b.visited, lkHost+"/oauth2/authorize") || !slices.Contains(b.visited, strings.TrimPrefix(appURL, "http://")+"/callback") {
		t.Fatalf("second sign-in did not go through the code flow: %v", b.visited)
	}

	// Sign out: the app's session ends, latchkey ends its own and sends
	// the browser back to the registered post-logout address, with state.
	req, _ := http.NewRequest("POST", appURL+"/logout", nil)
	p = b.do(req)
	if p.Status != 200 || p.URL.Host+p.URL.Path != strings.TrimPrefix(appURL, "http://")+"/" || p.URL.Query().Get("state") == "" {
		t.Fatalf("after sign-out: %d %s", p.Status, p.URL)
	}
	if !strings.Contains(p.Body, "You are not signed in") || !slices.Contains(b.visited, lkHost+"/oauth2/logout") {
		t.Fatalf("sign-out: %v\n%s", b.visited, p.Body)
	}
	lkURL, _ := url.Parse(lk)
	for _, c := range b.c.Jar.Cookies(lkURL) {
		if c.Name == "latchkey_session" {
			t.Fatalf("latchkey's session cookie survived the sign-out")
		}
	}
	// latchkey's session is over: signing in again shows the login page.
	p = b.get(appURL + "/login")
	if p.URL.Host != lkHost || p.URL.Path != "/login" || !strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("sign-in after sign-out: %d %s", p.Status, p.URL)
	}
}

// TestDeniedAndForged: a user who denies the app comes back signed out
// with the error; a callback the app did not start (no state cookie, or a
// state of another flow) is refused before any code is exchanged.
func TestDeniedAndForged(t *testing.T) {
	lk := startLatchkey(t)
	appURL := startApp(t, lk, false)
	b := newBrowser(t)

	p := b.get(appURL + "/login")
	p = b.submit(p, "/login", url.Values{"username": {"alice"}, "password": {alicePass}})
	if p.URL.Path != "/consent" {
		t.Fatalf("after login: %d %s", p.Status, p.URL)
	}
	p = b.submit(p, "/consent", url.Values{"decision": {"deny"}})
	if p.Status != 403 || !strings.Contains(p.Body, "access_denied") {
		t.Fatalf("deny: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	if p = b.get(appURL + "/"); !strings.Contains(p.Body, "You are not signed in") {
		t.Fatalf("signed in after deny:\n%s", p.Body)
	}

	// A forged callback: the attacker's own code and state.
	forged := newBrowser(t)
	p = forged.get(appURL + "/callback?" + url.Values{"code": {"lk_ac_forged"}, "state": {"x"}, "iss": {lk}}.Encode())
	if p.Status != 400 || !strings.Contains(p.Body, "state mismatch") {
		t.Fatalf("forged callback: %d %s", p.Status, p.Body)
	}
	// A started flow whose state does not match the answer.
	started := newBrowser(t)
	started.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("GET", appURL+"/login", nil)
	resp, err := started.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	to, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != 302 || to.Path != "/oauth2/authorize" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := to.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("nonce") == "" ||
		q.Get("response_type") != "code" || q.Get("redirect_uri") != appURL+"/callback" {
		t.Fatalf("authorization request %v", q)
	}
	p = started.get(appURL + "/callback?" + url.Values{"code": {"lk_ac_forged"}, "state": {"another"}, "iss": {lk}}.Encode())
	if p.Status != 400 || !strings.Contains(p.Body, "state mismatch") {
		t.Fatalf("mismatched state: %d %s", p.Status, p.Body)
	}
}

// TestPublicClient: an app without a secret (a public client) signs in the
// same way, protected by PKCE alone.
func TestPublicClient(t *testing.T) {
	lk := startLatchkey(t)
	appURL := startApp(t, lk, true)
	b := newBrowser(t)
	p := b.get(appURL + "/login")
	p = b.submit(p, "/login", url.Values{"username": {"alice"}, "password": {alicePass}})
	p = b.submit(p, "/consent", url.Values{"decision": {"allow"}})
	if p.URL.String() != appURL+"/" || !strings.Contains(p.Body, "Alice Liddell") {
		t.Fatalf("public client sign-in: %d %s\n%s", p.Status, p.URL, p.Body)
	}
}
