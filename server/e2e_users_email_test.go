package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/config"
)

// onlyMail checks that exactly one e-mail of the kind went to the address.
func onlyMail(t *testing.T, mb *mailbox, kind, to string) accounts.Mail {
	t.Helper()
	got := mb.take()
	if len(got) != 1 || got[0].Kind != kind || got[0].To != to {
		t.Fatalf("mail %+v, want one %s to %s", got, kind, to)
	}
	return got[0]
}

// linkParts reads uid and token out of a link made from the default
// patterns (".../{uid}/{token}").
func linkParts(t *testing.T, m accounts.Mail) (uid, token string) {
	t.Helper()
	parts := strings.Split(m.URL, "/")
	if len(parts) < 2 {
		t.Fatalf("link %q", m.URL)
	}
	uid, token = parts[len(parts)-2], parts[len(parts)-1]
	if uid != m.UID || token != m.Token {
		t.Fatalf("link %q does not carry uid %q and token %q", m.URL, m.UID, m.Token)
	}
	return uid, token
}

func TestUsersActivation(t *testing.T) {
	mb := &mailbox{}
	ts := startMailServer(t, mb, func(c *config.Config) { c.Users.Registration = "activation" })
	const pw = "rita-pass-1234"
	res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "rita", "email": "rita@example.com", "password": pw})
	if res.Status != http.StatusCreated || res.json(t)["is_active"] != false {
		t.Fatalf("register: %s", res)
	}
	m := onlyMail(t, mb, accounts.MailActivation, "rita@example.com")
	uid, token := linkParts(t, m)
	if m.URL != ts.URL+"/activate/"+uid+"/"+token || m.Domain != strings.TrimPrefix(ts.URL, "http://") || m.Protocol != "http" {
		t.Errorf("mail %+v", m)
	}

	t.Run("an inactive account cannot log in", func(t *testing.T) {
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "rita", "password": pw}), http.StatusUnauthorized, "No active account found with the given credentials")
	})
	t.Run("bad activation input is 400", func(t *testing.T) {
		wantFields(t, ts.call(http.MethodPost, "/auth/users/activation/", "", map[string]any{}), "uid", "token")
		wantMsg(t, wantFields(t, ts.call(http.MethodPost, "/auth/users/activation/", "", map[string]any{"uid": "!!", "token": token}), "uid"), "uid", "Invalid user id or user doesn't exist.")
		wantMsg(t, wantFields(t, ts.call(http.MethodPost, "/auth/users/activation/", "", map[string]any{"uid": uid, "token": token + "x"}), "token"), "token", "Invalid token for given user.")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/activation/", "", map[string]any{"uid": uid, "token": token, "extra": 1}), "extra")
		if ts.user("rita").IsActive {
			t.Fatal("a bad activation activated")
		}
	})
	t.Run("resend_activation sends again, and answers 204 for unknown addresses", func(t *testing.T) {
		if res := ts.call(http.MethodPost, "/auth/users/resend_activation/", "", map[string]any{"email": "rita@example.com"}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		onlyMail(t, mb, accounts.MailActivation, "rita@example.com")
		if res := ts.call(http.MethodPost, "/auth/users/resend_activation/", "", map[string]any{"email": "nobody@example.com"}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		if got := mb.take(); len(got) != 0 {
			t.Errorf("mail for an unknown address: %+v", got)
		}
	})
	t.Run("the link activates once, then is stale", func(t *testing.T) {
		if res := ts.call(http.MethodPost, "/auth/users/activation/", "", map[string]any{"uid": uid, "token": token}); res.Status != http.StatusNoContent {
			t.Fatalf("activation: %s", res)
		}
		onlyMail(t, mb, accounts.MailConfirmation, "rita@example.com")
		u := ts.user("rita")
		if !u.IsActive || !u.EmailVerified {
			t.Errorf("after activation %+v", u)
		}
		ts.jwtPair("rita", pw)
		wantDetail(t, ts.call(http.MethodPost, "/auth/users/activation/", "", map[string]any{"uid": uid, "token": token}), http.StatusForbidden, "Stale token for given user.")
	})
}

func TestUsersPasswordReset(t *testing.T) {
	mb := &mailbox{}
	ts := startMailServer(t, mb, nil)
	ts.createUser("sam", "sam-pass-1234", false)
	access, refresh := ts.jwtPair("sam", "sam-pass-1234")

	t.Run("an unknown e-mail answers 204 and sends nothing", func(t *testing.T) {
		if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "nobody@example.com"}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		if got := mb.take(); len(got) != 0 {
			t.Errorf("mail sent: %+v", got)
		}
		wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "not an email"}), "email")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{}), "email")
	})
	var uid, token string
	t.Run("a known e-mail gets a link", func(t *testing.T) {
		if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "SAM@example.com"}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		m := onlyMail(t, mb, accounts.MailPasswordReset, "sam@example.com")
		uid, token = linkParts(t, m)
		if m.URL != ts.URL+"/password/reset/confirm/"+uid+"/"+token {
			t.Errorf("url %q", m.URL)
		}
	})
	t.Run("bad confirmations are 400 and change nothing", func(t *testing.T) {
		wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", map[string]any{"uid": uid, "token": token}), "new_password")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", map[string]any{"uid": uid, "token": token, "new_password": "short"}), "new_password")
		wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", map[string]any{"uid": uid, "token": "1-" + strings.Repeat("a", 32), "new_password": "sam-new-pass-1"}), "token")
		ts.jwtPair("sam", "sam-pass-1234")
	})
	t.Run("the token works once and ends every session", func(t *testing.T) {
		body := map[string]any{"uid": uid, "token": token, "new_password": "sam-new-pass-1"}
		if res := ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", body); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		onlyMail(t, mb, accounts.MailPasswordChanged, "sam@example.com")
		ts.jwtPair("sam", "sam-new-pass-1")
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "sam", "password": "sam-pass-1234"}), http.StatusUnauthorized, "No active account found with the given credentials")
		body["new_password"] = "sam-third-pass-2"
		wantMsg(t, wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", body), "token"), "token", "Invalid token for given user.")
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(access), nil), http.StatusUnauthorized, "Given token not valid for any token type")
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}), http.StatusUnauthorized, "Token is invalid or expired")
	})
	t.Run("a reset token expires", func(t *testing.T) {
		ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "sam@example.com"})
		uid, token := linkParts(t, onlyMail(t, mb, accounts.MailPasswordReset, "sam@example.com"))
		ts.Clock.Advance(72*time.Hour + time.Minute)
		wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", map[string]any{"uid": uid, "token": token, "new_password": "sam-late-pass-3"}), "token")
	})
	t.Run("a reset token dies when the password changes", func(t *testing.T) {
		ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "sam@example.com"})
		uid, token := linkParts(t, onlyMail(t, mb, accounts.MailPasswordReset, "sam@example.com"))
		tok, _ := ts.jwtPair("sam", "sam-new-pass-1")
		if res := ts.call(http.MethodPost, "/auth/users/set_password/", bearer(tok), map[string]any{"current_password": "sam-new-pass-1", "new_password": "sam-changed-4"}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", map[string]any{"uid": uid, "token": token, "new_password": "sam-reset-5"}), "token")
	})
	t.Run("staff send a user the reset e-mail", func(t *testing.T) {
		id := itoa(ts.user("sam").ID)
		tok, _ := ts.jwtPair("sam", "sam-changed-4")
		wantDetail(t, ts.call(http.MethodPost, "/auth/users/"+id+"/reset_password/", bearer(tok), nil), http.StatusForbidden, "You do not have permission to perform this action.")
		if res := ts.call(http.MethodPost, "/auth/users/"+id+"/reset_password/", bearer(ts.adminToken()), nil); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		onlyMail(t, mb, accounts.MailPasswordReset, "sam@example.com")
	})
	t.Run("dj-rest-auth password reset and confirm", func(t *testing.T) {
		res := ts.call(http.MethodPost, "/rest-auth/password/reset/", "", map[string]any{"email": "sam@example.com"})
		if res.Status != http.StatusOK {
			t.Fatalf("%s", res)
		}
		uid, token := linkParts(t, onlyMail(t, mb, accounts.MailPasswordReset, "sam@example.com"))
		wantFields(t, ts.call(http.MethodPost, "/rest-auth/password/reset/confirm/", "", map[string]any{"uid": uid, "token": token, "new_password1": "sam-rest-pass-6"}), "new_password2")
		res = ts.call(http.MethodPost, "/rest-auth/password/reset/confirm/", "", map[string]any{"uid": uid, "token": token, "new_password1": "sam-rest-pass-6", "new_password2": "sam-rest-pass-6"})
		if res.Status != http.StatusOK {
			t.Fatalf("%s", res)
		}
		ts.jwtPair("sam", "sam-rest-pass-6")
	})
}

