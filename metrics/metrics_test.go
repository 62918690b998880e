package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Every metric is served under its name, with its help text and labels:
// dashboards and alerts depend on them.
func TestEveryMetricIsServedByName(t *testing.T) {
	m := New()
	m.ObserveRequest("/oauth2/token", http.MethodPost, http.StatusOK, 3*time.Millisecond)
	m.TokenIssued("password")
	m.LoginFailed("local")
	m.PasswordChecked("ldap-bridge", "error", 30*time.Millisecond)
	m.RateLimited("account_address")
	m.RedisRoundTrip()
	m.DeviceAuthorization("ok")
	m.DevicePoll("slow_down")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`# HELP latchkey_http_requests_total HTTP requests by route, method and status.`,
		`latchkey_http_requests_total{method="POST",route="/oauth2/token",status="200"} 1`,
		`# HELP latchkey_http_request_duration_seconds HTTP request latency by route.`,
		`latchkey_http_request_duration_seconds_bucket{method="POST",route="/oauth2/token",le="0.005"} 1`,
		`latchkey_tokens_issued_total{grant="password"} 1`,
		`latchkey_backend_password_checks_total{backend="ldap-bridge",result="error"} 1`,
		`latchkey_backend_password_check_duration_seconds_bucket{backend="ldap-bridge",le="0.05"} 1`,
		`latchkey_logins_failed_total{backend="local"} 1`,
		`latchkey_rate_limited_total{limit="account_address"} 1`,
		`latchkey_redis_round_trips_total 1`,
		`latchkey_device_authorizations_total{outcome="ok"} 1`,
		`latchkey_device_polls_total{outcome="slow_down"} 1`,
		`go_goroutines `,
		`process_`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
