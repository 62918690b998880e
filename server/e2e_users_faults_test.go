package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/config"
)

// The user API answers 503 with DRF's detail while the database is down,
// never a 500 or a panic, and works again when it is back.
func TestUsersDatabaseOutageGives503(t *testing.T) {
	dsn, host := postgresDSN(t)
	proxy := newCutProxy(t, host)
	u, _ := url.Parse(dsn)
	u.Host = proxy.ln.Addr().String()
	ts := startServer(t, func(c *config.Config) {
		c.Storage.Driver = "postgres"
		c.Storage.Postgres.DSN = u.String()
		c.Storage.Timeout = 2 * time.Second
	})
	access, refresh := ts.jwtPair(adminUser, adminPass)
	knox := ts.call(http.MethodPost, "/auth/token/login/", "", map[string]any{"username": adminUser, "password": adminPass}).json(t)["auth_token"].(string)

	proxy.cut()
	start := time.Now()
	for _, tc := range []struct {
		name string
		res  response
	}{
		{"jwt/create", ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": adminUser, "password": adminPass})},
		{"jwt/refresh", ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh})},
		{"users/me with a JWT", ts.call(http.MethodGet, "/auth/users/me/", bearer(access), nil)},
		{"users/me with a Token", ts.call(http.MethodGet, "/auth/users/me/", "Token "+knox, nil)},
		{"register", ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "vic", "email": "vic@example.com", "password": "vic-pass-1234"})},
		{"reset_password", ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": adminEmail})},
		{"admin groups", ts.call(http.MethodGet, "/admin/groups/", bearer(access), nil)},
	} {
		if tc.res.Status != http.StatusServiceUnavailable {
			t.Errorf("%s: %s, want 503", tc.name, tc.res)
			continue
		}
		if tc.res.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", tc.name)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("answering during the outage took %v", d)
	}
	proxy.restore()
	ts.awaitReady(15*time.Second, "the server did not recover")
	if res := ts.call(http.MethodGet, "/auth/users/me/", "Token "+knox, nil); res.Status != http.StatusOK {
		t.Errorf("after the outage: %s", res)
	}
	if res := ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}); res.Status != http.StatusOK {
		t.Errorf("the refresh token issued before the outage: %s", res)
	}
	if strings.Contains(ts.Logs.String(), `"panic"`) {
		t.Error("the server panicked")
	}
}
