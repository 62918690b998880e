package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunLoginSessions runs the storage.LoginSessions conformance suite.
func RunLoginSessions(t *testing.T, open func(t *testing.T) storage.LoginSessions) {
	runAll(t, open, []subtest[storage.LoginSessions]{
		{"create then get returns every field", testLoginRoundTrip},
		{"a duplicate session conflicts", testLoginDuplicate},
		{"a missing session is not found", testLoginMissing},
		{"a session is gone from its expiry on", testLoginExpiry},
		{"update saves what fn changed and can slide the expiry", testLoginUpdate},
		{"update keeps the ID", testLoginUpdateKeepsID},
		{"an error from fn aborts the update", testLoginUpdateAbort},
		{"concurrent updates lose nothing", testLoginUpdateConcurrent},
		{"delete removes the session", testLoginDelete},
		{"purge removes expired sessions and keeps live ones", testLoginPurge},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testLoginInvalidText},
	})
}

func testLoginInvalidText(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	l := sampleLogin("s1")
	must(t, s.CreateLogin(ctx, l))
	for _, bad := range invalidTexts {
		what := func(call string) string { return fmt.Sprintf("%s with %q", call, bad) }
		_, err := s.GetLogin(ctx, bad, base())
		wantNotFound(t, what("GetLogin"), err)
		_, err = s.UpdateLogin(ctx, bad, base(), func(*storage.LoginSession) error { return nil })
		wantNotFound(t, what("UpdateLogin"), err)
		wantNotFound(t, what("DeleteLogin"), s.DeleteLogin(ctx, bad))
		for _, change := range []func(*storage.LoginSession){
			func(l *storage.LoginSession) { l.State = bad },
			func(l *storage.LoginSession) { l.UserAgent = bad },
			func(l *storage.LoginSession) { l.Data = map[string]string{"prompt": bad} },
			func(l *storage.LoginSession) { l.Data = map[string]string{bad: "x"} },
		} {
			fresh := sampleLogin("s2")
			change(&fresh)
			wantInvalid(t, what("CreateLogin"), s.CreateLogin(ctx, fresh))
			_, err := s.UpdateLogin(ctx, "s1", base(), func(l *storage.LoginSession) error { change(l); return nil })
			wantInvalid(t, what("UpdateLogin"), err)
		}
		wantInvalid(t, what("CreateLogin"), s.CreateLogin(ctx, sampleLogin(bad)))
	}
	_, err := s.GetLogin(ctx, "s2", base())
	wantErr(t, err, storage.ErrNotFound)
	got, err := s.GetLogin(ctx, "s1", base())
	must(t, err)
	equal(t, "GetLogin after refused updates", got, l)
}

func sampleLogin(id string) storage.LoginSession {
	t := base()
	return storage.LoginSession{
		ID:                  id,
		Subject:             "42",
		AuthTime:            t.Add(-time.Minute),
		Backend:             "google",
		ClientID:            "web",
		RedirectURI:         "https://app.example/callback",
		Scope:               "openid email",
		State:               "af0ifjsldkj",
		Nonce:               "n-0S6_WzA2Mj",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		UpstreamState:       "up-state",
		UpstreamNonce:       "up-nonce",
		UpstreamVerifier:    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
		CSRFToken:           "csrf",
		Data:                map[string]string{"prompt": "login", "ui_locales": "fr"},
		UserAgent:           "Mozilla/5.0",
		IP:                  "192.0.2.1",
		CreatedAt:           t,
		UpdatedAt:           t,
		ExpiresAt:           t.Add(time.Hour),
	}
}

func testLoginRoundTrip(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	l := sampleLogin("s1")
	must(t, s.CreateLogin(ctx, l))
	got, err := s.GetLogin(ctx, "s1", base())
	must(t, err)
	equal(t, "session", got, l)

	bare := storage.LoginSession{ID: "s2", CreatedAt: base(), ExpiresAt: base().Add(time.Minute)}
	must(t, s.CreateLogin(ctx, bare))
	got, err = s.GetLogin(ctx, "s2", base())
	must(t, err)
	equal(t, "bare session", got, bare)
}

func testLoginDuplicate(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	must(t, s.CreateLogin(ctx, sampleLogin("s1")))
	other := sampleLogin("s1")
	other.Subject = "666"
	wantErr(t, s.CreateLogin(ctx, other), storage.ErrConflict)
	got, err := s.GetLogin(ctx, "s1", base())
	must(t, err)
	equal(t, "subject after a conflicting create", got.Subject, "42")
}

func testLoginMissing(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	_, err := s.GetLogin(ctx, "nope", base())
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UpdateLogin(ctx, "nope", base(), func(*storage.LoginSession) error {
		t.Fatal("fn called for a missing session")
		return nil
	})
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.DeleteLogin(ctx, "nope"), storage.ErrNotFound)
}

