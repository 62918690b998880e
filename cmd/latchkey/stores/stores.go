// Package stores opens the stores that storage.* configures: the durable
// store on storage/sqlstore (SQLite or Postgres) and the hot data on
// storage/redisstore, over a go-redis client for a single node, a Sentinel
// master or a Cluster. Opener implements server.Stores.
//
// It is the only package that imports the store implementations: server
// sees them through server.Stores, server.Durable and server.Redis, and only
// cmd/ imports implementations (STYLE §1). It is a package of its own under
// cmd/latchkey, and not a file of package main beside backends.go, because
// the server's end-to-end tests (package server_test) open their servers
// with the same opener as the binary, and a main package cannot be imported.
package stores

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/server"
	"github.com/latchkey-auth/latchkey/storage/redisstore"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
)

// Opener opens sqlstore and redisstore stores from the configuration.
type Opener struct{}

var _ server.Stores = Opener{}

// OpenDurable opens the configured SQL store and applies its migrations.
func (Opener) OpenDurable(ctx context.Context, cfg config.Config, log *slog.Logger) (server.Durable, error) {
	store, err := OpenSQL(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("migrate storage: %w", err)
	}
	return store, nil
}

// OpenSQL opens the configured SQL store as it is, migrations not applied
// (`latchkey migrate` applies, rolls back or lists them).
func OpenSQL(ctx context.Context, cfg config.Config, log *slog.Logger) (*sqlstore.Store, error) {
	dsn := cfg.Storage.Postgres.DSN
	if cfg.Storage.Driver != "postgres" {
		dsn = cfg.SQLitePath()
	}
	store, err := sqlstore.Open(ctx, sqlstore.Options{
		Driver: cfg.Storage.Driver, DSN: dsn, MaxConns: cfg.Storage.Postgres.MaxConns, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	return store, nil
}

// OpenRedis builds the client of storage.redis (see NewRedisClient) with
// roundTrip counting its network round trips, and the store on it under
// storage.redis.prefix. It does not connect: the first command does.
func (Opener) OpenRedis(r config.Redis, roundTrip func()) (server.Redis, error) {
	client, err := NewRedisClient(r)
	if err != nil {
		return nil, err
	}
	if roundTrip != nil {
		client.AddHook(roundTrips{count: roundTrip})
	}
	return redisStore{Store: redisstore.New(redisstore.Options{Client: client, Prefix: r.Prefix}), client: client}, nil
}

// redisStore is a redisstore.Store that owns its client.
type redisStore struct {
	*redisstore.Store
	client redis.UniversalClient
}

// Close closes the client.
func (s redisStore) Close() error { return s.client.Close() }

// commandBudget is a go-redis hook that bounds each command (or pipeline,
// or transaction step) as a whole to storage.redis.timeout: waiting for a
// pooled connection, dialling, writing and reading the reply share one
// deadline, so a Redis that does not answer turns into one quick 503 and
// not a wait for a connection followed by a wait for a reply. The
// caller's own deadline wins when it is earlier.
type commandBudget struct{ d time.Duration }

func (h commandBudget) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h commandBudget) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		ctx, cancel := context.WithTimeout(ctx, h.d)
		defer cancel()
		return next(ctx, cmd)
	}
}

func (h commandBudget) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ctx, cancel := context.WithTimeout(ctx, h.d)
		defer cancel()
		return next(ctx, cmds)
	}
}

// NewRedisClient builds the Redis client that storage.redis describes:
//
//   - url: one node (redis:// or rediss:// for TLS); with master_name, the
//     URL's host is a Sentinel;
//   - addrs with master_name: a Sentinel-managed master (failover client);
//   - several addrs: a Cluster;
//   - one addr: one node.
//
// The client never retries a command on its own (MaxRetries -1): a
// refresh-token rotation whose reply was lost must not be sent again, since
// the second attempt would find the token rotated and revoke the family as
// a replay. A failed command becomes one 503 instead, and the client retries.
// Dialling is tried once per command for the same reason of bounded time.
// storage.redis.timeout (1s when unset) bounds each command as a whole
// (commandBudget): a Redis that does not answer is a 503 after that long.
func NewRedisClient(r config.Redis) (redis.UniversalClient, error) {
	if !r.Configured() {
		return nil, errors.New("storage.redis: neither url nor addrs is set")
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	opts := &redis.UniversalOptions{
		Addrs:      r.Addrs,
		MasterName: r.MasterName,
		Username:   r.Username,
		Password:   r.Password,
		DB:         r.DB,
		PoolSize:   r.PoolSize,
		ClientName: "latchkey",

		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           timeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
	}
	if r.URL != "" {
		u, err := redis.ParseURL(r.URL)
		if err != nil {
			// The URL may carry a password: never echo it.
			return nil, errors.New("storage.redis.url: not a valid redis:// or rediss:// URL")
		}
		opts.Addrs = []string{u.Addr}
		if opts.Username == "" {
			opts.Username = u.Username
		}
		if opts.Password == "" {
			opts.Password = u.Password
		}
		if opts.DB == 0 {
			opts.DB = u.DB
		}
		opts.TLSConfig = u.TLSConfig
	}
	if r.TLS && opts.TLSConfig == nil {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if opts.TLSConfig != nil && opts.TLSConfig.MinVersion < tls.VersionTLS12 {
		opts.TLSConfig.MinVersion = tls.VersionTLS12
	}
	if len(opts.Addrs) > 1 && opts.MasterName == "" && opts.DB != 0 {
		return nil, errors.New("storage.redis.db: a Redis Cluster has only database 0")
	}
	client := redis.NewUniversalClient(opts)
	client.AddHook(commandBudget{d: timeout})
	return client, nil
}

// roundTrips is a go-redis hook that counts network round trips: a command
// or a script is one, a pipeline (or MULTI/EXEC) is one however many
// commands it carries. A script that Redis no longer caches costs a second
// one (EVALSHA, then EVAL), which go-redis sends as a second command and
// so is counted too.
type roundTrips struct{ count func() }

func (h roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count()
		return next(ctx, cmd)
	}
}

func (h roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.count()
		return next(ctx, cmds)
	}
}

// SetRedisLogger sends go-redis' internal log lines (pool dial failures and
// the like) to log, at debug level, instead of the standard logger's
// stderr. go-redis has one package-level logger, so the process sets it
// once, not each server.
func SetRedisLogger(log *slog.Logger) { redis.SetLogger(redisLogger{log: log}) }

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}
