package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
	"go.yaml.in/yaml/v3"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/local"
	"github.com/latchkey-auth/latchkey/backends/oidc"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers/pages/pagestest"
	"github.com/latchkey-auth/latchkey/server"
	"github.com/latchkey-auth/latchkey/storage"
)

// startMockUpstream starts mockoidc, an OpenID provider latchkey did not
// write, on its own origin. It signs in whoever its queue names, without a
// page, and checks PKCE.
func startMockUpstream(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	serializeMock(t, m)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// serializeMock makes mockoidc answer one request at a time: its session
// store is not safe for concurrent use (the race detector sees the
// browser's authorize and latchkey's token request as concurrent).
func serializeMock(t *testing.T, m *mockoidc.MockOIDC) {
	t.Helper()
	var mu sync.Mutex
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		t.Fatal(err)
	}
}

// oidcBackend is a backends: entry of type oidc.
func oidcBackend(t *testing.T, id string, block map[string]any) config.Backend {
	t.Helper()
	raw, err := yaml.Marshal(block)
	if err != nil {
		t.Fatal(err)
	}
	var node yaml.Node
	if err := yaml.Unmarshal(raw, &node); err != nil {
		t.Fatal(err)
	}
	return config.Backend{ID: id, Type: "oidc", Config: *node.Content[0]}
}

// withOIDC registers the oidc backend type beside local.
func withOIDC(o *server.Options) {
	o.Backends = backends.Registry{
		"local": func() backends.Config { return &local.Config{Argon2: fastArgon2} },
		"oidc":  func() backends.Config { return new(oidc.Config) },
	}
}

// startSocialServer starts latchkey with the local backend and the given
// oidc backends.
func startSocialServer(t *testing.T, social ...config.Backend) *testServer {
	t.Helper()
	return startServerWith(t, "127.0.0.1:0", t.TempDir(), newLiveClock(), func(c *config.Config) {
		c.Backends = append([]config.Backend{{ID: "local", Type: "local"}}, social...)
	}, withOIDC)
}

func mockBlock(m *mockoidc.MockOIDC, extra map[string]any) map[string]any {
	cfg := m.Config()
	block := map[string]any{
		"issuer": cfg.Issuer, "client_id": cfg.ClientID, "client_secret": cfg.ClientSecret,
		"display_name": "MockID", "scopes": []string{"openid", "email", "profile", "groups"},
	}
	for k, v := range extra {
		block[k] = v
	}
	return block
}

// socialBrowser is a browser without JavaScript: a cookie jar, redirects
// followed by hand so each hop can be checked.
type socialBrowser struct {
	t      *testing.T
	client *http.Client
}

