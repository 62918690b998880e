package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// testClient connects to LATCHKEY_TEST_REDIS_URL. Without it the test
// fails when LATCHKEY_TEST_REQUIRE_SERVICES=1 and is skipped otherwise.
func testClient(tb testing.TB) *redis.Client {
	tb.Helper()
	url := storagetest.RequireService(tb, "the Redis suite", "LATCHKEY_TEST_REDIS_URL")
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("LATCHKEY_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("redis at %s: %v", url, err)
	}
	return c
}

// openStore returns a Store under a fresh prefix whose keys are deleted when
// the test ends.
func openStore(tb testing.TB) (*Store, *redis.Client, string) {
	tb.Helper()
	c := testClient(tb)
	prefix := "lktest:" + uuid.NewString() + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		it := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		var keys []string
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		if len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
		}
	})
	return New(Options{Client: c, Prefix: prefix}), c, prefix
}

func TestTokens(t *testing.T) {
	testClient(t)
	storagetest.RunTokens(t, func(t *testing.T) storage.Tokens {
		s, _, _ := openStore(t)
		return s
	})
}

func TestPing(t *testing.T) {
	s, _, _ := openStore(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestKeysExpire checks that every key the store writes carries a TTL, both
// for records expiring in the past of the wall clock (kept minTTL) and in
// its future.
func TestKeysExpire(t *testing.T) {
	for _, tc := range []struct {
		name string
		base time.Time
	}{
		{"past", time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)},
		{"future", time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, prefix := openStore(t)
			ctx := t.Context()
			base := tc.base
			fam := storage.Family{ID: "f1", ClientID: "web", Subject: "42", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(24 * time.Hour)}
			first := storage.RefreshToken{Hash: "h0", FamilyID: "f1", CreatedAt: base, ExpiresAt: base.Add(2 * time.Hour)}
			mustOK(t, s.CreateFamily(ctx, fam, first))
			fam2 := fam
			fam2.ID = "f2"
			mustOK(t, s.CreateFamily(ctx, fam2, storage.RefreshToken{Hash: "g0", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}))
			now := base.Add(time.Minute)
			h0 := storage.TokenRef{FamilyID: "f1", Generation: 0, Hash: "h0"}
			_, err := s.Rotate(ctx, h0, "web", storage.RefreshToken{Hash: "h1", CreatedAt: now, ExpiresAt: now.Add(48 * time.Hour)}, storage.Rotation{Now: now})
			mustOK(t, err)
			_, err = s.Rotate(ctx, h0, "", storage.RefreshToken{Hash: "hx", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, storage.Rotation{Now: now})
			if err == nil {
				t.Fatal("reuse succeeded")
			}
			mustOK(t, s.RevokeFamily(ctx, "f2", now))
			mustOK(t, s.CreateAccessToken(ctx, storage.AccessToken{Hash: "a1", ID: "j1", ClientID: "web", IssuedAt: base, ExpiresAt: base.Add(5 * time.Minute)}))
			mustOK(t, s.RevokeAccessToken(ctx, "j1", base.Add(5*time.Minute)))
			_, err = s.RevokeSubject(ctx, "42", now)
			mustOK(t, err)

			keys, err := c.Keys(ctx, prefix+"*").Result()
			mustOK(t, err)
			// f1, f2, the subject's set, the access token, the revocation.
			if len(keys) != 5 {
				t.Fatalf("%d keys, want 5: %v", len(keys), keys)
			}
			for _, k := range keys {
				ttl, err := c.PTTL(ctx, k).Result()
				mustOK(t, err)
				if ttl <= 0 {
					t.Errorf("%s has PTTL %v, want > 0", k, ttl)
				}
				if limit := max(time.Until(base.Add(48*time.Hour+time.Minute)), minTTL) + time.Second; ttl > limit {
					t.Errorf("%s has PTTL %v, more than %v", k, ttl, limit)
				}
			}
			// The next token was capped at its family's expiry.
			tok, _, err := s.RefreshToken(ctx, storage.TokenRef{FamilyID: "f1", Generation: 1, Hash: "h1"}, now)
			if err == nil {
				t.Fatal("the family was revoked by the reuse, yet its token is live")
			}
			h, err := c.HGetAll(ctx, prefix+"fam:{f1}").Result()
			mustOK(t, err)
			if got, want := h["te"], strconv.FormatInt(fam.ExpiresAt.UnixMilli(), 10); got != want {
				t.Errorf("next token expires %s, want the family's cap %s (%v)", got, want, tok)
			}
		})
	}
}

func mustOK(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkRotateRedis(b *testing.B) {
	s, _, _ := openStore(b)
	ctx := context.Background()
	now := time.Now().UTC()
	fam := storage.Family{ID: "bench", ClientID: "web", Subject: "42", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	mustOK(b, s.CreateFamily(ctx, fam, storage.RefreshToken{Hash: "t0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	b.ResetTimer()
	for i := range b.N {
		next := storage.RefreshToken{Hash: "t" + strconv.Itoa(i+1), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		ref := storage.TokenRef{FamilyID: "bench", Generation: int64(i), Hash: "t" + strconv.Itoa(i)}
		if _, err := s.Rotate(ctx, ref, "web", next, storage.Rotation{Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRevokedRedis(b *testing.B) {
	s, _, _ := openStore(b)
	ctx := context.Background()
	now := time.Now().UTC()
	fam := storage.Family{ID: "bench", ClientID: "web", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	mustOK(b, s.CreateFamily(ctx, fam, storage.RefreshToken{Hash: "t0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	mustOK(b, s.RevokeAccessToken(ctx, "other", now.Add(time.Hour)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			r, err := s.Revoked(ctx, storage.RevocationCheck{JTI: fmt.Sprintf("jti-%d", i), FamilyID: "bench", Subject: "42", IssuedAt: now}, now)
			if err != nil || r {
				b.Fatal(r, err)
			}
		}
	})
}
