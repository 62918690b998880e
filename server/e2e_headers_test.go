package server_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/config"
)

// Every response is nosniff, and every response but discovery and the JWKS
// (public, cacheable) is no-store: the user API (GET /auth/users/me/ lacked
// it), the admin API, the token, revoke, userinfo and introspection
// endpoints, errors included.
func TestEveryResponseIsNosniffAndNoStoreUnlessPublic(t *testing.T) {
	ts := startServer(t, nil)
	access, refresh := ts.jwtPair(adminUser, adminPass)
	tok := ts.passwordToken(adminUser, adminPass, "openid")
	form := func(path string, v url.Values) response {
		req := ts.newRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(demoClient, demoSecret)
		return ts.do(req)
	}
	for _, tc := range []struct {
		name    string
		res     response
		noStore bool
	}{
		{"GET /auth/users/me/", ts.call(http.MethodGet, "/auth/users/me/", bearer(access), nil), true},
		{"GET /auth/users/", ts.call(http.MethodGet, "/auth/users/", bearer(access), nil), true},
		{"POST /auth/jwt/refresh/", ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}), true},
		{"POST /auth/jwt/verify/", ts.call(http.MethodPost, "/auth/jwt/verify/", "", map[string]any{"token": access}), true},
		{"GET /auth/users/me/ unauthenticated", ts.call(http.MethodGet, "/auth/users/me/", "", nil), true},
		{"GET /admin/clients/", ts.get("/admin/clients/", ts.adminToken()), true},
		{"GET /admin/keys/", ts.get("/admin/keys/", ts.adminToken()), true},
		{"GET /oauth2/userinfo", ts.get("/oauth2/userinfo", tok.AccessToken), true},
		{"POST /oauth2/introspect", form("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}), true},
		{"POST /oauth2/token", form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}), true},
		{"POST /oauth2/token error", form("/oauth2/token", url.Values{"grant_type": {"nope"}}), true},
		{"POST /oauth2/revoke", form("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}}), true},
		{"GET /healthz", ts.get("/healthz", ""), true},
		{"GET /nowhere", ts.get("/nowhere", ""), true},
		{"GET /oauth2/jwks", ts.get("/oauth2/jwks", ""), false},
		{"GET discovery", ts.get("/.well-known/openid-configuration", ""), false},
	} {
		if got := tc.res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", tc.name, got)
		}
		cc := tc.res.Header.Get("Cache-Control")
		if tc.noStore && cc != "no-store" {
			t.Errorf("%s (%d): Cache-Control %q, want no-store", tc.name, tc.res.Status, cc)
		}
		if !tc.noStore && !strings.HasPrefix(cc, "public") {
			t.Errorf("%s: Cache-Control %q, want public caching", tc.name, cc)
		}
		if got := tc.res.Header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("%s: HSTS %q with an http issuer", tc.name, got)
		}
	}
}

// With an https issuer every response carries HSTS, as configured.
func TestHSTSIsSentWhenTheIssuerIsHTTPS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	for _, tc := range []struct {
		name   string
		mutate func(*config.Config)
		want   string
	}{
		{"the default", func(*config.Config) {}, "max-age=31536000"},
		{"a day with subdomains", func(c *config.Config) { c.HTTP.HSTS.MaxAge = 24 * time.Hour; c.HTTP.HSTS.IncludeSubdomains = true }, "max-age=86400; includeSubDomains"},
		{"max_age 0", func(c *config.Config) { c.HTTP.HSTS.MaxAge = 0 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, func(c *config.Config) {
				c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
				c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile
				tc.mutate(c)
			})
			for _, path := range []string{"/healthz", "/oauth2/jwks", "/nowhere"} {
				res, err := client.Get(ts.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if got := res.Header.Get("Strict-Transport-Security"); got != tc.want {
					t.Errorf("%s: Strict-Transport-Security %q, want %q", path, got, tc.want)
				}
			}
		})
	}
}

// metrics.listen serves /metrics on its own address and not on the API's;
// metrics.token requires a bearer token there.
func TestMetricsCanHaveTheirOwnListenerAndToken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	const token = "metrics-test-token"
	ts := startServer(t, func(c *config.Config) {
		c.Metrics.Listen = metricsAddr
		c.Metrics.Token = token
	})
	if res := ts.get("/metrics", token); res.Status != http.StatusNotFound {
		t.Errorf("the API listener serves /metrics with metrics.listen set: %s", res)
	}
	get := func(auth string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+metricsAddr+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		var res *http.Response
		waitFor(t, 10*time.Second, "the metrics listener to answer", func() bool {
			res, err = http.DefaultClient.Do(req)
			return err == nil
		})
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	if status, body, h := get("Bearer " + token); status != http.StatusOK || !strings.Contains(body, "latchkey_") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("metrics with the token: %d %.200s %v", status, body, h)
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", "Basic " + token} {
		if status, body, _ := get(auth); status != http.StatusUnauthorized || strings.Contains(body, "latchkey_") {
			t.Errorf("metrics with Authorization %q: %d %.200s, want 401", auth, status, body)
		}
	}
	// Only /metrics lives there.
	if status, _, _ := get("Bearer " + token); status == http.StatusOK {
		req, _ := http.NewRequest(http.MethodGet, "http://"+metricsAddr+"/oauth2/jwks", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("the metrics listener serves /oauth2/jwks: %d", res.StatusCode)
		}
	}
}

// Without metrics.listen, metrics.token guards /metrics on the API listener.
func TestMetricsTokenGuardsTheAPIListener(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Metrics.Token = "tok" })
	if res := ts.get("/metrics", ""); res.Status != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d", res.Status)
	}
	if res := ts.get("/metrics", "tok"); res.Status != http.StatusOK {
		t.Errorf("/metrics with the token: %s", res)
	}
}
