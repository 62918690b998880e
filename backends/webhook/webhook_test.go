package webhook

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/backendtest"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

// service is a webhook service over users, verifying every request's
// signature as a real one must.
type service struct {
	t     *testing.T
	users []backendtest.User
	// answer, when set, replaces the normal answer.
	answer func(w http.ResponseWriter, r *http.Request)
	calls  atomic.Int64

	mu       sync.Mutex
	lastBody checkRequest
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := Verify(testSecret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		s.t.Errorf("the backend sent a request the service cannot verify: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req checkRequest
	if err := json.Unmarshal(body, &req); err != nil || req.RequestID == "" {
		s.t.Errorf("request body %q: %v (request_id %q)", body, err, req.RequestID)
	}
	s.mu.Lock()
	s.lastBody = req
	s.mu.Unlock()
	if s.answer != nil {
		s.answer(w, r)
		return
	}
	for _, u := range s.users {
		if !strings.EqualFold(req.Username, u.Username) && !strings.EqualFold(req.Username, u.Email) {
			continue
		}
		if !u.Active || subtle.ConstantTimeCompare([]byte(req.Password), []byte(u.Password)) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"subject": "u-" + u.Username, "username": u.Username, "email": u.Email,
			"email_verified": true, "groups": []string{"staff"},
		})
		return
	}
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"error":"unknown_user"}`))
}

func start(t *testing.T, s *service) string {
	t.Helper()
	s.t = t
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

func openBackend(t *testing.T, cfg Config) *backend {
	t.Helper()
	if cfg.Secret == "" {
		cfg.Secret = string(testSecret)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	impl, err := cfg.Open("hook", backends.Deps{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return impl.(*backend)
}

func TestConformance(t *testing.T) {
	backendtest.RunPasswordChecker(t, backendtest.Harness{
		BackendID: "hook",
		Open: func(t *testing.T, users []backendtest.User) backends.PasswordChecker {
			return openBackend(t, Config{URL: start(t, &service{users: users})})
		},
		Down: func(t *testing.T) backends.PasswordChecker {
			url := start(t, &service{answer: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
			}})
			return openBackend(t, Config{URL: url})
		},
		Hang: func(t *testing.T) backends.PasswordChecker {
			url := start(t, &service{answer: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }})
			return openBackend(t, Config{URL: url, Timeout: time.Minute})
		},
	})
}

func TestFailuresAreErrorsNeverLogins(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		want   string
	}{
		{"a 5xx", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }, "HTTP 502"},
		{"a redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}, "HTTP 307"},
		{"malformed JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"subject": "x"`)) }, "malformed JSON"},
		{"trailing data after the JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"subject":"x"} {}`)) }, "malformed JSON"},
		{"no subject", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"username":"alice"}`)) }, "without a subject"},
		{"an empty subject", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"subject":""}`)) }, "without a subject"},
		{"a bad e-mail address", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"subject":"1","email":"not an address"}`))
		}, "email is not a valid address"},
		{"a group name with a control character", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"subject":"1","groups":["ok","bad\u0007"]}`))
		}, "group name"},
		{"an answer too large", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"subject":"1","name":"` + strings.Repeat("x", maxAnswer) + `"}`))
		}, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := openBackend(t, Config{URL: start(t, &service{answer: tc.answer})})
			id, res, err := b.VerifyPassword(t.Context(), "alice", "hunter2-secret-password")
			if err == nil || res == backends.Accepted || id.Subject != "" {
				t.Fatalf("VerifyPassword = %+v, %v, %v; want an error", id, res, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), string(testSecret)) {
				t.Errorf("error %q holds the password or the secret", err)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   backends.Result
	}{
		{"401 is a wrong password", http.StatusUnauthorized, "", backends.WrongPassword},
		{"403 is a wrong password", http.StatusForbidden, `{"error":"locked"}`, backends.WrongPassword},
		{"401 unknown_user lets the chain go on", http.StatusUnauthorized, `{"error":"unknown_user"}`, backends.UnknownUser},
		{"403 unknown_user lets the chain go on", http.StatusForbidden, `{"error":"unknown_user"}`, backends.UnknownUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := openBackend(t, Config{URL: start(t, &service{answer: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}})})
			_, res, err := b.VerifyPassword(t.Context(), "alice", "pw")
			if err != nil || res != tc.want {
				t.Errorf("VerifyPassword = %v, %v; want %v, nil", res, err, tc.want)
			}
		})
	}
}

func TestRequestCarriesClientAndTimeoutIsHonoured(t *testing.T) {
	t.Parallel()
	svc := &service{users: []backendtest.User{{Username: "alice", Password: "pw", Active: true}}}
	b := openBackend(t, Config{URL: start(t, svc)})
	ctx := backends.WithClientID(t.Context(), "demo")
	if _, res, err := b.VerifyPassword(ctx, "alice", "pw"); err != nil || res != backends.Accepted {
		t.Fatalf("VerifyPassword = %v, %v", res, err)
	}
	svc.mu.Lock()
	got := svc.lastBody
	svc.mu.Unlock()
	if got.ClientID != "demo" || got.Username != "alice" || got.Password != "pw" {
		t.Errorf("request body = %+v", got)
	}

	// The backend's own timeout, with no deadline on the caller's context.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := openBackend(t, Config{URL: start(t, &service{answer: func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}}), Timeout: 100 * time.Millisecond})
	_, _, err := slow.VerifyPassword(context.Background(), "alice", "pw")
	if err == nil || !strings.Contains(err.Error(), "deadline") && !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("slow webhook: err = %v; want a timeout", err)
	}
}

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	svc := &service{}
	svc.answer = func(w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}
	b := openBackend(t, Config{URL: start(t, svc), CircuitBreaker: Breaker{Failures: 3, Cooldown: time.Minute}})
	now := time.Unix(1_800_000_000, 0)
	b.breaker.now = func() time.Time { return now }
	check := func() error {
		_, _, err := b.VerifyPassword(t.Context(), "alice", "pw")
		return err
	}
	for range 3 {
		if err := check(); err == nil || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("while closed: err = %v; want the webhook's failure", err)
		}
	}
	for range 5 {
		if err := check(); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("after 3 failures: err = %v; want ErrCircuitOpen", err)
		}
	}
	if n := svc.calls.Load(); n != 3 {
		t.Errorf("the webhook was called %d times; want 3 (none while open)", n)
	}
	// After the cooldown one trial goes through; it fails: open again.
	now = now.Add(time.Minute)
	if err := check(); err == nil || errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("half-open trial: err = %v; want the webhook's failure", err)
	}
	if err := check(); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("after a failed trial: err = %v; want ErrCircuitOpen", err)
	}
	// The webhook is back: the next trial closes the circuit.
	up.Store(true)
	now = now.Add(time.Minute)
	for range 3 {
		if _, res, err := b.VerifyPassword(t.Context(), "alice", "pw"); err != nil || res != backends.WrongPassword {
			t.Fatalf("after recovery: %v, %v; want a refusal", res, err)
		}
	}
}

func TestVerifyRefusesReplaysAndForgeries(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"username":"alice","password":"pw"}`)
	ts := "1800000000"
	sig := Sign(testSecret, ts, body)
	if err := Verify(testSecret, ts, sig, body, now, 5*time.Minute); err != nil {
		t.Fatalf("a fresh request: %v", err)
	}
	for name, err := range map[string]error{
		"replayed after the window": Verify(testSecret, ts, sig, body, now.Add(6*time.Minute), 5*time.Minute),
		"from the future":           Verify(testSecret, ts, sig, body, now.Add(-6*time.Minute), 5*time.Minute),
		"another body":              Verify(testSecret, ts, sig, []byte(`{"username":"root","password":"pw"}`), now, 5*time.Minute),
		"another timestamp":         Verify(testSecret, "1800000001", sig, body, now, 5*time.Minute),
		"another secret":            Verify([]byte("another secret, long enough to pass"), ts, sig, body, now, 5*time.Minute),
		"a bad timestamp":           Verify(testSecret, "yesterday", sig, body, now, 5*time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{Secret: string(testSecret)}, "url: is required"},
		{"plain http to another host", Config{URL: "http://bridge.example.com/check", Secret: string(testSecret)}, "url: must be https"},
		{"userinfo in the url", Config{URL: "https://u:p@bridge.example.com/", Secret: string(testSecret)}, "without userinfo"},
		{"no secret", Config{URL: "https://bridge.example.com/"}, "secret: is required"},
		{"a short secret", Config{URL: "https://bridge.example.com/", Secret: "short"}, "at least 32 bytes"},
		{"a cert without its key", Config{URL: "https://bridge.example.com/", Secret: string(testSecret), TLS: backends.TLSConfig{CertFile: "c.pem"}}, "cert_file and key_file"},
		{"provision without linking", Config{URL: "https://bridge.example.com/", Secret: string(testSecret), Provision: true}, "provision"},
		{"a timeout too long", Config{URL: "https://bridge.example.com/", Secret: string(testSecret), Timeout: time.Hour}, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v; want an error saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), string(testSecret)) {
				t.Errorf("the error holds the secret")
			}
		})
	}
	ok := Config{URL: "http://127.0.0.1:9999/check", Secret: string(testSecret), LinkBy: "email", Provision: true}
	if err := ok.Validate(); err != nil {
		t.Errorf("a loopback http URL with linking: %v", err)
	}
}
