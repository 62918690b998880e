package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers/pages/pagestest"
)

// Dynamic client registration (RFC 7591) and its management (RFC 7592):
// docs/client-registration.md.

func (ts *testServer) registerClient(bearer string, metadata any) response {
	ts.t.Helper()
	return ts.adminJSON(http.MethodPost, "/oauth2/register", bearer, metadata)
}

// mustRegister registers a client and returns the client information.
func (ts *testServer) mustRegister(bearer string, metadata any) map[string]any {
	ts.t.Helper()
	res := ts.registerClient(bearer, metadata)
	if res.Status != http.StatusCreated {
		ts.t.Fatalf("register: %s", res)
	}
	return res.json(ts.t)
}

// clientCount is how many clients the admin API lists.
func (ts *testServer) clientCount(admin string) int {
	ts.t.Helper()
	res := ts.adminJSON(http.MethodGet, "/admin/clients/", admin, nil)
	if res.Status != http.StatusOK {
		ts.t.Fatalf("list clients: %s", res)
	}
	return int(res.json(ts.t)["count"].(float64))
}

func wantRegError(t *testing.T, what string, res response, status int, code string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("%s: %s, want %d %s", what, res, status, code)
	}
	if got := res.json(t)["error"]; got != code {
		t.Fatalf("%s: error %v, want %s (%s)", what, got, code, res)
	}
}

func wantBearerChallenge(t *testing.T, what string, res response) {
	t.Helper()
	wantRegError(t, what, res, http.StatusUnauthorized, "invalid_token")
	if h := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") {
		t.Fatalf("%s: WWW-Authenticate %q, want a Bearer challenge", what, h)
	}
}

func discoveryDoc(t *testing.T, ts *testServer) map[string]any {
	t.Helper()
	res := ts.get("/.well-known/openid-configuration", "")
	if res.Status != http.StatusOK {
		t.Fatalf("discovery: %s", res)
	}
	return res.json(t)
}

func withRegistration(policy string, more ...func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.OAuth2.Registration = policy
		for _, m := range more {
			m(c)
		}
	}
}

var publicClient = map[string]any{
	"client_name":                "Editor Plugin",
	"redirect_uris":              []string{"http://127.0.0.1:49152/callback"},
	"token_endpoint_auth_method": "none",
	"logo_uri":                   "https://plugin.example/logo.png", // not kept: ignored (RFC 7591 §2)
}

func TestRegistrationOffAnswers404(t *testing.T) {
	ts := startServer(t, nil)
	wantRegError(t, "POST /oauth2/register", ts.registerClient("", publicClient), http.StatusNotFound, "not_found")
	wantRegError(t, "GET /oauth2/register/demo", ts.get("/oauth2/register/demo", "lk_rat_x"), http.StatusNotFound, "not_found")
	if _, ok := discoveryDoc(t, ts)["registration_endpoint"]; ok {
		t.Fatal("discovery lists registration_endpoint while registration is off")
	}
}

