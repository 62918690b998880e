package handlers

import (
	"net/http"
	"strings"

	"github.com/rs/cors"
)

// corsHandler answers cross-origin requests from the configured origins
// (with credentials: never "*") on the routes a browser front-end calls:
// the token, revoke, userinfo and JWKS endpoints, discovery and the user
// API (and /admin/ when allowed); every other route sends nothing CORS, so
// a browser refuses to let another origin read it. Preflights on those
// routes are answered here; github.com/rs/cors does the protocol.
func corsHandler(next http.Handler, web Web, routes UserRoutes) http.Handler {
	if len(web.CORSOrigins) == 0 {
		return next
	}
	c := cors.New(cors.Options{
		AllowedOrigins:   web.CORSOrigins,
		AllowedMethods:   []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "X-CSRFToken", "X-Requested-With", "X-Request-Id", "Accept", "Accept-Language"},
		ExposedHeaders:   []string{"X-Request-Id", "Retry-After", "WWW-Authenticate"},
		AllowCredentials: true,
		MaxAge:           600,
	})
	prefixes := []string{withSlash(routes.Prefix, "/auth")}
	if routes.RestAuth != "" {
		prefixes = append(prefixes, withSlash(routes.RestAuth, ""))
	}
	if web.CORSAdmin {
		prefixes = append(prefixes, "/admin/")
	}
	exact := map[string]bool{
		"/oauth2/token": true, "/oauth2/revoke": true, "/oauth2/userinfo": true, "/oauth2/jwks": true,
		"/.well-known/openid-configuration": true, "/.well-known/oauth-authorization-server": true,
	}
	withCORS := c.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if exact[p] || p == "/admin" && web.CORSAdmin || hasAnyPrefix(p, prefixes) {
			withCORS.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func withSlash(prefix, def string) string {
	if prefix == "" {
		prefix = def
	}
	return strings.TrimSuffix(prefix, "/") + "/"
}

func hasAnyPrefix(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		if strings.HasPrefix(p, pre) || p+"/" == pre {
			return true
		}
	}
	return false
}
