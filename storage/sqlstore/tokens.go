package sqlstore

import (
	"context"
	"crypto/subtle"
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
	Resource   string
	AuthTime   dbTime
	CreatedAt  dbTime
	LastUsedAt dbTime
	ExpiresAt  dbTime
	RevokedAt  dbTime
	UserAgent  string
	IP         string `bun:"ip"`
	// The family's live refresh token.
	Generation     int64
	TokenHash      string
	TokenCreatedAt dbTime
	TokenExpiresAt dbTime
	// The last rotation: the hash of the token it spent and its commit
	// time, for the reuse grace and the race a request could not see.
	PrevHash  string
	RotatedUS int64 `bun:"rotated_us"` // Unix microseconds; 0: never rotated
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
		ID: f.ID, ClientID: f.ClientID, Subject: f.Subject, Scope: f.Scope, Resource: f.Resource,
		AuthTime: dbTime(f.AuthTime), CreatedAt: dbTime(f.CreatedAt), LastUsedAt: dbTime(f.LastUsedAt),
		ExpiresAt: dbTime(f.ExpiresAt), RevokedAt: dbTime(f.RevokedAt), UserAgent: f.UserAgent, IP: f.IP,
	}
}

func (r *familyRow) family() storage.Family {
	return storage.Family{
		ID: r.ID, ClientID: r.ClientID, Subject: r.Subject, Scope: r.Scope, Resource: r.Resource,
		AuthTime: r.AuthTime.Time(), CreatedAt: r.CreatedAt.Time(), LastUsedAt: r.LastUsedAt.Time(),
		ExpiresAt: r.ExpiresAt.Time(), RevokedAt: r.RevokedAt.Time(), UserAgent: r.UserAgent, IP: r.IP,
	}
}

func (r *familyRow) token() storage.RefreshToken {
	return storage.RefreshToken{
		FamilyID: r.ID, Generation: r.Generation, Hash: r.TokenHash,
		CreatedAt: r.TokenCreatedAt.Time(), ExpiresAt: r.TokenExpiresAt.Time(),
	}
}

// CreateFamily stores a family with its first refresh token, one row.
func (s *Store) CreateFamily(ctx context.Context, f storage.Family, first storage.RefreshToken) error {
	op := fmt.Sprintf("create token family %q", f.ID)
	if err := checkText(op, f, first); err != nil {
		return err
	}
	fam := newFamilyRow(f)
	fam.Generation, fam.TokenHash = first.Generation, first.Hash
	fam.TokenCreatedAt, fam.TokenExpiresAt = dbTime(first.CreatedAt), dbTime(capAt(first.ExpiresAt, f.ExpiresAt))
	_, err := s.w.NewInsert().Model(&fam).Exec(ctx)
	return translate(op, err)
}

// capAt returns t, or limit when limit comes first; zero is "never".
func capAt(t, limit time.Time) time.Time {
	if !limit.IsZero() && (t.IsZero() || limit.Before(t)) {
		return limit
	}
	return t
}

// Rotate replaces the family's live token with one UPDATE of its row. The
// UPDATE matches only the generation and hash presented, so of concurrent
// callers exactly one changes the row: on Postgres the others wait for its
// row lock and then no longer match; on SQLite the single writer runs them
// one after the other. Only when nothing matched does a second query find
// out whether the token was rotated out (reuse) or is simply not live.
func (s *Store) Rotate(ctx context.Context, ref storage.TokenRef, clientID string, next storage.RefreshToken, rot storage.Rotation) (storage.Family, error) {
	const op = "rotate refresh token"
	if err := checkKey(op, ref, clientID); err != nil { // no family has such a client either
		return storage.Family{}, err
	}
	if err := checkText(op, next); err != nil {
		return storage.Family{}, err
	}
	var (
		fam    familyRow
		reused bool
		err    error
	)
	if s.batcher != nil {
		fam, reused, err = s.batcher.rotate(ctx, ref, clientID, next, rot)
	} else {
		// A rotation that started finishes: a client hanging up (ctx
		// canceled) must not cut the transaction where its outcome is
		// unknown (pgx closes the connection of a canceled COMMIT). The
		// deadline still bounds it.
		if err := ctx.Err(); err != nil {
			return storage.Family{}, translate(op, err)
		}
		var cancel context.CancelFunc
		ctx, cancel = uncanceled(ctx)
		defer cancel()
		// The statement is prepared before the transaction takes the
		// connection.
		var stmts []txStmt
		if stmts, err = s.writeStmts(ctx, s.q.rotateToken); err != nil {
			return storage.Family{}, translate(op, err)
		}
		err = s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
			var err error
			reused, err = s.rotate(ctx, tx, stmts[0], ref, clientID, next, rot, &fam)
			return err
		})
	}
	switch {
	case err != nil:
		return storage.Family{}, translate(op, err)
	case reused:
		s.bumpRevocations() // the reuse revoked the family, committed
		return storage.Family{}, fmt.Errorf("sqlstore: %s: %w", op, storage.ErrReused)
	}
	return fam.family(), nil
}

// rotate does Rotate's work in tx with the rotateToken statement. It writes
// nothing unless it succeeds or detects a reuse, so a batch needs no
// savepoints. A reuse returns (true, nil) so that the transaction commits
// the family's revocation; a token that is not live is ErrNotFound; the
// database's errors are returned as they are, for Rotate to translate.
func (s *Store) rotate(ctx context.Context, tx bun.Tx, stmt txStmt, ref storage.TokenRef, clientID string, next storage.RefreshToken, rot storage.Rotation, fam *familyRow) (bool, error) {
	at := s.arg(rot.Now)
	err := stmt.scan(ctx, tx, s.w, fam,
		next.Hash, s.arg(next.CreatedAt), s.arg(next.ExpiresAt), at,
		ref.FamilyID, ref.Generation, ref.Hash, clientID, rot.Commit().UnixMicro())
	if errors.Is(err, sql.ErrNoRows) {
		return s.notRotated(ctx, tx, ref, clientID, rot, fam)
	}
	return false, err
}

