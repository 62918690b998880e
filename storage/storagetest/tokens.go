package storagetest

import (
	"context"
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
		{"a rotation canceled at any moment happens whole or not at all", testRotateCanceled},
		{"concurrent rotation within a grace gives every caller the family", testRotateConcurrentGrace},
		{"a request that arrived before the rotation committed lost a race, not reuse", testRotateInFlight},
		{"the commit time is read from the rotation's clock when it writes", testRotateCommitClock},
		{"the previous token within the grace gets the family and changes nothing", testRotateGraceRepeat},
		{"the previous token after the grace is reuse", testRotateGraceOver},
		{"the previous token by another client within the grace is reuse", testRotateGraceOtherClient},
		{"a token two generations back within the grace is reuse", testRotateGraceTwoBack},
		{"a hash that is not the live token's is not found and changes nothing", testRotateWrongHash},
		{"a generation from the future is not found and changes nothing", testRotateFutureGeneration},
		{"an unknown token is not found", testRotateUnknown},
		{"another client's live token is not found and stays usable", testRotateOtherClient},
		{"the next token never outlives its family", testRotateCapsExpiry},
		{"an expired token is not found", testRotateExpired},
		{"a family past its cap is not found", testRotateFamilyCap},
		{"rotate after revoke family is not found and the family is revoked", testRotateRevoked},
		{"revoke family keeps the first revocation time", testRevokeFamilyTwice},
		{"a missing family is not found", testFamilyMissing},
		{"list families is newest first without revoked or expired ones", testListFamilies},
		{"list families leaves out a family whose token expired", testListFamiliesTokenExpired},
		{"revoke subject revokes the live families and counts them", testRevokeSubject},
		{"an opaque access token round-trips until it expires", testAccessToken},
		{"a duplicate access token conflicts", testAccessTokenDuplicate},
		{"a revoked access token is revoked and another one is not", testRevokeAccessToken},
		{"a revocation past its time no longer counts", testRevocationExpiry},
		{"revoking an access token again keeps the later time", testRevocationKeepsLater},
		{"revoked answers for a family alone or a jti alone", testRevokedParts},
		{"purge removes expired rows and keeps live ones", testPurge},
		{"a subject mark revokes the tokens issued before it, not after", testSubjectMark},
		{"a subject mark is checked with the jti and the family in one call", testSubjectMarkWithParts},
		{"marking a subject again keeps the later time", testSubjectMarkKeepsLater},
		{"a subject mark no longer counts from its keepUntil", testSubjectMarkExpiry},
		{"purge removes subject marks past their keepUntil", testSubjectMarkPurge},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testTokensInvalidText},
	})
}

