package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for the admin connection

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// opener returns a fresh, empty store; migrated says whether it is migrated.
type opener func(tb testing.TB, migrated bool) *sqlstore.Store

// openSQLite opens a new database file, in a directory Open must create.
func openSQLite(tb testing.TB, migrated bool) *sqlstore.Store {
	tb.Helper()
	return openStore(tb, sqlstore.Options{Driver: "sqlite", DSN: filepath.Join(tb.TempDir(), "data", "latchkey.db")}, migrated)
}

func openStore(tb testing.TB, opts sqlstore.Options, migrated bool) *sqlstore.Store {
	tb.Helper()
	s, err := sqlstore.Open(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	if migrated {
		if err := s.Migrate(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// postgres returns an opener giving each store its own schema, or skips (or
// fails, when services are required) without LATCHKEY_TEST_POSTGRES_DSN.
func postgres(tb testing.TB) opener {
	tb.Helper()
	dsn := storagetest.RequireService(tb, "the Postgres suite", "LATCHKEY_TEST_POSTGRES_DSN")
	// Throwaway schemas need no durability: skipping the commit flush makes
	// the per-test schema and migrations several times faster.
	dsn = withParam(tb, dsn, "synchronous_commit", "off")
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = admin.Close() })
	return func(tb testing.TB, migrated bool) *sqlstore.Store {
		tb.Helper()
		return openStore(tb, sqlstore.Options{Driver: "postgres", DSN: freshSchema(tb, admin, dsn), MaxConns: 8}, migrated)
	}
}

// freshSchema creates a uniquely named schema, drops it at cleanup, and
// returns dsn with search_path set to it.
func freshSchema(tb testing.TB, admin *sql.DB, dsn string) string {
	tb.Helper()
	schema := "lk_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatal(err)
	}
	// Registered before the store's Close, so it runs after it.
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	return withParam(tb, dsn, "search_path", schema)
}

// withParam sets a connection parameter in a URL or key=value DSN.
func withParam(tb testing.TB, dsn, key, value string) string {
	tb.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " " + key + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func runSuites(t *testing.T, open opener) {
	o := func(t *testing.T) *sqlstore.Store { return open(t, true) }
	t.Run("Users", func(t *testing.T) {
		storagetest.RunUsers(t, func(t *testing.T) storage.Users { return o(t) })
	})
	t.Run("Groups", func(t *testing.T) {
		storagetest.RunGroups(t, func(t *testing.T) storagetest.GroupsAndUsers { return o(t) })
	})
	t.Run("Clients", func(t *testing.T) {
		storagetest.RunClients(t, func(t *testing.T) storage.Clients { return o(t) })
	})
	t.Run("Keys", func(t *testing.T) {
		storagetest.RunKeys(t, func(t *testing.T) storage.Keys { return o(t) })
	})
	t.Run("Tokens", func(t *testing.T) {
		storagetest.RunTokens(t, func(t *testing.T) storage.Tokens { return o(t) })
	})
	t.Run("PersonalTokens", func(t *testing.T) {
		storagetest.RunPersonalTokens(t, func(t *testing.T) storagetest.PersonalTokensAndUsers { return o(t) })
	})
	t.Run("Attempts", func(t *testing.T) {
		storagetest.RunAttempts(t, func(t *testing.T) storage.Attempts { return o(t) })
	})
	t.Run("Consents", func(t *testing.T) {
		storagetest.RunConsents(t, func(t *testing.T) storagetest.ConsentsAndClients { return o(t) })
	})
	t.Run("Identities", func(t *testing.T) {
		storagetest.RunIdentities(t, func(t *testing.T) storagetest.IdentitiesAndUsers { return o(t) })
	})
	t.Run("AuditEvents", func(t *testing.T) {
		storagetest.RunAuditEvents(t, func(t *testing.T) storage.AuditEvents { return o(t) })
	})
	t.Run("AdminKeys", func(t *testing.T) {
		storagetest.RunAdminKeys(t, func(t *testing.T) storage.AdminKeys { return o(t) })
	})
	t.Run("InitialAccessTokens", func(t *testing.T) {
		storagetest.RunInitialAccessTokens(t, func(t *testing.T) storage.InitialAccessTokens { return o(t) })
	})
	t.Run("Import", func(t *testing.T) {
		storagetest.RunImport(t, func(t *testing.T) storagetest.ImportStore { return o(t) })
	})
}

func TestSQLite(t *testing.T) { runSuites(t, openSQLite) }

func TestPostgres(t *testing.T) { runSuites(t, postgres(t)) }

// bothDialects runs fn on SQLite and, when configured, Postgres.
func bothDialects(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgres(t)) })
}

