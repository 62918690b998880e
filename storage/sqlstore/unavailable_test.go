package sqlstore_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
)

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("%s: %v, want ErrUnavailable", what, err)
	}
}

// A store whose database is gone (here: closed) answers ErrUnavailable
// from every kind of method: plain and hot reads, writes, transactions,
// the rotation batcher, purges.
func TestClosedStoreIsUnavailable(t *testing.T) {
	bothDialects(t, func(t *testing.T, open opener) {
		s := open(t, true)
		ctx := t.Context()
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		u := storage.User{Username: "ada", DateJoined: now}
		must(t, s.CreateUser(ctx, &u))
		must(t, s.CreateClient(ctx, storage.Client{ID: "web"}))
		tok := storage.RefreshToken{Hash: "h0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		must(t, s.CreateFamily(ctx, storage.Family{ID: "f", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, tok))
		must(t, s.Close())

		calls := map[string]func() error{
			"Ping":       func() error { return s.Ping(ctx) },
			"GetUser":    func() error { _, err := s.GetUser(ctx, u.ID); return err },
			"GetClient":  func() error { _, err := s.GetClient(ctx, "web"); return err },
			"GetGroup":   func() error { _, err := s.GetGroup(ctx, "g"); return err },
			"ListUsers":  func() error { _, _, err := s.ListUsers(ctx, storage.UserQuery{Search: "a"}); return err },
			"CreateUser": func() error { v := storage.User{Username: "b"}; return s.CreateUser(ctx, &v) },
			"UpdateUser": func() error {
				_, err := s.UpdateUser(ctx, u.ID, func(*storage.User) error { return nil })
				return err
			},
			"SetUserGroups": func() error { return s.SetUserGroups(ctx, u.ID, nil) },
			"RotateKey": func() error {
				_, err := s.RotateKey(ctx, storage.SigningKey{ID: "k"}, now, now, time.Time{})
				return err
			},
			"Rotate": func() error {
				_, err := s.Rotate(ctx, storage.TokenRef{FamilyID: "f", Hash: "h0"}, "", storage.RefreshToken{Hash: "h1"}, storage.Rotation{Now: now})
				return err
			},
			"Revoked": func() error {
				_, err := s.Revoked(ctx, storage.RevocationCheck{JTI: "j", FamilyID: "f"}, now)
				return err
			},
			"FailAttempt": func() error {
				_, err := s.FailAttempt(ctx, "k", storage.AttemptLimit{Failures: 1}, now)
				return err
			},
			"CreateCode": func() error { return s.CreateCode(ctx, storage.Code{Hash: "c", ExpiresAt: now}) },
			"GetLogin":   func() error { _, err := s.GetLogin(ctx, "l", now); return err },
			"Purge":      func() error { _, err := s.Purge(ctx, now); return err },
			"Migrate":    func() error { return s.Migrate(ctx) },
		}
		for name, call := range calls {
			wantUnavailable(t, name, call())
		}
		if err := s.Close(); err != nil {
			t.Errorf("a second Close: %v", err)
		}
	})
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	must(t, ln.Close())
	return addr
}

// silentServer accepts connections and never answers: a hung database.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// A Postgres that refuses connections or never answers is ErrUnavailable,
// quickly, from the first call on (Open pings).
func TestUnreachablePostgresIsUnavailable(t *testing.T) {
	for name, addr := range map[string]func(*testing.T) string{
		"connection refused": closedPort,
		"no answer":          silentServer,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			s, err := sqlstore.Open(ctx, sqlstore.Options{Driver: "postgres", DSN: "postgres://postgres@" + addr(t) + "/test?sslmode=disable"})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			wantUnavailable(t, "Open", err)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("failing took %v", d)
			}
		})
	}
}

// Another process holding the SQLite write lock past the request's
// deadline makes a write ErrUnavailable when the deadline comes.
func TestSQLiteWriterHeldPastTheDeadlineIsUnavailable(t *testing.T) {
	a := openSQLite(t, true)
	b := reopen(t, a, openSQLite)
	conn, err := b.DB().Conn(t.Context())
	must(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(t.Context(), "BEGIN IMMEDIATE")
	must(t, err)
	defer func() { _, _ = conn.ExecContext(context.Background(), "ROLLBACK") }()

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	wantUnavailable(t, "CreateClient", a.CreateClient(ctx, storage.Client{ID: "web"}))
}

// A row lock held past Postgres' lock_timeout (SQLSTATE 55P03) makes an
// update ErrUnavailable.
func TestPostgresLockTimeoutIsUnavailable(t *testing.T) {
	a := postgres(t)(t, true)
	ctx := t.Context()
	u := storage.User{Username: "ada"}
	must(t, a.CreateUser(ctx, &u))
	var schema string
	must(t, a.DB().QueryRow("SELECT current_schema()").Scan(&schema))
	dsn := withParam(t, os.Getenv("LATCHKEY_TEST_POSTGRES_DSN"), "search_path", schema)
	b := openStore(t, sqlstore.Options{Driver: "postgres", DSN: withParam(t, dsn, "lock_timeout", "100")}, false)

	tx, err := a.DB().BeginTx(ctx, nil)
	must(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, "SELECT id FROM users WHERE id = ? FOR UPDATE", u.ID)
	must(t, err)
	_, err = b.UpdateUser(ctx, u.ID, func(u *storage.User) error { u.FirstName = "Ada"; return nil })
	wantUnavailable(t, "UpdateUser", err)
}

// Values the database itself refuses, past the text check, are
// ErrInvalidInput: on SQLite a row longer than its length limit, on
// Postgres a time it cannot hold.
func TestRefusedValuesAreInvalidInput(t *testing.T) {
	wantInvalid := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, storage.ErrInvalidInput) || errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%v, want ErrInvalidInput", err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		s := openSQLite(t, true)
		conn, err := s.DB().DB.Conn(t.Context()) // the writer's only connection
		must(t, err)
		_, err = sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_LENGTH, 1000)
		must(t, err)
		must(t, conn.Close())
		wantInvalid(t, s.CreateClient(t.Context(), storage.Client{ID: "web", Name: strings.Repeat("n", 5000)}))
	})
	t.Run("postgres", func(t *testing.T) {
		s := postgres(t)(t, true)
		far := time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
		wantInvalid(t, s.CreateClient(t.Context(), storage.Client{ID: "web", CreatedAt: far}))
	})
}