// Lookups by such a key find nothing: ErrNotFound where a missing record
// is an error (the path of DELETE /auth/users/me/sessions/{id}/ is
// GetFamily), no families, no revocation where it is not.
func testTokensInvalidText(t *testing.T, s storage.Tokens) {
	ctx := t.Context()
	now := base()
	first := createFamily(t, s, sampleFamily("fam"))
	must(t, s.CreateAccessToken(ctx, sampleAccessToken("h1", "jti-1")))
	for _, bad := range invalidTexts {
		what := func(call string) string { return fmt.Sprintf("%s with %q", call, bad) }
		_, err := s.GetFamily(ctx, bad)
		wantNotFound(t, what("GetFamily"), err)
		wantNotFound(t, what("RevokeFamily"), s.RevokeFamily(ctx, bad, now))
		for _, r := range []storage.TokenRef{ref(bad, 0, "fam-0"), ref("fam", 0, bad)} {
			_, _, err = s.RefreshToken(ctx, r, now)
			wantNotFound(t, what("RefreshToken"), err)
			_, err = s.Rotate(ctx, r, "", refreshToken("next", "", now), storage.Rotation{Now: now})
			wantNotFound(t, what("Rotate"), err)
		}
		_, err = s.Rotate(ctx, refOf(first), bad, refreshToken("next", "", now), storage.Rotation{Now: now})
		wantNotFound(t, what("Rotate by client"), err)
		_, err = s.AccessToken(ctx, bad, now)
		wantNotFound(t, what("AccessToken"), err)
		fams, err := s.ListFamilies(ctx, bad, now)
		if err != nil || len(fams) != 0 {
			t.Errorf("%s: %v, %v; want none", what("ListFamilies"), fams, err)
		}
		n, err := s.RevokeSubject(ctx, bad, now)
		if err != nil || n != 0 {
			t.Errorf("%s: %d, %v; want 0", what("RevokeSubject"), n, err)
		}
		r, err := s.Revoked(ctx, storage.RevocationCheck{JTI: bad, FamilyID: bad, Subject: bad, IssuedAt: now}, now)
		if err != nil || r {
			t.Errorf("%s: %v, %v; want false", what("Revoked"), r, err)
		}

		f := sampleFamily("other")
		f.UserAgent = bad
		wantInvalid(t, what("CreateFamily"), s.CreateFamily(ctx, f, refreshToken("other-0", "", now)))
		wantInvalid(t, what("CreateFamily"), s.CreateFamily(ctx, sampleFamily("other"), refreshToken(bad, "", now)))
		wantInvalid(t, what("CreateFamily"), s.CreateFamily(ctx, sampleFamily(bad), refreshToken("x-0", "", now)))
		_, err = s.Rotate(ctx, refOf(first), "", refreshToken(bad, "", now), storage.Rotation{Now: now})
		wantInvalid(t, what("Rotate"), err)
		at := sampleAccessToken("h2", "jti-2")
		at.Claims = map[string]any{"roles": []any{"a", bad}}
		wantInvalid(t, what("CreateAccessToken"), s.CreateAccessToken(ctx, at))
		wantInvalid(t, what("CreateAccessToken"), s.CreateAccessToken(ctx, sampleAccessToken("h3", bad)))
		wantInvalid(t, what("RevokeAccessToken"), s.RevokeAccessToken(ctx, bad, now.Add(time.Hour)))
		wantInvalid(t, what("RevokeSubjectTokensBefore"), s.RevokeSubjectTokensBefore(ctx, bad, now, now.Add(time.Hour)))
	}
	_, err := s.GetFamily(ctx, "other")
	wantErr(t, err, storage.ErrNotFound)
	for _, h := range []string{"h2", "h3"} {
		_, err = s.AccessToken(ctx, h, now)
		wantErr(t, err, storage.ErrNotFound)
	}
	// The live token was not rotated away.
	_, _, err = s.RefreshToken(ctx, refOf(first), now)
	must(t, err)
}

func sampleFamily(id string) storage.Family {
	t := base()
	return storage.Family{
		ID:         id,
		ClientID:   "web",
		Subject:    "42",
		Scope:      "openid offline_access",
		Resource:   "https://api.example.com/",
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

// ref names a token as a caller presents it.
func ref(family string, gen int64, hash string) storage.TokenRef {
	return storage.TokenRef{FamilyID: family, Generation: gen, Hash: hash}
}

// refOf names a stored token.
func refOf(tok storage.RefreshToken) storage.TokenRef {
	return ref(tok.FamilyID, tok.Generation, tok.Hash)
}

// createFamily stores a sample family whose first token is "<id>-0",
// generation 0.
func createFamily(t *testing.T, s storage.Tokens, f storage.Family) storage.RefreshToken {
	t.Helper()
	first := refreshToken(f.ID+"-0", "", f.CreatedAt) // the store takes the family's ID
	must(t, s.CreateFamily(t.Context(), f, first))
	first.FamilyID = f.ID
	return first
}

// rotateToken rotates the family's token of generation gen to "<id>-<gen+1>" and
// returns the new token as stored.
func rotateToken(t *testing.T, s storage.Tokens, from storage.RefreshToken, now time.Time) storage.RefreshToken {
	t.Helper()
	next := refreshToken(fmt.Sprintf("%s-%d", from.FamilyID, from.Generation+1), "", now)
	_, err := s.Rotate(t.Context(), refOf(from), "", next, storage.Rotation{Now: now})
	must(t, err)
	next.FamilyID, next.Generation = from.FamilyID, from.Generation+1
	return next
}

func getFamily(t *testing.T, s storage.Tokens, id string) storage.Family {
	t.Helper()
	f, err := s.GetFamily(t.Context(), id)
	must(t, err)
	return f
}

func revoked(t *testing.T, s storage.Tokens, jti, family string, now time.Time) bool {
	t.Helper()
	r, err := s.Revoked(t.Context(), storage.RevocationCheck{JTI: jti, FamilyID: family}, now)
	must(t, err)
	return r
}

// revokedAt asks whether a token of the subject issued at iat is revoked.
func revokedAt(t *testing.T, s storage.Tokens, subject string, iat, now time.Time) bool {
	t.Helper()
	r, err := s.Revoked(t.Context(), storage.RevocationCheck{Subject: subject, IssuedAt: iat}, now)
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
	// Nothing of the failed call was kept: the first token is still live.
	_, _, err = s.RefreshToken(t.Context(), ref("fam", 0, "other"), base())
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), ref("fam", 0, "fam-0"), base())
	must(t, err)
}

