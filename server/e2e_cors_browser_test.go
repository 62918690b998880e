package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers/pages/pagestest"
)

// spaPage is a single-page app on another origin: it logs in through
// /auth/jwt/create/ (a JSON POST, so the browser sends a preflight), then
// reads /auth/users/me/ with the bearer token, and writes what happened
// into #out.
const spaPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>spa</title></head>
<body><pre id="out"></pre>
<script>
const api = %q;
async function run() {
  const res = await fetch(api + "/auth/jwt/create/", {
    method: "POST", credentials: "include",
    headers: {"Content-Type": "application/json", "X-CSRFToken": "unused"},
    body: JSON.stringify({username: %q, password: %q}),
  });
  const pair = await res.json();
  const me = await fetch(api + "/auth/users/me/", {headers: {"Authorization": "Bearer " + pair.access}});
  const user = await me.json();
  return {create: res.status, me: me.status, username: user.username, cache: me.headers.get("Cache-Control")};
}
run().then(r => { document.getElementById("out").textContent = JSON.stringify(r); },
           e => { document.getElementById("out").textContent = JSON.stringify({error: String(e)}); })
  .finally(() => { document.body.setAttribute("data-done", "1"); });
</script></body></html>`

// browser starts headless Chromium through pagestest (Debian's chromium,
// installed by scripts/chromium.sh in CI), with its services gate.
func browser(t *testing.T) context.Context {
	t.Helper()
	return pagestest.NewBrowser(t).Context()
}

// runSPA opens the page at pageURL and returns what it wrote into #out.
func runSPA(t *testing.T, ctx context.Context, pageURL string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(pageURL),
		chromedp.WaitReady(chromedp.CSS("body[data-done]")),
	); err != nil {
		t.Fatalf("browser at %s: %v", pageURL, err)
	}
	out, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#out")))
	if err != nil {
		t.Fatalf("browser at %s: read #out: %v", pageURL, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("the page wrote %q: %v", out, err)
	}
	return m
}

// The review's reproduction of a front-end on another origin: an SPA in
// headless Chromium, served from another port, logs in with
// /auth/jwt/create/ (after a preflight) and reads /auth/users/me/ with the
// bearer token; a page from an origin not in http.cors.allowed_origins
// cannot read the API at all.
func TestACrossOriginSPAInABrowserUsesTheUserAPI(t *testing.T) {
	mux := http.NewServeMux()
	allowed := httptest.NewServer(mux)
	t.Cleanup(allowed.Close)
	other := httptest.NewServer(mux)
	t.Cleanup(other.Close)
	ts := startServer(t, func(c *config.Config) {
		c.HTTP.CORS.AllowedOrigins = []string{allowed.URL}
	})
	if strings.HasPrefix(ts.URL, allowed.URL) {
		t.Fatalf("the SPA and the API share an origin: %s", ts.URL)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, spaPage, ts.URL, adminUser, adminPass)
	})
	ctx := browser(t)

	got := runSPA(t, ctx, allowed.URL+"/")
	if got["create"] != 200.0 || got["me"] != 200.0 || got["username"] != adminUser || got["cache"] != "no-store" {
		t.Errorf("the SPA on an allowed origin got %v, want both calls 200 for %s with no-store", got, adminUser)
	}

	got = runSPA(t, ctx, other.URL+"/")
	if e, _ := got["error"].(string); !strings.Contains(e, "Failed to fetch") {
		t.Errorf("a page on an origin that is not allowed got %v, want the browser to refuse (TypeError: Failed to fetch)", got)
	}
}

// CORS is answered only where it is configured: the preflight of an allowed
// origin on the browser routes, never "*", never on /admin/ unless
// http.cors.admin, nothing for an origin that is not listed.
func TestCORSPreflightOnlyWhereConfigured(t *testing.T) {
	const origin = "https://app.example.com"
	preflight := func(ts *testServer, path, from string) http.Header {
		req := ts.newRequest(http.MethodOptions, path, nil)
		req.Header.Set("Origin", from)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-csrftoken")
		res := ts.do(req)
		return res.Header
	}
	ts := startServer(t, func(c *config.Config) { c.HTTP.CORS.AllowedOrigins = []string{origin} })
	for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/userinfo", "/oauth2/jwks",
		"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/auth/jwt/create/", "/auth/users/me/"} {
		h := preflight(ts, path, origin)
		if h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("%s: preflight from %s got %v", path, origin, h)
		}
		allowedHeaders := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
		for _, want := range []string{"authorization", "content-type", "x-csrftoken"} {
			if !strings.Contains(allowedHeaders, want) {
				t.Errorf("%s: Access-Control-Allow-Headers %q lacks %s", path, allowedHeaders, want)
			}
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: preflight without nosniff", path)
		}
		if h := preflight(ts, path, "https://evil.example.com"); h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: preflight from an origin not listed got %v", path, h)
		}
	}
	for _, path := range []string{"/admin/clients/", "/oauth2/introspect", "/healthz", "/metrics"} {
		if h := preflight(ts, path, origin); h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS answered without being configured for it: %v", path, h)
		}
	}
	// A simple cross-origin GET gets the header on a browser route only.
	req := ts.newRequest(http.MethodGet, "/oauth2/jwks", nil)
	req.Header.Set("Origin", origin)
	if res := ts.do(req); res.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("GET /oauth2/jwks from %s: %v", origin, res.Header)
	}

	withAdmin := startServer(t, func(c *config.Config) {
		c.HTTP.CORS.AllowedOrigins = []string{origin}
		c.HTTP.CORS.Admin = true
	})
	if h := preflight(withAdmin, "/admin/clients/", origin); h.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("/admin/clients/ with http.cors.admin: preflight got %v", h)
	}
}
