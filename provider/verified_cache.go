package provider

import (
	"crypto/sha256"
	"encoding/binary"
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
//
// The cache is laid out for the garbage collector, which marks it at every
// collection: a full cache of parsed claims was some 300,000 small objects
// (strings, slices, list elements), and under a password flood, where each
// argon2id hash leaves 19 MiB of garbage and the collector runs every few
// hashes, marking them cost a fifth of the CPU (issue 13). Here the index
// is a map of fixed-size keys to slot numbers (no pointers: the collector
// does not scan it), the LRU list is slot numbers, and each entry's key ID
// and claims are one string (encodeVerified): one object per token, with
// no pointers inside. A hit decodes the claims afresh; their strings are
// substrings of the entry's, not copies.
type verifiedCache struct {
	max int

	mu    sync.Mutex
	index map[[sha256.Size]byte]int32
	slots []verifiedSlot
	// head is the most recently used slot, tail the least; free is a list
	// of unused slots (through next). -1 ends each.
	head, tail, free int32

	hits, misses atomic.Uint64
}

type verifiedSlot struct {
	key        [sha256.Size]byte
	exp        int64 // unix seconds
	prev, next int32
	data       string // encodeVerified(kid, claims)
}

const noSlot = -1

// newVerifiedCache returns a cache of at most size tokens; size 0 turns it
// off (every call is a miss).
func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{
		max:   size,
		index: make(map[[sha256.Size]byte]int32),
		head:  noSlot, tail: noSlot, free: noSlot,
	}
}

// get returns the cached claims and signing key ID of raw, or ok false. An
// entry past its exp is dropped. The claims are the caller's own.
func (c *verifiedCache) get(raw string, now time.Time) (claims *AccessClaims, kid string, ok bool) {
	if c.max <= 0 {
		c.misses.Add(1)
		return nil, "", false
	}
	key := sha256.Sum256([]byte(raw))
	var data string
	c.mu.Lock()
	if i, found := c.index[key]; found {
		if s := &c.slots[i]; s.exp > now.Unix() {
			c.unlink(i)
			c.pushFront(i)
			data = s.data
		} else {
			c.remove(i)
		}
	}
	c.mu.Unlock()
	if data != "" {
		if claims, kid, ok = decodeVerified(data); ok {
			c.hits.Add(1)
			return claims, kid, true
		}
	}
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
	data := string(encodeVerified(nil, kid, claims))
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, found := c.index[key]; found {
		c.slots[i].data, c.slots[i].exp = data, claims.Expiry
		c.unlink(i)
		c.pushFront(i)
		return
	}
	for len(c.index) >= c.max {
		c.remove(c.tail)
	}
	i := c.free
	if i != noSlot {
		c.free = c.slots[i].next
	} else {
		c.slots = append(c.slots, verifiedSlot{})
		i = int32(len(c.slots) - 1)
	}
	c.slots[i] = verifiedSlot{key: key, exp: claims.Expiry, data: data}
	c.index[key] = i
	c.pushFront(i)
}

// len is the number of entries.
func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.index)
}

// pushFront makes slot i, unlinked, the most recently used.
func (c *verifiedCache) pushFront(i int32) {
	s := &c.slots[i]
	s.prev, s.next = noSlot, c.head
	if c.head != noSlot {
		c.slots[c.head].prev = i
	}
	c.head = i
	if c.tail == noSlot {
		c.tail = i
	}
}

// unlink takes slot i out of the LRU list.
func (c *verifiedCache) unlink(i int32) {
	s := &c.slots[i]
	if s.prev != noSlot {
		c.slots[s.prev].next = s.next
	} else {
		c.head = s.next
	}
	if s.next != noSlot {
		c.slots[s.next].prev = s.prev
	} else {
		c.tail = s.prev
	}
}

// remove drops the entry of slot i and frees the slot.
func (c *verifiedCache) remove(i int32) {
	c.unlink(i)
	s := &c.slots[i]
	delete(c.index, s.key)
	*s = verifiedSlot{next: c.free, prev: noSlot}
	c.free = i
}

// VerifiedCacheStats are the hits and misses of the verified-token cache
// since the start.
type VerifiedCacheStats struct {
	Hits, Misses uint64
}

// encodeVerified appends kid and the claims to b: each string as its
// length and bytes, each list as its length plus one (0 for a nil list, so
// that nil and empty lists come back as they were) and its strings, each
// number as a varint. decodeVerified reads it back; the order of the
// fields is theirs alone.
func encodeVerified(b []byte, kid string, c *AccessClaims) []byte {
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	list := func(l []string) {
		if l == nil {
			b = append(b, 0)
			return
		}
		b = binary.AppendUvarint(b, uint64(len(l))+1)
		for _, s := range l {
			str(s)
		}
	}
	str(kid)
	str(c.Issuer)
	str(c.Subject)
	list(c.Audience)
	b = binary.AppendVarint(b, c.Expiry)
	b = binary.AppendVarint(b, c.IssuedAt)
	str(c.ID)
	str(c.ClientID)
	str(c.Scope)
	str(c.SessionID)
	b = binary.AppendVarint(b, c.AuthTime)
	str(c.Username)
	list(c.Groups)
	list(c.Permissions)
	str(c.IdentityProvider)
	return b
}

// decodeVerified reads what encodeVerified wrote; ok is false if data is
// not that (it always is: the cache wrote it).
func decodeVerified(data string) (c *AccessClaims, kid string, ok bool) {
	r := verifiedReader{data: data}
	c = new(AccessClaims)
	kid = r.str()
	c.Issuer = r.str()
	c.Subject = r.str()
	c.Audience = r.list()
	c.Expiry = r.varint()
	c.IssuedAt = r.varint()
	c.ID = r.str()
	c.ClientID = r.str()
	c.Scope = r.str()
	c.SessionID = r.str()
	c.AuthTime = r.varint()
	c.Username = r.str()
	c.Groups = r.list()
	c.Permissions = r.list()
	c.IdentityProvider = r.str()
	if r.bad || r.off != len(data) {
		return nil, "", false
	}
	return c, kid, true
}

// verifiedReader reads encodeVerified's fields in order; a read past the
// end sets bad and returns zero values.
type verifiedReader struct {
	data string
	off  int
	bad  bool
}

// uvarint is binary.Uvarint on the string: that one takes a []byte, and
// converting the entry would copy it on every hit.
func (r *verifiedReader) uvarint() uint64 {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.data) {
			break
		}
		b := r.data[r.off]
		r.off++
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x
		}
	}
	r.bad = true
	return 0
}

func (r *verifiedReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *verifiedReader) str() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.data)-r.off) {
		r.bad = true
		return ""
	}
	s := r.data[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *verifiedReader) list() []string {
	n := r.uvarint()
	if r.bad || n == 0 {
		return nil
	}
	// Each string takes at least one byte: a count past the rest is bad.
	if n-1 > uint64(len(r.data)-r.off) {
		r.bad = true
		return nil
	}
	l := make([]string, n-1)
	for i := range l {
		l[i] = r.str()
	}
	return l
}