func TestOpenRegistration(t *testing.T) {
	ts := startServer(t, withRegistration("open"))
	admin := ts.adminToken()
	if got := discoveryDoc(t, ts)["registration_endpoint"]; got != ts.URL+"/oauth2/register" {
		t.Fatalf("registration_endpoint %v", got)
	}

	res := ts.registerClient("", publicClient)
	if res.Status != http.StatusCreated || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %s (Cache-Control %q)", res, res.Header.Get("Cache-Control"))
	}
	reg := res.json(t)
	id, _ := reg["client_id"].(string)
	rat, _ := reg["registration_access_token"].(string)
	if id == "" || !strings.HasPrefix(rat, "lk_rat_") || reg["registration_client_uri"] != ts.URL+"/oauth2/register/"+id {
		t.Fatalf("client information: %v", reg)
	}
	if _, ok := reg["client_secret"]; ok {
		t.Errorf("a public client got a secret: %v", reg)
	}
	if reg["token_endpoint_auth_method"] != "none" || fmt.Sprint(reg["grant_types"]) != "[authorization_code refresh_token]" ||
		fmt.Sprint(reg["response_types"]) != "[code]" || reg["client_name"] != "Editor Plugin" || reg["client_id_issued_at"] == nil {
		t.Errorf("client information: %v", reg)
	}
	if strings.Contains(fmt.Sprint(reg["scope"]), "latchkey") {
		t.Errorf("a registered client got the latchkey scope: %v", reg["scope"])
	}
	shown := ts.adminJSON(http.MethodGet, "/admin/clients/"+id+"/", admin, nil)
	if shown.Status != http.StatusOK || shown.json(t)["registered"] != true {
		t.Fatalf("the admin API does not mark the client registered: %s", shown)
	}
	if demo := ts.adminJSON(http.MethodGet, "/admin/clients/"+demoClient+"/", admin, nil); demo.json(t)["registered"] != false {
		t.Errorf("the bootstrap client shows as registered: %s", demo)
	}
	events := ts.adminJSON(http.MethodGet, "/admin/events/?type=client.created&client_id="+id, admin, nil)
	if list, _ := events.json(t)["results"].([]any); len(list) != 1 || list[0].(map[string]any)["actor"] != "registration" {
		t.Errorf("audit events of the registration: %s", events)
	}
	if strings.Contains(string(events.Body), rat) {
		t.Error("an audit event holds the registration access token")
	}

	t.Run("refused metadata changes nothing", func(t *testing.T) {
		before := ts.clientCount(admin)
		with := func(k string, v any) map[string]any {
			m := map[string]any{"redirect_uris": []string{"https://app.example/cb"}, "token_endpoint_auth_method": "none"}
			m[k] = v
			return m
		}
		for _, tc := range []struct {
			name string
			body any
			code string
		}{
			{"a javascript: redirect URI", with("redirect_uris", []string{"javascript:alert(1)"}), "invalid_redirect_uri"},
			{"a wildcard redirect URI", with("redirect_uris", []string{"https://*.example/cb"}), "invalid_redirect_uri"},
			{"no redirect URI for the code flow", with("redirect_uris", []string{}), "invalid_redirect_uri"},
			{"a client-chosen secret", with("client_secret", "my-own-secret"), "invalid_client_metadata"},
			{"a client-chosen client_id", with("client_id", "webapp"), "invalid_client_metadata"},
			{"the latchkey scope", with("scope", "openid latchkey"), "invalid_client_metadata"},
			{"the password grant", with("grant_types", []string{"password"}), "invalid_client_metadata"},
			{"a confidential client when only public ones register", with("token_endpoint_auth_method", "client_secret_basic"), "invalid_client_metadata"},
			{"client_credentials for a public client", with("grant_types", []string{"client_credentials"}), "invalid_client_metadata"},
			{"redirect_uris of the wrong type", with("redirect_uris", "https://app.example/cb"), "invalid_client_metadata"},
			{"malformed JSON", `{"redirect_uris": [`, "invalid_client_metadata"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantRegError(t, tc.name, ts.registerClient("", tc.body), http.StatusBadRequest, tc.code)
			})
		}
		if after := ts.clientCount(admin); after != before {
			t.Fatalf("refused registrations made clients: %d before, %d after", before, after)
		}
	})

	uri := "/oauth2/register/" + id
	t.Run("RFC 7592 read rotates the registration access token", func(t *testing.T) {
		res := ts.get(uri, rat)
		if res.Status != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("read: %s", res)
		}
		got := res.json(t)
		next, _ := got["registration_access_token"].(string)
		if got["client_id"] != id || got["client_name"] != "Editor Plugin" || !strings.HasPrefix(next, "lk_rat_") || next == rat {
			t.Fatalf("read: %v", got)
		}
		wantBearerChallenge(t, "read with the replaced token", ts.get(uri, rat))
		rat = next
	})
	t.Run("RFC 7592 refuses wrong and missing tokens alike", func(t *testing.T) {
		wantBearerChallenge(t, "no token", ts.get(uri, ""))
		wantBearerChallenge(t, "a wrong token", ts.get(uri, "lk_rat_"+strings.Repeat("A", 43)))
		wantBearerChallenge(t, "an admin token", ts.get(uri, admin))
		wantBearerChallenge(t, "another client's id", ts.get("/oauth2/register/"+demoClient, rat))
		wantBearerChallenge(t, "an unknown client", ts.get("/oauth2/register/cnothere", rat))
		wantBearerChallenge(t, "update with a wrong token", ts.adminJSON(http.MethodPut, uri, "lk_rat_wrong", map[string]any{"client_id": id}))
		wantBearerChallenge(t, "delete with a wrong token", ts.adminJSON(http.MethodDelete, uri, "lk_rat_wrong", nil))
	})
	t.Run("RFC 7592 update replaces the metadata", func(t *testing.T) {
		body := map[string]any{
			"client_id": id, "client_name": "Editor Plugin 2", "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"http://127.0.0.1:49152/callback", "com.example.plugin:/cb"},
		}
		wrongID := map[string]any{"client_id": "other", "redirect_uris": []string{"https://app.example/cb"}}
		wantRegError(t, "update naming another client", ts.adminJSON(http.MethodPut, uri, rat, wrongID), http.StatusBadRequest, "invalid_client_metadata")
		withAPI := map[string]any{"client_id": id, "redirect_uris": []string{"https://app.example/cb"}, "scope": "openid latchkey"}
		wantRegError(t, "update to the latchkey scope", ts.adminJSON(http.MethodPut, uri, rat, withAPI), http.StatusBadRequest, "invalid_client_metadata")
		res := ts.adminJSON(http.MethodPut, uri, rat, body)
		if res.Status != http.StatusOK {
			t.Fatalf("update: %s", res)
		}
		got := res.json(t)
		if got["client_name"] != "Editor Plugin 2" || len(got["redirect_uris"].([]any)) != 2 {
			t.Fatalf("update: %v", got)
		}
		rat = got["registration_access_token"].(string)
		adminView := ts.adminJSON(http.MethodGet, "/admin/clients/"+id+"/", admin, nil).json(t)
		if adminView["client_name"] != "Editor Plugin 2" {
			t.Fatalf("the admin API shows %v", adminView)
		}
	})
	t.Run("an admin cannot give a registered client the latchkey scope", func(t *testing.T) {
		res := ts.adminJSON(http.MethodPut, "/admin/clients/"+id+"/", admin, map[string]any{
			"token_endpoint_auth_method": "none", "redirect_uris": []string{"https://app.example/cb"}, "scope": "openid latchkey",
		})
		wantRegError(t, "admin update", res, http.StatusBadRequest, "invalid_client_metadata")
	})
	t.Run("RFC 7592 delete", func(t *testing.T) {
		if res := ts.adminJSON(http.MethodDelete, uri, rat, nil); res.Status != http.StatusNoContent {
			t.Fatalf("delete: %s", res)
		}
		wantBearerChallenge(t, "read after delete", ts.get(uri, rat))
		if res := ts.adminJSON(http.MethodGet, "/admin/clients/"+id+"/", admin, nil); res.Status != http.StatusNotFound {
			t.Fatalf("the admin API still has the client: %s", res)
		}
	})
}

