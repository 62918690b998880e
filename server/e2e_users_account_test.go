package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/config"
)

func TestUsersReadUpdateDelete(t *testing.T) {
	ts := startServer(t, nil)
	hank := ts.createUser("hank", "hank-pass-123", false)
	ivy := ts.createUser("ivy", "ivy-pass-1234", false)
	hankTok, _ := ts.jwtPair("hank", "hank-pass-123")
	admin := bearer(ts.adminToken())
	hankURL, ivyURL := "/auth/users/"+itoa(hank.ID)+"/", "/auth/users/"+itoa(ivy.ID)+"/"

	t.Run("an owner reads themselves by id and as me", func(t *testing.T) {
		for _, p := range []string{hankURL, "/auth/users/me/", "/auth/users/" + itoa(hank.ID)} {
			res := ts.call(http.MethodGet, p, bearer(hankTok), nil)
			if res.Status != http.StatusOK || res.json(t)["username"] != "hank" {
				t.Errorf("GET %s: %s", p, res)
			}
		}
	})
	t.Run("a non-staff user reading another user gets 404, as for a missing one", func(t *testing.T) {
		wantDetail(t, ts.call(http.MethodGet, ivyURL, bearer(hankTok), nil), http.StatusNotFound, "Not found.")
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/999999/", bearer(hankTok), nil), http.StatusNotFound, "Not found.")
		wantDetail(t, ts.call(http.MethodPatch, ivyURL, bearer(hankTok), map[string]any{"first_name": "x"}), http.StatusNotFound, "Not found.")
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/abc/", bearer(hankTok), nil), http.StatusNotFound, "Not found.")
	})
	t.Run("staff read anyone", func(t *testing.T) {
		if res := ts.call(http.MethodGet, ivyURL, admin, nil); res.Status != http.StatusOK || res.json(t)["username"] != "ivy" {
			t.Errorf("%s", res)
		}
	})
	t.Run("the list shows non-staff only themselves and staff everyone, paginated", func(t *testing.T) {
		res := ts.call(http.MethodGet, "/auth/users/", bearer(hankTok), nil)
		var p struct {
			Count    int              `json:"count"`
			Next     *string          `json:"next"`
			Previous *string          `json:"previous"`
			Results  []map[string]any `json:"results"`
		}
		if err := json.Unmarshal(res.Body, &p); err != nil || p.Count != 1 || len(p.Results) != 1 || p.Results[0]["username"] != "hank" {
			t.Errorf("non-staff list: %s", res)
		}
		res = ts.call(http.MethodGet, "/auth/users/?page_size=2", admin, nil)
		p.Results = nil
		if err := json.Unmarshal(res.Body, &p); err != nil || p.Count != 3 || len(p.Results) != 2 || p.Next == nil || p.Previous != nil {
			t.Errorf("staff page 1: %s", res)
		}
		res = ts.call(http.MethodGet, "/auth/users?page_size=2&page=2", admin, nil)
		p.Results, p.Next = nil, nil
		if err := json.Unmarshal(res.Body, &p); err != nil || len(p.Results) != 1 || p.Next != nil || p.Previous == nil {
			t.Errorf("staff page 2: %s", res)
		}
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/?page=9", admin, nil), http.StatusNotFound, "Invalid page.")
		res = ts.call(http.MethodGet, "/auth/users/?search=IVY", admin, nil)
		p.Results = nil
		if err := json.Unmarshal(res.Body, &p); err != nil || p.Count != 1 || p.Results[0]["username"] != "ivy" {
			t.Errorf("search: %s", res)
		}
	})
	t.Run("an owner updates names and profile; flags and login fields are ignored", func(t *testing.T) {
		res := ts.call(http.MethodPatch, "/auth/users/me/", bearer(hankTok), map[string]any{
			"first_name": "Henry", "profile": map[string]any{"country": "NZ"}, "is_staff": true, "username": "boss", "id": 1,
		})
		if res.Status != http.StatusOK {
			t.Fatalf("patch: %s", res)
		}
		u := res.json(t)
		if u["first_name"] != "Henry" || u["is_staff"] != false || u["username"] != "hank" {
			t.Errorf("after patch: %s", res.Body)
		}
		res = ts.call(http.MethodPut, "/auth/users/me", bearer(hankTok), url.Values{"last_name": {"Hill"}})
		if res.Status != http.StatusOK || res.json(t)["last_name"] != "Hill" {
			t.Errorf("put with a form: %s", res)
		}
	})
	t.Run("bad updates are 400 and change nothing", func(t *testing.T) {
		for _, body := range []any{
			map[string]any{"first_name": 5},
			map[string]any{"nickname": "h"},
			map[string]any{"first_name": strings.Repeat("h", 151)},
			map[string]any{"profile": []string{"x"}},
		} {
			wantFields(t, ts.call(http.MethodPatch, "/auth/users/me/", bearer(hankTok), body))
		}
		if u := ts.user("hank"); u.FirstName != "Henry" || u.LastName != "Hill" {
			t.Errorf("a bad update wrote: %+v", u)
		}
	})
	t.Run("staff update any user's details, flags and groups", func(t *testing.T) {
		if res := ts.call(http.MethodPost, "/admin/groups/", admin, map[string]any{"name": "editors", "permissions": []string{"store.view_product"}}); res.Status != http.StatusCreated {
			t.Fatalf("create group: %s", res)
		}
		res := ts.call(http.MethodPatch, ivyURL, admin, map[string]any{"email": "ivy@new.example", "groups": []string{"editors"}, "is_staff": true})
		if res.Status != http.StatusOK {
			t.Fatalf("staff patch: %s", res)
		}
		u := res.json(t)
		if u["email"] != "ivy@new.example" || u["is_staff"] != true {
			t.Errorf("after staff patch: %s", res.Body)
		}
		if g, _ := u["groups"].([]any); len(g) != 1 || g[0] != "editors" {
			t.Errorf("groups: %s", res.Body)
		}
		tok := ts.passwordToken("ivy", "ivy-pass-1234")
		_, info := ts.introspectActive(tok.AccessToken)
		// is_staff is the admin role, a permission of its own (docs/permissions.md).
		if perms, _ := info["permissions"].([]any); len(perms) != 2 || perms[0] != "admin" || perms[1] != "store.view_product" {
			t.Errorf("the new group's permission is not in the token: %v", info)
		}
		m := wantFields(t, ts.call(http.MethodPatch, ivyURL, admin, map[string]any{"groups": []string{"nope"}}), "groups")
		wantMsg(t, m, "groups", `Object with name="nope" does not exist.`)
		wantFields(t, ts.call(http.MethodPatch, ivyURL, admin, map[string]any{"email": "hank@example.com"}), "email")
	})
	t.Run("staff who are not superusers cannot change a superuser", func(t *testing.T) {
		ts.createUser("stella", "stella-pass-123", true)
		staff, _ := ts.jwtPair("stella", "stella-pass-123")
		adminURL := "/auth/users/" + itoa(ts.user(adminUser).ID) + "/"
		forbidden := "You do not have permission to perform this action."
		wantDetail(t, ts.call(http.MethodPatch, adminURL, bearer(staff), map[string]any{"email": "mine@example.com"}), http.StatusForbidden, forbidden)
		wantDetail(t, ts.call(http.MethodPost, adminURL+"set_password/", bearer(staff), map[string]any{"new_password": "taken-over-123"}), http.StatusForbidden, forbidden)
		wantDetail(t, ts.call(http.MethodDelete, adminURL, bearer(staff), map[string]any{"current_password": "stella-pass-123"}), http.StatusForbidden, forbidden)
		if res := ts.call(http.MethodGet, adminURL, bearer(staff), nil); res.Status != http.StatusOK {
			t.Errorf("staff reading a superuser: %s", res)
		}
		if res := ts.call(http.MethodPatch, ivyURL, bearer(staff), map[string]any{"first_name": "Ivy"}); res.Status != http.StatusOK {
			t.Errorf("staff changing a user: %s", res)
		}
		ts.jwtPair(adminUser, adminPass)
	})
	t.Run("staff set a user's password", func(t *testing.T) {
		if res := ts.call(http.MethodPost, ivyURL+"set_password/", admin, map[string]any{"new_password": "ivy-new-pass-9"}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		ts.jwtPair("ivy", "ivy-new-pass-9")
		wantDetail(t, ts.call(http.MethodPost, hankURL+"set_password/", bearer(hankTok), map[string]any{"new_password": "x-pass-123"}), http.StatusForbidden, "You do not have permission to perform this action.")
	})
	t.Run("deleting yourself needs current_password", func(t *testing.T) {
		wantFields(t, ts.call(http.MethodDelete, "/auth/users/me/", bearer(hankTok), nil), "current_password")
		m := wantFields(t, ts.call(http.MethodDelete, "/auth/users/me/", bearer(hankTok), map[string]any{"current_password": "wrong"}), "current_password")
		wantMsg(t, m, "current_password", "Invalid password.")
		if res := ts.call(http.MethodDelete, "/auth/users/me/", bearer(hankTok), map[string]any{"current_password": "hank-pass-123"}); res.Status != http.StatusNoContent {
			t.Fatalf("delete: %s", res)
		}
		if _, err := ts.srv.Store().GetUser(t.Context(), hank.ID); err == nil {
			t.Error("the user is still stored")
		}
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(hankTok), nil), http.StatusUnauthorized, "Given token not valid for any token type")
	})
}

