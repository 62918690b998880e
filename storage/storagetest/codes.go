package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunCodes runs the storage.Codes conformance suite.
func RunCodes(t *testing.T, open func(t *testing.T) storage.Codes) {
	runAll(t, open, []subtest[storage.Codes]{
		{"create then consume returns every field with the use time", testCodeRoundTrip},
		{"a duplicate code conflicts", testCodeDuplicate},
		{"an unknown code is not found", testCodeUnknown},
		{"a second consume is a reuse that returns the code", testCodeSingleUse},
		{"concurrent consumes of one code have exactly one winner", testCodeRace},
		{"a code is not found from its expiry on, used or not", testCodeExpiry},
		{"codes are independent of each other", testCodeIndependent},
		{"purge removes expired codes and keeps live ones", testCodePurge},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testCodeInvalidText},
	})
}

func testCodeInvalidText(t *testing.T, s storage.Codes) {
	ctx := t.Context()
	for _, bad := range invalidTexts {
		what := func(call string) string { return fmt.Sprintf("%s with %q", call, bad) }
		_, err := s.ConsumeCode(ctx, bad, base())
		wantNotFound(t, what("ConsumeCode"), err)
		for _, change := range []func(*storage.Code){
			func(c *storage.Code) { c.RedirectURI = bad },
			func(c *storage.Code) { c.Nonce = bad },
			func(c *storage.Code) { c.Resource = bad },
			func(c *storage.Code) { c.Claims = map[string]any{"acr": bad} },
		} {
			c := sampleCode("h1")
			change(&c)
			wantInvalid(t, what("CreateCode"), s.CreateCode(ctx, c))
		}
		wantInvalid(t, what("CreateCode"), s.CreateCode(ctx, sampleCode(bad)))
	}
	_, err := s.ConsumeCode(ctx, "h1", base())
	wantErr(t, err, storage.ErrNotFound)
}

func sampleCode(hash string) storage.Code {
	t := base()
	return storage.Code{
		Hash:                hash,
		FamilyID:            "fam-" + hash,
		ClientID:            "web",
		Subject:             "42",
		RedirectURI:         "https://app.example/callback?x=1",
		Scope:               "openid profile offline_access",
		Nonce:               "n-0S6_WzA2Mj",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		SessionID:           "sess-1",
		Resource:            "https://mcp.example.com/mcp",
		AuthTime:            t.Add(-time.Minute),
		Claims:              map[string]any{"acr": "urn:mace:incommon:iap:silver", "amr": []any{"pwd"}},
		CreatedAt:           t,
		ExpiresAt:           t.Add(time.Minute),
	}
}

func testCodeRoundTrip(t *testing.T, s storage.Codes) {
	ctx := t.Context()
	c := sampleCode("h1")
	must(t, s.CreateCode(ctx, c))
	now := base().Add(10 * time.Second)
	got, err := s.ConsumeCode(ctx, "h1", now)
	must(t, err)
	want := c
	want.UsedAt = now
	equal(t, "consumed code", got, want)

	// Empty optional fields round-trip as empty.
	bare := storage.Code{Hash: "h2", ClientID: "cli", RedirectURI: "https://x.example/cb", CreatedAt: base(), ExpiresAt: base().Add(time.Minute)}
	must(t, s.CreateCode(ctx, bare))
	got, err = s.ConsumeCode(ctx, "h2", now)
	must(t, err)
	bare.UsedAt = now
	equal(t, "bare code", got, bare)
}

func testCodeDuplicate(t *testing.T, s storage.Codes) {
	ctx := t.Context()
	must(t, s.CreateCode(ctx, sampleCode("h1")))
	other := sampleCode("h1")
	other.ClientID = "attacker"
	wantErr(t, s.CreateCode(ctx, other), storage.ErrConflict)
	got, err := s.ConsumeCode(ctx, "h1", base())
	must(t, err)
	if got.ClientID != "web" {
		t.Fatalf("a conflicting create replaced the code: client %q", got.ClientID)
	}
}

func testCodeUnknown(t *testing.T, s storage.Codes) {
	_, err := s.ConsumeCode(t.Context(), "nope", base())
	wantErr(t, err, storage.ErrNotFound)
}

func testCodeSingleUse(t *testing.T, s storage.Codes) {
	ctx := t.Context()
	c := sampleCode("h1")
	must(t, s.CreateCode(ctx, c))
	first := base().Add(time.Second)
	_, err := s.ConsumeCode(ctx, "h1", first)
	must(t, err)
	got, err := s.ConsumeCode(ctx, "h1", base().Add(2*time.Second))
	wantErr(t, err, storage.ErrCodeReused)
	wantErr(t, err, storage.ErrReused)
	if errors.Is(err, storage.ErrNotFound) {
		t.Fatal("a reuse also matches ErrNotFound")
	}
	want := c
	want.UsedAt = first
	equal(t, "code returned with the reuse", got, want)
	// And again: every replay is reported, the first use time stays.
	got, err = s.ConsumeCode(ctx, "h1", base().Add(3*time.Second))
	wantErr(t, err, storage.ErrCodeReused)
	equal(t, "use time after a third try", got.UsedAt, first)
}

func testCodeRace(t *testing.T, s storage.Codes) {
	ctx := t.Context()
	must(t, s.CreateCode(ctx, sampleCode("h1")))
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.ConsumeCode(ctx, "h1", base().Add(time.Second))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrCodeReused):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent consumes won, want exactly 1", wins, n)
	}
}

func testCodeExpiry(t *testing.T, s storage.Codes) {
	ctx := t.Context()
	c := sampleCode("h1")
	must(t, s.CreateCode(ctx, c))
	_, err := s.ConsumeCode(ctx, "h1", c.ExpiresAt)
	wantErr(t, err, storage.ErrNotFound)
	// An expired code was not consumed by the failed attempt: one just
	// before the expiry works.
	must(t, s.CreateCode(ctx, sampleCode("h2")))
	_, err = s.ConsumeCode(ctx, "h2", c.ExpiresAt.Add(-time.Millisecond))
	must(t, err)
	_, err = s.ConsumeCode(ctx, "h2", c.ExpiresAt)
	wantErr(t, err, storage.ErrNotFound)
}

func testCodeIndependent(t *testing.T, s storage.Codes) {
	ctx := t.Context()
	for i := range 3 {
		must(t, s.CreateCode(ctx, sampleCode(fmt.Sprint("h", i))))
	}
	_, err := s.ConsumeCode(ctx, "h1", base())
	must(t, err)
	for _, h := range []string{"h0", "h2"} {
		got, err := s.ConsumeCode(ctx, h, base())
		must(t, err)
		equal(t, "family of "+h, got.FamilyID, "fam-"+h)
	}
}

func testCodePurge(t *testing.T, s storage.Codes) {
	ctx := t.Context()
	old := sampleCode("old")
	old.ExpiresAt = base().Add(time.Second)
	must(t, s.CreateCode(ctx, old))
	live := sampleCode("live")
	live.ExpiresAt = base().Add(time.Hour)
	must(t, s.CreateCode(ctx, live))
	n, err := s.PurgeCodes(ctx, base().Add(time.Minute))
	must(t, err)
	if n != 0 && n != 1 {
		t.Fatalf("purge counted %d, want 1 (or 0 for a store that expires by itself)", n)
	}
	_, err = s.ConsumeCode(ctx, "live", base().Add(time.Minute))
	must(t, err)
	_, err = s.ConsumeCode(ctx, "old", base())
	if n == 1 {
		wantErr(t, err, storage.ErrNotFound)
	}
}