func testRefreshTokenLookup(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	first := createFamily(t, s, f)
	tok, fam, err := s.RefreshToken(t.Context(), refOf(first), base().Add(time.Minute))
	must(t, err)
	equal(t, "token", tok, first)
	equal(t, "family", fam, f)
	for name, r := range map[string]storage.TokenRef{
		"unknown family":        ref("nope", 0, first.Hash),
		"wrong hash":            ref("fam", 0, "nope"),
		"a future generation":   ref("fam", 1, first.Hash),
		"an empty reference":    {},
		"a negative generation": ref("fam", -1, first.Hash),
	} {
		_, _, err = s.RefreshToken(t.Context(), r, base())
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("RefreshToken with %s: err = %v, want ErrNotFound", name, err)
		}
	}
	_, _, err = s.RefreshToken(t.Context(), refOf(first), first.ExpiresAt)
	wantErr(t, err, storage.ErrNotFound)
}

func testRotate(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	first := createFamily(t, s, f)
	now := base().Add(time.Hour)
	next := refreshToken("fam-1", "ignored", now) // the store fills in the family
	next.Generation = 99                          // and the generation
	got, err := s.Rotate(t.Context(), refOf(first), "", next, storage.Rotation{Now: now})
	must(t, err)
	want := f
	want.LastUsedAt = now
	equal(t, "Rotate's family", got, want)
	equal(t, "stored family", getFamily(t, s, "fam"), want)

	_, _, err = s.RefreshToken(t.Context(), refOf(first), now)
	wantErr(t, err, storage.ErrNotFound)
	tok, _, err := s.RefreshToken(t.Context(), ref("fam", 1, "fam-1"), now)
	must(t, err)
	next.FamilyID, next.Generation = "fam", 1
	equal(t, "next token", tok, next)

	later := now.Add(time.Hour)
	third := rotateToken(t, s, tok, later)
	equal(t, "third generation", third.Generation, int64(2))
}

func testRotateReuse(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := base().Add(time.Hour)
	second := rotateToken(t, s, first, now)
	replay := now.Add(time.Minute)
	_, err := s.Rotate(t.Context(), refOf(first), "", refreshToken("fam-x", "", replay), storage.Rotation{Now: replay})
	wantErr(t, err, storage.ErrReused)

	equal(t, "RevokedAt", getFamily(t, s, "fam").RevokedAt, replay)
	later := replay.Add(time.Minute)
	_, err = s.Rotate(t.Context(), refOf(second), "", refreshToken("fam-2", "", later), storage.Rotation{Now: later})
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), refOf(second), later)
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), ref("fam", 1, "fam-x"), later)
	wantErr(t, err, storage.ErrNotFound)
	if !revoked(t, s, "some-jti", "fam", later) {
		t.Error("Revoked is false for a family revoked on reuse")
	}
	// A replay of a revoked family is still a reuse, and keeps the first
	// revocation time.
	_, err = s.Rotate(t.Context(), refOf(first), "", refreshToken("fam-y", "", later), storage.Rotation{Now: later})
	wantErr(t, err, storage.ErrReused)
	equal(t, "RevokedAt after a second replay", getFamily(t, s, "fam").RevokedAt, replay)
}

// The callers all arrived before the winner committed: the losers lost a
// race they could not see, so none of them revokes the family.
func testRotateConcurrent(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := base().Add(time.Hour)
	rot := storage.Rotation{Now: now, Arrived: now.Add(-10 * time.Millisecond)}
	const callers = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, callers)
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			_, errs[i] = s.Rotate(t.Context(), refOf(first), "", refreshToken(fmt.Sprintf("next-%d", i), "", now), rot)
		})
	}
	close(start)
	wg.Wait()
	wins, winner := 0, -1
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			winner = i
		case errors.Is(err, storage.ErrNotFound):
		default:
			t.Errorf("caller %d: got %v, want nil or ErrNotFound (a lost race is not reuse)", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d callers rotated the same token, want exactly 1", wins)
	}
	if !getFamily(t, s, "fam").RevokedAt.IsZero() {
		t.Fatal("losing a race revoked the family")
	}
	_, _, err := s.RefreshToken(t.Context(), ref("fam", 1, fmt.Sprintf("next-%d", winner)), now)
	must(t, err)
}

