package handlers

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/metrics"
	"github.com/latchkey-auth/latchkey/storage"
)

// A request's work is bounded by RequestTimeout: a store call still waiting
// when it passes fails, and the request is answered 503 (a live client, so
// an outage, not a hang-up). Without a timeout the request has no deadline.
func TestRequestTimeoutBoundsTheWorkAndAnswers503(t *testing.T) {
	for _, timeout := range []time.Duration{50 * time.Millisecond, 0} {
		a := &api{Deps: Deps{
			Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
			Metrics:        metrics.New(),
			RequestTimeout: timeout,
		}}
		r := gin.New()
		r.Use(a.requestContext, a.recoverPanic, a.observe)
		var deadline time.Time
		var hasDeadline bool
		r.POST("/oauth2/token", func(c *gin.Context) {
			ctx := c.Request.Context()
			deadline, hasDeadline = ctx.Deadline()
			if !hasDeadline {
				c.Status(http.StatusNoContent)
				return
			}
			<-ctx.Done() // a store call that never answers
			writeOAuthError(c, a.Logger, fmt.Errorf("get client: %w: %w", storage.ErrUnavailable, ctx.Err()))
		})
		start := time.Now()
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/oauth2/token", nil))
		if timeout == 0 {
			if hasDeadline || rec.Code != http.StatusNoContent {
				t.Fatalf("without a timeout: deadline %v (%v), status %d", deadline, hasDeadline, rec.Code)
			}
			continue
		}
		// Set when the request arrived, and passed when it was answered.
		if !hasDeadline || deadline.Before(start.Add(timeout)) || deadline.After(time.Now()) {
			t.Fatalf("deadline %v (%v), want %v after the request's start %v, passed by its end", deadline, hasDeadline, timeout, start)
		}
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("a request past its timeout answered %d, want 503", rec.Code)
		}
	}
}
