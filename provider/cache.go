package provider

import (
	"sync"
	"time"
)

// ttlCache keeps values for a short time so hot paths do not read the
// database on every request. A change made on this instance evicts at once;
// other instances see it within the TTL. It is bounded: past maxEntries it
// is reset rather than grown.
type ttlCache[K comparable, V any] struct {
	ttl        time.Duration
	maxEntries int
	now        func() time.Time

	mu      sync.RWMutex
	entries map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	value   V
	fetched time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration, maxEntries int, now func() time.Time) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, maxEntries: maxEntries, now: now, entries: make(map[K]ttlEntry[V])}
}

// get returns the cached value, or loads, caches and returns it.
func (c *ttlCache[K, V]) get(key K, load func() (V, error)) (V, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && now.Sub(e.fetched) < c.ttl {
		return e.value, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	if c.ttl > 0 {
		c.put(key, v, now)
	}
	return v, nil
}

func (c *ttlCache[K, V]) put(key K, v V, now time.Time) {
	c.mu.Lock()
	if len(c.entries) >= c.maxEntries {
		c.entries = make(map[K]ttlEntry[V])
	}
	c.entries[key] = ttlEntry[V]{value: v, fetched: now}
	c.mu.Unlock()
}

func (c *ttlCache[K, V]) evict(key K) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// clear forgets every entry.
func (c *ttlCache[K, V]) clear() {
	c.mu.Lock()
	c.entries = make(map[K]ttlEntry[V])
	c.mu.Unlock()
}
