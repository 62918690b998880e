package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// An admin API key is made once by a superuser, authorizes every /admin/
// route as a superuser would and nothing under /auth/ or /oauth2/, is
// stored only as its keyed hash, names itself in audit events, and stops
// working the moment it is revoked.
func TestAdminAPIKeys(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Log.Level = "debug" })
	adminTok := ts.adminToken()

	res := ts.adminJSON(http.MethodPost, "/admin/api-keys/", adminTok, map[string]any{"name": "deploy bot"})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %s", res)
	}
	wantNoStore(t, res)
	created := res.json(t)
	key, _ := created["key"].(string)
	id, _ := created["id"].(string)
	if !strings.HasPrefix(key, "lk_ak_") || len(key) != len("lk_ak_")+43 || id == "" || created["name"] != "deploy bot" {
		t.Fatalf("create answered %s", res.Body)
	}

	t.Run("the key authorizes the admin API", func(t *testing.T) {
		for _, path := range []string{"/admin/clients/", "/admin/keys/", "/admin/groups/", "/admin/events/", "/admin/api-keys/"} {
			if res := ts.adminJSON(http.MethodGet, path, key, nil); res.Status != http.StatusOK {
				t.Errorf("GET %s: %s", path, res)
			}
		}
		if res := ts.adminJSON(http.MethodPost, "/admin/clients/", key, map[string]any{"client_id": "by-key", "grant_types": []string{"client_credentials"}}); res.Status != http.StatusCreated {
			t.Fatalf("create client with the key: %s", res)
		}
		list := ts.adminJSON(http.MethodGet, "/admin/api-keys/", key, nil)
		if !strings.Contains(string(list.Body), id) || strings.Contains(string(list.Body), key) {
			t.Errorf("the list must name the key's ID and never the key: %s", list.Body)
		}
	})

	t.Run("the key is refused outside the admin API", func(t *testing.T) {
		for _, path := range []string{"/auth/users/me/", "/auth/users/", "/oauth2/userinfo"} {
			if res := ts.call(http.MethodGet, path, bearer(key), nil); res.Status != http.StatusUnauthorized {
				t.Errorf("GET %s with an admin key: %s, want 401", path, res)
			}
		}
		if res := ts.call(http.MethodGet, "/auth/users/me/", "Token "+key, nil); res.Status != http.StatusUnauthorized {
			t.Errorf("knox scheme with an admin key: %s, want 401", res)
		}
		if active, _ := ts.introspectActive(key); active {
			t.Error("introspection calls an admin key active")
		}
	})

	t.Run("a user who is not staff cannot make keys", func(t *testing.T) {
		ts.createUser("plain", "plain-pass-1234", false)
		access, _ := ts.jwtPair("plain", "plain-pass-1234")
		if res := ts.adminJSON(http.MethodPost, "/admin/api-keys/", access, map[string]any{"name": "mine"}); res.Status != http.StatusForbidden {
			t.Errorf("a plain user: %s, want 403", res)
		}
		for _, body := range []any{map[string]any{"name": ""}, map[string]any{"name": strings.Repeat("n", 101)}, `{"name": 1}`, `{"nom": "x"}`} {
			if res := ts.adminJSON(http.MethodPost, "/admin/api-keys/", adminTok, body); res.Status != http.StatusBadRequest {
				t.Errorf("create with %v: %s, want 400", body, res)
			}
		}
	})

	t.Run("only the keyed hash is stored", func(t *testing.T) {
		var hash, name string
		err := ts.sqlDB().QueryRowContext(context.Background(), "SELECT hash, name FROM admin_keys WHERE id = ?", id).Scan(&hash, &name)
		if err != nil {
			t.Fatal(err)
		}
		if hash != ts.srv.Provider().HashSecret(key) || strings.Contains(hash, key[len("lk_ak_"):]) || name != "deploy bot" {
			t.Errorf("stored hash %q, name %q", hash, name)
		}
	})

	t.Run("audit events name the key, never hold it", func(t *testing.T) {
		events := ts.events(bearer(adminTok), "client_id=by-key")
		if len(events) != 1 || events[0]["actor"] != "key:"+id {
			t.Errorf("client.created by the key: %v", events)
		}
		all := ts.events(bearer(adminTok), "")
		if findEvent(all, "admin_key.created") == nil {
			t.Errorf("no admin_key.created event: %v", eventTypes(all))
		}
	})

	// Revoked: refused at once, by the same instance that had just accepted it.
	if res := ts.adminJSON(http.MethodDelete, "/admin/api-keys/"+id+"/", key, nil); res.Status != http.StatusNoContent {
		t.Fatalf("revoke: %s", res)
	}
	if res := ts.adminJSON(http.MethodGet, "/admin/clients/", key, nil); res.Status != http.StatusUnauthorized {
		t.Errorf("a revoked key: %s, want 401", res)
	}
	if res := ts.adminJSON(http.MethodDelete, "/admin/api-keys/"+id+"/", adminTok, nil); res.Status != http.StatusNotFound {
		t.Errorf("revoking twice: %s, want 404", res)
	}
	events := ts.events(bearer(adminTok), "")
	if e := findEvent(events, "admin_key.revoked"); e == nil || e["actor"] != "key:"+id {
		t.Errorf("admin_key.revoked: %v", e)
	}
	if raw, _ := json.Marshal(events); strings.Contains(string(raw), key[len("lk_ak_"):]) {
		t.Error("an audit event contains the admin key")
	}
	if strings.Contains(ts.Logs.String(), key) || strings.Contains(ts.Logs.String(), key[len("lk_ak_"):]) {
		t.Error("the log contains the admin key")
	}
}
