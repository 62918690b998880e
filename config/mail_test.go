package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMailDefaults(t *testing.T) {
	m := Default().Mail
	equal(t, m.Backend, "console")
	equal(t, m.From, "webmaster@localhost")
	equal(t, m.SMTP.TLS, "starttls")
	equal(t, m.SMTP.Timeout, 10*time.Second)
	equal(t, m.TemplatesDir, "")
}

func TestMailPortOrDefault(t *testing.T) {
	for _, tc := range []struct {
		smtp SMTP
		want int
	}{
		{SMTP{TLS: "starttls"}, 587},
		{SMTP{TLS: "tls"}, 465},
		{SMTP{TLS: "none"}, 25},
		{SMTP{TLS: "none", Port: 2525}, 2525},
	} {
		equal(t, tc.smtp.PortOrDefault(), tc.want)
	}
}

func TestMailValidate(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "activation.txt", "hi")
	smtp := func(c *Config) {
		c.Mail.Backend = "smtp"
		c.Mail.SMTP.Host = "smtp.example.com"
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // substring of the error; "" means valid
	}{
		{"the console default is fine", func(*Config) {}, ""},
		{"smtp with a host is fine", smtp, ""},
		{"smtp with credentials and tls is fine", func(c *Config) {
			smtp(c)
			c.Mail.SMTP.Username, c.Mail.SMTP.Password, c.Mail.SMTP.TLS, c.Mail.SMTP.Port = "u", "p", "tls", 465
		}, ""},
		{"an unknown backend is refused", func(c *Config) { c.Mail.Backend = "sendmail" }, `mail.backend: must be "console" or "smtp", got "sendmail"`},
		{"smtp without a host is refused", func(c *Config) { c.Mail.Backend = "smtp" }, `mail.smtp.host: is required when mail.backend is "smtp"`},
		{"a host with a port is refused", func(c *Config) { smtp(c); c.Mail.SMTP.Host = "smtp.example.com:25" }, `mail.smtp.host: must be a host name`},
		{"a port out of range is refused", func(c *Config) { smtp(c); c.Mail.SMTP.Port = 70000 }, `mail.smtp.port: must be from 1 to 65535`},
		{"an unknown tls mode is refused", func(c *Config) { c.Mail.SMTP.TLS = "ssl" }, `mail.smtp.tls: must be "starttls", "tls" or "none", got "ssl"`},
		{"credentials without tls are refused", func(c *Config) {
			smtp(c)
			c.Mail.SMTP.Username, c.Mail.SMTP.TLS = "u", "none"
		}, `mail.smtp.tls: is "none" but mail.smtp.username is set`},
		{"a zero timeout is refused", func(c *Config) { c.Mail.SMTP.Timeout = 0 }, `mail.smtp.timeout: must be greater than 0`},
		{"a password without a username is refused", func(c *Config) { c.Mail.SMTP.Password = "secret" }, `mail.smtp.username: must be set when mail.smtp.password is set`},
		{"a from with a display name is fine", func(c *Config) { c.Mail.From = "Example <no-reply@example.com>" }, ""},
		{"an empty from is refused", func(c *Config) { c.Mail.From = "" }, `mail.from: must be set`},
		{"a from that is no address is refused", func(c *Config) { c.Mail.From = "no-reply" }, `mail.from: must be an e-mail address`},
		{"an existing templates dir is fine", func(c *Config) { c.Mail.TemplatesDir = dir }, ""},
		{"a missing templates dir is refused", func(c *Config) { c.Mail.TemplatesDir = filepath.Join(dir, "nope") }, `mail.templates_dir: cannot use directory`},
		{"a templates dir that is a file is refused", func(c *Config) { c.Mail.TemplatesDir = file }, `is a file, not a directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			wantErr(t, err, tc.want)
		})
	}
}

func TestMailPasswordFromEnv(t *testing.T) {
	c, err := Load("", []string{
		"LATCHKEY_MAIL__BACKEND=smtp",
		"LATCHKEY_MAIL__SMTP__HOST=smtp.example.com",
		"LATCHKEY_MAIL__SMTP__USERNAME=latchkey",
		"LATCHKEY_MAIL__SMTP__PASSWORD=s3cret",
		"LATCHKEY_MAIL__SMTP__PORT=2525",
	})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, c.Mail.Backend, "smtp")
	equal(t, c.Mail.SMTP.Password, "s3cret")
	equal(t, c.Mail.SMTP.PortOrDefault(), 2525)
}

func TestMailPasswordStaysOutOfLogs(t *testing.T) {
	m := Default().Mail
	m.SMTP.Host, m.SMTP.Username, m.SMTP.Password = "smtp.example.com", "latchkey", "hunter2-s3cret"
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("mail", "config", m, "smtp", m.SMTP)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("mail", "config", m, "smtp", m.SMTP)
	c := Default()
	c.Mail = m
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("whole config", "config", c)
	whole, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{buf.String(), fmt.Sprintf("%v %+v", m, m), string(whole)} {
		if strings.Contains(out, "hunter2-s3cret") {
			t.Errorf("password printed: %s", out)
		}
		if !strings.Contains(out, "smtp.example.com") || !strings.Contains(out, "[redacted]") {
			t.Errorf("unexpected output: %s", out)
		}
	}
}
