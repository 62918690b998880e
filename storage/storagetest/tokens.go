package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunTokens runs the storage.Tokens conformance suite.
func RunTokens(t *testing.T, open func(t *testing.T) storage.Tokens) {
	runAll(t, open, []subtest[storage.Tokens]{
		{"create family then get returns every field", testFamilyRoundTrip},
		{"a duplicate family conflicts", testFamilyDuplicate},
		{"refresh token returns a live token and its family", testRefreshTokenLookup},
		{"rotate consumes the token and the next one works", testRotate},
		{"rotating an old hash again is reuse and revokes the family", testRotateReuse},
		{"concurrent rotation of one hash lets exactly one caller win", testRotateConcurrent},
		{"rotate with a clashing next hash conflicts and consumes nothing", testRotateConflict},
		{"an unknown token is not found", testRotateUnknown},
		{"another client's live token is not found and stays usable", testRotateOtherClient},
		{"the next token never outlives its family", testRotateCapsExpiry},
		{"an expired token is not found", testRotateExpired},
		{"a family past its cap is not found", testRotateFamilyCap},
		{"rotate after revoke family is not found and the family is revoked", testRotateRevoked},
		{"revoke family keeps the first revocation time", testRevokeFamilyTwice},
		{"a missing family is not found", testFamilyMissing},
		{"list families is newest first without revoked or expired ones", testListFamilies},
		{"revoke subject revokes the live families and counts them", testRevokeSubject},
		{"an opaque access token round-trips until it expires", testAccessToken},
		{"a duplicate access token conflicts", testAccessTokenDuplicate},
		{"a revoked access token is revoked and another one is not", testRevokeAccessToken},
		{"a revocation past its time no longer counts", testRevocationExpiry},
		{"revoking an access token again keeps the later time", testRevocationKeepsLater},
		{"revoked answers for a family alone or a jti alone", testRevokedParts},
		{"purge removes expired rows and keeps live ones", testPurge},
	})
}

func sampleFamily(id string) storage.Family {
	t := base()
	return storage.Family{
		ID:         id,
		ClientID:   "web",
		Subject:    "42",
		Scope:      "openid offline_access",
		AuthTime:   t.Add(-time.Minute),
		CreatedAt:  t,
		LastUsedAt: t,
		ExpiresAt:  t.Add(30 * 24 * time.Hour),
		UserAgent:  "Mozilla/5.0",
		IP:         "192.0.2.1",
	}
}

func refreshToken(hash, family string, created time.Time) storage.RefreshToken {
	return storage.RefreshToken{Hash: hash, FamilyID: family, CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour)}
}

// createFamily stores a sample family whose first token is "<id>-0".
func createFamily(t *testing.T, s storage.Tokens, f storage.Family) storage.RefreshToken {
	t.Helper()
	first := refreshToken(f.ID+"-0", f.ID, f.CreatedAt)
	must(t, s.CreateFamily(t.Context(), f, first))
	return first
}

func getFamily(t *testing.T, s storage.Tokens, id string) storage.Family {
	t.Helper()
	f, err := s.GetFamily(t.Context(), id)
	must(t, err)
	return f
}

func revoked(t *testing.T, s storage.Tokens, jti, family string, now time.Time) bool {
	t.Helper()
	r, err := s.Revoked(t.Context(), jti, family, now)
	must(t, err)
	return r
}

func testFamilyRoundTrip(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	createFamily(t, s, f)
	equal(t, "GetFamily", getFamily(t, s, "fam"), f)

	cc := storage.Family{ID: "client-only", ClientID: "svc", CreatedAt: base(), LastUsedAt: base(), ExpiresAt: base().Add(time.Hour)}
	createFamily(t, s, cc)
	equal(t, "GetFamily of a client-only family", getFamily(t, s, "client-only"), cc)
}

func testFamilyDuplicate(t *testing.T, s storage.Tokens) {
	createFamily(t, s, sampleFamily("fam"))
	err := s.CreateFamily(t.Context(), sampleFamily("fam"), refreshToken("other", "fam", base()))
	wantErr(t, err, storage.ErrConflict)
	// Nothing of the failed call was kept.
	_, _, err = s.RefreshToken(t.Context(), "other", base())
	wantErr(t, err, storage.ErrNotFound)
}

