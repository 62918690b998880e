// Package backendtest is the conformance suite every backends.PasswordChecker
// (and backends.PasswordHasher) runs in its tests: the behaviour the provider
// and the server rely on whatever backend checks or hashes the password.
package backendtest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
)

// User is an account the suite needs in the backend's world.
type User struct {
	Username string
	Email    string
	Password string
	Active   bool
}

// Harness connects the suite to one password backend.
type Harness struct {
	// Open returns a checker over a fresh world holding exactly users. It is
	// called once per subtest, from parallel subtests; tear down with
	// t.Cleanup. The world is built before the checker so that backends
	// that load their users up front can run the suite too.
	Open func(t *testing.T, users []User) backends.PasswordChecker
	// BackendID, when set, is the Identity.Backend a success must carry.
	BackendID string
	// NoEmailLogin skips the e-mail login subtest, for backends whose logins
	// are usernames only.
	NoEmailLogin bool
	// Down, when set, opens the backend with what it depends on unreachable
	// (a store that fails, a closed port, a server answering 5xx): every
	// check must be an error, never a refusal or a success, and the error
	// must not hold the password.
	Down func(t *testing.T) backends.PasswordChecker
	// Hang, when set, opens the backend with a dependency that accepts the
	// request and never answers: a check must give up with an error once
	// the context's deadline (or the backend's own timeout) passes.
	Hang func(t *testing.T) backends.PasswordChecker
}

// The world of every subtest.
var (
	alice = User{Username: "alice", Email: "alice@example.com", Password: "correct horse battery staple", Active: true}
	bob   = User{Username: "bob", Email: "bob@example.com", Password: "Tr0ub4dor&3", Active: true}
	// carol is inactive: her right password must not let her in.
	carol = User{Username: "carol", Email: "carol@example.com", Password: "carol's password", Active: false}
	// dave's password is longer than the 72 bytes bcrypt reads, to catch a
	// backend that silently truncates.
	dave = User{Username: "dave", Email: "dave@example.com", Password: strings.Repeat("0123456789", 8) + "-dave", Active: true}
)

func world() []User { return []User{alice, bob, carol, dave} }

