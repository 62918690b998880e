package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers"
	"github.com/latchkey-auth/latchkey/handlers/pages"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/usertokens"
)

// The provider is what the user API authenticates with, issues tokens and
// counts e-mails through.
var (
	_ accounts.Authenticator = (*provider.Provider)(nil)
	_ accounts.Tokens        = (*provider.Provider)(nil)
	_ accounts.MailLimiter   = (*provider.Provider)(nil)
)

// openAccounts builds the user API's service from users.* and creates the
// first-party client when it is missing.
func (s *Server) openAccounts(ctx context.Context, opts Options, master []byte) (*accounts.Service, error) {
	cfg := opts.Config
	u := cfg.Users.API
	// accounts.Options.HashPassword takes no context: the hash is made
	// under a background one.
	hash := func(password string) (string, error) { return s.hasher.HashPassword(context.Background(), password) }
	mailer := opts.Mailer
	if mailer == nil {
		m, err := newUserAPIMailer(cfg.Mail, opts.Logger)
		if err != nil {
			return nil, fmt.Errorf("user API: %w", err)
		}
		mailer = m
		if cfg.Mail.Backend == config.MailConsole && !cfg.IssuerIsLoopback() {
			// The console sender is for development: its log records hold
			// activation and reset links, which are credentials.
			opts.Logger.Warn("mail.backend is console: activation and password-reset links are written to the log, not sent; set mail.backend: smtp in production")
		}
	}
	tokenKey, err := usertokens.DeriveSecret(master)
	if err != nil {
		return nil, fmt.Errorf("user API: %w", err)
	}
	profile, err := userAPIProfileSchema(u)
	if err != nil {
		return nil, fmt.Errorf("user API: %w", err)
	}
	svc := accounts.New(accounts.Options{
		Store: s.store, Sessions: s.hot, Authenticator: s.provider, Tokens: s.provider, Scopes: s.provider, MailLimiter: s.provider, HashPassword: hash,
		LoginFields: cfg.Users.LoginFields, Registration: cfg.Users.Registration, AllowMixedScripts: cfg.Users.UsernameMixedScripts == "allow",
		FirstPartyClient: u.FirstPartyClient, RevokeSessionsOnPasswordChange: u.RevokeSessionsOnPasswordChange,
		BasicAuth: u.BasicAuth,
		Retype: accounts.Retype{
			UserCreatePassword: u.Retype.UserCreatePassword, SetPassword: u.Retype.SetPassword,
			SetUsername: u.Retype.SetUsername, PasswordResetConfirm: u.Retype.PasswordResetConfirm,
			UsernameResetConfirm: u.Retype.UsernameResetConfirm,
		},
		Passwords: userAPIPasswords(u.Password), Profile: profile,
		LoginTokenTTL: u.LoginTokenTTL, PersonalTokenTTL: u.PersonalTokenTTL,
		Mailer: mailer, Links: links(cfg), SyncMail: opts.SyncMail,
		UserTokens: usertokens.New(tokenKey, u.ResetTokenTTL, opts.Now),
		Now:        opts.Now, Logger: opts.Logger,
		Audit: s.audit, AdminKeys: s.store,
		Consents: s.store, Clients: s.store,
	})
	if err := svc.Start(ctx); err != nil {
		return nil, fmt.Errorf("user API: %w", err)
	}
	return svc, nil
}

// userRoutes is where the user API's route sets are mounted.
func userRoutes(cfg config.Config) handlers.UserRoutes {
	u := cfg.Users.API
	r := handlers.UserRoutes{Prefix: u.APIPrefix, PageSize: u.PageSize, DRFJWT: u.DRFJWT.Enabled, DRFJWTPrefix: u.DRFJWT.Prefix}
	if u.RestAuth.Enabled {
		r.RestAuth = u.RestAuth.Prefix
	}
	return r
}

// links are the e-mails' link patterns and names. Without a front-end
// (users.frontend_url, users.domain) the activation and password-reset links
// open the hosted pages under the issuer; a pattern that is already an
// absolute URL is kept as it is.
func links(cfg config.Config) accounts.Links {
	u := cfg.Users.API
	protocol, domain := cfg.UserAPIDomain()
	l := accounts.Links{
		ActivationURL: u.ActivationURL, PasswordResetURL: u.PasswordResetURL, UsernameResetURL: u.UsernameResetURL,
		SiteName: u.SiteName, Domain: domain, Protocol: protocol, TokenTTL: u.ResetTokenTTL,
	}
	if cfg.HostedMailLinks() {
		issuer := strings.TrimRight(cfg.Issuer, "/")
		if !strings.Contains(l.ActivationURL, "://") {
			l.ActivationURL = issuer + pages.ActivatePath
		}
		if !strings.Contains(l.PasswordResetURL, "://") {
			l.PasswordResetURL = issuer + pages.ResetPath
		}
	}
	return l
}

// openPages builds the hosted pages from ui.*: a template that does not
// parse stops the start.
func openPages(cfg config.Config, users *accounts.Service, master []byte, log *slog.Logger, signIn *pages.SignIn) (*pages.Pages, error) {
	key, err := pages.DeriveCSRFKey(master)
	if err != nil {
		return nil, err
	}
	p, err := pages.New(pages.Options{
		Accounts: users, CSRF: pages.NewCSRF(key, strings.HasPrefix(cfg.Issuer, "https://")),
		ProductName: cfg.UI.ProductName, LogoURL: cfg.UI.LogoURL, Templates: cfg.UI.Templates, Logger: log,
		SignIn: signIn,
	})
	if err != nil {
		return nil, fmt.Errorf("hosted pages: %w", err)
	}
	return p, nil
}

// NewUsername normalises a username for a new account made outside the
// user API (the CLI) and checks it as the user API does: NFKC, Django's
// allowed characters, and no mixed scripts unless
// users.username_mixed_scripts is "allow".
func (s *Server) NewUsername(name string) (string, error) {
	name, msg := accounts.CheckNewUsername(name, s.cfg.Users.UsernameMixedScripts == "allow")
	if msg != "" {
		return "", fmt.Errorf("username %q: %s", name, msg)
	}
	return name, nil
}