func testRefreshTokenLookup(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	first := createFamily(t, s, f)
	tok, fam, err := s.RefreshToken(t.Context(), first.Hash, base().Add(time.Minute))
	must(t, err)
	equal(t, "token", tok, first)
	equal(t, "family", fam, f)
	_, _, err = s.RefreshToken(t.Context(), "nope", base())
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), first.Hash, first.ExpiresAt)
	wantErr(t, err, storage.ErrNotFound)
}

func testRotate(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	first := createFamily(t, s, f)
	now := base().Add(time.Hour)
	next := refreshToken("fam-1", "", now) // the store fills in the family
	got, err := s.Rotate(t.Context(), first.Hash, "", next, now)
	must(t, err)
	want := f
	want.LastUsedAt = now
	equal(t, "Rotate's family", got, want)
	equal(t, "stored family", getFamily(t, s, "fam"), want)

	_, _, err = s.RefreshToken(t.Context(), first.Hash, now)
	wantErr(t, err, storage.ErrNotFound)
	tok, _, err := s.RefreshToken(t.Context(), "fam-1", now)
	must(t, err)
	next.FamilyID = "fam"
	equal(t, "next token", tok, next)

	later := now.Add(time.Hour)
	_, err = s.Rotate(t.Context(), "fam-1", "", refreshToken("fam-2", "fam", later), later)
	must(t, err)
}

func testRotateReuse(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := base().Add(time.Hour)
	_, err := s.Rotate(t.Context(), first.Hash, "", refreshToken("fam-1", "fam", now), now)
	must(t, err)
	replay := now.Add(time.Minute)
	_, err = s.Rotate(t.Context(), first.Hash, "", refreshToken("fam-x", "fam", replay), replay)
	wantErr(t, err, storage.ErrReused)

	equal(t, "RevokedAt", getFamily(t, s, "fam").RevokedAt, replay)
	later := replay.Add(time.Minute)
	_, err = s.Rotate(t.Context(), "fam-1", "", refreshToken("fam-2", "fam", later), later)
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), "fam-1", later)
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), "fam-x", later)
	wantErr(t, err, storage.ErrNotFound)
	if !revoked(t, s, "some-jti", "fam", later) {
		t.Error("Revoked is false for a family revoked on reuse")
	}
}

func testRotateConcurrent(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := base().Add(time.Hour)
	const callers = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, callers)
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Rotate(t.Context(), first.Hash, "", refreshToken(fmt.Sprintf("next-%d", i), "fam", now), now)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrReused), errors.Is(err, storage.ErrNotFound):
		default:
			t.Errorf("caller %d: unexpected error %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d callers rotated the same token, want exactly 1", wins)
	}
}

func testRotateConflict(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	other := createFamily(t, s, sampleFamily("other"))
	now := base().Add(time.Hour)
	_, err := s.Rotate(t.Context(), first.Hash, "", refreshToken(other.Hash, "fam", now), now)
	wantErr(t, err, storage.ErrConflict)
	// The failed rotation consumed nothing: the token still rotates.
	_, err = s.Rotate(t.Context(), first.Hash, "", refreshToken("fam-1", "fam", now), now)
	must(t, err)
}

func testRotateUnknown(t *testing.T, s storage.Tokens) {
	_, err := s.Rotate(t.Context(), "never-issued", "", refreshToken("x", "", base()), base())
	wantErr(t, err, storage.ErrNotFound)
}

func testRotateExpired(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := first.ExpiresAt
	_, err := s.Rotate(t.Context(), first.Hash, "", refreshToken("fam-1", "fam", now), now)
	wantErr(t, err, storage.ErrNotFound)
	if !getFamily(t, s, "fam").RevokedAt.IsZero() {
		t.Error("an expired token revoked its family")
	}
}

