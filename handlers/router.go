// Package handlers is latchkey's HTTP layer, the only package that imports
// Gin. Handlers are thin: parse, call the provider, write. No protocol
// decision is made here.
package handlers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/clients"
	"github.com/latchkey-auth/latchkey/handlers/pages"
	"github.com/latchkey-auth/latchkey/metrics"
	"github.com/latchkey-auth/latchkey/provider"
)

// Deps are what the HTTP layer serves.
type Deps struct {
	Provider *provider.Provider
	// Clients administers clients (/admin/clients/).
	Clients *clients.Admin
	// Registrar serves dynamic client registration (/oauth2/register) and
	// initial access tokens (/admin/registration-tokens/); nil: off.
	Registrar *clients.Registrar
	// Accounts serves the user API and authenticates /auth/ and /admin/.
	Accounts *accounts.Service
	// Events lists audit events (/admin/events/); nil lists none.
	Events     AuditEvents
	UserRoutes UserRoutes
	// Pages serves the hosted pages (activation, password reset); nil
	// serves none.
	Pages *pages.Pages
	// Identities lists and unlinks users' social identities; nil lists
	// none.
	Identities Identities
	// Ready reports whether the stores answer (/readyz).
	Ready func(ctx context.Context) error
	// Metrics counts every request and serves /metrics; nil makes a
	// registry of the handler's own.
	Metrics *metrics.Registry
	Logger  *slog.Logger
	// MaxBodyBytes limits request bodies (64 KiB by default).
	MaxBodyBytes int64
	// TrustedProxies may set X-Forwarded-For; empty trusts none.
	TrustedProxies []string
	// AccessLog logs one line per request.
	AccessLog bool
	// RequestTimeout bounds the work of one request (store calls included);
	// 0 means none.
	RequestTimeout time.Duration
	// Web is CORS, HSTS and the guard of /metrics.
	Web Web
}

// Routes selects which routes a handler serves: the admin API can be put on
// a listener of its own (admin.listen).
type Routes int

// Route sets.
const (
	RoutesAll     Routes = iota // protocol, operations and admin
	RoutesPublic                // protocol and operations, no admin API
	RoutesAdmin                 // admin API and operations
	RoutesMetrics               // /metrics alone (metrics.listen)
)

type api struct {
	Deps
}

func init() { gin.SetMode(gin.ReleaseMode) }

// New returns the HTTP handler of the selected routes.
func New(d Deps, routes Routes) (http.Handler, error) {
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 64 << 10
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	a := &api{Deps: d}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RemoteIPHeaders = []string{"X-Forwarded-For", "X-Real-IP"}
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	r.Use(a.requestContext, a.recoverPanic, a.observe)
	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"detail": "Not found."}) })
	r.NoMethod(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/oauth2/") {
			writeOAuthError(c, a.Logger, provider.ErrMethodNotAllowed)
			return
		}
		c.JSON(http.StatusMethodNotAllowed, gin.H{"detail": fmt.Sprintf("Method %q not allowed.", c.Request.Method)})
	})
	if routes == RoutesMetrics || !d.Web.MetricsApart {
		r.GET("/metrics", gin.WrapH(metricsAuth(a.Metrics.Handler(), d.Web.MetricsToken)))
	}
	if routes == RoutesMetrics {
		return securityHeaders(r, d.Web.HSTS), nil
	}
	r.GET("/healthz", a.healthz)
	r.GET("/readyz", a.readyz)
	if routes != RoutesAdmin {
		a.protocolRoutes(r)
		a.userRoutes(r)
		if d.Pages != nil {
			d.Pages.Register(r)
		}
	}
	if routes != RoutesPublic {
		a.adminRoutes(r)
	}
	return securityHeaders(corsHandler(r, d.Web, d.UserRoutes), d.Web.HSTS), nil
}

