package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/webhook"
)

const secret = "an example secret of at least 32 bytes"

// The example service against the real webhook backend.
func TestExampleWithTheWebhookBackend(t *testing.T) {
	srv := httptest.NewServer(handler([]byte(secret), time.Now))
	defer srv.Close()
	cfg := &webhook.Config{URL: srv.URL, Secret: secret}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	impl, err := cfg.Open("ldap-bridge", backends.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	v := impl.(backends.PasswordVerifier)
	for _, tc := range []struct {
		login, password string
		want            backends.Result
	}{
		{"demo", "demo password", backends.Accepted},
		{"demo", "wrong", backends.WrongPassword},
		{"someone", "demo password", backends.UnknownUser},
	} {
		id, res, err := v.VerifyPassword(t.Context(), tc.login, tc.password)
		if err != nil || res != tc.want {
			t.Errorf("%s/%s: %v, %v; want %v", tc.login, tc.password, res, err, tc.want)
		}
		if res == backends.Accepted && (id.Subject != "demo-1" || id.Email != "demo@example.com" || id.Backend != "ldap-bridge") {
			t.Errorf("identity = %+v", id)
		}
	}
	// A backend with another secret is not believed: an error, never a login.
	wrong := &webhook.Config{URL: srv.URL, Secret: "another secret, also 32 bytes long"}
	impl, _ = wrong.Open("x", backends.Deps{})
	if _, ok, err := impl.(backends.PasswordChecker).CheckPassword(t.Context(), "demo", "demo password"); ok || err == nil {
		t.Errorf("a wrongly signed request: ok %v, err %v; want an error", ok, err)
	}
}

// A captured request replayed after the window is refused.
func TestExampleRefusesReplays(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := `{"username":"demo","password":"demo password"}`
	send := func(at time.Time) int {
		h := handler([]byte(secret), func() time.Time { return at })
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		ts := "1800000000"
		req.Header.Set("X-Latchkey-Timestamp", ts)
		req.Header.Set("X-Latchkey-Signature", webhook.Sign([]byte(secret), ts, []byte(body)))
		rec := httptest.NewRecorder()
		h(rec, req)
		return rec.Code
	}
	if code := send(now); code != http.StatusOK {
		t.Fatalf("fresh request: %d", code)
	}
	if code := send(now.Add(10 * time.Minute)); code != http.StatusBadRequest {
		t.Errorf("replayed 10 minutes later: %d; want 400", code)
	}
}
