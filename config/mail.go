package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"strings"
	"time"
)

// Mail configures the e-mails latchkey sends (activation, password reset,
// username reset and their confirmations).
type Mail struct {
	// Backend is "console" (the default: every message is written to the
	// log, so a developer can copy the link) or "smtp".
	Backend string `yaml:"backend"`
	// From is the sender address, as Django's DEFAULT_FROM_EMAIL: a bare
	// address or "Name <address>".
	From string `yaml:"from"`
	SMTP SMTP   `yaml:"smtp"`
	// TemplatesDir holds files that override the built-in templates:
	// <name>.subject.txt, <name>.txt and <name>.html. Empty uses only the
	// built-in ones.
	TemplatesDir string `yaml:"templates_dir"`
}

// SMTP is the mail server used when mail.backend is "smtp".
type SMTP struct {
	Host string `yaml:"host"`
	// Port of the server; 0 means the usual port of the TLS mode: 587 for
	// starttls, 465 for tls, 25 for none.
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// Password of Username; prefer LATCHKEY_MAIL__SMTP__PASSWORD to the file.
	Password string `yaml:"password"`
	// TLS is "starttls" (upgrade a plain connection, and refuse a server that
	// cannot), "tls" (TLS from the first byte, "SMTPS") or "none".
	TLS string `yaml:"tls"`
	// Timeout bounds connecting to and talking with the server.
	Timeout time.Duration `yaml:"timeout"`
}

// Mail backends and SMTP TLS modes.
const (
	MailConsole  = "console"
	MailSMTP     = "smtp"
	SMTPStartTLS = "starttls"
	SMTPTLS      = "tls"
	SMTPNoTLS    = "none"
)

// redacted stands for a password in logs and printouts.
const redacted = "[redacted]"

// LogValue keeps the password out of logs: slog prints "[redacted]".
func (s SMTP) LogValue() slog.Value {
	pw := ""
	if s.Password != "" {
		pw = redacted
	}
	return slog.GroupValue(
		slog.String("host", s.Host), slog.Int("port", s.Port), slog.String("username", s.Username),
		slog.String("password", pw), slog.String("tls", s.TLS), slog.Duration("timeout", s.Timeout),
	)
}

// MarshalJSON keeps the password out of JSON (slog's JSON handler encodes
// nested structs with encoding/json).
func (s SMTP) MarshalJSON() ([]byte, error) {
	pw := ""
	if s.Password != "" {
		pw = redacted
	}
	type plain SMTP // no methods, so no recursion
	p := plain(s)
	p.Password = pw
	return json.Marshal(p)
}

// LogValue logs the mail section without the SMTP password.
func (m Mail) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("backend", m.Backend), slog.String("from", m.From),
		slog.Any("smtp", m.SMTP), slog.String("templates_dir", m.TemplatesDir),
	)
}

// String keeps the password out of fmt's %v and %+v.
func (s SMTP) String() string {
	pw := ""
	if s.Password != "" {
		pw = redacted
	}
	return fmt.Sprintf("{Host:%s Port:%d Username:%s Password:%s TLS:%s Timeout:%s}", s.Host, s.Port, s.Username, pw, s.TLS, s.Timeout)
}

func defaultMail() Mail {
	return Mail{
		Backend: MailConsole,
		From:    "webmaster@localhost",
		SMTP:    SMTP{TLS: SMTPStartTLS, Timeout: 10 * time.Second},
	}
}

// PortOrDefault is Port, or the usual port of the TLS mode when Port is 0.
func (s SMTP) PortOrDefault() int {
	if s.Port != 0 {
		return s.Port
	}
	switch s.TLS {
	case SMTPTLS:
		return 465
	case SMTPNoTLS:
		return 25
	default:
		return 587
	}
}

func (c *Config) validateMail(p *problems) {
	m := c.Mail
	oneOf(p, "mail.backend", m.Backend, MailConsole, MailSMTP)
	if m.From == "" {
		p.add("mail.from", "must be set to the sender address, e.g. \"Example <no-reply@example.com>\"")
	} else if _, err := mail.ParseAddress(m.From); err != nil {
		p.add("mail.from", "must be an e-mail address such as no-reply@example.com or \"Example <no-reply@example.com>\", got %q", m.From)
	}
	s := m.SMTP
	if m.Backend == MailSMTP && s.Host == "" {
		p.add("mail.smtp.host", "is required when mail.backend is \"smtp\"")
	}
	if strings.ContainsAny(s.Host, ":/ ") {
		p.add("mail.smtp.host", "must be a host name or IP address without port or scheme (set the port in mail.smtp.port), got %q", s.Host)
	}
	if s.Port < 0 || s.Port > 65535 {
		p.add("mail.smtp.port", "must be from 1 to 65535, or 0 for the usual port of mail.smtp.tls, got %d", s.Port)
	}
	if s.Password != "" && s.Username == "" {
		p.add("mail.smtp.username", "must be set when mail.smtp.password is set")
	}
	oneOf(p, "mail.smtp.tls", s.TLS, SMTPStartTLS, SMTPTLS, SMTPNoTLS)
	if s.Username != "" && s.TLS == SMTPNoTLS {
		p.add("mail.smtp.tls", "is \"none\" but mail.smtp.username is set: the password would travel in clear text; use \"starttls\" or \"tls\"")
	}
	positive(p, "mail.smtp.timeout", s.Timeout)
	if dir := m.TemplatesDir; dir != "" {
		switch info, err := os.Stat(dir); {
		case err != nil:
			p.add("mail.templates_dir", "cannot use directory %q: %v", dir, err)
		case !info.IsDir():
			p.add("mail.templates_dir", "%q is a file, not a directory", dir)
		}
	}
}
