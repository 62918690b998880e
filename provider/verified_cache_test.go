package provider

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

func claimsUntil(exp int64) *AccessClaims { return &AccessClaims{Expiry: exp, ID: "x"} }

// The cache is a bounded LRU: past its size the least recently used token
// goes, an entry lives until its token's exp, and size 0 keeps nothing.
func TestVerifiedCacheIsABoundedLRUUntilExp(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Minute).Unix()
	c := newVerifiedCache(2)
	c.put("a", "k1", claimsUntil(exp))
	c.put("b", "k1", claimsUntil(exp))
	if _, _, ok := c.get("a", now); !ok { // a is now the most recently used
		t.Fatal("a is not cached")
	}
	c.put("c", "k1", claimsUntil(exp))
	if _, _, ok := c.get("b", now); ok {
		t.Fatal("b, the least recently used, was not evicted")
	}
	if got, kid, ok := c.get("a", now); !ok || kid != "k1" || got.Expiry != exp {
		t.Fatalf("a: %+v %q %v", got, kid, ok)
	}
	if c.len() != 2 {
		t.Fatalf("%d entries, want at most 2", c.len())
	}
	if _, _, ok := c.get("c", time.Unix(exp, 0)); ok {
		t.Fatal("an entry outlived its token's exp")
	}
	if c.len() != 1 {
		t.Fatalf("the expired entry was not dropped: %d entries", c.len())
	}
	if c.hits.Load() != 2 || c.misses.Load() != 2 {
		t.Fatalf("hits %d misses %d, want 2 and 2", c.hits.Load(), c.misses.Load())
	}

	off := newVerifiedCache(0)
	off.put("a", "k1", claimsUntil(exp))
	if _, _, ok := off.get("a", now); ok || off.len() != 0 {
		t.Fatal("a cache of size 0 kept a token")
	}
}

// A cached token is served from the cache, yet a revocation makes it
// inactive at once and its expiry still ends it: the cache holds the
// verification, never the answer.
func TestVerifiedCacheKeepsRevocationAndExpiryLive(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1_800_000_000)
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	store := openTestStore(t)
	secrets := refreshSecrets(t, 7)
	p := New(Options{
		Issuer: "https://issuer.example", Store: store, Tokens: store, Secrets: secrets,
		Keys:      KeyRingOptions{VerifiedCacheSize: 10},
		Lifetimes: Lifetimes{Access: time.Minute, Refresh: time.Hour, RefreshMax: 2 * time.Hour, IDToken: time.Minute},
		Now:       now,
	})
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateClient(t.Context(), storage.Client{
		ID: "app", SecretHash: secrets.Hash("app-secret"), GrantTypes: []string{GrantClientCredentials},
		TokenEndpointAuthMethod: AuthSecretBasic, Scope: "read write", AccessTokenFormat: "jwt",
		CreatedAt: now(), UpdatedAt: now(),
	}); err != nil {
		t.Fatal(err)
	}
	issue := func() string {
		t.Helper()
		resp, err := tokenRequest(t, p, url.Values{"grant_type": {GrantClientCredentials}, "scope": {"read"}}, "app-secret")
		if err != nil {
			t.Fatal(err)
		}
		return resp.AccessToken
	}
	stats := func() VerifiedCacheStats { return p.Keys().VerifiedCacheStats() }

	tok := issue()
	for range 3 {
		if _, err := p.VerifyAccessToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if s := stats(); s.Misses != 1 || s.Hits != 2 {
		t.Fatalf("three verifications of one token: %+v, want 1 miss and 2 hits", s)
	}

	info, err := p.VerifyAccessToken(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeAccessToken(t.Context(), info.ID, now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.VerifyAccessToken(t.Context(), tok); err == nil {
		t.Fatal("a revoked token verified from the cache")
	}

	other := issue()
	if _, err := p.VerifyAccessToken(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	clock.Add(61) // past the one-minute access lifetime
	if _, err := p.VerifyAccessToken(t.Context(), other); err == nil {
		t.Fatal("an expired token verified from the cache")
	}
}

// Every field of AccessClaims comes back from the cache as it went in,
// nil and empty lists included. The claims are filled by reflection, so a
// field added to AccessClaims and not to encodeVerified fails here.
func TestVerifiedCacheKeepsEveryClaim(t *testing.T) {
	full := new(AccessClaims)
	v := reflect.ValueOf(full).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name + " ✓")
		case reflect.Int64:
			f.SetInt(int64(1_800_000_000 + i))
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"a", "", v.Type().Field(i).Name}).Convert(f.Type()))
		default:
			t.Fatalf("field %s of kind %s: teach encodeVerified and this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	empty := &AccessClaims{Expiry: 1_800_000_000, Groups: []string{}, Permissions: nil, Audience: Audience{}, IssuedAt: -5}
	now := time.Unix(1_700_000_000, 0)
	for _, want := range []*AccessClaims{full, empty} {
		c := newVerifiedCache(4)
		c.put("tok", "kid-1", want)
		got, kid, ok := c.get("tok", now)
		if !ok || kid != "kid-1" || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %#v %q %v, want %#v", got, kid, ok, want)
		}
		if got == want {
			t.Fatal("the cache handed out the claims it was given, not its own copy")
		}
	}
}

