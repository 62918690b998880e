package sqlstore

import (
	"context"
	"database/sql/driver"
	"fmt"
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
	ms.Add(goMigration(pg, "20251130000010", "personal_tokens", schemaPersonalTokensUp, schemaPersonalTokensDown))
	return ms
}

// goMigration runs the statements of each direction in one transaction, so a
// failed migration leaves nothing half-made (both dialects have
// transactional DDL).
func goMigration(pg bool, name, comment string, up, down []string) migrate.Migration {
	run := func(stmts []string) func(context.Context, *migrate.Migrator, *migrate.Migration) error {
		return func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
			return m.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				for _, q := range ddl(pg, stmts) {
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
			return fmt.Errorf("sqlstore: migrate: %w", err)
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
			return fmt.Errorf("sqlstore: roll back migrations: %w", err)
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
		return nil, fmt.Errorf("sqlstore: migration status: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migration status: %w", err)
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
			return fmt.Errorf("sqlstore: init migrations: %w", err)
		}
		return fn(m)
	}
	if !s.pg {
		return run()
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migration lock: %w", err)
	}
	defer conn.Close()
	const key = "hashtext(current_schema() || '." + migrationsTable + "')"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		return fmt.Errorf("sqlstore: migration lock: %w", err)
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
