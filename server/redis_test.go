package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/storage"
)

// testRedisURL is LATCHKEY_TEST_REDIS_URL, or a skip (a failure when
// services are required).
func testRedisURL(t *testing.T) string {
	t.Helper()
	return serviceEnv(t, "LATCHKEY_TEST_REDIS_URL", "the Redis server tests")
}

// redisPrefix returns a fresh key prefix whose keys are deleted at cleanup.
func redisPrefix(t *testing.T, redisURL string) (string, *redis.Client) {
	t.Helper()
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	prefix := "lktest:" + uuid.NewString() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
		}
		_ = c.Close()
	})
	return prefix, c
}

// With storage.redis set and storage.tokens auto, refresh tokens live in
// Redis under the configured prefix, not in the database; with
// storage.tokens: sql they stay in the database.
func TestTokensLiveInRedisWhenItIsConfigured(t *testing.T) {
	redisURL := testRedisURL(t)
	for _, mode := range []string{"auto", "sql"} {
		t.Run(mode, func(t *testing.T) {
			prefix, rc := redisPrefix(t, redisURL)
			ts := startServer(t, func(c *config.Config) {
				c.Storage.Redis.URL = redisURL
				c.Storage.Redis.Prefix = prefix
				c.Storage.Tokens = mode
			})
			tok := ts.passwordToken(adminUser, adminPass, "openid")
			keys, err := rc.Keys(context.Background(), prefix+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			// Rate-limit counters (att:) live in Redis in both modes: a
			// successful login records its known address there.
			keys = slices.DeleteFunc(keys, func(k string) bool { return strings.HasPrefix(k, prefix+"att:") })
			if inRedis := len(keys) > 0; inRedis != (mode == "auto") {
				t.Fatalf("storage.tokens=%s: token keys in redis: %v", mode, keys)
			}
			next, err := ts.refresh(tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if active, _ := ts.introspectActive(next.AccessToken); !active {
				t.Fatal("the refreshed access token is not active")
			}
			// Codes and login state follow the same choice.
			now := time.Now()
			if err := ts.srv.Codes().CreateCode(t.Context(), storage.Code{Hash: "c1", ClientID: "demo", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if err := ts.srv.LoginSessions().CreateLogin(t.Context(), storage.LoginSession{ID: "l1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			n, err := rc.Exists(context.Background(), prefix+"code:c1", prefix+"login:l1").Result()
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int64{true: 2, false: 0}[mode == "auto"]; n != want {
				t.Fatalf("storage.tokens=%s: %d of the code and login keys are in redis, want %d", mode, n, want)
			}
			if _, err := ts.srv.Codes().ConsumeCode(t.Context(), "c1", now); err != nil {
				t.Fatal(err)
			}
			if res := ts.get("/readyz", ""); res.Status != 200 {
				t.Fatalf("/readyz: %s", res)
			}
		})
	}
}
