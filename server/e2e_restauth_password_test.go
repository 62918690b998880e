package server_test

import (
	"net/http"
	"testing"
)

// dj-rest-auth's password/change checks old_password when it is sent; one
// request that sends it must not make it required for the next ones.
func TestRestAuthOldPasswordIsPerRequest(t *testing.T) {
	ts := startServer(t, nil)
	ts.register("wendy", "wendy-pass-1234")
	access, _ := ts.jwtPair("wendy", "wendy-pass-1234")
	change := func(body map[string]any) response {
		return ts.call(http.MethodPost, "/rest-auth/password/change/", bearer(access), body)
	}
	if res := change(map[string]any{"old_password": "wrong-pass-0000", "new_password1": "wendy-next-5678", "new_password2": "wendy-next-5678"}); res.Status != http.StatusBadRequest {
		t.Fatalf("a wrong old_password: %s", res)
	}
	if res := change(map[string]any{"old_password": "wendy-pass-1234", "new_password1": "wendy-next-5678", "new_password2": "wendy-next-5678"}); res.Status != http.StatusOK {
		t.Fatalf("with old_password: %s", res)
	}
	if res := change(map[string]any{"new_password1": "wendy-third-9012", "new_password2": "wendy-third-9012"}); res.Status != http.StatusOK {
		t.Fatalf("without old_password after a request with it: %s", res)
	}
	ts.jwtPair("wendy", "wendy-third-9012")
}
