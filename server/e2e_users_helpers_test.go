package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/server"
	"github.com/latchkey-auth/latchkey/storage"
)

// call sends a request to the user API: body is JSON (any value), a
// url.Values form, or a raw string sent as JSON; auth is the whole
// Authorization header ("" for none).
func (ts *testServer) call(method, path, auth string, body any) response {
	ts.t.Helper()
	var r io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		r, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		r, ct = strings.NewReader(b), "application/json"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatalf("marshal: %v", err)
		}
		r, ct = bytes.NewReader(data), "application/json"
	}
	req := ts.newRequest(method, path, r)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return ts.do(req)
}

func bearer(tok string) string { return "Bearer " + tok }

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// jwtPair logs in through /auth/jwt/create/.
func (ts *testServer) jwtPair(login, password string) (access, refresh string) {
	ts.t.Helper()
	res := ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": login, "password": password})
	if res.Status != http.StatusOK {
		ts.t.Fatalf("jwt/create for %s: %s", login, res)
	}
	m := res.json(ts.t)
	access, _ = m["access"].(string)
	refresh, _ = m["refresh"].(string)
	if access == "" || refresh == "" {
		ts.t.Fatalf("jwt/create: no pair in %s", res.Body)
	}
	return access, refresh
}

// register creates a user through POST /auth/users/ and returns the user.
func (ts *testServer) register(username, password string) map[string]any {
	ts.t.Helper()
	res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{
		"username": username, "email": username + "@example.com", "password": password,
	})
	if res.Status != http.StatusCreated {
		ts.t.Fatalf("register %s: %s", username, res)
	}
	return res.json(ts.t)
}

// wantDetail checks a DRF {"detail": ...} answer.
func wantDetail(t *testing.T, res response, status int, detail string) {
	t.Helper()
	if res.Status != status {
		t.Errorf("status %d, want %d: %s", res.Status, status, res.Body)
		return
	}
	var body map[string]any
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Errorf("body is not JSON: %s", res.Body)
		return
	}
	if body["detail"] != detail {
		t.Errorf("detail %q, want %q", body["detail"], detail)
	}
}

// wantFields checks a 400 field map: each named field has an error, and
// (when msg is not empty) the first names that message.
func wantFields(t *testing.T, res response, fields ...string) map[string][]string {
	t.Helper()
	if res.Status != http.StatusBadRequest {
		t.Errorf("status %d, want 400: %s", res.Status, res.Body)
		return nil
	}
	var m map[string][]string
	if err := json.Unmarshal(res.Body, &m); err != nil {
		t.Errorf("400 body is not a field map: %s", res.Body)
		return nil
	}
	for _, f := range fields {
		if len(m[f]) == 0 {
			t.Errorf("no error for %q in %s", f, res.Body)
		}
	}
	return m
}

func wantMsg(t *testing.T, m map[string][]string, field, msg string) {
	t.Helper()
	if !slices.Contains(m[field], msg) {
		t.Errorf("%s errors %q, want %q", field, m[field], msg)
	}
}

// userCount counts the stored users.
func (ts *testServer) userCount() int {
	ts.t.Helper()
	n, err := ts.srv.Store().CountUsers(ts.t.Context())
	if err != nil {
		ts.t.Fatal(err)
	}
	return n
}

// mailbox is a Mailer that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	mail []accounts.Mail
}

func (b *mailbox) SendMail(_ context.Context, m accounts.Mail) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mail = append(b.mail, m)
	return nil
}

// take returns and forgets the mail received so far.
func (b *mailbox) take() []accounts.Mail {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.mail
	b.mail = nil
	return out
}

// startMailServer starts a server whose e-mails go to mb, sent before each
// answer.
func startMailServer(t *testing.T, mb accounts.Mailer, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startServerWith(t, "127.0.0.1:0", t.TempDir(), newTestClock(), mutate, func(o *server.Options) {
		o.Mailer, o.SyncMail = mb, true
	})
}

func storageQuery() storage.UserQuery { return storage.UserQuery{} }

// race runs call(0..n-1) at once and returns how many answered win; an
// answer other than win or lose fails the test. It is how a test shows that
// of concurrent uses of one single-use thing exactly one wins.
func race(t *testing.T, n, win, lose int, call func(i int) int) (int, []int) {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = call(i) })
	}
	wg.Wait()
	wins := 0
	for _, st := range statuses {
		switch st {
		case win:
			wins++
		case lose:
		default:
			t.Errorf("status %d", st)
		}
	}
	return wins, statuses
}
