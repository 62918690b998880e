package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// PersonalTokensAndUsers is what the personal token suite needs: tokens,
// and users to own them.
type PersonalTokensAndUsers interface {
	storage.PersonalTokens
	storage.Users
}

// RunPersonalTokens runs the storage.PersonalTokens conformance suite.
func RunPersonalTokens(t *testing.T, open func(t *testing.T) PersonalTokensAndUsers) {
	runAll(t, open, []subtest[PersonalTokensAndUsers]{
		{"create then look up by hash returns the token", testPATRoundTrip},
		{"an unknown hash is not found", testPATUnknown},
		{"an expired token is not found and not listed", testPATExpired},
		{"a duplicate hash conflicts", testPATDuplicate},
		{"a token of a missing user is not found", testPATMissingUser},
		{"list returns only the user's live tokens, newest first", testPATList},
		{"delete removes the token and only for its owner", testPATDelete},
		{"delete by user and kind removes only those", testPATDeleteUserKind},
		{"deleting the user deletes the tokens", testPATDeleteUser},
		{"purge deletes expired tokens only", testPATPurge},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testPATInvalidText},
	})
}

func testPATInvalidText(t *testing.T, s PersonalTokensAndUsers) {
	ctx := t.Context()
	u := createUser(t, s, userNamed("alice"))
	tok := samplePAT(u.ID, storage.TokenKindPersonal, base(), time.Hour)
	must(t, s.CreatePersonalToken(ctx, tok))
	for _, bad := range invalidTexts {
		what := func(call string) string { return fmt.Sprintf("%s with %q", call, bad) }
		_, err := s.PersonalToken(ctx, bad, base())
		wantNotFound(t, what("PersonalToken"), err)
		wantNotFound(t, what("DeletePersonalToken"), s.DeletePersonalToken(ctx, u.ID, bad))
		n, err := s.DeleteUserPersonalTokens(ctx, u.ID, bad)
		if err != nil || n != 0 {
			t.Errorf("%s: %d, %v; want 0", what("DeleteUserPersonalTokens"), n, err)
		}
		for _, change := range []func(*storage.PersonalToken){
			func(p *storage.PersonalToken) { p.Name = bad },
			func(p *storage.PersonalToken) { p.Hash = bad },
			func(p *storage.PersonalToken) { p.ID = bad },
		} {
			p := samplePAT(u.ID, storage.TokenKindPersonal, base(), time.Hour)
			change(&p)
			wantInvalid(t, what("CreatePersonalToken"), s.CreatePersonalToken(ctx, p))
		}
	}
	list, err := s.ListPersonalTokens(ctx, u.ID, base())
	must(t, err)
	equal(t, "ListPersonalTokens", list, []storage.PersonalToken{tok})
}

var patSeq int

func samplePAT(userID int64, kind string, created time.Time, ttl time.Duration) storage.PersonalToken {
	patSeq++
	return storage.PersonalToken{
		ID: fmt.Sprintf("id-%d", patSeq), Hash: fmt.Sprintf("hash-%d", patSeq), UserID: userID,
		Kind: kind, Name: fmt.Sprintf("token %d", patSeq), Scope: "read write",
		CreatedAt: created, ExpiresAt: created.Add(ttl),
	}
}

func testPATRoundTrip(t *testing.T, s PersonalTokensAndUsers) {
	u := createUser(t, s, userNamed("alice"))
	tok := samplePAT(u.ID, storage.TokenKindPersonal, base(), time.Hour)
	must(t, s.CreatePersonalToken(t.Context(), tok))
	got, err := s.PersonalToken(t.Context(), tok.Hash, base())
	must(t, err)
	equal(t, "token", got, tok)
}

func testPATUnknown(t *testing.T, s PersonalTokensAndUsers) {
	_, err := s.PersonalToken(t.Context(), "no-such-hash", base())
	wantErr(t, err, storage.ErrNotFound)
}

func testPATExpired(t *testing.T, s PersonalTokensAndUsers) {
	u := createUser(t, s, userNamed("alice"))
	tok := samplePAT(u.ID, storage.TokenKindLogin, base(), time.Hour)
	must(t, s.CreatePersonalToken(t.Context(), tok))
	_, err := s.PersonalToken(t.Context(), tok.Hash, base().Add(time.Hour))
	wantErr(t, err, storage.ErrNotFound)
	list, err := s.ListPersonalTokens(t.Context(), u.ID, base().Add(time.Hour))
	must(t, err)
	equal(t, "listed tokens", len(list), 0)
}

func testPATDuplicate(t *testing.T, s PersonalTokensAndUsers) {
	u := createUser(t, s, userNamed("alice"))
	tok := samplePAT(u.ID, storage.TokenKindPersonal, base(), time.Hour)
	must(t, s.CreatePersonalToken(t.Context(), tok))
	again := samplePAT(u.ID, storage.TokenKindPersonal, base(), time.Hour)
	again.Hash = tok.Hash
	wantErr(t, s.CreatePersonalToken(t.Context(), again), storage.ErrConflict)
}

