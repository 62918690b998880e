package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// The review's reproduction: registering "ａdmin" (fullwidth a) beside
// "admin" is a duplicate after NFKC, and "аdmin" (Cyrillic а) is refused
// as a mixed-script look-alike; a fullwidth login signs in the plain
// account; set_username and the staff update follow the same rules; a user
// stored before the rules keeps working.
func TestUsernamesAreNFKCNormalisedAndNeverMixScripts(t *testing.T) {
	ts := startServer(t, nil)
	register := func(username string) response {
		return ts.call(http.MethodPost, "/auth/users/", "", map[string]any{
			"username": username, "email": strings.ToLower(strings.ReplaceAll(username, "\u0430", "a2")) + "-x@example.com", "password": "a-long-passphrase-1",
		})
	}
	if m := wantFields(t, register("\uff41dmin"), "username"); m != nil && !strings.Contains(m["username"][0], "already exists") {
		t.Errorf("ａdmin beside admin: %v, want the duplicate message", m)
	}
	if m := wantFields(t, register("\u0430dmin"), "username"); m != nil && !strings.Contains(m["username"][0], "scripts") {
		t.Errorf("аdmin (Cyrillic а): %v, want the mixed-scripts message", m)
	}
	res := register("\uff4a\uff4f\uff45") // ｊｏｅ
	if res.Status != http.StatusCreated || res.json(t)["username"] != "joe" {
		t.Fatalf("register ｊｏｅ: %s, want 201 as joe", res)
	}
	if res := register("иван"); res.Status != http.StatusCreated {
		t.Errorf("a Cyrillic username alone: %s, want 201", res)
	}
	// A fullwidth login is the plain account.
	access, _ := ts.jwtPair("\uff4a\uff4f\uff45", "a-long-passphrase-1")
	if me := ts.call(http.MethodGet, "/auth/users/me/", bearer(access), nil); me.Status != http.StatusOK || me.json(t)["username"] != "joe" {
		t.Errorf("me after a fullwidth login: %s", me)
	}
	// set_username: mixed scripts refused, fullwidth stored normalised.
	wantFields(t, ts.call(http.MethodPost, "/auth/users/set_username/", bearer(access),
		map[string]any{"current_password": "a-long-passphrase-1", "new_username": "j\u043ee"}), "new_username")
	if res := ts.call(http.MethodPost, "/auth/users/set_username/", bearer(access),
		map[string]any{"current_password": "a-long-passphrase-1", "new_username": "\uff4a\uff4f\uff45\uff59"}); res.Status != http.StatusNoContent {
		t.Errorf("set_username ｊｏｅｙ: %s", res)
	}
	if u := ts.user("joey"); u.Username != "joey" {
		t.Errorf("set_username stored %q", u.Username)
	}
	// The staff update: the same rules.
	joey := ts.user("joey")
	admin := ts.adminToken()
	path := "/auth/users/" + itoa(joey.ID) + "/"
	wantFields(t, ts.call(http.MethodPatch, path, bearer(admin), map[string]any{"username": "j\u043eey"}), "username")
	wantFields(t, ts.call(http.MethodPatch, path, bearer(admin), map[string]any{"username": "\uff41dmin"}), "username")
	if res := ts.call(http.MethodPatch, path, bearer(admin), map[string]any{"username": "\uff4a\uff4f\uff45\uff59\uff12"}); res.Status != http.StatusOK || res.json(t)["username"] != "joey2" {
		t.Errorf("staff PATCH to ｊｏｅｙ２: %s", res)
	}
	// A user stored before the rules (a mixed-script name) still signs in
	// and can change what does not touch the username.
	legacy := ts.createUser("p\u0430ypal", "legacy-passphrase-1", false)
	tok, _ := ts.jwtPair("p\u0430ypal", "legacy-passphrase-1")
	if res := ts.call(http.MethodPatch, "/auth/users/me/", bearer(tok), map[string]any{"first_name": "Old"}); res.Status != http.StatusOK {
		t.Errorf("a legacy mixed-script user updating first_name: %s", res)
	}
	if u := ts.user(legacy.Username); u.FirstName != "Old" {
		t.Errorf("legacy user not updated: %+v", u)
	}
}

// users.username_mixed_scripts: allow accepts what refuse refuses; NFKC
// applies either way.
func TestMixedScriptUsernamesCanBeAllowed(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Users.UsernameMixedScripts = "allow" })
	res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "\u0430dmin", "email": "cyr@example.com", "password": "a-long-passphrase-1"})
	if res.Status != http.StatusCreated {
		t.Errorf("аdmin with mixed scripts allowed: %s", res)
	}
	wantFields(t, ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "\uff41dmin", "email": "fw@example.com", "password": "a-long-passphrase-1"}), "username")
}
