package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

// Dynamic client registration (migration 20261206000501): registered
// clients are marked, keep the hash of their registration access token and
// when they were last used (the purge of unused ones reads it); initial
// access tokens are stored by keyed hash.
var schemaRegistrationUp = []string{
	`ALTER TABLE clients ADD COLUMN IF NOT EXISTS registered BOOLEAN NOT NULL DEFAULT FALSE`,
	`ALTER TABLE clients ADD COLUMN IF NOT EXISTS registration_token_hash TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE clients ADD COLUMN IF NOT EXISTS last_used_at {{time}}`,
	`CREATE INDEX IF NOT EXISTS clients_registered_last_used ON clients (registered, last_used_at)`,
	`CREATE TABLE IF NOT EXISTS initial_access_tokens (
		id TEXT PRIMARY KEY,
		hash TEXT NOT NULL,
		name TEXT NOT NULL DEFAULT '',
		created_at {{time}},
		expires_at {{time}} NOT NULL,
		max_uses BIGINT NOT NULL DEFAULT 0,
		uses BIGINT NOT NULL DEFAULT 0
	){{without_rowid}}`,
	`CREATE UNIQUE INDEX IF NOT EXISTS initial_access_tokens_hash ON initial_access_tokens (hash)`,
}

var schemaRegistrationDown = []string{
	`DROP TABLE IF EXISTS initial_access_tokens`,
	`DROP INDEX IF EXISTS clients_registered_last_used`,
	`ALTER TABLE clients DROP COLUMN IF EXISTS last_used_at`,
	`ALTER TABLE clients DROP COLUMN IF EXISTS registration_token_hash`,
	`ALTER TABLE clients DROP COLUMN IF EXISTS registered`,
}

type initialAccessTokenRow struct {
	bun.BaseModel `bun:"table:initial_access_tokens,alias:i"`

	ID        string `bun:"id,pk"`
	Hash      string `bun:"hash"`
	Name      string
	CreatedAt dbTime
	ExpiresAt dbTime
	MaxUses   int
	Uses      int
}

func (r *initialAccessTokenRow) token() storage.InitialAccessToken {
	return storage.InitialAccessToken{
		ID: r.ID, Hash: r.Hash, Name: r.Name, CreatedAt: r.CreatedAt.Time(), ExpiresAt: r.ExpiresAt.Time(),
		MaxUses: r.MaxUses, Uses: r.Uses,
	}
}

// liveToken is the condition of a token usable at ?: not expired, uses
// left.
const liveToken = "i.expires_at > ? AND (i.max_uses = 0 OR i.uses < i.max_uses)"

// CreateInitialAccessToken stores an initial access token.
func (s *Store) CreateInitialAccessToken(ctx context.Context, t storage.InitialAccessToken) error {
	const op = "create initial access token"
	if err := checkText(op, t); err != nil {
		return err
	}
	if t.ExpiresAt.IsZero() || t.MaxUses < 0 || t.Uses < 0 {
		return fmt.Errorf("sqlstore: %s: an expiry and non-negative counts are required: %w", op, storage.ErrInvalidInput)
	}
	row := initialAccessTokenRow{
		ID: t.ID, Hash: t.Hash, Name: t.Name, CreatedAt: dbTime(t.CreatedAt), ExpiresAt: dbTime(t.ExpiresAt),
		MaxUses: t.MaxUses, Uses: t.Uses,
	}
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// InitialAccessToken returns a live token by hash.
func (s *Store) InitialAccessToken(ctx context.Context, hash string, now time.Time) (storage.InitialAccessToken, error) {
	const op = "get initial access token"
	if err := checkKey(op, hash); err != nil {
		return storage.InitialAccessToken{}, err
	}
	var row initialAccessTokenRow
	err := s.r.NewSelect().Model(&row).Where("i.hash = ?", hash).Where(liveToken, dbTime(now)).Scan(ctx)
	if err != nil {
		return storage.InitialAccessToken{}, translate(op, err)
	}
	return row.token(), nil
}

// UseInitialAccessToken counts a use in one UPDATE … RETURNING: of
// concurrent callers on the last use only one matches the condition
// (Postgres re-checks it after the row lock; SQLite has one writer).
func (s *Store) UseInitialAccessToken(ctx context.Context, hash string, now time.Time) (storage.InitialAccessToken, error) {
	const op = "use initial access token"
	if err := checkKey(op, hash); err != nil {
		return storage.InitialAccessToken{}, err
	}
	var row initialAccessTokenRow
	err := s.w.NewUpdate().Model(&row).
		Set("uses = uses + 1").
		Where("i.hash = ?", hash).Where(liveToken, dbTime(now)).
		Returning("*").Scan(ctx)
	if err != nil {
		return storage.InitialAccessToken{}, translate(op, err)
	}
	return row.token(), nil
}

// ListInitialAccessTokens returns every token, newest first.
func (s *Store) ListInitialAccessTokens(ctx context.Context) ([]storage.InitialAccessToken, error) {
	var rows []initialAccessTokenRow
	if err := s.r.NewSelect().Model(&rows).Order("i.created_at DESC", "i.id").Scan(ctx); err != nil {
		return nil, translate("list initial access tokens", err)
	}
	out := make([]storage.InitialAccessToken, len(rows))
	for i := range rows {
		out[i] = rows[i].token()
	}
	return out, nil
}

// DeleteInitialAccessToken deletes a token by ID.
func (s *Store) DeleteInitialAccessToken(ctx context.Context, id string) error {
	const op = "delete initial access token"
	if err := checkKey(op, id); err != nil {
		return err
	}
	res, err := s.w.NewDelete().Model((*initialAccessTokenRow)(nil)).Where("id = ?", id).Exec(ctx)
	return expectRows(res, err, op)
}

// PurgeInitialAccessTokens deletes expired and used-up tokens.
func (s *Store) PurgeInitialAccessTokens(ctx context.Context, now time.Time) (int, error) {
	const op = "purge initial access tokens"
	res, err := s.w.NewDelete().Model((*initialAccessTokenRow)(nil)).
		Where("expires_at <= ? OR (max_uses > 0 AND uses >= max_uses)", dbTime(now)).Exec(ctx)
	if err != nil {
		return 0, translate(op, err)
	}
	return affected(res, op)
}
