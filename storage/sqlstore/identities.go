package sqlstore

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

// schemaIdentitiesUp keeps linked identities of social backends
// (migration 20261206000601): the key is (backend, subject); a user has at
// most one per backend.
var schemaIdentitiesUp = []string{
	`CREATE TABLE IF NOT EXISTS identities (
		backend TEXT NOT NULL,
		subject TEXT NOT NULL,
		user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		email TEXT NOT NULL DEFAULT '',
		created_at {{time}},
		last_login_at {{time}},
		PRIMARY KEY (backend, subject)
	){{without_rowid}}`,
	`CREATE UNIQUE INDEX IF NOT EXISTS identities_user_backend ON identities (user_id, backend)`,
}

var schemaIdentitiesDown = []string{
	`DROP TABLE IF EXISTS identities`,
}

var _ storage.Identities = (*Store)(nil)

type identityRow struct {
	bun.BaseModel `bun:"table:identities,alias:idn"`

	Backend     string `bun:"backend,pk"`
	Subject     string `bun:"subject,pk"`
	UserID      int64
	Email       string
	CreatedAt   dbTime
	LastLoginAt dbTime
}

func (r *identityRow) identity() storage.LinkedIdentity {
	return storage.LinkedIdentity{
		Backend: r.Backend, Subject: r.Subject, UserID: r.UserID, Email: r.Email,
		CreatedAt: r.CreatedAt.Time(), LastLoginAt: r.LastLoginAt.Time(),
	}
}

// CreateIdentity links an identity; the primary key and the (user,
// backend) index make a second link a conflict.
func (s *Store) CreateIdentity(ctx context.Context, id storage.LinkedIdentity) error {
	const op = "create identity"
	if err := checkText(op, id.Backend, id.Subject, id.Email); err != nil {
		return err
	}
	row := identityRow{
		Backend: id.Backend, Subject: id.Subject, UserID: id.UserID, Email: id.Email,
		CreatedAt: dbTime(id.CreatedAt), LastLoginAt: dbTime(id.LastLoginAt),
	}
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// GetIdentity returns the identity of an upstream subject.
func (s *Store) GetIdentity(ctx context.Context, backend, subject string) (storage.LinkedIdentity, error) {
	const op = "get identity"
	if err := checkKey(op, backend, subject); err != nil {
		return storage.LinkedIdentity{}, err
	}
	row := identityRow{Backend: backend, Subject: subject}
	if err := s.r.NewSelect().Model(&row).WherePK().Scan(ctx); err != nil {
		return storage.LinkedIdentity{}, translate(op, err)
	}
	return row.identity(), nil
}

// ListIdentities returns a user's identities, by backend.
func (s *Store) ListIdentities(ctx context.Context, userID int64) ([]storage.LinkedIdentity, error) {
	var rows []identityRow
	if err := s.r.NewSelect().Model(&rows).Where("idn.user_id = ?", userID).Order("idn.backend").Scan(ctx); err != nil {
		return nil, translate("list identities", err)
	}
	out := make([]storage.LinkedIdentity, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].identity())
	}
	return out, nil
}

// TouchIdentity records a sign-in.
func (s *Store) TouchIdentity(ctx context.Context, backend, subject, email string, now time.Time) error {
	const op = "touch identity"
	if err := checkKey(op, backend, subject); err != nil {
		return err
	}
	if err := checkText(op, email); err != nil {
		return err
	}
	res, err := s.w.NewUpdate().Model((*identityRow)(nil)).
		Set("email = ?", email).Set("last_login_at = ?", dbTime(now)).
		Where("backend = ?", backend).Where("subject = ?", subject).Exec(ctx)
	if err != nil {
		return translate(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(op)
	}
	return nil
}

// DeleteIdentity unlinks the user's identity of a backend.
func (s *Store) DeleteIdentity(ctx context.Context, userID int64, backend string) error {
	const op = "delete identity"
	if err := checkKey(op, backend); err != nil {
		return err
	}
	res, err := s.w.NewDelete().Model((*identityRow)(nil)).
		Where("user_id = ?", userID).Where("backend = ?", backend).Exec(ctx)
	if err != nil {
		return translate(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(op)
	}
	return nil
}