func testRotateFamilyCap(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	f.ExpiresAt = base().Add(time.Hour) // before the token's own expiry
	first := createFamily(t, s, f)
	now := f.ExpiresAt
	_, err := s.Rotate(t.Context(), first.Hash, "", refreshToken("fam-1", "fam", now), now)
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), first.Hash, now)
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), first.Hash, now.Add(-time.Millisecond))
	must(t, err)
}

func testRotateRevoked(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := base().Add(time.Hour)
	must(t, s.RevokeFamily(t.Context(), "fam", now))
	_, err := s.Rotate(t.Context(), first.Hash, "", refreshToken("fam-1", "fam", now), now)
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), first.Hash, now)
	wantErr(t, err, storage.ErrNotFound)
	if !revoked(t, s, "jti-1", "fam", now) {
		t.Error("Revoked(jti, family) is false for a revoked family")
	}
	equal(t, "RevokedAt", getFamily(t, s, "fam").RevokedAt, now)
}

func testRevokeFamilyTwice(t *testing.T, s storage.Tokens) {
	createFamily(t, s, sampleFamily("fam"))
	first := base().Add(time.Hour)
	must(t, s.RevokeFamily(t.Context(), "fam", first))
	must(t, s.RevokeFamily(t.Context(), "fam", first.Add(time.Hour)))
	equal(t, "RevokedAt", getFamily(t, s, "fam").RevokedAt, first)
}

func testFamilyMissing(t *testing.T, s storage.Tokens) {
	_, err := s.GetFamily(t.Context(), "ghost")
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.RevokeFamily(t.Context(), "ghost", base()), storage.ErrNotFound)
}

func testListFamilies(t *testing.T, s storage.Tokens) {
	for i, id := range []string{"old", "revoked", "new", "expired", "mid"} {
		f := sampleFamily(id)
		f.CreatedAt = base().Add(time.Duration(i) * time.Minute)
		if id == "expired" {
			f.ExpiresAt = base().Add(time.Hour)
		}
		createFamily(t, s, f)
	}
	other := sampleFamily("someone-else")
	other.Subject = "7"
	createFamily(t, s, other)
	now := base().Add(2 * time.Hour)
	must(t, s.RevokeFamily(t.Context(), "revoked", now))
	fams, err := s.ListFamilies(t.Context(), "42", now)
	must(t, err)
	var ids []string
	for _, f := range fams {
		ids = append(ids, f.ID)
	}
	equal(t, "families", ids, []string{"mid", "new", "old"})
	fams, err = s.ListFamilies(t.Context(), "nobody", now)
	must(t, err)
	equal(t, "families of a subject without any", len(fams), 0)
}

func testRevokeSubject(t *testing.T, s storage.Tokens) {
	for _, id := range []string{"a", "b", "gone", "expired"} {
		f := sampleFamily(id)
		if id == "expired" {
			f.ExpiresAt = base().Add(time.Minute)
		}
		createFamily(t, s, f)
	}
	other := sampleFamily("other")
	other.Subject = "7"
	otherFirst := createFamily(t, s, other)
	now := base().Add(time.Hour)
	must(t, s.RevokeFamily(t.Context(), "gone", base()))

	n, err := s.RevokeSubject(t.Context(), "42", now)
	must(t, err)
	equal(t, "revoked", n, 2)
	equal(t, "a's RevokedAt", getFamily(t, s, "a").RevokedAt, now)
	equal(t, "gone keeps its first revocation", getFamily(t, s, "gone").RevokedAt, base())
	_, err = s.Rotate(t.Context(), "a-0", "", refreshToken("a-1", "a", now), now)
	wantErr(t, err, storage.ErrNotFound)
	n, err = s.RevokeSubject(t.Context(), "42", now)
	must(t, err)
	equal(t, "revoked again", n, 0)
	_, _, err = s.RefreshToken(t.Context(), otherFirst.Hash, now)
	must(t, err)
}