// RunPasswordChecker runs the conformance suite against h.
func RunPasswordChecker(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("backendtest: Harness.Open is nil")
	}
	open := func(t *testing.T) backends.PasswordChecker {
		t.Helper()
		t.Parallel()
		return h.Open(t, world())
	}

	t.Run("right password by username succeeds and returns the subject", func(t *testing.T) {
		pc := open(t)
		id := mustSucceed(t, pc, alice.Username, alice.Password)
		checkIdentity(t, h, id, alice)
	})

	t.Run("right password by email succeeds and returns the same subject", func(t *testing.T) {
		if h.NoEmailLogin {
			t.Skip("backend takes usernames only")
		}
		pc := open(t)
		byName := mustSucceed(t, pc, alice.Username, alice.Password)
		byEmail := mustSucceed(t, pc, alice.Email, alice.Password)
		checkIdentity(t, h, byEmail, alice)
		if byEmail.Subject != byName.Subject {
			t.Errorf("subject by email = %q, by username = %q; want the same", byEmail.Subject, byName.Subject)
		}
	})

	t.Run("different users get different subjects", func(t *testing.T) {
		pc := open(t)
		a := mustSucceed(t, pc, alice.Username, alice.Password)
		b := mustSucceed(t, pc, bob.Username, bob.Password)
		if a.Subject == b.Subject {
			t.Errorf("alice and bob share subject %q", a.Subject)
		}
	})

	t.Run("wrong password fails with ok false and nil error", func(t *testing.T) {
		pc := open(t)
		mustFail(t, pc, alice.Username, "not alice's password")
		mustFail(t, pc, alice.Username, bob.Password) // another user's password
		mustFail(t, pc, alice.Username, alice.Password+" ")
		mustFail(t, pc, alice.Username, strings.ToUpper(alice.Password))
	})

	t.Run("unknown user fails the same way as a wrong password", func(t *testing.T) {
		pc := open(t)
		mustFail(t, pc, "mallory", alice.Password)
		mustFail(t, pc, "mallory@example.com", alice.Password)
	})

	t.Run("inactive user fails even with the right password", func(t *testing.T) {
		pc := open(t)
		mustFail(t, pc, carol.Username, carol.Password)
		if !h.NoEmailLogin {
			mustFail(t, pc, carol.Email, carol.Password)
		}
	})

	t.Run("empty password or login fails", func(t *testing.T) {
		pc := open(t)
		mustFail(t, pc, alice.Username, "")
		mustFail(t, pc, "", alice.Password)
		mustFail(t, pc, "", "")
	})

	t.Run("very long password fails cleanly", func(t *testing.T) {
		pc := open(t)
		// Backends may refuse long passwords early; they must not crash,
		// hang or call it an error.
		long := strings.Repeat("a", 1<<20)
		mustFail(t, pc, alice.Username, long)
		mustFail(t, pc, alice.Username, alice.Password+long)
		mustFail(t, pc, "mallory", long)
	})

	t.Run("a password that only shares a long prefix with the right one fails", func(t *testing.T) {
		pc := open(t)
		mustSucceed(t, pc, dave.Username, dave.Password)
		mustFail(t, pc, dave.Username, dave.Password[:72])
		mustFail(t, pc, dave.Username, dave.Password[:72]+"-eve")
	})

	t.Run("a verifier tells unknown users from wrong passwords", func(t *testing.T) {
		pc := open(t)
		v, ok := pc.(backends.PasswordVerifier)
		if !ok {
			t.Skip("backend is not a backends.PasswordVerifier: every refusal lets the chain go on")
		}
		verify := func(login, password string, want backends.Result) {
			t.Helper()
			id, got, err := v.VerifyPassword(t.Context(), login, password)
			if err != nil || got != want {
				t.Errorf("VerifyPassword(%q) = %v, %v; want %v, nil", login, got, err, want)
			}
			if want != backends.Accepted && !reflect.DeepEqual(id, backends.Identity{}) {
				t.Errorf("VerifyPassword(%q) refused but returned identity %+v", login, id)
			}
			if want == backends.Accepted && id.Subject == "" {
				t.Errorf("VerifyPassword(%q) accepted without a subject", login)
			}
		}
		verify(alice.Username, alice.Password, backends.Accepted)
		verify(alice.Username, "not alice's password", backends.WrongPassword)
		verify(carol.Username, carol.Password, backends.WrongPassword)
		verify("mallory", alice.Password, backends.UnknownUser)
	})

	t.Run("a backend that is down answers an error, not a refusal, without the password", func(t *testing.T) {
		if h.Down == nil {
			t.Skip("Harness.Down not set")
		}
		t.Parallel()
		pc := h.Down(t)
		for _, u := range []User{alice, {Username: "mallory", Password: "mallory's secret password"}} {
			id, ok, err := pc.CheckPassword(t.Context(), u.Username, u.Password)
			if err == nil || ok {
				t.Errorf("CheckPassword(%q) on a backend that is down = ok %v, err %v; want an error", u.Username, ok, err)
				continue
			}
			if !reflect.DeepEqual(id, backends.Identity{}) {
				t.Errorf("a failed check returned identity %+v", id)
			}
			if strings.Contains(err.Error(), u.Password) {
				t.Errorf("the error %q holds the password", err)
			}
		}
	})

	t.Run("a backend whose dependency hangs gives up at the deadline", func(t *testing.T) {
		if h.Hang == nil {
			t.Skip("Harness.Hang not set")
		}
		t.Parallel()
		pc := h.Hang(t)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, ok, err := pc.CheckPassword(ctx, alice.Username, alice.Password)
			if ok {
				err = errors.New("the check succeeded")
			}
			done <- err
		}()
		// Generous: the point is that the check returns at all (a backend
		// that ignores its context hangs until the test's own deadline).
		select {
		case err := <-done:
			if err == nil {
				t.Error("a hung dependency was answered as a refusal; want an error")
			} else if strings.Contains(err.Error(), alice.Password) {
				t.Errorf("the error %q holds the password", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("CheckPassword did not return 30 s after a 200 ms deadline")
		}
	})

	t.Run("concurrent checks are safe", func(t *testing.T) {
		pc := open(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for j := range 3 {
					switch (i + j) % 3 {
					case 0:
						id, ok, err := pc.CheckPassword(t.Context(), bob.Username, bob.Password)
						if err != nil || !ok || id.Username != bob.Username {
							t.Errorf("concurrent right password: ok=%v err=%v username=%q", ok, err, id.Username)
						}
					case 1:
						if _, ok, err := pc.CheckPassword(t.Context(), bob.Username, "wrong"); err != nil || ok {
							t.Errorf("concurrent wrong password: ok=%v err=%v", ok, err)
						}
					case 2:
						if _, ok, err := pc.CheckPassword(t.Context(), "mallory", bob.Password); err != nil || ok {
							t.Errorf("concurrent unknown user: ok=%v err=%v", ok, err)
						}
					}
				}
			})
		}
		wg.Wait()
	})
}

// HasherHarness connects the suite to a backend that hashes new passwords.
type HasherHarness struct {
	// Open returns the hasher, as configured for the backend's tests.
	Open func(t *testing.T) backends.PasswordHasher
	// Check reports whether the backend's own CheckPassword accepts password
	// for an active account whose stored hash is encoded; a broken backend
	// fails t.
	Check func(t *testing.T, encoded, password string) bool
}

