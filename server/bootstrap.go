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
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// Bootstrap settings (contract §5), read from the environment.
const (
	envAdminUsername = "LATCHKEY_BOOTSTRAP_ADMIN_USERNAME"
	envAdminEmail    = "LATCHKEY_BOOTSTRAP_ADMIN_EMAIL"
	envAdminPassword = "LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD"
	envClientID      = "LATCHKEY_BOOTSTRAP_CLIENT_ID"
	envClientSecret  = "LATCHKEY_BOOTSTRAP_CLIENT_SECRET"
)

// DemoGrants are every grant the demo client may use.
var DemoGrants = []string{
	provider.GrantAuthorizationCode, provider.GrantPassword, provider.GrantRefreshToken,
	provider.GrantClientCredentials, provider.GrantTokenExchange,
}

// bootstrapStore is what bootstrapping needs from storage.
type bootstrapStore interface {
	CountUsers(ctx context.Context) (int, error)
	CreateUser(ctx context.Context, u *storage.User) error
}

// bootstrap runs on the first start with an empty database: it creates the
// admin user (a superuser) and the confidential demo client, and prints
// their credentials once, with a curl that gets a token.
func bootstrap(ctx context.Context, store bootstrapStore, hasher backends.PasswordHasher, cl *clients.Admin, opts Options) error {
	n, err := store.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	env := envMap(opts.Environ)
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
		GrantTypes:              DemoGrants,
		TokenEndpointAuthMethod: provider.AuthSecretBasic,
		// The demo client is the operator's own: its tokens may use the
		// user and admin APIs (see provider.ScopeAPI).
		Scope: clients.DefaultScope + " " + provider.ScopeAPI,
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
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "LATCHKEY_BOOTSTRAP_") {
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
