package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/config"
)

func TestUsersRegister(t *testing.T) {
	ts := startServer(t, nil)
	const pw = "correct-Horse-7"

	t.Run("a registration answers 201 with the user object", func(t *testing.T) {
		res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{
			"username": "alice", "email": "alice@example.com", "password": pw, "re_password": pw,
			"first_name": "Alice", "last_name": "Liddell",
			"profile": map[string]any{"title": "Ms", "dob": "1990-01-02", "address": map[string]any{"city": "Oxford", "zip": "OX1"}},
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("register: %s", res)
		}
		u := res.json(t)
		for _, k := range []string{"id", "username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser", "email_verified", "date_joined", "last_login", "groups", "profile"} {
			if _, ok := u[k]; !ok {
				t.Errorf("user object lacks %s: %s", k, res.Body)
			}
		}
		if u["username"] != "alice" || u["is_active"] != true || u["is_staff"] != false || u["last_login"] != nil {
			t.Errorf("user %s", res.Body)
		}
		if strings.Contains(string(res.Body), "password") {
			t.Errorf("the answer mentions the password: %s", res.Body)
		}
		if p, _ := u["profile"].(map[string]any); p["title"] != "Ms" {
			t.Errorf("profile %v", u["profile"])
		}
	})
	t.Run("the registered user logs in at /oauth2/token and /auth/jwt/create", func(t *testing.T) {
		ts.passwordToken("alice", pw)
		ts.jwtPair("alice@example.com", pw)
	})
	t.Run("a form body registers too", func(t *testing.T) {
		res := ts.call(http.MethodPost, "/auth/users", "", url.Values{
			"username": {"formuser"}, "email": {"form@example.com"}, "password": {pw},
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("form register: %s", res)
		}
	})

	before := ts.userCount()
	bad := []struct {
		name   string
		body   any
		fields []string
		msg    string // the first field's message, when checked
	}{
		{"duplicate e-mail", map[string]any{"username": "alice2", "email": "ALICE@example.com", "password": pw}, []string{"email"}, "user with this email address already exists."},
		{"duplicate username", map[string]any{"username": "Alice", "email": "a2@example.com", "password": pw}, []string{"username"}, "A user with that username already exists."},
		{"missing fields", map[string]any{}, []string{"username", "email", "password"}, "This field is required."},
		{"a bad e-mail", map[string]any{"username": "bob", "email": "not-an-email", "password": pw}, []string{"email"}, "Enter a valid email address."},
		{"a bad username", map[string]any{"username": "bob smith", "email": "bob@example.com", "password": pw}, []string{"username"}, "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."},
		{"a short password", map[string]any{"username": "bob", "email": "bob@example.com", "password": "x7!"}, []string{"password"}, "This password is too short. It must contain at least 8 characters."},
		{"a common password", map[string]any{"username": "bob", "email": "bob@example.com", "password": "password123"}, []string{"password"}, "This password is too common."},
		{"a numeric password", map[string]any{"username": "bob", "email": "bob@example.com", "password": "8675309123"}, []string{"password"}, "This password is entirely numeric."},
		{"a password like the username", map[string]any{"username": "bobsmith1", "email": "bob@example.com", "password": "bobsmith12"}, []string{"password"}, "The password is too similar to the username."},
		{"retyped passwords that differ", map[string]any{"username": "bob", "email": "bob@example.com", "password": pw, "re_password": pw + "x"}, []string{"non_field_errors"}, "The two password fields didn't match."},
		{"an unknown field", map[string]any{"username": "bob", "email": "bob@example.com", "password": pw, "is_superuser": true}, []string{"is_superuser"}, "Unknown field."},
		{"wrong types", map[string]any{"username": 12, "email": true, "password": []string{"a"}}, []string{"username", "email", "password"}, "Not a valid string."},
		{"a huge string", map[string]any{"username": strings.Repeat("b", 5000), "email": "bob@example.com", "password": pw}, []string{"username"}, "Ensure this field has no more than 150 characters."},
		{"a profile that is not an object", map[string]any{"username": "bob", "email": "bob@example.com", "password": pw, "profile": "x"}, []string{"profile"}, `Expected a dictionary of items but got type "str".`},
		{"a NUL byte", map[string]any{"username": "bo\x00b", "email": "bob@example.com", "password": pw}, []string{"username"}, "Null characters are not allowed."},
	}
	for _, tc := range bad {
		t.Run(tc.name+" is a 400 field map", func(t *testing.T) {
			m := wantFields(t, ts.call(http.MethodPost, "/auth/users/", "", tc.body), tc.fields...)
			if m != nil && tc.msg != "" {
				wantMsg(t, m, tc.fields[0], tc.msg)
			}
		})
	}
	t.Run("malformed JSON is a 400", func(t *testing.T) {
		res := ts.call(http.MethodPost, "/auth/users/", "", `{"username": `)
		if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "JSON parse error") {
			t.Errorf("%s", res)
		}
		if res := ts.call(http.MethodPost, "/auth/users/", "", `["a"]`); res.Status != http.StatusBadRequest {
			t.Errorf("a JSON array: %s", res)
		}
	})
	t.Run("another content type is a 415", func(t *testing.T) {
		req := ts.newRequest(http.MethodPost, "/auth/users/", strings.NewReader("username=x"))
		req.Header.Set("Content-Type", "text/plain")
		res := ts.do(req)
		if res.Status != http.StatusUnsupportedMediaType || !strings.Contains(string(res.Body), "Unsupported media type") {
			t.Errorf("%s", res)
		}
	})
	t.Run("no bad registration wrote anything", func(t *testing.T) {
		if n := ts.userCount(); n != before {
			t.Errorf("%d users, want %d", n, before)
		}
	})
}

