package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunKeys runs the storage.Keys conformance suite.
func RunKeys(t *testing.T, open func(t *testing.T) storage.Keys) {
	runAll(t, open, []subtest[storage.Keys]{
		{"the first rotation stores the signing key with every field", testKeyFirst},
		{"rotate retires the old key and signs with the new one", testKeyRotate},
		{"conditional rotation when the signing key is fresh returns false", testKeyConditionalFresh},
		{"conditional rotation when the signing key is old rotates", testKeyConditionalOld},
		{"conditional rotation of an empty store creates the first key", testKeyConditionalEmpty},
		{"a clashing key ID conflicts and changes nothing", testKeyConflict},
		{"list keys is oldest first", testKeyListOrder},
		{"delete expired keys removes only retired keys past their expiry", testKeyDeleteExpired},
		{"a key ID or algorithm with a NUL byte or not UTF-8 is refused", testKeyInvalidText},
	})
}

// The private key is binary (sampleKey's holds a NUL and 0xff): only the
// text fields are checked.
func testKeyInvalidText(t *testing.T, s storage.Keys) {
	k := sampleKey("k1", base())
	rotate(t, s, k)
	later := base().Add(time.Hour)
	for _, bad := range invalidTexts {
		for _, next := range []storage.SigningKey{sampleKey(bad, later), {ID: "k2", Algorithm: bad, CreatedAt: later}} {
			_, err := s.RotateKey(t.Context(), next, later, later.Add(time.Hour), time.Time{})
			wantInvalid(t, fmt.Sprintf("RotateKey with %q", bad), err)
		}
	}
	equal(t, "keys", listKeys(t, s), []storage.SigningKey{k})
}

func sampleKey(id string, created time.Time) storage.SigningKey {
	return storage.SigningKey{
		ID:         id,
		Algorithm:  "ES256",
		PrivateKey: []byte("sealed:\x00\x01\xfe\xff:" + id),
		PublicKey:  []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `"}`),
		CreatedAt:  created,
	}
}

// rotate rotates unconditionally, keeping the old keys for a day.
func rotate(t *testing.T, s storage.Keys, k storage.SigningKey) {
	t.Helper()
	ok, err := s.RotateKey(t.Context(), k, k.CreatedAt, k.CreatedAt.Add(24*time.Hour), time.Time{})
	must(t, err)
	if !ok {
		t.Fatal("unconditional RotateKey reported false")
	}
}

func listKeys(t *testing.T, s storage.Keys) []storage.SigningKey {
	t.Helper()
	keys, err := s.ListKeys(t.Context())
	must(t, err)
	return keys
}

func testKeyFirst(t *testing.T, s storage.Keys) {
	equal(t, "keys of an empty store", len(listKeys(t, s)), 0)
	k := sampleKey("k1", base())
	rotate(t, s, k)
	equal(t, "ListKeys", listKeys(t, s), []storage.SigningKey{k})
}

func testKeyRotate(t *testing.T, s storage.Keys) {
	k1 := sampleKey("k1", base())
	rotate(t, s, k1)
	now := base().Add(90 * 24 * time.Hour)
	k2 := sampleKey("k2", now)
	rotate(t, s, k2)
	k1.RetiredAt, k1.ExpiresAt = now, now.Add(24*time.Hour)
	equal(t, "ListKeys", listKeys(t, s), []storage.SigningKey{k1, k2})
}

func testKeyConditionalFresh(t *testing.T, s storage.Keys) {
	k1 := sampleKey("k1", base())
	rotate(t, s, k1)
	now := base().Add(time.Hour)
	// Another instance rotated at base; we wanted a key older than an hour ago minus a minute.
	ok, err := s.RotateKey(t.Context(), sampleKey("k2", now), now, now.Add(time.Hour), base().Add(-time.Minute))
	must(t, err)
	if ok {
		t.Fatal("RotateKey rotated although the signing key is newer than onlyIfOlderThan")
	}
	equal(t, "ListKeys", listKeys(t, s), []storage.SigningKey{k1})
}

func testKeyConditionalOld(t *testing.T, s storage.Keys) {
	k1 := sampleKey("k1", base())
	rotate(t, s, k1)
	now := base().Add(48 * time.Hour)
	k2 := sampleKey("k2", now)
	ok, err := s.RotateKey(t.Context(), k2, now, now.Add(time.Hour), now.Add(-24*time.Hour))
	must(t, err)
	if !ok {
		t.Fatal("RotateKey did not rotate a key older than onlyIfOlderThan")
	}
	k1.RetiredAt, k1.ExpiresAt = now, now.Add(time.Hour)
	equal(t, "ListKeys", listKeys(t, s), []storage.SigningKey{k1, k2})
}

func testKeyConditionalEmpty(t *testing.T, s storage.Keys) {
	// The provider creates its first key with a cutoff of Unix(1): any
	// signing key at all means another instance made it first.
	k := sampleKey("k1", base())
	ok, err := s.RotateKey(t.Context(), k, base(), base(), time.Unix(1, 0))
	must(t, err)
	if !ok {
		t.Fatal("RotateKey did not create the first key")
	}
	ok, err = s.RotateKey(t.Context(), sampleKey("k2", base()), base(), base(), time.Unix(1, 0))
	must(t, err)
	if ok {
		t.Fatal("a second first-key rotation succeeded")
	}
	equal(t, "ListKeys", listKeys(t, s), []storage.SigningKey{k})
}

func testKeyConflict(t *testing.T, s storage.Keys) {
	k1 := sampleKey("k1", base())
	rotate(t, s, k1)
	now := base().Add(time.Hour)
	_, err := s.RotateKey(t.Context(), sampleKey("k1", now), now, now, time.Time{})
	wantErr(t, err, storage.ErrConflict)
	equal(t, "ListKeys", listKeys(t, s), []storage.SigningKey{k1})
}

func testKeyListOrder(t *testing.T, s storage.Keys) {
	for i, id := range []string{"c", "a", "b"} {
		rotate(t, s, sampleKey(id, base().Add(time.Duration(i)*time.Hour)))
	}
	var ids []string
	for _, k := range listKeys(t, s) {
		ids = append(ids, k.ID)
	}
	equal(t, "key IDs", ids, []string{"c", "a", "b"})
}

func testKeyDeleteExpired(t *testing.T, s storage.Keys) {
	// k1 is retired at +1h and expires at +1h+24h; k2 at +2h, expiring +2h+24h.
	for i, id := range []string{"k1", "k2", "k3"} {
		rotate(t, s, sampleKey(id, base().Add(time.Duration(i)*time.Hour)))
	}
	n, err := s.DeleteExpiredKeys(t.Context(), base().Add(24*time.Hour))
	must(t, err)
	equal(t, "deleted before any expiry", n, 0)
	n, err = s.DeleteExpiredKeys(t.Context(), base().Add(25*time.Hour))
	must(t, err)
	equal(t, "deleted at k1's expiry", n, 1)
	n, err = s.DeleteExpiredKeys(t.Context(), base().Add(1000*time.Hour))
	must(t, err)
	equal(t, "deleted long after", n, 1)
	keys := listKeys(t, s)
	if len(keys) != 1 || keys[0].ID != "k3" {
		t.Fatalf("keys left: %+v, want only the signing key k3", keys)
	}
}