func TestMigrateDownAndUpAgain(t *testing.T) {
	bothDialects(t, func(t *testing.T, open opener) {
		ctx := t.Context()
		s := open(t, false)
		wantStatus(t, s, false, 0)
		must(t, s.Migrate(ctx))
		wantStatus(t, s, true, 1)
		must(t, s.Migrate(ctx)) // nothing left to do
		wantStatus(t, s, true, 1)
		must(t, s.CreateClient(ctx, storage.Client{ID: "web"}))

		must(t, s.MigrateDown(ctx))
		wantStatus(t, s, false, 0)
		if _, err := s.GetClient(ctx, "web"); err == nil || errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetClient after MigrateDown: %v, want a missing-table error", err)
		}

		must(t, s.Migrate(ctx))
		wantStatus(t, s, true, 1)
		must(t, s.CreateClient(ctx, storage.Client{ID: "web"}))
		if _, err := s.GetClient(ctx, "web"); err != nil {
			t.Fatal(err)
		}
	})
}

func wantStatus(t *testing.T, s *sqlstore.Store, applied bool, group int64) {
	t.Helper()
	ms, err := s.MigrationStatus(t.Context())
	must(t, err)
	if len(ms) < 3 {
		t.Fatalf("MigrationStatus lists %d migrations, want at least 3", len(ms))
	}
	for i, m := range ms {
		if m.Applied != applied || m.GroupID != group || m.MigratedAt.IsZero() == applied {
			t.Errorf("migration %s: %+v, want applied=%v group=%d", m.Name, m, applied, group)
		}
		if i > 0 && ms[i-1].Name >= m.Name {
			t.Errorf("migrations out of order: %s before %s", ms[i-1].Name, m.Name)
		}
	}
}

func TestMigrateIsSafeFromTwoInstancesAtOnce(t *testing.T) {
	bothDialects(t, func(t *testing.T, open opener) {
		a := open(t, false)
		b := reopen(t, a, open)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*sqlstore.Store{a, b} {
			wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
		}
		wg.Wait()
		must(t, errors.Join(errs...))
		wantStatus(t, a, true, 1)
	})
}

// reopen opens a second Store on the same database as s: another instance.
func reopen(t *testing.T, s *sqlstore.Store, open opener) *sqlstore.Store {
	t.Helper()
	var opts sqlstore.Options
	if s.Dialect() == "sqlite" {
		var file string
		if err := s.DB().QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
			t.Fatal(err)
		}
		opts = sqlstore.Options{Driver: "sqlite", DSN: file}
	} else {
		var schema string
		if err := s.DB().QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		dsn := withParam(t, os.Getenv("LATCHKEY_TEST_POSTGRES_DSN"), "search_path", schema)
		opts = sqlstore.Options{Driver: "postgres", DSN: dsn}
	}
	return openStore(t, opts, false)
}

