package sqlstore_test

import (
	"testing"

	"github.com/latchkey-auth/latchkey/storage"
)

func TestPeekTmp(t *testing.T) {
	s := openSQLite(t)
	u := storage.User{Username: "Bob", Email: "B@x.org", Profile: map[string]any{"a": 1.0}}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	rows, err := s.DB().QueryContext(t.Context(), "SELECT id, username_norm, email_norm, search_text, typeof(date_joined), profile, typeof(is_active) FROM users")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var a, b, c, d, e, f any
		rows.Scan(&id, &a, &b, &c, &d, &e, &f)
		t.Logf("%d %v %v %q %v %s %v", id, a, b, c, d, e, f)
	}
	var mode string
	s.DB().QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode)
	var fk, sync int
	s.DB().QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk)
	s.DB().QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&sync)
	t.Logf("journal=%s fk=%d sync=%d", mode, fk, sync)
}
