// Package sqlstore implements storage.Store with bun on SQLite (the embedded
// default) and Postgres.
//
// SQLite gets two pools on the same file: a single-connection writer that
// every write and transaction goes through, so writers queue in Go instead of
// failing with SQLITE_BUSY, and a multi-connection read-only pool for plain
// reads, which WAL lets run next to the writer. On Postgres both are the same
// pool.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latchkey-auth/latchkey/storage"
)

// Driver names accepted in Options.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Options configure Open.
type Options struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// DSN is a file path for SQLite and a URL or key=value string for Postgres.
	DSN string
	// MaxConns bounds the Postgres pool and the SQLite reader pool; 0 picks a
	// default. The SQLite writer always has exactly one connection.
	MaxConns int
	// Logger receives migration progress; nil discards.
	Logger *slog.Logger
}

// Store is a storage.Store on a SQL database. Its methods are safe for
// concurrent use.
//
// The updater functions of UpdateUser, UpdateGroup and UpdateClient run
// inside the write transaction, which on SQLite holds the only writer
// connection: do slow work, such as hashing a password, before the call.
type Store struct {
	w      *bun.DB // writes and transactions
	r      *bun.DB // plain reads; the same as w on Postgres
	pg     bool
	log    *slog.Logger
	rstmts *stmtCache // SQLite only: prepared hot queries of r and w
	wstmts *stmtCache
	q      hotQueries
	// batcher groups concurrent rotations into one transaction (SQLite).
	batcher *rotateBatcher
	// SQLite: the revocation epoch and the answers it keeps valid (see
	// epoch.go); all nil on Postgres or when the epoch cannot be shared.
	epoch       *revocationEpoch
	notRevoked  *epochCache[struct{}]
	personalTok *epochCache[storage.PersonalToken]

	closeOnce sync.Once
	closeErr  error
}

var _ storage.Store = (*Store)(nil)

const (
	sqliteBusyTimeout  = 5000 // ms; only reached by another process's writer
	defaultPGMaxConns  = 20
	minSQLiteReadConns = 4
)

// Open connects to the database. It does not migrate: call Migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch opts.Driver {
	case DriverSQLite:
		return openSQLite(ctx, opts, log)
	case DriverPostgres:
		return openPostgres(ctx, opts, log)
	default:
		return nil, fmt.Errorf("sqlstore: unknown driver %q (want %q or %q)", opts.Driver, DriverSQLite, DriverPostgres)
	}
}

func openSQLite(ctx context.Context, opts Options, log *slog.Logger) (*Store, error) {
	path, err := sqlitePath(opts.DSN)
	if err != nil {
		return nil, err
	}
	// _txlock=immediate makes every transaction take the write lock at BEGIN,
	// so a transaction never fails half-way trying to upgrade a read lock
	// while another process writes; busy_timeout then covers the wait.
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1&_synchronous=NORMAL", sqliteBusyTimeout)
	w, err := openSQLitePool(ctx, path+"?"+common+"&_journal_mode=WAL&_txlock=immediate", 1)
	if err != nil {
		return nil, err
	}
	n := opts.MaxConns
	if n <= 0 {
		n = max(minSQLiteReadConns, runtime.GOMAXPROCS(0))
	}
	// query_only keeps an accidental write on the reader pool from racing
	// the single writer.
	r, err := openSQLitePool(ctx, path+"?"+common+"&_query_only=1", n)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	s := &Store{w: w, r: r, log: log, rstmts: newStmtCache(r.DB), wstmts: newStmtCache(w.DB)}
	s.q = newHotQueries(r)
	s.batcher = newRotateBatcher(s)
	if s.epoch, err = openRevocationEpoch(path); err != nil {
		log.WarnContext(ctx, "revocation checks read the database every time", "error", err)
		s.epoch = nil
	}
	s.notRevoked = newEpochCache[struct{}](s.epoch)
	s.personalTok = newEpochCache[storage.PersonalToken](s.epoch)
	return s, nil
}

// sqlitePath checks the path and creates its directory, and the file with
// owner-only permissions: it holds password hashes and sealed keys.
func sqlitePath(path string) (string, error) {
	switch {
	case path == "":
		return "", errors.New("sqlstore: sqlite needs a file path")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// Each pooled connection would get its own in-memory database.
		return "", fmt.Errorf("sqlstore: sqlite needs a plain file path, not %q", path)
	case strings.ContainsRune(path, '?'):
		return "", fmt.Errorf("sqlstore: sqlite path %q must not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("sqlstore: create database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("sqlstore: create database file: %w", err)
	}
	return path, f.Close()
}

func openSQLitePool(ctx context.Context, dsn string, conns int) (*bun.DB, error) {
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, translate("open sqlite", err)
	}
	// Keep every connection open: opening one re-runs the pragmas.
	sqldb.SetMaxOpenConns(conns)
	sqldb.SetMaxIdleConns(conns)
	sqldb.SetConnMaxLifetime(0)
	sqldb.SetConnMaxIdleTime(0)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	if err := pingSQLite(ctx, db); err != nil {
		_ = db.Close()
		return nil, translate("connect sqlite", err)
	}
	return db, nil
}

