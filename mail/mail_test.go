package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/mail/mailtest"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// smtpConfig points a mail config at srv.
func smtpConfig(srv *mailtest.Server, tlsMode, user, pass string) config.Mail {
	host, port := srv.Addr()
	cfg := config.Default().Mail
	cfg.Backend = "smtp"
	cfg.From = "Latchkey <no-reply@example.com>"
	cfg.SMTP = config.SMTP{Host: host, Port: port, TLS: tlsMode, Username: user, Password: pass, Timeout: 5 * time.Second}
	return cfg
}

func waitFor(t *testing.T, srv *mailtest.Server, to string) mailtest.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := srv.WaitFor(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustTemplates(t *testing.T, dir string) *mail.Templates {
	t.Helper()
	tmpl, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func activationData() mail.Data {
	return mail.Data{
		SiteName: "Acme", Domain: "app.acme.test", Protocol: "https",
		URL: "https://app.acme.test/#/activate/MQ/cb1x2y-0a1b2c3d", UID: "MQ", Token: "cb1x2y-0a1b2c3d",
		User: map[string]any{"id": int64(1), "username": "alice", "email": "alice@acme.test"},
	}
}

func TestSMTPSenderDeliversOverStartTLSWithAuth(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithStartTLS(), mailtest.WithAuth("latchkey", "p4ss w0rd"))
	sender, err := mail.NewSMTPSender(smtpConfig(srv, "starttls", "latchkey", "p4ss w0rd"), srv.ClientTLSConfig(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mustTemplates(t, "").Render(mail.Activation, activationData())
	if err != nil {
		t.Fatal(err)
	}
	msg.To = []string{"alice@acme.test"}
	if err := sender.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, srv, "alice@acme.test")
	if got.From != "no-reply@example.com" {
		t.Errorf("envelope from = %q", got.From)
	}
	if h := got.Header.Get("From"); !strings.Contains(h, "no-reply@example.com") || !strings.Contains(h, "Latchkey") {
		t.Errorf("From header = %q", h)
	}
	if got.Header.Get("Message-Id") == "" || got.Header.Get("Date") == "" {
		t.Errorf("missing Message-ID or Date: %v", got.Header)
	}
	if got.Subject != "Account activation on Acme" {
		t.Errorf("subject = %q", got.Subject)
	}
	if !strings.Contains(got.Text, "https://app.acme.test/#/activate/MQ/cb1x2y-0a1b2c3d") {
		t.Errorf("text lacks the link:\n%s", got.Text)
	}
	if !strings.Contains(got.HTML, `<a href="https://app.acme.test/#/activate/MQ/cb1x2y-0a1b2c3d">`) {
		t.Errorf("HTML lacks the link:\n%s", got.HTML)
	}
}

func TestSMTPSenderImplicitTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithImplicitTLS())
	sender, err := mail.NewSMTPSender(smtpConfig(srv, "tls", "", ""), srv.ClientTLSConfig(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	err = sender.Send(context.Background(), mail.Message{To: []string{"bob@acme.test"}, Subject: "Hi", Text: "Grüße, ça va? 100% sûr =D"})
	if err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, srv, "bob@acme.test")
	if got.Text != "Grüße, ça va? 100% sûr =D" {
		t.Errorf("text = %q (raw:\n%s)", got.Text, got.Raw)
	}
	if got.HTML != "" {
		t.Errorf("a text-only message got an HTML part: %q", got.HTML)
	}
}

func TestSMTPSenderPlainConnection(t *testing.T) {
	srv := mailtest.NewServer(t)
	cfg := smtpConfig(srv, "none", "", "")
	sender, err := mail.NewSender(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	subject := "Ünïcode subject that is long enough to need more than one encoded word, surely"
	err = sender.Send(context.Background(), mail.Message{To: []string{"c@acme.test", "d@acme.test"}, Subject: subject, HTML: "<p>only html</p>"})
	if err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, srv, "D@ACME.TEST")
	if got.Subject != subject {
		t.Errorf("subject = %q", got.Subject)
	}
	if got.HTML != "<p>only html</p>" {
		t.Errorf("html = %q", got.HTML)
	}
	if len(got.To) != 2 {
		t.Errorf("envelope to = %v", got.To)
	}
}

func TestSMTPSenderFailures(t *testing.T) {
	msg := mail.Message{To: []string{"x@acme.test"}, Subject: "s", Text: "t"}

	t.Run("a wrong password fails without the password in the error", func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithStartTLS(), mailtest.WithAuth("latchkey", "right"))
		sender, err := mail.NewSMTPSender(smtpConfig(srv, "starttls", "latchkey", "wr0ng-s3cret"), srv.ClientTLSConfig(), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		err = sender.Send(context.Background(), msg)
		if err == nil {
			t.Fatal("sent with a wrong password")
		}
		if strings.Contains(err.Error(), "wr0ng-s3cret") {
			t.Errorf("error leaks the password: %v", err)
		}
		if len(srv.Messages()) != 0 {
			t.Error("the server kept a message")
		}
	})
	t.Run("starttls refuses a server without STARTTLS", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		sender, err := mail.NewSMTPSender(smtpConfig(srv, "starttls", "", ""), nil, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("err = %v, want a STARTTLS error", err)
		}
		if len(srv.Messages()) != 0 {
			t.Error("sent in clear text")
		}
	})
	t.Run("an untrusted certificate is refused", func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithStartTLS())
		sender, err := mail.NewSMTPSender(smtpConfig(srv, "starttls", "", ""), nil, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate error", err)
		}
	})
	t.Run("a server that rejects the message gives its answer", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		srv.Reject(451, "try again later")
		sender, err := mail.NewSender(smtpConfig(srv, "none", "", ""), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		err = sender.Send(context.Background(), msg)
		if err == nil || !strings.Contains(err.Error(), "try again later") || !strings.Contains(err.Error(), "mail: smtp: send") {
			t.Fatalf("err = %v", err)
		}
		srv.Reject(0, "")
		if err := sender.Send(context.Background(), msg); err != nil {
			t.Fatalf("after the server accepts again: %v", err)
		}
	})
	t.Run("a server that is down fails fast", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		cfg := smtpConfig(srv, "none", "", "")
		cfg.SMTP.Port = 1 // nothing listens there
		sender, err := mail.NewSender(cfg, quietLog())
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.Send(context.Background(), msg); err == nil {
			t.Fatal("sent to a closed port")
		}
	})
	t.Run("a cancelled context stops the send", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		sender, err := mail.NewSender(smtpConfig(srv, "none", "", ""), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := sender.Send(ctx, msg); err == nil {
			t.Fatal("sent with a cancelled context")
		}
	})
}

