// Package server assembles a latchkey server from its configuration:
// storage, backends, the provider and the HTTP layer, and serves it until
// its context ends.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/clients"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers"
	"github.com/latchkey-auth/latchkey/handlers/pages"
	"github.com/latchkey-auth/latchkey/identities"
	"github.com/latchkey-auth/latchkey/metrics"
	"github.com/latchkey-auth/latchkey/permissions"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/sessions"
	"github.com/latchkey-auth/latchkey/storage"
)

// The metrics count the device flow (provider.Observer is s.metrics).
var _ provider.DeviceObserver = (*metrics.Registry)(nil)

// Options are what a server needs besides its configuration.
type Options struct {
	Config config.Config
	// Stores opens the durable store and Redis (cmd/latchkey/stores).
	Stores   Stores
	Backends backends.Registry
	Logger   *slog.Logger
	// Out receives the one-time bootstrap banner with credentials.
	Out io.Writer
	// Environ is the process environment (LATCHKEY_BOOTSTRAP_* is read from it).
	Environ []string
	// Mailer sends the user API's e-mails; nil logs them (console sender).
	Mailer accounts.Mailer
	// SyncMail sends e-mails before answering (tests).
	SyncMail bool
	// SkipBootstrap opens without bootstrapping an empty database (CLI use).
	SkipBootstrap bool
	Now           func() time.Time
}

// Server is an assembled latchkey server.
type Server struct {
	cfg   config.Config
	log   *slog.Logger
	now   func() time.Time
	store Durable
	redis Redis    // storage.redis, when anything lives there; else nil
	hot   hotStore // tokens, revocations, codes, login state: redis or store
	// identities links social identities to accounts.
	identities *identities.Service
	provider   *provider.Provider
	clients    *clients.Admin
	// registrar serves dynamic client registration (oauth2.registration).
	registrar *clients.Registrar
	metrics   *metrics.Registry
	handler   http.Handler // every route, or all but the admin API when it has its own listener
	admin     http.Handler // the admin API's own handler, when admin.listen is set
	metricsH  http.Handler // /metrics' own handler, when metrics.listen is set
	// hasher hashes new passwords (bootstrap, user API, CLI).
	hasher backends.PasswordHasher
	// audit records audit events to the log and the durable store.
	audit *audit.Recorder
	// accounts is the user API's service (admin keys for the CLI).
	accounts *accounts.Service
}

