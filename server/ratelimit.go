package server

import (
	"context"
	"fmt"
	"time"

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
		// The tokens' client when they live in Redis; otherwise one of
		// the rate limits' own.
		client := s.hot.redis
		if client == nil {
			c, err := NewRedisClient(cfg.Storage.Redis)
			if err != nil {
				return provider.RateLimits{}, err
			}
			pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			if err := c.Ping(pingCtx).Err(); err != nil {
				_ = c.Close()
				return provider.RateLimits{}, fmt.Errorf("rate limits: connect to redis: %w", err)
			}
			c.AddHook(roundTrips{count: s.metrics.RedisRoundTrip})
			s.rateRedis, client = c, c
		}
		store = redisstore.New(redisstore.Options{Client: client, Prefix: cfg.Storage.Redis.Prefix})
	}
	return provider.RateLimits{
		Store:          store,
		AccountAddress: attemptLimit(rl.AccountAddress),
		Account:        attemptLimit(rl.Account),
		Address:        attemptLimit(rl.Address),
		Mail:           attemptLimit(rl.Mail),
		MailAddress:    attemptLimit(rl.MailAddress),
	}, nil
}

func attemptLimit(l config.Limit) storage.AttemptLimit {
	return storage.AttemptLimit{Failures: l.Failures, Window: l.Window, Backoff: l.Backoff, MaxBackoff: l.MaxBackoff}
}

// purgeAttempts deletes forgotten failure counters from the SQL store
// (Redis expires its own).
func (s *Server) purgeAttempts(ctx context.Context, now time.Time) (int, error) {
	if !s.cfg.RateLimit.Enabled || s.cfg.Storage.Redis.Configured() {
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
