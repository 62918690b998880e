package handlers

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Web is what the HTTP layer tells browsers beyond the API itself.
type Web struct {
	// CORSOrigins are the exact origins allowed cross-origin requests with
	// credentials (http.cors.allowed_origins); empty turns CORS off.
	CORSOrigins []string
	// CORSAdmin also allows them on /admin/ (http.cors.admin).
	CORSAdmin bool
	// HSTS is the Strict-Transport-Security value sent on every response
	// ("" sends none; set only when the issuer is https).
	HSTS string
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// MetricsApart serves /metrics only on the RoutesMetrics handler
	// (metrics.listen), not beside the API.
	MetricsApart bool
}

// securityHeaders sets, on every response: X-Content-Type-Options: nosniff;
// Cache-Control: no-store unless the handler chose its own caching (only
// discovery and the JWKS do: nothing else may be stored by a cache, as
// most responses carry a token or a user's data, RFC 6749 §5.1); HSTS when
// configured; and on HTML responses X-Frame-Options: DENY and a CSP
// frame-ancestors 'none', so no page of ours can be framed.
func securityHeaders(next http.Handler, hsts string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if hsts != "" {
			h.Set("Strict-Transport-Security", hsts)
		}
		next.ServeHTTP(&htmlGuard{ResponseWriter: w}, r)
	})
}

// htmlGuard adds the anti-framing headers when the response turns out to
// be HTML, at the moment its header is written.
type htmlGuard struct {
	http.ResponseWriter
	wrote bool
}

func (g *htmlGuard) WriteHeader(status int) {
	if !g.wrote {
		g.wrote = true
		h := g.Header()
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(h.Get("Content-Type"))), "text/html") {
			h.Set("X-Frame-Options", "DENY")
			if csp := h.Get("Content-Security-Policy"); csp == "" {
				h.Set("Content-Security-Policy", "frame-ancestors 'none'")
			} else if !strings.Contains(csp, "frame-ancestors") {
				h.Set("Content-Security-Policy", csp+"; frame-ancestors 'none'")
			}
		}
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *htmlGuard) Write(b []byte) (int, error) {
	if !g.wrote {
		if g.Header().Get("Content-Type") == "" {
			g.Header().Set("Content-Type", http.DetectContentType(b))
		}
		g.WriteHeader(http.StatusOK)
	}
	return g.ResponseWriter.Write(b)
}

// Flush passes flushing through (streaming responses).
func (g *htmlGuard) Flush() {
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		if !g.wrote {
			g.WriteHeader(http.StatusOK)
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (g *htmlGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// metricsAuth requires Authorization: Bearer <token> on /metrics when a
// token is configured, compared in constant time.
func metricsAuth(next http.Handler, token string) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"detail":"Authentication credentials were not provided or are invalid."}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
