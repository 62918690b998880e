package server_test

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/local"
	"github.com/latchkey-auth/latchkey/cmd/latchkey/stores"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers/pages"
	"github.com/latchkey-auth/latchkey/handlers/pages/pagestest"
	"github.com/latchkey-auth/latchkey/mail/mailtest"
	"github.com/latchkey-auth/latchkey/server"
)

var resetLink = regexp.MustCompile(`(https?://[^/\s]+)/password/reset/confirm/([A-Za-z0-9_-]+)/([0-9a-z]+-[A-Za-z0-9_-]+)`)

// wantPageHeaders checks the contract's headers of a hosted page.
func wantPageHeaders(t *testing.T, what string, get func(string) string) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
	} {
		if got := get(name); got != want {
			t.Errorf("%s: %s = %q, want %q", what, name, got, want)
		}
	}
}

func browserHeaders(res *network.Response) func(string) string {
	return func(name string) string { return pagestest.Header(res, name) }
}

// The e-mailed links open hosted pages that work, in a real browser:
// activation (GET shows a button, only its POST activates) and password
// reset (a labelled form, the user API's policy and errors, sessions end).
func TestPagesActivationAndResetInBrowser(t *testing.T) {
	srv := mailtest.NewServer(t)
	ts := startMailServer(t, nil, func(c *config.Config) {
		smtpTo(srv)(c)
		c.Users.Registration = "activation"
		c.UI.ProductName = "Acme Accounts"
	})
	b := pagestest.NewBrowser(t)
	const pw, next = "pat-pass-1234", "violet-harbor-93"
	if res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "pat", "email": "pat@example.com", "password": pw}); res.Status != http.StatusCreated {
		t.Fatalf("register: %s", res)
	}
	link := activationLink.FindStringSubmatch(receive(t, srv, "pat@example.com").Text)
	if link == nil || link[1] != ts.URL {
		t.Fatalf("activation link %q, want one under %s", link, ts.URL)
	}

	t.Run("the activation link shows a button and changes nothing", func(t *testing.T) {
		b := b.With(t)
		res := b.Response(chromedp.Navigate(link[0]))
		if res.Status != http.StatusOK {
			t.Fatalf("GET %s: %d", link[0], res.Status)
		}
		wantPageHeaders(t, "activation page", browserHeaders(res))
		if h1 := b.Text("h1"); h1 != "Activate your account" {
			t.Errorf("h1 %q", h1)
		}
		if got := b.Text(".product"); got != "Acme Accounts" {
			t.Errorf("product name %q", got)
		}
		b.Screenshots("activate")
		if ts.user("pat").IsActive {
			t.Fatal("GET activated the account")
		}
	})
	t.Run("pressing the button activates", func(t *testing.T) {
		b := b.With(t)
		res := b.Submit(`button[name=decision][value=activate]`)
		if res.Status != http.StatusOK {
			t.Fatalf("POST: %d", res.Status)
		}
		wantPageHeaders(t, "activated page", browserHeaders(res))
		if h1 := b.Text("h1"); h1 != "Your account is active" {
			t.Errorf("h1 %q", h1)
		}
		b.Screenshots("activated")
		if u := ts.user("pat"); !u.IsActive || !u.EmailVerified {
			t.Fatalf("user %+v is not active and verified", u)
		}
		receive(t, srv, "pat@example.com") // the confirmation
	})
	t.Run("a used activation link says so", func(t *testing.T) {
		b := b.With(t)
		b.Response(chromedp.Navigate(link[0]))
		if res := b.Submit(`button[name=decision][value=activate]`); res.Status != http.StatusConflict {
			t.Errorf("second activation: %d", res.Status)
		}
		if h1 := b.Text("h1"); h1 != "Your account is already active" {
			t.Errorf("h1 %q", h1)
		}
	})

	// A session from before the reset; logging in after the mail would spend
	// its link (the token covers last_login, as Django's).
	_, oldRefresh := ts.jwtPair("pat", pw)
	if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "pat@example.com"}); res.Status != http.StatusNoContent {
		t.Fatalf("reset_password: %s", res)
	}
	reset := resetLink.FindStringSubmatch(receive(t, srv, "pat@example.com").Text)
	if reset == nil || reset[1] != ts.URL {
		t.Fatalf("reset link %q, want one under %s", reset, ts.URL)
	}
	hash := ts.user("pat").PasswordHash

	t.Run("the reset link shows a labelled form", func(t *testing.T) {
		b := b.With(t)
		res := b.Response(chromedp.Navigate(reset[0]))
		if res.Status != http.StatusOK {
			t.Fatalf("GET: %d", res.Status)
		}
		wantPageHeaders(t, "reset page", browserHeaders(res))
		if got := b.Text(`label[for=new_password]`); got != "New password" {
			t.Errorf("label %q", got)
		}
		if got := b.Text(`label[for=re_new_password]`); got != "New password again" {
			t.Errorf("label %q", got)
		}
		b.Screenshots("reset")
	})
	t.Run("a mismatched retype shows an error and changes nothing", func(t *testing.T) {
		b := b.With(t)
		b.Fill(`input[name=new_password]`, next)
		b.Fill(`input[name=re_new_password]`, next+"x")
		if res := b.Submit(`button[type=submit]`); res.Status != http.StatusBadRequest {
			t.Errorf("status %d", res.Status)
		}
		if got := b.Text(`#form-error`); got != "The two password fields didn't match." {
			t.Errorf("error %q", got)
		}
		b.Screenshots("reset-mismatch")
		if ts.user("pat").PasswordHash != hash {
			t.Error("the password changed")
		}
	})
	t.Run("the policy's errors show at the field", func(t *testing.T) {
		b := b.With(t)
		b.Fill(`input[name=new_password]`, "short")
		b.Fill(`input[name=re_new_password]`, "short")
		b.Submit(`button[type=submit]`)
		if got := b.Text(`#new_password-error`); !strings.Contains(got, "too short") {
			t.Errorf("error %q", got)
		}
		if ts.user("pat").PasswordHash != hash {
			t.Error("the password changed")
		}
	})
	t.Run("a matching password is set and every session ends", func(t *testing.T) {
		b := b.With(t)
		b.Fill(`input[name=new_password]`, next)
		b.Fill(`input[name=re_new_password]`, next)
		res := b.Submit(`button[type=submit]`)
		if res.Status != http.StatusOK {
			t.Fatalf("status %d", res.Status)
		}
		wantPageHeaders(t, "reset done page", browserHeaders(res))
		if h1 := b.Text("h1"); h1 != "Your password has been changed" {
			t.Errorf("h1 %q", h1)
		}
		b.Screenshots("reset-done")
		ts.jwtPair("pat", next)
		if res := ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "pat", "password": pw}); res.Status != http.StatusUnauthorized {
			t.Errorf("the old password still works: %s", res)
		}
		if res := ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": oldRefresh}); res.Status != http.StatusUnauthorized {
			t.Errorf("a session from before the reset still refreshes: %s", res)
		}
	})
	t.Run("a spent reset link shows the error page", func(t *testing.T) {
		b := b.With(t)
		b.Response(chromedp.Navigate(reset[0]))
		b.Fill(`input[name=new_password]`, "another-pass-5678")
		b.Fill(`input[name=re_new_password]`, "another-pass-5678")
		if res := b.Submit(`button[type=submit]`); res.Status != http.StatusBadRequest {
			t.Errorf("status %d", res.Status)
		}
		if h1 := b.Text("h1"); h1 != "This link does not work" {
			t.Errorf("h1 %q", h1)
		}
		b.Screenshots("error-link")
		ts.jwtPair("pat", next)
	})
}

