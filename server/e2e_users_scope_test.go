package server_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/provider"
)

// A token another client got for a user is no credential for latchkey's
// own API (account changes, the admin API) unless that client was granted
// the latchkey scope; the first-party client's tokens always are.
func TestOtherClientsTokensDoNotManageTheAccount(t *testing.T) {
	ts := startServer(t, nil)
	admin := ts.adminToken()
	app := ts.createClient(admin, map[string]any{
		"client_name": "some app", "grant_types": []string{"password", "refresh_token"},
	})
	appID, appSecret := app["client_id"].(string), app["client_secret"].(string)
	cfg := ts.passwordConfig("openid", "profile")
	cfg.ClientID, cfg.ClientSecret = appID, appSecret
	appTok, err := cfg.PasswordCredentialsToken(t.Context(), adminUser, adminPass)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := "You do not have permission to perform this action."
	wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(appTok.AccessToken), nil), http.StatusForbidden, forbidden)
	wantDetail(t, ts.call(http.MethodGet, "/admin/clients/", bearer(appTok.AccessToken), nil), http.StatusForbidden, forbidden)
	wantDetail(t, ts.call(http.MethodPost, "/rest-auth/password/change/", bearer(appTok.AccessToken),
		map[string]any{"new_password1": "Takeover-123456", "new_password2": "Takeover-123456"}), http.StatusForbidden, forbidden)
	if _, err := cfg.PasswordCredentialsToken(t.Context(), adminUser, adminPass); err != nil {
		t.Fatalf("the password changed after all: %v", err)
	}
	// The app cannot ask for the scope it was not registered for.
	cfg.Scopes = []string{provider.ScopeAPI}
	if _, err := cfg.PasswordCredentialsToken(t.Context(), adminUser, adminPass); err == nil {
		t.Fatal("a client got the latchkey scope without being registered for it")
	}
	// The demo client (the operator's own) is registered for it, and the
	// first-party client needs none.
	if res := ts.call(http.MethodGet, "/admin/clients/", bearer(admin), nil); res.Status != http.StatusOK {
		t.Fatalf("demo client token with the latchkey scope: %s", res)
	}
	first, _ := ts.jwtPair(adminUser, adminPass)
	if res := ts.call(http.MethodGet, "/admin/clients/", bearer(first), nil); res.Status != http.StatusOK {
		t.Fatalf("first-party token: %s", res)
	}
}

// Input the store could not read back, or that is not one well-formed JSON
// object, is a 400 and writes nothing (security review: a profile number
// like 1e400 used to be stored and then made the user unreadable).
func TestUserAPIRefusesUnstorableAndMalformedJSON(t *testing.T) {
	ts := startServer(t, nil)
	body := `{"username":"nina","email":"nina@example.com","password":"Nina-pass-1234","profile":{"n":-1e999}}`
	wantFields(t, ts.call(http.MethodPost, "/auth/users/", "", body), "profile")
	if _, err := ts.srv.Store().UserByUsername(t.Context(), "nina"); err == nil {
		t.Fatal("the user was stored")
	}
	for name, raw := range map[string]string{
		"a stray bracket after the object": `{"username":"admin","password":"x"}]`,
		"two objects":                      `{"username":"admin"}{"password":"x"}`,
		"invalid UTF-8":                    "{\"username\":\"adm\xffin\",\"password\":\"x\"}",
	} {
		res := ts.call(http.MethodPost, "/auth/jwt/create/", "", raw)
		if res.Status != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", name, res)
		}
	}
	// A profile with ordinary numbers is fine.
	ok := `{"username":"nina","email":"nina@example.com","password":"Nina-pass-1234","profile":{"n":1.5e3}}`
	if res := ts.call(http.MethodPost, "/auth/users/", "", ok); res.Status != http.StatusCreated {
		t.Fatalf("%s", res)
	}
}

