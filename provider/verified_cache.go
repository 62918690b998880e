package provider

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// verifiedCache keeps the claims of access tokens whose signature verified
// and whose claims parsed, so that a resource server introspecting the same
// token on every API call pays for ES256 verification and JSON once. It is
// a bounded LRU keyed by the SHA-256 of the token (the token itself is not
// kept); an entry lives until the token's exp, and a hit still needs the
// signing key to be published (a removed key stops verifying its tokens
// at the next key reload). Revocation is not cached: callers check it on
// every request.
type verifiedCache struct {
	max int

	mu    sync.Mutex
	order *list.List // front is the most recently used *verifiedEntry
	byKey map[[sha256.Size]byte]*list.Element

	hits, misses atomic.Uint64
}

type verifiedEntry struct {
	key    [sha256.Size]byte
	kid    string
	claims *AccessClaims
	exp    int64 // unix seconds
}

// newVerifiedCache returns a cache of at most size tokens; size 0 turns it
// off (every call is a miss).
func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{max: size, order: list.New(), byKey: make(map[[sha256.Size]byte]*list.Element)}
}

// get returns the cached claims and signing key ID of raw, or ok false. An
// entry past its exp is dropped.
func (c *verifiedCache) get(raw string, now time.Time) (claims *AccessClaims, kid string, ok bool) {
	if c.max <= 0 {
		c.misses.Add(1)
		return nil, "", false
	}
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	el, found := c.byKey[key]
	if found {
		e := el.Value.(*verifiedEntry)
		if e.exp > now.Unix() {
			c.order.MoveToFront(el)
			c.mu.Unlock()
			c.hits.Add(1)
			return e.claims, e.kid, true
		}
		c.order.Remove(el)
		delete(c.byKey, key)
	}
	c.mu.Unlock()
	c.misses.Add(1)
	return nil, "", false
}

// put keeps claims of raw, signed with kid, until the claims' exp,
// evicting the least recently used entry when full.
func (c *verifiedCache) put(raw, kid string, claims *AccessClaims) {
	if c.max <= 0 {
		return
	}
	key := sha256.Sum256([]byte(raw))
	e := &verifiedEntry{key: key, kid: kid, claims: claims, exp: claims.Expiry}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, found := c.byKey[key]; found {
		el.Value = e
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*verifiedEntry).key)
	}
	c.byKey[key] = c.order.PushFront(e)
}

// len is the number of entries.
func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// VerifiedCacheStats are the hits and misses of the verified-token cache
// since the start.
type VerifiedCacheStats struct {
	Hits, Misses uint64
}
