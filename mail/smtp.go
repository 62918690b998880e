package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/mail"

	gomail "github.com/wneessen/go-mail"

	"github.com/latchkey-auth/latchkey/config"
)

// SMTPSender sends through an SMTP server with github.com/wneessen/go-mail,
// one connection per message, so it is safe for concurrent use.
type SMTPSender struct {
	client *gomail.Client
	from   string
	addr   string // host:port, for errors and logs
	log    *slog.Logger
}

// NewSMTPSender returns a sender for cfg.SMTP that sends as cfg.From.
// tlsConfig verifies the server's certificate; nil means the system roots
// and the configured host name. The password is never logged nor put in an
// error.
func NewSMTPSender(cfg config.Mail, tlsConfig *tls.Config, log *slog.Logger) (*SMTPSender, error) {
	s := cfg.SMTP
	if log == nil {
		log = slog.Default()
	}
	if s.Host == "" {
		return nil, fmt.Errorf("mail: smtp: no host (set mail.smtp.host)")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp: sender address (mail.from) %q: %w", cfg.From, err)
	}
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tlsConfig = tlsConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = s.Host
	}
	opts := []gomail.Option{
		gomail.WithPort(s.PortOrDefault()),
		gomail.WithTLSConfig(tlsConfig),
	}
	if s.Timeout > 0 {
		opts = append(opts, gomail.WithTimeout(s.Timeout))
	}
	switch s.TLS {
	case config.SMTPTLS:
		opts = append(opts, gomail.WithSSL())
	case config.SMTPNoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case "", config.SMTPStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		return nil, fmt.Errorf("mail: smtp: unknown tls mode %q (want starttls, tls or none)", s.TLS)
	}
	if s.Username != "" {
		// Auto-discovery picks the strongest mechanism the server offers
		// and never sends a password in clear text over an unencrypted
		// connection.
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.Username),
			gomail.WithPassword(s.Password),
		)
	}
	client, err := gomail.NewClient(s.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp: configure client for %s: %w", s.Host, err)
	}
	return &SMTPSender{
		client: client,
		from:   from.String(),
		addr:   client.ServerAddr(),
		log:    log,
	}, nil
}

// Send delivers m in one SMTP session: connect, TLS, AUTH, MAIL, RCPT, DATA.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	msg, err := s.build(m)
	if err != nil {
		return err
	}
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: smtp: send %q to %d recipient(s) through %s: %w", m.Subject, len(m.To), s.addr, err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "mail sent",
		slog.String("subject", m.Subject), slog.Int("recipients", len(m.To)), slog.String("server", s.addr))
	return nil
}

func (s *SMTPSender) build(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.SetUserAgent("latchkey")
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("mail: smtp: sender %q: %w", s.from, err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("%w: recipients: %v", ErrInvalidMessage, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageID()
	msg.SetDate()
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	}
	return msg, nil
}
