package mail

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/latchkey-auth/latchkey/config"
)

// Mailer renders a template and sends the result: what the user API needs
// in one value, built from the mail section of the config.
type Mailer struct {
	Templates *Templates
	Sender    Sender
}

// NewMailer loads the templates of cfg.TemplatesDir and opens the sender
// of cfg.Backend.
func NewMailer(cfg config.Mail, log *slog.Logger) (*Mailer, error) {
	t, err := LoadTemplates(cfg.TemplatesDir)
	if err != nil {
		return nil, err
	}
	s, err := NewSender(cfg, log)
	if err != nil {
		return nil, err
	}
	return &Mailer{Templates: t, Sender: s}, nil
}

// SendTemplate renders template name with data and sends it to to.
func (m *Mailer) SendTemplate(ctx context.Context, name string, to []string, data Data) error {
	msg, err := m.Templates.Render(name, data)
	if err != nil {
		return err
	}
	msg.To = to
	if err := m.Sender.Send(ctx, msg); err != nil {
		return fmt.Errorf("mail: send %s: %w", name, err)
	}
	return nil
}

// AbsoluteURL makes a djoser-style link ("#/activate/MQ/tok", relative to
// the front-end's root, as djoser's ACTIVATION_URL) absolute as djoser's
// templates do: {protocol}://{domain}/{url}. A URL that already has a
// scheme, or a Data without a Domain, is returned as it is; the protocol
// defaults to https.
func (d Data) AbsoluteURL() string {
	if d.URL == "" || d.Domain == "" || strings.Contains(d.URL, "://") {
		return d.URL
	}
	proto := d.Protocol
	if proto == "" {
		proto = "https"
	}
	return proto + "://" + strings.TrimRight(d.Domain, "/") + "/" + strings.TrimLeft(d.URL, "/")
}