// Within a grace every concurrent caller gets the family; the provider
// derives the successor from the presented token, so they all pass the
// same next token and one of them stores it.
func testRotateConcurrentGrace(t *testing.T, s storage.Tokens) {
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
			rot := storage.Rotation{Now: now, Arrived: now.Add(time.Duration(i) * time.Millisecond), Grace: 10 * time.Second}
			_, errs[i] = s.Rotate(t.Context(), refOf(first), "web", refreshToken("fam-1", "", now), rot)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if !getFamily(t, s, "fam").RevokedAt.IsZero() {
		t.Fatal("concurrent rotation within the grace revoked the family")
	}
	tok, _, err := s.RefreshToken(t.Context(), ref("fam", 1, "fam-1"), now)
	must(t, err)
	equal(t, "generation", tok.Generation, int64(1))
}

func testRotateInFlight(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	commit := base().Add(time.Hour)
	rotateToken(t, s, first, commit)
	// Arrived before the commit and handled after it: not found, the
	// family stays alive.
	for _, arrived := range []time.Time{commit.Add(-time.Second), commit.Add(-time.Microsecond)} {
		later := commit.Add(time.Second)
		_, err := s.Rotate(t.Context(), refOf(first), "web", refreshToken("fam-x", "", later),
			storage.Rotation{Now: later, Arrived: arrived})
		wantErr(t, err, storage.ErrNotFound)
		if !getFamily(t, s, "fam").RevokedAt.IsZero() {
			t.Fatalf("a request that arrived at commit%+v revoked the family", arrived.Sub(commit))
		}
	}
	_, _, err := s.RefreshToken(t.Context(), ref("fam", 1, "fam-1"), commit)
	must(t, err)
	// Arrived at the commit (to the microsecond) or later: a replay.
	replay := commit
	_, err = s.Rotate(t.Context(), refOf(first), "web", refreshToken("fam-x", "", replay), storage.Rotation{Now: replay})
	wantErr(t, err, storage.ErrReused)
	equal(t, "RevokedAt", getFamily(t, s, "fam").RevokedAt, replay)
}

// A rotation that waited (a queue, a lock) records the time of its write,
// so a request that arrived while it waited was in flight.
func testRotateCommitClock(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := base().Add(time.Hour)
	commit := now.Add(5 * time.Second)
	rot := storage.Rotation{Now: now, Clock: func() time.Time { return commit }}
	fam, err := s.Rotate(t.Context(), refOf(first), "web", refreshToken("fam-1", "", now), rot)
	must(t, err)
	equal(t, "LastUsedAt", fam.LastUsedAt, now)
	later := commit.Add(time.Second)
	_, err = s.Rotate(t.Context(), refOf(first), "web", refreshToken("fam-x", "", later),
		storage.Rotation{Now: later, Arrived: now.Add(3 * time.Second)})
	wantErr(t, err, storage.ErrNotFound)
	if !getFamily(t, s, "fam").RevokedAt.IsZero() {
		t.Fatal("a request that arrived while the winner waited revoked the family")
	}
	_, err = s.Rotate(t.Context(), refOf(first), "web", refreshToken("fam-x", "", later),
		storage.Rotation{Now: later, Arrived: commit.Add(time.Millisecond)})
	wantErr(t, err, storage.ErrReused)
}

