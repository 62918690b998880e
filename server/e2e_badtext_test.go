package server_test

import (
	"net/http"
	"testing"
)

// TestTextTheStoreRefusesIsA4xx sends NUL bytes and bytes that are not
// UTF-8 in paths and query strings that reach the store. Each answers 4xx
// (the store refuses the value, or finds nothing under it), never 503, and
// changes nothing.
func TestTextTheStoreRefusesIsA4xx(t *testing.T) {
	ts := startServer(t, nil)
	admin := bearer(ts.adminToken())
	ts.createUser("nadia", "nadia-pass-1234", false)
	tok, _ := ts.jwtPair("nadia", "nadia-pass-1234")
	for _, tc := range []struct {
		method, path, auth string
	}{
		{http.MethodDelete, "/auth/users/me/sessions/%00/", bearer(tok)},
		{http.MethodDelete, "/auth/users/me/sessions/%FF/", bearer(tok)},
		{http.MethodGet, "/auth/users/?search=%00", admin},
		{http.MethodGet, "/auth/users/?search=%FFx", admin},
		{http.MethodGet, "/admin/groups/%00/", admin},
		{http.MethodGet, "/admin/groups/%FF/", admin},
		{http.MethodDelete, "/admin/groups/%00/", admin},
		{http.MethodGet, "/admin/clients/%00/", admin},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res := ts.call(tc.method, tc.path, tc.auth, nil)
			if res.Status < 400 || res.Status >= 500 {
				t.Fatalf("got %s, want a 4xx", res)
			}
		})
	}
	// Nothing was changed: nadia's session is still there.
	if res := ts.call(http.MethodGet, "/auth/users/me/", bearer(tok), nil); res.Status != http.StatusOK {
		t.Fatalf("nadia's token stopped working: %s", res)
	}
}
