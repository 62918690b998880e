package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// An HTML response (an error page, a future login page) cannot be framed;
// a JSON one is left alone. Both are nosniff and no-store.
func TestSecurityHeadersGuardHTMLAgainstFraming(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
		html  bool
	}{
		{"explicit text/html", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("<p>bad request</p>"))
		}, true},
		{"sniffed HTML", func(w http.ResponseWriter) { _, _ = w.Write([]byte("<!DOCTYPE html><html></html>")) }, true},
		{"an existing CSP", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Security-Policy", "default-src 'self'")
			_, _ = w.Write([]byte("<p>x</p>"))
		}, true},
		{"JSON", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{}`))
		}, false},
	} {
		h := securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { tc.write(w) }), "max-age=60")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
		hd := rec.Result().Header
		if hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Cache-Control") != "no-store" || hd.Get("Strict-Transport-Security") != "max-age=60" {
			t.Errorf("%s: headers %v", tc.name, hd)
		}
		framed := hd.Get("X-Frame-Options") == "DENY"
		csp := hd.Get("Content-Security-Policy")
		if tc.html && (!framed || csp != "frame-ancestors 'none'" && csp != "default-src 'self'; frame-ancestors 'none'") {
			t.Errorf("%s: X-Frame-Options %q, CSP %q on HTML", tc.name, hd.Get("X-Frame-Options"), csp)
		}
		if !tc.html && (framed || csp != "") {
			t.Errorf("%s: anti-framing headers on a non-HTML response: %v", tc.name, hd)
		}
	}
}
