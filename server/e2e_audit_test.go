package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/config"
)

// eventPage is GET /admin/events/'s cursor page.
type eventPage struct {
	Next     *string          `json:"next"`
	Previous *string          `json:"previous"`
	Results  []map[string]any `json:"results"`
}

// events reads every page of /admin/events/ with the query, newest first.
func (ts *testServer) events(auth, query string) []map[string]any {
	ts.t.Helper()
	path := "/admin/events/?" + query
	var out []map[string]any
	for range 1000 {
		res := ts.call(http.MethodGet, path, auth, nil)
		if res.Status != http.StatusOK {
			ts.t.Fatalf("GET %s: %s", path, res)
		}
		var p eventPage
		if err := json.Unmarshal(res.Body, &p); err != nil {
			ts.t.Fatalf("GET %s: %v: %s", path, err, res.Body)
		}
		out = append(out, p.Results...)
		if p.Next == nil {
			return out
		}
		path = *p.Next
	}
	ts.t.Fatal("the cursor never ends")
	return nil
}

func eventTypes(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		out = append(out, e["type"].(string))
	}
	return out
}

func findEvent(events []map[string]any, typ string) map[string]any {
	for _, e := range events {
		if e["type"] == typ {
			return e
		}
	}
	return nil
}

// Every flow that makes an event of contract §5 runs; afterwards each type
// is listed by /admin/events/ and logged with "audit": true, with who did
// it and from where, and no password, token or secret is in an event or
// in the log.
func TestAuditEventsRecordEveryFlowWithoutSecrets(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Log.Level = "debug"; c.TrustedProxies = []string{"127.0.0.1"} })
	adminTok := ts.adminToken()
	admin := bearer(adminTok)
	const pw, next = "zora-pass-1234", "zora-next-5678"

	// Logins: success, failure, and a lockout after five failures.
	tok := ts.passwordToken(adminUser, adminPass, "openid")
	ts.createUser("victim", "victim-pass-1234", false)
	for i := range 6 {
		ts.login("203.0.113.9", "victim", fmt.Sprintf("wrong-guess-%d", i))
	}
	// Refresh reuse, revocation.
	rotated, err := ts.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// A replay after the rotation committed (and past its commit allowance)
	// is reuse; one in flight with it would only have lost a race.
	ts.Clock.Advance(time.Second)
	_, _ = ts.refresh(tok.RefreshToken)
	second := ts.passwordToken(adminUser, adminPass)
	ts.revoke(second.RefreshToken, demoClient, demoSecret)
	// A user's life through the user API.
	created := ts.register("zora", pw)
	uid := strconv.FormatInt(int64(created["id"].(float64)), 10)
	access, _ := ts.jwtPair("zora", pw)
	ts.call(http.MethodPatch, "/auth/users/me/", bearer(access), map[string]any{"first_name": "Zora"})
	if res := ts.call(http.MethodPost, "/auth/users/set_password/", bearer(access), map[string]any{"current_password": pw, "new_password": next}); res.Status != http.StatusNoContent {
		t.Fatalf("set_password: %s", res)
	}
	_, zoraRefresh := ts.jwtPair("zora", next)
	// Staff ends one of zora's sessions through the admin API.
	res := ts.call(http.MethodGet, "/admin/users/"+uid+"/sessions/", admin, nil)
	var sessions struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(res.Body, &sessions); err != nil || len(sessions.Results) == 0 {
		t.Fatalf("sessions of %s: %s", uid, res)
	}
	sid := sessions.Results[0]["id"].(string)
	if res := ts.call(http.MethodDelete, "/admin/users/"+uid+"/sessions/"+sid+"/", admin, nil); res.Status != http.StatusNoContent {
		t.Fatalf("revoke session: %s", res)
	}
	// Clients and keys through the admin API.
	client := ts.createClient(adminTok, map[string]any{"client_id": "audited", "grant_types": []string{"client_credentials"}})
	ts.adminJSON(http.MethodPut, "/admin/clients/audited/", adminTok, map[string]any{"grant_types": []string{"client_credentials"}, "client_name": "Audited"})
	rotatedSecret := ts.adminJSON(http.MethodPost, "/admin/clients/audited/rotate-secret/", adminTok, nil)
	ts.adminJSON(http.MethodDelete, "/admin/clients/audited/", adminTok, nil)
	if res := ts.adminJSON(http.MethodPost, "/admin/keys/rotate/", adminTok, nil); res.Status != http.StatusCreated {
		t.Fatalf("rotate key: %s", res)
	}
	fresh := ts.adminToken() // signed by the new key
	admin = bearer(fresh)
	last, _ := ts.jwtPair("zora", next)
	if res := ts.call(http.MethodDelete, "/auth/users/me/", bearer(last), map[string]any{"current_password": next}); res.Status != http.StatusNoContent {
		t.Fatalf("delete me: %s", res)
	}

	events := ts.events(admin, "page_size=3")
	types := eventTypes(events)
	for _, want := range []string{
		"login.succeeded", "login.failed", "login.locked", "token.refresh_reuse_detected", "token.revoked",
		"user.created", "user.updated", "user.password_changed", "user.deleted", "session.revoked",
		"client.created", "client.updated", "client.secret_rotated", "client.deleted", "key.rotated",
	} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s event; got %v", want, types)
		}
	}
	// Newest first: the last thing done (the deletion) leads.
	if len(types) == 0 || types[0] != "user.deleted" {
		t.Errorf("the newest event is not the deletion: %v", types)
	}
	times := make([]time.Time, len(events))
	for i, e := range events {
		times[i], _ = time.Parse(time.RFC3339Nano, e["time"].(string))
		if i > 0 && times[i].After(times[i-1]) {
			t.Errorf("event %d is newer than event %d", i, i-1)
		}
	}

	t.Run("events name the actor, subject, client, backend and address", func(t *testing.T) {
		locked := findEvent(events, "login.locked")
		if locked["ip"] != "203.0.113.9" || locked["outcome"] != "failure" || locked["client_id"] != demoClient {
			t.Errorf("login.locked: %v", locked)
		}
		ok := findEvent(events, "login.succeeded")
		if ok["backend"] != "local" || ok["subject"] == "" || ok["outcome"] != "success" || ok["user_agent"] == "" {
			t.Errorf("login.succeeded: %v", ok)
		}
		adminID := strconv.FormatInt(ts.user(adminUser).ID, 10)
		if c := findEvent(events, "client.created"); c["actor"] != "user:"+adminID || c["client_id"] != "audited" {
			t.Errorf("client.created: %v", c)
		}
		if d := findEvent(events, "user.deleted"); d["subject"] != uid || d["actor"] != "user:"+uid {
			t.Errorf("user.deleted: %v", d)
		}
		if u := findEvent(events, "user.updated"); u["detail"].(map[string]any)["fields"] != "first_name" {
			t.Errorf("user.updated: %v", u)
		}
	})

	t.Run("filters and the cursor", func(t *testing.T) {
		failed := ts.events(admin, "type=login.failed&page_size=2")
		if len(failed) < 5 || slices.ContainsFunc(failed, func(e map[string]any) bool { return e["type"] != "login.failed" }) {
			t.Errorf("type filter: %v", eventTypes(failed))
		}
		mine := ts.events(admin, "user="+uid)
		if len(mine) == 0 || slices.ContainsFunc(mine, func(e map[string]any) bool { return e["subject"] != uid }) {
			t.Errorf("user filter: %v", mine)
		}
		audited := ts.events(admin, "client_id=audited")
		if got := eventTypes(audited); !slices.Equal(got, []string{"client.deleted", "client.secret_rotated", "client.updated", "client.created"}) {
			t.Errorf("client filter: %v", got)
		}
		if later := ts.events(admin, "since="+url.QueryEscape(ts.Clock.Now().Add(time.Hour).Format(time.RFC3339))); len(later) != 0 {
			t.Errorf("since in the future: %v", later)
		}
		if all := ts.events(admin, "since=0"); len(all) != len(events) {
			t.Errorf("since=0 lists %d events, want %d", len(all), len(events))
		}
		for _, bad := range []string{"since=yesterday", "cursor=nope", "page_size=0", "page_size=101"} {
			if res := ts.call(http.MethodGet, "/admin/events/?"+bad, admin, nil); res.Status != http.StatusBadRequest {
				t.Errorf("%s: %s, want 400", bad, res)
			}
		}
	})

	t.Run("no secret in an event or the log", func(t *testing.T) {
		raw, err := json.Marshal(events)
		if err != nil {
			t.Fatal(err)
		}
		logs := ts.Logs.String()
		for name, secret := range map[string]string{
			"admin password": adminPass, "victim password": "victim-pass-1234", "wrong password": "wrong-guess-0",
			"user password": pw, "new password": next, "client secret": demoSecret,
			"refresh token": tok.RefreshToken, "rotated refresh token": rotated.RefreshToken, "access token": tok.AccessToken,
			"revoked refresh token": second.RefreshToken, "user refresh token": zoraRefresh,
			"created client secret": client["client_secret"].(string), "rotated client secret": jsonField(t, rotatedSecret.Body, "client_secret"),
			"admin token": adminTok,
		} {
			if secret == "" {
				t.Fatalf("%s is empty: the test would prove nothing", name)
			}
			if strings.Contains(string(raw), secret) {
				t.Errorf("an event contains the %s", name)
			}
			if strings.Contains(logs, secret) {
				t.Errorf("the log contains the %s", name)
			}
		}
	})

	t.Run("each event is also a log line with audit true", func(t *testing.T) {
		lines := map[string]bool{}
		for _, line := range strings.Split(ts.Logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["audit"] == true {
				lines[fmt.Sprint(m["event_id"])] = true
			}
		}
		for _, e := range events {
			if !lines[e["id"].(string)] {
				t.Errorf("event %s (%s) has no audit log line", e["id"], e["type"])
			}
		}
	})
}

