package sqlstore_test

import (
	"path/filepath"
	"testing"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

func openSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "db", "latchkey.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSQLite(t *testing.T) {
	t.Run("Users", func(t *testing.T) { storagetest.RunUsers(t, func(t *testing.T) storage.Users { return openSQLite(t) }) })
	t.Run("Groups", func(t *testing.T) {
		storagetest.RunGroups(t, func(t *testing.T) storagetest.GroupsAndUsers { return openSQLite(t) })
	})
	t.Run("Clients", func(t *testing.T) { storagetest.RunClients(t, func(t *testing.T) storage.Clients { return openSQLite(t) }) })
	t.Run("Keys", func(t *testing.T) { storagetest.RunKeys(t, func(t *testing.T) storage.Keys { return openSQLite(t) }) })
	t.Run("Tokens", func(t *testing.T) { storagetest.RunTokens(t, func(t *testing.T) storage.Tokens { return openSQLite(t) }) })
}
