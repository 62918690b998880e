package sqlstore

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

type keyRow struct {
	bun.BaseModel `bun:"table:signing_keys"`

	ID         string `bun:"id,pk"`
	Algorithm  string
	PrivateKey []byte
	PublicKey  []byte
	CreatedAt  dbTime
	RetiredAt  dbTime // NULL while the key signs
	ExpiresAt  dbTime
}

func (r *keyRow) key() storage.SigningKey {
	return storage.SigningKey{
		ID: r.ID, Algorithm: r.Algorithm, PrivateKey: r.PrivateKey, PublicKey: r.PublicKey,
		CreatedAt: r.CreatedAt.Time(), RetiredAt: r.RetiredAt.Time(), ExpiresAt: r.ExpiresAt.Time(),
	}
}

// ListKeys returns every key, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]storage.SigningKey, error) {
	var rows []keyRow
	if err := s.readAll(ctx, &rows, s.q.listKeys); err != nil {
		return nil, translate("list keys", err)
	}
	out := make([]storage.SigningKey, len(rows))
	for i := range rows {
		out[i] = rows[i].key()
	}
	return out, nil
}

// RotateKey retires every signing key and stores next as the signing key, in
// one transaction. With onlyIfOlderThan set it does nothing and reports false
// when a signing key was created after it: another instance rotated first.
//
// On Postgres a transaction-scoped advisory lock (per schema) serializes
// rotations, so the check below always sees the other instance's committed
// key: row locks alone would not, since a key inserted after our statement
// began is invisible to it, and an empty table has no row to lock. The
// signing rows are locked too, against any other writer of them.
func (s *Store) RotateKey(ctx context.Context, next storage.SigningKey, now, keepUntil, onlyIfOlderThan time.Time) (bool, error) {
	const op = "rotate signing key"
	if err := checkText(op, next); err != nil {
		return false, err
	}
	var rotated bool
	err := s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if s.pg {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.signing_keys'))"); err != nil {
				return err
			}
		}
		var signing []keyRow
		q := tx.NewSelect().Model(&signing).Column("id", "created_at").Where("retired_at IS NULL")
		if err := s.forUpdate(q).Scan(ctx); err != nil {
			return err
		}
		if !onlyIfOlderThan.IsZero() && anyCreatedAfter(signing, onlyIfOlderThan) {
			return nil
		}
		_, err := tx.NewUpdate().Model((*keyRow)(nil)).
			Set("retired_at = ?, expires_at = ?", dbTime(now), dbTime(keepUntil)).
			Where("retired_at IS NULL").Exec(ctx)
		if err != nil {
			return err
		}
		row := keyRow{
			ID: next.ID, Algorithm: next.Algorithm, PrivateKey: next.PrivateKey,
			PublicKey: next.PublicKey, CreatedAt: dbTime(next.CreatedAt),
		}
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		rotated = true
		return nil
	})
	if err != nil {
		return false, translate(op, err)
	}
	return rotated, nil
}

func anyCreatedAfter(keys []keyRow, t time.Time) bool {
	for _, k := range keys {
		if k.CreatedAt.Time().After(t) {
			return true
		}
	}
	return false
}

// DeleteExpiredKeys removes retired keys whose ExpiresAt is not after now.
func (s *Store) DeleteExpiredKeys(ctx context.Context, now time.Time) (int, error) {
	const op = "delete expired keys"
	res, err := s.w.NewDelete().Model((*keyRow)(nil)).
		Where("retired_at IS NOT NULL AND expires_at IS NOT NULL AND expires_at <= ?", dbTime(now)).Exec(ctx)
	if err != nil {
		return 0, translate(op, err)
	}
	return affected(res, op)
}
