package sqlstore

import (
	"context"
	"database/sql/driver"
	"regexp"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// MigrationInfo is one migration and whether it is applied.
type MigrationInfo struct {
	Name       string // the ordering key, a timestamp
	Comment    string // what it does
	Applied    bool
	GroupID    int64 // the Migrate call that applied it; 0 when not applied
	MigratedAt time.Time
}

// Bookkeeping tables, named after us so they cannot clash with another bun
// application sharing the database.
const (
	migrationsTable     = "latchkey_migrations"
	migrationLocksTable = "latchkey_migration_locks"
)

// migrations lists every schema change in order. It is built per call rather
// than registered into a package-level collection at init.
func migrations(pg bool) *migrate.Migrations {
	ms := migrate.NewMigrations()
	ms.Add(goMigration(pg, "20250601000001", "users_and_groups", schemaUsersUp, schemaUsersDown))
	ms.Add(goMigration(pg, "20250601000002", "clients_and_keys", schemaClientsUp, schemaClientsDown))
	ms.Add(goMigration(pg, "20250601000003", "tokens", schemaTokensUp, schemaTokensDown))
	ms.Add(goMigration(pg, "20251125000001", "refresh_token_in_family", schemaRefreshInFamilyUp, schemaRefreshInFamilyDown))
	ms.Add(goMigration(pg, "20251130000010", "personal_tokens", schemaPersonalTokensUp, schemaPersonalTokensDown))
	ms.Add(goMigration(pg, "20251130000020", "login_attempts", schemaAttemptsUp, schemaAttemptsDown))
	ms.Add(goMigration(pg, "20251130000031", "codes_and_login_sessions", schemaCodesUp, schemaCodesDown))
	ms.Add(goMigration(pg, "20251130000041", "subject_revocations", schemaSubjectRevocationsUp, schemaSubjectRevocationsDown))
	ms.Add(goMigration(pg, "20251205000001", "refresh_rotation_grace", schemaRotationGraceUp, schemaRotationGraceDown))
	ms.Add(goMigration(pg, "20251205000002", "consents", schemaConsentsUp, schemaConsentsDown))
	ms.Add(goMigration(pg, "20261205000001", "audit_events_and_admin_keys", schemaAuditUp, schemaAuditDown))
	ms.Add(goMigration(pg, "20261206000101", "client_skip_consent", schemaSkipConsentUp, schemaSkipConsentDown))
	ms.Add(goMigration(pg, "20261206000201", "user_permissions", schemaUserPermissionsUp(pg), schemaUserPermissionsDown(pg)))
	ms.Add(goMigration(pg, "20261206000401", "device_codes", schemaDeviceCodesUp, schemaDeviceCodesDown))
	ms.Add(goMigration(pg, "20261206000501", "client_registration", schemaRegistrationUp, schemaRegistrationDown))
	ms.Add(goMigration(pg, "20261206000601", "identities", schemaIdentitiesUp, schemaIdentitiesDown))
	ms.Add(goMigration(pg, "20261206000701", "resource_indicators", schemaResourceUp, schemaResourceDown))
	return ms
}

// Per-subject revocation marks (migration 20251130000041): every access
// token of the subject issued before "before" is revoked; the row may go
// once "until" has passed (Tokens.RevokeSubjectTokensBefore).
var schemaSubjectRevocationsUp = []string{
	`CREATE TABLE IF NOT EXISTS subject_revocations (
		subject TEXT PRIMARY KEY,
		"before" {{time}} NOT NULL,
		"until" {{time}} NOT NULL
	){{without_rowid}}`,
	`CREATE INDEX IF NOT EXISTS subject_revocations_until ON subject_revocations ("until")`,
}

var schemaSubjectRevocationsDown = []string{
	`DROP TABLE IF EXISTS subject_revocations`,
}

// goMigration runs the statements of each direction in one transaction, so a
// failed migration leaves nothing half-made (both dialects have
// transactional DDL).
//
// Two processes starting on one SQLite file may both run a migration (see
// withMigrationLock), so every statement must be idempotent: CREATE ... IF
// NOT EXISTS, DROP ... IF EXISTS, and ALTER TABLE ... ADD COLUMN IF NOT
// EXISTS / DROP COLUMN IF EXISTS, which Postgres has and sqliteStatement
// emulates. On SQLite the transaction first takes the write lock, so the
// emulation's check and its change see the same database.
func goMigration(pg bool, name, comment string, up, down []string) migrate.Migration {
	run := func(stmts []string) func(context.Context, *migrate.Migrator, *migrate.Migration) error {
		return func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
			return m.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				if !pg {
					// A write that changes nothing takes the write lock.
					if _, err := tx.ExecContext(ctx, "DELETE FROM "+migrationLocksTable+" WHERE 0"); err != nil {
						return err
					}
				}
				for _, q := range ddl(pg, stmts) {
					if !pg {
						var err error
						if q, err = sqliteStatement(ctx, tx, q); err != nil || q == "" {
							if err != nil {
								return err
							}
							continue
						}
					}
					if _, err := tx.ExecContext(ctx, q); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	return migrate.Migration{Name: name, Comment: comment, Up: run(up), Down: run(down)}
}

// alterColumn matches ALTER TABLE <table> ADD COLUMN IF NOT EXISTS <column>
// and ALTER TABLE <table> DROP COLUMN IF EXISTS <column>.
var alterColumn = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+(\w+)\s+(ADD|DROP)\s+COLUMN\s+(IF\s+(?:NOT\s+)?EXISTS)\s+(\w+)(.*)$`)

// sqliteStatement rewrites the ALTER TABLE ... IF [NOT] EXISTS forms SQLite
// lacks: it returns the statement without the clause when it has work to
// do, and "" when the column already is (or is not) there.
func sqliteStatement(ctx context.Context, tx bun.Tx, q string) (string, error) {
	m := alterColumn.FindStringSubmatch(q)
	if m == nil {
		return q, nil
	}
	table, op, column, rest := m[1], strings.ToUpper(m[2]), m[4], m[5]
	var n int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?", table, column).Scan(&n)
	if err != nil {
		return "", err
	}
	if (op == "ADD") == (n > 0) {
		return "", nil
	}
	return "ALTER TABLE " + table + " " + op + " COLUMN " + column + rest, nil
}

func (s *Store) migrator() *migrate.Migrator {
	return migrate.NewMigrator(s.w, migrations(s.pg),
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(migrationLocksTable),
		// Mark a migration applied only once it has committed, so a failed
		// one is retried rather than recorded as done.
		migrate.WithMarkAppliedOnSuccess(true),
		// Upsert on a unique name: two processes racing on one SQLite
		// file cannot record a migration twice.
		migrate.WithUpsert(true),
	)
}

// Migrate applies every pending migration as one group.
func (s *Store) Migrate(ctx context.Context) error {
	return s.withMigrationLock(ctx, func(m *migrate.Migrator) error {
		group, err := m.Migrate(ctx)
		if err != nil {
			return translate("migrate", err)
		}
		if !group.IsZero() {
			s.log.InfoContext(ctx, "database migrated", "group", group.ID, "migrations", group.Migrations.String())
		}
		return nil
	})
}

// MigrateDown rolls back the last group of migrations.
func (s *Store) MigrateDown(ctx context.Context) error {
	return s.withMigrationLock(ctx, func(m *migrate.Migrator) error {
		group, err := m.Rollback(ctx)
		if err != nil {
			return translate("roll back migrations", err)
		}
		if !group.IsZero() {
			s.log.InfoContext(ctx, "database rolled back", "group", group.ID, "migrations", group.Migrations.String())
		}
		return nil
	})
}

// MigrationStatus lists every migration in order with its state. It creates
// the (empty) bookkeeping tables if they are missing.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationInfo, error) {
	m := s.migrator()
	if err := m.Init(ctx); err != nil {
		return nil, translate("migration status", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, translate("migration status", err)
	}
	out := make([]MigrationInfo, len(ms))
	for i, mg := range ms {
		out[i] = MigrationInfo{
			Name:       mg.Name,
			Comment:    mg.Comment,
			Applied:    mg.IsApplied(),
			GroupID:    mg.GroupID,
			MigratedAt: mg.MigratedAt.UTC(),
		}
		if !out[i].Applied {
			out[i].MigratedAt = time.Time{}
		}
	}
	return out, nil
}

// withMigrationLock runs fn with the migrator, holding on Postgres a session
// advisory lock (per schema) so instances starting together migrate one after
// the other; the second then finds nothing to do. SQLite's writers are
// serialized by the database lock and the upserted bookkeeping.
func (s *Store) withMigrationLock(ctx context.Context, fn func(*migrate.Migrator) error) error {
	m := s.migrator()
	run := func() error {
		if err := m.Init(ctx); err != nil {
			return translate("init migrations", err)
		}
		return fn(m)
	}
	if !s.pg {
		unlock, err := s.sqliteMigrationLock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		return run()
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return translate("migration lock", err)
	}
	defer conn.Close()
	const key = "hashtext(current_schema() || '." + migrationsTable + "')"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		return translate("migration lock", err)
	}
	defer func() {
		// A fresh context: ctx may be what ended run. If the unlock fails,
		// drop the session rather than pool it with the lock still held.
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+key+")")
		if err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return run()
}
