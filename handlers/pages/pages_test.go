package pages_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/handlers/pages"
)

// accountsFunc records what the pages asked of the user API; the real
// *accounts.Service is exercised end to end in server/e2e_pages_test.go.
type accountsFunc struct {
	activated []accounts.Input
	err       error
}

func (a *accountsFunc) Activate(_ context.Context, in accounts.Input) error {
	a.activated = append(a.activated, in)
	return a.err
}

func (a *accountsFunc) ResetPasswordConfirm(context.Context, accounts.Input, string, string, bool) error {
	return a.err
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newPages(t *testing.T, acc pages.Accounts, opts pages.Options) http.Handler {
	t.Helper()
	opts.Accounts, opts.CSRF = acc, pages.NewCSRF(testKey, false)
	p, err := pages.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	p.Register(r)
	return r
}

func TestCSRFTokens(t *testing.T) {
	c := pages.NewCSRF(testKey, true)
	tok := c.Sign("session-1")
	if !c.Verify("session-1", tok) {
		t.Fatal("a token does not verify")
	}
	other := pages.NewCSRF([]byte("another key, another server....."), true)
	for name, ok := range map[string]bool{
		"another binding":  c.Verify("session-2", tok),
		"another key":      other.Verify("session-1", tok),
		"a truncated one":  c.Verify("session-1", tok[:len(tok)-1]),
		"an empty token":   c.Verify("session-1", ""),
		"an empty binding": c.Verify("", c.Sign("")),
	} {
		if ok {
			t.Errorf("%s verifies", name)
		}
	}

	w := httptest.NewRecorder()
	token := c.Token(w, httptest.NewRequest(http.MethodGet, "/", nil))
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != pages.CSRFCookie || !cookies[0].HttpOnly || !cookies[0].Secure || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookies %+v", cookies)
	}
	post := func(token string, cookie *http.Cookie) bool {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(url.Values{pages.CSRFField: {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != nil {
			r.AddCookie(cookie)
		}
		return c.Check(r)
	}
	if !post(token, cookies[0]) {
		t.Error("the form's token is refused")
	}
	if post(token, nil) || post("", cookies[0]) || post(cookies[0].Value, cookies[0]) {
		t.Error("a POST without cookie, without token, or with the cookie as token passes")
	}
	// A browser that has the cookie keeps it (and its open forms' tokens).
	w = httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(cookies[0])
	if again := c.Token(w, r); again != token || len(w.Result().Cookies()) != 0 {
		t.Errorf("a second page changed the token or the cookie")
	}
	// A malformed cookie is replaced.
	w = httptest.NewRecorder()
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: pages.CSRFCookie, Value: "short"})
	c.Token(w, r)
	if len(w.Result().Cookies()) != 1 {
		t.Error("a malformed cookie was kept")
	}
}

func TestDeriveCSRFKey(t *testing.T) {
	a, err := pages.DeriveCSRFKey(testKey)
	if err != nil || len(a) != 32 || string(a) == string(testKey) {
		t.Fatalf("key %x, %v", a, err)
	}
	if _, err := pages.DeriveCSRFKey([]byte("short")); err == nil {
		t.Error("a short master key is accepted")
	}
}

// GET never changes anything: mail scanners follow links.
func TestActivationGETChangesNothing(t *testing.T) {
	acc := &accountsFunc{}
	h := newPages(t, acc, pages.Options{ProductName: "Acme", LogoURL: "https://cdn.acme.test/logo.svg"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/activate/MQ/tok-1", nil))
	if w.Code != http.StatusOK || len(acc.activated) != 0 {
		t.Fatalf("GET: %d, activations %d", w.Code, len(acc.activated))
	}
	body := w.Body.String()
	for _, want := range []string{`<img class="logo" src="https://cdn.acme.test/logo.svg" alt="">`, `<title>Activate your account · Acme</title>`, `action="/activate/MQ/tok-1"`, `name="csrf_token"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	// The logo's origin, and only it, may serve images.
	if got := w.Header().Get("Content-Security-Policy"); got != "default-src 'self'; frame-ancestors 'none'; img-src 'self' https://cdn.acme.test" {
		t.Errorf("CSP %q", got)
	}
}

// The user API's failures become pages in words a user understands, with
// no internals.
func TestActivationErrorsArePages(t *testing.T) {
	for name, tc := range map[string]struct {
		err    error
		status int
		title  string
	}{
		"a bad token":       {accounts.FieldErrors{"token": {"Invalid token for given user."}}, http.StatusBadRequest, "This link does not work"},
		"an active account": {&accounts.Error{Status: http.StatusForbidden, Detail: "Stale token for given user."}, http.StatusConflict, "Your account is already active"},
		"a store outage":    {accounts.ErrUnavailable, http.StatusServiceUnavailable, "Please try again later"},
		"a bug":             {context.DeadlineExceeded, http.StatusInternalServerError, "Something went wrong"},
	} {
		t.Run(name, func(t *testing.T) {
			acc := &accountsFunc{err: tc.err}
			h := newPages(t, acc, pages.Options{})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/activate/MQ/tok-1", nil))
			cookie := w.Result().Cookies()[0]
			token := strings.SplitN(strings.SplitN(w.Body.String(), `name="csrf_token" value="`, 2)[1], `"`, 2)[0]
			r := httptest.NewRequest(http.MethodPost, "/activate/MQ/tok-1", strings.NewReader(url.Values{"csrf_token": {token}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.AddCookie(cookie)
			w = httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), "<h1>"+tc.title+"</h1>") {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			for _, leak := range []string{"Stale token", "Invalid token", "deadline", "Service temporarily"} {
				if strings.Contains(w.Body.String(), leak) {
					t.Errorf("the page shows %q", leak)
				}
			}
			if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("X-Frame-Options") != "DENY" {
				t.Errorf("headers %v", w.Header())
			}
		})
	}
}

func TestTemplateOverridesAreCheckedAtStart(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"a syntax error":            {map[string]string{"layout.html": "{{template"}, "layout.html"},
		"a field views do not have": {map[string]string{"reset_done.html": `{{define "title"}}{{.User.Email}}{{end}}{{define "content"}}{{end}}`}, "reset_done.html"},
		"a misspelt name":           {map[string]string{"activte.html": "x"}, "activte.html overrides no template"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := pages.New(pages.Options{Accounts: &accountsFunc{}, CSRF: pages.NewCSRF(testKey, false), Templates: dir})
			if err == nil || !strings.Contains(err.Error(), "ui.templates") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ui.templates and %q", err, tc.want)
			}
		})
	}
	if _, err := pages.New(pages.Options{Accounts: &accountsFunc{}, CSRF: pages.NewCSRF(testKey, false), Templates: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("a missing folder is accepted")
	}

	// The stylesheet can be overridden too; its URL follows its content.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "style.css"), []byte("body{color:red}"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newPages(t, &accountsFunc{}, pages.Options{Templates: dir})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, pages.StylePath, nil))
	if w.Body.String() != "body{color:red}" {
		t.Errorf("style %q", w.Body)
	}
}
