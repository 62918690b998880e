package server

import (
	"context"
	"time"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// rateLimits builds the brute-force protection of rate_limit: off when
// rate_limit.enabled is false (the provider then makes no calls at all);
// the counters in Redis when storage.redis is configured, so every instance
// shares them, and in the SQL store otherwise (embedded mode).
func (s *Server) rateLimits(cfg config.Config) provider.RateLimits {
	rl := cfg.RateLimit
	if !rl.Enabled {
		s.log.Warn("rate limiting is off (rate_limit.enabled: false): logins and client secrets can be guessed at full speed")
		return provider.RateLimits{}
	}
	var store storage.Attempts = s.store
	if cfg.Storage.Redis.Configured() {
		store = s.redis
	}
	return provider.RateLimits{
		Store:           store,
		AccountAddress:  attemptLimit(rl.AccountAddress),
		Account:         attemptLimit(rl.Account),
		Address:         attemptLimit(rl.Address),
		Mail:            attemptLimit(rl.Mail),
		MailAddress:     attemptLimit(rl.MailAddress),
		KnownAddressTTL: rl.KnownDeviceTTL,
		DeviceTTL:       rl.DeviceCookieTTL,
	}
}

func attemptLimit(l config.Limit) storage.AttemptLimit {
	return storage.AttemptLimit{Failures: l.Failures, Window: l.Window, Backoff: l.Backoff, MaxBackoff: l.MaxBackoff}
}

// purgeAttempts deletes forgotten failure counters from the SQL store
// (Redis expires its own).
func (s *Server) purgeAttempts(ctx context.Context, now time.Time) (int, error) {
	registrationLimit := s.cfg.OAuth2.Registration == config.RegistrationOpen && s.cfg.OAuth2.RegistrationRateLimit.Requests > 0
	if !(s.cfg.RateLimit.Enabled || registrationLimit) || s.cfg.Storage.Redis.Configured() {
		return 0, nil
	}
	return s.store.PurgeAttempts(ctx, now)
}
