package redisstore

import (
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/internal/netfail"
)

// translate adds the operation to err and turns what go-redis says into the
// storage sentinels: a Redis that cannot answer now is ErrUnavailable
// (unavailable). An error that already is one of the sentinels is returned
// as it is. The driver's error stays in the chain, for logs.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case translated(err):
		return err
	case unavailable(err):
		return fmt.Errorf("redisstore: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// translated reports whether err already says what it is to the caller.
func translated(err error) bool {
	for _, target := range []error{storage.ErrNotFound, storage.ErrConflict, storage.ErrReused, storage.ErrUnavailable, storage.ErrInvalidInput} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func notFound(op string) error { return fmt.Errorf("redisstore: %s: %w", op, storage.ErrNotFound) }
func conflict(op string) error { return fmt.Errorf("redisstore: %s: %w", op, storage.ErrConflict) }

// checkText is ErrInvalidInput when a value to write is not valid text
// (storage.ValidText). Redis would keep it, but the SQL stores cannot, and
// JSON would change it: every store refuses it alike.
func checkText(op string, values ...any) error {
	if storage.ValidText(values...) {
		return nil
	}
	return fmt.Errorf("redisstore: %s: text with a NUL byte or not UTF-8: %w", op, storage.ErrInvalidInput)
}

// unavailable reports whether err says Redis cannot answer now, though the
// same command may succeed later: the connection failed or timed out
// (netfail), the client is closed, its pool has no free connection within
// PoolTimeout, or Redis answers that it cannot serve: LOADING (reading its
// dataset after a restart), READONLY (a replica after a failover),
// MASTERDOWN, CLUSTERDOWN, TRYAGAIN, NOREPLICAS, too many clients, out of
// memory (maxmemory), BUSY (a script runs too long).
func unavailable(err error) bool {
	return netfail.Is(err) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) ||
		redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsMasterDownError(err) ||
		redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsNoReplicasError(err) ||
		redis.IsMaxClientsError(err) || redis.IsOOMError(err) ||
		// go-redis has no typed error for BUSY; its reply prefix is all
		// there is.
		redis.HasErrorPrefix(err, "BUSY ")
}
