package server_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/config"
)

func TestAdminUserSessions(t *testing.T) {
	ts := startServer(t, nil)
	amy := ts.createUser("amy", "amy-pass-1234", false)
	tok, refresh := ts.jwtPair("amy", "amy-pass-1234")
	admin := bearer(ts.adminToken())
	p := "/admin/users/" + itoa(amy.ID) + "/sessions/"

	wantDetail(t, ts.call(http.MethodGet, p, bearer(tok), nil), http.StatusForbidden, "You do not have permission to perform this action.")
	res := ts.call(http.MethodGet, p, admin, nil)
	var page struct {
		Count   int              `json:"count"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(res.Body, &page); err != nil || res.Status != http.StatusOK || page.Count != 1 {
		t.Fatalf("list: %s", res)
	}
	sid := page.Results[0]["id"].(string)
	wantDetail(t, ts.call(http.MethodGet, "/admin/users/999999/sessions/", admin, nil), http.StatusNotFound, "Not found.")
	wantDetail(t, ts.call(http.MethodDelete, "/admin/users/"+itoa(ts.user(adminUser).ID)+"/sessions/"+sid+"/", admin, nil), http.StatusNotFound, "Not found.")
	if res := ts.call(http.MethodDelete, p+sid+"/", admin, nil); res.Status != http.StatusNoContent {
		t.Fatalf("revoke: %s", res)
	}
	wantDetail(t, ts.call(http.MethodGet, "/auth/users/me/", bearer(tok), nil), http.StatusUnauthorized, "Given token not valid for any token type")
	wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}), http.StatusUnauthorized, "Token is invalid or expired")
}

func TestUsersMoreErrors(t *testing.T) {
	mb := &mailbox{}
	ts := startMailServer(t, mb, nil)
	bea := ts.createUser("bea", "bea-pass-1234", false)
	admin := bearer(ts.adminToken())

	t.Run("the user list needs credentials", func(t *testing.T) {
		wantDetail(t, ts.call(http.MethodGet, "/auth/users/", "", nil), http.StatusUnauthorized, "Authentication credentials were not provided.")
	})
	t.Run("token/logout with an access token ends its session", func(t *testing.T) {
		tok, refresh := ts.jwtPair("bea", "bea-pass-1234")
		if res := ts.call(http.MethodPost, "/auth/token/logout/", "JWT "+tok, nil); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/refresh/", "", map[string]any{"refresh": refresh}), http.StatusUnauthorized, "Token is invalid or expired")
		wantDetail(t, ts.call(http.MethodPost, "/auth/token/logout/", "", nil), http.StatusUnauthorized, "Authentication credentials were not provided.")
	})
	t.Run("resend_activation for an active account sends nothing", func(t *testing.T) {
		if res := ts.call(http.MethodPost, "/auth/users/resend_activation/", "", map[string]any{"email": "bea@example.com"}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		if got := mb.take(); len(got) != 0 {
			t.Errorf("mail: %+v", got)
		}
	})
	t.Run("dj-rest-auth verify-email activates with <uid>:<token>", func(t *testing.T) {
		ts2 := startMailServer(t, mb, func(c *config.Config) { c.Users.Registration = "activation" })
		res := ts2.call(http.MethodPost, "/rest-auth/registration/", "", map[string]any{"username": "cy", "email": "cy@example.com", "password1": "cy-pass-12345", "password2": "cy-pass-12345"})
		if res.Status != http.StatusCreated {
			t.Fatalf("%s", res)
		}
		uid, token := linkParts(t, onlyMail(t, mb, accounts.MailActivation, "cy@example.com"))
		wantFields(t, ts2.call(http.MethodPost, "/rest-auth/registration/verify-email/", "", map[string]any{"key": uid + ":x" + token}), "key")
		wantDetail(t, ts2.call(http.MethodPost, "/rest-auth/registration/verify-email/", "", map[string]any{"key": uid + ":" + token}), http.StatusOK, "ok")
		ts2.jwtPair("cy", "cy-pass-12345")
	})
	t.Run("staff delete a user with their own current_password", func(t *testing.T) {
		p := "/auth/users/" + itoa(bea.ID) + "/"
		wantFields(t, ts.call(http.MethodDelete, p, admin, map[string]any{"current_password": "bea-pass-1234"}), "current_password")
		if res := ts.call(http.MethodDelete, p, admin, map[string]any{"current_password": adminPass}); res.Status != http.StatusNoContent {
			t.Fatalf("%s", res)
		}
		wantDetail(t, ts.call(http.MethodGet, p, admin, nil), http.StatusNotFound, "Not found.")
	})
	t.Run("unsupported methods are 405 with a detail", func(t *testing.T) {
		res := ts.call(http.MethodPut, "/auth/users/", admin, map[string]any{})
		if res.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s", res)
		}
	})
}

// A browser's FormData (multipart/form-data) is a form too; a file is not
// accepted.
func TestUsersMultipartBodies(t *testing.T) {
	ts := startServer(t, nil)
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range map[string]string{"username": "dee", "email": "dee@example.com", "password": "dee-pass-1234"} {
		_ = w.WriteField(k, v)
	}
	w.Close()
	req := ts.newRequest(http.MethodPost, "/auth/users/", bytes.NewReader(body.Bytes()))
	req.Header.Set("Content-Type", w.FormDataContentType())
	if res := ts.do(req); res.Status != http.StatusCreated {
		t.Fatalf("multipart register: %s", res)
	}
	body.Reset()
	w = multipart.NewWriter(&body)
	_ = w.WriteField("username", "dee")
	fw, _ := w.CreateFormFile("password", "p.txt")
	_, _ = fw.Write([]byte("dee-pass-1234"))
	w.Close()
	req = ts.newRequest(http.MethodPost, "/auth/jwt/create/", bytes.NewReader(body.Bytes()))
	req.Header.Set("Content-Type", w.FormDataContentType())
	if res := ts.do(req); res.Status != http.StatusBadRequest {
		t.Errorf("a file in a multipart body: %s", res)
	}
}
