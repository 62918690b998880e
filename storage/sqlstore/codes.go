package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

var _ storage.Codes = (*Store)(nil)

type codeRow struct {
	bun.BaseModel `bun:"table:auth_codes,alias:ac"`

	Hash                string `bun:"hash,pk"`
	FamilyID            string
	ClientID            string
	Subject             string
	RedirectURI         string
	Scope               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	SessionID           string
	Resource            string
	AuthTime            dbTime
	Claims              map[string]any
	CreatedAt           dbTime
	ExpiresAt           dbTime
	UsedAt              dbTime
}

func newCodeRow(c storage.Code) codeRow {
	return codeRow{
		Hash: c.Hash, FamilyID: c.FamilyID, ClientID: c.ClientID, Subject: c.Subject,
		RedirectURI: c.RedirectURI, Scope: c.Scope, Nonce: c.Nonce,
		CodeChallenge: c.CodeChallenge, CodeChallengeMethod: c.CodeChallengeMethod,
		SessionID: c.SessionID, Resource: c.Resource, AuthTime: dbTime(c.AuthTime), Claims: c.Claims,
		CreatedAt: dbTime(c.CreatedAt), ExpiresAt: dbTime(c.ExpiresAt), UsedAt: dbTime(c.UsedAt),
	}
}

func (r codeRow) code() storage.Code {
	return storage.Code{
		Hash: r.Hash, FamilyID: r.FamilyID, ClientID: r.ClientID, Subject: r.Subject,
		RedirectURI: r.RedirectURI, Scope: r.Scope, Nonce: r.Nonce,
		CodeChallenge: r.CodeChallenge, CodeChallengeMethod: r.CodeChallengeMethod,
		SessionID: r.SessionID, Resource: r.Resource, AuthTime: r.AuthTime.Time(), Claims: r.Claims,
		CreatedAt: r.CreatedAt.Time(), ExpiresAt: r.ExpiresAt.Time(), UsedAt: r.UsedAt.Time(),
	}
}

// CreateCode stores a new authorization code.
func (s *Store) CreateCode(ctx context.Context, c storage.Code) error {
	const op = "create code"
	if err := checkText(op, c); err != nil {
		return err
	}
	row := newCodeRow(c)
	row.UsedAt = dbTime{}
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// ConsumeCode marks a live, unused code used in one UPDATE … RETURNING: of
// concurrent callers only the first finds used_at still NULL (Postgres
// re-checks the condition after waiting on the row lock; SQLite has one
// writer). When nothing was updated, a second read tells a replay (the
// code exists, used, not expired) from an unknown or expired code.
func (s *Store) ConsumeCode(ctx context.Context, hash string, now time.Time) (storage.Code, error) {
	const op = "consume code"
	if err := checkKey(op, hash); err != nil {
		return storage.Code{}, err
	}
	var row codeRow
	err := s.w.NewUpdate().Model(&row).
		Set("used_at = ?", dbTime(now)).
		Where("hash = ?", hash).
		Where("used_at IS NULL").
		Where("expires_at > ?", dbTime(now)).
		Returning("*").
		Scan(ctx)
	if err == nil {
		return row.code(), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return storage.Code{}, translate(op, err)
	}
	row = codeRow{}
	err = s.w.NewSelect().Model(&row).
		Where("hash = ?", hash).
		Where("expires_at > ?", dbTime(now)).
		Scan(ctx)
	if err != nil {
		return storage.Code{}, translate(op, err)
	}
	if row.UsedAt.Time().IsZero() {
		// Unused and live, yet not updated: cannot happen short of a
		// concurrent delete; report it as gone.
		return storage.Code{}, notFound(op)
	}
	return row.code(), fmt.Errorf("sqlstore: %s: %w", op, storage.ErrCodeReused)
}

// PurgeCodes deletes expired codes, used or not.
func (s *Store) PurgeCodes(ctx context.Context, now time.Time) (int, error) {
	return s.purgeTable(ctx, "auth_codes", "hash", "expires_at <= ?", dbTime(now))
}
