package throttle

import (
	"time"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/latchkey-auth/latchkey/storage"
)

// attemptCacheTTL is how long a Limiter trusts a counter's state it read
// from, or wrote to, the attempts store.
//
// Without it every credential check would cost a store read before it runs,
// even the millions of right client secrets that are never blocked: one
// SQL query or Redis round trip per token request, for nothing. With it:
//   - every failure still goes to the store (FailAttempt), and its answer —
//     the counter as every instance sees it — replaces the cached state at
//     once, so a guesser on this instance is refused from the failure that
//     blocks it on;
//   - a block caused on another instance is seen here within the TTL, by
//     the next read, or at once by the next failure here.
//
// So a guesser spread over several instances gets at most one further
// unchecked guess per instance per TTL, and each of those is counted.
const attemptCacheTTL = time.Second

// attemptCacheMax bounds the cache: past it, stale entries are dropped, and
// if that is not enough, all of them (they are only a cache).
const attemptCacheMax = 50_000

type cachedAttempt struct {
	state storage.AttemptState
	at    time.Time
}

// attemptCache holds counter states by key. Reads take no lock: every
// credential check reads it, and a mutex there was the most contended lock
// of the token endpoint under load (issue 13's profiles).
type attemptCache struct {
	m *xsync.MapOf[string, cachedAttempt]
}

func newAttemptCache() *attemptCache {
	return &attemptCache{m: xsync.NewMapOf[string, cachedAttempt]()}
}

// get returns the states of keys that are fresh at now; missing lists the
// indexes of the others.
func (c *attemptCache) get(keys []string, now time.Time, states []storage.AttemptState) (missing []int) {
	for i, k := range keys {
		e, ok := c.m.Load(k)
		if !ok || now.Sub(e.at) >= attemptCacheTTL || now.Before(e.at) {
			missing = append(missing, i)
			continue
		}
		states[i] = e.state
		if !e.state.BlockedUntil.After(now) {
			states[i].BlockedUntil = time.Time{}
		}
	}
	return missing
}

// put records the state of a key as the store reported it at now.
func (c *attemptCache) put(key string, st storage.AttemptState, now time.Time) {
	if c.m.Size() >= attemptCacheMax {
		c.m.Range(func(k string, e cachedAttempt) bool {
			if now.Sub(e.at) >= attemptCacheTTL || now.Before(e.at) {
				c.m.Delete(k)
			}
			return true
		})
		if c.m.Size() >= attemptCacheMax {
			c.m.Clear()
		}
	}
	c.m.Store(key, cachedAttempt{state: st, at: now})
}