// A password reset by e-mailed link is a user.password_reset event of the
// user, with neither the link's token nor the new password in it.
func TestAuditPasswordResetEvent(t *testing.T) {
	mb := &mailbox{}
	ts := startMailServer(t, mb, nil)
	u := ts.createUser("rita", "rita-pass-1234", false)
	if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "rita@example.com"}); res.Status != http.StatusNoContent {
		t.Fatalf("reset_password: %s", res)
	}
	uid, token := linkParts(t, onlyMail(t, mb, accounts.MailPasswordReset, "rita@example.com"))
	const next = "rita-next-pass-5678"
	if res := ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", map[string]any{"uid": uid, "token": token, "new_password": next}); res.Status != http.StatusNoContent {
		t.Fatalf("reset_password_confirm: %s", res)
	}
	events := ts.events(bearer(ts.adminToken()), "type=user.password_reset")
	if len(events) != 1 || events[0]["subject"] != strconv.FormatInt(u.ID, 10) {
		t.Fatalf("user.password_reset events: %v", events)
	}
	raw, _ := json.Marshal(events)
	if strings.Contains(string(raw), token) || strings.Contains(string(raw), next) || strings.Contains(ts.Logs.String(), next) {
		t.Error("the reset's token or new password is in an event or the log")
	}
}
