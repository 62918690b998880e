package server

import (
	"context"

	"github.com/latchkey-auth/latchkey/clients"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/storage"
)

// openRegistrar builds dynamic client registration from oauth2.*: the
// open policy's rate-limit counters live where the other counters do
// (Redis when configured, so every instance shares them; else SQL).
func (s *Server) openRegistrar(cfg config.Config) *clients.Registrar {
	var attempts storage.Attempts = s.store
	if cfg.Storage.Redis.Configured() {
		attempts = s.redis
	}
	o := cfg.OAuth2
	if o.Registration == config.RegistrationOpen && o.RegistrationRateLimit.Requests == 0 {
		s.log.Warn("open client registration without a rate limit (oauth2.registration_rate_limit.requests: 0): anyone can register clients at full speed")
	}
	return clients.NewRegistrar(s.clients, s.store, clients.RegistrationOptions{
		Policy: o.Registration, AllowConfidential: o.RegistrationAllowConfidential, Issuer: cfg.Issuer,
		Attempts: attempts, RateLimit: o.RegistrationRateLimit, Observer: s.metrics,
	})
}

// purgeRegistration deletes registered clients unused for
// oauth2.registration_client_ttl, and expired or used-up initial access
// tokens. Registered clients expire even while registration is off: they
// were made under the TTL.
func (s *Server) purgeRegistration(ctx context.Context) {
	if n, err := s.registrar.DeleteUnused(ctx, s.cfg.OAuth2.RegistrationClientTTL); err != nil {
		s.log.Warn("purge of unused registered clients failed", "err", err)
	} else if n > 0 {
		s.log.Info("deleted registered clients unused for oauth2.registration_client_ttl", "count", n)
	}
	if n, err := s.registrar.PurgeInitialAccessTokens(ctx); err != nil {
		s.log.Warn("purge of initial access tokens failed", "err", err)
	} else if n > 0 {
		s.log.Info("purged expired or used-up initial access tokens", "count", n)
	}
}
