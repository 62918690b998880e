package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunAttempts is the conformance suite of storage.Attempts.
func RunAttempts(t *testing.T, open func(t *testing.T) storage.Attempts) {
	runAll(t, open, []subtest[storage.Attempts]{
		{"UnknownKeysHaveTheZeroState", testAttemptsUnknown},
		{"FailuresBelowTheLimitDoNotBlock", testAttemptsBelowLimit},
		{"ReachingTheLimitBlocksForBackoff", testAttemptsBlock},
		{"EachFurtherFailureDoublesTheBlockUpToMaxBackoff", testAttemptsBackoffGrows},
		{"TheWindowForgetsQuietKeys", testAttemptsWindow},
		{"TheWindowRunsFromTheEndOfTheBlock", testAttemptsWindowAfterBlock},
		{"AFailureDuringABlockExtendsIt", testAttemptsFailWhileBlocked},
		{"ResetForgetsOnlyThatKey", testAttemptsReset},
		{"StatesComeInTheOrderOfTheKeys", testAttemptsOrder},
		{"ConcurrentFailuresAreAllCounted", testAttemptsConcurrent},
		{"AKeyWithANULByteOrNotUTF8IsRefusedAndFoundNowhere", testAttemptsInvalidText},
	})
}

func testAttemptsInvalidText(t *testing.T, s storage.Attempts) {
	ctx := t.Context()
	now := base()
	fail(t, s, "k", attemptLimit, now)
	for _, bad := range invalidTexts {
		_, err := s.FailAttempt(ctx, bad, attemptLimit, now)
		wantInvalid(t, fmt.Sprintf("FailAttempt with %q", bad), err)
		equal(t, "states", states(t, s, now, bad, "k"), []storage.AttemptState{{}, {Failures: 1}})
		must(t, s.ResetAttempts(ctx, bad))
	}
	equal(t, "state", state(t, s, "k", now), storage.AttemptState{Failures: 1})
}

// attemptLimit is the limit most cases use: 3 failures, then 1s, 2s, 4s, 5s.
var attemptLimit = storage.AttemptLimit{Failures: 3, Window: 10 * time.Minute, Backoff: time.Second, MaxBackoff: 5 * time.Second}

func fail(t *testing.T, s storage.Attempts, key string, l storage.AttemptLimit, now time.Time) storage.AttemptState {
	t.Helper()
	st, err := s.FailAttempt(t.Context(), key, l, now)
	must(t, err)
	return st
}

func states(t *testing.T, s storage.Attempts, now time.Time, keys ...string) []storage.AttemptState {
	t.Helper()
	st, err := s.AttemptStates(t.Context(), now, keys...)
	must(t, err)
	if len(st) != len(keys) {
		t.Fatalf("AttemptStates returned %d states for %d keys", len(st), len(keys))
	}
	return st
}

func state(t *testing.T, s storage.Attempts, key string, now time.Time) storage.AttemptState {
	t.Helper()
	return states(t, s, now, key)[0]
}

func testAttemptsUnknown(t *testing.T, s storage.Attempts) {
	got := states(t, s, base(), "a", "b")
	equal(t, "states", got, []storage.AttemptState{{}, {}})
	if got := states(t, s, base()); len(got) != 0 {
		t.Fatalf("no keys: %v", got)
	}
}

func testAttemptsBelowLimit(t *testing.T, s storage.Attempts) {
	now := base()
	equal(t, "first failure", fail(t, s, "k", attemptLimit, now), storage.AttemptState{Failures: 1})
	now = now.Add(time.Second)
	equal(t, "second failure", fail(t, s, "k", attemptLimit, now), storage.AttemptState{Failures: 2})
	equal(t, "state", state(t, s, "k", now), storage.AttemptState{Failures: 2})
}

func testAttemptsBlock(t *testing.T, s storage.Attempts) {
	now := base()
	fail(t, s, "k", attemptLimit, now)
	fail(t, s, "k", attemptLimit, now)
	until := now.Add(attemptLimit.Backoff)
	equal(t, "third failure", fail(t, s, "k", attemptLimit, now), storage.AttemptState{Failures: 3, BlockedUntil: until})
	equal(t, "state during the block", state(t, s, "k", now.Add(999*time.Millisecond)), storage.AttemptState{Failures: 3, BlockedUntil: until})
	// At its end the block is over; the count stays.
	equal(t, "state at the end of the block", state(t, s, "k", until), storage.AttemptState{Failures: 3})
}

func testAttemptsBackoffGrows(t *testing.T, s storage.Attempts) {
	now := base()
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, d := range want {
		if got := attemptLimit.BlockFor(i + 1); got != d {
			t.Fatalf("BlockFor(%d) = %v, want %v", i+1, got, d)
		}
		st := fail(t, s, "k", attemptLimit, now)
		var until time.Time
		if d > 0 {
			until = now.Add(d)
		}
		equal(t, fmt.Sprintf("failure %d", i+1), st, storage.AttemptState{Failures: i + 1, BlockedUntil: until})
		// The guesser waits out each block before the next try.
		now = now.Add(d + time.Millisecond)
	}
}