func TestUsersSetPasswordUsernameEmail(t *testing.T) {
	ts := startServer(t, nil)
	ts.createUser("jack", "jack-pass-123", false)
	tok, refresh := ts.jwtPair("jack", "jack-pass-123")
	other, otherRefresh := ts.jwtPair("jack", "jack-pass-123")

	t.Run("bad input is a 400 field map", func(t *testing.T) {
		wantFields(t, ts.call(http.MethodPost, "/auth/users/set_password/", bearer(tok), map[string]any{}), "current_password", "new_password")
		m := wantFields(t, ts.call(http.MethodPost, "/auth/users/set_password/", bearer(tok), map[string]any{"current_password": "nope", "new_password": "jack-new-pass-1"}), "current_password")
		wantMsg(t, m, "current_password", "Invalid password.")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/set_password/", bearer(tok), map[string]any{"current_password": "jack-pass-123", "new_password": "short"}), "new_password")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/set_password/", bearer(tok), map[string]any{"current_password": "jack-pass-123", "new_password": "jack-new-pass-1", "re_new_password": "other-pass-99"}), "non_field_errors")
		ts.jwtPair("jack", "jack-pass-123") // unchanged
	})
	t.Run("set_password: the old password fails, the new works, other sessions end", func(t *testing.T) {
		res := ts.call(http.MethodPost, "/auth/users/set_password/", bearer(tok), map[string]any{"current_password": "jack-pass-123", "new_password": "jack-new-pass-1"})
		if res.Status != http.StatusNoContent {
			t.Fatalf("set_password: %s", res)
		}
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "jack", "password": "jack-pass-123"}), http.StatusUnauthorized, "No active account found with the given credentials")
		ts.jwtPair("jack", "jack-new-pass-1")
		if res := ts.call(http.MethodGet, "/auth/users/me/", bearer(tok), nil); res.Status != http.StatusOK {
			t.Errorf("the caller's own session ended: %s", res)
		}
		if res := ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}); res.Status != http.StatusOK {
			t.Errorf("the caller's own refresh token died: %s", res)
		}
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(other), nil), http.StatusUnauthorized, "Given token not valid for any token type")
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": otherRefresh}), http.StatusUnauthorized, "Token is invalid or expired")
	})
	t.Run("set_username", func(t *testing.T) {
		ts.createUser("kate", "kate-pass-123", false)
		wantFields(t, ts.call(http.MethodPost, "/auth/users/set_username/", bearer(tok), map[string]any{"current_password": "jack-new-pass-1", "new_username": "kate"}), "new_username")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/set_username/", bearer(tok), map[string]any{"current_password": "jack-new-pass-1", "new_username": "bad name"}), "new_username")
		if res := ts.call(http.MethodPost, "/auth/users/set_username/", bearer(tok), map[string]any{"current_password": "jack-new-pass-1", "new_username": "jackie"}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		ts.jwtPair("jackie", "jack-new-pass-1")
	})
	t.Run("set_email clears email_verified", func(t *testing.T) {
		wantFields(t, ts.call(http.MethodPost, "/auth/users/set_email/", bearer(tok), map[string]any{"current_password": "jack-new-pass-1", "new_email": "kate@example.com"}), "new_email")
		if res := ts.call(http.MethodPost, "/auth/users/set_email/", bearer(tok), map[string]any{"current_password": "jack-new-pass-1", "new_email": "jack@new.example"}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		u := ts.call(http.MethodGet, "/auth/users/me/", bearer(tok), nil).json(t)
		if u["email"] != "jack@new.example" || u["email_verified"] != false {
			t.Errorf("%v", u)
		}
	})
}

func TestUsersSessionsAndPersonalTokens(t *testing.T) {
	ts := startServer(t, nil)
	ts.createUser("liam", "liam-pass-123", false)
	ts.createUser("mia", "mia-pass-1234", false)
	tok, _ := ts.jwtPair("liam", "liam-pass-123")
	second, secondRefresh := ts.jwtPair("liam", "liam-pass-123")
	miaTok, _ := ts.jwtPair("mia", "mia-pass-1234")

	var sessions []map[string]any
	t.Run("sessions lists the caller's active sessions", func(t *testing.T) {
		res := ts.call(http.MethodGet, "/auth/users/me/sessions/", bearer(tok), nil)
		var p struct {
			Count   int              `json:"count"`
			Results []map[string]any `json:"results"`
		}
		if err := json.Unmarshal(res.Body, &p); err != nil || p.Count != 2 {
			t.Fatalf("%s", res)
		}
		sessions = p.Results
		current := 0
		for _, s := range sessions {
			if s["client_id"] != "latchkey-api" || s["created"] == nil || s["last_used"] == nil {
				t.Errorf("session %v", s)
			}
			if s["current"] == true {
				current++
			}
		}
		if current != 1 {
			t.Errorf("%d current sessions", current)
		}
	})
	t.Run("revoking a session ends its tokens; another user's session is not found", func(t *testing.T) {
		var id string
		for _, s := range sessions {
			if s["current"] != true {
				id = s["id"].(string)
			}
		}
		wantDetail(t, ts.call(http.MethodDelete, "/auth/users/me/sessions/"+id+"/", bearer(miaTok), nil), http.StatusNotFound, "Not found.")
		if res := ts.call(http.MethodDelete, "/auth/users/me/sessions/"+id+"/", bearer(tok), nil); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(second), nil), http.StatusUnauthorized, "Given token not valid for any token type")
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": secondRefresh}), http.StatusUnauthorized, "Token is invalid or expired")
		wantDetail(t, ts.call(http.MethodDelete, "/auth/users/me/sessions/"+id+"/", bearer(tok), nil), http.StatusNotFound, "Not found.")
	})

	var pat map[string]any
	t.Run("a personal token is created with its secret shown once", func(t *testing.T) {
		res := ts.call(http.MethodPost, "/auth/users/me/tokens/", bearer(tok), map[string]any{"name": "ci", "scope": "read latchkey", "expires_in": 3600})
		if res.Status != http.StatusCreated {
			t.Fatalf("%s", res)
		}
		pat = res.json(t)
		secret, _ := pat["token"].(string)
		if !strings.HasPrefix(secret, "lk_pat_") || pat["name"] != "ci" || pat["id"] == nil {
			t.Fatalf("%s", res.Body)
		}
		if res := ts.call(http.MethodGet, "/auth/users/me/", "Token "+secret, nil); res.Status != http.StatusOK {
			t.Errorf("the token does not authenticate: %s", res)
		}
		list := ts.call(http.MethodGet, "/auth/users/me/tokens/", bearer(tok), nil)
		if list.Status != http.StatusOK || strings.Contains(string(list.Body), secret) || !strings.Contains(string(list.Body), `"ci"`) {
			t.Errorf("list: %s", list)
		}
		stored, err := ts.srv.Store().ListPersonalTokens(t.Context(), ts.user("liam").ID, ts.Clock.Now())
		if err != nil || len(stored) != 1 || stored[0].Hash == secret || strings.Contains(stored[0].Hash, secret[7:]) {
			t.Errorf("stored %+v, %v", stored, err)
		}
	})
	t.Run("a personal token acts on the account only with the latchkey scope, and never widens itself", func(t *testing.T) {
		secret := pat["token"].(string)
		res := ts.call(http.MethodPost, "/auth/users/me/tokens/", bearer(tok), map[string]any{"name": "reader", "scope": "read"})
		if res.Status != http.StatusCreated {
			t.Fatalf("%s", res)
		}
		reader, _ := res.json(t)["token"].(string)
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", "Token "+reader, nil), http.StatusForbidden, "You do not have permission to perform this action.")
		// A token made with a personal token: no scope it lacks, no longer life.
		wantFields(t, ts.call(http.MethodPost, "/auth/users/me/tokens/", "Token "+secret, map[string]any{"name": "wider", "scope": "write latchkey"}), "scope")
		res = ts.call(http.MethodPost, "/auth/users/me/tokens/", "Token "+secret, map[string]any{"name": "child"})
		if res.Status != http.StatusCreated {
			t.Fatalf("a token made with a personal token: %s", res)
		}
		child := res.json(t)
		if child["scope"] != "read latchkey" {
			t.Errorf("the child token's scope is %v, want its parent's", child["scope"])
		}
		expiry, _ := time.Parse(time.RFC3339, fmt.Sprint(child["expiry"]))
		parent, _ := time.Parse(time.RFC3339, fmt.Sprint(pat["expiry"]))
		if expiry.IsZero() || expiry.After(parent) {
			t.Errorf("the child token expires %v, after its parent %v", child["expiry"], pat["expiry"])
		}
	})
	t.Run("a personal token expires", func(t *testing.T) {
		secret := pat["token"].(string)
		ts.Clock.Advance(3601e9)
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", "Token "+secret, nil), http.StatusUnauthorized, "Invalid token.")
	})
	t.Run("bad personal token requests are 400", func(t *testing.T) {
		tok, _ := ts.jwtPair("liam", "liam-pass-123")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/me/tokens/", bearer(tok), map[string]any{}), "name")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/me/tokens/", bearer(tok), map[string]any{"name": "x", "expires_in": 1e12}), "expires_in")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/me/tokens/", bearer(tok), map[string]any{"name": "x", "expires_in": "soon"}), "expires_in")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/me/tokens/", bearer(tok), map[string]any{"name": strings.Repeat("n", 101)}), "name")
	})
	t.Run("deleting a personal token revokes it; another user's is not found", func(t *testing.T) {
		tok, _ := ts.jwtPair("liam", "liam-pass-123")
		miaTok, _ := ts.jwtPair("mia", "mia-pass-1234")
		res := ts.call(http.MethodPost, "/auth/users/me/tokens/", bearer(tok), map[string]any{"name": "laptop"})
		created := res.json(t)
		id, secret := created["id"].(string), created["token"].(string)
		wantDetail(t, ts.call(http.MethodDelete, "/auth/users/me/tokens/"+id+"/", bearer(miaTok), nil), http.StatusNotFound, "Not found.")
		if res := ts.call(http.MethodDelete, "/auth/users/me/tokens/"+id, bearer(tok), nil); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", "Bearer "+secret, nil), http.StatusUnauthorized, "Given token not valid for any token type")
	})
}

