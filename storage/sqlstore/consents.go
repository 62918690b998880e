package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

// schemaConsentsUp keeps users' consents (migration 20251205000002): one
// row per user and client, the scopes space-separated and sorted.
var schemaConsentsUp = []string{
	`CREATE TABLE IF NOT EXISTS consents (
		subject TEXT NOT NULL,
		client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
		scopes TEXT NOT NULL DEFAULT '',
		created_at {{time}},
		updated_at {{time}},
		PRIMARY KEY (subject, client_id)
	){{without_rowid}}`,
	`CREATE INDEX IF NOT EXISTS consents_client_id ON consents (client_id)`,
}

var schemaConsentsDown = []string{
	`DROP TABLE IF EXISTS consents`,
}

var _ storage.Consents = (*Store)(nil)

type consentRow struct {
	bun.BaseModel `bun:"table:consents,alias:cs"`

	Subject   string `bun:"subject,pk"`
	ClientID  string `bun:"client_id,pk"`
	Scopes    string
	CreatedAt dbTime
	UpdatedAt dbTime
}

func (r *consentRow) consent() storage.Consent {
	return storage.Consent{
		Subject: r.Subject, ClientID: r.ClientID, Scopes: strings.Fields(r.Scopes),
		CreatedAt: r.CreatedAt.Time(), UpdatedAt: r.UpdatedAt.Time(),
	}
}

// mergeScopes returns the union of two scope lists, sorted, each once.
func mergeScopes(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// GrantConsent adds scopes to a consent in one transaction: the row is
// created, or read for update and merged, so concurrent grants keep each
// other's scopes.
func (s *Store) GrantConsent(ctx context.Context, subject, clientID string, scopes []string, now time.Time) (storage.Consent, error) {
	const op = "grant consent"
	if err := checkText(op, subject, clientID, scopes); err != nil {
		return storage.Consent{}, err
	}
	for _, sc := range scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n") {
			return storage.Consent{}, fmt.Errorf("sqlstore: %s: a scope is empty or holds a space: %w", op, storage.ErrInvalidInput)
		}
	}
	var out storage.Consent
	err := s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		row := consentRow{Subject: subject, ClientID: clientID, CreatedAt: dbTime(now)}
		// Make the row exist, then lock and merge: one path for both cases.
		if _, err := tx.NewInsert().Model(&row).On("CONFLICT DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		if err := s.forUpdate(tx.NewSelect().Model(&row).WherePK()).Scan(ctx); err != nil {
			return err
		}
		row.Scopes = strings.Join(mergeScopes(strings.Fields(row.Scopes), scopes), " ")
		row.UpdatedAt = dbTime(now)
		if _, err := tx.NewUpdate().Model(&row).Column("scopes", "updated_at").WherePK().Exec(ctx); err != nil {
			return err
		}
		out = row.consent()
		return nil
	})
	return out, translate(op, err)
}

// GetConsent returns one consent.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (storage.Consent, error) {
	const op = "get consent"
	if err := checkKey(op, subject, clientID); err != nil {
		return storage.Consent{}, err
	}
	row := consentRow{Subject: subject, ClientID: clientID}
	if err := s.r.NewSelect().Model(&row).WherePK().Scan(ctx); err != nil {
		return storage.Consent{}, translate(op, err)
	}
	return row.consent(), nil
}

// ListConsents returns a user's consents, newest change first.
func (s *Store) ListConsents(ctx context.Context, subject string) ([]storage.Consent, error) {
	const op = "list consents"
	if err := checkKey(op, subject); err != nil {
		return []storage.Consent{}, nil
	}
	var rows []consentRow
	if err := s.r.NewSelect().Model(&rows).Where("cs.subject = ?", subject).
		Order("cs.updated_at DESC", "cs.client_id").Scan(ctx); err != nil {
		return nil, translate(op, err)
	}
	out := make([]storage.Consent, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].consent())
	}
	return out, nil
}

// RevokeConsent deletes one consent.
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	const op = "revoke consent"
	if err := checkKey(op, subject, clientID); err != nil {
		return err
	}
	res, err := s.w.NewDelete().Model((*consentRow)(nil)).
		Where("subject = ?", subject).Where("client_id = ?", clientID).Exec(ctx)
	if err != nil {
		return translate(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(op)
	}
	return nil
}