func TestInvalidMessages(t *testing.T) {
	console := mail.NewConsoleSender(quietLog())
	for name, m := range map[string]mail.Message{
		"no recipient":     {Subject: "s", Text: "t"},
		"a bad recipient":  {To: []string{"not an address"}, Subject: "s", Text: "t"},
		"header injection": {To: []string{"a@acme.test\r\nBcc: evil@acme.test"}, Subject: "s", Text: "t"},
		"no body":          {To: []string{"a@acme.test"}, Subject: "s"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := console.Send(context.Background(), m); !errors.Is(err, mail.ErrInvalidMessage) {
				t.Fatalf("err = %v, want ErrInvalidMessage", err)
			}
		})
	}
}

func TestNewSender(t *testing.T) {
	s, err := mail.NewSender(config.Default().Mail, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*mail.ConsoleSender); !ok {
		t.Errorf("default backend gave %T, want the console", s)
	}
	if _, err := mail.NewSender(config.Mail{Backend: "pigeon"}, quietLog()); err == nil {
		t.Error("an unknown backend was accepted")
	}
	if _, err := mail.NewSender(config.Mail{Backend: "smtp", From: "a@b.c"}, quietLog()); err == nil {
		t.Error("smtp without a host was accepted")
	}
}

func TestConsoleSenderLogsOneRecord(t *testing.T) {
	var buf bytes.Buffer
	sender := mail.NewConsoleSender(slog.New(slog.NewJSONHandler(&buf, nil)))
	msg, err := mustTemplates(t, "").Render(mail.PasswordReset, activationData())
	if err != nil {
		t.Fatal(err)
	}
	msg.To = []string{"alice@acme.test"}
	if err := sender.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d log records, want 1:\n%s", len(lines), buf.String())
	}
	var rec struct {
		Level, Subject, Text, HTML string
		To                         []string
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Level != "INFO" || rec.Subject != "Password reset on Acme" || len(rec.To) != 1 || rec.To[0] != "alice@acme.test" {
		t.Errorf("record = %+v", rec)
	}
	if !strings.Contains(rec.Text, "https://app.acme.test/#/activate/MQ/cb1x2y-0a1b2c3d") ||
		!strings.Contains(rec.Text, "Your username, in case you've forgotten: alice") {
		t.Errorf("text = %q", rec.Text)
	}
	if !strings.Contains(rec.HTML, "<a href=") {
		t.Errorf("html = %q", rec.HTML)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuiltinTemplates(t *testing.T) {
	tmpl := mustTemplates(t, "")
	want := map[string]string{
		mail.Activation:                  "Account activation on Acme",
		mail.Confirmation:                "Acme - Your account has been successfully created and activated!",
		mail.PasswordReset:               "Password reset on Acme",
		mail.PasswordChangedConfirmation: "Acme - Your password has been successfully changed!",
		mail.UsernameReset:               "Username reset on Acme",
		mail.UsernameChangedConfirmation: "Acme - Your username has been successfully changed!",
	}
	if got := tmpl.Names(); len(got) != len(want) {
		t.Errorf("names = %v", got)
	}
	for name, subject := range want {
		m, err := tmpl.Render(name, activationData())
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != subject || m.Text == "" || m.HTML == "" || len(m.To) != 0 {
			t.Errorf("%s: %+v", name, m)
		}
		if strings.Contains(m.Text, "<no value>") || strings.Contains(m.HTML, "<no value>") {
			t.Errorf("%s prints <no value>", name)
		}
	}
	if _, err := tmpl.Render("welcome", activationData()); err == nil || !strings.Contains(err.Error(), "activation") {
		t.Errorf("unknown template: err = %v", err)
	}
	t.Run("a user without username renders without the line", func(t *testing.T) {
		m, err := tmpl.Render(mail.PasswordReset, mail.Data{SiteName: "Acme", URL: "https://x.test/r"})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.Text, "forgotten") || strings.Contains(m.Text, "no value") {
			t.Errorf("text = %q", m.Text)
		}
	})
	t.Run("the subject stays one line", func(t *testing.T) {
		d := activationData()
		d.SiteName = "Acme\r\nBcc: evil@example.com"
		m, err := tmpl.Render(mail.Activation, d)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(m.Subject, "\r\n") || m.Subject != "Account activation on Acme Bcc: evil@example.com" {
			t.Errorf("subject = %q", m.Subject)
		}
	})
	t.Run("HTML is escaped and javascript links are neutralised", func(t *testing.T) {
		d := activationData()
		d.SiteName = "<script>alert(1)</script>"
		d.URL = "javascript:alert(1)"
		m, err := tmpl.Render(mail.Activation, d)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, `href="javascript:`) {
			t.Errorf("html = %s", m.HTML)
		}
	})
}