func TestAdminGroups(t *testing.T) {
	ts := startServer(t, nil)
	admin := bearer(ts.adminToken())
	nina := ts.createUser("nina", "nina-pass-123", false)
	ninaTok, _ := ts.jwtPair("nina", "nina-pass-123")

	t.Run("non-staff are refused", func(t *testing.T) {
		wantDetail(t, ts.call(http.MethodGet, "/admin/groups/", bearer(ninaTok), nil), http.StatusForbidden, "You do not have permission to perform this action.")
		wantDetail(t, ts.call(http.MethodGet, "/admin/groups/", "", nil), http.StatusUnauthorized, "Authentication credentials were not provided.")
	})
	t.Run("create, read, list", func(t *testing.T) {
		res := ts.call(http.MethodPost, "/admin/groups/", admin, map[string]any{"name": "publishers", "permissions": []string{"store.can_publish_product", "store.view_product"}})
		if res.Status != http.StatusCreated {
			t.Fatalf("%s", res)
		}
		wantFields(t, ts.call(http.MethodPost, "/admin/groups/", admin, map[string]any{"name": "publishers"}), "name")
		wantFields(t, ts.call(http.MethodPost, "/admin/groups/", admin, map[string]any{"name": "x", "permissions": "a.b"}), "permissions")
		wantFields(t, ts.call(http.MethodPost, "/admin/groups/", admin, map[string]any{"name": "x", "permissions": []string{"bad perm"}}), "permissions")
		wantFields(t, ts.call(http.MethodPost, "/admin/groups/", admin, map[string]any{"permissions": []string{}}), "name")
		res = ts.call(http.MethodGet, "/admin/groups", admin, nil)
		if res.Status != http.StatusOK || res.json(t)["count"] != float64(1) {
			t.Errorf("list: %s", res)
		}
		res = ts.call(http.MethodGet, "/admin/groups/publishers/", admin, nil)
		if res.Status != http.StatusOK || len(res.json(t)["permissions"].([]any)) != 2 {
			t.Errorf("get: %s", res)
		}
	})
	t.Run("members are added and removed", func(t *testing.T) {
		p := "/admin/groups/publishers/members/" + itoa(nina.ID) + "/"
		if res := ts.call(http.MethodPost, p, admin, nil); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		g := ts.call(http.MethodGet, "/admin/groups/publishers/", admin, nil).json(t)
		if m, _ := g["members"].([]any); len(m) != 1 || m[0] != float64(nina.ID) {
			t.Errorf("members %v", g)
		}
		tok := ts.passwordToken("nina", "nina-pass-123")
		_, info := ts.introspectActive(tok.AccessToken)
		if gs, _ := info["groups"].([]any); len(gs) != 1 || gs[0] != "publishers" {
			t.Errorf("token groups %v", info)
		}
		wantDetail(t, ts.call(http.MethodPost, "/admin/groups/publishers/members/999999/", admin, nil), http.StatusNotFound, "Not found.")
		wantDetail(t, ts.call(http.MethodPost, "/admin/groups/nope/members/"+itoa(nina.ID)+"/", admin, nil), http.StatusNotFound, "Not found.")
		if res := ts.call(http.MethodDelete, p, admin, nil); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		wantDetail(t, ts.call(http.MethodDelete, p, admin, nil), http.StatusNotFound, "Not found.")
	})
	t.Run("update and delete", func(t *testing.T) {
		res := ts.call(http.MethodPatch, "/admin/groups/publishers/", admin, map[string]any{"permissions": []string{"store.view_product"}})
		if res.Status != http.StatusOK || len(res.json(t)["permissions"].([]any)) != 1 {
			t.Errorf("patch: %s", res)
		}
		wantFields(t, ts.call(http.MethodPut, "/admin/groups/publishers/", admin, map[string]any{}), "permissions")
		wantFields(t, ts.call(http.MethodPut, "/admin/groups/publishers/", admin, map[string]any{"name": "renamed", "permissions": []string{}}), "name")
		if res := ts.call(http.MethodPut, "/admin/groups/publishers", admin, map[string]any{"permissions": []string{"a.b", "c.d"}}); res.Status != http.StatusOK {
			t.Errorf("put: %s", res)
		}
		if res := ts.call(http.MethodDelete, "/admin/groups/publishers/", admin, nil); res.Status != http.StatusNoContent {
			t.Errorf("delete: %s", res)
		}
		wantDetail(t, ts.call(http.MethodGet, "/admin/groups/publishers/", admin, nil), http.StatusNotFound, "Not found.")
	})
}