func newSocialBrowser(t *testing.T) *socialBrowser {
	jar, _ := cookiejar.New(nil)
	return &socialBrowser{t: t, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// get fetches a URL and returns the status, the Location and the body.
func (b *socialBrowser) get(u string) (int, string, string) {
	b.t.Helper()
	res, err := b.client.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(body)
}

// follow fetches u and follows redirects until a page, returning its
// status, URL and body.
func (b *socialBrowser) follow(u string) (int, string, string) {
	b.t.Helper()
	for range 10 {
		status, loc, body := b.get(u)
		if loc == "" {
			return status, u, body
		}
		next, err := url.Parse(u)
		if err != nil {
			b.t.Fatal(err)
		}
		u = next.ResolveReference(socialURL(b.t, loc)).String()
	}
	b.t.Fatalf("too many redirects from %s", u)
	return 0, "", ""
}

func socialURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A browser signs in to an application with the "MockID" button: the
// upstream (mockoidc, another origin) vouches, latchkey provisions an
// account with the upstream's username, e-mail and the group its rules
// give, and the application's ID token says idp=mock. The second sign-in
// finds the same account. Screenshots of the login page with its button.
func TestSocialSignInProvisionsThenReusesTheAccount(t *testing.T) {
	m := startMockUpstream(t)
	ts := startSocialServer(t, oidcBackend(t, "mock", mockBlock(m, map[string]any{
		"provision":   true,
		"group_rules": []map[string]string{{"upstream": "engineers", "group": "Engineering"}},
	})))
	rp := newOIDCApp(t, ts.URL)
	ts.createClient(ts.adminToken(), map[string]any{
		"client_id": "webapp", "client_name": "Acme Web", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{rp.URL + "/callback"}, "scope": "openid profile email offline_access groups",
		"skip_consent": true,
	})
	b := pagestest.NewBrowser(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "up-42", Email: "grace@mock.example", EmailVerified: true, PreferredUsername: "grace", Groups: []string{"engineers", "other"}})

	res := b.Response(chromedp.Navigate(rp.URL + "/start"))
	if !strings.HasPrefix(res.URL, ts.URL+"/login?") {
		t.Fatalf("at %s, want the login page", res.URL)
	}
	if got := b.Text(`[data-backend="mock"]`); got != "Sign in with MockID" {
		t.Fatalf("the social button says %q", got)
	}
	b.Screenshots("social-login")
	res = b.Response(chromedp.Click(chromedp.CSS(`[data-backend="mock"]`)))
	if !strings.HasPrefix(res.URL, rp.URL+"/callback?") || b.Text("#hello") != "Hello grace" {
		t.Fatalf("after the upstream the browser is at %s", res.URL)
	}
	r := rp.last(t)
	if r.err != "" || r.claims["idp"] != "mock" || r.claims["email"] != "grace@mock.example" {
		t.Fatalf("callback %q, id token claims %v", r.err, r.claims)
	}
	u := ts.user("grace")
	if r.idToken.Subject != fmt.Sprint(u.ID) || u.PasswordHash != "" || u.Email != "grace@mock.example" || !u.EmailVerified {
		t.Fatalf("provisioned user %+v for sub %s", u, r.idToken.Subject)
	}
	groups, _ := ts.srv.Store().UserGroups(t.Context(), u.ID)
	if len(groups) != 1 || groups[0].Name != "Engineering" {
		t.Fatalf("groups %+v, want Engineering from the rule only", groups)
	}
	if _, at, _ := jwtParts(t, r.token.AccessToken); fmt.Sprint(at["groups"]) != "[Engineering]" {
		t.Errorf("access token groups %v", at["groups"])
	}

	// Sign out, and in again with the same upstream subject, whose
	// groups changed: the same account, the rule's group gone.
	b.Response(chromedp.Navigate(ts.URL + "/oauth2/logout?" + url.Values{"id_token_hint": {r.rawID}}.Encode()))
	m.QueueUser(&mockoidc.MockUser{Subject: "up-42", Email: "grace@mock.example", EmailVerified: true, PreferredUsername: "grace-renamed", Groups: []string{"other"}})
	b.Response(chromedp.Navigate(rp.URL + "/start"))
	res = b.Response(chromedp.Click(chromedp.CSS(`[data-backend="mock"]`)))
	if !strings.HasPrefix(res.URL, rp.URL+"/callback?") || rp.last(t).idToken.Subject != fmt.Sprint(u.ID) {
		t.Fatalf("second sign-in at %s, sub %v", res.URL, rp.last(t).claims["sub"])
	}
	if n, _ := ts.srv.Store().CountUsers(t.Context()); n != 2 {
		t.Errorf("%d users after two sign-ins, want admin and grace", n)
	}
	if groups, _ := ts.srv.Store().UserGroups(t.Context(), u.ID); len(groups) != 0 {
		t.Errorf("groups after the upstream dropped engineers: %+v", groups)
	}
}

// Linking rules: an unlinked identity signs in only as its rules allow.
func TestSocialLinkingRules(t *testing.T) {
	m := startMockUpstream(t)
	ts := startSocialServer(t,
		oidcBackend(t, "mock", mockBlock(m, map[string]any{"link_by_verified_email": true})),
	)
	carol := ts.createUser("carol", "carol-password-1", false)

	t.Run("a verified e-mail links to the account with that address", func(t *testing.T) {
		b := newSocialBrowser(t)
		m.QueueUser(&mockoidc.MockUser{Subject: "c-1", Email: carol.Email, EmailVerified: true, PreferredUsername: "someone-else"})
		status, at, body := b.follow(ts.URL + "/login/mock")
		if status != http.StatusOK || !strings.HasSuffix(at, "/login") || !strings.Contains(body, "carol") {
			t.Fatalf("%d at %s: %s", status, at, body)
		}
		list, err := ts.srv.Store().ListIdentities(t.Context(), carol.ID)
		if err != nil || len(list) != 1 || list[0].Subject != "c-1" {
			t.Fatalf("identities of carol: %+v, %v", list, err)
		}
	})
	t.Run("an unverified e-mail links nothing, and without provisioning the user is refused", func(t *testing.T) {
		b := newSocialBrowser(t)
		ts.createUser("dave", "dave-password-1", false)
		m.QueueUser(&mockoidc.MockUser{Subject: "d-1", Email: "dave@example.com", EmailVerified: false, PreferredUsername: "dave"})
		status, _, body := b.follow(ts.URL + "/login/mock")
		if status != http.StatusForbidden || !strings.Contains(body, "No account for you here yet") {
			t.Fatalf("%d: %s", status, body)
		}
		if _, err := ts.srv.Store().GetIdentity(t.Context(), "mock", "d-1"); err == nil {
			t.Fatal("the unverified identity was linked")
		}
	})
	t.Run("the link key is the upstream subject, not the e-mail", func(t *testing.T) {
		b := newSocialBrowser(t)
		// c-1 now reports another address: still carol.
		m.QueueUser(&mockoidc.MockUser{Subject: "c-1", Email: "new-address@example.com", EmailVerified: true})
		if status, _, body := b.follow(ts.URL + "/login/mock"); status != http.StatusOK || !strings.Contains(body, "carol") {
			t.Fatalf("%d: %s", status, body)
		}
	})
}

// The callback's state is bound to the browser that started the sign-in
// and works once: a callback from another browser (login CSRF), a
// replayed one, or one for another backend changes nothing.
func TestSocialCallbackIsBoundToTheBrowserAndWorksOnce(t *testing.T) {
	m := startMockUpstream(t)
	ts := startSocialServer(t,
		oidcBackend(t, "mock", mockBlock(m, map[string]any{"provision": true})),
		oidcBackend(t, "other", mockBlock(m, map[string]any{"provision": true, "display_name": "Other"})),
	)
	victim, attacker := newSocialBrowser(t), newSocialBrowser(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "attacker-sub", Email: "mallory@example.com", EmailVerified: true, PreferredUsername: "mallory"})
	_, upstream, _ := attacker.get(ts.URL + "/login/mock")
	_, callback, _ := attacker.get(upstream)
	if !strings.HasPrefix(callback, ts.URL+"/login/mock/callback?") {
		t.Fatalf("the upstream sent the attacker to %s", callback)
	}
	if status, _, body := victim.get(callback); status != http.StatusBadRequest || !strings.Contains(body, "This sign-in has expired") {
		t.Fatalf("the attacker's callback in the victim's browser: %d %s", status, body)
	}
	if victim.hasCookie(ts.URL, "latchkey_session") {
		t.Fatal("the victim's browser got a session from the attacker's callback")
	}
	foreign := strings.Replace(callback, "/login/mock/callback", "/login/other/callback", 1)
	if status, _, _ := attacker.get(foreign); status != http.StatusBadRequest {
		t.Fatalf("a state of mock at other's callback: %d", status)
	}
	if status, at, _ := attacker.follow(callback); status != http.StatusOK || !strings.HasSuffix(at, "/login") {
		t.Fatalf("the right browser: %d at %s", status, at)
	}
	if status, _, _ := attacker.get(callback); status != http.StatusBadRequest {
		t.Fatalf("a replayed callback: %d", status)
	}
	if status, _, _ := newSocialBrowser(t).get(ts.URL + "/login/nope"); status != http.StatusNotFound {
		t.Fatalf("an unknown backend: %d", status)
	}
}

