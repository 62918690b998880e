package storage

import (
	"context"
	"time"
)

// AttemptLimit is the policy of one failure counter: Failures failed
// attempts are counted within Window; once the count reaches Failures the
// key is blocked for Backoff, and every further failure doubles the block,
// up to MaxBackoff. The count is forgotten once Window has passed since the
// later of the last failure and the end of the block, so a guesser who waits
// out a block and fails again gets a longer one.
type AttemptLimit struct {
	Failures   int // > 0; a limit with 0 failures is off and never stored
	Window     time.Duration
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// BlockFor is how long the key is blocked after its n-th counted failure:
// nothing below Failures, then Backoff, 2×Backoff, 4×Backoff… capped at
// MaxBackoff. Every implementation computes exactly this.
func (l AttemptLimit) BlockFor(n int) time.Duration {
	if l.Failures <= 0 || n < l.Failures {
		return 0
	}
	d := l.Backoff
	for i := l.Failures; i < n && d < l.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, l.MaxBackoff)
}

// AttemptState is what a counter says at a moment.
type AttemptState struct {
	// Failures counted and not yet forgotten; 0 for an unknown key.
	Failures int
	// BlockedUntil is when the block ends; zero when the key is not blocked
	// at the moment asked about.
	BlockedUntil time.Time
}

// Attempts counts failed credential checks per key, with growing back-off
// (rate limiting and brute-force protection). Many instances share one
// store, so every change is one atomic step: of N concurrent failures on a
// key, all N are counted.
//
// Keys are opaque to the store. The caller keeps logins out of them (it
// hashes them), and keeps them short (under 200 bytes).
//
// Which keys a success resets is the caller's policy; the provider resets
// only the key of one account from one address, never an account-wide or
// address-wide counter (see provider/throttle.go).
type Attempts interface {
	// FailAttempt counts one failure of key at now under limit and returns
	// the key's state after it (BlockedUntil set when this failure blocks
	// it). Records expire by themselves once forgotten (Redis) or are
	// removed by a purge (SQL).
	FailAttempt(ctx context.Context, key string, limit AttemptLimit, now time.Time) (AttemptState, error)
	// AttemptStates reports the state of each key at now, in the order of
	// keys: a forgotten or unknown key has the zero state.
	AttemptStates(ctx context.Context, now time.Time, keys ...string) ([]AttemptState, error)
	// ResetAttempts forgets a key. Forgetting an unknown key is not an
	// error.
	ResetAttempts(ctx context.Context, key string) error
}