func TestOpenRegistrationIsRateLimitedPerAddress(t *testing.T) {
	ts := startServer(t, withRegistration("open", func(c *config.Config) {
		c.OAuth2.RegistrationRateLimit = config.RequestLimit{Requests: 3, Window: time.Hour}
	}))
	for i := range 3 {
		if res := ts.registerClient("", publicClient); res.Status != http.StatusCreated {
			t.Fatalf("registration %d: %s", i+1, res)
		}
	}
	res := ts.registerClient("", publicClient)
	wantRegError(t, "the fourth registration", res, http.StatusTooManyRequests, "rate_limited")
	if res.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	metrics := ts.get("/metrics", "")
	for _, want := range []string{`latchkey_client_registrations_total{outcome="created"} 3`, `latchkey_client_registrations_total{outcome="rate_limited"} 1`} {
		if !strings.Contains(string(metrics.Body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	ts.Clock.Advance(time.Hour + time.Minute)
	if res := ts.registerClient("", publicClient); res.Status != http.StatusCreated {
		t.Fatalf("after the window: %s", res)
	}
}

func TestRegistrationWithInitialAccessTokens(t *testing.T) {
	ts := startServer(t, withRegistration("initial_access_token"))
	admin := ts.adminToken()
	newToken := func(body map[string]any) map[string]any {
		t.Helper()
		res := ts.adminJSON(http.MethodPost, "/admin/registration-tokens/", admin, body)
		if res.Status != http.StatusCreated {
			t.Fatalf("create registration token: %s", res)
		}
		return res.json(t)
	}
	uses := func(id string) float64 {
		t.Helper()
		list := ts.adminJSON(http.MethodGet, "/admin/registration-tokens/", admin, nil).json(t)
		for _, r := range list["results"].([]any) {
			if m := r.(map[string]any); m["id"] == id {
				if _, ok := m["token"]; ok {
					t.Fatal("the listing shows the token")
				}
				return m["uses"].(float64)
			}
		}
		t.Fatalf("token %s not listed: %v", id, list)
		return 0
	}

	wantBearerChallenge(t, "no initial access token", ts.registerClient("", publicClient))
	wantBearerChallenge(t, "an unknown initial access token", ts.registerClient("lk_iat_"+strings.Repeat("B", 43), publicClient))
	wantBearerChallenge(t, "a registration access token", ts.registerClient("lk_rat_"+strings.Repeat("B", 43), publicClient))

	iat := newToken(map[string]any{"name": "ci", "expires_in": 3600, "max_uses": 2})
	secret, _ := iat["token"].(string)
	if !strings.HasPrefix(secret, "lk_iat_") || iat["max_uses"] != 2.0 || iat["uses"] != 0.0 {
		t.Fatalf("new token: %v", iat)
	}
	bad := map[string]any{"redirect_uris": []string{"javascript:alert(1)"}}
	wantRegError(t, "bad metadata with a good token", ts.registerClient(secret, bad), http.StatusBadRequest, "invalid_redirect_uri")
	if n := uses(iat["id"].(string)); n != 0 {
		t.Fatalf("a refused registration used the token: %v uses", n)
	}
	ts.mustRegister(secret, publicClient)
	ts.mustRegister(secret, publicClient)
	wantBearerChallenge(t, "a used-up token", ts.registerClient(secret, publicClient))
	if n := uses(iat["id"].(string)); n != 2 {
		t.Fatalf("uses %v, want 2", n)
	}

	short := newToken(map[string]any{"name": "short", "expires_in": 60})
	ts.mustRegister(short["token"].(string), publicClient)
	ts.Clock.Advance(61 * time.Second)
	wantBearerChallenge(t, "an expired token", ts.registerClient(short["token"].(string), publicClient))

	revoked := newToken(map[string]any{"name": "revoked"})
	if res := ts.adminJSON(http.MethodDelete, "/admin/registration-tokens/"+revoked["id"].(string)+"/", admin, nil); res.Status != http.StatusNoContent {
		t.Fatalf("delete token: %s", res)
	}
	wantBearerChallenge(t, "a deleted token", ts.registerClient(revoked["token"].(string), publicClient))

	if res := ts.adminJSON(http.MethodPost, "/admin/registration-tokens/", admin, map[string]any{"expires_in": -5}); res.Status != http.StatusBadRequest {
		t.Errorf("a negative lifetime: %s", res)
	}
	ts.createUser("bob", "bob-pass-123456", false)
	bob := ts.passwordToken("bob", "bob-pass-123456", "openid", "latchkey").AccessToken
	if res := ts.adminJSON(http.MethodPost, "/admin/registration-tokens/", bob, map[string]any{}); res.Status != http.StatusForbidden {
		t.Errorf("a non-staff user made a registration token: %s", res)
	}
}

// A registered client is third-party: the user sees the consent page, the
// code flow completes with go-oidc verifying the ID token, and the access
// token does not act on latchkey's own API.
func TestRegisteredClientSignsInThroughConsent(t *testing.T) {
	ts := startServerAt(t, "127.0.0.1:0", t.TempDir(), newLiveClock(), withRegistration("open"))
	const pw = "correct-horse-42"
	ts.createUser("alice", pw, false)
	rp := newOIDCApp(t, ts.URL)
	reg := ts.mustRegister("", map[string]any{
		"client_name": "Third Party App", "redirect_uris": []string{rp.URL + "/callback"},
		"token_endpoint_auth_method": "none", "scope": "openid profile email offline_access",
	})
	id := reg["client_id"].(string)
	prov, err := oidc.NewProvider(t.Context(), ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp.conf.ClientID = id
	rp.verifier = prov.Verifier(&oidc.Config{ClientID: id})

	b := pagestest.NewBrowser(t)
	res := b.Response(chromedp.Navigate(rp.URL + "/start"))
	if !strings.HasPrefix(res.URL, ts.URL+"/login?request=") {
		t.Fatalf("the browser is at %s, want the login page", res.URL)
	}
	b.Fill(`input[name=username]`, "alice")
	b.Fill(`input[name=password]`, pw)
	res = b.Submit(`button[type=submit]`)
	if !strings.HasPrefix(res.URL, ts.URL+"/consent?request=") {
		t.Fatalf("after login the browser is at %s, want the consent page", res.URL)
	}
	if got := b.Text("h1"); !strings.Contains(got, "Third Party App") {
		t.Errorf("consent h1 %q", got)
	}
	b.Screenshots("registered-client-consent")
	res = b.Submit(`button[name=decision][value=allow]`)
	if !strings.HasPrefix(res.URL, rp.URL+"/callback?") || b.Text("#hello") != "Hello alice" {
		t.Fatalf("after consent the browser is at %s: %q", res.URL, b.Text("body"))
	}
	r := rp.last(t)
	if r.err != "" || r.token == nil {
		t.Fatalf("callback: %+v", r)
	}
	if scope := fmt.Sprint(r.token.Extra("scope")); strings.Contains(scope, "latchkey") {
		t.Errorf("the token has scope %q", scope)
	}
	if res := ts.get("/auth/users/me/", r.token.AccessToken); res.Status != http.StatusForbidden {
		t.Fatalf("/auth/users/me/ with a registered client's token: %s", res)
	}
	if res := ts.get("/admin/clients/", r.token.AccessToken); res.Status != http.StatusForbidden {
		t.Fatalf("/admin/clients/ with a registered client's token: %s", res)
	}
	if res := ts.get("/oauth2/userinfo", r.token.AccessToken); res.Status != http.StatusOK {
		t.Fatalf("userinfo with the token: %s", res)
	}
}

// Registered clients no token was issued to for
// oauth2.registration_client_ttl are deleted by the purge; used ones and
// admin-made ones stay.
func TestUnusedRegisteredClientsExpire(t *testing.T) {
	ts := startServer(t, withRegistration("open", func(c *config.Config) {
		c.OAuth2.RegistrationAllowConfidential = true
		c.OAuth2.RegistrationClientTTL = 90 * 24 * time.Hour
	}))
	admin := ts.adminToken()
	idle := ts.mustRegister("", publicClient)["client_id"].(string)
	worker := ts.mustRegister("", map[string]any{"client_name": "Worker", "grant_types": []string{"client_credentials"}, "scope": "reports"})
	id, secret := worker["client_id"].(string), worker["client_secret"].(string)
	if worker["token_endpoint_auth_method"] != "client_secret_basic" || !strings.HasPrefix(secret, "lk_cs_") || worker["client_secret_expires_at"] != 0.0 {
		t.Fatalf("confidential registration: %v", worker)
	}
	exists := func(id string) bool {
		t.Helper()
		res := ts.adminJSON(http.MethodGet, "/admin/clients/"+id+"/", admin, nil)
		return res.Status == http.StatusOK
	}
	for range 2 {
		if _, err := ts.clientToken(id, secret); err != nil {
			t.Fatalf("client_credentials for the registered client: %v", err)
		}
		ts.Clock.Advance(60 * 24 * time.Hour)
		admin = ts.adminToken()
		ts.srv.Purge(t.Context())
	}
	if exists(idle) {
		t.Error("a registered client unused for 120 days is still there")
	}
	if !exists(id) {
		t.Fatal("a registered client used 60 days ago was deleted")
	}
	if ts.adminJSON(http.MethodGet, "/admin/clients/"+id+"/", admin, nil).json(t)["last_used_at"] == nil {
		t.Error("the admin API shows no last_used_at for a used registered client")
	}
	ts.Clock.Advance(31 * 24 * time.Hour)
	admin = ts.adminToken()
	ts.srv.Purge(t.Context())
	if exists(id) {
		t.Error("a registered client unused for 91 days is still there")
	}
	if !exists(demoClient) {
		t.Error("the purge deleted the admin-made demo client")
	}
	if _, err := ts.clientToken(id, secret); err == nil {
		t.Error("the deleted client still gets tokens")
	}
}

// Two instances on one Postgres and one Redis: the open registration limit
// counts registrations made on either, and a client registered on one is
// managed on the other.
func TestClusterSharesRegistration(t *testing.T) {
	c := startClusterWith(t, map[string]string{
		"LATCHKEY_OAUTH2__REGISTRATION":                      "open",
		"LATCHKEY_OAUTH2__REGISTRATION_RATE_LIMIT__REQUESTS": "3",
	})
	reg := c.a.mustRegister("", publicClient)
	c.b.mustRegister("", publicClient)
	c.a.mustRegister("", publicClient)
	wantRegError(t, "the fourth registration, on B", c.b.registerClient("", publicClient), http.StatusTooManyRequests, "rate_limited")
	wantRegError(t, "the fourth registration, on A", c.a.registerClient("", publicClient), http.StatusTooManyRequests, "rate_limited")

	id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)
	res := c.b.get("/oauth2/register/"+id, rat)
	if res.Status != http.StatusOK {
		t.Fatalf("B reads the client A registered: %s", res)
	}
	next := res.json(t)["registration_access_token"].(string)
	wantBearerChallenge(t, "A with the token B replaced", c.a.get("/oauth2/register/"+id, rat))
	if res := c.a.adminJSON(http.MethodDelete, "/oauth2/register/"+id, next, nil); res.Status != http.StatusNoContent {
		t.Fatalf("A deletes with B's new token: %s", res)
	}
}