func TestUsersCompatibilityRouteSets(t *testing.T) {
	ts := startServer(t, nil)
	ts.createUser("olga", "olga-pass-123", false)

	t.Run("drf-jwt takes and returns {token}", func(t *testing.T) {
		res := ts.call(http.MethodPost, "/api-token-auth/", "", map[string]any{"username": "olga", "password": "olga-pass-123"})
		if res.Status != http.StatusOK {
			t.Fatalf("%s", res)
		}
		m := res.json(t)
		access, refresh := m["token"].(string), m["refresh"].(string)
		if res := ts.call(http.MethodPost, "/api-token-verify/", "", map[string]any{"token": access}); res.Status != http.StatusOK || res.json(t)["token"] != access {
			t.Errorf("verify: %s", res)
		}
		if res := ts.call(http.MethodPost, "/api-token-refresh", "", map[string]any{"token": refresh}); res.Status != http.StatusOK || res.json(t)["token"] == nil {
			t.Errorf("refresh: %s", res)
		}
		m2 := wantFields(t, ts.call(http.MethodPost, "/api-token-auth/", "", map[string]any{"username": "olga", "password": "x"}), "non_field_errors")
		wantMsg(t, m2, "non_field_errors", "Unable to log in with provided credentials.")
		wantFields(t, ts.call(http.MethodPost, "/api-token-verify/", "", map[string]any{"token": "garbage"}), "non_field_errors")
	})
	t.Run("dj-rest-auth login, user, password change and registration", func(t *testing.T) {
		res := ts.call(http.MethodPost, "/rest-auth/login/", "", map[string]any{"username": "olga", "password": "olga-pass-123"})
		if res.Status != http.StatusOK {
			t.Fatalf("%s", res)
		}
		login := res.json(t)
		access := login["access"].(string)
		if u, _ := login["user"].(map[string]any); u["username"] != "olga" {
			t.Errorf("login answer without the user: %s", res.Body)
		}
		if res := ts.call(http.MethodGet, "/rest-auth/user/", bearer(access), nil); res.Status != http.StatusOK || res.json(t)["username"] != "olga" {
			t.Errorf("user: %s", res)
		}
		wantFields(t, ts.call(http.MethodPost, "/rest-auth/password/change/", bearer(access), map[string]any{"new_password1": "olga-new-pass-1", "new_password2": "other-pass-9"}), "non_field_errors")
		res = ts.call(http.MethodPost, "/rest-auth/password/change/", bearer(access), map[string]any{"new_password1": "olga-new-pass-1", "new_password2": "olga-new-pass-1"})
		if res.Status != http.StatusOK {
			t.Fatalf("password change: %s", res)
		}
		ts.jwtPair("olga", "olga-new-pass-1")
		res = ts.call(http.MethodPost, "/rest-auth/registration/", "", map[string]any{"username": "pete", "email": "pete@example.com", "password1": "pete-pass-123", "password2": "pete-pass-123"})
		if res.Status != http.StatusCreated {
			t.Errorf("registration: %s", res)
		}
		wantFields(t, ts.call(http.MethodPost, "/rest-auth/registration/", "", map[string]any{"username": "quinn", "email": "q@example.com", "password1": "quinn-pass-123"}), "password2")
	})
	t.Run("dj-rest-auth logout blacklists the refresh token and ends the session", func(t *testing.T) {
		access, refresh := ts.jwtPair("olga", "olga-new-pass-1")
		res := ts.call(http.MethodPost, "/rest-auth/logout/", bearer(access), map[string]any{"refresh": refresh})
		wantDetail(t, res, http.StatusOK, "Successfully logged out.")
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}), http.StatusUnauthorized, "Token is invalid or expired")
		wantDetail(t, ts.call(http.MethodGet, "/rest-auth/user/", bearer(access), nil), http.StatusUnauthorized, "Given token not valid for any token type")
		wantDetail(t, ts.call(http.MethodPost, "/rest-auth/logout/", "", nil), http.StatusOK, "Successfully logged out.")
	})
	t.Run("route sets can be switched off and moved", func(t *testing.T) {
		ts := startServer(t, func(c *config.Config) {
			c.Users.API.RestAuth.Enabled = false
			c.Users.API.DRFJWT.Prefix = "/legacy"
			c.Users.API.APIPrefix = "/api/auth"
		})
		if res := ts.call(http.MethodPost, "/rest-auth/login/", "", map[string]any{}); res.Status != http.StatusNotFound {
			t.Errorf("rest-auth is off: %s", res)
		}
		if res := ts.call(http.MethodPost, "/legacy/api-token-auth/", "", map[string]any{"username": adminUser, "password": adminPass}); res.Status != http.StatusOK {
			t.Errorf("moved drf-jwt: %s", res)
		}
		if res := ts.call(http.MethodPost, "/api/auth/jwt/create/", "", map[string]any{"username": adminUser, "password": adminPass}); res.Status != http.StatusOK {
			t.Errorf("moved user API: %s", res)
		}
	})
}