// A form POST without the CSRF token (or with a forged one) is a 403 page
// and changes nothing.
func TestPagesRefuseForgedPosts(t *testing.T) {
	srv := mailtest.NewServer(t)
	ts := startMailServer(t, nil, func(c *config.Config) { smtpTo(srv)(c); c.Users.Registration = "activation" })
	const pw = "quinn-pass-1234"
	if res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "quinn", "email": "quinn@example.com", "password": pw}); res.Status != http.StatusCreated {
		t.Fatalf("register: %s", res)
	}
	activate := activationLink.FindStringSubmatch(receive(t, srv, "quinn@example.com").Text)
	if activate == nil {
		t.Fatal("no activation link")
	}
	path := strings.TrimPrefix(activate[0], ts.URL)

	// A real page visit: its cookie and token.
	page := ts.do(ts.newRequest(http.MethodGet, path, nil))
	wantPageHeaders(t, "GET", page.Header.Get)
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: page.Header}).Cookies() {
		if c.Name == pages.CSRFCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Fatalf("csrf cookie %+v", cookie)
	}
	token := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page.Body)
	if token == nil {
		t.Fatalf("no csrf_token in %s", page.Body)
	}
	post := func(form url.Values, c *http.Cookie) response {
		req := ts.newRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c != nil {
			req.AddCookie(c)
		}
		return ts.do(req)
	}
	other := &http.Cookie{Name: pages.CSRFCookie, Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	for name, tc := range map[string]struct {
		form   url.Values
		cookie *http.Cookie
	}{
		"no token":                      {url.Values{}, cookie},
		"no cookie":                     {url.Values{"csrf_token": {string(token[1])}}, nil},
		"a token of another cookie":     {url.Values{"csrf_token": {string(token[1])}}, other},
		"a truncated token":             {url.Values{"csrf_token": {string(token[1][:20])}}, cookie},
		"the cookie value as the token": {url.Values{"csrf_token": {cookie.Value}}, cookie},
	} {
		res := post(tc.form, tc.cookie)
		if res.Status != http.StatusForbidden || !bytes.Contains(res.Body, []byte("nothing was changed")) {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
		wantPageHeaders(t, name, res.Header.Get)
		if ts.user("quinn").IsActive {
			t.Fatalf("%s: the account was activated", name)
		}
	}
	// The same request with the token works: the refusals were the token's.
	if res := post(url.Values{"csrf_token": {string(token[1])}}, cookie); res.Status != http.StatusOK || !ts.user("quinn").IsActive {
		t.Fatalf("with the token: %s", res)
	}
	receive(t, srv, "quinn@example.com")

	// The reset form: no token, no new password.
	if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "quinn@example.com"}); res.Status != http.StatusNoContent {
		t.Fatalf("reset_password: %s", res)
	}
	reset := resetLink.FindStringSubmatch(receive(t, srv, "quinn@example.com").Text)
	if reset == nil {
		t.Fatal("no reset link")
	}
	path = strings.TrimPrefix(reset[0], ts.URL)
	if res := post(url.Values{"new_password": {"forged-pass-5678"}, "re_new_password": {"forged-pass-5678"}}, cookie); res.Status != http.StatusForbidden {
		t.Errorf("reset without token: %s", res)
	}
	ts.jwtPair("quinn", pw)
	// A page is not JSON: a JSON body is refused before anything runs.
	req := ts.newRequest(http.MethodPost, path, strings.NewReader(`{"new_password":"forged-pass-5678"}`))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(cookie)
	if res := ts.do(req); res.Status != http.StatusUnsupportedMediaType {
		t.Errorf("JSON post: %s", res)
	}
	ts.jwtPair("quinn", pw)
}