// Two instances rotating the signing key at once: exactly one rotates.
func TestKeyRotationRaceBetweenInstances(t *testing.T) {
	bothDialects(t, func(t *testing.T, open opener) {
		a := open(t, true)
		b := reopen(t, a, open)
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		must(t, rotateKey(t, a, "k0", base, time.Time{}))
		now := base.Add(100 * 24 * time.Hour)
		cutoff := now.Add(-90 * 24 * time.Hour)
		for round := range 5 {
			now, cutoff = now.Add(100*24*time.Hour), cutoff.Add(100*24*time.Hour)
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range 8 {
				s := []*sqlstore.Store{a, b}[i%2]
				wg.Go(func() {
					ok, err := s.RotateKey(t.Context(), storage.SigningKey{
						ID: fmt.Sprintf("k%d-%d", round, i), Algorithm: "ES256", CreatedAt: now,
					}, now, now.Add(time.Hour), cutoff)
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins.Add(1)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("round %d: %d instances rotated, want 1", round, wins.Load())
			}
		}
		keys, err := a.ListKeys(t.Context())
		must(t, err)
		signing := 0
		for _, k := range keys {
			if k.RetiredAt.IsZero() {
				signing++
			}
		}
		if signing != 1 {
			t.Fatalf("%d signing keys, want 1", signing)
		}
	})
}

func rotateKey(t *testing.T, s *sqlstore.Store, id string, now, cutoff time.Time) error {
	t.Helper()
	_, err := s.RotateKey(t.Context(), storage.SigningKey{ID: id, Algorithm: "ES256", CreatedAt: now}, now, now.Add(time.Hour), cutoff)
	return err
}

// Many writers on one store, and a second store on the same file, never see
// SQLITE_BUSY: the single writer queues them and BEGIN IMMEDIATE plus the
// busy timeout cover the other instance.
func TestConcurrentWritersNeverFail(t *testing.T) {
	bothDialects(t, func(t *testing.T, open opener) {
		a := open(t, true)
		b := reopen(t, a, open)
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		for i := range 32 {
			s := []*sqlstore.Store{a, b}[i%2]
			wg.Go(func() {
				if err := writeSome(t.Context(), s, i, base); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		n, err := a.CountUsers(t.Context())
		must(t, err)
		if n != 32 {
			t.Fatalf("%d users, want 32", n)
		}
	})
}

func writeSome(ctx context.Context, s *sqlstore.Store, i int, now time.Time) error {
	u := storage.User{Username: fmt.Sprintf("user%d", i), DateJoined: now}
	if err := s.CreateUser(ctx, &u); err != nil {
		return err
	}
	if _, err := s.UpdateUser(ctx, u.ID, func(u *storage.User) error { u.IsActive = true; return nil }); err != nil {
		return err
	}
	fam := fmt.Sprintf("fam%d", i)
	tok := storage.RefreshToken{Hash: fam + "-0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateFamily(ctx, storage.Family{ID: fam, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, tok); err != nil {
		return err
	}
	for j := range 10 {
		next := storage.RefreshToken{Hash: fmt.Sprintf("%s-%d", fam, j+1), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		ref := storage.TokenRef{FamilyID: fam, Generation: int64(j), Hash: fmt.Sprintf("%s-%d", fam, j)}
		if _, err := s.Rotate(ctx, ref, "", next, storage.Rotation{Now: now}); err != nil {
			return err
		}
	}
	return nil
}

func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "latchkey.db")
	s := openStore(t, sqlstore.Options{Driver: "sqlite", DSN: path}, true)
	fi, err := os.Stat(path)
	must(t, err)
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode %v, want no access for group and others", perm)
	}
	must(t, s.Ping(t.Context()))
	if s.Dialect() != "sqlite" || s.DB() == nil {
		t.Errorf("Dialect() = %q, DB() = %v", s.Dialect(), s.DB())
	}
	var mode string
	must(t, s.DB().QueryRow("PRAGMA journal_mode").Scan(&mode))
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, opts := range []sqlstore.Options{
		{Driver: "mysql", DSN: "x"},
		{Driver: "", DSN: "x"},
		{Driver: "sqlite", DSN: ""},
		{Driver: "sqlite", DSN: ":memory:"},
		{Driver: "sqlite", DSN: "file:x.db?mode=memory"},
		{Driver: "postgres", DSN: "postgres://%zz"},
	} {
		if s, err := sqlstore.Open(t.Context(), opts); err == nil {
			_ = s.Close()
			t.Errorf("Open(%+v) succeeded", opts)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Benchmarks of the hot paths on the embedded default.

func BenchmarkRotateSQLite(b *testing.B) {
	s := openSQLite(b, true)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	newChain := func(id string) string {
		first := storage.RefreshToken{Hash: id + "-0", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		fam := storage.Family{ID: id, ClientID: "web", Subject: "1", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		must(b, s.CreateFamily(b.Context(), fam, first))
		return first.Hash
	}
	rotate := func(id string, hash *string, i int) {
		next := storage.RefreshToken{Hash: fmt.Sprintf("%s-%d", id, i), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		ref := storage.TokenRef{FamilyID: id, Generation: int64(i - 1), Hash: *hash}
		if _, err := s.Rotate(b.Context(), ref, "", next, storage.Rotation{Now: now}); err != nil {
			b.Fatal(err)
		}
		*hash = next.Hash
	}
	b.Run("serial", func(b *testing.B) {
		id := "serial-" + uuid.NewString()
		hash := newChain(id)
		b.ReportAllocs()
		for i := 1; b.Loop(); i++ {
			rotate(id, &hash, i)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			id := uuid.NewString()
			hash := newChain(id)
			for i := 1; pb.Next(); i++ {
				rotate(id, &hash, i)
			}
		})
	})
}

func BenchmarkRevokedSQLite(b *testing.B) {
	s := openSQLite(b, true)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		id := fmt.Sprintf("fam%d", i)
		first := storage.RefreshToken{Hash: id, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		must(b, s.CreateFamily(b.Context(), storage.Family{ID: id, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, first))
		must(b, s.RevokeAccessToken(b.Context(), fmt.Sprintf("jti%d", i), now.Add(time.Hour)))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			// Mostly the common answer: a live token, not revoked.
			c := storage.RevocationCheck{JTI: fmt.Sprintf("other%d", i%1000), FamilyID: fmt.Sprintf("fam%d", i%1000)}
			if _, err := s.Revoked(b.Context(), c, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetClientSQLite(b *testing.B) {
	s := openSQLite(b, true)
	for i := range 100 {
		must(b, s.CreateClient(b.Context(), storage.Client{
			ID: fmt.Sprintf("client%d", i), Name: "Client", RedirectURIs: []string{"https://app.example/cb"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			Scope: "openid profile", TokenEndpointAuthMethod: "client_secret_basic", AccessTokenFormat: "jwt",
		}))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := s.GetClient(b.Context(), fmt.Sprintf("client%d", i%100)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A database imported before users had a permissions column kept a user's
// own Django permissions in profile.django_permissions: migration
// 20261206000201 moves them into the column, and its rollback moves them
// back.
func TestMigrationMovesDjangoPermissionsOutOfTheProfile(t *testing.T) {
	bothDialects(t, func(t *testing.T, open opener) {
		ctx := t.Context()
		s := open(t, true)
		u := storage.User{Username: "imported", IsActive: true, Profile: map[string]any{
			"django_permissions": []any{"shop.view_order", "shop.add_order"}, "department": "sales",
		}}
		must(t, s.CreateUser(ctx, &u))
		plain := storage.User{Username: "plain", IsActive: true, Profile: map[string]any{"department": "it"}}
		must(t, s.CreateUser(ctx, &plain))
		// The database as it was before the migration.
		for _, q := range []string{
			"DELETE FROM latchkey_migrations WHERE name = '20261206000201'",
			"ALTER TABLE users DROP COLUMN permissions",
		} {
			if _, err := s.DB().ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		must(t, s.Migrate(ctx))
		got, err := s.GetUser(ctx, u.ID)
		must(t, err)
		if !slices.Equal(got.Permissions, []string{"shop.add_order", "shop.view_order"}) {
			t.Errorf("permissions after the migration: %v", got.Permissions)
		}
		if len(got.Profile) != 1 || got.Profile["department"] != "sales" {
			t.Errorf("profile after the migration: %v", got.Profile)
		}
		other, err := s.GetUser(ctx, plain.ID)
		must(t, err)
		if other.Permissions != nil || other.Profile["department"] != "it" {
			t.Errorf("a user without django_permissions changed: %+v", other)
		}

		must(t, s.MigrateDown(ctx)) // only this migration's group
		var profile string
		if err := s.DB().QueryRowContext(ctx, "SELECT profile FROM users WHERE username = 'imported'").Scan(&profile); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(profile, "django_permissions") || !strings.Contains(profile, "shop.view_order") {
			t.Errorf("profile after the rollback: %s", profile)
		}
	})
}
