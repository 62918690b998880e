package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// TestUsersBadInputOnEveryEndpoint sends wrong types, missing fields, huge
// strings and unknown fields to every endpoint that takes a body, and wants
// a 400 field map and nothing written.
func TestUsersBadInputOnEveryEndpoint(t *testing.T) {
	mb := &mailbox{}
	ts := startMailServer(t, mb, nil)
	u := ts.createUser("uma", "uma-pass-1234", false)
	tok, _ := ts.jwtPair("uma", "uma-pass-1234")
	admin := bearer(ts.adminToken())
	if res := ts.call(http.MethodPost, "/admin/groups/", admin, map[string]any{"name": "g1", "permissions": []string{"a.b"}}); res.Status != http.StatusCreated {
		t.Fatal(res)
	}
	huge := strings.Repeat("x", 5000)
	id := itoa(u.ID)

	type endpoint struct {
		method, path, auth string
		bodies             []map[string]any
	}
	eps := []endpoint{
		{"POST", "/auth/jwt/create/", "", []map[string]any{{}, {"username": 1, "password": "x"}, {"username": "uma", "password": huge}, {"username": "uma", "password": "uma-pass-1234", "x": 1}}},
		{"POST", "/auth/jwt/refresh/", "", []map[string]any{{}, {"refresh": 5}, {"refresh": huge}, {"refresh": "x", "y": 1}}},
		{"POST", "/auth/jwt/verify/", "", []map[string]any{{}, {"token": false}, {"token": huge + huge}, {"token": "x", "y": 1}}},
		{"POST", "/auth/jwt/blacklist/", "", []map[string]any{{}, {"refresh": []int{1}}, {"refresh": huge}, {"refresh": "x", "y": 1}}},
		{"POST", "/auth/token/login/", "", []map[string]any{{}, {"username": true, "password": "x"}, {"username": huge, "password": "x"}, {"username": "uma", "password": "uma-pass-1234", "x": 1}}},
		{"POST", "/auth/users/", "", []map[string]any{{}, {"username": 1, "email": 2, "password": 3}, {"username": huge, "email": "u2@example.com", "password": "uma-pass-1234"}, {"username": "u2", "email": "u2@example.com", "password": "uma-pass-1234", "x": 1}}},
		{"PATCH", "/auth/users/me/", bearer(tok), []map[string]any{{"first_name": 1}, {"last_name": huge}, {"profile": "x"}, {"x": 1}}},
		{"PUT", "/auth/users/" + id + "/", bearer(tok), []map[string]any{{"first_name": []int{}}, {"first_name": huge}, {"x": 1}}},
		{"PATCH", "/auth/users/" + id + "/", admin, []map[string]any{{"is_active": "maybe"}, {"groups": "g1"}, {"groups": []string{"nope"}}, {"email": "bad"}, {"username": huge}, {"x": 1}}},
		{"DELETE", "/auth/users/me/", bearer(tok), []map[string]any{{}, {"current_password": 1}, {"current_password": huge}, {"current_password": "uma-pass-1234", "x": 1}}},
		{"POST", "/auth/users/set_password/", bearer(tok), []map[string]any{{}, {"current_password": "uma-pass-1234", "new_password": 1}, {"current_password": "uma-pass-1234", "new_password": huge}, {"current_password": "uma-pass-1234", "new_password": "uma-next-1234", "x": 1}}},
		{"POST", "/auth/users/set_username/", bearer(tok), []map[string]any{{}, {"current_password": "uma-pass-1234", "new_username": 1}, {"current_password": "uma-pass-1234", "new_username": huge}, {"current_password": "uma-pass-1234", "new_username": "umax", "x": 1}}},
		{"POST", "/auth/users/set_email/", bearer(tok), []map[string]any{{}, {"current_password": "uma-pass-1234", "new_email": 1}, {"current_password": "uma-pass-1234", "new_email": huge}, {"current_password": "uma-pass-1234", "new_email": "umax@example.com", "x": 1}}},
		{"POST", "/auth/users/" + id + "/set_password/", admin, []map[string]any{{}, {"new_password": 5}, {"new_password": huge}, {"new_password": "uma-admin-1234", "x": 1}}},
		{"POST", "/auth/users/activation/", "", []map[string]any{{}, {"uid": 1, "token": 2}, {"uid": huge, "token": huge}, {"uid": "MQ", "token": "x", "y": 1}}},
		{"POST", "/auth/users/resend_activation/", "", []map[string]any{{}, {"email": 1}, {"email": huge}, {"email": "uma@example.com", "x": 1}}},
		{"POST", "/auth/users/reset_password/", "", []map[string]any{{}, {"email": 1}, {"email": huge}, {"email": "uma@example.com", "x": 1}}},
		{"POST", "/auth/users/reset_password_confirm/", "", []map[string]any{{}, {"uid": 1, "token": 1, "new_password": 1}, {"uid": huge, "token": "t", "new_password": "p"}, {"uid": "MQ", "token": "t", "new_password": "uma-next-1234", "x": 1}}},
		{"POST", "/auth/users/reset_username/", "", []map[string]any{{}, {"email": 1}, {"email": huge}, {"email": "uma@example.com", "x": 1}}},
		{"POST", "/auth/users/reset_username_confirm/", "", []map[string]any{{}, {"uid": 1, "token": 1, "new_username": 1}, {"uid": "MQ", "token": "t", "new_username": huge}, {"uid": "MQ", "token": "t", "new_username": "umax", "x": 1}}},
		{"POST", "/auth/users/me/tokens/", bearer(tok), []map[string]any{{}, {"name": 1}, {"name": huge}, {"name": "ci", "expires_in": "x"}, {"name": "ci", "x": 1}}},
		{"POST", "/admin/groups/", admin, []map[string]any{{}, {"name": 1}, {"name": huge}, {"name": "g2", "permissions": "a.b"}, {"name": "g2", "x": 1}}},
		{"PUT", "/admin/groups/g1/", admin, []map[string]any{{}, {"permissions": 1}, {"permissions": []string{huge}}, {"permissions": []string{}, "x": 1}}},
		{"PATCH", "/admin/groups/g1/", admin, []map[string]any{{"permissions": "a.b"}, {"name": "other"}, {"x": 1}}},
		{"POST", "/rest-auth/login/", "", []map[string]any{{}, {"username": 1, "password": 2}}},
		{"POST", "/rest-auth/password/change/", bearer(tok), []map[string]any{{}, {"new_password1": 1, "new_password2": 1}, {"new_password1": "uma-next-1234", "new_password2": "uma-next-1234", "x": 1}}},
		{"POST", "/rest-auth/registration/", "", []map[string]any{{}, {"username": "u3", "email": "u3@example.com", "password1": "uma-pass-1234"}}},
		{"POST", "/rest-auth/registration/verify-email/", "", []map[string]any{{}, {"key": 1}, {"key": huge}}},
		{"POST", "/rest-auth/password/reset/", "", []map[string]any{{}, {"email": 1}}},
		{"POST", "/rest-auth/password/reset/confirm/", "", []map[string]any{{}, {"uid": "MQ", "token": "t", "new_password1": "uma-next-1234"}}},
		{"POST", "/api-token-auth/", "", []map[string]any{{}, {"username": 1, "password": 1}}},
		{"POST", "/api-token-refresh/", "", []map[string]any{{}, {"token": 1}}},
		{"POST", "/api-token-verify/", "", []map[string]any{{}, {"token": 1}}},
	}
	snapshot := func() string {
		users, _, err := ts.srv.Store().ListUsers(context.Background(), storageQuery())
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, u := range users {
			b.WriteString(u.Username + "|" + u.Email + "|" + u.PasswordHash + "|" + u.FirstName + "|" + u.LastName + "\n")
		}
		g, err := ts.srv.Store().GetGroup(context.Background(), "g1")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(g.Permissions, ","))
		groups, _ := ts.srv.Store().ListGroups(context.Background())
		b.WriteString(itoa(int64(len(groups))))
		toks, _ := ts.srv.Store().ListPersonalTokens(context.Background(), u.ID, ts.Clock.Now())
		b.WriteString(itoa(int64(len(toks))))
		return b.String()
	}
	before := snapshot()
	for _, ep := range eps {
		for i, body := range ep.bodies {
			res := ts.call(ep.method, ep.path, ep.auth, body)
			if res.Status != http.StatusBadRequest {
				t.Errorf("%s %s body %d: %s, want 400", ep.method, ep.path, i, res)
				continue
			}
			m := res.json(t)
			if _, isDetail := m["detail"]; isDetail || len(m) == 0 {
				t.Errorf("%s %s body %d: %s, want a field map", ep.method, ep.path, i, res.Body)
			}
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("bad input changed the store:\nbefore %s\nafter  %s", before, after)
	}
	if got := mb.take(); len(got) != 0 {
		t.Errorf("bad input sent mail: %+v", got)
	}
	if res := ts.call(http.MethodGet, "/auth/users/me/", bearer(tok), nil); res.Status != http.StatusOK {
		t.Errorf("the caller's session ended: %s", res)
	}
}

func TestUsersBodyLimitsAndMethods(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.HTTP.MaxBodyBytes = 4096 })
	res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": strings.Repeat("a", 10000)})
	if res.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized body: %s", res)
	}
	if res := ts.call(http.MethodGet, "/auth/jwt/create/", "", nil); res.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET jwt/create: %s", res)
	}
}
