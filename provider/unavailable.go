package provider

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// IsUnavailable reports whether err says that a store (the database or
// Redis) cannot answer right now, as opposed to a bug or a bad request:
// the request may succeed later, so it is answered 503
// temporarily_unavailable (RFC 6749 §5.2 / §4.1.2.1) with Retry-After.
//
// It recognises failures by behaviour rather than by importing the
// drivers, so the provider stays independent of them:
//   - deadlines: the request's own timeout, or a driver's read, write or
//     dial timeout (net.Error.Timeout);
//   - connections: refused, reset, closed pipes, EOF mid-reply, any
//     *net.OpError, a pool that is closed or has no free connection within
//     its wait (go-redis' "connection pool timeout"), database/sql's bad
//     or closed connections;
//   - Redis answering that it cannot serve: LOADING (reading its dataset
//     after a restart), READONLY (a replica after a failover), MASTERDOWN,
//     CLUSTERDOWN, TRYAGAIN, NOREPLICAS, BUSY (a script runs too long).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrStoreUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var redisErr interface {
		error
		RedisError()
	}
	if errors.As(err, &redisErr) && unavailableRedisReply(redisErr.Error()) {
		return true
	}
	msg := err.Error()
	for _, s := range unavailableMessages {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// unavailableRedisReply reports whether a Redis error reply says the
// server cannot serve now (rather than that the command was wrong).
func unavailableRedisReply(msg string) bool {
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS", "BUSY "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// unavailableMessages are driver errors without a type to match: go-redis'
// pool errors and database/sql's closed database.
var unavailableMessages = []string{
	"redis: connection pool timeout",
	"redis: client is closed",
	"sql: database is closed",
}
