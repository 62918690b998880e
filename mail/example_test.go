package mail_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/mail"
)

func ExampleMailer() {
	// The embedded default: console backend, built-in templates.
	cfg := config.Default().Mail
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == "time" || a.Key == "text" || a.Key == "html" {
				return slog.Attr{} // keep the example's output short
			}
			return a
		},
	}))
	m, err := mail.NewMailer(cfg, log)
	if err != nil {
		panic(err)
	}
	err = m.SendTemplate(context.Background(), mail.Activation, []string{"alice@example.com"}, mail.Data{
		SiteName: "Acme", Domain: "app.acme.example", Protocol: "https",
		URL: "#/activate/MQ/diuuo0-0123456789abcdef0123456789abcdef", UID: "MQ",
		Token: "diuuo0-0123456789abcdef0123456789abcdef",
		User:  map[string]any{"username": "alice"},
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// level=INFO msg="mail (console backend: not sent)" to=[alice@example.com] subject="Account activation on Acme"
}
