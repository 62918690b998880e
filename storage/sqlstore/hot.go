package sqlstore

import (
	"context"
	"database/sql"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// Hot paths bypass bun's query builder. bun writes every argument into the
// SQL text, so SQLite parses and plans each call anew: a quarter of the cost
// of a primary-key read. Hot queries are fixed texts with $N parameters,
// which SQLite and Postgres both understand, run on database/sql directly
// and scanned by bun into the same row types. On SQLite each text is
// prepared once per pool; on Postgres it is not, so that the store keeps
// working behind a transaction-pooling proxy (pgx's simple protocol binds
// the arguments client-side there).

// stmtCache holds the prepared statements of one SQLite pool.
type stmtCache struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: make(map[string]*sql.Stmt)}
}

// get returns the statement for query, preparing it on first use. It takes
// a connection from the pool the first time, so on the single-connection
// writer it must not be called inside a transaction.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st := c.stmts[query]
	c.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, q)
	}
}

// read runs a hot query on the reader pool and scans its first row into
// dest; no row is sql.ErrNoRows.
func (s *Store) read(ctx context.Context, dest any, query string, args ...any) error {
	rows, err := s.readRows(ctx, query, args...)
	if err != nil {
		return err
	}
	return scanFirst(ctx, s.r, rows, dest)
}

// readAll runs a hot query on the reader pool and scans every row into the
// slice dest points to.
func (s *Store) readAll(ctx context.Context, dest any, query string, args ...any) error {
	rows, err := s.readRows(ctx, query, args...)
	if err != nil {
		return err
	}
	return s.r.ScanRows(ctx, rows, dest)
}

func (s *Store) readRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s.rstmts == nil {
		return s.r.DB.QueryContext(ctx, query, args...)
	}
	st, err := s.rstmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// txStmt is a hot query for use inside a write transaction.
type txStmt struct {
	query string
	st    *sql.Stmt // SQLite: prepared on the writer; nil on Postgres
}

// writeStmts gets the hot statements a transaction will run. Call it before
// the transaction begins: preparing needs the writer's only connection.
func (s *Store) writeStmts(ctx context.Context, queries ...string) ([]txStmt, error) {
	out := make([]txStmt, len(queries))
	for i, q := range queries {
		out[i].query = q
		if s.wstmts == nil {
			continue
		}
		st, err := s.wstmts.get(ctx, q)
		if err != nil {
			return nil, err
		}
		out[i].st = st
	}
	return out, nil
}

func (t txStmt) rows(ctx context.Context, tx bun.Tx, args ...any) (*sql.Rows, error) {
	if t.st != nil {
		return tx.Tx.StmtContext(ctx, t.st).QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, t.query, args...)
}

// scan runs the statement in tx and scans its first row into dest with
// db's models; no row is sql.ErrNoRows.
func (t txStmt) scan(ctx context.Context, tx bun.Tx, db *bun.DB, dest any, args ...any) error {
	rows, err := t.rows(ctx, tx, args...)
	if err != nil {
		return err
	}
	return scanFirst(ctx, db, rows, dest)
}

// scanFirst scans the first row into dest and closes rows.
func scanFirst(ctx context.Context, db *bun.DB, rows *sql.Rows, dest any) error {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := db.ScanRow(ctx, rows, dest); err != nil {
		return err
	}
	return rows.Close()
}

// arg turns a time into a query argument the way dbTime stores it.
func (s *Store) arg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Millisecond)
	if s.pg {
		return t
	}
	return t.UnixMilli()
}

// columns lists a row type's columns as bun maps them, each prefixed with
// alias and a dot unless alias is empty, for hand-written queries that scan
// into the type.
func columns(db *bun.DB, model any, alias string) string {
	t := db.Table(reflect.TypeOf(model).Elem())
	if alias != "" {
		alias += "."
	}
	names := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		names[i] = alias + `"` + f.Name + `"`
	}
	return strings.Join(names, ", ")
}

// hotQueries are the texts of the hot queries, built once per store.
// Expiry columns are NULL for "never".
type hotQueries struct {
	getClient      string
	getUser        string
	userByUsername string
	userByEmail    string
	userGroups     string
	listKeys       string
	// revoked is the revocation check for each set of parts given, by
	// revokedJTI|revokedFamily|revokedSubject (see Store.Revoked).
	revoked      [8]string
	refreshToken string
	accessToken  string
	rotateToken  string // see Store.rotate for the arguments
}