func testRotateGraceRepeat(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	first := createFamily(t, s, f)
	commit := base().Add(time.Hour)
	second := rotateToken(t, s, first, commit)
	repeat := commit.Add(5 * time.Second)
	got, err := s.Rotate(t.Context(), refOf(first), "web", refreshToken("ignored", "", repeat),
		storage.Rotation{Now: repeat, Grace: 10 * time.Second})
	must(t, err)
	want := f
	want.LastUsedAt = repeat
	equal(t, "the family of a repeat", got, want)
	// The live token is still the one the rotation stored.
	tok, _, err := s.RefreshToken(t.Context(), refOf(second), repeat)
	must(t, err)
	equal(t, "live token", tok.Hash, second.Hash)
	_, _, err = s.RefreshToken(t.Context(), ref("fam", 1, "ignored"), repeat)
	wantErr(t, err, storage.ErrNotFound)
	// A second repeat within the grace too, and the family rotates on.
	_, err = s.Rotate(t.Context(), refOf(first), "", refreshToken("ignored", "", repeat),
		storage.Rotation{Now: repeat.Add(time.Second), Grace: 10 * time.Second})
	must(t, err)
	rotateToken(t, s, second, repeat.Add(2*time.Second))
}

func testRotateGraceOver(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	commit := base().Add(time.Hour)
	rotateToken(t, s, first, commit)
	late := commit.Add(10 * time.Second)
	_, err := s.Rotate(t.Context(), refOf(first), "web", refreshToken("fam-x", "", late),
		storage.Rotation{Now: late, Grace: 10 * time.Second})
	wantErr(t, err, storage.ErrReused)
	equal(t, "RevokedAt", getFamily(t, s, "fam").RevokedAt, late)
}

func testRotateGraceOtherClient(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	commit := base().Add(time.Hour)
	rotateToken(t, s, first, commit)
	soon := commit.Add(time.Second)
	_, err := s.Rotate(t.Context(), refOf(first), "someone-else", refreshToken("fam-x", "", soon),
		storage.Rotation{Now: soon, Grace: 10 * time.Second})
	wantErr(t, err, storage.ErrReused)
	if getFamily(t, s, "fam").RevokedAt.IsZero() {
		t.Fatal("another client's replay within the grace did not revoke the family")
	}
}

func testRotateGraceTwoBack(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	commit := base().Add(time.Hour)
	second := rotateToken(t, s, first, commit)
	rotateToken(t, s, second, commit.Add(time.Second))
	soon := commit.Add(2 * time.Second)
	_, err := s.Rotate(t.Context(), refOf(first), "web", refreshToken("fam-x", "", soon),
		storage.Rotation{Now: soon, Grace: time.Minute})
	wantErr(t, err, storage.ErrReused)
	if getFamily(t, s, "fam").RevokedAt.IsZero() {
		t.Fatal("a token two generations back did not revoke the family")
	}
}

func testRotateWrongHash(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := base().Add(time.Hour)
	_, err := s.Rotate(t.Context(), ref("fam", 0, "forged"), "", refreshToken("fam-1", "", now), storage.Rotation{Now: now})
	wantErr(t, err, storage.ErrNotFound)
	equal(t, "RevokedAt", getFamily(t, s, "fam").RevokedAt, time.Time{})
	rotateToken(t, s, first, now)
}

func testRotateFutureGeneration(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := base().Add(time.Hour)
	_, err := s.Rotate(t.Context(), ref("fam", 5, first.Hash), "", refreshToken("fam-6", "", now), storage.Rotation{Now: now})
	wantErr(t, err, storage.ErrNotFound)
	equal(t, "RevokedAt", getFamily(t, s, "fam").RevokedAt, time.Time{})
	rotateToken(t, s, first, now)
}

func testRotateUnknown(t *testing.T, s storage.Tokens) {
	_, err := s.Rotate(t.Context(), ref("never-issued", 0, "x"), "", refreshToken("x", "", base()), storage.Rotation{Now: base()})
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.Rotate(t.Context(), ref("never-issued", 3, "x"), "", refreshToken("x", "", base()), storage.Rotation{Now: base()})
	wantErr(t, err, storage.ErrNotFound)
}

func testRotateExpired(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := first.ExpiresAt
	_, err := s.Rotate(t.Context(), refOf(first), "", refreshToken("fam-1", "", now), storage.Rotation{Now: now})
	wantErr(t, err, storage.ErrNotFound)
	if !getFamily(t, s, "fam").RevokedAt.IsZero() {
		t.Error("an expired token revoked its family")
	}
}