func TestUsersRegistrationModes(t *testing.T) {
	t.Run("closed registration refuses anyone but staff", func(t *testing.T) {
		ts := startServer(t, func(c *config.Config) { c.Users.Registration = "closed" })
		body := map[string]any{"username": "carol", "email": "carol@example.com", "password": "correct-Horse-7"}
		wantDetail(t, ts.call(http.MethodPost, "/auth/users/", "", body), http.StatusForbidden, "You do not have permission to perform this action.")
		if res := ts.call(http.MethodPost, "/auth/users/", bearer(ts.adminToken()), body); res.Status != http.StatusCreated {
			t.Errorf("staff registration: %s", res)
		}
	})
	t.Run("login by e-mail only makes username optional", func(t *testing.T) {
		ts := startServer(t, func(c *config.Config) { c.Users.LoginFields = []string{"email"} })
		res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"email": "dana@example.com", "password": "correct-Horse-7"})
		if res.Status != http.StatusCreated {
			t.Fatalf("register: %s", res)
		}
		res = ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"email": "dana@example.com", "password": "correct-Horse-7"})
		if res.Status != http.StatusOK {
			t.Errorf("jwt/create with email: %s", res)
		}
		m := wantFields(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"password": "x"}), "email")
		wantMsg(t, m, "email", "This field is required.")
	})
}