// A cut or damaged entry reads as a miss, never as other claims.
func TestDecodeVerifiedRefusesDamagedData(t *testing.T) {
	data := string(encodeVerified(nil, "kid", &AccessClaims{Subject: "alice", Groups: []string{"g"}, Expiry: 9}))
	for n := range len(data) {
		if _, _, ok := decodeVerified(data[:n]); ok {
			t.Fatalf("a prefix of %d bytes decoded", n)
		}
	}
	if _, _, ok := decodeVerified(data + "x"); ok {
		t.Fatal("trailing bytes decoded")
	}
	if _, _, ok := decodeVerified("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"); ok {
		t.Fatal("an overlong varint decoded")
	}
}

// The slot-numbered LRU behaves as container/list's under a random mix of
// puts, hits, expiries and evictions.
func TestVerifiedCacheMatchesAListLRU(t *testing.T) {
	const size = 7
	now := time.Unix(1_800_000_000, 0)
	c := newVerifiedCache(size)
	type ref struct {
		key string
		exp int64
	}
	order := list.New() // front: most recently used
	find := func(key string) *list.Element {
		for e := order.Front(); e != nil; e = e.Next() {
			if e.Value.(ref).key == key {
				return e
			}
		}
		return nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20_000 {
		key := fmt.Sprint(rng.IntN(12))
		switch op := rng.IntN(3); op {
		case 0: // put, living 1 to 3 seconds past now
			exp := now.Unix() + 1 + int64(rng.IntN(3))
			c.put(key, "k", &AccessClaims{ID: key, Expiry: exp})
			if e := find(key); e != nil {
				e.Value = ref{key, exp}
				order.MoveToFront(e)
			} else {
				for order.Len() >= size {
					order.Remove(order.Back())
				}
				order.PushFront(ref{key, exp})
			}
		case 1: // get
			got, _, ok := c.get(key, now)
			e := find(key)
			want := e != nil && e.Value.(ref).exp > now.Unix()
			if e != nil && !want {
				order.Remove(e)
			} else if want {
				order.MoveToFront(e)
			}
			if ok != want || ok && got.ID != key {
				t.Fatalf("step %d: get %s = %v, want %v", step, key, ok, want)
			}
		case 2: // time passes
			now = now.Add(time.Duration(rng.IntN(2)) * time.Second)
		}
		if c.len() != order.Len() {
			t.Fatalf("step %d: %d entries, want %d", step, c.len(), order.Len())
		}
	}
	// The list order is the eviction order: walk it from the cache's head.
	var keys []string
	for i := c.head; i != noSlot; i = c.slots[i].next {
		claims, _, _ := decodeVerified(c.slots[i].data)
		keys = append(keys, claims.ID)
	}
	var want []string
	for e := order.Front(); e != nil; e = e.Next() {
		want = append(want, e.Value.(ref).key)
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("LRU order %v, want %v", keys, want)
	}
}
