package server_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/importer"
	"github.com/latchkey-auth/latchkey/server"
	"github.com/latchkey-auth/latchkey/storage"
)

// storePermissions is contract §6's example: the seeds' groups, two
// product scopes and a department claim released by profile.
func storePermissions(c *config.Config) {
	c.Permissions = config.Permissions{
		Groups: map[string][]string{
			"ProductManagers": {"store.view_product", "store.change_product", "store.can_publish_product"},
		},
		Scopes: map[string]config.ScopeRule{
			"products:read":  {Requires: []string{"store.view_product"}, Covers: []string{"store.view_*"}},
			"products:write": {Requires: []string{"store.change_product"}, Covers: []string{"store.*"}},
		},
		Claims: map[string]map[string]string{"profile": {"department": "profile.department"}},
	}
}

const shopScope = "openid profile email offline_access groups products:read products:write"

// shopClient registers a confidential client that may ask for the product
// scopes and returns an x/oauth2 config for it.
func shopClient(t *testing.T, ts *testServer, admin string) *oauth2.Config {
	t.Helper()
	cl := ts.createClient(admin, map[string]any{
		"client_name": "Shop", "scope": shopScope, "token_endpoint_auth_method": "client_secret_basic",
		"grant_types": []string{"password", "refresh_token", "client_credentials"},
	})
	return &oauth2.Config{
		ClientID: cl["client_id"].(string), ClientSecret: cl["client_secret"].(string),
		Endpoint: oauth2.Endpoint{TokenURL: ts.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

func withScopes(c *oauth2.Config, scopes ...string) *oauth2.Config {
	cp := *c
	cp.Scopes = scopes
	return &cp
}

// stringsClaim reads a JSON array claim, failing when it is absent.
func stringsClaim(t *testing.T, claims map[string]any, name string) []string {
	t.Helper()
	v, ok := claims[name]
	if !ok {
		t.Fatalf("no %s claim in %v", name, claims)
	}
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%s is %#v, want an array", name, v)
	}
	out := []string{}
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

func wantList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestPermissionMapperDecidesScopesAndClaims(t *testing.T) {
	ts := startServer(t, storePermissions)
	ctx := ts.ctx()
	admin := ts.adminToken()
	shop := shopClient(t, ts, admin)

	// permissions.groups seeded the group at start.
	g, err := ts.srv.Store().GetGroup(ctx, "ProductManagers")
	if err != nil || len(g.Permissions) != 3 {
		t.Fatalf("seeded group: %+v, %v", g, err)
	}
	alice := ts.createUser("alice", "alice-pass-123", false)
	if _, err := ts.srv.Store().UpdateUser(ctx, alice.ID, func(u *storage.User) error {
		u.Profile = map[string]any{"department": "sales"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	members := "/admin/groups/ProductManagers/members/" + itoa(alice.ID) + "/"
	if res := ts.adminJSON(http.MethodPost, members, admin, nil); res.Status >= 300 {
		t.Fatalf("add member: %s", res)
	}
	ts.createUser("bob", "bob-pass-1234", false)

	t.Run("a scope releases only the permissions it covers", func(t *testing.T) {
		tok, err := withScopes(shop, "openid", "products:read").PasswordCredentialsToken(ctx, "alice", "alice-pass-123")
		if err != nil {
			t.Fatal(err)
		}
		if tok.Extra("scope") != "openid products:read" {
			t.Errorf("scope %v", tok.Extra("scope"))
		}
		_, claims, _ := jwtParts(t, tok.AccessToken)
		wantList(t, "permissions", stringsClaim(t, claims, "permissions"), "store.view_product")
		wantList(t, "groups", stringsClaim(t, claims, "groups"), "ProductManagers")

		tok, err = withScopes(shop, "openid", "products:write").PasswordCredentialsToken(ctx, "alice", "alice-pass-123")
		if err != nil {
			t.Fatal(err)
		}
		_, claims, _ = jwtParts(t, tok.AccessToken)
		wantList(t, "permissions", stringsClaim(t, claims, "permissions"), "store.can_publish_product", "store.change_product", "store.view_product")
	})

	t.Run("a scope the user does not qualify for is dropped, and the arrays stay", func(t *testing.T) {
		tok, err := withScopes(shop, "openid", "products:read", "products:write").PasswordCredentialsToken(ctx, "bob", "bob-pass-1234")
		if err != nil {
			t.Fatal(err)
		}
		if tok.Extra("scope") != "openid" {
			t.Errorf("scope %v, want openid", tok.Extra("scope"))
		}
		_, claims, _ := jwtParts(t, tok.AccessToken)
		wantList(t, "permissions", stringsClaim(t, claims, "permissions"))
		wantList(t, "groups", stringsClaim(t, claims, "groups"))
		active, info := ts.introspectActive(tok.AccessToken)
		if !active {
			t.Fatal("bob's token is inactive")
		}
		wantList(t, "introspected permissions", stringsClaim(t, info, "permissions"))
		wantList(t, "introspected groups", stringsClaim(t, info, "groups"))
	})

	t.Run("opaque user tokens introspect with the arrays too", func(t *testing.T) {
		cl := ts.createClient(admin, map[string]any{
			"client_name": "Opaque shop", "scope": shopScope, "grant_types": []string{"password"},
			"access_token_format": "opaque",
		})
		conf := &oauth2.Config{
			ClientID: cl["client_id"].(string), ClientSecret: cl["client_secret"].(string), Scopes: []string{"openid", "products:read"},
			Endpoint: oauth2.Endpoint{TokenURL: ts.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
		}
		for user, want := range map[string][]string{"bob": nil, "alice": {"store.view_product"}} {
			tok, err := conf.PasswordCredentialsToken(ctx, user, map[string]string{"bob": "bob-pass-1234", "alice": "alice-pass-123"}[user])
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok.AccessToken, "lk_at_") {
				t.Fatalf("not an opaque token: %.12s", tok.AccessToken)
			}
			active, info := ts.introspectActive(tok.AccessToken)
			if !active {
				t.Fatalf("%s's opaque token is inactive", user)
			}
			wantList(t, user+"'s introspected permissions", stringsClaim(t, info, "permissions"), want...)
			stringsClaim(t, info, "groups")
		}
	})

	t.Run("nothing the user qualifies for is invalid_scope", func(t *testing.T) {
		_, err := withScopes(shop, "products:write").PasswordCredentialsToken(ctx, "bob", "bob-pass-1234")
		wantRetrieveError(t, err, "invalid_scope", http.StatusBadRequest)
	})

	t.Run("client_credentials tokens carry neither groups nor permissions", func(t *testing.T) {
		tok, err := ts.clientToken(shop.ClientID, shop.ClientSecret, "products:write")
		if err != nil {
			t.Fatal(err)
		}
		if tok.Extra("scope") != "products:write" {
			t.Errorf("scope %v", tok.Extra("scope"))
		}
		_, claims, _ := jwtParts(t, tok.AccessToken)
		_, info := ts.introspectActive(tok.AccessToken)
		for _, m := range []map[string]any{claims, info} {
			for _, k := range []string{"groups", "permissions"} {
				if _, ok := m[k]; ok {
					t.Errorf("a client token carries %s: %v", k, m)
				}
			}
		}
	})

	t.Run("go-oidc verifies the ID token, and userinfo speaks for the same sub", func(t *testing.T) {
		tok, err := withScopes(shop, "openid", "profile", "groups").PasswordCredentialsToken(ctx, "alice", "alice-pass-123")
		if err != nil {
			t.Fatal(err)
		}
		octx := oidc.ClientContext(ctx, ts.client)
		op, err := oidc.NewProvider(octx, ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := op.Verifier(&oidc.Config{ClientID: shop.ClientID, Now: ts.Clock.Now}).Verify(octx, rawID)
		if err != nil {
			t.Fatalf("go-oidc rejects the ID token: %v", err)
		}
		var idc struct {
			Department string   `json:"department"`
			Groups     []string `json:"groups"`
			Username   string   `json:"preferred_username"`
		}
		if err := idt.Claims(&idc); err != nil {
			t.Fatal(err)
		}
		if idc.Department != "sales" || idc.Username != "alice" || !reflect.DeepEqual(idc.Groups, []string{"ProductManagers"}) {
			t.Errorf("ID token claims %+v", idc)
		}
		ui, err := op.UserInfo(octx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		if ui.Subject != idt.Subject || ui.Subject != itoa(alice.ID) {
			t.Errorf("userinfo sub %q, ID token sub %q", ui.Subject, idt.Subject)
		}
		var uic map[string]any
		if err := ui.Claims(&uic); err != nil {
			t.Fatal(err)
		}
		if uic["department"] != "sales" {
			t.Errorf("userinfo claims %v", uic)
		}

		// Without profile, no department: claims follow the scope.
		tok, err = withScopes(shop, "openid").PasswordCredentialsToken(ctx, "alice", "alice-pass-123")
		if err != nil {
			t.Fatal(err)
		}
		_, idClaims, _ := jwtParts(t, tok.Extra("id_token").(string))
		if _, ok := idClaims["department"]; ok {
			t.Errorf("an openid-only ID token carries department: %v", idClaims)
		}
	})

	t.Run("a user removed from a group loses its scope and permissions at the next refresh", func(t *testing.T) {
		conf := withScopes(shop, "openid", "offline_access", "products:write")
		tok, err := conf.PasswordCredentialsToken(ctx, "alice", "alice-pass-123")
		if err != nil {
			t.Fatal(err)
		}
		refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
		if err != nil {
			t.Fatal(err)
		}
		_, claims, _ := jwtParts(t, refreshed.AccessToken)
		wantList(t, "permissions before", stringsClaim(t, claims, "permissions"), "store.can_publish_product", "store.change_product", "store.view_product")

		if res := ts.adminJSON(http.MethodDelete, members, admin, nil); res.Status >= 300 {
			t.Fatalf("remove member: %s", res)
		}
		again, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
		if err != nil {
			t.Fatal(err)
		}
		_, claims, _ = jwtParts(t, again.AccessToken)
		wantList(t, "permissions after", stringsClaim(t, claims, "permissions"))
		wantList(t, "groups after", stringsClaim(t, claims, "groups"))
		if claims["scope"] != "openid offline_access" {
			t.Errorf("scope after the removal %v", claims["scope"])
		}
		// Back in the group, the session's next refresh has products:write
		// again: it was granted at the login, and a refresh gives what of
		// the session's scope the user qualifies for now (never more than
		// the login got, RFC 6749 §6).
		if res := ts.adminJSON(http.MethodPost, members, admin, nil); res.Status >= 300 {
			t.Fatalf("add member: %s", res)
		}
		last, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: again.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
		if err != nil {
			t.Fatal(err)
		}
		_, claims, _ = jwtParts(t, last.AccessToken)
		if claims["scope"] != "openid offline_access products:write" {
			t.Errorf("scope after re-adding %v", claims["scope"])
		}
		wantList(t, "groups after re-adding", stringsClaim(t, claims, "groups"), "ProductManagers")
	})

	t.Run("the user API's client gets every scope the user's permissions allow", func(t *testing.T) {
		access, _ := ts.jwtPair("alice", "alice-pass-123")
		_, claims, _ := jwtParts(t, access)
		scope, _ := claims["scope"].(string)
		for _, s := range []string{"openid", "products:read", "products:write"} {
			if !strings.Contains(" "+scope+" ", " "+s+" ") {
				t.Errorf("jwt/create scope %q lacks %s", scope, s)
			}
		}
		wantList(t, "permissions", stringsClaim(t, claims, "permissions"), "store.can_publish_product", "store.change_product", "store.view_product")

		access, _ = ts.jwtPair("bob", "bob-pass-1234")
		_, claims, _ = jwtParts(t, access)
		if scope, _ := claims["scope"].(string); strings.Contains(scope, "products:") {
			t.Errorf("bob's jwt/create scope %q", scope)
		}
	})
}

func TestSeededGroupsKeepAdminEditsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	clock := newTestClock()
	ts := startServerAt(t, "127.0.0.1:0", dir, clock, storePermissions)
	admin := ts.adminToken()
	res := ts.adminJSON(http.MethodPut, "/admin/groups/ProductManagers/", admin, map[string]any{"permissions": []string{"store.view_product"}})
	if res.Status != http.StatusOK {
		t.Fatalf("edit group: %s", res)
	}
	ts.Stop()
	ts = startServerAt(t, "127.0.0.1:0", dir, clock, storePermissions)
	g, err := ts.srv.Store().GetGroup(ts.ctx(), "ProductManagers")
	if err != nil || !reflect.DeepEqual(g.Permissions, []string{"store.view_product"}) {
		t.Fatalf("after a restart: %+v, %v", g, err)
	}
}

// A user imported from Django keeps their own permissions (user_permissions)
// and their tokens carry them beside their groups'.
func TestImportedDjangoUserGetsTheirOwnPermissions(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Storage.Timeout = 2 * time.Minute })
	imp, ok := ts.srv.Store().(storage.UserImporter)
	if !ok {
		t.Fatalf("the store %T cannot import", ts.srv.Store())
	}
	sum, err := importer.ImportFile(ts.ctx(), imp, "../importer/testdata/django_dump.json",
		importer.Options{UserModel: "accounts.User", Map: map[string]string{"department": "profile.department"}})
	if err != nil || len(sum.Refused) != 0 {
		t.Fatalf("import: %+v, %v", sum, err)
	}
	// user007: no groups, store.add_product of their own; user021: the
	// ProductManagers group and store.add_product of their own.
	for _, tc := range []struct {
		login, password string
		groups, perms   []string
	}{
		{"user007", "pw-7-secret", nil, []string{"store.add_product"}},
		{"user021", "pw-21-secret", []string{"ProductManagers"}, []string{"store.add_product", "store.can_publish_product", "store.change_product", "store.view_product"}},
	} {
		tok := ts.passwordToken(tc.login, tc.password, "openid")
		_, claims, _ := jwtParts(t, tok.AccessToken)
		wantList(t, tc.login+" groups", stringsClaim(t, claims, "groups"), tc.groups...)
		wantList(t, tc.login+" permissions", stringsClaim(t, claims, "permissions"), tc.perms...)
	}
}

func TestConfigCheckRefusesABadPermissionMapping(t *testing.T) {
	reg := backends.Registry{}
	for _, tc := range []struct {
		name string
		p    config.Permissions
		key  string
	}{
		{"claims of an unknown scope", config.Permissions{Claims: map[string]map[string]string{"prodcts:read": {"department": "profile.department"}}}, "permissions.claims.prodcts:read"},
		{"a malformed covers pattern", config.Permissions{Scopes: map[string]config.ScopeRule{"products:read": {Covers: []string{"store.[view"}}}}, "permissions.scopes.products:read.covers[0]"},
		{"a requires that is not a permission", config.Permissions{Scopes: map[string]config.ScopeRule{"products:read": {Requires: []string{"view product"}}}}, "permissions.scopes.products:read.requires[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.Permissions = tc.p
			err := server.CheckConfig(cfg, reg)
			var fe *config.FieldError
			if !errors.As(err, &fe) || fe.Key != tc.key {
				t.Fatalf("CheckConfig: %v, want a problem at %s", err, tc.key)
			}
		})
	}
}

// A personal access token never carries a scope its owner does not hold:
// the mapper's requires is checked when it is made (issue 18).
func TestPersonalTokenScopeIsLimitedToWhatTheOwnerHolds(t *testing.T) {
	ts := startServer(t, storePermissions)
	ts.createUser("viewer", "viewer-password-1", false)
	tok := ts.passwordToken("viewer", "viewer-password-1")
	res := ts.adminJSON(http.MethodPost, "/auth/users/me/tokens/", tok.AccessToken, map[string]any{"name": "ci", "scope": "products:write email"})
	if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "products:write") {
		t.Fatalf("a scope the owner lacks: %s", res)
	}
	if res := ts.adminJSON(http.MethodPost, "/auth/users/me/tokens/", tok.AccessToken, map[string]any{"name": "ci", "scope": "email deploy"}); res.Status != http.StatusCreated {
		t.Fatalf("scopes without requires: %s", res)
	}
}
