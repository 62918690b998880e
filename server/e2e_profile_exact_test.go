package server_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// A profile reads back through the user API exactly as it was written, a
// NUL character and the literal text \u0000 included, on the embedded
// store and on Postgres.
func TestProfileValuesReadBackExactly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*testing.T, *config.Config)
	}{
		{"sqlite", func(*testing.T, *config.Config) {}},
		{"postgres", func(t *testing.T, c *config.Config) {
			dsn, _ := postgresDSN(t)
			c.Storage.Driver, c.Storage.Postgres.DSN = "postgres", dsn
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, func(c *config.Config) { tc.mutate(t, c) })
			access, _ := ts.jwtPair(adminUser, adminPass)
			body := `{"profile":{"nul":"a\u0000b","literal":"a\\u0000b","both":"\\u0000\u0000","key\u0000":["\u0000",{"x\\u0000":"\ue000"}]}}`
			var want map[string]any
			if err := json.Unmarshal([]byte(body), &want); err != nil {
				t.Fatal(err)
			}
			res := ts.call(http.MethodPatch, "/auth/users/me/", bearer(access), body)
			if res.Status != http.StatusOK {
				t.Fatalf("PATCH me with the profile: %s", res)
			}
			for _, r := range []response{res, ts.call(http.MethodGet, "/auth/users/me/", bearer(access), nil)} {
				if got := r.json(t)["profile"]; !reflect.DeepEqual(got, want["profile"]) {
					t.Errorf("profile read back as %q, want %q", got, want["profile"])
				}
			}
		})
	}
}
