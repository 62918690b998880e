package server_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/local"
	"github.com/latchkey-auth/latchkey/cmd/latchkey/stores"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/mail/mailtest"
	"github.com/latchkey-auth/latchkey/server"
)

// smtpTo points the server's mail section at srv.
func smtpTo(srv *mailtest.Server) func(*config.Config) {
	return func(c *config.Config) {
		host, port := srv.Addr()
		c.Mail.Backend, c.Mail.From = "smtp", "Latchkey <no-reply@latchkey.test>"
		c.Mail.SMTP.Host, c.Mail.SMTP.Port, c.Mail.SMTP.TLS = host, port, "none"
	}
}

func receive(t *testing.T, srv *mailtest.Server, to string) mailtest.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := srv.WaitFor(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var activationLink = regexp.MustCompile(`(https?://[^/\s]+)/activate/([A-Za-z0-9_-]+)/([0-9a-z]+-[A-Za-z0-9_-]+)`)

// The activation flow of issue 4's acceptance, through a real SMTP server:
// register, receive the mail, follow its link, log in.
func TestMailActivationOverSMTP(t *testing.T) {
	srv := mailtest.NewServer(t)
	ts := startMailServer(t, nil, func(c *config.Config) {
		smtpTo(srv)(c)
		c.Users.Registration = "activation"
		c.Users.API.SiteName = "Acme"
	})
	const pw = "sally-pass-1234"
	res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "sally", "email": "sally@example.com", "password": pw})
	if res.Status != http.StatusCreated {
		t.Fatalf("register: %s", res)
	}
	m := receive(t, srv, "sally@example.com")
	if m.Subject != "Account activation on Acme" || m.From != "no-reply@latchkey.test" {
		t.Errorf("subject %q from %q", m.Subject, m.From)
	}
	link := activationLink.FindStringSubmatch(m.Text)
	if link == nil {
		t.Fatalf("no activation link in the mail:\n%s", m.Text)
	}
	if link[1] != ts.URL {
		t.Errorf("link base %q, want the issuer %q", link[1], ts.URL)
	}
	if !strings.Contains(m.HTML, `href="`+link[0]+`"`) {
		t.Errorf("the HTML part lacks the link:\n%s", m.HTML)
	}
	body := map[string]any{"uid": link[2], "token": link[3]}
	if res := ts.call(http.MethodPost, "/auth/users/activation/", "", body); res.Status != http.StatusNoContent {
		t.Fatalf("activation: %s", res)
	}
	if c := receive(t, srv, "sally@example.com"); !strings.Contains(c.Subject, "activated") {
		t.Errorf("confirmation subject %q", c.Subject)
	}
	ts.jwtPair("sally", pw)
	if res := ts.call(http.MethodPost, "/auth/users/activation/", "", body); res.Status == http.StatusNoContent {
		t.Fatalf("the link worked twice: %s", res)
	}
}

func TestMailPasswordResetOverSMTPWithOverriddenTemplate(t *testing.T) {
	srv := mailtest.NewServer(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "password_reset.subject.txt"), []byte("Reset for {{.User.username}} at {{.SiteName}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "password_reset.txt"), []byte("Open {{.URL}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startMailServer(t, nil, func(c *config.Config) { smtpTo(srv)(c); c.Mail.TemplatesDir = dir })
	const pw, next = "tom-pass-1234", "tom-next-5678"
	if res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "tom", "email": "tom@example.com", "password": pw}); res.Status != http.StatusCreated {
		t.Fatalf("register: %s", res)
	}
	if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "tom@example.com"}); res.Status != http.StatusNoContent {
		t.Fatalf("reset_password: %s", res)
	}
	m := receive(t, srv, "tom@example.com")
	if m.Subject != "Reset for tom at latchkey" || m.HTML != "" {
		t.Errorf("subject %q, html %q", m.Subject, m.HTML)
	}
	link := regexp.MustCompile(`/password/reset/confirm/([A-Za-z0-9_-]+)/(\S+)`).FindStringSubmatch(m.Text)
	if link == nil {
		t.Fatalf("no reset link in %q", m.Text)
	}
	confirm := map[string]any{"uid": link[1], "token": link[2], "new_password": next}
	if res := ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", confirm); res.Status != http.StatusNoContent {
		t.Fatalf("reset_password_confirm: %s", res)
	}
	if res := ts.call(http.MethodPost, "/auth/users/reset_password_confirm/", "", confirm); res.Status != http.StatusBadRequest {
		t.Errorf("second use: %s", res)
	}
	ts.jwtPair("tom", next)
	if c := receive(t, srv, "tom@example.com"); !strings.Contains(c.Subject, "password has been successfully changed") {
		t.Errorf("confirmation subject %q", c.Subject)
	}
	// No mail for an unknown address, and the same answer.
	if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": "nobody@example.com"}); res.Status != http.StatusNoContent {
		t.Fatalf("reset_password for nobody: %s", res)
	}
	for _, got := range srv.Messages() {
		if got.To[0] == "nobody@example.com" {
			t.Error("a mail went to an unknown address")
		}
	}
}

