package redisstore

import (
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

func TestAttempts(t *testing.T) {
	testClient(t)
	storagetest.RunAttempts(t, func(t *testing.T) storage.Attempts {
		s, _, _ := openStore(t)
		return s
	})
}

// TestAttemptKeysExpire checks that every counter carries a TTL: at least
// minTTL for a caller clock in the past of the wall clock, and the window
// past the block for one in step with it.
func TestAttemptKeysExpire(t *testing.T) {
	s, c, prefix := openStore(t)
	ctx := t.Context()
	l := storage.AttemptLimit{Failures: 1, Window: time.Hour, Backoff: time.Hour, MaxBackoff: time.Hour}
	past := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	mustOK(t, fail1(s, t, "old", l, past))
	now := time.Now()
	mustOK(t, fail1(s, t, "new", l, now))
	ttl, err := c.PTTL(ctx, prefix+"att:old").Result()
	mustOK(t, err)
	if ttl <= 0 || ttl > minTTL+time.Second {
		t.Errorf("old counter PTTL %v, want about %v", ttl, minTTL)
	}
	ttl, err = c.PTTL(ctx, prefix+"att:new").Result()
	mustOK(t, err)
	if want := 2 * time.Hour; ttl < want-5*time.Second || ttl > want {
		t.Errorf("new counter PTTL %v, want about %v (block + window)", ttl, want)
	}
}

func fail1(s *Store, t *testing.T, key string, l storage.AttemptLimit, now time.Time) error {
	_, err := s.FailAttempt(t.Context(), key, l, now)
	return err
}
