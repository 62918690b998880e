package sqlstore

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/internal/netfail"
)

// Postgres SQLSTATE codes.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

// errClosed is what a rotation queued on a closed store gets.
var errClosed = errors.New("sqlstore: store closed")

// translate adds the operation to err and turns what the driver says into
// the storage sentinels; every error a method returns goes through it once.
//   - no rows is ErrNotFound, a unique clash ErrConflict and a missing
//     referenced row (a foreign key) ErrNotFound;
//   - a database that cannot answer now is ErrUnavailable (unavailable);
//   - a value the database refuses is ErrInvalidInput (invalidInput);
//   - an error that already is one of the storage sentinels is returned as
//     it is.
//
// The driver's error stays in the chain, for logs.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case translated(err):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: %w", op, storage.ErrNotFound)
	case isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, storage.ErrConflict, err)
	case isForeignKeyViolation(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, storage.ErrNotFound, err)
	case unavailable(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, storage.ErrUnavailable, err)
	case invalidInput(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, storage.ErrInvalidInput, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
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

// checkKey is ErrNotFound when a lookup key is not valid text
// (storage.ValidText): nothing stored has such a key, and the database
// would refuse it in a query.
func checkKey(op string, keys ...any) error {
	if storage.ValidText(keys...) {
		return nil
	}
	return notFound(op)
}

// checkText is ErrInvalidInput when a value to write is not valid text.
func checkText(op string, values ...any) error {
	if storage.ValidText(values...) {
		return nil
	}
	return fmt.Errorf("sqlstore: %s: text with a NUL byte or not UTF-8: %w", op, storage.ErrInvalidInput)
}

// notFound is ErrNotFound with the operation.
func notFound(op string) error {
	return fmt.Errorf("sqlstore: %s: %w", op, storage.ErrNotFound)
}

// unavailable reports whether err says the database cannot answer now,
// though the same query may succeed later: the connection failed or timed
// out (netfail), the pool is closed or its connection broken, SQLite is
// busy, out of disk or cannot do I/O, or Postgres is shutting down,
// starting, out of resources, read-only (a standby after a failover), or
// gave up on a lock, a deadlock or a serialization conflict.
func unavailable(err error) bool {
	if netfail.Is(err) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, errClosed) || errors.Is(err, pgconn.ErrConnClosed) || pgconn.Timeout(err) || dbClosed(err) {
		return true
	}
	if code, ok := sqliteCode(err); ok {
		switch code & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_CANTOPEN:
			return true
		}
		return false
	}
	code, ok := pgCode(err)
	if !ok {
		return false
	}
	switch code[:2] {
	case "08": // connection exception; 08P01 (protocol violation) is a bug
		return code != "08P01"
	case "53", "58": // insufficient resources; system error (I/O)
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", // admin or crash shutdown; starting up
		"57014", // query canceled: statement_timeout
		"55P03", // lock_not_available: lock_timeout
		"40001", // serialization_failure
		"40P01", // deadlock_detected
		"25006": // read_only_sql_transaction: a standby
		return true
	}
	return false
}

// dbClosed reports whether err is database/sql's "database is closed",
// which it does not export: the message is the only way to know it.
func dbClosed(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "sql: database is closed" {
			return true
		}
	}
	return false
}

// invalidInput reports whether the database refused a value: a Postgres
// data exception (SQLSTATE class 22: an invalid byte sequence or a NUL,
// a string too long, a number out of range…) or a key too long for its
// index (54000), or a SQLite string or blob too big. Stores check text
// before it reaches the database (storage.ValidText); this catches the
// rest.
func invalidInput(err error) bool {
	if code, ok := sqliteCode(err); ok {
		return code&0xff == sqlite3.SQLITE_TOOBIG
	}
	code, ok := pgCode(err)
	return ok && (strings.HasPrefix(code, "22") || code == "54000")
}

func isUniqueViolation(err error) bool {
	if code, ok := sqliteCode(err); ok {
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	code, ok := pgCode(err)
	return ok && code == pgUniqueViolation
}

func isForeignKeyViolation(err error) bool {
	if code, ok := sqliteCode(err); ok {
		return code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	code, ok := pgCode(err)
	return ok && code == pgForeignKeyViolation
}

// sqliteCode returns the extended result code of a SQLite error.
func sqliteCode(err error) (int, bool) {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

// pgCode returns the SQLSTATE of a Postgres error.
func pgCode(err error) (string, bool) {
	var e *pgconn.PgError
	if errors.As(err, &e) && len(e.Code) == 5 {
		return e.Code, true
	}
	return "", false
}

// affected returns the rows a statement changed.
func affected(res sql.Result, op string) (int, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, translate(op, err)
	}
	return int(n), nil
}
