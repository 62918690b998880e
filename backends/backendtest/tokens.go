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

// Token is a bearer token in the world of a backends.TokenIntrospector.
type Token struct {
	Value     string
	Subject   string
	Username  string
	Scope     string
	ClientID  string
	ExpiresAt time.Time
	// Active false: the token exists but was revoked.
	Active bool
}

// TokenHarness connects the suite to one token backend.
type TokenHarness struct {
	// Open returns an introspector over a fresh world holding exactly
	// tokens; called once per subtest, from parallel subtests.
	Open func(t *testing.T, tokens []Token) backends.TokenIntrospector
	// BackendID, when set, is the Identity.Backend an answer must carry.
	BackendID string
	// Down, when set, opens the backend with its upstream failing: every
	// lookup must be an error (or, for a backend configured to refuse on
	// failure, a plain "inactive"), never an active answer, and no error
	// may hold the token.
	Down func(t *testing.T) backends.TokenIntrospector
	// Hang, when set, opens the backend with an upstream that never
	// answers: a lookup must return once the context's deadline passes.
	Hang func(t *testing.T) backends.TokenIntrospector
}

// RunTokenIntrospector runs the conformance suite of
// backends.TokenIntrospector against h.
func RunTokenIntrospector(t *testing.T, h TokenHarness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("backendtest: TokenHarness.Open is nil")
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	live := Token{Value: "tok-live-0123456789", Subject: "u-1", Username: "alice", Scope: "read write", ClientID: "legacy-app", ExpiresAt: exp, Active: true}
	other := Token{Value: "tok-other-0123456789", Subject: "u-2", Username: "bob", Scope: "read", ExpiresAt: exp, Active: true}
	revoked := Token{Value: "tok-revoked-0123456789", Subject: "u-1", Username: "alice", Scope: "read", ExpiresAt: exp, Active: false}
	expired := Token{Value: "tok-expired-0123456789", Subject: "u-1", Username: "alice", Scope: "read", ExpiresAt: time.Now().Add(-time.Minute), Active: true}
	open := func(t *testing.T) backends.TokenIntrospector {
		t.Helper()
		t.Parallel()
		return h.Open(t, []Token{live, other, revoked, expired})
	}
	inactive := func(t *testing.T, ti backends.TokenIntrospector, token string) {
		t.Helper()
		info, ok, err := ti.IntrospectToken(t.Context(), token)
		if ok || err != nil {
			t.Errorf("IntrospectToken(%.20q) = ok %v, err %v; want inactive, nil", token, ok, err)
		}
		if !reflect.DeepEqual(info, backends.TokenInfo{}) {
			t.Errorf("an inactive answer carries %+v", info)
		}
	}

	t.Run("an active token answers its owner, scope and expiry", func(t *testing.T) {
		ti := open(t)
		info, ok, err := ti.IntrospectToken(t.Context(), live.Value)
		if err != nil || !ok {
			t.Fatalf("IntrospectToken(live) = ok %v, err %v", ok, err)
		}
		if info.Identity.Subject == "" && info.Identity.UserID == 0 {
			t.Error("no subject and no local user")
		}
		if info.Scope != live.Scope || !info.ExpiresAt.Equal(live.ExpiresAt) {
			t.Errorf("scope %q exp %v; want %q %v", info.Scope, info.ExpiresAt, live.Scope, live.ExpiresAt)
		}
		if h.BackendID != "" && info.Identity.Backend != h.BackendID {
			t.Errorf("backend = %q, want %q", info.Identity.Backend, h.BackendID)
		}
		b, _, _ := ti.IntrospectToken(t.Context(), other.Value)
		if b.Identity.Subject == info.Identity.Subject && b.Identity.UserID == info.Identity.UserID {
			t.Error("two owners' tokens answer the same subject")
		}
	})
	t.Run("revoked, expired and unknown tokens are inactive without an error", func(t *testing.T) {
		ti := open(t)
		inactive(t, ti, revoked.Value)
		inactive(t, ti, expired.Value)
		inactive(t, ti, "tok-nobody-issued-this")
		inactive(t, ti, "")
		inactive(t, ti, strings.Repeat("x", 1<<16))
	})
	t.Run("a backend that is down never answers active and never echoes the token", func(t *testing.T) {
		if h.Down == nil {
			t.Skip("TokenHarness.Down not set")
		}
		t.Parallel()
		ti := h.Down(t)
		info, ok, err := ti.IntrospectToken(t.Context(), live.Value)
		if ok || !reflect.DeepEqual(info, backends.TokenInfo{}) {
			t.Errorf("down: ok %v info %+v; want nothing", ok, info)
		}
		if err != nil && strings.Contains(err.Error(), live.Value) {
			t.Errorf("the error %q holds the token", err)
		}
	})
	t.Run("a hung upstream gives up at the deadline", func(t *testing.T) {
		if h.Hang == nil {
			t.Skip("TokenHarness.Hang not set")
		}
		t.Parallel()
		ti := h.Hang(t)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, ok, err := ti.IntrospectToken(ctx, live.Value)
			if ok {
				err = errors.New("active")
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Error("a hung upstream was answered as inactive, not an error")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("IntrospectToken did not return 30 s after a 200 ms deadline")
		}
	})
	t.Run("concurrent lookups are safe", func(t *testing.T) {
		ti := open(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				tok := []Token{live, other, revoked}[i%3]
				_, ok, err := ti.IntrospectToken(t.Context(), tok.Value)
				if err != nil || ok != tok.Active {
					t.Errorf("concurrent lookup of %s: ok %v err %v", tok.Username, ok, err)
				}
			})
		}
		wg.Wait()
	})
}