func TestUsersUsernameReset(t *testing.T) {
	mb := &mailbox{}
	ts := startMailServer(t, mb, nil)
	ts.createUser("tom", "tom-pass-1234", false)
	if res := ts.call(http.MethodPost, "/auth/users/reset_username/", "", map[string]any{"email": "tom@example.com"}); res.Status != http.StatusNoContent {
		t.Fatalf("%s", res)
	}
	uid, token := linkParts(t, onlyMail(t, mb, accounts.MailUsernameReset, "tom@example.com"))
	wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_username_confirm/", "", map[string]any{"uid": uid, "token": token, "new_username": "bad name"}), "new_username")
	if res := ts.call(http.MethodPost, "/auth/users/reset_username_confirm/", "", map[string]any{"uid": uid, "token": token, "new_username": "thomas"}); res.Status != http.StatusNoContent {
		t.Fatalf("%s", res)
	}
	onlyMail(t, mb, accounts.MailUsernameChanged, "tom@example.com")
	ts.jwtPair("thomas", "tom-pass-1234")
	wantFields(t, ts.call(http.MethodPost, "/auth/users/reset_username_confirm/", "", map[string]any{"uid": uid, "token": token, "new_username": "tommy"}), "token")
	if res := ts.call(http.MethodPost, "/auth/users/reset_username/", "", map[string]any{"email": "nobody@example.com"}); res.Status != http.StatusNoContent || len(mb.take()) != 0 {
		t.Errorf("unknown address: %s", res)
	}
}