func testRotateFamilyCap(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	f.ExpiresAt = base().Add(time.Hour) // before the token's own expiry
	first := createFamily(t, s, f)
	_, _, err := s.RefreshToken(t.Context(), refOf(first), f.ExpiresAt.Add(-time.Millisecond))
	must(t, err)
	second := rotateToken(t, s, first, base().Add(time.Minute))
	now := f.ExpiresAt
	_, err = s.Rotate(t.Context(), refOf(second), "", refreshToken("fam-2", "", now), storage.Rotation{Now: now})
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), refOf(second), now)
	wantErr(t, err, storage.ErrNotFound)
	// Past the cap an old token is dead, not a reuse.
	_, err = s.Rotate(t.Context(), refOf(first), "", refreshToken("fam-x", "", now), storage.Rotation{Now: now})
	wantErr(t, err, storage.ErrNotFound)
	equal(t, "RevokedAt", getFamily(t, s, "fam").RevokedAt, time.Time{})
}

func testRotateRevoked(t *testing.T, s storage.Tokens) {
	first := createFamily(t, s, sampleFamily("fam"))
	now := base().Add(time.Hour)
	must(t, s.RevokeFamily(t.Context(), "fam", now))
	_, err := s.Rotate(t.Context(), refOf(first), "", refreshToken("fam-1", "", now), storage.Rotation{Now: now})
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), refOf(first), now)
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

func testListFamiliesTokenExpired(t *testing.T, s storage.Tokens) {
	idle := createFamily(t, s, sampleFamily("idle"))
	busy := createFamily(t, s, sampleFamily("busy"))
	// busy is refreshed; idle's token expires a day after the base time.
	rotateToken(t, s, busy, base().Add(23*time.Hour))
	fams, err := s.ListFamilies(t.Context(), "42", idle.ExpiresAt)
	must(t, err)
	equal(t, "families", len(fams), 1)
	equal(t, "the live family", fams[0].ID, "busy")
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
	_, err = s.Rotate(t.Context(), ref("a", 0, "a-0"), "", refreshToken("a-1", "", now), storage.Rotation{Now: now})
	wantErr(t, err, storage.ErrNotFound)
	n, err = s.RevokeSubject(t.Context(), "42", now)
	must(t, err)
	equal(t, "revoked again", n, 0)
	_, _, err = s.RefreshToken(t.Context(), refOf(otherFirst), now)
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
	// Live family: rotated, its current token still live.
	live := sampleFamily("live")
	first := createFamily(t, s, live)
	rotatedAt := base().Add(20 * time.Hour)
	current := refreshToken("live-1", "", rotatedAt)
	current.ExpiresAt = now.Add(24 * time.Hour)
	_, err := s.Rotate(t.Context(), refOf(first), "", current, storage.Rotation{Now: rotatedAt})
	must(t, err)
	// A family past its cap goes, and its token with it.
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
	// capped, at-old, the jti-old revocation.
	equal(t, "purged", n, 3)
	n, err = s.Purge(t.Context(), now)
	must(t, err)
	equal(t, "purged again", n, 0)

	_, _, err = s.RefreshToken(t.Context(), ref("live", 1, "live-1"), now)
	must(t, err)
	_, err = s.GetFamily(t.Context(), "capped")
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.RefreshToken(t.Context(), ref("capped", 0, "capped-0"), base())
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.AccessToken(t.Context(), "at-live", now)
	must(t, err)
	if !revoked(t, s, "jti-live", "", now) {
		t.Error("purge dropped a live revocation")
	}
	equal(t, "live family not revoked", getFamily(t, s, "live").RevokedAt, time.Time{})
}

func testRotateOtherClient(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	first := createFamily(t, s, f)
	now := base().Add(time.Minute)
	_, err := s.Rotate(t.Context(), refOf(first), "someone-else", refreshToken("fam-x", "", now), storage.Rotation{Now: now})
	wantErr(t, err, storage.ErrNotFound)
	if _, _, err := s.RefreshToken(t.Context(), refOf(first), now); err != nil {
		t.Fatalf("the owner's token was spent by another client: %v", err)
	}
	revoked, err := s.Revoked(t.Context(), storage.RevocationCheck{FamilyID: "fam"}, now)
	must(t, err)
	if revoked {
		t.Fatal("another client's attempt revoked the family")
	}
	_, err = s.Rotate(t.Context(), refOf(first), f.ClientID, refreshToken("fam-1", "", now), storage.Rotation{Now: now})
	must(t, err)
}

