package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// Logins of the user API go through the same brute-force protection as the
// password grant, and a blocked one is DRF's 429.
func TestUsersLoginsAreRateLimited(t *testing.T) {
	ts := startServer(t, nil)
	ts.createUser("wes", "wes-pass-1234", false)
	tok, _ := ts.jwtPair("wes", "wes-pass-1234")
	for range 5 {
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "wes", "password": "wrong"}), http.StatusUnauthorized, "No active account found with the given credentials")
	}
	for _, tc := range []struct {
		name string
		res  response
	}{
		{"jwt/create", ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "wes", "password": "wes-pass-1234"})},
		{"token/login", ts.call(http.MethodPost, "/auth/token/login/", "", map[string]any{"username": "wes", "password": "wes-pass-1234"})},
		{"set_password's current_password", ts.call(http.MethodPost, "/auth/users/set_password/", bearer(tok), map[string]any{"current_password": "wes-pass-1234", "new_password": "wes-next-1234"})},
	} {
		if tc.res.Status != http.StatusTooManyRequests || tc.res.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %s, want 429 with Retry-After", tc.name, tc.res)
			continue
		}
		m := tc.res.json(t)
		if d, _ := m["detail"].(string); !strings.HasPrefix(d, "Request was throttled.") || m["code"] != "throttled" {
			t.Errorf("%s: %s", tc.name, tc.res.Body)
		}
	}
	ts.Clock.Advance(2e9)
	ts.jwtPair("wes", "wes-pass-1234")
}
