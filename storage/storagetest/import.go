package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// ImportStore is what the import suite needs: the importer, and users and
// groups to look at what it wrote.
type ImportStore interface {
	storage.UserImporter
	storage.Users
	storage.Groups
}

// RunImport runs the storage.UserImporter conformance suite.
func RunImport(t *testing.T, open func(t *testing.T) ImportStore) {
	runAll(t, open, []subtest[ImportStore]{
		{"an import creates users, groups and memberships", testImportCreates},
		{"importing the same batch again changes nothing", testImportTwiceUnchanged},
		{"an existing user is skipped, or updated with Update", testImportConflict},
		{"a refused user names its index and nothing of the batch is written", testImportRecordRefused},
		{"an unknown group and invalid text are refused records", testImportRefusals},
		{"many users in one batch", testImportMany},
		{"a dry run reports and writes nothing", testImportDryRun},
	})
}

func importBatch() storage.ImportBatch {
	ada := sampleUser()
	ada.Profile = map[string]any{"django_id": 7.0}
	ada.DateJoined = time.Date(2019, 5, 1, 12, 0, 0, 123_456_000, time.UTC) // Django keeps microseconds
	bob := userNamed("bob")
	bob.PasswordHash = "!unusable"
	return storage.ImportBatch{
		Groups: []storage.Group{
			sampleGroup("editors", "blog.change_post", "blog.add_post"),
			sampleGroup("empty"),
		},
		Users: []storage.ImportUser{
			{User: ada, Groups: []string{"editors", "empty"}},
			{User: bob},
		},
	}
}

func runImport(t *testing.T, s ImportStore, b storage.ImportBatch) storage.ImportOutcome {
	t.Helper()
	out, err := s.ImportUsers(t.Context(), b)
	must(t, err)
	if len(out.Users) != len(b.Users) {
		t.Fatalf("%d results for %d users", len(out.Users), len(b.Users))
	}
	return out
}

func testImportCreates(t *testing.T, s ImportStore) {
	b := importBatch()
	out := runImport(t, s, b)
	equal(t, "results", out.Users, []storage.ImportResult{storage.ImportCreated, storage.ImportCreated})
	equal(t, "groups created", out.GroupsCreated, 2)
	ada, err := s.UserByUsername(t.Context(), "ada.lovelace")
	must(t, err)
	want := b.Users[0].User
	want.ID = ada.ID
	want.DateJoined = want.DateJoined.Truncate(time.Millisecond)
	equal(t, "imported user", ada, want)
	equal(t, "ada's groups", groupNames(t, s, ada.ID), []string{"editors", "empty"})
	g, err := s.GetGroup(t.Context(), "editors")
	must(t, err)
	equal(t, "group permissions", g.Permissions, []string{"blog.add_post", "blog.change_post"})
	bob, err := s.UserByUsername(t.Context(), "bob")
	must(t, err)
	equal(t, "bob's hash", bob.PasswordHash, "!unusable")
	equal(t, "bob's groups", groupNames(t, s, bob.ID), []string{})
}

func testImportTwiceUnchanged(t *testing.T, s ImportStore) {
	runImport(t, s, importBatch())
	before, _, err := s.ListUsers(t.Context(), storage.UserQuery{})
	must(t, err)
	out := runImport(t, s, importBatch())
	equal(t, "results", out.Users, []storage.ImportResult{storage.ImportUnchanged, storage.ImportUnchanged})
	equal(t, "groups created", out.GroupsCreated, 0)
	b := importBatch()
	b.Update = true
	out = runImport(t, s, b)
	equal(t, "results with Update", out.Users, []storage.ImportResult{storage.ImportUnchanged, storage.ImportUnchanged})
	equal(t, "groups updated", out.GroupsUpdated, 0)
	after, _, err := s.ListUsers(t.Context(), storage.UserQuery{})
	must(t, err)
	equal(t, "users after the re-imports", after, before)
}

