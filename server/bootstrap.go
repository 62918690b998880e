package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/clients"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// Bootstrap settings (contract §5), read from the environment.
const (
	envAdminUsername = config.EnvBootstrapAdminUsername
	envAdminEmail    = config.EnvBootstrapAdminEmail
	envAdminPassword = config.EnvBootstrapAdminPassword
	envClientID      = config.EnvBootstrapClientID
	envClientSecret  = config.EnvBootstrapClientSecret
)

// bootstrapStore is what bootstrapping needs from storage.
type bootstrapStore interface {
	CountUsers(ctx context.Context) (int, error)
	CreateUser(ctx context.Context, u *storage.User) error
}

// bootstrap runs on the first start with an empty database: it creates the
// admin user (a superuser) and the confidential demo client, registered for
// every grant the server serves (grants), and prints their credentials
// once, with a curl that gets a token. On a database bootstrapped before,
// bootstrap variables that are set have no effect: it warns once, saying
// how to do what they were probably meant for.
func bootstrap(ctx context.Context, store bootstrapStore, hasher backends.PasswordHasher, cl *clients.Admin, grants []string, opts Options) error {
	n, err := store.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	env := envMap(opts.Environ)
	if n > 0 {
		warnBootstrapIgnored(opts, env)
		return nil
	}
	password, generated := env[envAdminPassword], false
	if password == "" {
		password, generated = provider.NewSecret("")[:24], true
	}
	hash, err := hasher.HashPassword(ctx, password)
	if err != nil {
		return fmt.Errorf("hash admin password: %w", err)
	}
	now := opts.Now()
	admin := &storage.User{
		Username: orDefault(env[envAdminUsername], "admin"), Email: orDefault(env[envAdminEmail], "admin@localhost"),
		PasswordHash: hash, IsActive: true, IsStaff: true, IsSuperuser: true, EmailVerified: true,
		DateJoined: now, PasswordChangedAt: now,
	}
	if err := store.CreateUser(ctx, admin); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			// Another instance, started at the same time on the same
			// empty database, bootstrapped it first.
			return nil
		}
		return fmt.Errorf("create admin: %w", err)
	}
	client, err := cl.CreateClient(ctx, clients.Metadata{
		ClientID:                orDefault(env[envClientID], "demo"),
		ClientName:              "Demo client",
		RedirectURIs:            []string{"http://localhost:8080/callback", "http://127.0.0.1/callback"},
		GrantTypes:              grants,
		TokenEndpointAuthMethod: provider.AuthSecretBasic,
		// The demo client is the operator's own: its tokens may use the
		// user and admin APIs (see provider.ScopeAPI).
		Scope: clients.DefaultScope + " " + provider.ScopeAPI,
		// It is first-party too: the hosted consent page is not shown for
		// it (contract §3).
		SkipConsent: true,
	}, env[envClientSecret])
	if errors.Is(err, clients.ErrExists) {
		client, err = clients.Metadata{ClientID: orDefault(env[envClientID], "demo")}, nil
	}
	if err != nil {
		return fmt.Errorf("create demo client: %w", err)
	}
	printBanner(opts.Out, opts.Config.Issuer, admin.Username, password, generated, client, env[envClientSecret] == "")
	return nil
}

// warnBootstrapIgnored logs one warning naming the bootstrap variables
// that are set (never their values) on an already bootstrapped database.
func warnBootstrapIgnored(opts Options, env map[string]string) {
	var set []string
	for _, name := range config.BootstrapEnv {
		if env[name] != "" {
			set = append(set, name)
		}
	}
	if len(set) == 0 {
		return
	}
	clientID := orDefault(env[envClientID], "demo")
	opts.Logger.Warn("bootstrap variables have no effect: the database is already bootstrapped "+
		"(they are read on the first start with an empty database only). "+
		"To change the admin password: latchkey users set-password --username "+orDefault(env[envAdminUsername], "admin")+" --password-stdin; "+
		"to give the demo client a new secret: latchkey clients rotate-secret "+clientID,
		"variables", strings.Join(set, ","))
}

func printBanner(w io.Writer, issuer, username, password string, generatedPassword bool, client clients.Metadata, generatedSecret bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n=== latchkey: first start, bootstrapped %s ===\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Admin user:    %s\n", username)
	if generatedPassword {
		fmt.Fprintf(&b, "Admin password: %s   (shown once; set LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD to choose it)\n", password)
	}
	fmt.Fprintf(&b, "Demo client:   %s\n", client.ClientID)
	if client.ClientSecret != "" && generatedSecret {
		fmt.Fprintf(&b, "Client secret: %s   (shown once)\n", client.ClientSecret)
	}
	// A generated credential is printed as is; one the operator chose is
	// referenced by its variable, so it never lands in a log.
	secret, pw := shellQuote(client.ClientSecret), shellQuote(password)
	if !generatedSecret {
		secret = `"$` + envClientSecret + `"`
	}
	if !generatedPassword {
		pw = `"$` + envAdminPassword + `"`
	}
	base := strings.TrimSuffix(issuer, "/")
	fmt.Fprintf(&b, "\nGet a token for the admin user:\n  curl -s -u %s:%s -d grant_type=password -d username=%s -d password=%s %s/oauth2/token\n",
		client.ClientID, secret, shellQuote(username), pw, base)
	fmt.Fprintf(&b, "Get a token for the client itself:\n  curl -s -u %s:%s -d grant_type=client_credentials %s/oauth2/token\n\n",
		client.ClientID, secret, base)
	_, _ = io.WriteString(w, b.String())
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, config.EnvBootstrapPrefix) {
			m[k] = v
		}
	}
	return m
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
