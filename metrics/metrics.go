// Package metrics holds latchkey's Prometheus metrics on a registry of their
// own. The provider reports protocol events to it (it is a
// provider.Observer), the HTTP layer observes requests with it, and the
// server counts Redis round trips: each of them uses it, none reaches into
// another for it.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is latchkey's metrics and the Prometheus registry that serves
// them. Its methods are safe for concurrent use.
type Registry struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	issued      *prometheus.CounterVec
	loginFailed *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	authorize   *prometheus.CounterVec
	logins      *prometheus.CounterVec
	redisRT     prometheus.Counter
	// backendChecks and backendLatency: every password check of every
	// backend (provider.BackendObserver).
	backendChecks  *prometheus.CounterVec
	backendLatency *prometheus.HistogramVec
	registered     *prometheus.CounterVec
	device         *deviceMetrics
	cimd           *prometheus.CounterVec
}

// New creates and registers the metrics.
func New() *Registry {
	m := &Registry{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "latchkey_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_tokens_issued_total", Help: "Token responses by grant type.",
		}, []string{"grant"}),
		authorize: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_authorize_requests_total",
			Help: "Authorization requests by outcome: code, login (sent to sign in), consent (sent to consent), error (sent back to the client), refused (an error page).",
		}, []string{"outcome"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_browser_logins_total", Help: "Sign-ins on the hosted login page by backend and result (succeeded, failed).",
		}, []string{"backend", "result"}),
		loginFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_logins_failed_total", Help: "Failed password checks by backend.",
		}, []string{"backend"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_rate_limited_total", Help: "Requests refused by rate limits, by limit.",
		}, []string{"limit"}),
		registered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_client_registrations_total",
			Help: "Dynamic client registration requests (POST /oauth2/register) by outcome: created, invalid_metadata, unauthorized, rate_limited, error.",
		}, []string{"outcome"}),
		redisRT: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_redis_round_trips_total",
			Help: "Network round trips to Redis: one per command, script or pipeline sent.",
		}),
		backendChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_backend_password_checks_total",
			Help: "Password checks by backend and result (accepted, wrong_password, unknown_user, error).",
		}, []string{"backend", "result"}),
		backendLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "latchkey_backend_password_check_duration_seconds", Help: "Password check latency by backend.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"backend"}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.issued, m.loginFailed, m.rateLimited, m.authorize, m.logins, m.redisRT, m.registered,
		m.backendChecks, m.backendLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.device = newDeviceMetrics(m.registry)
	m.cimd = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_client_metadata_documents_total",
		Help: "Client ID Metadata Document resolutions by outcome: cached, fetched, refused.",
	}, []string{"outcome"})
	m.registry.MustRegister(m.cimd)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// ObserveRequest counts an answered HTTP request and its latency. route is
// the route pattern, never the raw path.
func (m *Registry) ObserveRequest(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// TokenIssued counts a token response.
func (m *Registry) TokenIssued(grant string) { m.issued.WithLabelValues(grant).Inc() }

// LoginFailed counts a failed password check.
func (m *Registry) LoginFailed(backend string) { m.loginFailed.WithLabelValues(backend).Inc() }

// Authorize counts an authorization request by its outcome.
func (m *Registry) Authorize(outcome string) { m.authorize.WithLabelValues(outcome).Inc() }

// BrowserLogin counts a sign-in on the login page.
func (m *Registry) BrowserLogin(backend, result string) {
	m.logins.WithLabelValues(backend, result).Inc()
}

// PasswordChecked counts one backend's password check and its latency
// (provider.BackendObserver).
func (m *Registry) PasswordChecked(backend, result string, d time.Duration) {
	m.backendChecks.WithLabelValues(backend, result).Inc()
	m.backendLatency.WithLabelValues(backend).Observe(d.Seconds())
}

// RateLimited counts a request refused by a limit.
func (m *Registry) RateLimited(limit string) { m.rateLimited.WithLabelValues(limit).Inc() }

// ClientRegistration counts a dynamic client registration request by its
// outcome.
func (m *Registry) ClientRegistration(outcome string) { m.registered.WithLabelValues(outcome).Inc() }

// RedisRoundTrip counts one network round trip to Redis.
func (m *Registry) RedisRoundTrip() { m.redisRT.Inc() }

// VerifiedTokenCache exports the verified-token cache's lookups, read from
// stats when scraped: latchkey_verified_token_cache_total{result="hit"}
// and {result="miss"}. Call it once.
func (m *Registry) VerifiedTokenCache(stats func() (hits, misses uint64)) {
	counter := func(result string, value func() float64) prometheus.CounterFunc {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "latchkey_verified_token_cache_total",
			Help:        "Lookups of the verified-token cache by introspection, userinfo and the user and admin APIs, by result.",
			ConstLabels: prometheus.Labels{"result": result},
		}, value)
	}
	m.registry.MustRegister(
		counter("hit", func() float64 { h, _ := stats(); return float64(h) }),
		counter("miss", func() float64 { _, miss := stats(); return float64(miss) }),
	)
}

// ClientMetadataDocument counts a Client ID Metadata Document resolution
// by outcome (cached, fetched, refused).
func (m *Registry) ClientMetadataDocument(outcome string) {
	m.cimd.WithLabelValues(outcome).Inc()
}
