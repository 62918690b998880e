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

// liveFamily says "active at now (?)" of family alias f. A NULL expires_at,
// from a zero time, never expires.
const liveFamily = "f.revoked_at IS NULL AND (f.expires_at IS NULL OR f.expires_at > ?)"

type familyRow struct {
	bun.BaseModel `bun:"table:refresh_families,alias:f"`

	ID         string `bun:"id,pk"`
	ClientID   string
	Subject    string
	Scope      string
	AuthTime   dbTime
	CreatedAt  dbTime
	LastUsedAt dbTime
	ExpiresAt  dbTime
	RevokedAt  dbTime
	UserAgent  string
	IP         string `bun:"ip"`
}

type refreshRow struct {
	bun.BaseModel `bun:"table:refresh_tokens,alias:t"`

	Hash      string `bun:"hash,pk"`
	FamilyID  string
	CreatedAt dbTime
	ExpiresAt dbTime
	RotatedAt dbTime // set when rotated out; the row stays to catch reuse
}

type accessRow struct {
	bun.BaseModel `bun:"table:access_tokens,alias:a"`

	Hash      string `bun:"hash,pk"`
	JTI       string `bun:"jti"`
	FamilyID  string
	ClientID  string
	Subject   string
	Scope     string
	Claims    map[string]any
	IssuedAt  dbTime
	ExpiresAt dbTime
}

func newFamilyRow(f storage.Family) familyRow {
	return familyRow{
		ID: f.ID, ClientID: f.ClientID, Subject: f.Subject, Scope: f.Scope,
		AuthTime: dbTime(f.AuthTime), CreatedAt: dbTime(f.CreatedAt), LastUsedAt: dbTime(f.LastUsedAt),
		ExpiresAt: dbTime(f.ExpiresAt), RevokedAt: dbTime(f.RevokedAt), UserAgent: f.UserAgent, IP: f.IP,
	}
}

func (r *familyRow) family() storage.Family {
	return storage.Family{
		ID: r.ID, ClientID: r.ClientID, Subject: r.Subject, Scope: r.Scope,
		AuthTime: r.AuthTime.Time(), CreatedAt: r.CreatedAt.Time(), LastUsedAt: r.LastUsedAt.Time(),
		ExpiresAt: r.ExpiresAt.Time(), RevokedAt: r.RevokedAt.Time(), UserAgent: r.UserAgent, IP: r.IP,
	}
}

func newRefreshRow(t storage.RefreshToken, familyID string) refreshRow {
	return refreshRow{Hash: t.Hash, FamilyID: familyID, CreatedAt: dbTime(t.CreatedAt), ExpiresAt: dbTime(t.ExpiresAt)}
}

// CreateFamily stores a family and its first refresh token together.
func (s *Store) CreateFamily(ctx context.Context, f storage.Family, first storage.RefreshToken) error {
	op := fmt.Sprintf("create token family %q", f.ID)
	fam := newFamilyRow(f)
	tok := newRefreshRow(first, f.ID)
	return s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&fam).Exec(ctx); err != nil {
			return wrap(op, err)
		}
		_, err := tx.NewInsert().Model(&tok).Exec(ctx)
		return wrap(op, err)
	})
}

// Rotate consumes the refresh token and stores next in the same family, in
// one transaction. The consuming UPDATE matches only a token not rotated yet,
// so of concurrent callers exactly one changes the row: on Postgres the
// others wait on its row lock and then find it rotated; on SQLite the single
// writer runs them one after the other. next.FamilyID is ignored.
func (s *Store) Rotate(ctx context.Context, hash, clientID string, next storage.RefreshToken, now time.Time) (storage.Family, error) {
	const op = "rotate refresh token"
	var (
		fam    familyRow
		reused bool
		err    error
	)
	if s.batcher != nil {
		fam, reused, err = s.batcher.rotate(ctx, hash, clientID, next, now)
	} else {
		// The statements are prepared before the transaction takes the
		// connection.
		var stmts []txStmt
		if stmts, err = s.writeStmts(ctx, s.q.consumeToken, s.q.touchFamily, s.q.insertToken); err != nil {
			return storage.Family{}, wrap(op, err)
		}
		err = s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			reused, err = s.rotate(ctx, tx, stmts, hash, clientID, next, now, &fam)
			return err
		})
	}
	switch {
	case err != nil:
		return storage.Family{}, err
	case reused:
		return storage.Family{}, fmt.Errorf("sqlstore: %s: %w", op, storage.ErrReused)
	}
	return fam.family(), nil
}

// rotate does Rotate's work in tx with the statements consumeToken,
// touchFamily and insertToken. A reuse returns (true, nil) so that the
// transaction commits the family's revocation.
func (s *Store) rotate(ctx context.Context, tx bun.Tx, stmts []txStmt, hash, clientID string, next storage.RefreshToken, now time.Time, fam *familyRow) (bool, error) {
	const op = "rotate refresh token"
	at := s.arg(now)
	var familyID string
	err := stmts[0].scan(ctx, tx, s.w, &familyID, at, hash, clientID)
	if errors.Is(err, sql.ErrNoRows) {
		return s.revokeOnReuse(ctx, tx, hash, now)
	}
	if err != nil {
		return false, wrap(op, err)
	}
	// The family is checked after the token; any failure from here on rolls
	// the consumption back with the rest.
	if err := stmts[1].scan(ctx, tx, s.w, fam, at, familyID); err != nil {
		return false, wrap(op, err)
	}
	expires := next.ExpiresAt
	if famExp := fam.ExpiresAt.Time(); !famExp.IsZero() && (expires.IsZero() || famExp.Before(expires)) {
		expires = famExp
	}
	_, err = stmts[2].exec(ctx, tx, next.Hash, familyID, s.arg(next.CreatedAt), s.arg(expires))
	if err != nil {
		return false, wrap(op, err)
	}
	return false, nil
}

