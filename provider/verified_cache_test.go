package provider

import (
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
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
	store, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "lk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
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