func newHotQueries(db *bun.DB) hotQueries {
	users := "SELECT " + columns(db, (*userRow)(nil), "u") + " FROM users AS u WHERE "
	return hotQueries{
		getClient:      "SELECT " + columns(db, (*clientRow)(nil), "c") + " FROM clients AS c WHERE c.id = $1",
		getUser:        users + "u.id = $1",
		userByUsername: users + "u.username_norm = $1",
		userByEmail:    users + "u.email_norm = $1",
		// The LEFT JOIN from users tells a user without groups (one row of
		// NULLs) from a missing user (no row).
		userGroups: `SELECT g.name, g.permissions, g.created_at
			FROM users AS u
			LEFT JOIN user_groups AS ug ON ug.user_id = u.id
			LEFT JOIN "groups" AS g ON g.name = ug.group_name
			WHERE u.id = $1 ORDER BY g.name`,
		listKeys: "SELECT " + columns(db, (*keyRow)(nil), "k") + " FROM signing_keys AS k ORDER BY k.created_at, k.id",
		revoked:  revokedQueries(),
		refreshToken: "SELECT " + columns(db, (*familyRow)(nil), "f") + `
			FROM refresh_families AS f
			WHERE f.id = $1 AND f.generation = $2 AND f.token_hash = $3
				AND (f.token_expires_at IS NULL OR f.token_expires_at > $4)
				AND f.revoked_at IS NULL AND (f.expires_at IS NULL OR f.expires_at > $4)`,
		accessToken: "SELECT " + columns(db, (*accessRow)(nil), "a") +
			" FROM access_tokens AS a WHERE a.hash = $1 AND (a.expires_at IS NULL OR a.expires_at > $2)",
		// Only the live token of the generation presented matches: this is
		// what makes one of many concurrent rotations win (on Postgres the
		// others wait for its row lock, then no longer match). The next
		// token never outlives the family. SQLite's RETURNING takes no alias.
		rotateToken: `UPDATE refresh_families SET generation = generation + 1,
				token_hash = $1, token_created_at = $2,
				token_expires_at = CASE WHEN expires_at IS NULL THEN $3
					WHEN $3 IS NULL OR expires_at < $3 THEN expires_at ELSE $3 END,
				last_used_at = $4, prev_hash = token_hash, rotated_us = $9
			WHERE id = $5 AND generation = $6 AND token_hash = $7
				AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)
				AND (token_expires_at IS NULL OR token_expires_at > $4)
				AND ($8 = '' OR client_id = $8)
			RETURNING ` + columns(db, (*familyRow)(nil), ""),
	}
}

// The parts of a revocation check, as bits of the index into
// hotQueries.revoked.
const (
	revokedJTI = 1 << iota
	revokedFamily
	revokedSubject
)

// revokedQueries builds the revocation check for every set of parts: one
// SELECT of the parts' EXISTS joined by OR. Its arguments are, in order:
// now (only when a jti or subject part is present: Postgres refuses a
// parameter no part uses), then the jti, family ID, subject and issued-at
// of the parts present (see Store.Revoked).
func revokedQueries() [8]string {
	var out [8]string
	for mask := 1; mask < len(out); mask++ {
		var parts []string
		n := 0
		arg := func() string { n++; return "$" + strconv.Itoa(n) }
		now := ""
		if mask&(revokedJTI|revokedSubject) != 0 {
			now = arg()
		}
		if mask&revokedJTI != 0 {
			parts = append(parts, `EXISTS (SELECT 1 FROM revocations WHERE jti = `+arg()+` AND "until" > `+now+`)`)
		}
		if mask&revokedFamily != 0 {
			parts = append(parts, `EXISTS (SELECT 1 FROM refresh_families WHERE id = `+arg()+` AND revoked_at IS NOT NULL)`)
		}
		if mask&revokedSubject != 0 {
			sub, iat := arg(), arg()
			parts = append(parts, `EXISTS (SELECT 1 FROM subject_revocations WHERE subject = `+sub+
				` AND "before" > `+iat+` AND "until" > `+now+`)`)
		}
		out[mask] = "SELECT " + strings.Join(parts, " OR ")
	}
	return out
}