func TestUsersJWT(t *testing.T) {
	ts := startServer(t, nil)
	ts.createUser("erin", "erin-pass-123", false)

	t.Run("jwt/create gives a pair of the first-party client", func(t *testing.T) {
		access, refresh := ts.jwtPair("erin", "erin-pass-123")
		if !strings.HasPrefix(refresh, "lk_rt_") {
			t.Errorf("refresh %q", refresh)
		}
		active, info := ts.introspectActive(access)
		if !active || info["client_id"] != "latchkey-api" || info["username"] != "erin" {
			t.Errorf("introspection %v", info)
		}
	})
	t.Run("a wrong password is SimpleJWT's 401, the same for an unknown user", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"username": "erin", "password": "wrong-password"},
			{"username": "nobody", "password": "wrong-password"},
		} {
			res := ts.call(http.MethodPost, "/auth/jwt/create/", "", body)
			wantDetail(t, res, http.StatusUnauthorized, "No active account found with the given credentials")
			if res.Header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
		}
	})
	t.Run("jwt/create with missing or unknown fields is 400", func(t *testing.T) {
		wantFields(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{}), "username", "password")
		wantFields(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "erin", "password": "erin-pass-123", "otp": "1"}), "otp")
	})
	t.Run("jwt/refresh rotates; the old refresh token then fails and ends the session", func(t *testing.T) {
		access, refresh := ts.jwtPair("erin", "erin-pass-123")
		res := ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh})
		if res.Status != http.StatusOK {
			t.Fatalf("refresh: %s", res)
		}
		m := res.json(t)
		next, _ := m["refresh"].(string)
		if m["access"] == nil || next == "" || next == refresh {
			t.Fatalf("refresh answer %s", res.Body)
		}
		// A replay, after the rotation committed (not a request in flight).
		ts.Clock.Advance(time.Second)
		res = ts.call(http.MethodPost, "/auth/jwt/refresh", "", map[string]any{"refresh": refresh})
		wantDetail(t, res, http.StatusUnauthorized, "Token is invalid or expired")
		if res.json(t)["code"] != "token_not_valid" {
			t.Errorf("code: %s", res.Body)
		}
		// Reuse revoked the family: the rotated token and the access token die.
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": next}), http.StatusUnauthorized, "Token is invalid or expired")
		if active, _ := ts.introspectActive(access); active {
			t.Error("the access token of a reused family is still active")
		}
	})
	t.Run("jwt/verify answers {} for a good token and 401 for a bad one", func(t *testing.T) {
		access, refresh := ts.jwtPair("erin", "erin-pass-123")
		for _, tok := range []string{access, refresh} {
			res := ts.call(http.MethodPost, "/auth/jwt/verify/", "", map[string]any{"token": tok})
			if res.Status != http.StatusOK || strings.TrimSpace(string(res.Body)) != "{}" {
				t.Errorf("verify: %s", res)
			}
		}
		for _, tok := range []string{"garbage", access[:len(access)-4] + "AAAA", "lk_rt_nope"} {
			wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/verify/", "", map[string]any{"token": tok}), http.StatusUnauthorized, "Token is invalid or expired")
		}
		wantFields(t, ts.call(http.MethodPost, "/auth/jwt/verify/", "", map[string]any{}), "token")
	})
	t.Run("jwt/blacklist ends the session of the refresh token", func(t *testing.T) {
		access, refresh := ts.jwtPair("erin", "erin-pass-123")
		if res := ts.call(http.MethodPost, "/auth/jwt/blacklist/", "", map[string]any{"refresh": refresh}); res.Status != http.StatusOK {
			t.Fatalf("blacklist: %s", res)
		}
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}), http.StatusUnauthorized, "Token is invalid or expired")
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(access), nil), http.StatusUnauthorized, "Given token not valid for any token type")
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/blacklist/", "", map[string]any{"refresh": refresh}), http.StatusUnauthorized, "Token is invalid or expired")
	})
}

