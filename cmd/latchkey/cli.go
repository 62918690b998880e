package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/clients"
	"github.com/latchkey-auth/latchkey/cmd/latchkey/stores"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/server"
	"github.com/latchkey-auth/latchkey/storage"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// cli holds what every command shares: the streams, the environment and the
// --config flag.
type cli struct {
	ctx        context.Context
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	environ    []string
	configPath string
}

// run is the whole program, callable from tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	// Everything for stderr goes through one buffered writer, so that the
	// log and other messages reach it whole and from one goroutine.
	logOut := newLogWriter(stderr)
	defer logOut.Close()
	stderr = logOut
	c := &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, environ: environ}
	root := &cobra.Command{
		Use:           "latchkey",
		Short:         "OAuth2 / OpenID Connect token server with pluggable authentication backends",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&c.configPath, "config", "", "path of latchkey.yaml (default $LATCHKEY_CONFIG; no file needed)")
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(c.serveCmd(), c.migrateCmd(), c.usersCmd(), c.clientsCmd(), c.keysCmd(), c.adminCmd(), c.eventsCmd(), c.configCmd(), c.versionCmd())
	return root.ExecuteContext(ctx)
}

// loadConfig loads and checks the whole configuration: config.Load, then
// server.CheckConfig against this binary's backends. Every command, serve
// and config check alike, goes through it, so they are exactly as strict.
func (c *cli) loadConfig() (config.Config, error) {
	cfg, err := config.Load(c.configPath, c.environ)
	if err != nil {
		return config.Config{}, err
	}
	if err := server.CheckConfig(cfg, backendTypes()); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

func (c *cli) logger(cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(c.stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(c.stderr, opts))
}

// open assembles the server; CLI commands other than serve skip bootstrap.
func (c *cli) open(cfg config.Config, bootstrap bool) (*server.Server, error) {
	logger := c.logger(cfg)
	// go-redis logs through one package-level logger: this process's.
	stores.SetRedisLogger(logger)
	return server.Open(c.ctx, server.Options{
		Config: cfg, Stores: stores.Opener{}, Backends: backendTypes(), Logger: logger, Out: c.stderr,
		Environ: c.environ, SkipBootstrap: !bootstrap,
	})
}

// withServer runs fn on an opened (not serving) server.
func (c *cli) withServer(fn func(*server.Server) error) error {
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	s, err := c.open(cfg, false)
	if err != nil {
		return err
	}
	defer s.Close()
	// Changes made by a command are the CLI's in the audit events.
	c.ctx = audit.WithActor(c.ctx, cliActor)
	return fn(s)
}

func (c *cli) serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the server (embedded SQLite by default, no config needed)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			s, err := c.open(cfg, true)
			if err != nil {
				return err
			}
			defer s.Close()
			return s.ListenAndServe(c.ctx)
		},
	}
}

func (c *cli) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:       "migrate [up|down|status]",
		Short:     "Apply, roll back or show database migrations",
		Args:      cobra.MatchAll(cobra.MaximumNArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"up", "down", "status"},
		RunE: func(_ *cobra.Command, args []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			action := "up"
			if len(args) == 1 {
				action = args[0]
			}
			store, err := stores.OpenSQL(c.ctx, cfg, c.logger(cfg))
			if err != nil {
				return err
			}
			defer store.Close()
			switch action {
			case "down":
				if err := store.MigrateDown(c.ctx); err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, "rolled back the last migration group")
				return nil
			case "status":
				infos, err := store.MigrationStatus(c.ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "MIGRATION\tWHAT\tSTATUS")
				for _, m := range infos {
					status := "pending"
					if m.Applied {
						status = fmt.Sprintf("applied (group %d, %s)", m.GroupID, m.MigratedAt.Format(time.RFC3339))
					}
					fmt.Fprintf(w, "%s\t%s\t%s\n", m.Name, m.Comment, status)
				}
				return w.Flush()
			}
			if err := store.Migrate(c.ctx); err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, "migrations applied")
			return nil
		},
	}
}

func (c *cli) usersCmd() *cobra.Command {
	cmd := group("users", "Manage users")
	cmd.AddCommand(c.userCreateCmd("create", false), c.userCreateCmd("createsuperuser", true), c.userSetPasswordCmd(), c.usersImportCmd(), c.usersExportCmd(), c.usersExplainCmd())
	return cmd
}