// The stylesheet is served with a long cache under a URL that changes with
// its content.
func TestPagesStylesheet(t *testing.T) {
	ts := startServer(t, nil)
	res := ts.do(ts.newRequest(http.MethodGet, pages.StylePath, nil))
	if res.Status != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") ||
		res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("stylesheet: %d %v", res.Status, res.Header)
	}
}

// With a front-end configured the links keep pointing at it, as djoser's
// ACTIVATION_URL and PASSWORD_RESET_CONFIRM_URL do.
func TestPagesLinksPointAtTheFrontendWhenOneIsSet(t *testing.T) {
	for name, mutate := range map[string]func(*config.Config){
		"users.frontend_url": func(c *config.Config) { c.Users.API.FrontendURL = "https://app.example.test/portal" },
		"users.domain":       func(c *config.Config) { c.Users.API.Domain, c.Users.API.Protocol = "app.example.test/portal", "https" },
	} {
		t.Run(name, func(t *testing.T) {
			srv := mailtest.NewServer(t)
			ts := startMailServer(t, nil, func(c *config.Config) { smtpTo(srv)(c); c.Users.Registration = "activation"; mutate(c) })
			if res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "ray", "email": "ray@example.com", "password": "ray-pass-1234"}); res.Status != http.StatusCreated {
				t.Fatalf("register: %s", res)
			}
			m := receive(t, srv, "ray@example.com")
			if !regexp.MustCompile(`https://app\.example\.test/portal/#/activate/[A-Za-z0-9_-]+/[0-9a-z]+-[A-Za-z0-9_-]+`).MatchString(m.Text) {
				t.Errorf("activation mail:\n%s", m.Text)
			}
			if strings.Contains(m.Text, ts.URL) {
				t.Errorf("the mail links to the issuer:\n%s", m.Text)
			}
		})
	}
}