func TestUsersAuthentication(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Users.API.BasicAuth = true })
	ts.createUser("frank", "frank-pass-123", false)
	access, _ := ts.jwtPair("frank", "frank-pass-123")
	res := ts.call(http.MethodPost, "/auth/token/login/", "", map[string]any{"username": "frank", "password": "frank-pass-123"})
	if res.Status != http.StatusOK {
		t.Fatalf("token/login: %s", res)
	}
	knox, _ := res.json(t)["auth_token"].(string)
	if !strings.HasPrefix(knox, "lk_pat_") || len(knox) < len("lk_pat_")+43 {
		t.Fatalf("auth_token %q", knox)
	}

	t.Run("users/me without credentials is DRF's 401 with WWW-Authenticate", func(t *testing.T) {
		res := ts.call(http.MethodGet, "/auth/users/me/", "", nil)
		wantDetail(t, res, http.StatusUnauthorized, "Authentication credentials were not provided.")
		if res.Header.Get("WWW-Authenticate") == "" {
			t.Error("no WWW-Authenticate")
		}
	})
	for _, tc := range []struct{ name, header string }{
		{"Bearer JWT", "Bearer " + access},
		{"JWT", "JWT " + access},
		{"Token", "Token " + knox},
		{"Bearer personal token", "Bearer " + knox},
		{"Basic", basic("frank", "frank-pass-123")},
	} {
		t.Run("users/me with "+tc.name, func(t *testing.T) {
			res := ts.call(http.MethodGet, "/auth/users/me", tc.header, nil)
			if res.Status != http.StatusOK || res.json(t)["username"] != "frank" {
				t.Errorf("%s", res)
			}
		})
	}
	t.Run("bad credentials are 401 with the scheme's detail", func(t *testing.T) {
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", "Bearer garbage", nil), http.StatusUnauthorized, "Given token not valid for any token type")
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", "Token lk_pat_nope", nil), http.StatusUnauthorized, "Invalid token.")
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", basic("frank", "nope"), nil), http.StatusUnauthorized, "Invalid username/password.")
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", "Digest x", nil), http.StatusUnauthorized, "Authentication credentials were not provided.")
	})
	t.Run("the admin API takes the same credentials", func(t *testing.T) {
		adminKnox := ts.call(http.MethodPost, "/auth/token/login/", "", map[string]any{"username": adminUser, "password": adminPass}).json(t)["auth_token"].(string)
		if res := ts.call(http.MethodGet, "/admin/groups/", "Token "+adminKnox, nil); res.Status != http.StatusOK {
			t.Errorf("admin with Token: %s", res)
		}
		wantDetail(t, ts.call(http.MethodGet, "/admin/groups/", "Token "+knox, nil), http.StatusForbidden, "You do not have permission to perform this action.")
	})
	t.Run("token/login with a wrong password is djoser's 400", func(t *testing.T) {
		m := wantFields(t, ts.call(http.MethodPost, "/auth/token/login/", "", map[string]any{"username": "frank", "password": "nope"}), "non_field_errors")
		wantMsg(t, m, "non_field_errors", "Unable to log in with provided credentials.")
	})
	t.Run("token/logout revokes that token only", func(t *testing.T) {
		other := ts.call(http.MethodPost, "/auth/token/login/", "", map[string]any{"username": "frank", "password": "frank-pass-123"}).json(t)["auth_token"].(string)
		if res := ts.call(http.MethodPost, "/auth/token/logout/", "Token "+other, nil); res.Status != http.StatusNoContent {
			t.Fatalf("logout: %s", res)
		}
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", "Token "+other, nil), http.StatusUnauthorized, "Invalid token.")
		if res := ts.call(http.MethodGet, "/auth/users/me/", "Token "+knox, nil); res.Status != http.StatusOK {
			t.Errorf("the other token died too: %s", res)
		}
	})
	t.Run("token/logoutall revokes every token and session", func(t *testing.T) {
		_, refresh := ts.jwtPair("frank", "frank-pass-123")
		if res := ts.call(http.MethodPost, "/auth/token/logoutall/", "Token "+knox, nil); res.Status != http.StatusNoContent {
			t.Fatalf("logoutall: %s", res)
		}
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", "Token "+knox, nil), http.StatusUnauthorized, "Invalid token.")
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(access), nil), http.StatusUnauthorized, "Given token not valid for any token type")
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}), http.StatusUnauthorized, "Token is invalid or expired")
	})
	t.Run("a deactivated user's credentials stop working", func(t *testing.T) {
		ts.createUser("gina", "gina-pass-123", false)
		tok, _ := ts.jwtPair("gina", "gina-pass-123")
		id := ts.user("gina").ID
		res := ts.call(http.MethodPatch, "/auth/users/"+itoa(id)+"/", bearer(ts.adminToken()), map[string]any{"is_active": false})
		if res.Status != http.StatusOK || res.json(t)["is_active"] != false {
			t.Fatalf("deactivate: %s", res)
		}
		if res := ts.call(http.MethodGet, "/auth/users/me/", bearer(tok), nil); res.Status != http.StatusUnauthorized {
			t.Errorf("a deactivated user's token: %s", res)
		}
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "gina", "password": "gina-pass-123"}), http.StatusUnauthorized, "No active account found with the given credentials")
	})
}

func TestUsersBasicAuthIsOffByDefault(t *testing.T) {
	ts := startServer(t, nil)
	wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", basic(adminUser, adminPass), nil), http.StatusUnauthorized, "Authentication credentials were not provided.")
}