// Open opens storage (migrating it), the backends and the provider, and
// bootstraps an empty database.
func Open(ctx context.Context, opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Stores == nil {
		return nil, errors.New("server: Options.Stores is nil")
	}
	cfg := opts.Config
	// Nothing is created or migrated before the whole configuration is
	// known to be good.
	if err := CheckConfig(cfg, opts.Backends); err != nil {
		return nil, err
	}
	store, err := opts.Stores.OpenDurable(ctx, cfg, opts.Logger)
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	rdb, err := openRedis(ctx, cfg, opts.Stores, m.RedisRoundTrip)
	if err != nil {
		store.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: opts.Logger, now: opts.Now, store: store, redis: rdb, metrics: m}
	s.hot = s.pickHot(cfg)
	if err := s.build(ctx, opts); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) build(ctx context.Context, opts Options) error {
	cfg := opts.Config
	master, err := LoadMasterKey(cfg)
	if err != nil {
		return err
	}
	secrets, err := provider.NewSecrets(master)
	if err != nil {
		return err
	}
	passwords, introspectors, hasher, social, err := openBackends(cfg, opts.Backends, s.store, opts.Logger)
	if err != nil {
		return err
	}
	s.hasher = hasher
	s.audit = audit.New(s.store, opts.Logger, opts.Now)
	s.identities = identities.New(identities.Options{
		Store: s.store, Audit: s.audit, Now: opts.Now, Log: opts.Logger,
		AllowMixedScripts: cfg.Users.UsernameMixedScripts == "allow",
	})
	browser, err := sessions.New(sessions.Options{
		Logins: s.hot, Families: s.hot, Hasher: secrets, Now: opts.Now,
		Idle: cfg.Sessions.IdleTimeout, Lifetime: cfg.Sessions.Lifetime, Secure: strings.HasPrefix(cfg.Issuer, "https://"),
	})
	if err != nil {
		return err
	}
	mapper, err := permissions.New(cfg.Permissions) // checked by CheckConfig already
	if err != nil {
		return err
	}
	if err := seedGroups(ctx, s.store, mapper, opts.Now(), opts.Logger); err != nil {
		return err
	}
	s.provider = provider.New(provider.Options{
		Issuer: cfg.Issuer, Audience: cfg.Tokens.Audience,
		Store: s.store, Tokens: s.hot, Codes: s.hot, DeviceCodes: s.hot, Secrets: secrets,
		Keys: provider.KeyRingOptions{
			Algorithm: cfg.Keys.Algorithm, CacheTTL: cfg.Keys.CacheTTL, RotationPeriod: cfg.Keys.RotationPeriod,
			VerifiedCacheSize: cfg.Tokens.VerifiedCacheSize,
		},
		Lifetimes: provider.Lifetimes{
			Access: cfg.Tokens.AccessTTL, Refresh: cfg.Tokens.RefreshTTL,
			RefreshMax: cfg.Tokens.RefreshMaxTTL, IDToken: cfg.Tokens.IDTokenTTL,
			RefreshReuseGrace: cfg.Tokens.RefreshReuseGrace,
		},
		Passwords: passwords, Introspectors: introspectors, PersonalTokens: s.store,
		SubjectTokenTypes: idTokenExchange(s.identities, social),
		FirstPartyClient:  cfg.Users.API.FirstPartyClient, ClientCacheTTL: cfg.Tokens.ClientCacheTTL, UserCacheTTL: cfg.Tokens.UserCacheTTL,
		Now: opts.Now, Logger: opts.Logger, Observer: s.metrics,
		RateLimits: s.rateLimits(cfg), Audit: s.audit, Sessions: browser,
		Permissions:             mapper,
		Registration:            cfg.OAuth2.Registration != config.RegistrationOff,
		ClientMetadataDocuments: clientMetadataDocuments(cfg, opts.Now, opts.Logger, s.metrics.ClientMetadataDocument),
		Resources:               resourcesOf(cfg.Resources),
	})
	s.metrics.VerifiedTokenCache(func() (uint64, uint64) {
		st := s.provider.Keys().VerifiedCacheStats()
		return st.Hits, st.Misses
	})
	s.clients = clients.New(s.store, s.provider, opts.Now).WithAudit(s.audit)
	s.registrar = s.openRegistrar(cfg)
	if err := s.provider.Start(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if !opts.SkipBootstrap {
		if err := bootstrap(ctx, s.store, s.hasher, s.clients, s.provider.GrantTypes(), opts); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	users, err := s.openAccounts(ctx, opts, master)
	if err != nil {
		return err
	}
	hosted, err := openPages(cfg, users, master, opts.Logger, &pages.SignIn{
		Provider: s.provider, Sessions: browser, Consents: s.store, Device: s.provider, Observer: s.metrics, Audit: s.audit,
		Social: social, Identities: s.identities, Issuer: cfg.Issuer,
		LogoutRevokesTokens: cfg.Sessions.LogoutRevokesTokens, Secure: strings.HasPrefix(cfg.Issuer, "https://"), Now: opts.Now,
	})
	if err != nil {
		return err
	}
	s.accounts = users
	deps := handlers.Deps{
		Provider: s.provider, Clients: s.clients, Registrar: s.registrar, Accounts: users, Events: s.store, UserRoutes: userRoutes(cfg), Pages: hosted, Identities: s.identities, Ready: s.ready, Metrics: s.metrics,
		Logger: opts.Logger, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, RequestTimeout: cfg.Storage.Timeout,
		TrustedProxies: cfg.TrustedProxies, AccessLog: cfg.Log.Level == "debug" || cfg.Log.Level == "info",
	}
	if deps.Web, err = web(cfg); err != nil {
		return err
	}
	if cfg.Metrics.Listen != "" {
		if s.metricsH, err = handlers.New(deps, handlers.RoutesMetrics); err != nil {
			return err
		}
	}
	if cfg.Admin.Listen == "" {
		s.handler, err = handlers.New(deps, handlers.RoutesAll)
		return err
	}
	if s.handler, err = handlers.New(deps, handlers.RoutesPublic); err != nil {
		return err
	}
	s.admin, err = handlers.New(deps, handlers.RoutesAdmin)
	return err
}

// openBackends opens the configured backends in configured order and
// returns those that check passwords (the chain, in order), those that
// vouch for other servers' tokens, and the hasher of new passwords: the
// first backend that is a backends.PasswordHasher (see defaultHasher when
// none is).
func openBackends(cfg config.Config, reg backends.Registry, users storage.Users, log *slog.Logger) ([]provider.PasswordBackend, []provider.TokenBackend, backends.PasswordHasher, []pages.SocialBackend, error) {
	deps := backends.Deps{Logger: log, Users: users, LoginFields: cfg.Users.LoginFields}
	var checkers []provider.PasswordBackend
	var introspectors []provider.TokenBackend
	var hasher backends.PasswordHasher
	var social []pages.SocialBackend
	for _, b := range cfg.Backends {
		opened, err := reg.Open(backends.Spec{ID: b.ID, Type: b.Type, Decode: b.Decode}, deps)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		if sb, ok := opened.Impl.(pages.SocialBackend); ok {
			social = append(social, sb)
		}
		if pc, ok := opened.Impl.(backends.PasswordChecker); ok {
			checkers = append(checkers, provider.PasswordBackend{ID: b.ID, Checker: pc, NextOnWrongPassword: b.OnWrongPassword == "next"})
		}
		if ti, ok := opened.Impl.(backends.TokenIntrospector); ok {
			introspectors = append(introspectors, provider.TokenBackend{ID: b.ID, Introspector: ti})
		}
		if ph, ok := opened.Impl.(backends.PasswordHasher); ok && hasher == nil {
			hasher = ph
		}
	}
	if hasher == nil {
		var err error
		if hasher, err = defaultHasher(reg, deps); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	return checkers, introspectors, hasher, social, nil
}

// defaultHasherType is the backend type whose defaults hash new passwords
// when no configured backend hashes them (backends: [], say): the bootstrap
// admin and the user API still get a password, stored the way a local
// backend added later checks it.
const defaultHasherType = "local"

// defaultHasher opens the registry's defaultHasherType with an empty config
// block, its defaults, only to hash. It checks no password. Without such a
// type in the registry, hashing fails with an error naming the cause.
func defaultHasher(reg backends.Registry, deps backends.Deps) (backends.PasswordHasher, error) {
	if _, ok := reg[defaultHasherType]; !ok {
		return noHasher{}, nil
	}
	opened, err := reg.Open(backends.Spec{ID: defaultHasherType, Type: defaultHasherType}, deps)
	if err != nil {
		return nil, fmt.Errorf("password hashing: %w", err)
	}
	if ph, ok := opened.Impl.(backends.PasswordHasher); ok {
		return ph, nil
	}
	return noHasher{}, nil
}

// noHasher refuses to hash: no backend type can.
type noHasher struct{}

func (noHasher) HashPassword(context.Context, string) (string, error) {
	return "", errors.New("no configured backend hashes passwords")
}

// HashPassword hashes a new password as the backends check it (CLI use).
func (s *Server) HashPassword(ctx context.Context, password string) (string, error) {
	return s.hasher.HashPassword(ctx, password)
}

// web is what the HTTP layer tells browsers: CORS (http.cors), HSTS
// (http.hsts, only when the issuer is https) and the guard of /metrics.
func web(cfg config.Config) (handlers.Web, error) {
	w := handlers.Web{
		CORSOrigins: cfg.HTTP.CORS.AllowedOrigins, CORSAdmin: cfg.HTTP.CORS.Admin,
		MetricsApart: cfg.Metrics.Listen != "",
	}
	if strings.HasPrefix(cfg.Issuer, "https://") && cfg.HTTP.HSTS.MaxAge > 0 {
		w.HSTS = "max-age=" + strconv.FormatInt(int64(cfg.HTTP.HSTS.MaxAge/time.Second), 10)
		if cfg.HTTP.HSTS.IncludeSubdomains {
			w.HSTS += "; includeSubDomains"
		}
	}
	tok, err := cfg.MetricsToken()
	if err != nil {
		return handlers.Web{}, err
	}
	w.MetricsToken = tok
	return w, nil
}

// ready reports whether the stores answer, within a second.
func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return errors.Join(s.store.Ping(ctx), s.pingRedis(ctx))
}

// Handler is the HTTP handler of the main listener.
func (s *Server) Handler() http.Handler { return s.handler }

// AdminHandler is the admin API's handler when admin.listen is set, else nil.
func (s *Server) AdminHandler() http.Handler { return s.admin }

// MetricsHandler is /metrics' handler when metrics.listen is set, else nil.
func (s *Server) MetricsHandler() http.Handler { return s.metricsH }

// Provider is the protocol core.
func (s *Server) Provider() *provider.Provider { return s.provider }

// Clients returns the client administration (for the CLI).
func (s *Server) Clients() *clients.Admin { return s.clients }

// Registrar is dynamic client registration and its initial access
// tokens (for the CLI).
func (s *Server) Registrar() *clients.Registrar { return s.registrar }

// Accounts is the user API's service (admin API keys, for the CLI).
func (s *Server) Accounts() *accounts.Service { return s.accounts }

// Audit records audit events (for the CLI's own changes).
func (s *Server) Audit() *audit.Recorder { return s.audit }

// Store is the durable store.
func (s *Server) Store() Durable { return s.store }

// Close releases the stores.
func (s *Server) Close() error {
	var err error
	if s.redis != nil {
		err = s.redis.Close()
	}
	return errors.Join(err, s.store.Close())
}

// ListenAndServe listens on the configured address (and admin.listen, when
// set) and serves.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if s.admin == nil {
		return s.Serve(ctx, ln, nil)
	}
	adminLn, err := net.Listen("tcp", s.cfg.Admin.Listen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("admin listen: %w", err)
	}
	return s.Serve(ctx, ln, adminLn)
}

