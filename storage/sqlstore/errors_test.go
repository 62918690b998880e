package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey-auth/latchkey/storage"
)

// timeoutErr is a net.Error that timed out, as a driver's read deadline
// reports it.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func pgErr(code string) error { return &pgconn.PgError{Code: code, Message: "m"} }

// translate turns what the drivers say into the storage sentinels, keeps
// the driver's error in the chain, and leaves bugs and results alone. The
// SQLite codes and the real failures are in unavailable_test.go.
func TestTranslate(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cases := []struct {
		name string
		err  error
		want error // nil: none of the sentinels
	}{
		{"no rows is not found", sql.ErrNoRows, storage.ErrNotFound},
		{"a unique violation is a conflict", pgErr("23505"), storage.ErrConflict},
		{"a foreign key violation is not found", pgErr("23503"), storage.ErrNotFound},

		{"the request's deadline", context.DeadlineExceeded, storage.ErrUnavailable},
		{"a refused connection", refused, storage.ErrUnavailable},
		{"a reset connection", fmt.Errorf("read: %w", syscall.ECONNRESET), storage.ErrUnavailable},
		{"a broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), storage.ErrUnavailable},
		{"EOF in the middle of a reply", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), storage.ErrUnavailable},
		{"EOF", io.EOF, storage.ErrUnavailable},
		{"a read timeout", fmt.Errorf("read: %w", timeoutErr{}), storage.ErrUnavailable},
		{"a closed socket", net.ErrClosed, storage.ErrUnavailable},
		{"a bad connection", driver.ErrBadConn, storage.ErrUnavailable},
		{"a connection already returned", sql.ErrConnDone, storage.ErrUnavailable},
		{"a closed database", errors.New("sql: database is closed"), storage.ErrUnavailable},
		{"a closed store's rotation", errClosed, storage.ErrUnavailable},
		{"pgx's connection closed under a query", fmt.Errorf("rotate: %w", pgconn.ErrConnClosed), storage.ErrUnavailable},
		{"Postgres shutting down", pgErr("57P01"), storage.ErrUnavailable},
		{"Postgres starting up", pgErr("57P03"), storage.ErrUnavailable},
		{"Postgres out of connections", pgErr("53300"), storage.ErrUnavailable},
		{"Postgres out of disk", pgErr("53100"), storage.ErrUnavailable},
		{"Postgres losing the connection", pgErr("08006"), storage.ErrUnavailable},
		{"a Postgres standby after a failover", pgErr("25006"), storage.ErrUnavailable},
		{"a statement timeout", pgErr("57014"), storage.ErrUnavailable},
		{"a lock timeout", pgErr("55P03"), storage.ErrUnavailable},
		{"a serialization failure", pgErr("40001"), storage.ErrUnavailable},
		{"a deadlock", pgErr("40P01"), storage.ErrUnavailable},
		{"a Postgres I/O error", pgErr("58030"), storage.ErrUnavailable},

		{"a NUL or invalid UTF-8", pgErr("22021"), storage.ErrInvalidInput},
		{"a string too long", pgErr("22001"), storage.ErrInvalidInput},
		{"a number out of range", pgErr("22003"), storage.ErrInvalidInput},
		{"a time out of range", pgErr("22008"), storage.ErrInvalidInput},
		{"a NUL in JSON", pgErr("22P05"), storage.ErrInvalidInput},
		{"a key too long for its index", pgErr("54000"), storage.ErrInvalidInput},

		{"a syntax error is a bug", pgErr("42601"), nil},
		{"a missing table is a bug", pgErr("42P01"), nil},
		{"a protocol violation is a bug", pgErr("08P01"), nil},
		{"a NOT NULL violation is a bug", pgErr("23502"), nil},
		{"a canceled request is not an outage", context.Canceled, nil},
		{"any other error", errors.New("template: bad"), nil},
	}
	sentinels := []error{storage.ErrNotFound, storage.ErrConflict, storage.ErrUnavailable, storage.ErrInvalidInput, storage.ErrReused}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := translate("get user 7", tc.err)
			for _, s := range sentinels {
				if errors.Is(got, s) != (s == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", got, s, !(s == tc.want))
				}
			}
			if !errors.Is(got, tc.err) && !errors.Is(tc.err, sql.ErrNoRows) {
				t.Errorf("%v lost the driver's error %v", got, tc.err)
			}
			if msg := got.Error(); !strings.HasPrefix(msg, "sqlstore: get user 7: ") {
				t.Errorf("message %q does not start with the operation", msg)
			}
		})
	}
}

// Errors that already say what they are pass through unchanged, so a
// method may translate an error that came from another.
func TestTranslateKeepsTranslatedErrors(t *testing.T) {
	for _, err := range []error{
		notFound("get client"),
		translate("get user", context.DeadlineExceeded),
		fmt.Errorf("x: %w", storage.ErrReused),
		storage.ErrCodeReused,
		checkText("create client", "a\x00"),
	} {
		if got := translate("other", err); got != err {
			t.Errorf("translate(%v) = %v, want it unchanged", err, got)
		}
	}
	if translate("op", nil) != nil {
		t.Error("translate(nil) is not nil")
	}
}