// pingSQLite opens the first connection, which runs the pragmas. Switching
// a new file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY
// at once, without its busy handler, while another process does the same
// (two instances on their first start): so a busy connect is retried for
// as long as busy_timeout would have waited.
func pingSQLite(ctx context.Context, db *bun.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout * time.Millisecond)
	wait := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED.
func isBusy(err error) bool {
	code, ok := sqliteCode(err)
	code &= 0xff
	return ok && (code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED)
}

func openPostgres(ctx context.Context, opts Options, log *slog.Logger) (*Store, error) {
	cfg, err := pgx.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: parse postgres dsn: %w", err)
	}
	// bun inlines every argument, so each query text is new to the server:
	// the default statement cache would prepare (an extra round trip) and
	// evict on every call. The simple protocol runs it in one round trip.
	if !strings.Contains(opts.DSN, "default_query_exec_mode") {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	}
	sqldb := stdlib.OpenDB(*cfg)
	n := opts.MaxConns
	if n <= 0 {
		n = defaultPGMaxConns
	}
	sqldb.SetMaxOpenConns(n)
	sqldb.SetMaxIdleConns(n)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, pgdialect.New())
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, translate("connect postgres", err)
	}
	return &Store{w: db, r: db, pg: true, log: log, q: newHotQueries(db)}, nil
}

// DB returns the pool that writes (the only pool on Postgres), for tests and
// tools of other packages.
func (s *Store) DB() *bun.DB { return s.w }

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string {
	if s.pg {
		return DriverPostgres
	}
	return DriverSQLite
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return translate("ping", err)
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			return translate("ping readers", err)
		}
	}
	return nil
}

// Close closes the pools. Every call after the first returns what the
// first did; every other method then fails with ErrUnavailable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.batcher != nil {
			s.batcher.close()
		}
		if s.rstmts != nil {
			s.rstmts.close()
			s.wstmts.close()
		}
		err := s.w.Close()
		if s.r != s.w {
			err = errors.Join(err, s.r.Close())
		}
		if err != nil {
			s.closeErr = fmt.Errorf("sqlstore: close: %w", err)
		}
	})
	return s.closeErr
}

// tx runs fn in a transaction on the writer. An error from fn rolls back and
// is returned unchanged. Inside fn, use tx only: on SQLite the writer has one
// connection, which the transaction holds.
func (s *Store) tx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return s.w.RunInTx(ctx, nil, fn)
}

// forUpdate locks the selected rows on Postgres; SQLite has no row locks and
// needs none behind its single writer.
func (s *Store) forUpdate(q *bun.SelectQuery) *bun.SelectQuery {
	if s.pg {
		return q.For("UPDATE")
	}
	return q
}

// updateTx is the read-modify-write of the Update methods, in one
// transaction: it reads the row of type R that where selects (locked on
// Postgres), hands fn the record get makes of it, lets put turn the changed
// record back into the row, saves the row (only cols, when given) and
// returns its record. A missing row is ErrNotFound and a row that is not
// valid text after put ErrInvalidInput; an error from fn rolls back and is
// returned as is.
func updateTx[R, T any](ctx context.Context, s *Store, op string, fn func(*T) error,
	where func(*bun.SelectQuery) *bun.SelectQuery, get func(*R) T, put func(*R, T), cols ...string) (T, error) {
	var (
		out   T
		fnErr error
	)
	err := s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var row R
		if err := s.forUpdate(where(tx.NewSelect().Model(&row))).Scan(ctx); err != nil {
			return err
		}
		rec := get(&row)
		if fnErr = fn(&rec); fnErr != nil {
			return fnErr
		}
		put(&row, rec)
		if err := checkText(op, &row); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model(&row).Column(cols...).WherePK().Exec(ctx); err != nil {
			return err
		}
		out = get(&row)
		return nil
	})
	switch {
	case fnErr != nil:
		return *new(T), fnErr
	case err != nil:
		return *new(T), translate(op, err)
	}
	return out, nil
}