func (b *socialBrowser) hasCookie(base, name string) bool {
	for _, c := range b.client.Jar.Cookies(socialURL(b.t, base)) {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}

// An upstream that is down when latchkey starts does not stop it; the
// button answers 503 until the upstream is up, then works.
func TestSocialUpstreamDownAtStartThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	serializeMock(t, m)
	ts := startSocialServer(t, oidcBackend(t, "late", map[string]any{
		"issuer": "http://" + addr + "/oidc", "client_id": m.ClientID, "client_secret": m.ClientSecret, "provision": true, "timeout": "2s",
		"scopes": []string{"openid", "profile", "email"},
	}))
	b := newSocialBrowser(t)
	if status, _, body := b.get(ts.URL + "/login/late"); status != http.StatusServiceUnavailable || !strings.Contains(body, "cannot reach") {
		t.Fatalf("upstream down: %d %s", status, body)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the upstream's port was taken meanwhile: %v", err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	m.QueueUser(&mockoidc.MockUser{Subject: "late-1", Email: "late@example.com", EmailVerified: true, PreferredUsername: "latecomer"})
	if status, at, body := b.follow(ts.URL + "/login/late"); status != http.StatusOK || !strings.HasSuffix(at, "/login") || !strings.Contains(body, "latecomer") {
		t.Fatalf("upstream up: %d at %s: %s", status, at, body)
	}

	// Down during a sign-in: the browser got its code, then the upstream
	// went away before latchkey could redeem it.
	b2 := newSocialBrowser(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "late-2", Email: "late2@example.com", EmailVerified: true})
	_, upstream, _ := b2.get(ts.URL + "/login/late")
	_, callback, _ := b2.get(upstream)
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if status, _, body := b2.get(callback); status != http.StatusServiceUnavailable || !strings.Contains(body, "cannot reach") {
		t.Fatalf("upstream down during the sign-in: %d %s", status, body)
	}
	if b2.hasCookie(ts.URL, "latchkey_session") {
		t.Fatal("a session started although the upstream never confirmed the sign-in")
	}
}