// A ui.templates override replaces one page; a template that does not parse
// stops the start.
func TestPagesTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "activate.html"), []byte(`{{define "title"}}Welcome aboard{{end}}{{define "content"}}<h1>Welcome to {{.ProductName}}</h1><form method="post" action="{{.Action}}"><input type="hidden" name="csrf_token" value="{{.CSRFToken}}"><button type="submit">Go</button></form>{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *config.Config) { c.UI.Templates = dir; c.UI.ProductName = "Acme" })
	res := ts.do(ts.newRequest(http.MethodGet, "/activate/MQ/x-0", nil))
	if res.Status != http.StatusOK || !bytes.Contains(res.Body, []byte("<h1>Welcome to Acme</h1>")) || !bytes.Contains(res.Body, []byte("<title>Welcome aboard · Acme</title>")) {
		t.Fatalf("overridden page: %s", res)
	}
	// The other pages keep the built-in template.
	if res := ts.do(ts.newRequest(http.MethodGet, "/password/reset/confirm/MQ/x-0", nil)); !bytes.Contains(res.Body, []byte(`<label for="new_password">`)) {
		t.Errorf("reset page: %s", res)
	}

	for name, files := range map[string]map[string]string{
		"a syntax error":         {"reset.html": `{{define "content"}}{{.Nope`},
		"an unknown field":       {"error.html": `{{define "title"}}x{{end}}{{define "content"}}{{.Nope}}{{end}}`},
		"a file that is no page": {"lgoin.html": `x`},
	} {
		t.Run(name, func(t *testing.T) {
			bad := t.TempDir()
			for f, body := range files {
				if err := os.WriteFile(filepath.Join(bad, f), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.UI.Templates = bad
			s, err := server.Open(t.Context(), server.Options{
				Config: cfg, Stores: stores.Opener{}, Out: &bytes.Buffer{},
				Backends: backends.Registry{"local": func() backends.Config { return &local.Config{Argon2: fastArgon2} }},
				Environ:  []string{"LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD=" + adminPass, "LATCHKEY_BOOTSTRAP_CLIENT_SECRET=" + demoSecret},
			})
			if err == nil {
				s.Close()
				t.Fatal("the server started")
			}
			for f := range files {
				if !strings.Contains(err.Error(), "ui.templates") || !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name ui.templates and %s", err, f)
				}
			}
		})
	}
}
