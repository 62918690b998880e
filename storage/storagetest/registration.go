package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunInitialAccessTokens runs the storage.InitialAccessTokens conformance
// suite.
func RunInitialAccessTokens(t *testing.T, open func(t *testing.T) storage.InitialAccessTokens) {
	runAll(t, open, []subtest[storage.InitialAccessTokens]{
		{"create then look up by hash returns the token", testIATRoundTrip},
		{"an unknown, expired or used-up token is not found", testIATNotLive},
		{"a duplicate ID or hash conflicts", testIATDuplicate},
		{"use counts one use and stops at max uses", testIATUse},
		{"concurrent uses of the last use have one winner", testIATUseRace},
		{"list is newest first; delete removes; an unknown ID is not found", testIATListDelete},
		{"purge deletes expired and used-up tokens only", testIATPurge},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testIATInvalidText},
	})
}

func sampleIAT(n int, maxUses int) storage.InitialAccessToken {
	return storage.InitialAccessToken{
		ID: fmt.Sprintf("iat%d", n), Hash: fmt.Sprintf("iat-hash-%d", n), Name: fmt.Sprintf("ci %d", n),
		CreatedAt: base().Add(time.Duration(n) * time.Second), ExpiresAt: base().Add(time.Hour), MaxUses: maxUses,
	}
}

func testIATRoundTrip(t *testing.T, s storage.InitialAccessTokens) {
	k := sampleIAT(1, 3)
	must(t, s.CreateInitialAccessToken(t.Context(), k))
	got, err := s.InitialAccessToken(t.Context(), k.Hash, base())
	must(t, err)
	equal(t, "token", got, k)
}

func testIATNotLive(t *testing.T, s storage.InitialAccessTokens) {
	ctx := t.Context()
	k := sampleIAT(1, 1)
	must(t, s.CreateInitialAccessToken(ctx, k))
	_, err := s.InitialAccessToken(ctx, "iat-hash-2", base())
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.InitialAccessToken(ctx, k.Hash, k.ExpiresAt)
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UseInitialAccessToken(ctx, k.Hash, k.ExpiresAt.Add(time.Second))
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UseInitialAccessToken(ctx, k.Hash, base())
	must(t, err)
	_, err = s.InitialAccessToken(ctx, k.Hash, base())
	wantErr(t, err, storage.ErrNotFound)
}

func testIATDuplicate(t *testing.T, s storage.InitialAccessTokens) {
	k := sampleIAT(1, 0)
	must(t, s.CreateInitialAccessToken(t.Context(), k))
	sameID := sampleIAT(2, 0)
	sameID.ID = k.ID
	wantErr(t, s.CreateInitialAccessToken(t.Context(), sameID), storage.ErrConflict)
	sameHash := sampleIAT(3, 0)
	sameHash.Hash = k.Hash
	wantErr(t, s.CreateInitialAccessToken(t.Context(), sameHash), storage.ErrConflict)
}

func testIATUse(t *testing.T, s storage.InitialAccessTokens) {
	ctx := t.Context()
	limited, unlimited := sampleIAT(1, 2), sampleIAT(2, 0)
	must(t, s.CreateInitialAccessToken(ctx, limited))
	must(t, s.CreateInitialAccessToken(ctx, unlimited))
	for i := 1; i <= 2; i++ {
		got, err := s.UseInitialAccessToken(ctx, limited.Hash, base())
		must(t, err)
		equal(t, "uses", got.Uses, i)
	}
	_, err := s.UseInitialAccessToken(ctx, limited.Hash, base())
	wantErr(t, err, storage.ErrNotFound)
	for i := 1; i <= 5; i++ {
		got, err := s.UseInitialAccessToken(ctx, unlimited.Hash, base())
		must(t, err)
		equal(t, "uses of an unlimited token", got.Uses, i)
	}
}

func testIATUseRace(t *testing.T, s storage.InitialAccessTokens) {
	ctx := t.Context()
	k := sampleIAT(1, 1)
	must(t, s.CreateInitialAccessToken(ctx, k))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.UseInitialAccessToken(ctx, k.Hash, base())
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else {
			wantErr(t, err, storage.ErrNotFound)
		}
	}
	equal(t, "winners", wins, 1)
}

func testIATListDelete(t *testing.T, s storage.InitialAccessTokens) {
	ctx := t.Context()
	list, err := s.ListInitialAccessTokens(ctx)
	must(t, err)
	equal(t, "empty list", len(list), 0)
	a, b := sampleIAT(1, 0), sampleIAT(2, 0)
	must(t, s.CreateInitialAccessToken(ctx, a))
	must(t, s.CreateInitialAccessToken(ctx, b))
	list, err = s.ListInitialAccessTokens(ctx)
	must(t, err)
	equal(t, "list", list, []storage.InitialAccessToken{b, a})
	must(t, s.DeleteInitialAccessToken(ctx, b.ID))
	_, err = s.InitialAccessToken(ctx, b.Hash, base())
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.DeleteInitialAccessToken(ctx, b.ID), storage.ErrNotFound)
}

func testIATPurge(t *testing.T, s storage.InitialAccessTokens) {
	ctx := t.Context()
	expired, usedUp, live := sampleIAT(1, 0), sampleIAT(2, 1), sampleIAT(3, 2)
	expired.ExpiresAt = base().Add(time.Minute)
	for _, k := range []storage.InitialAccessToken{expired, usedUp, live} {
		must(t, s.CreateInitialAccessToken(ctx, k))
	}
	_, err := s.UseInitialAccessToken(ctx, usedUp.Hash, base())
	must(t, err)
	_, err = s.UseInitialAccessToken(ctx, live.Hash, base())
	must(t, err)
	n, err := s.PurgeInitialAccessTokens(ctx, base().Add(2*time.Minute))
	must(t, err)
	equal(t, "purged", n, 2)
	list, err := s.ListInitialAccessTokens(ctx)
	must(t, err)
	live.Uses = 1
	equal(t, "left", list, []storage.InitialAccessToken{live})
}

func testIATInvalidText(t *testing.T, s storage.InitialAccessTokens) {
	ctx := t.Context()
	for _, bad := range invalidTexts {
		k := sampleIAT(1, 0)
		k.Name = bad
		wantInvalid(t, "create with name "+bad, s.CreateInitialAccessToken(ctx, k))
		_, err := s.InitialAccessToken(ctx, bad, base())
		wantNotFound(t, "lookup", err)
		_, err = s.UseInitialAccessToken(ctx, bad, base())
		wantNotFound(t, "use", err)
		wantNotFound(t, "delete", s.DeleteInitialAccessToken(ctx, bad))
	}
	list, err := s.ListInitialAccessTokens(ctx)
	must(t, err)
	equal(t, "list", len(list), 0)
}
