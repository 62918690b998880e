package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
)

// The SQLite store answers "not revoked" and "this personal token" from
// memory (epoch.go). A revocation committed by another store on the same
// file — here another process, as `latchkey users deactivate` is beside a
// running server — must be seen by the very next check, with no wait.
func TestRevocationsReachOtherProcessesAtOnce(t *testing.T) {
	if os.Getenv("SQLSTORE_EPOCH_CHILD") != "" {
		t.Skip("the child process runs epochChild")
	}
	ctx := t.Context()
	s := openSQLite(t, true)
	var file string
	must(t, s.DB().QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file))
	now := time.Now().UTC().Truncate(time.Second)

	u := storage.User{Username: "owner", IsActive: true, DateJoined: now, Profile: map[string]any{}}
	must(t, s.CreateUser(ctx, &u))
	pat := storage.PersonalToken{ID: "pat-1", Hash: "hash-of-pat-1", UserID: u.ID, Kind: "personal",
		Name: "ci", Scope: "read", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, s.CreatePersonalToken(ctx, pat))
	fam := storage.Family{ID: "fam-1", ClientID: "web", Subject: "1", Scope: "openid", AuthTime: now,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	must(t, s.CreateFamily(ctx, fam, storage.RefreshToken{Hash: "r0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))

	checks := map[string]storage.RevocationCheck{
		"jti":     {JTI: "jti-1"},
		"family":  {JTI: "jti-2", FamilyID: "fam-1"},
		"subject": {JTI: "jti-3", Subject: "7", IssuedAt: now.Add(-time.Minute)},
	}
	notRevoked := func(what string) {
		t.Helper()
		for range 3 { // the second and third answers come from the cache
			revoked, err := s.Revoked(ctx, checks[what], now)
			must(t, err)
			if revoked {
				t.Fatalf("%s: revoked before anything was revoked", what)
			}
		}
	}
	for what := range checks {
		notRevoked(what)
	}
	for range 3 {
		if _, err := s.PersonalToken(ctx, pat.Hash, now); err != nil {
			t.Fatalf("personal token: %v", err)
		}
	}

	// Each revocation is made by another process; each check right after it
	// must see it.
	for _, what := range []string{"jti", "family", "subject"} {
		runEpochChild(t, file, what)
		revoked, err := s.Revoked(ctx, checks[what], now)
		must(t, err)
		if !revoked {
			t.Fatalf("%s revoked by another process: still answered not revoked", what)
		}
	}
	runEpochChild(t, file, "personal")
	if _, err := s.PersonalToken(ctx, pat.Hash, now); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("personal token deleted by another process: got %v, want not found", err)
	}
}

// TestEpochChild is the other process of the test above.
func TestEpochChild(t *testing.T) {
	file, what := os.Getenv("SQLSTORE_EPOCH_CHILD"), os.Getenv("SQLSTORE_EPOCH_WHAT")
	if file == "" {
		t.Skip("run by TestRevocationsReachOtherProcessesAtOnce")
	}
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Options{Driver: "sqlite", DSN: file})
	must(t, err)
	defer s.Close()
	now := time.Now().UTC()
	switch what {
	case "jti":
		err = s.RevokeAccessToken(ctx, "jti-1", now.Add(time.Hour))
	case "family":
		err = s.RevokeFamily(ctx, "fam-1", now)
	case "subject":
		err = s.RevokeSubjectTokensBefore(ctx, "7", now, now.Add(time.Hour))
	case "personal":
		var users []storage.User
		if users, _, err = s.ListUsers(ctx, storage.UserQuery{Limit: 10}); err == nil {
			err = s.DeletePersonalToken(ctx, users[0].ID, "pat-1")
		}
	default:
		err = fmt.Errorf("unknown revocation %q", what)
	}
	must(t, err)
}

func runEpochChild(t *testing.T, file, what string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestEpochChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SQLSTORE_EPOCH_CHILD="+file, "SQLSTORE_EPOCH_WHAT="+what)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process (%s): %v\n%s", what, err, out)
	}
}
