package sqlstore_test

import (
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// TestPurgeAttempts checks that only forgotten counters are deleted.
func TestPurgeAttempts(t *testing.T) {
	bothDialects(t, func(t *testing.T, open opener) {
		s := open(t, true)
		ctx := t.Context()
		now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
		short := storage.AttemptLimit{Failures: 5, Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Second}
		long := storage.AttemptLimit{Failures: 1, Window: time.Minute, Backoff: time.Hour, MaxBackoff: time.Hour}
		for _, k := range []string{"a", "b"} {
			if _, err := s.FailAttempt(ctx, k, short, now); err != nil {
				t.Fatal(err)
			}
		}
		// Blocked for an hour: kept a window past the block.
		if _, err := s.FailAttempt(ctx, "blocked", long, now); err != nil {
			t.Fatal(err)
		}
		n, err := s.PurgeAttempts(ctx, now.Add(time.Minute-time.Millisecond))
		if err != nil || n != 0 {
			t.Fatalf("purge inside the window: %d, %v", n, err)
		}
		n, err = s.PurgeAttempts(ctx, now.Add(time.Minute))
		if err != nil || n != 2 {
			t.Fatalf("purge after the window: %d, %v; want 2", n, err)
		}
		st, err := s.AttemptStates(ctx, now.Add(time.Minute), "blocked")
		if err != nil || st[0].Failures != 1 {
			t.Fatalf("the blocked key was purged: %v, %v", st, err)
		}
		n, err = s.PurgeAttempts(ctx, now.Add(time.Hour+time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("purge after the block and its window: %d, %v; want 1", n, err)
		}
	})
}