// reuseRow is what revokeOnReuse needs to know about a token it could not
// consume.
type reuseRow struct {
	FamilyID        string
	RotatedAt       dbTime
	ExpiresAt       dbTime
	FamilyExpiresAt dbTime
	FamilyRevokedAt dbTime
}

// revokeOnReuse finds out why a token could not be consumed. A token rotated
// out before (and not yet expired) is a reuse: someone replays an old token,
// so the whole family is revoked and (true, nil) returned. Anything else is
// ErrNotFound.
func (s *Store) revokeOnReuse(ctx context.Context, tx bun.Tx, hash string, now time.Time) (bool, error) {
	const op = "rotate refresh token"
	var r reuseRow
	err := tx.NewRaw(`SELECT t.family_id, t.rotated_at, t.expires_at,
			f.expires_at AS family_expires_at, f.revoked_at AS family_revoked_at
		FROM refresh_tokens AS t JOIN refresh_families AS f ON f.id = t.family_id
		WHERE t.hash = ?`, hash).Scan(ctx, &r)
	if err != nil {
		return false, wrap(op, err)
	}
	if expired(r.ExpiresAt, now) || expired(r.FamilyExpiresAt, now) || r.RotatedAt.Time().IsZero() {
		return false, notFound(op)
	}
	if r.FamilyRevokedAt.Time().IsZero() {
		_, err = tx.NewUpdate().Model((*familyRow)(nil)).Set("revoked_at = ?", dbTime(now)).
			Where("id = ? AND revoked_at IS NULL", r.FamilyID).Exec(ctx)
		if err != nil {
			return false, wrap(op, err)
		}
		s.log.WarnContext(ctx, "refresh token reused; family revoked", "family", r.FamilyID)
	}
	return true, nil
}

// expired reports whether a stored expiry has come; NULL never does.
func expired(t dbTime, now time.Time) bool {
	e := t.Time()
	return !e.IsZero() && !e.After(now)
}

// liveTokenRow is a refresh token joined with its family.
type liveTokenRow struct {
	familyRow
	TokenCreatedAt dbTime `bun:"token_created_at"`
	TokenExpiresAt dbTime `bun:"token_expires_at"`
}

// RefreshToken returns a live refresh token and its family in one query.
func (s *Store) RefreshToken(ctx context.Context, hash string, now time.Time) (storage.RefreshToken, storage.Family, error) {
	var r liveTokenRow
	if err := s.read(ctx, &r, s.q.refreshToken, hash, s.arg(now)); err != nil {
		return storage.RefreshToken{}, storage.Family{}, wrap("get refresh token", err)
	}
	tok := storage.RefreshToken{
		Hash: hash, FamilyID: r.ID, CreatedAt: r.TokenCreatedAt.Time(), ExpiresAt: r.TokenExpiresAt.Time(),
	}
	return tok, r.family(), nil
}

// GetFamily returns a family, revoked or expired ones included.
func (s *Store) GetFamily(ctx context.Context, id string) (storage.Family, error) {
	var row familyRow
	if err := s.r.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return storage.Family{}, wrap(fmt.Sprintf("get token family %q", id), err)
	}
	return row.family(), nil
}

// ListFamilies returns the subject's live families, newest first.
func (s *Store) ListFamilies(ctx context.Context, subject string, now time.Time) ([]storage.Family, error) {
	var rows []familyRow
	err := s.r.NewSelect().Model(&rows).
		Where("f.subject = ? AND "+liveFamily, subject, dbTime(now)).
		Order("f.created_at DESC", "f.id DESC").Scan(ctx)
	if err != nil {
		return nil, wrap("list token families", err)
	}
	out := make([]storage.Family, len(rows))
	for i := range rows {
		out[i] = rows[i].family()
	}
	return out, nil
}

// RevokeFamily revokes the family; a revoked one keeps its first revocation
// time. A missing family is ErrNotFound.
func (s *Store) RevokeFamily(ctx context.Context, id string, now time.Time) error {
	res, err := s.w.NewUpdate().Model((*familyRow)(nil)).
		Set("revoked_at = COALESCE(revoked_at, ?)", dbTime(now)).Where("id = ?", id).Exec(ctx)
	return expectRows(res, err, fmt.Sprintf("revoke token family %q", id))
}

// RevokeSubject revokes the subject's live families and counts them.
func (s *Store) RevokeSubject(ctx context.Context, subject string, now time.Time) (int, error) {
	const op = "revoke subject"
	at := dbTime(now)
	res, err := s.w.NewUpdate().Model((*familyRow)(nil)).Set("revoked_at = ?", at).
		Where("f.subject = ? AND "+liveFamily, subject, at).Exec(ctx)
	if err != nil {
		return 0, wrap(op, err)
	}
	return affected(res, op)
}
