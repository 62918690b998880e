package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

// Audit events (migration 20261205000001): seq orders them as appended and
// is the cursor; id is the event's own.
var schemaAuditUp = []string{
	`CREATE TABLE IF NOT EXISTS audit_events (
		seq {{id}},
		id TEXT NOT NULL,
		"time" {{time}} NOT NULL,
		type TEXT NOT NULL,
		outcome TEXT NOT NULL DEFAULT '',
		actor TEXT NOT NULL DEFAULT '',
		subject TEXT NOT NULL DEFAULT '',
		client_id TEXT NOT NULL DEFAULT '',
		backend TEXT NOT NULL DEFAULT '',
		ip TEXT NOT NULL DEFAULT '',
		user_agent TEXT NOT NULL DEFAULT '',
		detail {{json}}
	)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS audit_events_id ON audit_events (id)`,
	`CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events ("time")`,
	`CREATE INDEX IF NOT EXISTS audit_events_type ON audit_events (type, seq)`,
	`CREATE INDEX IF NOT EXISTS audit_events_subject ON audit_events (subject, seq)`,
	`CREATE TABLE IF NOT EXISTS admin_keys (
		id TEXT PRIMARY KEY,
		hash TEXT NOT NULL,
		name TEXT NOT NULL DEFAULT '',
		created_at {{time}}
	){{without_rowid}}`,
	`CREATE UNIQUE INDEX IF NOT EXISTS admin_keys_hash ON admin_keys (hash)`,
}

var schemaAuditDown = []string{
	`DROP TABLE IF EXISTS admin_keys`,
	`DROP TABLE IF EXISTS audit_events`,
}

type auditRow struct {
	bun.BaseModel `bun:"table:audit_events,alias:a"`

	Seq       int64  `bun:"seq,pk,autoincrement"`
	ID        string `bun:"id"`
	Time      dbTime `bun:"time"`
	Type      string
	Outcome   string
	Actor     string
	Subject   string
	ClientID  string
	Backend   string
	IP        string `bun:"ip"`
	UserAgent string
	Detail    map[string]string
}

func (r *auditRow) event() storage.AuditEvent {
	if len(r.Detail) == 0 {
		r.Detail = nil
	}
	return storage.AuditEvent{
		ID: r.ID, Time: r.Time.Time(), Type: r.Type, Outcome: r.Outcome, Actor: r.Actor,
		Subject: r.Subject, ClientID: r.ClientID, Backend: r.Backend, IP: r.IP,
		UserAgent: r.UserAgent, Detail: r.Detail,
	}
}

// AppendAuditEvent stores an event.
func (s *Store) AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error {
	const op = "append audit event"
	if err := checkText(op, e); err != nil {
		return err
	}
	row := auditRow{
		ID: e.ID, Time: dbTime(e.Time), Type: e.Type, Outcome: e.Outcome, Actor: e.Actor,
		Subject: e.Subject, ClientID: e.ClientID, Backend: e.Backend, IP: e.IP,
		UserAgent: e.UserAgent, Detail: e.Detail,
	}
	_, err := s.w.NewInsert().Model(&row).ExcludeColumn("seq").Exec(ctx)
	return translate(op, err)
}

// auditPageMax is the largest page ListAuditEvents returns.
const auditPageMax = 100

// ListAuditEvents returns a page of events, newest first.
func (s *Store) ListAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, string, error) {
	const op = "list audit events"
	limit := q.Limit
	if limit <= 0 || limit > auditPageMax {
		limit = auditPageMax
	}
	if !storage.ValidText(q.Type, q.Subject, q.ClientID) {
		return nil, "", nil // nothing stored has such a value
	}
	var rows []auditRow
	sel := s.r.NewSelect().Model(&rows)
	if q.Cursor != "" {
		seq, err := strconv.ParseInt(q.Cursor, 10, 64)
		if err != nil || seq <= 0 {
			return nil, "", fmt.Errorf("sqlstore: %s: cursor %q: %w", op, q.Cursor, storage.ErrInvalidInput)
		}
		sel = sel.Where("a.seq < ?", seq)
	}
	if q.Type != "" {
		sel = sel.Where("a.type = ?", q.Type)
	}
	if q.Subject != "" {
		sel = sel.Where("a.subject = ?", q.Subject)
	}
	if q.ClientID != "" {
		sel = sel.Where("a.client_id = ?", q.ClientID)
	}
	if !q.Since.IsZero() {
		sel = sel.Where(`a."time" >= ?`, dbTime(q.Since))
	}
	// One more than the page tells whether there is a next page.
	if err := sel.Order("a.seq DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, "", translate(op, err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = strconv.FormatInt(rows[limit-1].Seq, 10)
	}
	out := make([]storage.AuditEvent, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out, next, nil
}

// PurgeAuditEvents deletes events older than before.
func (s *Store) PurgeAuditEvents(ctx context.Context, before time.Time) (int, error) {
	const op = "purge audit events"
	res, err := s.w.NewDelete().Model((*auditRow)(nil)).Where(`"time" < ?`, dbTime(before)).Exec(ctx)
	if err != nil {
		return 0, translate(op, err)
	}
	return affected(res, op)
}

type adminKeyRow struct {
	bun.BaseModel `bun:"table:admin_keys,alias:k"`

	ID        string `bun:"id,pk"`
	Hash      string
	Name      string
	CreatedAt dbTime
}

func (r *adminKeyRow) key() storage.AdminKey {
	return storage.AdminKey{ID: r.ID, Hash: r.Hash, Name: r.Name, CreatedAt: r.CreatedAt.Time()}
}

// CreateAdminKey stores an admin API key.
func (s *Store) CreateAdminKey(ctx context.Context, k storage.AdminKey) error {
	const op = "create admin key"
	if err := checkText(op, k); err != nil {
		return err
	}
	row := adminKeyRow{ID: k.ID, Hash: k.Hash, Name: k.Name, CreatedAt: dbTime(k.CreatedAt)}
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// AdminKey looks a key up by its hash.
func (s *Store) AdminKey(ctx context.Context, hash string) (storage.AdminKey, error) {
	const op = "get admin key"
	if err := checkKey(op, hash); err != nil {
		return storage.AdminKey{}, err
	}
	var row adminKeyRow
	if err := s.r.NewSelect().Model(&row).Where("k.hash = ?", hash).Scan(ctx); err != nil {
		return storage.AdminKey{}, translate(op, err)
	}
	return row.key(), nil
}

// ListAdminKeys returns every key, newest first.
func (s *Store) ListAdminKeys(ctx context.Context) ([]storage.AdminKey, error) {
	var rows []adminKeyRow
	if err := s.r.NewSelect().Model(&rows).Order("k.created_at DESC", "k.id").Scan(ctx); err != nil {
		return nil, translate("list admin keys", err)
	}
	out := make([]storage.AdminKey, len(rows))
	for i := range rows {
		out[i] = rows[i].key()
	}
	return out, nil
}

// DeleteAdminKey deletes a key by ID.
func (s *Store) DeleteAdminKey(ctx context.Context, id string) error {
	const op = "delete admin key"
	if err := checkKey(op, id); err != nil {
		return err
	}
	res, err := s.w.NewDelete().Model((*adminKeyRow)(nil)).Where("id = ?", id).Exec(ctx)
	return expectRows(res, err, op)
}