func testRotateCapsExpiry(t *testing.T, s storage.Tokens) {
	f := sampleFamily("fam")
	first := createFamily(t, s, f)
	now := base().Add(time.Minute)
	next := refreshToken("fam-1", "", now)
	next.ExpiresAt = f.ExpiresAt.Add(24 * time.Hour)
	_, err := s.Rotate(t.Context(), refOf(first), "", next, storage.Rotation{Now: now})
	must(t, err)
	tok, _, err := s.RefreshToken(t.Context(), ref("fam", 1, "fam-1"), now)
	must(t, err)
	if !tok.ExpiresAt.Equal(f.ExpiresAt) {
		t.Fatalf("next token expires %v, after its family's cap %v", tok.ExpiresAt, f.ExpiresAt)
	}
	// The first token is capped too.
	g := sampleFamily("short")
	g.ExpiresAt = base().Add(time.Hour)
	gFirst := refreshToken("short-0", "", base())
	must(t, s.CreateFamily(t.Context(), g, gFirst))
	tok, _, err = s.RefreshToken(t.Context(), ref("short", 0, "short-0"), base())
	must(t, err)
	equal(t, "first token's expiry", tok.ExpiresAt, g.ExpiresAt)
}

func testSubjectMark(t *testing.T, s storage.Tokens) {
	before := base().Add(time.Hour)
	now := before.Add(time.Minute)
	if revokedAt(t, s, "42", base(), now) {
		t.Fatal("a token is revoked before its subject was marked")
	}
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "42", before, before.Add(24*time.Hour)))
	if !revokedAt(t, s, "42", before.Add(-time.Millisecond), now) {
		t.Error("a token issued just before the mark is not revoked")
	}
	if !revokedAt(t, s, "42", base(), now) {
		t.Error("a token issued long before the mark is not revoked")
	}
	if revokedAt(t, s, "42", before, now) {
		t.Error("a token issued at the mark is revoked")
	}
	if revokedAt(t, s, "42", before.Add(time.Second), now) {
		t.Error("a token issued after the mark is revoked")
	}
	if revokedAt(t, s, "7", base(), now) {
		t.Error("another subject's token is revoked")
	}
	if revokedAt(t, s, "4", base(), now) || revokedAt(t, s, "420", base(), now) {
		t.Error("a subject that shares a prefix is revoked")
	}
	// Without an issued-at the subject is not checked.
	if revokedAt(t, s, "42", time.Time{}, now) {
		t.Error("a check without issued-at is revoked by the subject mark")
	}
}

func testSubjectMarkWithParts(t *testing.T, s storage.Tokens) {
	createFamily(t, s, sampleFamily("live"))
	createFamily(t, s, sampleFamily("dead"))
	before := base().Add(time.Hour)
	now := before.Add(time.Minute)
	must(t, s.RevokeFamily(t.Context(), "dead", now))
	must(t, s.RevokeAccessToken(t.Context(), "jti-x", now.Add(time.Hour)))
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "42", before, before.Add(24*time.Hour)))
	old, fresh := before.Add(-time.Second), before.Add(time.Second)
	cases := []struct {
		c    storage.RevocationCheck
		want bool
	}{
		{storage.RevocationCheck{JTI: "jti-y", FamilyID: "live", Subject: "42", IssuedAt: old}, true},
		{storage.RevocationCheck{JTI: "jti-y", FamilyID: "live", Subject: "42", IssuedAt: fresh}, false},
		{storage.RevocationCheck{JTI: "jti-y", Subject: "42", IssuedAt: old}, true},
		{storage.RevocationCheck{JTI: "jti-y", Subject: "42", IssuedAt: fresh}, false},
		{storage.RevocationCheck{FamilyID: "live", Subject: "42", IssuedAt: old}, true},
		{storage.RevocationCheck{FamilyID: "live", Subject: "42", IssuedAt: fresh}, false},
		{storage.RevocationCheck{JTI: "jti-x", Subject: "42", IssuedAt: fresh}, true},
		{storage.RevocationCheck{FamilyID: "dead", Subject: "42", IssuedAt: fresh}, true},
		{storage.RevocationCheck{JTI: "jti-y", FamilyID: "live", Subject: "7", IssuedAt: old}, false},
		{storage.RevocationCheck{}, false},
	}
	for _, c := range cases {
		got, err := s.Revoked(t.Context(), c.c, now)
		must(t, err)
		if got != c.want {
			t.Errorf("Revoked(%+v) = %v, want %v", c.c, got, c.want)
		}
	}
}

