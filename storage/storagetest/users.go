package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunUsers runs the storage.Users conformance suite.
func RunUsers(t *testing.T, open func(t *testing.T) storage.Users) {
	runAll(t, open, []subtest[storage.Users]{
		{"create sets the ID and get returns every field", testUserRoundTrip},
		{"created users get distinct IDs", testUserDistinctIDs},
		{"a nil profile and an empty profile come back as they went in", testUserNilProfile},
		{"times come back in UTC to the millisecond", testUserTimesUTC},
		{"user by username ignores case", testUserByUsername},
		{"user by email ignores case", testUserByEmail},
		{"getters report not found for a missing user", testUserNotFound},
		{"a duplicate username conflicts regardless of case", testUserDuplicateUsername},
		{"a duplicate email conflicts regardless of case", testUserDuplicateEmail},
		{"several users may have no email", testUserNoEmail},
		{"update saves the changes and keeps the ID", testUserUpdate},
		{"an updater error aborts without writing", testUserUpdateAborts},
		{"update to a taken username conflicts and writes nothing", testUserUpdateConflict},
		{"update and delete report not found for a missing user", testUserMissingWrites},
		{"delete removes the user and frees its username", testUserDelete},
		{"list users pages in ID order with the total count", testUserListPaging},
		{"list users searches username email and names ignoring case", testUserListSearch},
		{"list users takes wildcards in the search literally", testUserListWildcards},
		{"count users counts every user", testUserCount},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testUserInvalidText},
		{"profile strings come back exactly, U+0000 and literal \\u0000 included", testUserProfileExact},
		{"own permissions are stored sorted and unique, and none is nil", testUserPermissions},
	})
}

func testUserInvalidText(t *testing.T, s storage.Users) {
	ctx := t.Context()
	u := createUser(t, s, sampleUser())
	for _, bad := range invalidTexts {
		what := func(call string) string { return fmt.Sprintf("%s with %q", call, bad) }
		_, err := s.UserByUsername(ctx, bad)
		wantNotFound(t, what("UserByUsername"), err)
		_, err = s.UserByEmail(ctx, bad)
		wantNotFound(t, what("UserByEmail"), err)
		_, _, err = s.ListUsers(ctx, storage.UserQuery{Search: bad})
		wantInvalid(t, what("ListUsers"), err)

		for _, change := range []func(*storage.User){
			func(v *storage.User) { v.Username = bad },
			func(v *storage.User) { v.Email = bad + "@example.org" },
			func(v *storage.User) { v.FirstName = bad },
			func(v *storage.User) { v.PasswordHash = bad },
			func(v *storage.User) { v.Permissions = []string{"ok.perm", bad} },
		} {
			v := userNamed("fresh")
			change(&v)
			wantInvalid(t, what("CreateUser"), s.CreateUser(ctx, &v))
			_, err := s.UpdateUser(ctx, u.ID, func(v *storage.User) error { change(v); return nil })
			wantInvalid(t, what("UpdateUser"), err)
		}
	}
	// A profile is JSON, whose strings may hold U+0000 (see
	// testUserProfileExact), but never text that is not UTF-8.
	const notUTF8 = "not\xffutf8"
	for _, change := range []func(*storage.User){
		func(v *storage.User) { v.Profile = map[string]any{"bio": notUTF8} },
		func(v *storage.User) { v.Profile = map[string]any{notUTF8: "x"} },
		func(v *storage.User) { v.Profile = map[string]any{"tags": []any{"ok", notUTF8}} },
	} {
		v := userNamed("fresh")
		change(&v)
		wantInvalid(t, "CreateUser with a profile that is not UTF-8", s.CreateUser(ctx, &v))
		_, err := s.UpdateUser(ctx, u.ID, func(v *storage.User) error { change(v); return nil })
		wantInvalid(t, "UpdateUser with a profile that is not UTF-8", err)
	}
	n, err := s.CountUsers(ctx)
	must(t, err)
	equal(t, "CountUsers", n, 1)
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	equal(t, "GetUser after refused updates", got, u)
}

