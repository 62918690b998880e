package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

// schemaPersonalTokensUp stores lk_pat_ tokens by keyed hash; they go when
// their user goes.
var schemaPersonalTokensUp = []string{
	`CREATE TABLE IF NOT EXISTS personal_tokens (
		hash TEXT PRIMARY KEY,
		id TEXT NOT NULL,
		user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		kind TEXT NOT NULL DEFAULT 'personal',
		name TEXT NOT NULL DEFAULT '',
		scope TEXT NOT NULL DEFAULT '',
		created_at {{time}},
		expires_at {{time}}
	){{without_rowid}}`,
	`CREATE UNIQUE INDEX IF NOT EXISTS personal_tokens_id ON personal_tokens (id)`,
	`CREATE INDEX IF NOT EXISTS personal_tokens_user_id ON personal_tokens (user_id)`,
	`CREATE INDEX IF NOT EXISTS personal_tokens_expires_at ON personal_tokens (expires_at)`,
}

var schemaPersonalTokensDown = []string{
	`DROP TABLE IF EXISTS personal_tokens`,
}

type personalTokenRow struct {
	bun.BaseModel `bun:"table:personal_tokens,alias:p"`

	Hash      string `bun:"hash,pk"`
	ID        string `bun:"id"`
	UserID    int64
	Kind      string
	Name      string
	Scope     string
	CreatedAt dbTime
	ExpiresAt dbTime
}

func (r *personalTokenRow) token() storage.PersonalToken {
	return storage.PersonalToken{
		ID: r.ID, Hash: r.Hash, UserID: r.UserID, Kind: r.Kind, Name: r.Name, Scope: r.Scope,
		CreatedAt: r.CreatedAt.Time(), ExpiresAt: r.ExpiresAt.Time(),
	}
}

// CreatePersonalToken stores a token; an unknown user is ErrNotFound.
func (s *Store) CreatePersonalToken(ctx context.Context, t storage.PersonalToken) error {
	const op = "create personal token"
	if err := checkText(op, t); err != nil {
		return err
	}
	row := personalTokenRow{
		Hash: t.Hash, ID: t.ID, UserID: t.UserID, Kind: t.Kind, Name: t.Name, Scope: t.Scope,
		CreatedAt: dbTime(t.CreatedAt), ExpiresAt: dbTime(t.ExpiresAt),
	}
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// PersonalToken returns a token that has not expired.
func (s *Store) PersonalToken(ctx context.Context, hash string, now time.Time) (storage.PersonalToken, error) {
	const op = "get personal token"
	if err := checkKey(op, hash); err != nil {
		return storage.PersonalToken{}, err
	}
	// A token found stays valid until it expires or a deletion bumps the
	// epoch (epoch.go); "not found" is read again.
	if t, ok := s.personalTok.get(hash); ok && (t.ExpiresAt.IsZero() || t.ExpiresAt.After(now)) {
		return t, nil
	}
	epoch := s.personalTok.start()
	var row personalTokenRow
	err := s.r.NewSelect().Model(&row).
		Where("p.hash = ?", hash).
		Where("(p.expires_at IS NULL OR p.expires_at > ?)", dbTime(now)).
		Scan(ctx)
	if err != nil {
		return storage.PersonalToken{}, translate(op, err)
	}
	t := row.token()
	s.personalTok.put(hash, t, epoch)
	return t, nil
}

// ListPersonalTokens returns the user's live tokens, newest first.
func (s *Store) ListPersonalTokens(ctx context.Context, userID int64, now time.Time) ([]storage.PersonalToken, error) {
	var rows []personalTokenRow
	err := s.r.NewSelect().Model(&rows).
		Where("p.user_id = ?", userID).
		Where("(p.expires_at IS NULL OR p.expires_at > ?)", dbTime(now)).
		Order("p.created_at DESC", "p.id").
		Scan(ctx)
	if err != nil {
		return nil, translate("list personal tokens", err)
	}
	out := make([]storage.PersonalToken, len(rows))
	for i := range rows {
		out[i] = rows[i].token()
	}
	return out, nil
}

// DeletePersonalToken deletes one token of the user.
func (s *Store) DeletePersonalToken(ctx context.Context, userID int64, id string) error {
	op := fmt.Sprintf("delete personal token of user %d", userID)
	if err := checkKey(op, id); err != nil {
		return err
	}
	res, err := s.w.NewDelete().Model((*personalTokenRow)(nil)).
		Where("id = ?", id).Where("user_id = ?", userID).Exec(ctx)
	s.bumpRevocations()
	return expectRows(res, err, op)
}

// DeleteUserPersonalTokens deletes the user's tokens of a kind (all when
// kind is empty).
func (s *Store) DeleteUserPersonalTokens(ctx context.Context, userID int64, kind string) (int, error) {
	if !storage.ValidText(kind) {
		return 0, nil // no token has such a kind
	}
	q := s.w.NewDelete().Model((*personalTokenRow)(nil)).Where("user_id = ?", userID)
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	res, err := q.Exec(ctx)
	s.bumpRevocations()
	op := fmt.Sprintf("delete personal tokens of user %d", userID)
	if err != nil {
		return 0, translate(op, err)
	}
	return affected(res, op)
}

// PurgePersonalTokens deletes expired tokens.
func (s *Store) PurgePersonalTokens(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.NewDelete().Model((*personalTokenRow)(nil)).
		Where("expires_at IS NOT NULL AND expires_at <= ?", dbTime(now)).Exec(ctx)
	if err != nil {
		return 0, translate("purge personal tokens", err)
	}
	return affected(res, "purge personal tokens")
}