func testSubjectMarkKeepsLater(t *testing.T, s storage.Tokens) {
	keep := base().Add(48 * time.Hour)
	now := base().Add(4 * time.Hour)
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "42", base().Add(2*time.Hour), keep))
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "42", base().Add(time.Hour), keep))
	if !revokedAt(t, s, "42", base().Add(90*time.Minute), now) {
		t.Error("an earlier mark moved the later one back")
	}
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "42", base().Add(3*time.Hour), keep))
	if !revokedAt(t, s, "42", base().Add(150*time.Minute), now) {
		t.Error("a later mark did not move the first one forward")
	}
	if revokedAt(t, s, "42", base().Add(3*time.Hour), now) {
		t.Error("a token issued at the latest mark is revoked")
	}
	// A later keepUntil is kept too, whatever the order.
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "42", base().Add(time.Hour), keep.Add(24*time.Hour)))
	if !revokedAt(t, s, "42", base().Add(150*time.Minute), keep.Add(time.Hour)) {
		t.Error("a mark with a later keepUntil did not extend the first")
	}
}

func testSubjectMarkExpiry(t *testing.T, s storage.Tokens) {
	before := base().Add(time.Hour)
	keep := before.Add(24 * time.Hour)
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "42", before, keep))
	if !revokedAt(t, s, "42", base(), keep.Add(-time.Millisecond)) {
		t.Error("not revoked just before keepUntil")
	}
	if revokedAt(t, s, "42", base(), keep) {
		t.Error("still revoked at keepUntil")
	}
}

func testSubjectMarkPurge(t *testing.T, s storage.Tokens) {
	now := base().Add(48 * time.Hour)
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "old", base(), base().Add(24*time.Hour)))
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "live", now.Add(-time.Hour), now.Add(23*time.Hour)))
	n, err := s.Purge(t.Context(), now)
	must(t, err)
	equal(t, "purged", n, 1)
	n, err = s.Purge(t.Context(), now)
	must(t, err)
	equal(t, "purged again", n, 0)
	if !revokedAt(t, s, "live", now.Add(-2*time.Hour), now) {
		t.Error("purge dropped a live subject mark")
	}
	// The purged subject can be marked anew.
	must(t, s.RevokeSubjectTokensBefore(t.Context(), "old", now, now.Add(24*time.Hour)))
	if !revokedAt(t, s, "old", now.Add(-time.Second), now) {
		t.Error("a subject marked again after a purge is not revoked")
	}
}

// testRotateCanceled cancels rotations at moments spread over a call's
// length (a client hanging up): each must either have happened whole (the
// old token spent, the next one live) or not at all (the old token still
// live, no next one), never leave the family revoked, and an error return
// must mean it did not happen. The next rotation then works.
func testRotateCanceled(t *testing.T, s storage.Tokens) {
	now := base().Add(time.Hour)
	for i := range 40 {
		id := fmt.Sprintf("fam-cancel-%d", i)
		first := createFamily(t, s, sampleFamily(id))
		next := refreshToken(id+"-1", "", now)
		ctx, cancel := context.WithCancel(t.Context())
		delay := time.Duration(i%20) * 50 * time.Microsecond
		if i >= 20 {
			delay *= 10
		}
		timer := time.AfterFunc(delay, cancel)
		_, err := s.Rotate(ctx, refOf(first), "", next, storage.Rotation{Now: now})
		timer.Stop()
		cancel()

		_, _, oldErr := s.RefreshToken(t.Context(), refOf(first), now)
		_, _, newErr := s.RefreshToken(t.Context(), ref(id, 1, id+"-1"), now)
		oldLive, newLive := oldErr == nil, newErr == nil
		if oldLive == newLive {
			t.Fatalf("rotation %d (canceled after %s, err %v): old token live %v, next token live %v: half-rotated",
				i, delay, err, oldLive, newLive)
		}
		if err != nil && !oldLive {
			t.Fatalf("rotation %d returned %v but happened", i, err)
		}
		if !getFamily(t, s, id).RevokedAt.IsZero() {
			t.Fatalf("rotation %d (canceled after %s) revoked the family", i, delay)
		}
		live := first
		if newLive {
			live = next
			live.FamilyID, live.Generation = id, 1
		}
		rotateToken(t, s, live, now.Add(time.Minute))
	}
}
