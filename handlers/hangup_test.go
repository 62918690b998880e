package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/metrics"
	"github.com/latchkey-auth/latchkey/storage"
)

// A client that hangs up while its request waits on the store is logged at
// debug and recorded as 499, never as an outage: no ERROR line, no 503 in
// the metrics. A real outage on a live request stays a logged 503.
func TestClientHangUpIsNotAnOutage(t *testing.T) {
	var logs bytes.Buffer
	a := &api{Deps: Deps{
		Logger:    slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:   metrics.New(),
		AccessLog: true,
	}}
	r := gin.New()
	r.Use(a.requestContext, a.recoverPanic, a.observe)
	// The store call fails because the request's context ended (as pgx
	// reports a canceled query: its connection closed, "unavailable").
	storeCall := func(c *gin.Context) error {
		<-c.Request.Context().Done()
		return fmt.Errorf("rotate refresh token: %w: %w", storage.ErrUnavailable, c.Request.Context().Err())
	}
	r.POST("/oauth2/token", func(c *gin.Context) { writeOAuthError(c, a.Logger, storeCall(c)) })
	r.POST("/auth/users/me", func(c *gin.Context) { a.writeDRF(c, storeCall(c)) })
	r.POST("/oauth2/outage", func(c *gin.Context) {
		writeOAuthError(c, a.Logger, fmt.Errorf("rotate refresh token: %w", storage.ErrUnavailable))
	})

	for _, path := range []string{"/oauth2/token", "/auth/users/me"} {
		ctx, hangUp := context.WithCancel(t.Context())
		hangUp()
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil).WithContext(ctx))
		if rec.Code != StatusClientClosedRequest {
			t.Errorf("%s: a hung-up request was recorded as %d, want %d", path, rec.Code, StatusClientClosedRequest)
		}
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/oauth2/outage", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("a store outage on a live request answered %d, want 503", rec.Code)
	}

	var errorLines []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			errorLines = append(errorLines, line)
		}
	}
	if len(errorLines) != 1 || !strings.Contains(errorLines[0], "/oauth2/outage") {
		t.Fatalf("want exactly one ERROR line, for the real outage; got %q", errorLines)
	}
	if !strings.Contains(logs.String(), "client closed the request") {
		t.Fatalf("the hang-up is not logged at debug:\n%s", logs.String())
	}

	m := httptest.NewRecorder()
	a.Metrics.Handler().ServeHTTP(m, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(m.Body)
	for _, want := range []string{
		`latchkey_http_requests_total{method="POST",route="/oauth2/token",status="499"} 1`,
		`latchkey_http_requests_total{method="POST",route="/auth/users/me",status="499"} 1`,
		`latchkey_http_requests_total{method="POST",route="/oauth2/outage",status="503"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if n := strings.Count(string(body), `status="503"`); n != 1 {
		t.Errorf("%d series with status 503, want only the real outage's", n)
	}
}