// testUserProfileExact: every profile string, keys included, reads back
// byte for byte: U+0000, the six characters \u0000, backslashes, quotes,
// a private-use character and text that looks like an escape.
func testUserProfileExact(t *testing.T, s storage.Users) {
	ctx := t.Context()
	tricky := []string{
		"nul\x00byte", "\x00", "\x00\x00", `literal \u0000 text`, `\\u0000`, `"quoted"\n`,
		"\ue000", "\ue000\ue000", "\ue0000", "\ue000\x00", "a\ue000b\x00c", "emoji \U0001F600 and é",
	}
	profile := map[string]any{"tags": []any{}, "nested": map[string]any{}}
	for i, v := range tricky {
		profile[fmt.Sprintf("k%d", i)] = v
		profile["key "+v] = float64(i)
		profile["tags"] = append(profile["tags"].([]any), v)
		profile["nested"].(map[string]any)[v] = []any{v, nil, true}
	}
	u := userNamed("profiled")
	u.Profile = profile
	must(t, s.CreateUser(ctx, &u))
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	equal(t, "GetUser profile after create", got.Profile, profile)
	equal(t, "GetUser after create", got, u)

	updated := map[string]any{"bio": "changed\x00again \\u0000", "\x00": "\ue000"}
	saved, err := s.UpdateUser(ctx, u.ID, func(v *storage.User) error {
		equal(t, "the profile UpdateUser hands the updater", v.Profile, profile)
		v.Profile = updated
		return nil
	})
	must(t, err)
	equal(t, "UpdateUser's result", saved.Profile, updated)
	got, err = s.GetUser(ctx, u.ID)
	must(t, err)
	equal(t, "GetUser profile after update", got.Profile, updated)
	byName, err := s.UserByUsername(ctx, "profiled")
	must(t, err)
	equal(t, "UserByUsername profile", byName.Profile, updated)
	list, _, err := s.ListUsers(ctx, storage.UserQuery{Search: "profiled", Limit: 10})
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("ListUsers found %d users", len(list))
	}
	equal(t, "ListUsers profile", list[0].Profile, updated)
}

func sampleUser() storage.User {
	t := base()
	return storage.User{
		Username:          "Ada.Lovelace",
		Email:             "Ada@Example.org",
		PasswordHash:      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		FirstName:         "Ada",
		LastName:          "Lovelace",
		IsActive:          true,
		IsStaff:           true,
		IsSuperuser:       false,
		EmailVerified:     true,
		DateJoined:        t.Add(-72 * time.Hour),
		LastLogin:         t.Add(-time.Hour),
		PasswordChangedAt: t.Add(-48 * time.Hour),
		Profile: map[string]any{
			"locale": "en-GB",
			"age":    36.0, // JSON numbers come back as float64
			"tags":   []any{"math", "poetry"},
			"prefs":  map[string]any{"dark": true, "none": nil},
		},
		Permissions: []string{"shop.view_order", "store.can_publish_product"},
	}
}

func userNamed(name string) storage.User {
	return storage.User{Username: name, Email: name + "@example.org", IsActive: true, DateJoined: base()}
}

func createUser(t *testing.T, s storage.Users, u storage.User) storage.User {
	t.Helper()
	must(t, s.CreateUser(t.Context(), &u))
	return u
}

func testUserRoundTrip(t *testing.T, s storage.Users) {
	u := sampleUser()
	must(t, s.CreateUser(t.Context(), &u))
	if u.ID == 0 {
		t.Fatal("CreateUser did not set the ID")
	}
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err)
	equal(t, "GetUser", got, u)
}

func testUserDistinctIDs(t *testing.T, s storage.Users) {
	a := createUser(t, s, userNamed("a"))
	b := createUser(t, s, userNamed("b"))
	if a.ID == b.ID {
		t.Fatalf("both users got ID %d", a.ID)
	}
}

func testUserNilProfile(t *testing.T, s storage.Users) {
	none := createUser(t, s, userNamed("none"))
	empty := userNamed("empty")
	empty.Profile = map[string]any{}
	empty = createUser(t, s, empty)

	got, err := s.GetUser(t.Context(), none.ID)
	must(t, err)
	if got.Profile != nil {
		t.Errorf("nil profile came back as %#v", got.Profile)
	}
	got, err = s.GetUser(t.Context(), empty.ID)
	must(t, err)
	if got.Profile == nil || len(got.Profile) != 0 {
		t.Errorf("empty profile came back as %#v", got.Profile)
	}
}

func testUserTimesUTC(t *testing.T, s storage.Users) {
	u := userNamed("zoned")
	paris := time.FixedZone("CET", 3600)
	u.LastLogin = base().In(paris).Add(time.Millisecond)
	u = createUser(t, s, u)
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err)
	if got.LastLogin.Location() != time.UTC {
		t.Errorf("LastLogin is in %v, want UTC", got.LastLogin.Location())
	}
	if !got.LastLogin.Equal(u.LastLogin) {
		t.Errorf("LastLogin = %v, want %v", got.LastLogin, u.LastLogin)
	}
	if !got.PasswordChangedAt.IsZero() {
		t.Errorf("zero PasswordChangedAt came back as %v", got.PasswordChangedAt)
	}
}