func testPATMissingUser(t *testing.T, s PersonalTokensAndUsers) {
	tok := samplePAT(987654, storage.TokenKindPersonal, base(), time.Hour)
	wantErr(t, s.CreatePersonalToken(t.Context(), tok), storage.ErrNotFound)
}

func testPATList(t *testing.T, s PersonalTokensAndUsers) {
	alice := createUser(t, s, userNamed("alice"))
	bob := createUser(t, s, userNamed("bob"))
	old := samplePAT(alice.ID, storage.TokenKindPersonal, base(), 3*time.Hour)
	newer := samplePAT(alice.ID, storage.TokenKindLogin, base().Add(time.Minute), 3*time.Hour)
	dead := samplePAT(alice.ID, storage.TokenKindPersonal, base(), time.Minute)
	other := samplePAT(bob.ID, storage.TokenKindPersonal, base(), 3*time.Hour)
	for _, tok := range []storage.PersonalToken{old, newer, dead, other} {
		must(t, s.CreatePersonalToken(t.Context(), tok))
	}
	list, err := s.ListPersonalTokens(t.Context(), alice.ID, base().Add(2*time.Minute))
	must(t, err)
	equal(t, "alice's tokens", list, []storage.PersonalToken{newer, old})
}

func testPATDelete(t *testing.T, s PersonalTokensAndUsers) {
	alice := createUser(t, s, userNamed("alice"))
	bob := createUser(t, s, userNamed("bob"))
	tok := samplePAT(alice.ID, storage.TokenKindPersonal, base(), time.Hour)
	must(t, s.CreatePersonalToken(t.Context(), tok))
	wantErr(t, s.DeletePersonalToken(t.Context(), bob.ID, tok.ID), storage.ErrNotFound)
	if _, err := s.PersonalToken(t.Context(), tok.Hash, base()); err != nil {
		t.Fatalf("another user's delete removed the token: %v", err)
	}
	must(t, s.DeletePersonalToken(t.Context(), alice.ID, tok.ID))
	_, err := s.PersonalToken(t.Context(), tok.Hash, base())
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.DeletePersonalToken(t.Context(), alice.ID, tok.ID), storage.ErrNotFound)
}

func testPATDeleteUserKind(t *testing.T, s PersonalTokensAndUsers) {
	alice := createUser(t, s, userNamed("alice"))
	bob := createUser(t, s, userNamed("bob"))
	pat := samplePAT(alice.ID, storage.TokenKindPersonal, base(), time.Hour)
	login1 := samplePAT(alice.ID, storage.TokenKindLogin, base(), time.Hour)
	login2 := samplePAT(alice.ID, storage.TokenKindLogin, base(), time.Hour)
	bobs := samplePAT(bob.ID, storage.TokenKindLogin, base(), time.Hour)
	for _, tok := range []storage.PersonalToken{pat, login1, login2, bobs} {
		must(t, s.CreatePersonalToken(t.Context(), tok))
	}
	n, err := s.DeleteUserPersonalTokens(t.Context(), alice.ID, storage.TokenKindLogin)
	must(t, err)
	equal(t, "deleted", n, 2)
	list, err := s.ListPersonalTokens(t.Context(), alice.ID, base())
	must(t, err)
	equal(t, "alice's tokens", list, []storage.PersonalToken{pat})
	n, err = s.DeleteUserPersonalTokens(t.Context(), alice.ID, "")
	must(t, err)
	equal(t, "deleted", n, 1)
	if _, err := s.PersonalToken(t.Context(), bobs.Hash, base()); err != nil {
		t.Fatalf("bob's token went with alice's: %v", err)
	}
}

func testPATDeleteUser(t *testing.T, s PersonalTokensAndUsers) {
	alice := createUser(t, s, userNamed("alice"))
	tok := samplePAT(alice.ID, storage.TokenKindPersonal, base(), time.Hour)
	must(t, s.CreatePersonalToken(t.Context(), tok))
	must(t, s.DeleteUser(t.Context(), alice.ID))
	_, err := s.PersonalToken(t.Context(), tok.Hash, base())
	wantErr(t, err, storage.ErrNotFound)
}

func testPATPurge(t *testing.T, s PersonalTokensAndUsers) {
	alice := createUser(t, s, userNamed("alice"))
	live := samplePAT(alice.ID, storage.TokenKindPersonal, base(), 2*time.Hour)
	dead := samplePAT(alice.ID, storage.TokenKindLogin, base(), time.Hour)
	must(t, s.CreatePersonalToken(t.Context(), live))
	must(t, s.CreatePersonalToken(t.Context(), dead))
	n, err := s.PurgePersonalTokens(t.Context(), base().Add(time.Hour))
	must(t, err)
	equal(t, "purged", n, 1)
	if _, err := s.PersonalToken(t.Context(), live.Hash, base()); err != nil {
		t.Fatalf("purge removed a live token: %v", err)
	}
	_, err = s.PersonalToken(t.Context(), dead.Hash, base())
	wantErr(t, err, storage.ErrNotFound)
}
