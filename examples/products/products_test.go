package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	rs "github.com/latchkey-auth/latchkey/resourceserver"
	"github.com/latchkey-auth/latchkey/server/servertest"
)

const (
	adminPass  = "admin-pass-123"
	demoSecret = "demo-secret"
	userPass   = "correct-Horse-7"
)

// latchkey is a real latchkey server listening on a loopback port, started
// the way server/e2e_helpers_test.go does.
type latchkey struct {
	URL string
	t   *testing.T
}

func startLatchkey(t *testing.T) *latchkey {
	t.Helper()
	return &latchkey{URL: servertest.Start(t, servertest.Options{AdminPassword: adminPass, ClientSecret: demoSecret}), t: t}
}

// token logs a user in with the password grant through the demo client
// (golang.org/x/oauth2).
func (lk *latchkey) token(user, pass string, scopes ...string) *oauth2.Token {
	lk.t.Helper()
	cfg := oauth2.Config{ClientID: "demo", ClientSecret: demoSecret, Scopes: scopes,
		Endpoint: oauth2.Endpoint{TokenURL: lk.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := cfg.PasswordCredentialsToken(context.Background(), user, pass)
	if err != nil {
		lk.t.Fatalf("token for %s: %v", user, err)
	}
	return tok
}

// call sends a JSON request with a bearer token and decodes the answer
// into out when it is not nil; it returns the status.
func call(t *testing.T, method, url, bearer string, body any, out any) (int, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, resp.Header
}

// must fails the test unless the call answers want.
func must(t *testing.T, want int, method, url, bearer string, body any, out any) http.Header {
	t.Helper()
	var raw json.RawMessage
	got, h := call(t, method, url, bearer, body, &raw)
	if got != want {
		t.Fatalf("%s %s = %d %s, want %d", method, url, got, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// setUp creates the README's groups and users through the admin and user
// APIs: alice in ProductManagers, carol in ProductManagers and Publishers,
// dave in Staff.
func (lk *latchkey) setUp() {
	t := lk.t
	admin := lk.token("admin", adminPass).AccessToken
	for name, perms := range map[string][]string{
		"ProductManagers": {"store.view_product", "store.add_product", "store.change_product"},
		"Publishers":      {"store.can_publish_product"},
		"Staff":           {"admin"},
	} {
		must(t, 201, "POST", lk.URL+"/admin/groups/", admin, map[string]any{"name": name, "permissions": perms}, nil)
	}
	for user, groups := range map[string][]string{
		"alice": {"ProductManagers"}, "carol": {"ProductManagers", "Publishers"}, "dave": {"Staff"},
	} {
		var u struct{ ID int64 }
		must(t, 201, "POST", lk.URL+"/auth/users/", "", map[string]string{
			"username": user, "email": user + "@example.com", "password": userPass}, &u)
		for _, g := range groups {
			must(t, 204, "POST", fmt.Sprintf("%s/admin/groups/%s/members/%d/", lk.URL, g, u.ID), admin, nil, nil)
		}
	}
}

func newAPI(t *testing.T, lk *latchkey, mutate func(*rs.Config)) *httptest.Server {
	t.Helper()
	cfg := rs.Config{Issuer: lk.URL, Audience: lk.URL}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := rs.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("resourceserver.New: %v", err)
	}
	api := httptest.NewServer(NewHandler(v))
	t.Cleanup(api.Close)
	return api
}

// TestProductRules: the README's walk-through against a real latchkey —
// anyone reads, ProductManagers change but do not publish, publishers
// publish, staff delete.
func TestProductRules(t *testing.T) {
	lk := startLatchkey(t)
	lk.setUp()
	api := newAPI(t, lk, nil).URL
	alice := lk.token("alice", userPass).AccessToken
	carol := lk.token("carol", userPass).AccessToken
	dave := lk.token("dave", userPass).AccessToken

	var who map[string]any
	must(t, 200, "GET", api+"/me/", alice, nil, &who)
	if fmt.Sprint(who["groups"]) != "[ProductManagers]" || who["username"] != "alice" || who["is_staff"] != false {
		t.Fatalf("alice is %v", who)
	}

	h := must(t, 401, "POST", api+"/products/", "", map[string]string{"name": "Mug", "price": "9.50"}, nil)
	if h.Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Fatalf("anonymous challenge %q", h.Get("WWW-Authenticate"))
	}
	var mug Product
	must(t, 201, "POST", api+"/products/", alice, map[string]string{"name": "Mug", "price": "9.50"}, &mug)
	must(t, 200, "PATCH", fmt.Sprintf("%s/products/%d/", api, mug.ID), alice, map[string]string{"price": "8.00"}, nil)
	must(t, 400, "PATCH", fmt.Sprintf("%s/products/%d/", api, mug.ID), alice, map[string]string{"price": "cheap"}, nil)
	must(t, 403, "POST", fmt.Sprintf("%s/products/%d/publish/", api, mug.ID), alice, nil, nil)
	must(t, 403, "DELETE", fmt.Sprintf("%s/products/%d/", api, mug.ID), alice, nil, nil)
	must(t, 403, "PATCH", fmt.Sprintf("%s/products/%d/", api, mug.ID), dave, map[string]string{"price": "1"}, nil)

	var published Product
	must(t, 200, "POST", fmt.Sprintf("%s/products/%d/publish/", api, mug.ID), carol, nil, &published)
	if !published.Published || published.Price != "8.00" {
		t.Fatalf("published %+v", published)
	}
	must(t, 403, "DELETE", fmt.Sprintf("%s/products/%d/", api, mug.ID), carol, nil, nil)

	var list []Product
	must(t, 200, "GET", api+"/products/", "", nil, &list)
	if len(list) != 1 {
		t.Fatalf("list %+v", list)
	}
	must(t, 204, "DELETE", fmt.Sprintf("%s/products/%d/", api, mug.ID), dave, nil, nil)
	must(t, 404, "GET", fmt.Sprintf("%s/products/%d/", api, mug.ID), "", nil, nil)
}

// TestRevokedTokenRefused: with introspection on, a token revoked at
// latchkey (RFC 7009) is refused at the next request.
func TestRevokedTokenRefused(t *testing.T) {
	lk := startLatchkey(t)
	lk.setUp()
	api := newAPI(t, lk, func(c *rs.Config) {
		c.Introspection = &rs.Introspection{ClientID: "demo", ClientSecret: demoSecret, IntrospectJWTs: true, CacheTTL: -1}
	}).URL
	plain := newAPI(t, lk, nil).URL
	alice := lk.token("alice", userPass).AccessToken
	must(t, 201, "POST", api+"/products/", alice, map[string]string{"name": "Mug", "price": "9.50"}, nil)

	req, _ := http.NewRequest("POST", lk.URL+"/oauth2/revoke", strings.NewReader(url.Values{"token": {alice}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo", demoSecret)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	resp.Body.Close()

	h := must(t, 401, "POST", api+"/products/", alice, map[string]string{"name": "Cup", "price": "5"}, nil)
	if !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("challenge %q", h.Get("WWW-Authenticate"))
	}
	// Without introspection a JWT lives until it expires: that is the trade.
	must(t, 201, "POST", plain+"/products/", alice, map[string]string{"name": "Cup", "price": "5"}, nil)
}

// TestForeignTokensRefused: tokens that are not this latchkey's access
// tokens are refused with 401 invalid_token.
func TestForeignTokensRefused(t *testing.T) {
	lk := startLatchkey(t)
	lk.setUp()
	api := newAPI(t, lk, nil).URL
	later := newAPI(t, lk, func(c *rs.Config) {
		c.Now = func() time.Time { return time.Now().Add(5*time.Minute + time.Minute) } // access_ttl 5m, leeway 30s
	}).URL
	other := startLatchkey(t)

	good := lk.token("alice", userPass, "openid")
	idToken, _ := good.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("no id_token")
	}
	parts := strings.Split(good.AccessToken, ".")
	var header map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(hb, &header); err != nil {
		t.Fatal(err)
	}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+header["kid"].(string)+`"}`)) +
		"." + parts[1] + "."
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: stranger},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "not-latchkeys"))
	if err != nil {
		t.Fatal(err)
	}
	jws, _ := signer.Sign(payload)
	unknownKey, _ := jws.CompactSerialize()

	body := map[string]string{"name": "Mug", "price": "1"}
	must(t, 201, "POST", api+"/products/", good.AccessToken, body, nil)
	for name, c := range map[string]struct{ api, token string }{
		"another issuer's token":   {api, other.token("admin", adminPass).AccessToken},
		"expired":                  {later, good.AccessToken},
		"signed by an unknown key": {api, unknownKey},
		"alg none":                 {api, none},
		"ID token":                 {api, idToken},
	} {
		t.Run(name, func(t *testing.T) {
			var detail map[string]string
			h := must(t, 401, "POST", c.api+"/products/", c.token, body, &detail)
			if !strings.HasPrefix(h.Get("WWW-Authenticate"), `Bearer realm="api", error="invalid_token"`) ||
				detail["detail"] != rs.MsgAuthenticationFailed {
				t.Fatalf("challenge %q, body %v", h.Get("WWW-Authenticate"), detail)
			}
		})
	}
}