// Serve serves on ln (and the admin API on adminLn, when not nil; and
// /metrics on metrics.listen, when set) until ctx ends, then drains
// in-flight requests for up to http.shutdown_timeout. Expired tokens are
// purged in the background.
func (s *Server) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	servers := []*http.Server{s.httpServer(ctx, s.handler)}
	listeners := []net.Listener{ln}
	names := []string{"api"}
	if adminLn != nil && s.admin != nil {
		servers = append(servers, s.httpServer(ctx, s.admin))
		listeners = append(listeners, adminLn)
		names = append(names, "admin")
	}
	if s.metricsH != nil {
		metricsLn, err := net.Listen("tcp", s.cfg.Metrics.Listen)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("metrics listen: %w", err)
		}
		servers = append(servers, s.httpServer(ctx, s.metricsH))
		listeners = append(listeners, metricsLn)
		names = append(names, "metrics")
	}
	go s.purgeLoop(ctx)
	errc := make(chan error, len(servers))
	tlsOn := s.cfg.TLS.CertFile != ""
	for i, srv := range servers {
		go func() {
			if tlsOn {
				errc <- srv.ServeTLS(listeners[i], s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
			} else {
				errc <- srv.Serve(listeners[i])
			}
		}()
		s.log.Info("latchkey listening", "addr", listeners[i].Addr().String(), "issuer", s.cfg.Issuer, "tls", tlsOn, "admin_only", names[i] == "admin", "serves", names[i])
	}
	if s.cfg.IssuerDerived {
		s.log.Info("issuer derived from the listen address; set issuer (LATCHKEY_ISSUER) to the public URL clients use",
			"issuer", s.cfg.Issuer, "listen", s.cfg.Listen)
	} else {
		s.log.Info("issuer set by the configuration", "issuer", s.cfg.Issuer)
	}
	select {
	case err := <-errc:
		for _, srv := range servers {
			srv.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	s.log.Info("shutting down; draining requests")
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.cfg.HTTP.ReadTimeout,
		WriteTimeout:      s.cfg.HTTP.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.cfg.TLS.CertFile != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return srv
}

// purgeLoop runs Purge every few minutes so nothing grows without bound.
func (s *Server) purgeLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Purge(ctx)
		}
	}
}