func sampleAccessToken(hash, jti string) storage.AccessToken {
	return storage.AccessToken{
		Hash:      hash,
		ID:        jti,
		FamilyID:  "fam",
		ClientID:  "web",
		Subject:   "42",
		Scope:     "openid api:read",
		Claims:    map[string]any{"tenant": "acme", "roles": []any{"a", "b"}, "level": 3.0},
		IssuedAt:  base(),
		ExpiresAt: base().Add(5 * time.Minute),
	}
}

func testAccessToken(t *testing.T, s storage.Tokens) {
	at := sampleAccessToken("h1", "jti-1")
	must(t, s.CreateAccessToken(t.Context(), at))
	got, err := s.AccessToken(t.Context(), "h1", base().Add(time.Minute))
	must(t, err)
	equal(t, "AccessToken", got, at)

	bare := storage.AccessToken{Hash: "h2", ID: "jti-2", ClientID: "svc", IssuedAt: base(), ExpiresAt: base().Add(time.Minute)}
	must(t, s.CreateAccessToken(t.Context(), bare))
	got, err = s.AccessToken(t.Context(), "h2", base())
	must(t, err)
	equal(t, "AccessToken without family or claims", got, bare)

	_, err = s.AccessToken(t.Context(), "h1", at.ExpiresAt)
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.AccessToken(t.Context(), "unknown", base())
	wantErr(t, err, storage.ErrNotFound)
}

func testAccessTokenDuplicate(t *testing.T, s storage.Tokens) {
	must(t, s.CreateAccessToken(t.Context(), sampleAccessToken("h1", "jti-1")))
	wantErr(t, s.CreateAccessToken(t.Context(), sampleAccessToken("h1", "jti-2")), storage.ErrConflict)
}

func testRevokeAccessToken(t *testing.T, s storage.Tokens) {
	now := base()
	if revoked(t, s, "jti-1", "", now) {
		t.Fatal("a jti is revoked before anything was revoked")
	}
	must(t, s.RevokeAccessToken(t.Context(), "jti-1", now.Add(time.Hour)))
	if !revoked(t, s, "jti-1", "", now) {
		t.Error("a revoked jti is not revoked")
	}
	if revoked(t, s, "jti-2", "", now) {
		t.Error("another jti is revoked too")
	}
}

func testRevocationExpiry(t *testing.T, s storage.Tokens) {
	until := base().Add(time.Hour)
	must(t, s.RevokeAccessToken(t.Context(), "jti-1", until))
	if !revoked(t, s, "jti-1", "", until.Add(-time.Millisecond)) {
		t.Error("not revoked just before its time")
	}
	if revoked(t, s, "jti-1", "", until) {
		t.Error("still revoked at its time")
	}
	must(t, s.RevokeAccessToken(t.Context(), "jti-2", base().Add(-time.Hour)))
	if revoked(t, s, "jti-2", "", base()) {
		t.Error("a revocation until the past is revoked")
	}
}

func testRevocationKeepsLater(t *testing.T, s storage.Tokens) {
	must(t, s.RevokeAccessToken(t.Context(), "jti-1", base().Add(2*time.Hour)))
	must(t, s.RevokeAccessToken(t.Context(), "jti-1", base().Add(time.Hour)))
	if !revoked(t, s, "jti-1", "", base().Add(90*time.Minute)) {
		t.Error("a second, shorter revocation shortened the first")
	}
	must(t, s.RevokeAccessToken(t.Context(), "jti-1", base().Add(3*time.Hour)))
	if !revoked(t, s, "jti-1", "", base().Add(150*time.Minute)) {
		t.Error("a longer revocation did not extend the first")
	}
}

func testRevokedParts(t *testing.T, s storage.Tokens) {
	createFamily(t, s, sampleFamily("live"))
	createFamily(t, s, sampleFamily("dead"))
	now := base().Add(time.Minute)
	must(t, s.RevokeFamily(t.Context(), "dead", now))
	must(t, s.RevokeAccessToken(t.Context(), "jti-x", now.Add(time.Hour)))
	cases := []struct {
		jti, family string
		want        bool
	}{
		{"", "dead", true},
		{"", "live", false},
		{"", "unknown", false},
		{"jti-x", "", true},
		{"jti-x", "live", true},
		{"jti-y", "dead", true},
		{"jti-y", "live", false},
		{"", "", false},
	}
	for _, c := range cases {
		if got := revoked(t, s, c.jti, c.family, now); got != c.want {
			t.Errorf("Revoked(%q, %q) = %v, want %v", c.jti, c.family, got, c.want)
		}
	}
}

