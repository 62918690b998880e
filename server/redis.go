package server

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/storage"
)

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

// needRedis reports whether anything lives in Redis: the hot data
// (useRedis), or the rate-limit counters, which go to Redis whenever it is
// configured, so that every instance shares them.
func needRedis(cfg config.Config) bool {
	return useRedis(cfg) || cfg.RateLimit.Enabled && cfg.Storage.Redis.Configured()
}

// openRedis opens storage.redis when anything lives there, and checks that
// it answers; nil otherwise.
func openRedis(ctx context.Context, cfg config.Config, stores Stores, roundTrip func()) (Redis, error) {
	if !needRedis(cfg) {
		return nil, nil
	}
	r, err := stores.OpenRedis(cfg.Storage.Redis, roundTrip)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := r.Ping(pingCtx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("connect to redis: %w", err)
	}
	return r, nil
}

// hotStore holds the short-lived, hot data: refresh-token families,
// revocations, one-time codes and login state. Redis or the durable store
// does, by storage.tokens.
type hotStore interface {
	storage.Tokens
	storage.Codes
	storage.DeviceCodes
	storage.LoginSessions
}

// pickHot puts the hot data in Redis when storage.tokens says so, in the
// durable store otherwise.
func (s *Server) pickHot(cfg config.Config) hotStore {
	if !useRedis(cfg) {
		return s.store
	}
	s.log.Info("tokens, codes and login state in redis", "mode", redisMode(cfg.Storage.Redis), "prefix", cfg.Storage.Redis.Prefix)
	return s.redis
}

// purgeHot deletes expired codes and login sessions (a no-op in Redis,
// where they expire by themselves).
func (s *Server) purgeHot(ctx context.Context, now time.Time) (int, error) {
	n, err := s.hot.PurgeCodes(ctx, now)
	if err != nil {
		return n, err
	}
	m, err := s.hot.PurgeLogins(ctx, now)
	if err != nil {
		return n + m, err
	}
	d, err := s.hot.PurgeDeviceCodes(ctx, now)
	return n + m + d, err
}

// pingRedis checks Redis, when it is used.
func (s *Server) pingRedis(ctx context.Context) error {
	if s.redis == nil {
		return nil
	}
	if err := s.redis.Ping(ctx); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Tokens is where refresh-token families, opaque access tokens and
// revocations live (Redis or the database, by storage.tokens).
func (s *Server) Tokens() storage.Tokens { return s.hot }

// Codes is where one-time authorization codes live (as Tokens).
func (s *Server) Codes() storage.Codes { return s.hot }

// DeviceCodes is where device authorizations live (as Tokens).
func (s *Server) DeviceCodes() storage.DeviceCodes { return s.hot }

// LoginSessions is where the hosted login pages' state lives (as Tokens).
func (s *Server) LoginSessions() storage.LoginSessions { return s.hot }
