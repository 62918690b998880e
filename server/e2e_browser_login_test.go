package server_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers/pages/pagestest"
)

// oidcApp is a web application signing users in through latchkey,
// written as one would with golang.org/x/oauth2 and go-oidc: PKCE S256,
// state and nonce, the code exchanged at the token endpoint and the ID
// token verified against the issuer's discovery and JWKS.
type oidcApp struct {
	*httptest.Server
	conf     *oauth2.Config
	verifier *oidc.IDTokenVerifier

	mu      sync.Mutex
	pending map[string]oidcAppLogin // by state
	// Results of the callbacks, newest last.
	results []oidcAppResult
}

type oidcAppLogin struct{ nonce, verifier string }

type oidcAppResult struct {
	err     string // the error the authorization server sent back
	state   string
	iss     string
	token   *oauth2.Token
	rawID   string
	idToken *oidc.IDToken
	claims  map[string]any
}

func newOIDCApp(t *testing.T, issuer string) *oidcApp {
	t.Helper()
	rp := &oidcApp{pending: map[string]oidcAppLogin{}}
	mux := http.NewServeMux()
	rp.Server = httptest.NewServer(mux)
	t.Cleanup(rp.Close)
	prov, err := oidc.NewProvider(t.Context(), issuer)
	if err != nil {
		t.Fatalf("relying party: discovery: %v", err)
	}
	rp.conf = &oauth2.Config{
		ClientID: "webapp", ClientSecret: "", Endpoint: prov.Endpoint(),
		RedirectURL: rp.URL + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email", "offline_access"},
	}
	rp.verifier = prov.Verifier(&oidc.Config{ClientID: "webapp"})
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
		rp.mu.Lock()
		rp.pending[state] = oidcAppLogin{nonce: nonce, verifier: verifier}
		rp.mu.Unlock()
		opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
		if p := r.URL.Query().Get("prompt"); p != "" {
			opts = append(opts, oauth2.SetAuthURLParam("prompt", p))
		}
		if res := r.URL.Query().Get("resource"); res != "" {
			opts = append(opts, oauth2.SetAuthURLParam("resource", res))
		}
		http.Redirect(w, r, rp.conf.AuthCodeURL(state, opts...), http.StatusFound)
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		res := oidcAppResult{err: q.Get("error"), state: q.Get("state"), iss: q.Get("iss")}
		rp.mu.Lock()
		login, ok := rp.pending[res.state]
		delete(rp.pending, res.state)
		rp.mu.Unlock()
		defer func() {
			rp.mu.Lock()
			rp.results = append(rp.results, res)
			rp.mu.Unlock()
		}()
		if !ok {
			res.err = "unknown state"
			http.Error(w, res.err, http.StatusBadRequest)
			return
		}
		if res.err != "" {
			http.Error(w, "sign-in failed: "+res.err, http.StatusForbidden)
			return
		}
		tok, err := rp.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(login.verifier))
		if err != nil {
			res.err = "exchange: " + err.Error()
			http.Error(w, res.err, http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := rp.verifier.Verify(r.Context(), raw)
		if err == nil && idt.Nonce != login.nonce {
			err = fmt.Errorf("nonce %q, want %q", idt.Nonce, login.nonce)
		}
		if err == nil {
			err = idt.VerifyAccessToken(tok.AccessToken)
		}
		if err != nil {
			res.err = "id token: " + err.Error()
			http.Error(w, res.err, http.StatusBadGateway)
			return
		}
		res.token, res.rawID, res.idToken = tok, raw, idt
		_ = idt.Claims(&res.claims)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>App</title><h1 id="hello">Hello %s</h1>`, html.EscapeString(fmt.Sprint(res.claims["preferred_username"])))
	})
	mux.HandleFunc("/bye", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>App</title><h1 id="bye">Signed out %s</h1>`, html.EscapeString(r.URL.Query().Get("state")))
	})
	return rp
}

func (rp *oidcApp) last(t *testing.T) oidcAppResult {
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.results) == 0 {
		t.Fatal("the relying party got no callback")
	}
	return rp.results[len(rp.results)-1]
}

func (rp *oidcApp) count() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return len(rp.results)
}