// notRotated finds out why a token could not be rotated (storage.Tokens
// has the rules). The immediately previous token within the grace is a
// repeat: fam is filled and (false, nil) returned. One presented by a
// request that arrived before the rotation committed lost a race:
// ErrNotFound, the family stays alive. Any other generation older than the
// family's is a replay of a rotated-out token, so the whole family is
// revoked and (true, nil) returned. Anything else is ErrNotFound.
func (s *Store) notRotated(ctx context.Context, tx bun.Tx, ref storage.TokenRef, clientID string, rot storage.Rotation, fam *familyRow) (bool, error) {
	const op = "rotate refresh token"
	var r familyRow
	err := tx.NewSelect().Model(&r).Where("id = ?", ref.FamilyID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return false, notFound(op)
	}
	if err != nil {
		return false, err
	}
	if ref.Generation >= r.Generation || expired(r.ExpiresAt, rot.Now) {
		return false, notFound(op)
	}
	previous := ref.Generation == r.Generation-1 &&
		subtle.ConstantTimeCompare([]byte(ref.Hash), []byte(r.PrevHash)) == 1
	committed, arrived := time.UnixMicro(r.RotatedUS), rot.Arrival().Truncate(time.Microsecond)
	live := r.RevokedAt.Time().IsZero() && !expired(r.TokenExpiresAt, rot.Now)
	if previous && live && r.RotatedUS != 0 {
		sameClient := clientID == "" || clientID == r.ClientID
		switch {
		case rot.Grace > 0 && sameClient && arrived.Before(committed.Add(rot.Grace)):
			*fam = r
			fam.LastUsedAt = dbTime(rot.Now)
			return false, nil
		case rot.Grace <= 0 && arrived.Before(committed):
			return false, notFound(op) // lost a race it could not see
		}
	}
	if r.RevokedAt.Time().IsZero() {
		_, err = tx.NewUpdate().Model((*familyRow)(nil)).Set("revoked_at = ?", dbTime(rot.Now)).
			Where("id = ? AND revoked_at IS NULL", r.ID).Exec(ctx)
		if err != nil {
			return false, err
		}
		s.log.WarnContext(ctx, "refresh token reused; family revoked", "family", r.ID)
	}
	return true, nil
}

// expired reports whether a stored expiry has come; NULL never does.
func expired(t dbTime, now time.Time) bool {
	e := t.Time()
	return !e.IsZero() && !e.After(now)
}

// RefreshToken returns a family's live refresh token and the family in one
// query.
func (s *Store) RefreshToken(ctx context.Context, ref storage.TokenRef, now time.Time) (storage.RefreshToken, storage.Family, error) {
	const op = "get refresh token"
	if err := checkKey(op, ref); err != nil {
		return storage.RefreshToken{}, storage.Family{}, err
	}
	var r familyRow
	if err := s.read(ctx, &r, s.q.refreshToken, ref.FamilyID, ref.Generation, ref.Hash, s.arg(now)); err != nil {
		return storage.RefreshToken{}, storage.Family{}, translate(op, err)
	}
	return r.token(), r.family(), nil
}

// GetFamily returns a family, revoked or expired ones included.
func (s *Store) GetFamily(ctx context.Context, id string) (storage.Family, error) {
	op := fmt.Sprintf("get token family %q", id)
	if err := checkKey(op, id); err != nil {
		return storage.Family{}, err
	}
	var row familyRow
	if err := s.r.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		return storage.Family{}, translate(op, err)
	}
	return row.family(), nil
}

// ListFamilies returns the subject's live families, newest first.
func (s *Store) ListFamilies(ctx context.Context, subject string, now time.Time) ([]storage.Family, error) {
	if !storage.ValidText(subject) {
		return []storage.Family{}, nil // no family has such a subject
	}
	var rows []familyRow
	at := dbTime(now)
	err := s.r.NewSelect().Model(&rows).
		Where("f.subject = ? AND "+liveFamily, subject, at).
		Where("f.token_expires_at IS NULL OR f.token_expires_at > ?", at).
		Order("f.created_at DESC", "f.id DESC").Scan(ctx)
	if err != nil {
		return nil, translate("list token families", err)
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
	op := fmt.Sprintf("revoke token family %q", id)
	if err := checkKey(op, id); err != nil {
		return err
	}
	res, err := s.w.NewUpdate().Model((*familyRow)(nil)).
		Set("revoked_at = COALESCE(revoked_at, ?)", dbTime(now)).Where("id = ?", id).Exec(ctx)
	s.bumpRevocations()
	return expectRows(res, err, op)
}

// RevokeSubject revokes the subject's live families and counts them.
func (s *Store) RevokeSubject(ctx context.Context, subject string, now time.Time) (int, error) {
	const op = "revoke subject"
	if !storage.ValidText(subject) {
		return 0, nil // no family has such a subject
	}
	at := dbTime(now)
	res, err := s.w.NewUpdate().Model((*familyRow)(nil)).Set("revoked_at = ?", at).
		Where("f.subject = ? AND "+liveFamily, subject, at).Exec(ctx)
	s.bumpRevocations()
	if err != nil {
		return 0, translate(op, err)
	}
	return affected(res, op)
}

// uncanceled keeps ctx's values and deadline but not its cancellation.
func uncanceled(ctx context.Context) (context.Context, context.CancelFunc) {
	d := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(d, deadline)
	}
	return context.WithCancel(d)
}
