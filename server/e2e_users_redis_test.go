package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// With the tokens in Redis, the user API's sessions, refresh rotation,
// blacklisting and logoutall work on the Redis token store.
func TestUsersSessionsOnRedis(t *testing.T) {
	redisURL := testRedisURL(t)
	prefix, rc := redisPrefix(t, redisURL)
	ts := startServer(t, func(c *config.Config) {
		c.Storage.Redis.URL = redisURL
		c.Storage.Redis.Prefix = prefix
		c.Storage.Tokens = "redis"
	})
	ts.createUser("xena", "xena-pass-1234", false)
	access, refresh := ts.jwtPair("xena", "xena-pass-1234")
	other, _ := ts.jwtPair("xena", "xena-pass-1234")
	if n, err := rc.Keys(context.Background(), prefix+"*").Result(); err != nil || len(n) == 0 {
		t.Fatalf("no token keys under the test prefix in Redis (%v)", err)
	}
	res := ts.call(http.MethodGet, "/auth/users/me/sessions/", bearer(access), nil)
	if res.Status != http.StatusOK || res.json(t)["count"] != float64(2) {
		t.Fatalf("sessions: %s", res)
	}
	res = ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh})
	if res.Status != http.StatusOK {
		t.Fatalf("refresh: %s", res)
	}
	wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}), http.StatusUnauthorized, "Token is invalid or expired")
	if res := ts.call(http.MethodPost, "/auth/token/logoutall/", bearer(other), nil); res.Status != http.StatusNoContent {
		t.Fatalf("logoutall: %s", res)
	}
	wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(other), nil), http.StatusUnauthorized, "Given token not valid for any token type")
}