func testPurge(t *testing.T, s storage.Tokens) {
	now := base().Add(48 * time.Hour)
	// Live family: its first token (rotated out, expired by now) goes, its
	// current one stays.
	live := sampleFamily("live")
	first := createFamily(t, s, live)
	rotatedAt := base().Add(20 * time.Hour)
	current := refreshToken("live-1", "live", rotatedAt)
	current.ExpiresAt = now.Add(24 * time.Hour)
	_, err := s.Rotate(t.Context(), first.Hash, "", current, rotatedAt)
	must(t, err)
	// A family past its cap goes with its token.
	capped := sampleFamily("capped")
	capped.ExpiresAt = base().Add(time.Hour)
	createFamily(t, s, capped)
	// One access token and one revocation of each kind.
	expiredAT := sampleAccessToken("at-old", "jti-old")
	liveAT := sampleAccessToken("at-live", "jti-live")
	liveAT.ExpiresAt = now.Add(time.Minute)
	must(t, s.CreateAccessToken(t.Context(), expiredAT))
	must(t, s.CreateAccessToken(t.Context(), liveAT))
	must(t, s.RevokeAccessToken(t.Context(), "jti-old", base().Add(time.Hour)))
	must(t, s.RevokeAccessToken(t.Context(), "jti-live", now.Add(time.Hour)))

	n, err := s.Purge(t.Context(), now)
	must(t, err)
	// live-0, capped-0, capped, at-old, the jti-old revocation.
	equal(t, "purged", n, 5)
	n, err = s.Purge(t.Context(), now)
	must(t, err)
	equal(t, "purged again", n, 0)

	_, _, err = s.RefreshToken(t.Context(), "live-1", now)
	must(t, err)
	_, err = s.GetFamily(t.Context(), "capped")
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.AccessToken(t.Context(), "at-live", now)
	must(t, err)
	if !revoked(t, s, "jti-live", "", now) {
		t.Error("purge dropped a live revocation")
	}
	// The expired first token is gone, not a reuse any more.
	_, err = s.Rotate(t.Context(), first.Hash, "", refreshToken("live-x", "live", now), now)
	wantErr(t, err, storage.ErrNotFound)
	equal(t, "live family not revoked", getFamily(t, s, "live").RevokedAt, time.Time{})
}

func testRotateOtherClient(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	first := createFamily(t, s, f)
	now := base().Add(time.Minute)
	_, err := s.Rotate(t.Context(), first.Hash, "someone-else", refreshToken("fam-x", "", now), now)
	wantErr(t, err, storage.ErrNotFound)
	if _, _, err := s.RefreshToken(t.Context(), first.Hash, now); err != nil {
		t.Fatalf("the owner's token was spent by another client: %v", err)
	}
	revoked, err := s.Revoked(t.Context(), "", "fam", now)
	must(t, err)
	if revoked {
		t.Fatal("another client's attempt revoked the family")
	}
	_, err = s.Rotate(t.Context(), first.Hash, f.ClientID, refreshToken("fam-1", "", now), now)
	must(t, err)
}

func testRotateCapsExpiry(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	first := createFamily(t, s, f)
	now := base().Add(time.Minute)
	next := refreshToken("fam-1", "", now)
	next.ExpiresAt = f.ExpiresAt.Add(24 * time.Hour)
	_, err := s.Rotate(t.Context(), first.Hash, "", next, now)
	must(t, err)
	tok, _, err := s.RefreshToken(t.Context(), "fam-1", now)
	must(t, err)
	if !tok.ExpiresAt.Equal(f.ExpiresAt) {
		t.Fatalf("next token expires %v, after its family's cap %v", tok.ExpiresAt, f.ExpiresAt)
	}
}
