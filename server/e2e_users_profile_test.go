package server_test

import (
	"net/http"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// The profile schema of docs/users-api.md, as YAML text in the config.
func TestUsersProfileSchemaOfTheDocs(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		c.Users.API.ProfileSchema = `
type: object
additionalProperties: false
properties:
  title: {enum: [Mr, Ms, Mx, Dr]}
  dob: {type: string, format: date}
  address: {type: string, maxLength: 255}
  country: {type: string, minLength: 2, maxLength: 2}
  city: {type: string, maxLength: 50}
  zip: {type: string, maxLength: 10}
`
	})
	ts.createUser("zoe", "zoe-pass-1234", false)
	tok, _ := ts.jwtPair("zoe", "zoe-pass-1234")
	good := map[string]any{"title": "Dr", "dob": "1990-01-02", "address": "1 High St", "country": "GB", "city": "Oxford", "zip": "OX1 1AA"}
	res := ts.call(http.MethodPatch, "/auth/users/me/", bearer(tok), map[string]any{"profile": good})
	if res.Status != http.StatusOK {
		t.Fatalf("a valid profile: %s", res)
	}
	m := wantFields(t, ts.call(http.MethodPatch, "/auth/users/me/", bearer(tok), map[string]any{"profile": map[string]any{"dob": "yesterday", "pet": "cat"}}), "profile.dob")
	wantMsg(t, m, "profile.dob", "Enter a valid date.")
	if p := ts.user("zoe").Profile; p["city"] != "Oxford" || p["dob"] != "1990-01-02" {
		t.Errorf("a refused profile was written: %v", p)
	}
	wantFields(t, ts.call(http.MethodPost, "/auth/users/", "", map[string]any{
		"username": "zed", "email": "zed@example.com", "password": "zed-pass-1234", "profile": map[string]any{"country": "GBR"},
	}), "profile.country")
}
