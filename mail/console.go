package mail

import (
	"context"
	"log/slog"
)

// ConsoleSender writes every message to a log as one Info record, so a
// developer can copy the link from it. It is the embedded default: nothing
// leaves the machine.
type ConsoleSender struct {
	log *slog.Logger
}

// NewConsoleSender returns a sender that logs to log (slog.Default() when nil).
func NewConsoleSender(log *slog.Logger) *ConsoleSender {
	if log == nil {
		log = slog.Default()
	}
	return &ConsoleSender{log: log}
}

// Send logs the whole message: recipients, subject, text and HTML bodies.
func (s *ConsoleSender) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "mail (console backend: not sent)",
		slog.Any("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("text", m.Text),
		slog.String("html", m.HTML),
	)
	return nil
}