// Purge runs one round of the purges Serve runs every few minutes:
// expired tokens, families and revocations, personal tokens, audit events
// past audit.retention, forgotten rate-limit counters, registered clients
// unused for oauth2.registration_client_ttl and spent initial access
// tokens. Failures are logged.
func (s *Server) Purge(ctx context.Context) {
	now := s.now()
	n, err := s.store.Purge(ctx, now)
	if m, perr := s.purgeHot(ctx, now); err == nil {
		n, err = n+m, perr
	}
	if err == nil {
		var pats int
		pats, err = s.store.PurgePersonalTokens(ctx, now)
		n += pats
	}
	if err != nil {
		s.log.Warn("purge failed", "err", err)
	} else if n > 0 {
		s.log.Info("purged expired records", "count", n)
	}
	s.purgeAudit(ctx, now)
	if n, err := s.purgeAttempts(ctx, now); err != nil {
		s.log.Warn("purge of rate-limit counters failed", "err", err)
	} else if n > 0 {
		s.log.Info("purged forgotten rate-limit counters", "count", n)
	}
	s.purgeRegistration(ctx)
}

// purgeAudit deletes stored audit events older than audit.retention (none
// when it is not set, as in a hand-made Config).
func (s *Server) purgeAudit(ctx context.Context, now time.Time) {
	if s.cfg.Audit.Retention <= 0 {
		return
	}
	if n, err := s.store.PurgeAuditEvents(ctx, now.Add(-s.cfg.Audit.Retention)); err != nil {
		s.log.Warn("purge of audit events failed", "err", err)
	} else if n > 0 {
		s.log.Info("purged audit events past audit.retention", "count", n)
	}
}