// One string never names two accounts: a username equal to another user's
// e-mail address (or the reverse) is taken, so nobody can capture another
// user's e-mail login (security review).
func TestUsernameCannotBeAnotherUsersEmail(t *testing.T) {
	ts := startServer(t, nil)
	reg := func(username, email string) response {
		return ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": username, "email": email, "password": "Some-pass-12345"})
	}
	if res := reg("alice", "alice@example.com"); res.Status != http.StatusCreated {
		t.Fatalf("%s", res)
	}
	wantFields(t, reg("alice@example.com", "mallory@example.com"), "username")
	if res := reg("mallory", "mallory@example.com"); res.Status != http.StatusCreated {
		t.Fatalf("%s", res)
	}
	tok, _ := ts.jwtPair("mallory", "Some-pass-12345")
	wantFields(t, ts.call(http.MethodPost, "/auth/users/set_username/", bearer(tok),
		map[string]any{"current_password": "Some-pass-12345", "new_username": "alice@example.com"}), "new_username")
	wantFields(t, ts.call(http.MethodPost, "/auth/users/set_email/", bearer(tok),
		map[string]any{"current_password": "Some-pass-12345", "new_email": "alice"}), "new_email")
	// A user's own address as username stays allowed.
	if res := reg("zoe@example.com", "zoe@example.com"); res.Status != http.StatusCreated {
		t.Fatalf("own address as username: %s", res)
	}
}

// Concurrent uses of one reset link: exactly one sets a password.
func TestResetLinkWorksOnceEvenConcurrently(t *testing.T) {
	mb := &mailbox{}
	ts := startMailServer(t, mb, nil)
	ts.createUser("rosa", "rosa-pass-1234", false)
	if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "rosa@example.com"}); res.Status != http.StatusNoContent {
		t.Fatalf("%s", res)
	}
	uid, token := linkParts(t, onlyMail(t, mb, accounts.MailPasswordReset, "rosa@example.com"))
	const n = 5
	ok, statuses := race(t, n, http.StatusNoContent, http.StatusBadRequest, func(i int) int {
		return ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", map[string]any{
			"uid": uid, "token": token, "new_password": "Rosa-new-pass-" + strconv.Itoa(i),
		}).Status
	})
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses of one reset link succeeded (%v), want 1", ok, n, statuses)
	}
}

// The first-party client is honoured: without the password grant the user
// API's logins are refused (403), and a deleted one is made again rather
// than turning every login into a 500 (security review).
func TestFirstPartyClientIsHonoured(t *testing.T) {
	ts := startServer(t, nil)
	admin := ts.adminToken()
	const fp = "latchkey-api"
	res := ts.adminJSON(http.MethodPut, "/admin/clients/"+fp+"/", admin, map[string]any{
		"client_name": "latchkey user API", "grant_types": []string{"refresh_token"},
		"token_endpoint_auth_method": "none",
	})
	if res.Status != http.StatusOK {
		t.Fatalf("PUT: %s", res)
	}
	login := map[string]any{"username": adminUser, "password": adminPass}
	wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", login), http.StatusForbidden, "You do not have permission to perform this action.")

	if res := ts.adminJSON(http.MethodDelete, "/admin/clients/"+fp+"/", admin, nil); res.Status != http.StatusNoContent {
		t.Fatalf("DELETE: %s", res)
	}
	wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": "garbage"}), http.StatusUnauthorized, "Token is invalid or expired")
	if res := ts.call(http.MethodPost, "/auth/jwt/create/", "", login); res.Status != http.StatusOK {
		t.Fatalf("login after the first-party client was deleted: %s", res)
	}
}

// Mail requests are limited per recipient (rate_limit.mail: 3 an hour by
// default), known address or not, so nobody floods a mailbox (security
// review).
func TestMailRequestsAreRateLimited(t *testing.T) {
	mb := &mailbox{}
	ts := startMailServer(t, mb, nil)
	ts.createUser("omar", "omar-pass-1234", false)
	for _, email := range []string{"omar@example.com", "nobody@example.com"} {
		var statuses []int
		for range 4 {
			statuses = append(statuses, ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": email}).Status)
		}
		if fmt.Sprint(statuses) != "[204 204 204 429]" {
			t.Errorf("%s: statuses %v, want three 204 then 429", email, statuses)
		}
	}
	if got := len(mb.take()); got != 3 {
		t.Errorf("%d mails sent, want 3", got)
	}
	// An hour later the address may ask again.
	ts.Clock.Advance(2 * time.Hour)
	if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "omar@example.com"}); res.Status != http.StatusNoContent {
		t.Fatalf("after the window: %s", res)
	}
}