func testUserByUsername(t *testing.T, s storage.Users) {
	u := createUser(t, s, sampleUser())
	for _, name := range []string{"Ada.Lovelace", "ada.lovelace", "ADA.LOVELACE"} {
		got, err := s.UserByUsername(t.Context(), name)
		must(t, err)
		equal(t, "UserByUsername("+name+")", got, u)
	}
}

func testUserByEmail(t *testing.T, s storage.Users) {
	u := createUser(t, s, sampleUser())
	for _, email := range []string{"Ada@Example.org", "ada@example.org", "ADA@EXAMPLE.ORG"} {
		got, err := s.UserByEmail(t.Context(), email)
		must(t, err)
		equal(t, "UserByEmail("+email+")", got, u)
	}
}

func testUserNotFound(t *testing.T, s storage.Users) {
	noEmail := userNamed("noemail")
	noEmail.Email = ""
	createUser(t, s, noEmail)
	_, err := s.GetUser(t.Context(), 424242)
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UserByUsername(t.Context(), "nobody")
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UserByEmail(t.Context(), "nobody@example.org")
	wantErr(t, err, storage.ErrNotFound)
	// The empty e-mail is no one's, even with users that have none.
	_, err = s.UserByEmail(t.Context(), "")
	wantErr(t, err, storage.ErrNotFound)
}

func testUserDuplicateUsername(t *testing.T, s storage.Users) {
	createUser(t, s, userNamed("grace"))
	dup := userNamed("GRACE")
	dup.Email = "other@example.org"
	wantErr(t, s.CreateUser(t.Context(), &dup), storage.ErrConflict)
	n, err := s.CountUsers(t.Context())
	must(t, err)
	equal(t, "CountUsers", n, 1)
}

func testUserDuplicateEmail(t *testing.T, s storage.Users) {
	createUser(t, s, userNamed("grace"))
	dup := userNamed("hopper")
	dup.Email = "GRACE@example.ORG"
	wantErr(t, s.CreateUser(t.Context(), &dup), storage.ErrConflict)
}

func testUserNoEmail(t *testing.T, s storage.Users) {
	for _, name := range []string{"x", "y", "z"} {
		u := userNamed(name)
		u.Email = ""
		createUser(t, s, u)
	}
	n, err := s.CountUsers(t.Context())
	must(t, err)
	equal(t, "CountUsers", n, 3)
}

func testUserUpdate(t *testing.T, s storage.Users) {
	u := createUser(t, s, sampleUser())
	later := base().Add(time.Hour)
	got, err := s.UpdateUser(t.Context(), u.ID, func(v *storage.User) error {
		v.ID = 999 // ignored: the ID is the key
		v.Username = "countess"
		v.Email = ""
		v.IsStaff = false
		v.LastLogin = later
		v.Profile = map[string]any{"locale": "fr"}
		return nil
	})
	must(t, err)
	want := u
	want.Username, want.Email, want.IsStaff, want.LastLogin = "countess", "", false, later
	want.Profile = map[string]any{"locale": "fr"}
	equal(t, "UpdateUser result", got, want)
	stored, err := s.GetUser(t.Context(), u.ID)
	must(t, err)
	equal(t, "GetUser after update", stored, want)
	_, err = s.UserByUsername(t.Context(), "Ada.Lovelace")
	wantErr(t, err, storage.ErrNotFound)
}

func testUserUpdateAborts(t *testing.T, s storage.Users) {
	u := createUser(t, s, sampleUser())
	sentinel := errors.New("validation failed")
	_, err := s.UpdateUser(t.Context(), u.ID, func(v *storage.User) error {
		v.Username = "changed"
		return fmt.Errorf("wrapped: %w", sentinel)
	})
	wantErr(t, err, sentinel)
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err)
	equal(t, "GetUser after aborted update", got, u)
}

func testUserUpdateConflict(t *testing.T, s storage.Users) {
	createUser(t, s, userNamed("taken"))
	u := createUser(t, s, userNamed("free"))
	_, err := s.UpdateUser(t.Context(), u.ID, func(v *storage.User) error {
		v.Username = "Taken"
		return nil
	})
	wantErr(t, err, storage.ErrConflict)
	got, err := s.GetUser(t.Context(), u.ID)
	must(t, err)
	equal(t, "GetUser after conflicting update", got, u)
}

func testUserMissingWrites(t *testing.T, s storage.Users) {
	called := false
	_, err := s.UpdateUser(t.Context(), 424242, func(*storage.User) error {
		called = true
		return nil
	})
	wantErr(t, err, storage.ErrNotFound)
	if called {
		t.Error("UpdateUser called fn for a missing user")
	}
	wantErr(t, s.DeleteUser(t.Context(), 424242), storage.ErrNotFound)
}

