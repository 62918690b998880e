package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends/webhook"
	"github.com/latchkey-auth/latchkey/config"
)

const hookSecret = "the webhook secret, at least 32 bytes"

// hookService answers for one user, "wes", and counts calls; down makes it
// answer 500.
type hookService struct {
	calls atomic.Int64
	down  atomic.Bool
}

func (h *hookService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	if webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if h.down.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var in struct{ Username, Password string }
	_ = json.Unmarshal(body, &in)
	switch {
	case in.Username != "wes" && in.Username != "mia":
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"unknown_user"}`))
	case in.Password != "wes's webhook password":
		w.WriteHeader(http.StatusUnauthorized)
	default:
		_, _ = w.Write([]byte(`{"subject":"w-1","username":"` + in.Username + `","email":"wes@example.com","email_verified":true}`))
	}
}

func TestPasswordBackendChain(t *testing.T) {
	hook := &hookService{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	start := func(t *testing.T, localOnWrong string) *testServer {
		return startServerWith(t, "127.0.0.1:0", t.TempDir(), newTestClock(), func(c *config.Config) {
			c.Backends[0].OnWrongPassword = localOnWrong
			c.Backends = append(c.Backends, backendBlock(t, "bridge", "webhook", map[string]any{
				"url": srv.URL, "secret": hookSecret, "circuit_breaker": map[string]any{"failures": -1},
			}))
		}, withAllBackends)
	}
	ts := start(t, "")
	ts.createUser("mia", "mia's long password", false)

	t.Run("a user only the webhook knows signs in through it, and the token names it", func(t *testing.T) {
		tok := ts.passwordToken("wes", "wes's webhook password", "openid")
		_, claims := mustVerifyJWT(t, tok.AccessToken, ts.jwks())
		if claims["sub"] != "bridge:w-1" || claims["idp"] != "bridge" {
			t.Errorf("claims = %v", claims)
		}
	})
	t.Run("a local user signs in locally, the webhook is not asked", func(t *testing.T) {
		before := hook.calls.Load()
		tok := ts.passwordToken("mia", "mia's long password", "openid")
		_, claims := mustVerifyJWT(t, tok.AccessToken, ts.jwks())
		if claims["idp"] != "local" {
			t.Errorf("idp = %v", claims["idp"])
		}
		if n := hook.calls.Load() - before; n != 0 {
			t.Errorf("the webhook was asked %d times", n)
		}
	})
	t.Run("a wrong local password stops the chain by default", func(t *testing.T) {
		before := hook.calls.Load()
		_, err := ts.passwordConfig("openid").PasswordCredentialsToken(ts.ctx(), "mia", "wes's webhook password")
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
		if n := hook.calls.Load() - before; n != 0 {
			t.Errorf("the webhook was asked %d times after a wrong local password", n)
		}
	})
	t.Run("unknown everywhere is invalid_grant", func(t *testing.T) {
		_, err := ts.passwordConfig("openid").PasswordCredentialsToken(ts.ctx(), "nobody", "whatever password")
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
	t.Run("the webhook down after local did not know the user is 503, never 200", func(t *testing.T) {
		hook.down.Store(true)
		defer hook.down.Store(false)
		_, err := ts.passwordConfig("openid").PasswordCredentialsToken(ts.ctx(), "wes", "wes's webhook password")
		wantRetrieveError(t, err, "temporarily_unavailable", http.StatusServiceUnavailable)
		// A user the local backend accepts is not affected.
		ts.passwordToken("mia", "mia's long password", "openid")
	})
	t.Run("metrics count each backend's checks", func(t *testing.T) {
		res := ts.get("/metrics", "")
		if !strings.Contains(string(res.Body), `latchkey_backend_password_checks_total{backend="bridge",result="accepted"}`) {
			t.Errorf("metrics lack the webhook's checks")
		}
	})
	t.Run("with on_wrong_password: next the webhook gets its turn", func(t *testing.T) {
		ts2 := start(t, "next")
		ts2.createUser("mia", "mia's long password", false)
		tok := ts2.passwordToken("mia", "wes's webhook password", "openid")
		_, claims := mustVerifyJWT(t, tok.AccessToken, ts2.jwks())
		if claims["idp"] != "bridge" {
			t.Errorf("idp = %v; want bridge", claims["idp"])
		}
	})
}