func TestTemplateOverrides(t *testing.T) {
	t.Run("a subject alone keeps both built-in bodies", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"activation.subject.txt": "Welcome to {{.SiteName}}, {{.User.username}}!\n"})
		m, err := mustTemplates(t, dir).Render(mail.Activation, activationData())
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "Welcome to Acme, alice!" || !strings.Contains(m.Text, "activate account") || m.HTML == "" {
			t.Errorf("%+v", m)
		}
	})
	t.Run("a text body without HTML drops the built-in HTML", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"password_reset.txt": "Reset: {{.URL}} (uid {{.UID}}, token {{.Token}})"})
		m, err := mustTemplates(t, dir).Render(mail.PasswordReset, activationData())
		if err != nil {
			t.Fatal(err)
		}
		if m.Text != "Reset: https://app.acme.test/#/activate/MQ/cb1x2y-0a1b2c3d (uid MQ, token cb1x2y-0a1b2c3d)" || m.HTML != "" {
			t.Errorf("%+v", m)
		}
		if m.Subject != "Password reset on Acme" {
			t.Errorf("subject = %q", m.Subject)
		}
	})
	t.Run("all three parts", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{
			"confirmation.subject.txt": "Hello {{.User.first_name}}",
			"confirmation.txt":         "plain {{.Domain}}",
			"confirmation.html":        "<b>{{.User.first_name}}</b>",
		})
		d := activationData()
		d.User["first_name"] = "Tom & Jerry"
		m, err := mustTemplates(t, dir).Render(mail.Confirmation, d)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "Hello Tom & Jerry" || m.Text != "plain app.acme.test" || m.HTML != "<b>Tom &amp; Jerry</b>" {
			t.Errorf("%+v", m)
		}
	})
	t.Run("an empty HTML file means no HTML part", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"activation.html": "  \n"})
		m, err := mustTemplates(t, dir).Render(mail.Activation, activationData())
		if err != nil {
			t.Fatal(err)
		}
		if m.HTML != "" || m.Text == "" {
			t.Errorf("%+v", m)
		}
	})
	t.Run("a folder may add a template", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"welcome.subject.txt": "Welcome", "welcome.html": "<p>hi</p>", "README.md": "not a template"})
		tmpl := mustTemplates(t, dir)
		m, err := tmpl.Render("welcome", activationData())
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "Welcome" || m.HTML != "<p>hi</p>" || m.Text != "" {
			t.Errorf("%+v", m)
		}
	})
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"a syntax error names the file":     {map[string]string{"activation.txt": "{{.URL"}, "activation.txt"},
		"an unknown field fails at load":    {map[string]string{"activation.txt": "{{.Nope}}"}, `template "activation" does not render`},
		"a new template needs a subject":    {map[string]string{"welcome.txt": "hi"}, "welcome.subject.txt is missing"},
		"a new template needs a body":       {map[string]string{"welcome.subject.txt": "hi"}, "needs a body"},
		"both bodies empty is refused":      {map[string]string{"activation.txt": "", "activation.html": ""}, "would have no body"},
		"a name with upper case is refused": {map[string]string{"Welcome.subject.txt": "x"}, "must match"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mail.LoadTemplates(writeFiles(t, tc.files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("a missing folder is an error", func(t *testing.T) {
		if _, err := mail.LoadTemplates(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestMailerAndRelativeURLs(t *testing.T) {
	srv := mailtest.NewServer(t)
	cfg := smtpConfig(srv, "none", "", "")
	cfg.TemplatesDir = writeFiles(t, map[string]string{"password_reset.subject.txt": "Reset {{.UID}}"})
	m, err := mail.NewMailer(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	d := activationData()
	d.URL = "#/password/reset/confirm/MQ/tok-123" // djoser's PASSWORD_RESET_CONFIRM_URL
	if err := m.SendTemplate(context.Background(), mail.PasswordReset, []string{"alice@acme.test"}, d); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, srv, "alice@acme.test")
	if got.Subject != "Reset MQ" || !strings.Contains(got.Text, "https://app.acme.test/#/password/reset/confirm/MQ/tok-123") {
		t.Errorf("subject %q, text:\n%s", got.Subject, got.Text)
	}
	for _, tc := range []struct {
		d    mail.Data
		want string
	}{
		{mail.Data{URL: "#/a", Domain: "x.test", Protocol: "http"}, "http://x.test/#/a"},
		{mail.Data{URL: "/a", Domain: "x.test/"}, "https://x.test/a"},
		{mail.Data{URL: "https://y.test/a", Domain: "x.test"}, "https://y.test/a"},
		{mail.Data{URL: "#/a"}, "#/a"},
		{mail.Data{Domain: "x.test"}, ""},
	} {
		if got := tc.d.AbsoluteURL(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.d, got, tc.want)
		}
	}
	if err := m.SendTemplate(context.Background(), "nope", []string{"a@acme.test"}, d); err == nil {
		t.Error("an unknown template was sent")
	}
}

func TestSMTPSenderConcurrentSends(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithStartTLS())
	sender, err := mail.NewSMTPSender(smtpConfig(srv, "starttls", "", ""), srv.ClientTLSConfig(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	tmpl := mustTemplates(t, "")
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			d := activationData()
			d.UID = recipientTag(i)
			msg, err := tmpl.Render(mail.PasswordReset, d)
			if err == nil {
				msg.To = []string{"user" + d.UID + "@acme.test"}
				err = sender.Send(context.Background(), msg)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := len(srv.Messages()); got != n {
		t.Errorf("server got %d messages, want %d", got, n)
	}
	for i := range n {
		waitFor(t, srv, "user"+recipientTag(i)+"@acme.test")
	}
}

func recipientTag(i int) string { return string(rune('a' + i)) }