// RunPasswordHasher runs the conformance suite of backends.PasswordHasher
// against h: what it makes is what the backend's checker accepts, it is
// salted, it never holds the password, and an empty password is an error
// (no checker ever accepts one).
func RunPasswordHasher(t *testing.T, h HasherHarness) {
	t.Helper()
	if h.Open == nil || h.Check == nil {
		t.Fatal("backendtest: HasherHarness.Open or Check is nil")
	}
	hash := func(t *testing.T, ph backends.PasswordHasher, password string) string {
		t.Helper()
		encoded, err := ph.HashPassword(t.Context(), password)
		if err != nil {
			t.Fatalf("HashPassword(%d-byte password): %v", len(password), err)
		}
		return encoded
	}

	t.Run("a hash is what the checker accepts, for that password only", func(t *testing.T) {
		t.Parallel()
		ph := h.Open(t)
		for _, u := range []User{alice, dave} {
			encoded := hash(t, ph, u.Password)
			if !h.Check(t, encoded, u.Password) {
				t.Errorf("the checker refuses %s's password against its fresh hash", u.Username)
			}
			if h.Check(t, encoded, bob.Password) {
				t.Errorf("the checker accepts another password against %s's fresh hash", u.Username)
			}
		}
		if h.Check(t, hash(t, ph, dave.Password), dave.Password[:72]) {
			t.Error("the checker accepts a 72-byte prefix of the hashed password")
		}
	})

	t.Run("two hashes of one password differ and neither holds it", func(t *testing.T) {
		t.Parallel()
		ph := h.Open(t)
		a, b := hash(t, ph, alice.Password), hash(t, ph, alice.Password)
		if a == b {
			t.Errorf("two hashes of one password are equal (%q): no salt", a)
		}
		for _, encoded := range []string{a, b} {
			if strings.Contains(encoded, alice.Password) {
				t.Errorf("the hash %q holds the password", encoded)
			}
		}
	})

	t.Run("an empty password is an error", func(t *testing.T) {
		t.Parallel()
		if encoded, err := h.Open(t).HashPassword(t.Context(), ""); err == nil {
			t.Errorf("HashPassword(\"\") = %q, nil; want an error", encoded)
		}
	})

	t.Run("concurrent hashing is safe", func(t *testing.T) {
		t.Parallel()
		ph := h.Open(t)
		var wg sync.WaitGroup
		hashes := make([]string, 8)
		for i := range hashes {
			wg.Go(func() {
				encoded, err := ph.HashPassword(t.Context(), bob.Password)
				if err != nil {
					t.Errorf("concurrent HashPassword: %v", err)
				}
				hashes[i] = encoded
			})
		}
		wg.Wait()
		for i, encoded := range hashes {
			if encoded != "" && !h.Check(t, encoded, bob.Password) {
				t.Errorf("hash %d of the concurrent ones is refused by the checker", i)
			}
		}
	})
}

func mustSucceed(t *testing.T, pc backends.PasswordChecker, login, password string) backends.Identity {
	t.Helper()
	id, ok, err := pc.CheckPassword(t.Context(), login, password)
	if err != nil || !ok {
		t.Fatalf("CheckPassword(%q, right password) = ok %v, err %v; want ok true, err nil", login, ok, err)
	}
	return id
}

// mustFail checks a refusal: ok false, no error (an error means a broken
// backend, and the provider answers it differently) and no identity leaking
// out of a failure.
func mustFail(t *testing.T, pc backends.PasswordChecker, login, password string) {
	t.Helper()
	id, ok, err := pc.CheckPassword(t.Context(), login, password)
	if ok || err != nil {
		t.Errorf("CheckPassword(%.40q, %d-byte password) = ok %v, err %v; want ok false, err nil", login, len(password), ok, err)
	}
	if !reflect.DeepEqual(id, backends.Identity{}) {
		t.Errorf("CheckPassword(%.40q) failed but returned identity %+v; want the zero Identity", login, id)
	}
}

func checkIdentity(t *testing.T, h Harness, id backends.Identity, u User) {
	t.Helper()
	if id.Subject == "" {
		t.Error("identity has an empty subject")
	}
	if !strings.EqualFold(id.Username, u.Username) {
		t.Errorf("identity username = %q, want %q", id.Username, u.Username)
	}
	if !h.NoEmailLogin && !strings.EqualFold(id.Email, u.Email) {
		t.Errorf("identity email = %q, want %q", id.Email, u.Email)
	}
	if h.BackendID != "" && id.Backend != h.BackendID {
		t.Errorf("identity backend = %q, want %q", id.Backend, h.BackendID)
	}
}
