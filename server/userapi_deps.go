package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/passwordpolicy"
	"github.com/latchkey-auth/latchkey/profileschema"
)

// This file builds what the user API takes from the mail section and from
// users.password / users.profile_schema: the e-mail sender, the password
// policy and the profile schema.

// newUserAPIMailer renders djoser's templates (with mail.templates_dir
// overrides) and sends them by mail.backend: the console or SMTP.
func newUserAPIMailer(cfg config.Mail, log *slog.Logger) (accounts.Mailer, error) {
	m, err := mail.NewMailer(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return templateMailer{m: m}, nil
}

// templateMailer adapts mail.Mailer to accounts.Mailer. accounts' kinds are
// the template names (activation, password_reset, ...).
type templateMailer struct{ m *mail.Mailer }

func (t templateMailer) SendMail(ctx context.Context, m accounts.Mail) error {
	user, err := userFields(m.User)
	if err != nil {
		return err
	}
	return t.m.SendTemplate(ctx, m.Kind, []string{m.To}, mail.Data{
		SiteName: m.SiteName, Domain: m.Domain, Protocol: m.Protocol,
		URL: m.URL, UID: m.UID, Token: m.Token, User: user,
	})
}

// userFields is the user object as the API shows it, so templates use the
// same names: {{.User.username}}, {{.User.first_name}}, {{.User.profile.city}}.
func userFields(u accounts.User) (map[string]any, error) {
	raw, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("mail: user fields: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("mail: user fields: %w", err)
	}
	return out, nil
}

// userAPIPasswords is users.password as Django's validators.
func userAPIPasswords(p config.PasswordPolicy) accounts.PasswordValidator {
	return passwordpolicy.ForUsers(passwordpolicy.New(passwordpolicy.Options{
		MinLength:     p.MinLength,
		Common:        p.Common,
		Numeric:       p.Numeric,
		Similarity:    p.Similarity > 0,
		MaxSimilarity: p.Similarity,
	}))
}

// userAPIProfileSchema compiles users.profile_schema (JSON or YAML) or the
// file users.profile_schema_file; neither set accepts any object.
func userAPIProfileSchema(u config.UserAPI) (accounts.ProfileValidator, error) {
	var s *profileschema.Schema
	var err error
	switch {
	case u.ProfileSchemaFile != "":
		s, err = profileschema.CompileFile(u.ProfileSchemaFile)
	case u.ProfileSchema != "":
		s, err = profileschema.CompileText([]byte(u.ProfileSchema))
	}
	if err != nil {
		return nil, fmt.Errorf("users.profile_schema: %w", err)
	}
	if s == nil {
		return nil, nil // no schema: a nil interface, not a nil *Schema
	}
	return s, nil
}
