package server_test

import (
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
)

// A client without the refresh_token grant gets access tokens without a
// session (no sid). "Log out everywhere", a password reset and
// deactivation revoke the user's sessions, and with a per-user mark these
// tokens too; a login after the call works. On the SQL token store.
func TestSubjectRevocationSQL(t *testing.T) {
	testSubjectRevocation(t, startServer(t, nil))
}

// The same with the tokens in Redis.
func TestSubjectRevocationRedis(t *testing.T) {
	redisURL := testRedisURL(t)
	prefix, _ := redisPrefix(t, redisURL)
	testSubjectRevocation(t, startServer(t, func(c *config.Config) {
		c.Storage.Redis.URL = redisURL
		c.Storage.Redis.Prefix = prefix
		c.Storage.Tokens = "redis"
	}))
}

func testSubjectRevocation(t *testing.T, ts *testServer) {
	admin := ts.adminToken()
	// One client of each access-token format, password grant only; the
	// API scope lets their tokens call /auth/users/me/.
	var clients []*oauth2.Config
	for _, format := range []string{"jwt", "opaque"} {
		c := ts.createClient(admin, map[string]any{
			"client_name": "legacy " + format, "grant_types": []string{"password"},
			"scope": "openid profile " + provider.ScopeAPI, "access_token_format": format,
			"token_endpoint_auth_method": "client_secret_basic",
		})
		clients = append(clients, &oauth2.Config{
			ClientID: c["client_id"].(string), ClientSecret: c["client_secret"].(string),
			Scopes:   []string{"openid", provider.ScopeAPI},
			Endpoint: oauth2.Endpoint{TokenURL: ts.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
		})
	}
	login := func(t *testing.T, cfg *oauth2.Config, user, pass string) string {
		t.Helper()
		tok, err := cfg.PasswordCredentialsToken(ts.ctx(), user, pass)
		if err != nil {
			t.Fatalf("password grant for %s at %s: %v", user, cfg.ClientID, err)
		}
		if tok.RefreshToken != "" {
			t.Fatalf("a client without the refresh_token grant got a refresh token")
		}
		return tok.AccessToken
	}
	wantValid := func(t *testing.T, what, tok string) {
		t.Helper()
		active, m := ts.introspectActive(tok)
		if !active {
			t.Fatalf("%s: inactive at introspection", what)
		}
		if _, ok := m["sid"]; ok {
			t.Fatalf("%s: has a session (sid %v), the test needs a token without one", what, m["sid"])
		}
		if res := ts.call(http.MethodGet, "/auth/users/me/", bearer(tok), nil); res.Status != http.StatusOK {
			t.Fatalf("%s: users/me: %s", what, res)
		}
	}
	wantRevoked := func(t *testing.T, what, tok string) {
		t.Helper()
		if active, _ := ts.introspectActive(tok); active {
			t.Errorf("%s: still active at introspection", what)
		}
		if res := ts.call(http.MethodGet, "/auth/users/me/", bearer(tok), nil); res.Status != http.StatusUnauthorized {
			t.Errorf("%s: users/me: %s, want 401", what, res)
		}
	}

	t.Run("logoutall revokes tokens without a session; a login afterwards works", func(t *testing.T) {
		ts.createUser("olga", "olga-pass-1234", false)
		ts.createUser("oleg", "oleg-pass-1234", false)
		var old []string
		for _, c := range clients {
			tok := login(t, c, "olga", "olga-pass-1234")
			wantValid(t, c.ClientID+" before logoutall", tok)
			old = append(old, tok)
		}
		bystander := login(t, clients[0], "oleg", "oleg-pass-1234")
		firstParty, _ := ts.jwtPair("olga", "olga-pass-1234")
		// The test clock stands still: every token so far has the same iat
		// second as the call, and so must every one it revokes.
		if res := ts.call(http.MethodPost, "/auth/token/logoutall/", bearer(firstParty), nil); res.Status != http.StatusNoContent {
			t.Fatalf("logoutall: %s", res)
		}
		for i, tok := range old {
			wantRevoked(t, clients[i].ClientID+" after logoutall", tok)
		}
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(firstParty), nil), http.StatusUnauthorized, "Given token not valid for any token type")
		wantValid(t, "another user's token", bystander)

		// A first-party login (a new session) works at once, in the very
		// second of the call.
		access, _ := ts.jwtPair("olga", "olga-pass-1234")
		if res := ts.call(http.MethodGet, "/auth/users/me/", bearer(access), nil); res.Status != http.StatusOK {
			t.Fatalf("first-party login right after logoutall: %s", res)
		}
		// logoutall returned only once the clock had reached the mark (the
		// next second); the test clock is moved as the real one would be.
		ts.Clock.Advance(time.Second)
		for _, c := range clients {
			wantValid(t, c.ClientID+" login after logoutall", login(t, c, "olga", "olga-pass-1234"))
		}
	})

	t.Run("deactivation revokes tokens without a session", func(t *testing.T) {
		pia := ts.createUser("pia", "pia-pass-1234", false)
		tok := login(t, clients[0], "pia", "pia-pass-1234")
		wantValid(t, "before deactivation", tok)
		res := ts.call(http.MethodPatch, "/auth/users/"+itoa(pia.ID)+"/", bearer(admin), map[string]any{"is_active": false})
		if res.Status != http.StatusOK {
			t.Fatalf("deactivate: %s", res)
		}
		if active, _ := ts.introspectActive(tok); active {
			t.Error("a deactivated user's token without a session is active at introspection")
		}
	})
}
