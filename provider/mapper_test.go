package provider

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/permissions"
)

// The authorization code grant goes through the mapper like every grant:
// the code's scope (what the authorization request was granted for the
// client) is mapped for the user at redemption.
func TestTheCodeGrantIsMapped(t *testing.T) {
	f := newCodeFlow(t)
	m, err := permissions.New(config.Permissions{Scopes: map[string]config.ScopeRule{
		"email": {Requires: []string{"app.read_email"}, Covers: []string{"app.*"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.p.mapper = m
	verifier, challenge := pkcePair("m")
	res := f.authorize(t, url.Values{
		"client_id": {"web"}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "state": {"s"}, "nonce": {"n"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}, Login{Subject: f.user, AuthTime: f.clock().Add(-time.Minute), SessionID: "ls-m"})
	tok, err := f.redeem(t, "web", "web-secret", url.Values{
		"code": {res.code}, "redirect_uri": {"https://app.example/cb"}, "code_verifier": {verifier},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Scope != "openid offline_access" {
		t.Errorf("scope %q: email requires a permission carol lacks", tok.Scope)
	}
	claims := payload(t, tok.AccessToken)
	for _, k := range []string{"groups", "permissions"} {
		if l, ok := claims[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, claims[k])
		}
	}
	if id := payload(t, tok.IDToken); id["email"] != nil {
		t.Errorf("the ID token releases email: %v", id)
	}
	// The session keeps the mapped scope: a refresh cannot widen it.
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(url.Values{
		"grant_type": {GrantRefreshToken}, "refresh_token": {tok.RefreshToken},
	}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("web", "web-secret")
	next, err := f.p.Token(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if next.Scope != "openid offline_access" {
		t.Errorf("refreshed scope %q", next.Scope)
	}
}

func payload(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