// A signed-in user links an upstream account explicitly, sees it listed,
// signs in with it, and unlinks it; a provisioned user without a password
// cannot unlink their only way in.
func TestSocialExplicitLinkListAndUnlink(t *testing.T) {
	m := startMockUpstream(t)
	ts := startSocialServer(t, oidcBackend(t, "mock", mockBlock(m, map[string]any{"provision": true})))
	erin := ts.createUser("erin", "erin-password-1", false)
	tok := ts.passwordToken("erin", "erin-password-1")
	b := newSocialBrowser(t)

	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/auth/users/me/identities/mock/", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if err := decodeJSON(res.Body, &started); err != nil || res.StatusCode != http.StatusOK || started.AuthorizationURL == "" {
		t.Fatalf("start link: %d %+v %v", res.StatusCode, started, err)
	}
	res.Body.Close()
	m.QueueUser(&mockoidc.MockUser{Subject: "erin-up", Email: "erin@elsewhere.example", EmailVerified: true, PreferredUsername: "erin2"})
	if status, _, body := b.follow(started.AuthorizationURL); status != http.StatusOK || !strings.Contains(body, "Account linked") {
		t.Fatalf("link callback: %d %s", status, body)
	}
	list := ts.get("/auth/users/me/identities/", tok.AccessToken)
	if list.Status != http.StatusOK || !strings.Contains(string(list.Body), `"backend":"mock"`) || !strings.Contains(string(list.Body), `"subject":"erin-up"`) {
		t.Fatalf("list: %s", list)
	}
	m.QueueUser(&mockoidc.MockUser{Subject: "erin-up", Email: "erin@elsewhere.example", EmailVerified: true})
	if status, _, body := newSocialBrowser(t).follow(ts.URL + "/login/mock"); status != http.StatusOK || !strings.Contains(body, "erin") {
		t.Fatalf("sign in with the linked account: %d %s", status, body)
	}
	del := ts.adminJSON(http.MethodDelete, "/auth/users/me/identities/mock/", tok.AccessToken, nil)
	if del.Status != http.StatusNoContent {
		t.Fatalf("unlink: %s", del)
	}
	if got, _ := ts.srv.Store().ListIdentities(t.Context(), erin.ID); len(got) != 0 {
		t.Fatalf("after unlink: %+v", got)
	}

	// A provisioned account has no password: its one identity stays.
	m.QueueUser(&mockoidc.MockUser{Subject: "frank-up", Email: "frank@mock.example", EmailVerified: true, PreferredUsername: "frank"})
	fb := newSocialBrowser(t)
	if status, _, _ := fb.follow(ts.URL + "/login/mock"); status != http.StatusOK {
		t.Fatalf("frank's sign-in: %d", status)
	}
	unlink, _ := http.NewRequest(http.MethodDelete, ts.URL+"/auth/users/me/identities/mock/", nil)
	unlink.Header.Set("X-CSRFToken", fb.cookie(ts.URL, "csrftoken"))
	res, err = fb.client.Do(unlink)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "last_sign_in_method") {
		t.Fatalf("unlinking the only way in: %d %s", res.StatusCode, body)
	}
	frank := ts.user("frank")
	if got, _ := ts.srv.Store().ListIdentities(t.Context(), frank.ID); !slices.ContainsFunc(got, func(l storage.LinkedIdentity) bool { return l.Subject == "frank-up" }) {
		t.Fatalf("frank's identity is gone: %+v", got)
	}
}

