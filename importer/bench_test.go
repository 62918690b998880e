package importer_test

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey-auth/latchkey/importer"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// writeDump writes a dumpdata file of n users in two groups, with hashes in
// Django's format (copied, never computed, by the import).
func writeDump(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "dump.json")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprint(w, `[{"model": "contenttypes.contenttype", "pk": 1, "fields": {"app_label": "store", "model": "product"}},
{"model": "auth.permission", "pk": 1, "fields": {"name": "Can view product", "content_type": 1, "codename": "view_product"}},
{"model": "auth.group", "pk": 1, "fields": {"name": "Customers", "permissions": [1]}},
{"model": "auth.group", "pk": 2, "fields": {"name": "Staff", "permissions": []}}`)
	for i := range n {
		groups := "[1]"
		if i%10 == 0 {
			groups = "[1, 2]"
		}
		fmt.Fprintf(w, `,
{"model": "auth.user", "pk": %d, "fields": {"password": "pbkdf2_sha256$260000$salt%d$bhQgEOaKyCXELOTSQhkFDXgXOSiN3gI0oX344yRecAs=", "last_login": null, "is_superuser": false, "username": "user%07d", "first_name": "First", "last_name": "Last", "email": "user%07d@example.com", "is_staff": false, "is_active": true, "date_joined": "2020-01-02T03:04:05.678901Z", "groups": %s, "user_permissions": []}}`,
			i+1, i, i, i, groups)
	}
	fmt.Fprint(w, "]\n")
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkImport100kUsers imports 100,000 users on the embedded SQLite
// and on Postgres, and reports users per minute:
//
//	go test -run '^$' -bench BenchmarkImport100kUsers -benchtime 1x ./importer/
func BenchmarkImport100kUsers(b *testing.B) {
	const users = 100_000
	dump := writeDump(b, users)
	open := map[string]func(b *testing.B) *sqlstore.Store{
		"sqlite": func(b *testing.B) *sqlstore.Store {
			return openBench(b, sqlstore.Options{Driver: "sqlite", DSN: filepath.Join(b.TempDir(), "latchkey.db")})
		},
		"postgres": func(b *testing.B) *sqlstore.Store {
			dsn := storagetest.RequireService(b, "the Postgres benchmark", "LATCHKEY_TEST_POSTGRES_DSN")
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				b.Fatal(err)
			}
			schema := "lk_bench_" + strings.ReplaceAll(uuid.NewString(), "-", "")
			if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE"); db.Close() })
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			return openBench(b, sqlstore.Options{Driver: "postgres", DSN: dsn + sep + "search_path=" + schema})
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				store := open[name](b)
				b.StartTimer()
				start := time.Now()
				sum, err := importer.ImportFile(b.Context(), store, dump, importer.Options{})
				if err != nil || sum.Created != users {
					b.Fatalf("import: %v (%+v)", err, sum)
				}
				b.ReportMetric(users/time.Since(start).Minutes(), "users/min")
			}
		})
	}
}

func openBench(b *testing.B, opts sqlstore.Options) *sqlstore.Store {
	b.Helper()
	s, err := sqlstore.Open(b.Context(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	return s
}
