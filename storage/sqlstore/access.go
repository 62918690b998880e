package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

type revocationRow struct {
	bun.BaseModel `bun:"table:revocations,alias:r"`

	JTI   string `bun:"jti,pk"`
	Until dbTime `bun:"until"`
}

type subjectRevocationRow struct {
	bun.BaseModel `bun:"table:subject_revocations,alias:sr"`

	Subject string `bun:"subject,pk"`
	Before  dbTime `bun:"before"`
	Until   dbTime `bun:"until"`
}

// CreateAccessToken stores an opaque access token.
func (s *Store) CreateAccessToken(ctx context.Context, t storage.AccessToken) error {
	const op = "create access token"
	if err := checkText(op, t); err != nil {
		return err
	}
	row := accessRow{
		Hash: t.Hash, JTI: t.ID, FamilyID: t.FamilyID, ClientID: t.ClientID, Subject: t.Subject,
		Scope: t.Scope, Claims: t.Claims, IssuedAt: dbTime(t.IssuedAt), ExpiresAt: dbTime(t.ExpiresAt),
	}
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// AccessToken returns an opaque access token that has not expired.
func (s *Store) AccessToken(ctx context.Context, hash string, now time.Time) (storage.AccessToken, error) {
	const op = "get access token"
	if err := checkKey(op, hash); err != nil {
		return storage.AccessToken{}, err
	}
	var r accessRow
	if err := s.read(ctx, &r, s.q.accessToken, hash, s.arg(now)); err != nil {
		return storage.AccessToken{}, translate(op, err)
	}
	return storage.AccessToken{
		Hash: r.Hash, ID: r.JTI, FamilyID: r.FamilyID, ClientID: r.ClientID, Subject: r.Subject,
		Scope: r.Scope, Claims: r.Claims, IssuedAt: r.IssuedAt.Time(), ExpiresAt: r.ExpiresAt.Time(),
	}, nil
}

// RevokeAccessToken denies the jti until the given time. Revoking it again
// keeps the later time: a revocation is never shortened.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, until time.Time) error {
	const op = "revoke access token"
	if err := checkText(op, jti); err != nil {
		return err
	}
	row := revocationRow{JTI: jti, Until: dbTime(until)}
	_, err := s.w.NewInsert().Model(&row).
		On(`CONFLICT (jti) DO UPDATE`).
		Set(`"until" = CASE WHEN EXCLUDED."until" > r."until" THEN EXCLUDED."until" ELSE r."until" END`).
		Exec(ctx)
	s.bumpRevocations()
	return translate(op, err)
}

// RevokeSubjectTokensBefore marks the subject's access tokens issued
// before the given time revoked, until keepUntil. Marking again keeps the
// later before and the later keepUntil.
func (s *Store) RevokeSubjectTokensBefore(ctx context.Context, subject string, before, keepUntil time.Time) error {
	const op = "revoke subject tokens"
	if err := checkText(op, subject); err != nil {
		return err
	}
	row := subjectRevocationRow{Subject: subject, Before: dbTime(before), Until: dbTime(keepUntil)}
	_, err := s.w.NewInsert().Model(&row).
		On(`CONFLICT (subject) DO UPDATE`).
		Set(`"before" = CASE WHEN EXCLUDED."before" > sr."before" THEN EXCLUDED."before" ELSE sr."before" END`).
		Set(`"until" = CASE WHEN EXCLUDED."until" > sr."until" THEN EXCLUDED."until" ELSE sr."until" END`).
		Exec(ctx)
	s.bumpRevocations()
	return translate(op, err)
}

