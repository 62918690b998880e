package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/metrics"
	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/redisstore"
)

// Redis timeouts. They are short on purpose: a Redis that does not answer
// must turn into a quick 503, not a request that hangs until the client
// gives up. A healthy Redis answers in well under a millisecond.
const (
	redisDialTimeout  = time.Second
	redisReadTimeout  = time.Second
	redisWriteTimeout = time.Second
	// redisPoolTimeout is how long a request waits for a free connection
	// when every pooled one is busy.
	redisPoolTimeout = time.Second
)

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
func NewRedisClient(r config.Redis) (redis.UniversalClient, error) {
	if !r.Configured() {
		return nil, errors.New("storage.redis: neither url nor addrs is set")
	}
	opts := &redis.UniversalOptions{
		Addrs:      r.Addrs,
		MasterName: r.MasterName,
		Username:   r.Username,
		Password:   r.Password,
		DB:         r.DB,
		PoolSize:   r.PoolSize,
		ClientName: "latchkey",

		DialTimeout:           redisDialTimeout,
		ReadTimeout:           redisReadTimeout,
		WriteTimeout:          redisWriteTimeout,
		PoolTimeout:           redisPoolTimeout,
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
	return redis.NewUniversalClient(opts), nil
}

// redisMode names the kind of client for the logs.
func redisMode(r config.Redis) string {
	switch {
	case r.MasterName != "":
		return "sentinel"
	case r.URL == "" && len(r.Addrs) > 1:
		return "cluster"
	}
	return "single"
}

// useRedis reports whether tokens, revocations, codes and login state go
// to Redis (storage.tokens, where "auto" means "when Redis is configured").
func useRedis(cfg config.Config) bool {
	switch cfg.Storage.Tokens {
	case "redis":
		return true
	case "sql":
		return false
	}
	return cfg.Storage.Redis.Configured()
}

// ephemeral are the stores of short-lived, hot data: refresh-token
// families, revocations, one-time codes and login state. They live in Redis
// or in the durable store, by storage.tokens.
type ephemeral struct {
	tokens storage.Tokens
	codes  storage.Codes
	logins storage.LoginSessions
	// redis is the client when the data lives in Redis; nil otherwise.
	redis redis.UniversalClient
}

// openEphemeral picks where the hot data lives and, for Redis, connects and
// checks that it answers.
func openEphemeral(ctx context.Context, cfg config.Config, sql sqlEphemeral, log *slog.Logger, m *metrics.Registry) (ephemeral, error) {
	if !useRedis(cfg) {
		return ephemeral{tokens: sql, codes: sql, logins: sql}, nil
	}
	client, err := NewRedisClient(cfg.Storage.Redis)
	if err != nil {
		return ephemeral{}, err
	}
	client.AddHook(roundTrips{count: m.RedisRoundTrip})
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return ephemeral{}, fmt.Errorf("connect to redis: %w", err)
	}
	rs := redisstore.New(redisstore.Options{Client: client, Prefix: cfg.Storage.Redis.Prefix})
	log.Info("tokens, codes and login state in redis", "mode", redisMode(cfg.Storage.Redis), "prefix", cfg.Storage.Redis.Prefix)
	return ephemeral{tokens: rs, codes: rs, logins: rs, redis: client}, nil
}

// sqlEphemeral is what the durable store must implement to hold the hot
// data itself (embedded mode, or storage.tokens: sql).
type sqlEphemeral interface {
	storage.Tokens
	storage.Codes
	storage.LoginSessions
}

// ping checks Redis, when it is used.
func (e ephemeral) ping(ctx context.Context) error {
	if e.redis == nil {
		return nil
	}
	if err := e.redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// close closes the Redis client, when there is one.
func (e ephemeral) close() error {
	if e.redis == nil {
		return nil
	}
	return e.redis.Close()
}

// purge deletes expired codes and login sessions (a no-op in Redis, where
// they expire by themselves).
func (e ephemeral) purge(ctx context.Context, now time.Time) (int, error) {
	n, err := e.codes.PurgeCodes(ctx, now)
	if err != nil {
		return n, err
	}
	m, err := e.logins.PurgeLogins(ctx, now)
	return n + m, err
}

// Tokens is where refresh-token families, opaque access tokens and
// revocations live (Redis or the database, by storage.tokens).
func (s *Server) Tokens() storage.Tokens { return s.hot.tokens }

// Codes is where one-time authorization codes live (as Tokens).
func (s *Server) Codes() storage.Codes { return s.hot.codes }

// LoginSessions is where the hosted login pages' state lives (as Tokens).
func (s *Server) LoginSessions() storage.LoginSessions { return s.hot.logins }

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

// RedisLogger sends go-redis' internal log lines (pool dial failures and
// the like) to slog instead of the standard logger's stderr.
//
// go-redis has one package-level logger, so the process sets it once
// (cmd/latchkey does: redis.SetLogger(server.RedisLogger{Log: logger})),
// not each Server.
type RedisLogger struct{ Log *slog.Logger }

func (l RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.Log.DebugContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}