func testUserDelete(t *testing.T, s storage.Users) {
	u := createUser(t, s, userNamed("gone"))
	must(t, s.DeleteUser(t.Context(), u.ID))
	_, err := s.GetUser(t.Context(), u.ID)
	wantErr(t, err, storage.ErrNotFound)
	again := createUser(t, s, userNamed("gone"))
	if again.ID == u.ID {
		t.Errorf("a deleted user's ID %d was reused", u.ID)
	}
}

func testUserListPaging(t *testing.T, s storage.Users) {
	var ids []int64
	for i := range 5 {
		ids = append(ids, createUser(t, s, userNamed(fmt.Sprintf("user%d", i))).ID)
	}
	pageIDs := func(q storage.UserQuery) ([]int64, int) {
		t.Helper()
		users, total, err := s.ListUsers(t.Context(), q)
		must(t, err)
		out := []int64{}
		for _, u := range users {
			out = append(out, u.ID)
		}
		return out, total
	}
	got, total := pageIDs(storage.UserQuery{})
	equal(t, "all users", got, ids)
	equal(t, "total", total, 5)
	got, total = pageIDs(storage.UserQuery{Offset: 1, Limit: 2})
	equal(t, "second page", got, ids[1:3])
	equal(t, "total of a page", total, 5)
	got, _ = pageIDs(storage.UserQuery{Offset: 3})
	equal(t, "offset without limit", got, ids[3:])
	got, total = pageIDs(storage.UserQuery{Offset: 10, Limit: 2})
	equal(t, "past the end", got, []int64{})
	equal(t, "total past the end", total, 5)
}

func testUserListSearch(t *testing.T, s storage.Users) {
	ada := createUser(t, s, sampleUser()) // Ada.Lovelace, Ada@Example.org
	grace := userNamed("ghopper")
	grace.FirstName, grace.LastName, grace.Email = "Grace", "Hopper", "grace@navy.mil"
	grace = createUser(t, s, grace)
	search := func(q string) []int64 {
		t.Helper()
		users, total, err := s.ListUsers(t.Context(), storage.UserQuery{Search: q})
		must(t, err)
		ids := []int64{}
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		equal(t, "total for "+q, total, len(ids))
		return ids
	}
	equal(t, "by username", search("LOVE"), []int64{ada.ID})
	equal(t, "by email", search("NAVY.mil"), []int64{grace.ID})
	equal(t, "by first name", search("grac"), []int64{grace.ID})
	equal(t, "by last name", search("hOPPER"), []int64{grace.ID})
	equal(t, "several", search("a"), []int64{ada.ID, grace.ID})
	equal(t, "none", search("zzz"), []int64{})
}

func testUserListWildcards(t *testing.T, s storage.Users) {
	plain := createUser(t, s, userNamed("plainuser"))
	odd := createUser(t, s, userNamed("odd%_!user"))
	for _, q := range []string{"%", "_", "!", "%_!"} {
		users, total, err := s.ListUsers(t.Context(), storage.UserQuery{Search: q})
		must(t, err)
		if total != 1 || len(users) != 1 || users[0].ID != odd.ID {
			t.Errorf("search %q found %d users (total %d), want only %d (not %d)", q, len(users), total, odd.ID, plain.ID)
		}
	}
}

func testUserCount(t *testing.T, s storage.Users) {
	n, err := s.CountUsers(t.Context())
	must(t, err)
	equal(t, "empty store", n, 0)
	createUser(t, s, userNamed("a"))
	createUser(t, s, userNamed("b"))
	n, err = s.CountUsers(t.Context())
	must(t, err)
	equal(t, "two users", n, 2)
}

func testUserPermissions(t *testing.T, s storage.Users) {
	ctx := t.Context()
	u := userNamed("perms")
	u.Permissions = []string{"b.change_x", "a.view_x", "b.change_x"}
	u = createUser(t, s, u)
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	equal(t, "permissions after create", got.Permissions, []string{"a.view_x", "b.change_x"})

	got, err = s.UpdateUser(ctx, u.ID, func(v *storage.User) error {
		v.Permissions = append(v.Permissions, "c.delete_x")
		return nil
	})
	must(t, err)
	equal(t, "UpdateUser result", got.Permissions, []string{"a.view_x", "b.change_x", "c.delete_x"})
	got, err = s.UserByUsername(ctx, "perms")
	must(t, err)
	equal(t, "permissions after update", got.Permissions, []string{"a.view_x", "b.change_x", "c.delete_x"})

	_, err = s.UpdateUser(ctx, u.ID, func(v *storage.User) error { v.Permissions = []string{}; return nil })
	must(t, err)
	got, err = s.GetUser(ctx, u.ID)
	must(t, err)
	if got.Permissions != nil {
		t.Errorf("no permissions came back as %#v, want nil", got.Permissions)
	}
}