// Revoked reports, in one query, whether the jti is revoked at now, the
// family is revoked, or a mark of the subject kept at now is later than
// the issued-at; each part only when given.
func (s *Store) Revoked(ctx context.Context, c storage.RevocationCheck, now time.Time) (bool, error) {
	// A part that is not valid text matches nothing stored: leave it out.
	for _, part := range []*string{&c.JTI, &c.FamilyID, &c.Subject} {
		if !storage.ValidText(*part) {
			*part = ""
		}
	}
	mask := 0
	args := make([]any, 0, 5)
	if c.JTI != "" || c.Subject != "" && !c.IssuedAt.IsZero() {
		args = append(args, s.arg(now))
	}
	if c.JTI != "" {
		mask |= revokedJTI
		args = append(args, c.JTI)
	}
	if c.FamilyID != "" {
		mask |= revokedFamily
		args = append(args, c.FamilyID)
	}
	if c.Subject != "" && !c.IssuedAt.IsZero() {
		mask |= revokedSubject
		args = append(args, c.Subject, s.arg(c.IssuedAt))
	}
	if mask == 0 {
		return false, nil
	}
	// "Not revoked" stays true until a revocation bumps the epoch (epoch.go);
	// "revoked" is not cached: it is read again.
	var key string
	if s.notRevoked != nil {
		key = revocationKey(mask, c)
		if _, ok := s.notRevoked.get(key); ok {
			return false, nil
		}
	}
	epoch := s.notRevoked.start()
	var revoked bool
	if err := s.read(ctx, &revoked, s.q.revoked[mask], args...); err != nil {
		return false, translate("check revocation", err)
	}
	if !revoked {
		s.notRevoked.put(key, struct{}{}, epoch)
	}
	return revoked, nil
}

// revocationKey is the cache key of a revocation check: its parts, with
// separators no valid text holds.
func revocationKey(mask int, c storage.RevocationCheck) string {
	var b strings.Builder
	b.Grow(len(c.JTI) + len(c.FamilyID) + len(c.Subject) + 24)
	b.WriteByte(byte('0' + mask))
	b.WriteByte(0)
	b.WriteString(c.JTI)
	b.WriteByte(0)
	b.WriteString(c.FamilyID)
	if mask&revokedSubject != 0 {
		b.WriteByte(0)
		b.WriteString(c.Subject)
		b.WriteByte(0)
		b.WriteString(strconv.FormatInt(c.IssuedAt.UnixMicro(), 10))
	}
	return b.String()
}

// purgeBatch bounds each DELETE so that a large purge holds the SQLite
// writer, which the token endpoint needs, only briefly at a time.
const purgeBatch = 1000

// Purge deletes families past their cap (a family holds its refresh
// token), expired access tokens, past revocations and subject marks past
// their keepUntil, and counts every row deleted. Revoked families stay
// until their cap so that Revoked keeps answering for their access tokens.
func (s *Store) Purge(ctx context.Context, now time.Time) (int, error) {
	at := dbTime(now)
	steps := []struct{ table, key, where string }{
		{"refresh_families", "id", "expires_at <= ?"},
		{"access_tokens", "hash", "expires_at <= ?"},
		{"revocations", "jti", `"until" <= ?`},
		{"subject_revocations", "subject", `"until" <= ?`},
	}
	total := 0
	for _, st := range steps {
		n, err := s.purgeTable(ctx, st.table, st.key, st.where, at)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// purgeTable deletes the rows matching where (whose every ? is now) in
// batches and counts them.
func (s *Store) purgeTable(ctx context.Context, table, key, where string, now dbTime) (int, error) {
	op := "purge " + table
	query := "DELETE FROM ? WHERE ? IN (SELECT ? FROM ? WHERE " + where + " LIMIT ?)"
	args := []any{bun.Ident(table), bun.Ident(key), bun.Ident(key), bun.Ident(table)}
	for range strings.Count(where, "?") {
		args = append(args, now)
	}
	args = append(args, purgeBatch)
	total := 0
	for {
		res, err := s.w.NewRaw(query, args...).Exec(ctx)
		if err != nil {
			return total, translate(op, err)
		}
		n, err := affected(res, op)
		total += n
		if err != nil || n < purgeBatch {
			return total, err
		}
	}
}
