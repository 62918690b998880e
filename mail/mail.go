// Package mail sends the e-mails of the user API (activation, password
// reset, username reset and their confirmations), rendered from templates
// that a deployment can override, through a Sender chosen by config: the
// console (the log, the embedded default) or an SMTP server.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"

	"github.com/latchkey-auth/latchkey/config"
)

// Message is one e-mail. Text is required; HTML, when set, is sent as the
// alternative part that mail clients prefer.
type Message struct {
	To      []string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers messages. Send returns once the message is accepted (by
// the SMTP server, or written to the log); an error means it was not.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrInvalidMessage is wrapped by the error of a message that cannot be sent
// as it is (no recipient, a bad address, no body).
var ErrInvalidMessage = errors.New("mail: invalid message")

// NewSender returns the sender that cfg.Backend names: "console" (also the
// zero value) writes every message to log; "smtp" sends through cfg.SMTP
// with the system's root certificates.
func NewSender(cfg config.Mail, log *slog.Logger) (Sender, error) {
	switch cfg.Backend {
	case "", config.MailConsole:
		return NewConsoleSender(log), nil
	case config.MailSMTP:
		return NewSMTPSender(cfg, nil, log)
	default:
		return nil, fmt.Errorf("mail: unknown backend %q (want %q or %q)", cfg.Backend, config.MailConsole, config.MailSMTP)
	}
}

// check reports why m cannot be sent, or nil.
func (m Message) check() error {
	if len(m.To) == 0 {
		return fmt.Errorf("%w: no recipient", ErrInvalidMessage)
	}
	for _, to := range m.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return fmt.Errorf("%w: recipient %q: %v", ErrInvalidMessage, to, err)
		}
	}
	if m.Text == "" && m.HTML == "" {
		return fmt.Errorf("%w: no body", ErrInvalidMessage)
	}
	return nil
}