func (c *cli) userCreateCmd(name string, super bool) *cobra.Command {
	var username, email, password string
	var passwordStdin, staff bool
	cmd := &cobra.Command{
		Use:   name,
		Short: map[bool]string{false: "Create a user", true: "Create a superuser (staff, every permission)"}[super],
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if username == "" {
				return errors.New("--username is required")
			}
			password, err := c.readPassword(password, passwordStdin)
			if err != nil {
				return err
			}
			return c.withServer(func(s *server.Server) error {
				username, err := s.NewUsername(username)
				if err != nil {
					return err
				}
				hash, err := s.HashPassword(c.ctx, password)
				if err != nil {
					return err
				}
				now := time.Now()
				u := &storage.User{
					Username: username, Email: email, PasswordHash: hash, IsActive: true,
					IsStaff: super || staff, IsSuperuser: super, DateJoined: now, PasswordChangedAt: now,
				}
				if err := s.Store().CreateUser(c.ctx, u); err != nil {
					if errors.Is(err, storage.ErrConflict) {
						return errors.New("a user with this username or email exists")
					}
					return err
				}
				s.Audit().Record(c.ctx, audit.Event{
					Type: audit.TypeUserCreated, Subject: strconv.FormatInt(u.ID, 10),
					Detail: map[string]string{"username": u.Username, "superuser": strconv.FormatBool(super)},
				})
				fmt.Fprintf(c.stdout, "created user %s (id %d)\n", u.Username, u.ID)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "username (required)")
	cmd.Flags().StringVar(&email, "email", "", "e-mail address")
	cmd.Flags().StringVar(&password, "password", "", "password (prefer --password-stdin: flags show in ps)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	if !super {
		cmd.Flags().BoolVar(&staff, "staff", false, "make the user staff (admin API access)")
	}
	return cmd
}

// readPassword returns --password, or the first line of stdin with
// --password-stdin, and refuses one shorter than 8 characters.
func (c *cli) readPassword(password string, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if len(password) < 8 {
		return "", errors.New("a password of at least 8 characters is required (--password or --password-stdin)")
	}
	return password, nil
}

// userSetPasswordCmd changes a user's password: how an operator changes the
// bootstrap admin's password once the database is bootstrapped.
func (c *cli) userSetPasswordCmd() *cobra.Command {
	var username, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "set-password",
		Short: "Set a user's password",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if username == "" {
				return errors.New("--username is required")
			}
			password, err := c.readPassword(password, passwordStdin)
			if err != nil {
				return err
			}
			return c.withServer(func(s *server.Server) error {
				u, err := s.Store().UserByUsername(c.ctx, username)
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no user %q", username)
				}
				if err != nil {
					return err
				}
				hash, err := s.HashPassword(c.ctx, password)
				if err != nil {
					return err
				}
				if _, err := s.Store().UpdateUser(c.ctx, u.ID, func(u *storage.User) error {
					u.PasswordHash, u.PasswordChangedAt = hash, time.Now()
					return nil
				}); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "password of user %s changed\n", u.Username)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "username (required)")
	cmd.Flags().StringVar(&password, "password", "", "new password (prefer --password-stdin: flags show in ps)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func (c *cli) clientsCmd() *cobra.Command {
	cmd := group("clients", "Manage OAuth2 clients")
	var m clients.Metadata
	var public bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Register a client; prints its secret once",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if public {
				m.TokenEndpointAuthMethod = provider.AuthNone
			}
			return c.withServer(func(s *server.Server) error {
				out, err := s.Clients().CreateClient(c.ctx, m, "")
				if err != nil {
					return err
				}
				return c.printJSON(out)
			})
		},
	}
	create.Flags().StringVar(&m.ClientID, "id", "", "client_id (default: generated)")
	create.Flags().StringVar(&m.ClientName, "name", "", "client_name")
	create.Flags().StringSliceVar(&m.RedirectURIs, "redirect-uri", nil, "redirect URI (repeatable)")
	create.Flags().StringSliceVar(&m.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "where /oauth2/logout may send the browser back (repeatable)")
	create.Flags().BoolVar(&m.SkipConsent, "skip-consent", false, "a first-party client: never show the consent page for it")
	create.Flags().StringSliceVar(&m.GrantTypes, "grant-type", nil, "grant type (repeatable), one the server serves: "+strings.Join(servedGrants(), ", ")+" (default: authorization_code and refresh_token with --redirect-uri, else client_credentials, or password and refresh_token with --public)")
	create.Flags().StringVar(&m.Scope, "scope", "", "space-separated scopes the client may get (default: "+clients.DefaultScope+")")
	create.Flags().StringVar(&m.TokenEndpointAuthMethod, "auth-method", "", "client_secret_basic (default), client_secret_post or none")
	create.Flags().BoolVar(&public, "public", false, "a public client (no secret; same as --auth-method none)")
	create.Flags().StringVar(&m.AccessTokenFormat, "access-token-format", "", "jwt (default) or opaque")
	create.Flags().Int64Var(&m.AccessTokenTTL, "access-token-ttl", 0, "access token lifetime in seconds (0: server default)")
	create.Flags().Int64Var(&m.RefreshTokenTTL, "refresh-token-ttl", 0, "refresh token lifetime in seconds (0: server default)")

	list := &cobra.Command{
		Use: "list", Short: "List clients", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return c.withServer(func(s *server.Server) error {
				list, err := s.Clients().ListClients(c.ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "CLIENT_ID\tNAME\tAUTH\tGRANTS\tSKIP_CONSENT\tSCOPE\tREGISTERED")
				for _, cl := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\t%s\t%v\n", cl.ClientID, cl.ClientName, cl.TokenEndpointAuthMethod,
						strings.Join(cl.GrantTypes, ","), cl.SkipConsent, cl.Scope, cl.Registered)
				}
				return w.Flush()
			})
		},
	}
	del := &cobra.Command{
		Use: "delete CLIENT_ID", Short: "Delete a client", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return c.withServer(func(s *server.Server) error {
				if err := s.Clients().DeleteClient(c.ctx, args[0]); err != nil {
					return clientError(args[0], err)
				}
				fmt.Fprintf(c.stdout, "deleted client %s\n", args[0])
				return nil
			})
		},
	}
	rotate := &cobra.Command{
		Use: "rotate-secret CLIENT_ID", Short: "Give a client a new secret; prints it once", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return c.withServer(func(s *server.Server) error {
				out, err := s.Clients().RotateClientSecret(c.ctx, args[0])
				if err != nil {
					return clientError(args[0], err)
				}
				return c.printJSON(out)
			})
		},
	}
	cmd.AddCommand(create, list, del, rotate, c.registrationTokenCmd())
	return cmd
}