func (b *socialBrowser) cookie(base, name string) string {
	for _, c := range b.client.Jar.Cookies(socialURL(b.t, base)) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// Another latchkey is the upstream: the user signs in on the upstream's
// own login page in a real browser, and the identity is linked to the
// existing local account with the same verified e-mail.
func TestSocialSignInAtAnotherLatchkeyLinksByVerifiedEmail(t *testing.T) {
	up := startServerAt(t, "127.0.0.1:0", t.TempDir(), newLiveClock(), func(c *config.Config) { c.UI.ProductName = "Upstream ID" })
	upAdmin := up.adminToken()
	meta := map[string]any{
		"client_id": "downstream", "client_name": "Downstream latchkey", "token_endpoint_auth_method": "client_secret_basic",
		"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://placeholder.example/cb"},
		"scope": "openid email profile", "skip_consent": true,
	}
	created := up.createClient(upAdmin, meta)
	secret, _ := created["client_secret"].(string)
	upUser := up.createUser("hana", "hana-upstream-pass-1", false)
	if _, err := up.srv.Store().UpdateUser(t.Context(), upUser.ID, func(u *storage.User) error { u.EmailVerified = true; return nil }); err != nil {
		t.Fatal(err)
	}

	ts := startSocialServer(t, oidcBackend(t, "up", map[string]any{
		"issuer": up.URL, "client_id": "downstream", "client_secret": secret, "display_name": "Upstream ID",
		"scopes": []string{"openid", "email", "profile"}, "link_by_verified_email": true,
	}))
	meta["redirect_uris"] = []string{ts.URL + "/login/up/callback"}
	delete(meta, "client_id")
	if res := up.adminJSON(http.MethodPut, "/admin/clients/downstream/", upAdmin, meta); res.Status != http.StatusOK {
		t.Fatalf("register the downstream's callback upstream: %s", res)
	}
	local := ts.createUser("hana-local", "hana-local-pass-1", false)
	if _, err := ts.srv.Store().UpdateUser(t.Context(), local.ID, func(u *storage.User) error {
		u.Email, u.EmailVerified = upUser.Email, true
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	b := pagestest.NewBrowser(t)
	res := b.Response(chromedp.Navigate(ts.URL + "/login"))
	if res.Status != http.StatusOK {
		t.Fatalf("login page: %d", res.Status)
	}
	res = b.Response(chromedp.Click(chromedp.CSS(`[data-backend="up"]`)))
	if !strings.HasPrefix(res.URL, up.URL+"/login?request=") {
		t.Fatalf("the button led to %s, want the upstream's login page", res.URL)
	}
	if got := b.Text(".product"); got != "Upstream ID" {
		t.Fatalf("upstream page product %q", got)
	}
	b.Fill(`input[name=username]`, "hana")
	b.Fill(`input[name=password]`, "hana-upstream-pass-1")
	res = b.Submit(`button[type=submit]`)
	if !strings.HasPrefix(res.URL, ts.URL+"/login") || !strings.Contains(b.Text("main p"), "hana-local") {
		t.Fatalf("back at %s: %q", res.URL, b.Text("main"))
	}
	list, err := ts.srv.Store().ListIdentities(t.Context(), local.ID)
	if err != nil || len(list) != 1 || list[0].Backend != "up" || list[0].Subject != fmt.Sprint(upUser.ID) {
		t.Fatalf("identities %+v, %v", list, err)
	}
}

// upstreamIDToken signs in at mockoidc as a native app would (its own
// code flow) and returns the ID token it got.
func upstreamIDToken(t *testing.T, m *mockoidc.MockOIDC) string {
	t.Helper()
	cfg := m.Config()
	b := newSocialBrowser(t)
	q := url.Values{"client_id": {cfg.ClientID}, "redirect_uri": {"http://127.0.0.1/app"}, "response_type": {"code"},
		"scope": {"openid email profile"}, "state": {"s"}, "nonce": {"n"}}
	_, loc, _ := b.get(m.AuthorizationEndpoint() + "?" + q.Encode())
	code := socialURL(t, loc).Query().Get("code")
	res, err := http.PostForm(m.TokenEndpoint(), url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1/app"},
		"client_id": {cfg.ClientID}, "client_secret": {cfg.ClientSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := decodeJSON(res.Body, &tok); err != nil || tok.IDToken == "" {
		t.Fatalf("upstream token: %d %v", res.StatusCode, err)
	}
	return tok.IDToken
}

// A native app trades an ID token from a configured provider for latchkey
// tokens (RFC 8693): the identity is provisioned (or found) exactly as in
// a browser sign-in; a forged, foreign or unknown-issuer ID token is
// invalid_request.
func TestSocialTokenExchangeOfAnIDToken(t *testing.T) {
	m := startMockUpstream(t)
	ts := startSocialServer(t, oidcBackend(t, "mock", mockBlock(m, map[string]any{"provision": true})))
	m.QueueUser(&mockoidc.MockUser{Subject: "native-1", Email: "ivy@mock.example", EmailVerified: true, PreferredUsername: "ivy"})
	idt := upstreamIDToken(t, m)
	exchange := func(subject, typ string) response {
		return ts.postForm("/oauth2/token", url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
			"subject_token_type": {typ}, "scope": {"openid profile"},
		}, demoClient, demoSecret)
	}
	res := exchange(idt, "urn:ietf:params:oauth:token-type:id_token")
	if res.Status != http.StatusOK {
		t.Fatalf("exchange: %s", res)
	}
	body := res.json(t)
	if body["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" {
		t.Fatalf("answer %v", body)
	}
	ivy := ts.user("ivy")
	active, claims := ts.introspectActive(body["access_token"].(string))
	if !active || claims["sub"] != fmt.Sprint(ivy.ID) || claims["idp"] != "mock" {
		t.Fatalf("the exchanged token: active %v claims %v (ivy is %d)", active, claims, ivy.ID)
	}
	// A refresh token, asked for by requested_token_type: it is the
	// issued token (RFC 8693 §2.2.1) and works at the token endpoint.
	rt := ts.postForm("/oauth2/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {idt},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:id_token"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}, "scope": {"openid profile offline_access"},
	}, demoClient, demoSecret)
	if rt.Status != http.StatusOK {
		t.Fatalf("exchange for a refresh token: %s", rt)
	}
	rtBody := rt.json(t)
	refresh, _ := rtBody["access_token"].(string)
	if rtBody["issued_token_type"] != "urn:ietf:params:oauth:token-type:refresh_token" || rtBody["token_type"] != "N_A" || !strings.HasPrefix(refresh, "lk_rt_") {
		t.Fatalf("refresh exchange answer %v", rtBody)
	}
	if res := ts.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, demoClient, demoSecret); res.Status != http.StatusOK {
		t.Fatalf("the exchanged refresh token at the token endpoint: %s", res)
	}
	// A personal access token gets no refresh token.
	pat := ts.postForm("/oauth2/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {"lk_pat_nothing"},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:access_token"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"},
	}, demoClient, demoSecret)
	if pat.Status != http.StatusBadRequest {
		t.Fatalf("a refresh token for an access-token subject: %s", pat)
	}
	// Again: the same account, no second user.
	if res := exchange(idt, "urn:ietf:params:oauth:token-type:id_token"); res.Status != http.StatusOK {
		t.Fatalf("second exchange: %s", res)
	}
	if n, _ := ts.srv.Store().CountUsers(t.Context()); n != 2 {
		t.Fatalf("%d users, want admin and ivy", n)
	}
	parts := strings.Split(idt, ".")
	for name, tok := range map[string]string{
		"a tampered signature":   parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"garbage":                "not-a-jwt",
		"an issuer nobody knows": parts[0] + "." + b64JSON(t, map[string]any{"iss": "https://evil.example", "sub": "x", "aud": "y"}) + "." + parts[2],
	} {
		if res := exchange(tok, "urn:ietf:params:oauth:token-type:id_token"); res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "invalid_request") {
			t.Errorf("%s: %s", name, res)
		}
	}
}

// The page a user sees when their upstream account has no account here
// and the backend does not provision: in a real browser, with its
// screenshot.
func TestSocialRefusalPageInABrowser(t *testing.T) {
	m := startMockUpstream(t)
	ts := startSocialServer(t, oidcBackend(t, "mock", mockBlock(m, nil)))
	b := pagestest.NewBrowser(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "stranger", Email: "stranger@example.com", EmailVerified: true, PreferredUsername: "stranger"})
	b.Response(chromedp.Navigate(ts.URL + "/login"))
	res := b.Response(chromedp.Click(chromedp.CSS(`[data-backend="mock"]`)))
	if res.Status != http.StatusForbidden || b.Text("h1") != "No account for you here yet" {
		t.Fatalf("%d: %q", res.Status, b.Text("h1"))
	}
	wantPageHeaders(t, "refusal page", browserHeaders(res))
	b.Screenshots("social-not-linked")
}