func testAttemptsWindow(t *testing.T, s storage.Attempts) {
	now := base()
	fail(t, s, "k", attemptLimit, now)
	last := now.Add(time.Minute)
	fail(t, s, "k", attemptLimit, last)
	// The window runs from the last failure.
	equal(t, "just inside the window", state(t, s, "k", last.Add(attemptLimit.Window-time.Millisecond)), storage.AttemptState{Failures: 2})
	equal(t, "at the end of the window", state(t, s, "k", last.Add(attemptLimit.Window)), storage.AttemptState{})
	equal(t, "a failure after the window starts again", fail(t, s, "k", attemptLimit, last.Add(attemptLimit.Window)), storage.AttemptState{Failures: 1})
}

func testAttemptsWindowAfterBlock(t *testing.T, s storage.Attempts) {
	l := storage.AttemptLimit{Failures: 1, Window: time.Minute, Backoff: 10 * time.Minute, MaxBackoff: time.Hour}
	now := base()
	st := fail(t, s, "k", l, now)
	until := now.Add(10 * time.Minute)
	equal(t, "blocked", st, storage.AttemptState{Failures: 1, BlockedUntil: until})
	// Past last failure + window, but the block is on and the count kept.
	equal(t, "during the block", state(t, s, "k", now.Add(2*time.Minute)), storage.AttemptState{Failures: 1, BlockedUntil: until})
	equal(t, "after the block, inside the window", state(t, s, "k", until.Add(l.Window-time.Millisecond)), storage.AttemptState{Failures: 1})
	// A failure right after the block doubles it.
	equal(t, "failure after the block", fail(t, s, "k", l, until), storage.AttemptState{Failures: 2, BlockedUntil: until.Add(20 * time.Minute)})
	end := until.Add(20 * time.Minute)
	equal(t, "forgotten a window after the second block", state(t, s, "k", end.Add(l.Window)), storage.AttemptState{})
}

func testAttemptsFailWhileBlocked(t *testing.T, s storage.Attempts) {
	now := base()
	for range 3 {
		fail(t, s, "k", attemptLimit, now)
	}
	// A racing request that was checked before the block counts too: the
	// block is now 2s from its failure.
	later := now.Add(500 * time.Millisecond)
	equal(t, "failure during the block", fail(t, s, "k", attemptLimit, later), storage.AttemptState{Failures: 4, BlockedUntil: later.Add(2 * time.Second)})
	// A block never shrinks: a shorter one computed later keeps the longer.
	long := storage.AttemptLimit{Failures: 1, Window: time.Hour, Backoff: time.Hour, MaxBackoff: time.Hour}
	fail(t, s, "x", long, now)
	short := storage.AttemptLimit{Failures: 1, Window: time.Hour, Backoff: time.Second, MaxBackoff: time.Second}
	equal(t, "a shorter block", fail(t, s, "x", short, now.Add(time.Second)), storage.AttemptState{Failures: 2, BlockedUntil: now.Add(time.Hour)})
}

func testAttemptsReset(t *testing.T, s storage.Attempts) {
	now := base()
	for range 3 {
		fail(t, s, "a", attemptLimit, now)
	}
	fail(t, s, "b", attemptLimit, now)
	must(t, s.ResetAttempts(t.Context(), "a"))
	equal(t, "after reset", states(t, s, now, "a", "b"), []storage.AttemptState{{}, {Failures: 1}})
	must(t, s.ResetAttempts(t.Context(), "a"))
	must(t, s.ResetAttempts(t.Context(), "never-seen"))
	equal(t, "counting starts again", fail(t, s, "a", attemptLimit, now), storage.AttemptState{Failures: 1})
}

func testAttemptsOrder(t *testing.T, s storage.Attempts) {
	now := base()
	keys := []string{"pw:aa:x:192.0.2.1", "pw:a:x", "pw:ip:192.0.2.1", "pw:ip:2001:db8::/64"}
	for i, k := range keys {
		for range i + 1 {
			fail(t, s, k, attemptLimit, now)
		}
	}
	got := states(t, s, now, keys[3], "missing", keys[0], keys[2], keys[1], keys[0])
	until := now.Add(time.Second)
	equal(t, "states", got, []storage.AttemptState{
		{Failures: 4, BlockedUntil: now.Add(2 * time.Second)}, {}, {Failures: 1}, {Failures: 3, BlockedUntil: until}, {Failures: 2}, {Failures: 1},
	})
}

func testAttemptsConcurrent(t *testing.T, s storage.Attempts) {
	const n = 40
	l := storage.AttemptLimit{Failures: 1000, Window: time.Hour, Backoff: time.Second, MaxBackoff: time.Minute}
	now := base()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.FailAttempt(t.Context(), "k", l, now.Add(time.Duration(i)*time.Millisecond))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if got := state(t, s, "k", now.Add(time.Second)); got.Failures != n {
		t.Fatalf("%d concurrent failures counted as %d", n, got.Failures)
	}
}
