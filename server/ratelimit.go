package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/redisstore"
)

// openRateLimits builds the brute-force protection of rate_limit: off when
// rate_limit.enabled is false (the provider then makes no calls at all);
// the counters in Redis when storage.redis is configured, so every instance
// shares them, and in the SQL store otherwise (embedded mode).
func (s *Server) openRateLimits(ctx context.Context, cfg config.Config) (provider.RateLimits, error) {
	rl := cfg.RateLimit
	if !rl.Enabled {
		s.log.Warn("rate limiting is off (rate_limit.enabled: false): logins and client secrets can be guessed at full speed")
		return provider.RateLimits{}, nil
	}
	var store storage.Attempts = s.store
	if cfg.Storage.Redis.Configured() {
		client, err := newRedisClient(cfg.Storage.Redis)
		if err != nil {
			return provider.RateLimits{}, err
		}
		pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if err := client.Ping(pingCtx).Err(); err != nil {
			_ = client.Close()
			return provider.RateLimits{}, fmt.Errorf("rate limits: connect to redis: %w", err)
		}
		s.rateRedis = client
		store = redisstore.New(redisstore.Options{Client: client, Prefix: cfg.Storage.Redis.Prefix})
	}
	return provider.RateLimits{
		Store:          store,
		AccountAddress: attemptLimit(rl.AccountAddress),
		Account:        attemptLimit(rl.Account),
		Address:        attemptLimit(rl.Address),
	}, nil
}

func attemptLimit(l config.Limit) storage.AttemptLimit {
	return storage.AttemptLimit{Failures: l.Failures, Window: l.Window, Backoff: l.Backoff, MaxBackoff: l.MaxBackoff}
}

// purgeAttempts deletes forgotten failure counters from the SQL store
// (Redis expires its own).
func (s *Server) purgeAttempts(ctx context.Context, now time.Time) (int, error) {
	if !s.cfg.RateLimit.Enabled || s.rateRedis != nil {
		return 0, nil
	}
	return s.store.PurgeAttempts(ctx, now)
}

// pingRateLimits checks the rate limits' Redis, when they use one.
func (s *Server) pingRateLimits(ctx context.Context) error {
	if s.rateRedis == nil {
		return nil
	}
	if err := s.rateRedis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("rate limits: redis: %w", err)
	}
	return nil
}

// closeRateLimits closes the rate limits' Redis client, when there is one.
func (s *Server) closeRateLimits() error {
	if s.rateRedis == nil {
		return nil
	}
	return s.rateRedis.Close()
}

// newRedisClient is a minimal Redis client for the rate limits, built from
// storage.redis (one node by url or a single addr, Sentinel with
// master_name, Cluster with several addrs). Timeouts are short so a dead
// Redis turns into a quick 503. The server's shared Redis client (the token
// store's) is meant to replace it once both are on main.
func newRedisClient(r config.Redis) (redis.UniversalClient, error) {
	opts := &redis.UniversalOptions{
		Addrs: r.Addrs, MasterName: r.MasterName, Username: r.Username, Password: r.Password,
		DB: r.DB, PoolSize: r.PoolSize, ClientName: "latchkey",
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, PoolTimeout: time.Second,
		ContextTimeoutEnabled: true,
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
	return redis.NewUniversalClient(opts), nil
}