func testImportConflict(t *testing.T, s ImportStore) {
	runImport(t, s, importBatch())
	b := importBatch()
	b.Users[0].User.Email = "ada@elsewhere.example"
	b.Users[0].Groups = []string{"editors"}
	b.Groups[0].Permissions = []string{"blog.view_post"}
	out := runImport(t, s, b)
	equal(t, "results without Update", out.Users, []storage.ImportResult{storage.ImportSkipped, storage.ImportUnchanged})
	ada, err := s.UserByUsername(t.Context(), "ada.lovelace")
	must(t, err)
	equal(t, "kept e-mail", ada.Email, "Ada@Example.org")
	equal(t, "kept groups", groupNames(t, s, ada.ID), []string{"editors", "empty"})
	g, err := s.GetGroup(t.Context(), "editors")
	must(t, err)
	equal(t, "kept permissions", g.Permissions, []string{"blog.add_post", "blog.change_post"})

	b.Update = true
	out = runImport(t, s, b)
	equal(t, "results with Update", out.Users, []storage.ImportResult{storage.ImportUpdated, storage.ImportUnchanged})
	equal(t, "groups updated", out.GroupsUpdated, 1)
	updated, err := s.UserByUsername(t.Context(), "ada.lovelace")
	must(t, err)
	equal(t, "same ID", updated.ID, ada.ID)
	equal(t, "new e-mail", updated.Email, "ada@elsewhere.example")
	equal(t, "new groups", groupNames(t, s, ada.ID), []string{"editors"})
	g, err = s.GetGroup(t.Context(), "editors")
	must(t, err)
	equal(t, "new permissions", g.Permissions, []string{"blog.view_post"})
}

func testImportRecordRefused(t *testing.T, s ImportStore) {
	createUser(t, s, userNamed("carol"))
	b := importBatch()
	clash := userNamed("dave")
	clash.Email = "CAROL@example.ORG" // carol's, in another case
	b.Users = append(b.Users, storage.ImportUser{User: clash}, storage.ImportUser{User: userNamed("bob")})
	for _, update := range []bool{false, true} {
		b.Update = update
		_, err := s.ImportUsers(t.Context(), b)
		var rec *storage.ImportRecordError
		if !errors.As(err, &rec) || rec.Index != 2 || !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("an e-mail of another user: %v, want an ImportRecordError of index 2 wrapping ErrConflict", err)
		}
	}
	n, err := s.CountUsers(t.Context())
	must(t, err)
	equal(t, "users after the refused batch", n, 1)
	groups, err := s.ListGroups(t.Context())
	must(t, err)
	equal(t, "groups after the refused batch", len(groups), 0)

	b.Users = b.Users[:2]
	b.Users = append(b.Users, storage.ImportUser{User: userNamed("BOB")})
	_, err = s.ImportUsers(t.Context(), b)
	var rec *storage.ImportRecordError
	if !errors.As(err, &rec) || rec.Index != 2 || !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("a username twice in a batch: %v, want an ImportRecordError of index 2 wrapping ErrConflict", err)
	}
}

func testImportRefusals(t *testing.T, s ImportStore) {
	b := importBatch()
	b.Users[1].Groups = []string{"nowhere"}
	_, err := s.ImportUsers(t.Context(), b)
	var rec *storage.ImportRecordError
	if !errors.As(err, &rec) || rec.Index != 1 || !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("an unknown group: %v, want an ImportRecordError of index 1 wrapping ErrNotFound", err)
	}
	for _, bad := range invalidTexts {
		b := importBatch()
		b.Users[1].User.FirstName = bad
		_, err := s.ImportUsers(t.Context(), b)
		if !errors.As(err, &rec) || rec.Index != 1 {
			t.Fatalf("invalid text: %v, want an ImportRecordError of index 1", err)
		}
		wantInvalid(t, "invalid text in an imported user", err)
	}
	n, err := s.CountUsers(t.Context())
	must(t, err)
	equal(t, "users after refused batches", n, 0)
}

func testImportMany(t *testing.T, s ImportStore) {
	var b storage.ImportBatch
	b.Groups = []storage.Group{sampleGroup("staff", "app.view_thing")}
	for i := range 500 {
		u := userNamed(string(rune('a'+i%26)) + time.Duration(i).String())
		b.Users = append(b.Users, storage.ImportUser{User: u, Groups: []string{"staff"}})
	}
	out := runImport(t, s, b)
	for i, r := range out.Users {
		if r != storage.ImportCreated {
			t.Fatalf("user %d: %v", i, r)
		}
	}
	ids, err := s.Members(t.Context(), "staff")
	must(t, err)
	equal(t, "members", len(ids), 500)
}

func testImportDryRun(t *testing.T, s ImportStore) {
	b := importBatch()
	b.DryRun = true
	out := runImport(t, s, b)
	equal(t, "results", out.Users, []storage.ImportResult{storage.ImportCreated, storage.ImportCreated})
	equal(t, "groups created", out.GroupsCreated, 2)
	n, err := s.CountUsers(t.Context())
	must(t, err)
	equal(t, "users after a dry run", n, 0)
	groups, err := s.ListGroups(t.Context())
	must(t, err)
	equal(t, "groups after a dry run", len(groups), 0)
}