func randomString() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// A real browser signs in to a relying party built on x/oauth2 and go-oidc:
// the hosted login and consent pages, a code with PKCE, an ID token the RP
// verifies; the session and the remembered consent make the next sign-in
// a redirect; the session cookie works on /auth/; RP-initiated logout ends
// it. Screenshots of each page go to the test artifacts.
func TestBrowserSignInWithARelyingParty(t *testing.T) {
	ts := startServerAt(t, "127.0.0.1:0", t.TempDir(), newLiveClock(), func(c *config.Config) {
		c.UI.ProductName = "Acme Accounts"
	})
	b := pagestest.NewBrowser(t)
	const pw = "correct-horse-42"
	alice := ts.createUser("alice", pw, false)
	rp := newOIDCApp(t, ts.URL)
	admin := ts.adminToken()
	created := ts.createClient(admin, map[string]any{
		"client_id": "webapp", "client_name": "Acme Web", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{rp.URL + "/callback"}, "post_logout_redirect_uris": []string{rp.URL + "/bye"},
		"scope": "openid profile email offline_access",
	})
	if gt := fmt.Sprint(created["grant_types"]); gt != "[authorization_code refresh_token]" {
		t.Fatalf("a client with a redirect URI got grant types %s", gt)
	}

	t.Run("sign in and consent on the hosted pages", func(t *testing.T) {
		b := b.With(t)
		res := b.Response(chromedp.Navigate(rp.URL + "/start"))
		if !strings.HasPrefix(res.URL, ts.URL+"/login?request=") || res.Status != http.StatusOK {
			t.Fatalf("the browser is at %s (%d), want the login page", res.URL, res.Status)
		}
		wantPageHeaders(t, "login page", browserHeaders(res))
		if got := b.Text("h1"); got != "Sign in" {
			t.Errorf("h1 %q", got)
		}
		if got := b.Text("main p"); !strings.Contains(got, "Acme Web") {
			t.Errorf("the login page does not name the application: %q", got)
		}
		b.Screenshots("browser-login")

		b.Fill(`input[name=username]`, "alice")
		b.Fill(`input[name=password]`, "wrong-password-1")
		res = b.Submit(`button[type=submit]`)
		if res.Status != http.StatusBadRequest || !strings.Contains(b.Text("#form-error"), "incorrect") {
			t.Fatalf("a wrong password: %d, %q", res.Status, b.Text("#form-error"))
		}
		b.Screenshots("browser-login-error")

		b.Do(chromedp.Clear(chromedp.CSS(`input[name=username]`)))
		b.Fill(`input[name=username]`, "alice")
		b.Fill(`input[name=password]`, pw)
		res = b.Submit(`button[type=submit]`)
		if !strings.HasPrefix(res.URL, ts.URL+"/consent?request=") {
			t.Fatalf("after login the browser is at %s, want the consent page", res.URL)
		}
		wantPageHeaders(t, "consent page", browserHeaders(res))
		if got := b.Text("h1"); !strings.Contains(got, "Acme Web") {
			t.Errorf("consent h1 %q", got)
		}
		if got := b.Text(`li[data-scope="email"]`); !strings.Contains(got, "e-mail") {
			t.Errorf("the email scope in words: %q", got)
		}
		b.Screenshots("browser-consent")

		res = b.Submit(`button[name=decision][value=allow]`)
		if !strings.HasPrefix(res.URL, rp.URL+"/callback?") || res.Status != http.StatusOK {
			t.Fatalf("after consent the browser is at %s (%d)", res.URL, res.Status)
		}
		if got := b.Text("#hello"); got != "Hello alice" {
			t.Fatalf("the relying party says %q", got)
		}
		r := rp.last(t)
		if r.err != "" || r.iss != ts.URL {
			t.Fatalf("callback: err %q iss %q", r.err, r.iss)
		}
		if r.idToken.Subject != fmt.Sprint(alice.ID) || r.claims["sid"] == nil || fmt.Sprint(r.claims["amr"]) != "[pwd]" || r.claims["auth_time"] == nil {
			t.Errorf("id token claims %v", r.claims)
		}
		if r.token.RefreshToken == "" {
			t.Error("offline_access was granted but no refresh token came")
		}
	})

	t.Run("the session cookie has the contract's flags", func(t *testing.T) {
		got, err := chromedp.Call(b.Context(), network.GetCookies, network.GetCookiesParams{URLs: []string{ts.URL}})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, c := range got.Cookies {
			if c.Name != "latchkey_session" {
				continue
			}
			found = true
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Secure {
				t.Errorf("latchkey_session: HttpOnly %v SameSite %v Path %q Secure %v", c.HTTPOnly, c.SameSite, c.Path, c.Secure)
			}
		}
		if !found {
			t.Fatal("no latchkey_session cookie")
		}
	})

	t.Run("the next sign-in is a redirect", func(t *testing.T) {
		b := b.With(t)
		before := rp.count()
		res := b.Response(chromedp.Navigate(rp.URL + "/start"))
		if !strings.HasPrefix(res.URL, rp.URL+"/callback?") || b.Text("#hello") != "Hello alice" {
			t.Fatalf("the browser is at %s, want straight back at the application", res.URL)
		}
		if rp.count() != before+1 || rp.last(t).err != "" {
			t.Fatalf("callback: %+v", rp.last(t))
		}
	})

	t.Run("the session cookie authenticates the user API", func(t *testing.T) {
		b := b.With(t)
		b.Response(chromedp.Navigate(ts.URL + "/auth/users/me/"))
		var me map[string]any
		if err := json.Unmarshal([]byte(b.Text("body")), &me); err != nil || me["username"] != "alice" {
			t.Fatalf("/auth/users/me/ with the session cookie: %v %v", me, err)
		}
		b.Response(chromedp.Navigate(ts.URL + "/auth/users/me/sessions/"))
		body := b.Text("body")
		if !strings.Contains(body, `"client_id":"latchkey-browser"`) || !strings.Contains(body, `"client_id":"webapp"`) {
			t.Fatalf("the sessions list lacks the browser session or the application's: %s", body)
		}
	})

	t.Run("an unregistered redirect URI is an error page, not a redirect", func(t *testing.T) {
		b := b.With(t)
		q := url.Values{
			"response_type": {"code"}, "client_id": {"webapp"}, "redirect_uri": {"https://evil.example/callback"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
		}
		res := b.Response(chromedp.Navigate(ts.URL + "/oauth2/authorize?" + q.Encode()))
		if res.Status != http.StatusBadRequest || !strings.HasPrefix(res.URL, ts.URL+"/oauth2/authorize") {
			t.Fatalf("status %d at %s", res.Status, res.URL)
		}
		wantPageHeaders(t, "error page", browserHeaders(res))
		if got := b.Text("h1"); got != "This sign-in link does not work" {
			t.Errorf("h1 %q", got)
		}
		b.Screenshots("browser-authorize-error")
	})

	t.Run("RP-initiated logout ends the session and returns to the application", func(t *testing.T) {
		b := b.With(t)
		hint := rp.last(t).rawID
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {rp.URL + "/bye"}, "state": {"s-42"}}
		res := b.Response(chromedp.Navigate(ts.URL + "/oauth2/logout?" + q.Encode()))
		if !strings.HasPrefix(res.URL, rp.URL+"/bye?") || b.Text("#bye") != "Signed out s-42" {
			t.Fatalf("after logout the browser is at %s", res.URL)
		}
		res = b.Response(chromedp.Navigate(rp.URL + "/start?prompt=none"))
		if r := rp.last(t); r.err != "login_required" {
			t.Fatalf("prompt=none after logout: %q at %s", r.err, res.URL)
		}
		res = b.Response(chromedp.Navigate(rp.URL + "/start"))
		if !strings.HasPrefix(res.URL, ts.URL+"/login?") {
			t.Fatalf("after logout a sign-in is at %s, want the login page", res.URL)
		}
	})

	t.Run("logout without a hint asks first", func(t *testing.T) {
		b := b.With(t)
		b.Fill(`input[name=username]`, "alice")
		b.Fill(`input[name=password]`, pw)
		if res := b.Submit(`button[type=submit]`); !strings.HasPrefix(res.URL, rp.URL+"/callback?") {
			t.Fatalf("sign in again: at %s", res.URL)
		}
		res := b.Response(chromedp.Navigate(ts.URL + "/oauth2/logout"))
		if res.Status != http.StatusOK {
			t.Fatalf("logout page: %d", res.Status)
		}
		wantPageHeaders(t, "logout page", browserHeaders(res))
		b.Screenshots("browser-logout")
		b.Submit(`button[name=decision][value=logout]`)
		if got := b.Text("h1"); got != "You are signed out" {
			t.Fatalf("after confirming: %q", got)
		}
		b.Screenshots("browser-signed-out")
	})
}
