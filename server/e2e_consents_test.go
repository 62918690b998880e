package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/config"
)

// consentPage is a DRF page of consents.
type consentPage struct {
	Count    int              `json:"count"`
	Next     *string          `json:"next"`
	Previous *string          `json:"previous"`
	Results  []map[string]any `json:"results"`
}

func (ts *testServer) consents(path, auth string) consentPage {
	ts.t.Helper()
	res := ts.call(http.MethodGet, path, auth, nil)
	if res.Status != http.StatusOK {
		ts.t.Fatalf("GET %s: %s", path, res)
	}
	var p consentPage
	if err := json.Unmarshal(res.Body, &p); err != nil {
		ts.t.Fatalf("GET %s: %v: %s", path, err, res.Body)
	}
	if p.Count != len(p.Results) || p.Next != nil || p.Previous != nil {
		ts.t.Fatalf("GET %s: not one whole DRF page: %s", path, res.Body)
	}
	return p
}

// consentClient registers a confidential third-party client that logs users
// in with the password grant (so a test can hold its refresh tokens).
func (ts *testServer) consentClient(adminTok, id, name string) *oauth2.Config {
	ts.t.Helper()
	created := ts.createClient(adminTok, map[string]any{
		"client_id": id, "client_name": name, "grant_types": []string{"password", "refresh_token"},
		"scope": "openid profile email offline_access",
	})
	if created["skip_consent"] != false {
		ts.t.Fatalf("a client registered without skip_consent has %v", created["skip_consent"])
	}
	return &oauth2.Config{
		ClientID: id, ClientSecret: created["client_secret"].(string), Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{TokenURL: ts.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// The consents API end to end, on each durable store (and with the tokens
// in Redis): a consent granted through the storage interface (as the
// consent page does) is listed to its user and to staff; withdrawing it
// ends the user's sessions of that client and no other, writes a
// consent.revoked event naming who did it; another user's or an unknown
// client's consent is not found; without credentials it is 401.
func TestConsentsAPI(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*testing.T, *config.Config)
	}{
		{"sqlite", func(*testing.T, *config.Config) {}},
		{"postgres", func(t *testing.T, c *config.Config) {
			dsn, _ := postgresDSN(t)
			c.Storage.Driver, c.Storage.Postgres.DSN = "postgres", dsn
		}},
		{"postgres with tokens in redis", func(t *testing.T, c *config.Config) {
			dsn, _ := postgresDSN(t)
			c.Storage.Driver, c.Storage.Postgres.DSN = "postgres", dsn
			redisURL := testRedisURL(t)
			prefix, _ := redisPrefix(t, redisURL)
			c.Storage.Redis.URL, c.Storage.Redis.Prefix, c.Storage.Tokens = redisURL, prefix, "redis"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testConsentsAPI(t, func(c *config.Config) { tc.mutate(t, c) }) })
	}
}

func testConsentsAPI(t *testing.T, mutate func(*config.Config)) {
	ts := startServer(t, mutate)
	ctx := t.Context()
	adminTok := ts.adminToken()
	admin := bearer(adminTok)
	adminID := ts.user(adminUser).ID
	alice := ts.createUser("alice", "alice-pass-1234", false)
	bob := ts.createUser("bob", "bob-pass-1234", false)
	aliceSub, bobSub := strconv.FormatInt(alice.ID, 10), strconv.FormatInt(bob.ID, 10)
	crm := ts.consentClient(adminTok, "crm", "The CRM")
	ts.consentClient(adminTok, "wiki", "Wiki")

	// Alice signed in to the CRM twice, bob once; each holds a session.
	crmTokens := make([]*oauth2.Token, 2)
	for i := range crmTokens {
		tok, err := crm.PasswordCredentialsToken(ts.ctx(), "alice", "alice-pass-1234")
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("alice's CRM login: %v (refresh %q)", err, tok.RefreshToken)
		}
		crmTokens[i] = tok
	}
	bobCRM, err := crm.PasswordCredentialsToken(ts.ctx(), "bob", "bob-pass-1234")
	if err != nil {
		t.Fatal(err)
	}
	// The consent page's decisions, through the storage interface.
	store := ts.srv.Store()
	granted := ts.Clock.Now()
	if _, err := store.GrantConsent(ctx, aliceSub, "crm", []string{"openid", "email"}, granted); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GrantConsent(ctx, aliceSub, "wiki", []string{"openid"}, granted.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GrantConsent(ctx, bobSub, "crm", []string{"openid"}, granted); err != nil {
		t.Fatal(err)
	}

	aliceAccess, _ := ts.jwtPair("alice", "alice-pass-1234")
	bobAccess, _ := ts.jwtPair("bob", "bob-pass-1234")
	aliceAuth, bobAuth := bearer(aliceAccess), bearer(bobAccess)

	// Listing: both path forms, newest change first, with the client's name.
	for _, path := range []string{"/auth/users/me/consents/", "/auth/users/me/consents"} {
		p := ts.consents(path, aliceAuth)
		if p.Count != 2 {
			t.Fatalf("GET %s: %d consents, want 2: %+v", path, p.Count, p.Results)
		}
		c := p.Results[0]
		if c["client_id"] != "crm" || c["client_name"] != "The CRM" || p.Results[1]["client_id"] != "wiki" {
			t.Errorf("GET %s: %+v, want crm then wiki", path, p.Results)
		}
		if scopes, _ := c["scopes"].([]any); !slices.Equal(scopes, []any{"email", "openid"}) {
			t.Errorf("crm's scopes %v, want [email openid]", c["scopes"])
		}
		for _, f := range []string{"created", "updated"} {
			s, _ := c[f].(string)
			if ts, err := time.Parse(time.RFC3339Nano, s); err != nil || !ts.Equal(granted.UTC().Truncate(time.Millisecond)) {
				t.Errorf("%s = %q, want %v", f, s, granted)
			}
		}
	}
	res := ts.call(http.MethodGet, "/auth/users/me/consents/?page_size=1", aliceAuth, nil)
	if m := res.json(t); res.Status != http.StatusOK || m["count"] != float64(2) || m["next"] == nil || len(m["results"].([]any)) != 1 {
		t.Errorf("a page of one: %s", res)
	}

	// Without credentials: 401 for each route.
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/auth/users/me/consents/"},
		{http.MethodDelete, "/auth/users/me/consents/crm/"},
	} {
		wantDetail(t, ts.call(r.method, r.path, "", nil), http.StatusUnauthorized, "Authentication credentials were not provided.")
	}
	// Unknown clients, and a client alice never consented to, are not found.
	for _, id := range []string{"ghost", "latchkey-api", "demo"} {
		wantDetail(t, ts.call(http.MethodDelete, "/auth/users/me/consents/"+id+"/", aliceAuth, nil), http.StatusNotFound, "Not found.")
	}
	// Bob cannot reach alice's consent: he withdraws his own only.
	wantDetail(t, ts.call(http.MethodDelete, "/auth/users/me/consents/wiki/", bobAuth, nil), http.StatusNotFound, "Not found.")
	if p := ts.consents("/auth/users/me/consents/", aliceAuth); p.Count != 2 {
		t.Fatalf("alice's consents after refused calls: %+v", p.Results)
	}

	// Alice withdraws her consent to the CRM.
	if res := ts.call(http.MethodDelete, "/auth/users/me/consents/crm", aliceAuth, nil); res.Status != http.StatusNoContent {
		t.Fatalf("DELETE crm: %s", res)
	}
	if p := ts.consents("/auth/users/me/consents/", aliceAuth); p.Count != 1 || p.Results[0]["client_id"] != "wiki" {
		t.Errorf("after the withdrawal: %+v, want wiki only", p.Results)
	}
	wantDetail(t, ts.call(http.MethodDelete, "/auth/users/me/consents/crm/", aliceAuth, nil), http.StatusNotFound, "Not found.")
	// The CRM lost alice's sessions: refresh tokens and their access tokens.
	for i, tok := range crmTokens {
		_, err := crm.TokenSource(ts.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
		if active, _ := ts.introspectActive(tok.AccessToken); active {
			t.Errorf("alice's CRM access token %d is still active", i)
		}
	}
	// Bob's CRM session and alice's own API session are untouched.
	if _, err := crm.TokenSource(ts.ctx(), &oauth2.Token{RefreshToken: bobCRM.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err != nil {
		t.Errorf("bob's CRM session ended with alice's consent: %v", err)
	}
	if res := ts.call(http.MethodGet, "/auth/users/me/", aliceAuth, nil); res.Status != http.StatusOK {
		t.Errorf("alice's own session ended: %s", res)
	}
	if fams, err := store.ListFamilies(ctx, aliceSub, ts.Clock.Now()); err == nil && len(fams) > 0 {
		// Only the SQL store's families are looked at here; with the tokens
		// in Redis the refresh above is the proof.
		for _, f := range fams {
			if f.ClientID == "crm" {
				t.Errorf("alice's CRM family %s is still active in SQL", f.ID)
			}
		}
	}

	// The admin API: staff list and withdraw any user's consents.
	aliceAdminPath := "/admin/users/" + aliceSub + "/consents/"
	wantDetail(t, ts.call(http.MethodGet, aliceAdminPath, aliceAuth, nil), http.StatusForbidden, "You do not have permission to perform this action.")
	wantDetail(t, ts.call(http.MethodDelete, aliceAdminPath+"wiki/", bobAuth, nil), http.StatusForbidden, "You do not have permission to perform this action.")
	wantDetail(t, ts.call(http.MethodGet, "/admin/users/999999/consents/", admin, nil), http.StatusNotFound, "Not found.")
	wantDetail(t, ts.call(http.MethodGet, "/admin/users/not-a-number/consents/", admin, nil), http.StatusNotFound, "Not found.")
	for _, path := range []string{aliceAdminPath, "/admin/users/" + aliceSub + "/consents"} {
		if p := ts.consents(path, admin); p.Count != 1 || p.Results[0]["client_id"] != "wiki" || p.Results[0]["client_name"] != "Wiki" {
			t.Errorf("GET %s: %+v", path, p.Results)
		}
	}
	if p := ts.consents("/admin/users/"+bobSub+"/consents/", admin); p.Count != 1 || p.Results[0]["client_id"] != "crm" {
		t.Errorf("bob's consents: %+v", p.Results)
	}
	wantDetail(t, ts.call(http.MethodDelete, aliceAdminPath+"crm/", admin, nil), http.StatusNotFound, "Not found.")
	if res := ts.call(http.MethodDelete, aliceAdminPath+"wiki/", admin, nil); res.Status != http.StatusNoContent {
		t.Fatalf("admin DELETE wiki: %s", res)
	}
	if p := ts.consents("/auth/users/me/consents/", aliceAuth); p.Count != 0 || p.Results == nil {
		t.Errorf("alice's consents after the admin's withdrawal: %+v", p.Results)
	}
	if p := ts.consents("/auth/users/me/consents/", bobAuth); p.Count != 1 {
		t.Errorf("bob's consent went with alice's: %+v", p.Results)
	}

	// Audit: one consent.revoked per withdrawal, naming who did it.
	events := ts.events(admin, "type=consent.revoked")
	if len(events) != 2 {
		t.Fatalf("%d consent.revoked events, want 2: %v", len(events), events)
	}
	byAdmin, byAlice := events[0], events[1] // newest first
	for _, c := range []struct {
		ev            map[string]any
		actor, client string
		sessions      string
	}{
		{byAlice, "user:" + aliceSub, "crm", "2"},
		{byAdmin, "user:" + strconv.FormatInt(adminID, 10), "wiki", "0"},
	} {
		detail, _ := c.ev["detail"].(map[string]any)
		if c.ev["actor"] != c.actor || c.ev["subject"] != aliceSub || c.ev["client_id"] != c.client || c.ev["outcome"] != "success" ||
			detail["sessions_revoked"] != c.sessions {
			t.Errorf("event %v, want actor %s, subject %s, client %s, %s sessions", c.ev, c.actor, aliceSub, c.client, c.sessions)
		}
	}
	if n := len(ts.events(admin, "type=session.revoked&client_id=crm")); n != 2 {
		t.Errorf("%d session.revoked events of the CRM, want 2", n)
	}
}

// An admin API key lists and withdraws consents too, and is named as the
// actor.
func TestConsentsAdminKey(t *testing.T) {
	ts := startServer(t, nil)
	alice := ts.createUser("alice", "alice-pass-1234", false)
	sub := strconv.FormatInt(alice.ID, 10)
	ts.consentClient(ts.adminToken(), "crm", "The CRM")
	if _, err := ts.srv.Store().GrantConsent(t.Context(), sub, "crm", []string{"openid"}, ts.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	res := ts.adminJSON(http.MethodPost, "/admin/api-keys/", ts.adminToken(), map[string]any{"name": "ops"})
	if res.Status != http.StatusCreated {
		t.Fatalf("create admin key: %s", res)
	}
	m := res.json(t)
	key, _ := m["key"].(string)
	keyID, _ := m["id"].(string)
	if key == "" || keyID == "" {
		t.Fatalf("admin key answer: %s", res)
	}
	if p := ts.consents("/admin/users/"+sub+"/consents/", bearer(key)); p.Count != 1 {
		t.Fatalf("consents by admin key: %+v", p.Results)
	}
	if res := ts.call(http.MethodDelete, "/admin/users/"+sub+"/consents/crm/", bearer(key), nil); res.Status != http.StatusNoContent {
		t.Fatalf("DELETE by admin key: %s", res)
	}
	ev := ts.events(bearer(key), "type=consent.revoked")
	if len(ev) != 1 || ev[0]["actor"] != "key:"+keyID {
		t.Errorf("events %v, want one by key:%s", ev, keyID)
	}
}

// skip_consent and post_logout_redirect_uris are client metadata of the
// admin API: created, read, listed and replaced; the bootstrap demo client
// and the built-in latchkey-api client are first-party.
func TestClientSkipConsentAndPostLogoutRedirectURIs(t *testing.T) {
	ts := startServer(t, nil)
	adminTok := ts.adminToken()
	for _, id := range []string{demoClient, "latchkey-api"} {
		res := ts.adminJSON(http.MethodGet, "/admin/clients/"+id+"/", adminTok, nil)
		if res.Status != http.StatusOK || res.json(t)["skip_consent"] != true {
			t.Errorf("%s: %s, want skip_consent true", id, res)
		}
	}
	created := ts.createClient(adminTok, map[string]any{
		"client_id": "portal", "grant_types": []string{"client_credentials"}, "skip_consent": true,
		"post_logout_redirect_uris": []string{"https://portal.example.com/bye", "com.example.portal:/bye"},
	})
	want := func(what string, m map[string]any, skip bool, uris ...any) {
		t.Helper()
		got, _ := m["post_logout_redirect_uris"].([]any)
		if m["skip_consent"] != skip || !slices.Equal(got, uris) {
			t.Errorf("%s: skip_consent %v, post_logout_redirect_uris %v; want %v, %v", what, m["skip_consent"], got, skip, uris)
		}
	}
	want("create", created, true, "https://portal.example.com/bye", "com.example.portal:/bye")
	want("get", ts.adminJSON(http.MethodGet, "/admin/clients/portal/", adminTok, nil).json(t), true, "https://portal.example.com/bye", "com.example.portal:/bye")

	res := ts.adminJSON(http.MethodPut, "/admin/clients/portal/", adminTok, map[string]any{
		"grant_types": []string{"client_credentials"}, "post_logout_redirect_uris": []string{"http://127.0.0.1:9000/bye"},
	})
	if res.Status != http.StatusOK {
		t.Fatalf("PUT: %s", res)
	}
	want("update without skip_consent (RFC 7592 replaces: false)", res.json(t), false, "http://127.0.0.1:9000/bye")
	want("get after update", ts.adminJSON(http.MethodGet, "/admin/clients/portal/", adminTok, nil).json(t), false, "http://127.0.0.1:9000/bye")
	res = ts.adminJSON(http.MethodPut, "/admin/clients/portal/", adminTok, map[string]any{
		"grant_types": []string{"client_credentials"}, "skip_consent": true,
	})
	want("update to skip_consent", res.json(t), true)

	var list []map[string]any
	res = ts.adminJSON(http.MethodGet, "/admin/clients/", adminTok, nil)
	if err := json.Unmarshal(res.Body, &list); err != nil {
		var page struct {
			Results []map[string]any `json:"results"`
		}
		if err := json.Unmarshal(res.Body, &page); err != nil {
			t.Fatalf("list: %s", res)
		}
		list = page.Results
	}
	found := false
	for _, c := range list {
		if c["client_id"] == "portal" {
			found = true
			want("list", c, true)
		}
	}
	if !found {
		t.Errorf("list lacks portal: %s", res)
	}
	stored, err := ts.srv.Store().GetClient(t.Context(), "portal")
	if err != nil || !stored.SkipConsent {
		t.Errorf("stored client: %+v, %v", stored, err)
	}
	// A bad skip_consent is refused and changes nothing.
	res = ts.adminJSON(http.MethodPut, "/admin/clients/portal/", adminTok, `{"grant_types":["client_credentials"],"skip_consent":"yes"}`)
	if res.Status != http.StatusBadRequest {
		t.Errorf("skip_consent \"yes\": %s, want 400", res)
	}
	if stored, _ := ts.srv.Store().GetClient(t.Context(), "portal"); !stored.SkipConsent {
		t.Error("a refused update changed skip_consent")
	}
}
