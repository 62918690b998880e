package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/provider"
)

// noStore marks a response that carries tokens or token data (RFC 6749 §5.1).
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
}

// writeOAuthError writes an RFC 6749 §5.2 error body. Causes of 5xx errors
// are logged; nothing internal is sent.
func writeOAuthError(c *gin.Context, log *slog.Logger, err error) {
	e := provider.AsError(err)
	if e.Status >= 500 && clientGone(c, log, e.Unwrap()) {
		return
	}
	logCause(c, log, e)
	noStore(c)
	switch {
	case e.Code == provider.ErrInvalidClient.Code:
		c.Header("WWW-Authenticate", `Basic realm="latchkey"`)
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden && e.Code == provider.ErrInsufficientScope.Code:
		c.Header("WWW-Authenticate", bearerChallenge(e))
	case e.Status == http.StatusServiceUnavailable:
		c.Header("Retry-After", "1")
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	body := gin.H{"error": e.Code}
	if e.Description != "" {
		body["error_description"] = e.Description
	}
	c.AbortWithStatusJSON(e.Status, body)
}

// bearerChallenge is the RFC 6750 §3 WWW-Authenticate value.
func bearerChallenge(e *provider.Error) string {
	return `Bearer realm="latchkey", error="` + e.Code + `", error_description="` + strings.ReplaceAll(e.Description, `"`, `'`) + `"`
}

// StatusClientClosedRequest is the status recorded (in metrics and the
// access log) for a request whose client hung up before it was answered:
// nginx's 499. Nothing is sent; there is nobody to send it to.
const StatusClientClosedRequest = 499

// clientGone reports whether the client hung up (its request's context is
// canceled, not past a deadline) and, if so, logs cause at debug and
// records the request as 499: a client that went away is not a store
// outage, whatever error the store's interrupted call returned.
func clientGone(c *gin.Context, log *slog.Logger, cause error) bool {
	ctx := c.Request.Context()
	if !errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	if log.Enabled(ctx, slog.LevelDebug) {
		msg := ""
		if cause != nil {
			msg = cause.Error()
		}
		log.DebugContext(ctx, "client closed the request",
			"request_id", requestID(ctx), "route", c.FullPath(), "cause", msg)
	}
	c.AbortWithStatus(StatusClientClosedRequest)
	return true
}

func logCause(c *gin.Context, log *slog.Logger, e *provider.Error) {
	cause := e.Unwrap()
	if cause == nil {
		return
	}
	level := slog.LevelDebug
	if e.Status >= 500 {
		level = slog.LevelError
	}
	log.Log(c.Request.Context(), level, "request failed",
		"request_id", requestID(c.Request.Context()), "route", c.FullPath(), "error", e.Code, "cause", cause.Error())
}

func (a *api) token(c *gin.Context) {
	resp, err := a.Provider.Token(c.Request.Context(), c.Request)
	if err != nil {
		writeOAuthError(c, a.Logger, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, resp)
}

// deviceAuthorization is the device authorization endpoint (RFC 8628 §3.1).
func (a *api) deviceAuthorization(c *gin.Context) {
	resp, err := a.Provider.DeviceAuthorization(c.Request.Context(), c.Request)
	if err != nil {
		writeOAuthError(c, a.Logger, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, resp)
}

func (a *api) introspect(c *gin.Context) {
	resp, err := a.Provider.Introspect(c.Request.Context(), c.Request)
	if err != nil {
		writeOAuthError(c, a.Logger, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, resp)
}

func (a *api) revoke(c *gin.Context) {
	if err := a.Provider.Revoke(c.Request.Context(), c.Request); err != nil {
		writeOAuthError(c, a.Logger, err)
		return
	}
	noStore(c)
	c.Status(http.StatusOK)
}

func (a *api) jwks(c *gin.Context) {
	body, err := a.Provider.Keys().JWKS(c.Request.Context())
	if err != nil {
		writeOAuthError(c, a.Logger, err)
		return
	}
	// Short caching: a rotated key must reach verifiers quickly.
	c.Header("Cache-Control", "public, max-age=60")
	c.Data(http.StatusOK, "application/jwk-set+json", body)
}

func (a *api) discovery(c *gin.Context) {
	body, err := a.Provider.Discovery(c.Request.Context())
	if err != nil {
		writeOAuthError(c, a.Logger, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", body)
}

// userinfo takes the access token from the Authorization header, or from
// the form body of a POST (RFC 6750 §2.2).
func (a *api) userinfo(c *gin.Context) {
	token, ok := bearerToken(c.GetHeader("Authorization"))
	if !ok && c.Request.Method == http.MethodPost {
		if form, err := provider.ParseForm(c.Request); err == nil {
			token, ok = form.Get("access_token"), form.Get("access_token") != ""
		}
	}
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="latchkey"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "invalid_token", "error_description": "an access token is required"})
		return
	}
	info, err := a.Provider.UserInfo(c.Request.Context(), token)
	if err != nil {
		writeOAuthError(c, a.Logger, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, info)
}

// bearerToken extracts the token of an "Authorization: Bearer" header.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (a *api) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (a *api) readyz(c *gin.Context) {
	if a.Ready != nil {
		if err := a.Ready(c.Request.Context()); err != nil {
			a.Logger.WarnContext(c.Request.Context(), "not ready", "cause", err.Error())
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable"})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}
