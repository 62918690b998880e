package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// The user API's flows, with debug logging on, leave no password, token or
// personal access token in the logs.
func TestUsersLogsNeverContainASecret(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Log.Level = "debug"; c.Users.API.BasicAuth = true })
	const pw, next = "yara-pass-1234", "yara-next-5678"
	ts.register("yara", pw)
	access, refresh := ts.jwtPair("yara", pw)
	rotated := ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}).json(t)
	ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}) // reuse
	knox := ts.call(http.MethodPost, "/auth/token/login/", "", map[string]any{"username": "yara", "password": pw}).json(t)["auth_token"].(string)
	pat := ts.call(http.MethodPost, "/auth/users/me/tokens/", "Token "+knox, map[string]any{"name": "ci"}).json(t)["token"].(string)
	ts.call(http.MethodGet, "/auth/users/me/", "Token "+pat, nil)
	ts.call(http.MethodGet, "/auth/users/me/", basic("yara", pw), nil)
	ts.call(http.MethodGet, "/auth/users/me/", basic("yara", "wrong-"+pw), nil)
	ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "yara", "password": "wrong-" + pw})
	ts.call(http.MethodPost, "/auth/users/set_password/", "Token "+knox, map[string]any{"current_password": pw, "new_password": next})
	ts.call(http.MethodGet, "/auth/users/me/", "Token lk_pat_forged"+knox[10:], nil)

	logs := ts.Logs.String()
	if !strings.Contains(logs, `"route":"/auth/jwt/create/"`) {
		t.Fatalf("the access log is missing; logs:\n%s", logs)
	}
	for name, secret := range map[string]string{
		"password": pw, "wrong password": "wrong-" + pw, "new password": next,
		"access token": access, "refresh token": refresh, "rotated refresh token": rotated["refresh"].(string),
		"login token": knox, "personal token": pat,
	} {
		if secret == "" {
			t.Fatalf("%s is empty", name)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
		if i := strings.LastIndexByte(secret, '.'); i > 0 && strings.Contains(logs, secret[i+1:]) {
			t.Errorf("the logs contain the signature of the %s", name)
		}
	}
}
