package backendtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
)

// RedirectBackend is a backend that signs users in at another site (the
// social backends): the browser goes to AuthCodeURL, comes back with a
// code, and Exchange turns it into an identity.
type RedirectBackend interface {
	AuthCodeURL(ctx context.Context, redirectURI, state, nonce, verifier string) (string, error)
	Exchange(ctx context.Context, redirectURI, code, nonce, verifier string) (backends.Identity, error)
}

// RedirectHarness connects the suite to one redirect backend.
type RedirectHarness struct {
	// Open returns the backend, its upstream up.
	Open func(t *testing.T) RedirectBackend
	// SignIn plays the user at the upstream: it follows authURL as a
	// browser would, signs in as the upstream account subject, and
	// returns the code the upstream sent back to the redirect URI. It is
	// called from several goroutines at once: report with t.Error and
	// return "" rather than t.Fatal.
	SignIn func(t *testing.T, authURL, subject string) string
	// BackendID is the Identity.Backend a success must carry.
	BackendID string
	// Secret must never appear in an error (the client secret).
	Secret string
	// Down opens the backend with its upstream unreachable; Hang with an
	// upstream that accepts and never answers.
	Down func(t *testing.T) RedirectBackend
	Hang func(t *testing.T) RedirectBackend
}

const redirectURI = "https://latchkey.test/login/x/callback"

// RunRedirectBackend runs the suite: what every social backend shares with
// the others — a valid sign-in is an identity with a stable subject, a
// refusal is never a success and never "unavailable", an upstream that is
// down or hangs is backends.ErrUnavailable within the deadline, concurrent
// sign-ins do not mix, and no error holds the secret.
func RunRedirectBackend(t *testing.T, h RedirectHarness) {
	ctx := context.Background()
	t.Run("SignInIsAnIdentityWithAStableSubject", func(t *testing.T) {
		b := h.Open(t)
		var subs []string
		for range 2 {
			id := redirectSignIn(t, h, b, "user-1", "n-1")
			if id.Backend != h.BackendID || id.Subject == "" {
				t.Fatalf("identity %+v, want backend %q and a subject", id, h.BackendID)
			}
			subs = append(subs, id.Subject)
		}
		if subs[0] != subs[1] {
			t.Fatalf("one upstream account, two subjects: %v", subs)
		}
		if other := redirectSignIn(t, h, b, "user-2", "n-2"); other.Subject == subs[0] {
			t.Fatalf("two upstream accounts, one subject %q", other.Subject)
		}
	})
	t.Run("AuthURLCarriesStateNonceAndPKCE", func(t *testing.T) {
		to, err := h.Open(t).AuthCodeURL(ctx, redirectURI, "state-1", "nonce-1", strings.Repeat("v", 43))
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(to)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("state") != "state-1" || q.Get("nonce") != "nonce-1" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("redirect_uri") != redirectURI {
			t.Fatalf("authorization URL %s", to)
		}
	})
	t.Run("RefusalsAreNeitherSuccessNorUnavailable", func(t *testing.T) {
		b := h.Open(t)
		to, err := b.AuthCodeURL(ctx, redirectURI, "st", "right-nonce", strings.Repeat("v", 43))
		if err != nil {
			t.Fatal(err)
		}
		code := h.SignIn(t, to, "user-1")
		for name, try := range map[string]func() error{
			"a wrong nonce": func() error {
				_, err := b.Exchange(ctx, redirectURI, code, "other-nonce", strings.Repeat("v", 43))
				return err
			},
			"a made-up code": func() error {
				_, err := b.Exchange(ctx, redirectURI, "no-such-code", "right-nonce", strings.Repeat("v", 43))
				return err
			},
		} {
			err := try()
			if err == nil || errors.Is(err, backends.ErrUnavailable) {
				t.Errorf("%s: %v, want a refusal", name, err)
			}
			noSecret(t, h, err)
		}
	})
	t.Run("ConcurrentSignInsDoNotMix", func(t *testing.T) {
		b := h.Open(t)
		var wg sync.WaitGroup
		subs := make([]string, 6)
		for i := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, err := trySignIn(t, h, b, fmt.Sprintf("user-%d", i%3), fmt.Sprintf("n-%d", i))
				if err != nil {
					t.Error(err)
					return
				}
				subs[i] = id.Subject
			}()
		}
		wg.Wait()
		for i := range subs {
			if subs[i] == "" || subs[i] != subs[i%3] {
				t.Fatalf("subjects %v: sign-ins of the same account differ, or one failed", subs)
			}
		}
	})
	if h.Down != nil {
		t.Run("DownIsUnavailable", func(t *testing.T) {
			_, err := h.Down(t).AuthCodeURL(ctx, redirectURI, "st", "n", strings.Repeat("v", 43))
			if !errors.Is(err, backends.ErrUnavailable) {
				t.Fatalf("err = %v, want backends.ErrUnavailable", err)
			}
			noSecret(t, h, err)
		})
	}
	if h.Hang != nil {
		t.Run("HangGivesUpAtTheDeadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := h.Hang(t).AuthCodeURL(ctx, redirectURI, "st", "n", strings.Repeat("v", 43))
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, backends.ErrUnavailable) {
					t.Fatalf("err = %v, want backends.ErrUnavailable", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the backend did not give up at the deadline")
			}
		})
	}
}

func redirectSignIn(t *testing.T, h RedirectHarness, b RedirectBackend, subject, nonce string) backends.Identity {
	t.Helper()
	id, err := trySignIn(t, h, b, subject, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// trySignIn signs subject in; it reports instead of failing the test, so
// it can run in a goroutine (SignIn must then report with t.Error too).
func trySignIn(t *testing.T, h RedirectHarness, b RedirectBackend, subject, nonce string) (backends.Identity, error) {
	verifier := strings.Repeat("x", 43)
	to, err := b.AuthCodeURL(context.Background(), redirectURI, "state-"+nonce, nonce, verifier)
	if err != nil {
		return backends.Identity{}, err
	}
	id, err := b.Exchange(context.Background(), redirectURI, h.SignIn(t, to, subject), nonce, verifier)
	if err != nil {
		return backends.Identity{}, fmt.Errorf("sign-in of %s: %w", subject, err)
	}
	return id, nil
}

func noSecret(t *testing.T, h RedirectHarness, err error) {
	t.Helper()
	if err != nil && h.Secret != "" && strings.Contains(err.Error(), h.Secret) {
		t.Fatalf("the secret is in the error: %v", err)
	}
}