// LoadMasterKey returns the master key from keys.master_key, or from the
// key file, which is created (mode 0600) with a random key when missing.
func LoadMasterKey(cfg config.Config) ([]byte, error) {
	if cfg.Keys.MasterKey != "" {
		return config.DecodeMasterKey(cfg.Keys.MasterKey)
	}
	path := cfg.MasterKeyPath()
	data, err := os.ReadFile(path)
	if err == nil {
		key, err := config.DecodeMasterKey(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("master key file %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	key := make([]byte, provider.MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	// The key is written to a temporary file and linked into place: the
	// link appears whole or not at all, and fails if another process
	// started on the same data directory made its key first — then that
	// key is the one.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master.key-*")
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("master key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadMasterKey(cfg)
		}
		return nil, fmt.Errorf("master key file: %w", err)
	}
	return key, nil
}

// idTokenExchange registers token exchange's id_token subject type when a
// social backend can verify ID tokens (docs/social-login.md).
func idTokenExchange(ids *identities.Service, social []pages.SocialBackend) map[string]provider.SubjectTokenResolver {
	var bs []identities.IDTokenBackend
	for _, b := range social {
		if v, ok := b.(identities.IDTokenBackend); ok {
			bs = append(bs, v)
		}
	}
	if len(bs) == 0 {
		return nil
	}
	return map[string]provider.SubjectTokenResolver{provider.TokenTypeIDToken: ids.IDTokens(bs)}
}

// resourcesOf turns `resources:` into the provider's resources (RFC 8707).
func resourcesOf(list []config.Resource) []provider.Resource {
	out := make([]provider.Resource, 0, len(list))
	for _, r := range list {
		out = append(out, provider.Resource{URI: r.URI, Scopes: r.Scopes, AccessTTL: r.AccessTTL})
	}
	return out
}
