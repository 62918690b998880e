package redisstore

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// Many requests checking at once share pipelines (revokedBatcher); each
// must still get its own answer, and a revocation must be seen by every
// check that starts after it returned.
func TestConcurrentRevocationChecksGetTheirOwnAnswers(t *testing.T) {
	s, _, _ := openStore(t)
	ctx := t.Context()
	now := time.Now()
	const n = 400
	for i := range n {
		if i%3 == 0 {
			if err := s.RevokeAccessToken(ctx, fmt.Sprintf("jti-%d", i), now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(round int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				got, err := s.Revoked(ctx, storage.RevocationCheck{JTI: fmt.Sprintf("jti-%d", i)}, now)
				if err != nil {
					t.Errorf("round %d, jti-%d: %v", round, i, err)
					return
				}
				want := i%3 == 0 || round == 1 && i%3 == 1
				if got != want {
					t.Errorf("round %d, jti-%d: revoked = %v, want %v", round, i, got, want)
				}
			})
		}
		wg.Wait()
	}
	check(0)
	for i := 1; i < n; i += 3 {
		if err := s.RevokeAccessToken(ctx, fmt.Sprintf("jti-%d", i), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	check(1)
	if s.revoked.leading || len(s.revoked.pending) != 0 {
		t.Fatalf("batcher left leading=%v with %d checks pending", s.revoked.leading, len(s.revoked.pending))
	}
}