func TestMailBadTemplatesStopTheStart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "activation.txt"), []byte("{{.Nope}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Mail.TemplatesDir = dir
	var out bytes.Buffer
	s, err := server.Open(context.Background(), server.Options{
		Config: cfg, Stores: stores.Opener{}, Out: &out,
		Backends: backends.Registry{"local": func() backends.Config {
			return &local.Config{Argon2: fastArgon2}
		}},
		Environ: []string{"LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD=" + adminPass, "LATCHKEY_BOOTSTRAP_CLIENT_SECRET=" + demoSecret},
	})
	if err == nil {
		s.Close()
		t.Fatal("the server started with a template that cannot render")
	}
	if !strings.Contains(err.Error(), `template "activation"`) {
		t.Fatalf("err = %v, want the template named", err)
	}
}

// Django's validators and list decide which passwords are refused.
func TestPasswordPolicyIsDjangos(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct{ password, msg string }{
		{"bigpimpin1", "This password is too common."}, // on Django's list of 20,000
		{"quentin-smith", "The password is too similar to the username."},
		{"85937261", "This password is entirely numeric."},
		{"q1w2", "This password is too short. It must contain at least 8 characters."},
	} {
		res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "quentin.smith", "email": "q@example.com", "password": tc.password})
		wantMsg(t, wantFields(t, res, "password"), "password", tc.msg)
	}
}

// users.profile_schema validates the profile; errors are keyed profile.<path>.
func TestProfileSchema(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		c.Users.API.ProfileSchema = `
type: object
properties:
  title: {type: string, enum: [Mr, Mrs, Ms, Dr]}
  dob: {type: string, format: date}
  address:
    type: object
    properties: {city: {type: string, maxLength: 50}, zip: {type: string}}
    required: [city]
  country: {type: string, maxLength: 50}
`
	})
	reg := func(name string, profile map[string]any) response {
		return ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": name, "email": name + "@example.com", "password": "un-Common-pass-77", "profile": profile})
	}
	fields := wantFields(t, reg("una", map[string]any{"title": "Sir", "dob": "1990-02-30", "address": map[string]any{"zip": "1"}}), "profile.title", "profile.dob", "profile.address.city")
	wantMsg(t, fields, "profile.dob", "Enter a valid date.")
	wantMsg(t, fields, "profile.address.city", "This field is required.")
	wantMsg(t, fields, "profile.title", `"Sir" is not a valid choice.`)
	if _, err := ts.srv.Store().UserByUsername(context.Background(), "una"); err == nil {
		t.Error("a user with a bad profile was stored")
	}
	if res := reg("vic", map[string]any{"title": "Dr", "dob": "1990-02-28", "address": map[string]any{"city": "Oxford"}}); res.Status != http.StatusCreated {
		t.Fatalf("a valid profile: %s", res)
	}
}

// A mail server that refuses or is down does not change the answer (which
// would tell whether the address has an account) and is logged.
func TestMailServerDownDoesNotChangeTheAnswer(t *testing.T) {
	srv := mailtest.NewServer(t)
	ts := startMailServer(t, nil, smtpTo(srv))
	if res := ts.call(http.MethodPost, "/auth/users/", "", map[string]any{"username": "xena", "email": "xena@example.com", "password": "xena-pass-1234"}); res.Status != http.StatusCreated {
		t.Fatalf("register: %s", res)
	}
	srv.Reject(451, "mailbox busy, try later")
	for _, email := range []string{"xena@example.com", "nobody@example.com"} {
		if res := ts.call(http.MethodPost, "/auth/users/reset_password/", "", map[string]any{"email": email}); res.Status != http.StatusNoContent {
			t.Errorf("reset_password for %s: %s", email, res)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages accepted by a refusing server", n)
	}
	if logs := ts.Logs.String(); !strings.Contains(logs, "mail not sent") || !strings.Contains(logs, "mailbox busy") {
		t.Errorf("the failure is not logged:\n%s", logs)
	}
}
