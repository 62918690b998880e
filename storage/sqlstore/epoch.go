package sqlstore

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
)

// Revocation epoch: how the SQLite store answers the two reads every
// token check makes — is this token revoked, what is this personal access
// token — from memory, yet sees a revocation at once, in every process.
//
// Each database file has a counter, the epoch, in a small file beside it
// ("<database>.revocation-epoch") that every process opening the database
// maps into memory (MAP_SHARED: one copy in the kernel, the way SQLite's
// own -shm file is shared). Every write that can turn a "not revoked"
// answer into "revoked", or remove a personal access token, increments the
// epoch after it commits. A cached answer carries the epoch read before
// the query that produced it, and is used only while the epoch is still
// that value. So:
//   - a revocation committed by any process (the server, a second server on
//     the same file, `latchkey users deactivate`) invalidates every cached
//     answer in every process before the revoking call returns;
//   - only answers that a revocation can change are cached ("not revoked",
//     a personal token found); "revoked" and "not found" are read each time;
//   - reading the epoch is one atomic load: no system call, no lock.
//
// SQLite's WAL needs every process on one host (its shared memory), so a
// counter in shared memory reaches every process that can open the
// database. Where a file cannot be mapped (a platform without mmap, a
// read-only directory), there is no epoch and nothing is cached. Postgres
// is shared across hosts: it has no epoch and reads every time.

// revocationEpoch is a counter shared by every process that opens the
// database; nil when there is none (nothing is cached then).
type revocationEpoch struct {
	n *atomic.Uint64
}

func (e *revocationEpoch) load() uint64 { return e.n.Load() }
func (e *revocationEpoch) bump()        { e.n.Add(1) }

// maxEpochCacheEntries bounds each cache; when full it is emptied (it is
// only a cache, and a full one means a working set that large).
const maxEpochCacheEntries = 50_000

// epochCache holds answers valid while the epoch has not moved. It is
// keyed by the SHA-256 of the answer's key, so that a cache of "not
// revoked" answers (fixed-size keys and values) holds no pointers and the
// garbage collector, which marks the heap every few argon2id hashes under
// a password flood, does not scan it (issue 13).
type epochCache[V any] struct {
	epoch *revocationEpoch
	mu    sync.RWMutex
	m     map[[sha256.Size]byte]epochEntry[V]
}

type epochEntry[V any] struct {
	v     V
	epoch uint64
}

func newEpochCache[V any](epoch *revocationEpoch) *epochCache[V] {
	if epoch == nil {
		return nil
	}
	return &epochCache[V]{epoch: epoch, m: make(map[[sha256.Size]byte]epochEntry[V])}
}

// get returns the cached answer for key if no revocation has been
// committed since it was read. A nil cache has nothing.
func (c *epochCache[V]) get(key string) (V, bool) {
	var zero V
	if c == nil {
		return zero, false
	}
	h := sha256.Sum256([]byte(key))
	c.mu.RLock()
	e, ok := c.m[h]
	c.mu.RUnlock()
	if !ok || e.epoch != c.epoch.load() {
		return zero, false
	}
	return e.v, true
}

// start returns the epoch to tag an answer read from now on with; it must
// be read before the query.
func (c *epochCache[V]) start() uint64 {
	if c == nil {
		return 0
	}
	return c.epoch.load()
}

// put keeps the answer read after start returned epoch.
func (c *epochCache[V]) put(key string, v V, epoch uint64) {
	if c == nil || epoch != c.epoch.load() {
		return
	}
	h := sha256.Sum256([]byte(key))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxEpochCacheEntries {
		c.m = make(map[[sha256.Size]byte]epochEntry[V])
	}
	c.m[h] = epochEntry[V]{v: v, epoch: epoch}
}

// bumpRevocations tells every process that a revocation was committed.
// Called after the commit, also when the write reported an error (it may
// have committed all the same); a bump too many only costs a re-read.
func (s *Store) bumpRevocations() {
	if s.epoch != nil {
		s.epoch.bump()
	}
}
