package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

var _ storage.Attempts = (*Store)(nil)

// attemptRow is one failure counter (table login_attempts).
type attemptRow struct {
	bun.BaseModel `bun:"table:login_attempts"`

	ID           string `bun:"id,pk"`
	Failures     int
	BlockedUntil dbTime // NULL: never blocked
	ExpiresAt    dbTime // the count is forgotten from then on
}

// state is the row's state at now.
func (r attemptRow) state(now time.Time) storage.AttemptState {
	if !now.Before(r.ExpiresAt.Time()) {
		return storage.AttemptState{}
	}
	st := storage.AttemptState{Failures: r.Failures}
	if until := r.BlockedUntil.Time(); now.Before(until) {
		st.BlockedUntil = until
	}
	return st
}

// fail counts one failure at now under l: the one rule both dialects (and
// the Redis script) follow. A stale row starts from zero; a block never
// shrinks; the row lives until Window after the later of now and the end
// of the block, and never less long than it already did.
func (r *attemptRow) fail(l storage.AttemptLimit, now time.Time) {
	now = now.UTC().Truncate(time.Millisecond)
	exp := r.ExpiresAt.Time()
	if !now.Before(exp) {
		r.Failures, r.BlockedUntil, exp = 0, dbTime{}, time.Time{}
	}
	r.Failures++
	until := r.BlockedUntil.Time()
	if d := l.BlockFor(r.Failures); d > 0 && now.Add(d).After(until) {
		until = now.Add(d)
	}
	r.BlockedUntil = dbTime(until)
	end := now
	if until.After(end) {
		end = until
	}
	if end = end.Add(l.Window); end.After(exp) {
		exp = end
	}
	r.ExpiresAt = dbTime(exp)
}

// FailAttempt counts a failure in one transaction. The row is created
// first (doing nothing if it exists) so that on Postgres the SELECT … FOR
// UPDATE always finds a row to lock: concurrent failures on one key queue
// on that lock and each sees the count the last one wrote. SQLite's single
// writer serializes them anyway.
func (s *Store) FailAttempt(ctx context.Context, key string, l storage.AttemptLimit, now time.Time) (storage.AttemptState, error) {
	const op = "fail attempt"
	if err := checkText(op, key); err != nil {
		return storage.AttemptState{}, err
	}
	var row attemptRow
	err := s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewRaw("INSERT INTO login_attempts (id, failures, expires_at) VALUES (?, 0, ?) ON CONFLICT (id) DO NOTHING",
			key, dbTime(now)).Exec(ctx); err != nil {
			return err
		}
		q := tx.NewSelect().Model(&row).Where("id = ?", key)
		if err := s.forUpdate(q).Scan(ctx); err != nil {
			return err
		}
		row.fail(l, now)
		_, err := tx.NewUpdate().Model(&row).WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		return storage.AttemptState{}, translate(op, err)
	}
	return row.state(now.UTC().Truncate(time.Millisecond)), nil
}

// AttemptStates reads every key in one query on the reader pool.
func (s *Store) AttemptStates(ctx context.Context, now time.Time, keys ...string) ([]storage.AttemptState, error) {
	out := make([]storage.AttemptState, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	var rows []attemptRow
	args := make([]any, 0, len(keys))
	for _, k := range keys {
		if storage.ValidText(k) { // no counter has another key
			args = append(args, k)
		}
	}
	if len(args) == 0 {
		return out, nil
	}
	if err := s.readAll(ctx, &rows, attemptStatesQuery(len(args)), args...); err != nil {
		return nil, translate("attempt states", err)
	}
	now = now.UTC().Truncate(time.Millisecond)
	for _, r := range rows {
		for i, k := range keys {
			if k == r.ID {
				out[i] = r.state(now)
			}
		}
	}
	return out, nil
}

// attemptStatesQuery is the text for n keys; the few distinct texts (the
// provider asks for up to three keys) are each prepared once on SQLite.
func attemptStatesQuery(n int) string {
	var b strings.Builder
	b.WriteString("SELECT id, failures, blocked_until, expires_at FROM login_attempts WHERE id IN (")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(")")
	return b.String()
}

// ResetAttempts deletes the key's row.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	if !storage.ValidText(key) {
		return nil // no counter has such a key
	}
	if _, err := s.w.NewRaw("DELETE FROM login_attempts WHERE id = ?", key).Exec(ctx); err != nil {
		return translate("reset attempts", err)
	}
	return nil
}

// PurgeAttempts deletes the counters that are forgotten by now (Redis
// expires its own). The server runs it with Purge.
func (s *Store) PurgeAttempts(ctx context.Context, now time.Time) (int, error) {
	return s.purgeTable(ctx, "login_attempts", "id", "expires_at <= ?", dbTime(now))
}