func (c *cli) keysCmd() *cobra.Command {
	cmd := group("keys", "Manage signing keys")
	list := &cobra.Command{
		Use: "list", Short: "List published signing keys", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return c.withServer(func(s *server.Server) error {
				keys, err := s.Provider().Keys().List(c.ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "KID\tALG\tCREATED\tSIGNING\tEXPIRES")
				for _, k := range keys {
					exp := "-"
					if !k.ExpiresAt.IsZero() {
						exp = k.ExpiresAt.Format(time.RFC3339)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\n", k.ID, k.Algorithm, k.CreatedAt.Format(time.RFC3339), k.Signing, exp)
				}
				return w.Flush()
			})
		},
	}
	rotate := &cobra.Command{
		Use: "rotate", Short: "Make a new signing key; the old one verifies until its tokens expire", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return c.withServer(func(s *server.Server) error {
				k, err := s.Provider().Keys().Rotate(c.ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "new signing key %s (%s)\n", k.ID, k.Algorithm)
				return nil
			})
		},
	}
	cmd.AddCommand(list, rotate)
	return cmd
}

func (c *cli) configCmd() *cobra.Command {
	cmd := group("config", "Check or print the configuration")
	check := &cobra.Command{
		Use: "check", Short: "Load and validate the configuration", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if _, err := c.loadConfig(); err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, "configuration ok")
			return nil
		},
	}
	example := &cobra.Command{
		Use: "example", Short: "Print a commented latchkey.yaml with every key at its default", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := io.WriteString(c.stdout, config.Example())
			return err
		},
	}
	cmd.AddCommand(check, example)
	return cmd
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(c.stdout, "latchkey %s\n", version)
			return nil
		},
	}
}

// servedGrants are the grant types this binary's token endpoint serves (its
// grant registry), for the help of clients create.
func servedGrants() []string {
	return provider.BuiltinGrantTypes()
}

// group is a command that only holds subcommands. Run with an argument that
// names none of them it fails, as cobra does at the root: `latchkey users
// import x.csv` must not print the help and exit 0 as if it had worked.
func group(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q\nRun '%s --help' for usage", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
}

// clientError words a client administration error for the command line:
// a missing client is named.
func clientError(id string, err error) error {
	if errors.Is(err, clients.ErrNotFound) {
		return fmt.Errorf("no client %q", id)
	}
	return err
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
