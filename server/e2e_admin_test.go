package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// clientPage is the DRF list envelope of the admin API.
type clientPage struct {
	Count    int              `json:"count"`
	Next     *string          `json:"next"`
	Previous *string          `json:"previous"`
	Results  []map[string]any `json:"results"`
}

func TestAdminClientsAPIManagesClientsThatThenWork(t *testing.T) {
	ts := startServer(t, nil)
	adminTok := ts.adminToken()

	// An explicit client_id: generated ones are tested (and fail) on their
	// own in TestEveryGeneratedClientIDCanBeReadUpdatedAndRotated.
	res := ts.adminJSON(http.MethodPost, "/admin/clients/", adminTok, map[string]any{
		"client_id":                  "billing-service",
		"client_name":                "Billing service",
		"grant_types":                []string{"client_credentials"},
		"scope":                      "invoices.read invoices.write",
		"token_endpoint_auth_method": "client_secret_basic",
		"access_token_ttl":           600,
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %s", res)
	}
	wantNoStore(t, res)
	created := res.json(t)
	id, _ := created["client_id"].(string)
	secret, _ := created["client_secret"].(string)
	if id != "billing-service" || !strings.HasPrefix(secret, "lk_cs_") || len(secret) < len("lk_cs_")+43 {
		t.Fatalf("create answered client_id %q, client_secret %q", id, secret)
	}
	if issued, ok := created["client_id_issued_at"].(float64); !ok || int64(issued) != ts.Clock.Now().Unix() {
		t.Errorf("client_id_issued_at %v, want %d", created["client_id_issued_at"], ts.Clock.Now().Unix())
	}
	for k, v := range map[string]any{
		"client_name": "Billing service", "scope": "invoices.read invoices.write",
		"token_endpoint_auth_method": "client_secret_basic", "access_token_format": "jwt",
	} {
		if created[k] != v {
			t.Errorf("%s = %v, want %v", k, created[k], v)
		}
	}

	t.Run("the new client gets a client_credentials token", func(t *testing.T) {
		tok, err := ts.clientToken(id, secret)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Extra("scope") != "invoices.read invoices.write" || tok.Extra("expires_in") != float64(600) {
			t.Errorf("scope %v expires_in %v", tok.Extra("scope"), tok.Extra("expires_in"))
		}
		_, claims := mustVerifyJWT(t, tok.AccessToken, ts.jwks())
		if claims["client_id"] != id || claims["sub"] != id {
			t.Errorf("claims %v", claims)
		}
	})

	t.Run("the list is a DRF page without secrets", func(t *testing.T) {
		res := ts.get("/admin/clients/", adminTok)
		if res.Status != http.StatusOK {
			t.Fatalf("%s", res)
		}
		var p clientPage
		if err := json.Unmarshal(res.Body, &p); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range p.Results {
			ids = append(ids, c["client_id"].(string))
			if _, ok := c["client_secret"]; ok {
				t.Errorf("client %s is listed with its secret", c["client_id"])
			}
		}
		// Three: the new one, demo and the user API's first-party client.
		if p.Count != 3 || p.Next != nil || p.Previous != nil || !slices.Contains(ids, id) || !slices.Contains(ids, demoClient) || !slices.Contains(ids, "latchkey-api") {
			t.Errorf("list %s", res.Body)
		}
		if strings.Contains(string(res.Body), secret) || strings.Contains(string(res.Body), demoSecret) {
			t.Error("the list contains a secret")
		}

		res = ts.get("/admin/clients?page_size=1", adminTok)
		p = clientPage{}
		if err := json.Unmarshal(res.Body, &p); err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusOK || p.Count != 3 || len(p.Results) != 1 || p.Next == nil || p.Previous != nil {
			t.Errorf("page 1 of size 1: %s", res)
		}
		res = ts.get("/admin/clients/?page_size=1&page=3", adminTok)
		p = clientPage{}
		if err := json.Unmarshal(res.Body, &p); err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusOK || len(p.Results) != 1 || p.Next != nil || p.Previous == nil {
			t.Errorf("page 2 of size 1: %s", res)
		}
	})

	t.Run("one client is shown without its secret", func(t *testing.T) {
		for _, path := range []string{"/admin/clients/" + id + "/", "/admin/clients/" + id} {
			res := ts.get(path, adminTok)
			if res.Status != http.StatusOK {
				t.Fatalf("GET %s: %s", path, res)
			}
			m := res.json(t)
			if _, ok := m["client_secret"]; ok || strings.Contains(string(res.Body), secret) {
				t.Errorf("GET %s shows the secret", path)
			}
			if m["client_id"] != id || m["client_name"] != "Billing service" || m["access_token_ttl"] != float64(600) {
				t.Errorf("GET %s: %s", path, res.Body)
			}
		}
	})

	t.Run("PUT replaces the metadata and keeps the secret", func(t *testing.T) {
		res := ts.adminJSON(http.MethodPut, "/admin/clients/"+id+"/", adminTok, map[string]any{
			"client_id": id, "client_name": "Billing v2", "grant_types": []string{"client_credentials"}, "scope": "invoices.read",
		})
		if res.Status != http.StatusOK {
			t.Fatalf("PUT: %s", res)
		}
		m := res.json(t)
		if m["client_name"] != "Billing v2" || m["scope"] != "invoices.read" {
			t.Errorf("PUT answered %s", res.Body)
		}
		if _, ok := m["client_secret"]; ok {
			t.Error("PUT shows the secret")
		}
		if got := ts.get("/admin/clients/"+id+"/", adminTok).json(t); got["client_name"] != "Billing v2" {
			t.Errorf("GET after PUT: %v", got)
		}
		tok, err := ts.clientToken(id, secret)
		if err != nil {
			t.Fatalf("the secret stopped working after PUT: %v", err)
		}
		if tok.Extra("scope") != "invoices.read" {
			t.Errorf("scope after PUT %v", tok.Extra("scope"))
		}
		_, err = ts.clientToken(id, secret, "invoices.write")
		wantRetrieveError(t, err, "invalid_scope", http.StatusBadRequest)

		res = ts.adminJSON(http.MethodPut, "/admin/clients/"+id+"/", adminTok, map[string]any{"client_id": "someone-else"})
		wantOAuthError(t, res, http.StatusBadRequest, "invalid_client_metadata")
	})

	t.Run("rotate-secret retires the old secret at once", func(t *testing.T) {
		res := ts.adminJSON(http.MethodPost, "/admin/clients/"+id+"/rotate-secret/", adminTok, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("rotate-secret: %s", res)
		}
		wantNoStore(t, res)
		fresh, _ := res.json(t)["client_secret"].(string)
		if !strings.HasPrefix(fresh, "lk_cs_") || fresh == secret {
			t.Fatalf("rotate-secret answered client_secret %q", fresh)
		}
		_, err := ts.clientToken(id, secret)
		wantRetrieveError(t, err, "invalid_client", http.StatusUnauthorized)
		if _, err := ts.clientToken(id, fresh); err != nil {
			t.Fatalf("the new secret: %v", err)
		}
		secret = fresh
	})

	t.Run("DELETE removes the client", func(t *testing.T) {
		res := ts.adminJSON(http.MethodDelete, "/admin/clients/"+id+"/", adminTok, nil)
		if res.Status != http.StatusNoContent {
			t.Fatalf("DELETE: %s", res)
		}
		if res := ts.get("/admin/clients/"+id+"/", adminTok); res.Status != http.StatusNotFound {
			t.Errorf("GET after DELETE: %s", res)
		}
		if res := ts.adminJSON(http.MethodDelete, "/admin/clients/"+id+"/", adminTok, nil); res.Status != http.StatusNotFound {
			t.Errorf("DELETE again: %s", res)
		}
		_, err := ts.clientToken(id, secret)
		wantRetrieveError(t, err, "invalid_client", http.StatusUnauthorized)
	})

	t.Run("an unknown client is 404 everywhere", func(t *testing.T) {
		for _, tc := range []struct{ method, path string }{
			{http.MethodGet, "/admin/clients/nope/"},
			{http.MethodPut, "/admin/clients/nope/"},
			{http.MethodDelete, "/admin/clients/nope/"},
			{http.MethodPost, "/admin/clients/nope/rotate-secret/"},
			{http.MethodGet, "/admin/clients/no%00pe/"},
			{http.MethodDelete, "/admin/clients/no%00pe/"},
			{http.MethodPost, "/admin/clients/no%00pe/rotate-secret/"},
			{http.MethodGet, "/admin/clients/no'pe/"},
		} {
			var body any
			if tc.method == http.MethodPut {
				body = map[string]any{"client_name": "x", "grant_types": []string{"client_credentials"}}
			}
			if res := ts.adminJSON(tc.method, tc.path, adminTok, body); res.Status != http.StatusNotFound {
				t.Errorf("%s %s: %s", tc.method, tc.path, res)
			}
		}
	})
}

func TestAdminClientsAPIRefusesCallersWhoAreNotStaff(t *testing.T) {
	ts := startServer(t, nil)
	ts.createUser("bob", "bob-password-1", false)
	bob := ts.passwordToken("bob", "bob-password-1", "openid").AccessToken
	cc, err := ts.clientToken(demoClient, demoSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"client_name": "x", "grant_types": []string{"client_credentials"}}
	for _, tc := range []struct {
		name   string
		token  string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a garbage token", "garbage", http.StatusUnauthorized},
		{"a non-staff user's token", bob, http.StatusForbidden},
		{"a client_credentials token", cc.AccessToken, http.StatusForbidden},
	} {
		t.Run(tc.name+" is "+http.StatusText(tc.status), func(t *testing.T) {
			for _, req := range []struct {
				method, path string
				body         any
			}{
				{http.MethodGet, "/admin/clients/", nil},
				{http.MethodPost, "/admin/clients/", body},
				{http.MethodGet, "/admin/clients/demo/", nil},
				{http.MethodDelete, "/admin/clients/demo/", nil},
				{http.MethodPost, "/admin/clients/demo/rotate-secret/", nil},
			} {
				res := ts.adminJSON(req.method, req.path, tc.token, req.body)
				if res.Status != tc.status {
					t.Errorf("%s %s: %s, want %d", req.method, req.path, res, tc.status)
				}
				if tc.status == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: WWW-Authenticate %q", req.method, req.path, res.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	if _, err := ts.clientToken(demoClient, demoSecret); err != nil {
		t.Errorf("the demo client was changed by a refused call: %v", err)
	}
	clients, err := ts.srv.Store().ListClients(t.Context())
	if err != nil || len(clients) != 2 {
		t.Errorf("%d clients (%v), want only demo and latchkey-api", len(clients), err)
	}
}

func TestAdminClientsAPIRejectsInvalidMetadata(t *testing.T) {
	ts := startServer(t, nil)
	adminTok := ts.adminToken()
	for _, tc := range []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"an http redirect URI on a public host", `{"client_name":"x","grant_types":["password"],"redirect_uris":["http://example.com/cb"]}`, 400, "invalid_redirect_uri"},
		{"a redirect URI with a fragment", `{"client_name":"x","grant_types":["password"],"redirect_uris":["https://example.com/cb#x"]}`, 400, "invalid_redirect_uri"},
		{"a relative redirect URI", `{"client_name":"x","grant_types":["password"],"redirect_uris":["/cb"]}`, 400, "invalid_redirect_uri"},
		{"a grant type the server does not serve yet", `{"client_name":"x","grant_types":["urn:ietf:params:oauth:grant-type:jwt-bearer"]}`, 400, "invalid_client_metadata"},
		{"the code flow without a redirect URI", `{"client_name":"x","grant_types":["authorization_code"]}`, 400, "invalid_redirect_uri"},
		{"a javascript: redirect URI", `{"client_name":"x","grant_types":["authorization_code"],"redirect_uris":["javascript:alert(1)"]}`, 400, "invalid_redirect_uri"},
		{"a redirect URI with userinfo", `{"client_name":"x","grant_types":["authorization_code"],"redirect_uris":["https://user@example.com/cb"]}`, 400, "invalid_redirect_uri"},
		{"a wildcard redirect URI", `{"client_name":"x","grant_types":["authorization_code"],"redirect_uris":["https://*.example.com/cb"]}`, 400, "invalid_redirect_uri"},
		{"an unknown grant type", `{"client_name":"x","grant_types":["implicit"]}`, 400, "invalid_client_metadata"},
		{"an unknown token endpoint auth method", `{"client_name":"x","token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"a public client with client_credentials", `{"client_name":"x","token_endpoint_auth_method":"none","grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"an unknown access token format", `{"client_name":"x","grant_types":["client_credentials"],"access_token_format":"saml"}`, 400, "invalid_client_metadata"},
		{"an unknown JSON field", `{"client_name":"x","grant_types":["client_credentials"],"colour":"red"}`, 400, "invalid_client_metadata"},
		{"a string where a list belongs", `{"client_name":"x","grant_types":"client_credentials"}`, 400, "invalid_client_metadata"},
		{"a number where a string belongs", `{"client_name":42,"grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"a client-chosen secret", `{"client_name":"x","grant_types":["client_credentials"],"client_secret":"mine"}`, 400, "invalid_client_metadata"},
		{"a bad client_id", `{"client_id":"has space","grant_types":["client_credentials"]}`, 400, "invalid_client_metadata"},
		{"a taken client_id", `{"client_id":"demo","grant_types":["client_credentials"]}`, 409, "invalid_client_metadata"},
		{"a negative lifetime", `{"client_name":"x","grant_types":["client_credentials"],"access_token_ttl":-1}`, 400, "invalid_client_metadata"},
		{"a scope with a quote", `{"client_name":"x","grant_types":["client_credentials"],"scope":"a\"b"}`, 400, "invalid_client_metadata"},
		{"malformed JSON", `{"client_name":`, 400, "invalid_client_metadata"},
		{"two JSON objects", `{"client_name":"x","grant_types":["client_credentials"]}{}`, 400, "invalid_client_metadata"},
		{"a JSON array", `[]`, 400, "invalid_client_metadata"},
	} {
		t.Run(tc.name+" is "+tc.code, func(t *testing.T) {
			res := ts.adminJSON(http.MethodPost, "/admin/clients/", adminTok, tc.body)
			wantOAuthError(t, res, tc.status, tc.code)
		})
	}
	t.Run("a form body is 415", func(t *testing.T) {
		req := ts.newRequest(http.MethodPost, "/admin/clients/", strings.NewReader(url.Values{"client_name": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+adminTok)
		if res := ts.do(req); res.Status != http.StatusUnsupportedMediaType {
			t.Errorf("%s, want 415", res)
		}
	})
	t.Run("a loopback http redirect URI with any port is fine", func(t *testing.T) {
		ts.createClient(adminTok, map[string]any{
			"client_name": "cli", "grant_types": []string{"password", "refresh_token"}, "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"http://127.0.0.1:53682/callback", "http://localhost/cb", "http://[::1]:8080/cb"},
		})
	})
	clients, err := ts.srv.Store().ListClients(t.Context())
	if err != nil || len(clients) != 3 {
		t.Errorf("%d clients (%v), want demo, latchkey-api and cli only: invalid metadata was stored", len(clients), err)
	}
}

func TestOpaqueAccessTokensIntrospectAndRevoke(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.createClient(ts.adminToken(), map[string]any{
		"client_name": "opaque", "access_token_format": "opaque",
		"grant_types": []string{"client_credentials", "password", "refresh_token"}, "scope": "openid profile",
	})
	id, secret := c["client_id"].(string), c["client_secret"].(string)

	t.Run("client_credentials", func(t *testing.T) {
		tok, err := ts.clientToken(id, secret, "profile")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok.AccessToken, "lk_at_") || strings.Count(tok.AccessToken, ".") != 0 {
			t.Fatalf("access token %q is not an lk_at_ reference token", tok.AccessToken)
		}
		active, m := ts.introspectActive(tok.AccessToken)
		if !active || m["client_id"] != id || m["sub"] != id || m["scope"] != "profile" || m["token_type"] != "Bearer" || m["iss"] != ts.URL {
			t.Errorf("introspection %v", m)
		}
		if m["jti"] == nil || m["exp"] == nil || m["iat"] == nil {
			t.Errorf("introspection lacks jti/exp/iat: %v", m)
		}

		// Another client cannot revoke it (RFC 7009 §2.1) ...
		res := ts.postForm("/oauth2/revoke", url.Values{"token": {tok.AccessToken}}, demoClient, demoSecret)
		wantOAuthError(t, res, http.StatusBadRequest, "unauthorized_client")
		if active, _ := ts.introspectActive(tok.AccessToken); !active {
			t.Error("another client revoked the token")
		}
		// ... its own client can.
		ts.revoke(tok.AccessToken, id, secret)
		if active, _ := ts.introspectActive(tok.AccessToken); active {
			t.Error("the revoked opaque token is still active")
		}
	})

	t.Run("password grant, and revoking the refresh token ends the opaque access token", func(t *testing.T) {
		res := ts.postForm("/oauth2/token", url.Values{
			"grant_type": {"password"}, "username": {adminUser}, "password": {adminPass}, "scope": {"openid profile"},
		}, id, secret)
		if res.Status != http.StatusOK {
			t.Fatalf("%s", res)
		}
		m := res.json(t)
		access, refresh := m["access_token"].(string), m["refresh_token"].(string)
		if !strings.HasPrefix(access, "lk_at_") {
			t.Fatalf("access token %q", access)
		}
		active, info := ts.introspectActive(access)
		if !active || info["username"] != adminUser || info["sub"] != itoa(ts.user(adminUser).ID) {
			t.Errorf("introspection %v", info)
		}
		if res := ts.get("/oauth2/userinfo", access); res.Status != http.StatusOK {
			t.Errorf("userinfo with an opaque token: %s", res)
		}
		ts.revoke(refresh, id, secret)
		if active, _ := ts.introspectActive(access); active {
			t.Error("the opaque access token is active after its refresh token was revoked")
		}
	})

	t.Run("an opaque token expires", func(t *testing.T) {
		tok, err := ts.clientToken(id, secret)
		if err != nil {
			t.Fatal(err)
		}
		ts.Clock.Advance(accessTTL)
		if active, _ := ts.introspectActive(tok.AccessToken); active {
			t.Error("the opaque token is active at its expiry")
		}
	})
}

func TestAClientWhoseIDLooksLikeAUserIDDoesNotActAsThatUser(t *testing.T) {
	ts := startServer(t, nil)
	admin := ts.user(adminUser)
	// All-digit client IDs would share the namespace of user IDs (the sub of
	// a client's own token is its client ID), so they are refused.
	res := ts.adminJSON(http.MethodPost, "/admin/clients/", ts.adminToken(), map[string]any{
		"client_id": itoa(admin.ID), "client_name": "numeric", "grant_types": []string{"client_credentials"},
	})
	wantOAuthError(t, res, http.StatusBadRequest, "invalid_client_metadata")

	// A client token never opens a user's doors, whatever its sub looks like.
	tok, err := ts.clientToken(demoClient, demoSecret)
	if err != nil {
		t.Fatal(err)
	}
	if res := ts.get("/admin/clients/", tok.AccessToken); res.Status == http.StatusOK {
		t.Errorf("a client_credentials token is accepted by the admin API: %s", res.String())
	}
	if res := ts.get("/oauth2/userinfo", tok.AccessToken); res.Status == http.StatusOK {
		t.Errorf("a client_credentials token gets userinfo: %s", res.Body)
	}
}

func TestEveryGeneratedClientIDCanBeReadUpdatedAndRotated(t *testing.T) {
	ts := startServer(t, nil)
	adminTok := ts.adminToken()
	// Generated IDs are random: enough of them meet every first character.
	const n = 200
	for i := range n {
		c := ts.createClient(adminTok, map[string]any{"client_name": "generated", "grant_types": []string{"client_credentials"}})
		id := c["client_id"].(string)
		path := "/admin/clients/" + url.PathEscape(id) + "/"
		res := ts.adminJSON(http.MethodPut, path, adminTok, map[string]any{
			"client_name": "generated v2", "grant_types": []string{"client_credentials"},
		})
		if res.Status != http.StatusOK {
			t.Fatalf("client %d of %d, generated id %q: PUT answered %s", i+1, n, id, res)
		}
		if res := ts.get(path, adminTok); res.Status != http.StatusOK {
			t.Fatalf("generated id %q: GET answered %s", id, res)
		}
		if res := ts.adminJSON(http.MethodPost, path+"rotate-secret/", adminTok, nil); res.Status != http.StatusOK {
			t.Fatalf("generated id %q: rotate-secret answered %s", id, res)
		}
	}
}