// TestDjoserDocumentationFlow replays, request by request, the flow of the
// djoser and SimpleJWT documentation: register → activate → jwt/create →
// users/me → jwt/refresh → set_password → reset_password →
// reset_password_confirm → jwt/create with the new password.
func TestDjoserDocumentationFlow(t *testing.T) {
	mb := &mailbox{}
	ts := startMailServer(t, mb, func(c *config.Config) { c.Users.Registration = "activation" })

	// $ curl -X POST http://127.0.0.1:8088/auth/users/ --data 'username=djoser&password=alpine12'
	ts.register("djoser", "alpine-12-pass")
	uid, token := linkParts(t, onlyMail(t, mb, accounts.MailActivation, "djoser@example.com"))
	// POST /auth/users/activation/ {"uid", "token"}
	if res := ts.call(http.MethodPost, "/auth/users/activation/", "", map[string]any{"uid": uid, "token": token}); res.Status != http.StatusNoContent {
		t.Fatalf("activation: %s", res)
	}
	mb.take()
	// POST /auth/jwt/create/ {"username", "password"} → {"access", "refresh"}
	access, refresh := ts.jwtPair("djoser", "alpine-12-pass")
	// GET /auth/users/me/ with "Authorization: JWT <access>"
	res := ts.call(http.MethodGet, "/auth/users/me/", "JWT "+access, nil)
	if res.Status != http.StatusOK || res.json(t)["username"] != "djoser" || res.json(t)["email"] != "djoser@example.com" {
		t.Fatalf("users/me: %s", res)
	}
	// POST /auth/jwt/refresh/ {"refresh"} → {"access", "refresh"}
	res = ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh})
	if res.Status != http.StatusOK {
		t.Fatalf("refresh: %s", res)
	}
	access = res.json(t)["access"].(string)
	// POST /auth/users/set_password/ {"current_password", "new_password"}
	res = ts.call(http.MethodPost, "/auth/users/set_password/", "Bearer "+access, map[string]any{"current_password": "alpine-12-pass", "new_password": "alpine-13-pass"})
	if res.Status != http.StatusNoContent {
		t.Fatalf("set_password: %s", res)
	}
	// POST /auth/users/reset_password/ {"email"}
	if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "djoser@example.com"}); res.Status != http.StatusNoContent {
		t.Fatalf("reset_password: %s", res)
	}
	uid, token = linkParts(t, onlyMail(t, mb, accounts.MailPasswordReset, "djoser@example.com"))
	// POST /auth/users/reset_password_confirm/ {"uid", "token", "new_password"}
	res = ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", map[string]any{"uid": uid, "token": token, "new_password": "alpine-14-pass"})
	if res.Status != http.StatusNoContent {
		t.Fatalf("reset_password_confirm: %s", res)
	}
	// POST /auth/jwt/create/ with the new password.
	for _, old := range []string{"alpine-12-pass", "alpine-13-pass"} {
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": "djoser", "password": old}), http.StatusUnauthorized, "No active account found with the given credentials")
	}
	access, _ = ts.jwtPair("djoser", "alpine-14-pass")
	if res := ts.call(http.MethodGet, "/auth/users/me/", "Bearer "+access, nil); res.Status != http.StatusOK {
		t.Fatalf("users/me with the new login: %s", res)
	}
}