func testLoginExpiry(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	l := sampleLogin("s1")
	must(t, s.CreateLogin(ctx, l))
	_, err := s.GetLogin(ctx, "s1", l.ExpiresAt.Add(-time.Millisecond))
	must(t, err)
	_, err = s.GetLogin(ctx, "s1", l.ExpiresAt)
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UpdateLogin(ctx, "s1", l.ExpiresAt, func(x *storage.LoginSession) error {
		t.Fatal("fn called for an expired session")
		return nil
	})
	wantErr(t, err, storage.ErrNotFound)
}

func testLoginUpdate(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	l := sampleLogin("s1")
	l.Subject = ""
	must(t, s.CreateLogin(ctx, l))
	now := base().Add(30 * time.Minute)
	got, err := s.UpdateLogin(ctx, "s1", now, func(x *storage.LoginSession) error {
		x.Subject = "7"
		x.AuthTime = now
		x.UpstreamState = ""
		x.Data = map[string]string{"step": "consent"}
		x.UpdatedAt = now
		x.ExpiresAt = now.Add(24 * time.Hour)
		return nil
	})
	must(t, err)
	want := l
	want.Subject, want.AuthTime, want.UpstreamState = "7", now, ""
	want.Data = map[string]string{"step": "consent"}
	want.UpdatedAt, want.ExpiresAt = now, now.Add(24*time.Hour)
	equal(t, "returned session", got, want)
	// Past the old expiry the slid session lives on.
	got, err = s.GetLogin(ctx, "s1", l.ExpiresAt.Add(time.Hour))
	must(t, err)
	equal(t, "stored session", got, want)
}

func testLoginUpdateKeepsID(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	must(t, s.CreateLogin(ctx, sampleLogin("s1")))
	got, err := s.UpdateLogin(ctx, "s1", base(), func(x *storage.LoginSession) error {
		x.ID = "s2"
		x.Scope = "openid"
		return nil
	})
	must(t, err)
	equal(t, "ID", got.ID, "s1")
	_, err = s.GetLogin(ctx, "s2", base())
	wantErr(t, err, storage.ErrNotFound)
	got, err = s.GetLogin(ctx, "s1", base())
	must(t, err)
	equal(t, "scope", got.Scope, "openid")
}

func testLoginUpdateAbort(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	l := sampleLogin("s1")
	must(t, s.CreateLogin(ctx, l))
	boom := errors.New("boom")
	_, err := s.UpdateLogin(ctx, "s1", base(), func(x *storage.LoginSession) error {
		x.Subject = "666"
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want fn's", err)
	}
	got, err := s.GetLogin(ctx, "s1", base())
	must(t, err)
	equal(t, "session after an aborted update", got, l)
}

func testLoginUpdateConcurrent(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	l := sampleLogin("s1")
	l.Data = nil
	must(t, s.CreateLogin(ctx, l))
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.UpdateLogin(ctx, "s1", base(), func(x *storage.LoginSession) error {
				if x.Data == nil {
					x.Data = map[string]string{}
				}
				x.Data[fmt.Sprint("k", i)] = "v"
				return nil
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	got, err := s.GetLogin(ctx, "s1", base())
	must(t, err)
	if len(got.Data) != n {
		t.Fatalf("%d of %d concurrent updates survived: %v", len(got.Data), n, got.Data)
	}
}

func testLoginDelete(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	must(t, s.CreateLogin(ctx, sampleLogin("s1")))
	must(t, s.CreateLogin(ctx, sampleLogin("s2")))
	must(t, s.DeleteLogin(ctx, "s1"))
	_, err := s.GetLogin(ctx, "s1", base())
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.DeleteLogin(ctx, "s1"), storage.ErrNotFound)
	_, err = s.GetLogin(ctx, "s2", base())
	must(t, err)
	// The ID is free again.
	must(t, s.CreateLogin(ctx, sampleLogin("s1")))
}

func testLoginPurge(t *testing.T, s storage.LoginSessions) {
	ctx := t.Context()
	old := sampleLogin("old")
	old.ExpiresAt = base().Add(time.Second)
	must(t, s.CreateLogin(ctx, old))
	must(t, s.CreateLogin(ctx, sampleLogin("live")))
	n, err := s.PurgeLogins(ctx, base().Add(time.Minute))
	must(t, err)
	if n != 0 && n != 1 {
		t.Fatalf("purge counted %d, want 1 (or 0 for a store that expires by itself)", n)
	}
	_, err = s.GetLogin(ctx, "live", base().Add(time.Minute))
	must(t, err)
	if n == 1 {
		_, err = s.GetLogin(ctx, "old", base())
		wantErr(t, err, storage.ErrNotFound)
	}
}
