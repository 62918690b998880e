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

// List fields are JSON: nil and empty lists come back as they went in.
type clientRow struct {
	bun.BaseModel `bun:"table:clients"`

	ID                      string `bun:"id,pk"`
	SecretHash              string
	Name                    string
	RedirectURIs            []string `bun:"redirect_uris"`
	PostLogoutRedirectURIs  []string `bun:"post_logout_redirect_uris"`
	GrantTypes              []string
	ResponseTypes           []string
	Scope                   string
	TokenEndpointAuthMethod string
	AccessTokenFormat       string
	AccessTokenTTL          time.Duration  `bun:"access_token_ttl"` // nanoseconds
	RefreshTokenTTL         time.Duration  `bun:"refresh_token_ttl"`
	RefreshReuseGrace       *time.Duration `bun:"refresh_reuse_grace"` // NULL: server default
	SkipConsent             bool           `bun:"skip_consent"`
	Registered              bool           `bun:"registered"`
	RegistrationTokenHash   string         `bun:"registration_token_hash"`
	LastUsedAt              dbTime         `bun:"last_used_at"`
	CreatedAt               dbTime
	UpdatedAt               dbTime
}

func newClientRow(c storage.Client) clientRow {
	return clientRow{
		ID: c.ID, SecretHash: c.SecretHash, Name: c.Name,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes, Scope: c.Scope,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, AccessTokenFormat: c.AccessTokenFormat,
		AccessTokenTTL: c.AccessTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL, RefreshReuseGrace: c.RefreshReuseGrace,
		SkipConsent: c.SkipConsent, Registered: c.Registered, RegistrationTokenHash: c.RegistrationTokenHash, LastUsedAt: dbTime(c.LastUsedAt),
		CreatedAt: dbTime(c.CreatedAt), UpdatedAt: dbTime(c.UpdatedAt),
	}
}

func (r *clientRow) client() storage.Client {
	return storage.Client{
		ID: r.ID, SecretHash: r.SecretHash, Name: r.Name,
		RedirectURIs: r.RedirectURIs, PostLogoutRedirectURIs: r.PostLogoutRedirectURIs,
		GrantTypes: r.GrantTypes, ResponseTypes: r.ResponseTypes, Scope: r.Scope,
		TokenEndpointAuthMethod: r.TokenEndpointAuthMethod, AccessTokenFormat: r.AccessTokenFormat,
		AccessTokenTTL: r.AccessTokenTTL, RefreshTokenTTL: r.RefreshTokenTTL, RefreshReuseGrace: r.RefreshReuseGrace,
		SkipConsent: r.SkipConsent, Registered: r.Registered, RegistrationTokenHash: r.RegistrationTokenHash, LastUsedAt: r.LastUsedAt.Time(),
		CreatedAt: r.CreatedAt.Time(), UpdatedAt: r.UpdatedAt.Time(),
	}
}

// schemaSkipConsentUp adds clients.skip_consent (migration
// 20261206000101): a first-party client never sees the consent page.
// Existing clients keep asking (false).
var schemaSkipConsentUp = []string{
	`ALTER TABLE clients ADD COLUMN IF NOT EXISTS skip_consent BOOLEAN NOT NULL DEFAULT FALSE`,
}

var schemaSkipConsentDown = []string{
	`ALTER TABLE clients DROP COLUMN IF EXISTS skip_consent`,
}

// CreateClient stores a client.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	op := fmt.Sprintf("create client %q", c.ID)
	if err := checkText(op, c); err != nil {
		return err
	}
	row := newClientRow(c)
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// GetClient returns the client with the ID.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	op := fmt.Sprintf("get client %q", id)
	if err := checkKey(op, id); err != nil {
		return storage.Client{}, err
	}
	var row clientRow
	if err := s.read(ctx, &row, s.q.getClient, id); err != nil {
		return storage.Client{}, translate(op, err)
	}
	return row.client(), nil
}

// ListClients returns every client by ID.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	var rows []clientRow
	if err := s.r.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, translate("list clients", err)
	}
	out := make([]storage.Client, len(rows))
	for i := range rows {
		out[i] = rows[i].client()
	}
	return out, nil
}

// UpdateClient applies fn and saves the client in one transaction; the ID
// stays. An error from fn is returned as is.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*storage.Client) error) (storage.Client, error) {
	op := fmt.Sprintf("update client %q", id)
	if err := checkKey(op, id); err != nil {
		return storage.Client{}, err
	}
	return updateTx(ctx, s, op, fn,
		func(q *bun.SelectQuery) *bun.SelectQuery { return q.Where("id = ?", id) },
		(*clientRow).client,
		func(r *clientRow, c storage.Client) { c.ID = r.ID; *r = newClientRow(c) })
}

// DeleteClient deletes the client. Its token families stay until they
// expire or are revoked: the caller decides.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete client %q", id)
	if err := checkKey(op, id); err != nil {
		return err
	}
	res, err := s.w.NewDelete().Model((*clientRow)(nil)).Where("id = ?", id).Exec(ctx)
	return expectRows(res, err, op)
}

// TouchClient sets last_used_at unless it is already later.
func (s *Store) TouchClient(ctx context.Context, id string, at time.Time) error {
	op := fmt.Sprintf("touch client %q", id)
	if err := checkKey(op, id); err != nil {
		return nil // no client has such an ID
	}
	_, err := s.w.NewUpdate().Model((*clientRow)(nil)).
		Set("last_used_at = ?", dbTime(at)).
		Where("id = ?", id).
		Where("(last_used_at IS NULL OR last_used_at < ?)", dbTime(at)).
		Exec(ctx)
	if err != nil {
		return translate(op, err)
	}
	return nil
}

// DeleteUnusedRegisteredClients deletes registered clients last used (or
// created, when never used) before before, in one statement.
func (s *Store) DeleteUnusedRegisteredClients(ctx context.Context, before time.Time) ([]string, error) {
	const op = "delete unused registered clients"
	var ids []string
	err := s.w.NewDelete().Model((*clientRow)(nil)).
		Where("registered").
		Where("COALESCE(last_used_at, created_at) < ?", dbTime(before)).
		Returning("id").
		Scan(ctx, &ids)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, translate(op, err)
	}
	return ids, nil
}
