package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/storage"
)

// Stores opens the stores that storage.* describes. The server never
// imports a store implementation: cmd/latchkey/stores implements Stores on
// storage/sqlstore and storage/redisstore, and the binary (and the server's
// tests) pass it in Options.
type Stores interface {
	// OpenDurable opens the durable store and applies its migrations.
	OpenDurable(ctx context.Context, cfg config.Config, log *slog.Logger) (Durable, error)
	// OpenRedis builds the store of storage.redis, keys under its prefix,
	// without connecting yet. roundTrip, when not nil, is called once per
	// network round trip (a command, a script or a pipeline), for the
	// metrics.
	OpenRedis(cfg config.Redis, roundTrip func()) (Redis, error)
}

// Durable is what the server uses of the durable store: the records it
// hands to the provider, the accounts service and the backends; the hot
// data (tokens, codes, login state) when they stay in SQL (storage.tokens:
// sql, or no Redis); the rate-limit counters when there is no Redis; and
// the purges of what has expired.
type Durable interface {
	storage.Store // users, groups, clients, keys, tokens, personal tokens; Ping, Close
	storage.Consents
	storage.Identities
	storage.Codes
	storage.DeviceCodes
	storage.LoginSessions
	storage.Attempts
	storage.InitialAccessTokens
	// PurgeAttempts deletes forgotten rate-limit counters and counts them.
	PurgeAttempts(ctx context.Context, now time.Time) (int, error)
}

// Redis is the hot data's store in Redis, shared by every instance: tokens,
// revocations, codes, login state (storage.tokens) and rate-limit counters.
// Its keys expire by themselves, so its purges delete next to nothing.
type Redis interface {
	storage.Tokens
	storage.Codes
	storage.DeviceCodes
	storage.LoginSessions
	storage.Attempts
	Ping(ctx context.Context) error
	// Close closes the connection.
	Close() error
}