func (a *api) protocolRoutes(r *gin.Engine) {
	r.GET("/.well-known/openid-configuration", a.discovery)
	r.GET("/.well-known/oauth-authorization-server", a.discovery)
	r.GET("/oauth2/jwks", a.jwks)
	r.POST("/oauth2/token", a.limitBody, a.token)
	r.POST("/oauth2/device_authorization", a.limitBody, a.deviceAuthorization)
	r.POST("/oauth2/introspect", a.limitBody, a.introspect)
	r.POST("/oauth2/revoke", a.limitBody, a.revoke)
	r.GET("/oauth2/userinfo", a.userinfo)
	r.POST("/oauth2/userinfo", a.limitBody, a.userinfo)
	a.registrationRoutes(r)
}

func (a *api) adminRoutes(r *gin.Engine) {
	admin := r.Group("/admin", a.limitBody, a.requireStaff)
	both(admin, http.MethodGet, "/clients", a.listClients)
	both(admin, http.MethodPost, "/clients", a.createClient)
	both(admin, http.MethodGet, "/clients/:id", a.getClient)
	both(admin, http.MethodPut, "/clients/:id", a.updateClient)
	both(admin, http.MethodDelete, "/clients/:id", a.deleteClient)
	both(admin, http.MethodPost, "/clients/:id/rotate-secret", a.rotateClientSecret)
	both(admin, http.MethodGet, "/keys", a.listKeys)
	both(admin, http.MethodPost, "/keys/rotate", a.rotateKey)
	both(admin, http.MethodGet, "/api-keys", a.listAdminKeys)
	both(admin, http.MethodPost, "/api-keys", a.createAdminKey)
	both(admin, http.MethodDelete, "/api-keys/:id", a.revokeAdminKey)
	both(admin, http.MethodGet, "/events", a.listEvents)
	a.adminGroupRoutes(admin)
	a.adminRegistrationRoutes(admin)
}

// both registers a route with and without its trailing slash, as djoser
// clients use either.
func both(g *gin.RouterGroup, method, path string, h ...gin.HandlerFunc) {
	g.Handle(method, path, h...)
	g.Handle(method, path+"/", h...)
}

type requestIDKey struct{}

// requestContext gives every request an ID (kept from X-Request-Id when it
// is sane), a logger carrying it, the client address for the provider, and
// its deadline (RequestTimeout).
func (a *api) requestContext(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if !saneRequestID(id) {
		id = newRequestID()
	}
	c.Header("X-Request-Id", id)
	ip := c.ClientIP() // parses forwarding headers: once per request
	ctx := context.WithValue(c.Request.Context(), requestIDKey{}, id)
	ctx = provider.WithClientIP(ctx, ip)
	ctx = audit.WithRequest(ctx, ip, c.Request.UserAgent())
	if a.RequestTimeout > 0 {
		// The request's work is bounded: a store call past it fails, and
		// the request is answered 503.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.RequestTimeout)
		defer cancel()
	}
	c.Request = c.Request.WithContext(ctx) // once: each WithContext copies the request
	c.Next()
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// recoverPanic turns a panic into a logged 500 without internals.
func (a *api) recoverPanic(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.Logger.ErrorContext(c.Request.Context(), "panic serving request",
				"request_id", requestID(c.Request.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "server_error", "error_description": "internal error"})
			}
		}
	}()
	c.Next()
}

// observe records metrics and the access log. Only the route pattern is
// logged, never the query string (it may hold tokens).
func (a *api) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	elapsed := time.Since(start)
	status := c.Writer.Status()
	a.Metrics.ObserveRequest(route, c.Request.Method, status, elapsed)
	ctx := c.Request.Context()
	if !a.AccessLog || !a.Logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	// The record is built here rather than by Logger.LogAttrs, which
	// unwinds the stack for the caller's PC on every call (runtime.Callers):
	// the access log has no use for a source line, and one line per request
	// is the hottest log there is.
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("request_id", requestID(ctx)),
		slog.String("method", c.Request.Method), slog.String("route", route),
		slog.Int("status", status), slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("ip", provider.ClientIP(ctx)))
	_ = a.Logger.Handler().Handle(ctx, r)
}

// limitBody bounds the request body; reading past it fails, which the
// parsers report as 413.
func (a *api) limitBody(c *gin.Context) {
	if c.Request.ContentLength > a.MaxBodyBytes {
		writeOAuthError(c, a.Logger, provider.ErrRequestTooLarge)
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, a.MaxBodyBytes)
	c.Next()
}
