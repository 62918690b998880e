package storagetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunGroups runs the storage.Groups conformance suite.
func RunGroups(t *testing.T, open func(t *testing.T) GroupsAndUsers) {
	runAll(t, open, []subtest[GroupsAndUsers]{
		{"create then get returns the group", testGroupRoundTrip},
		{"permissions are kept sorted and unique", testGroupPermissionsNormalized},
		{"a duplicate group conflicts", testGroupDuplicate},
		{"list groups is ordered by name", testGroupList},
		{"update changes permissions and keeps name and creation time", testGroupUpdate},
		{"an updater error aborts without writing", testGroupUpdateAborts},
		{"every call on a missing group reports not found", testGroupMissing},
		{"adding a missing user reports not found", testGroupAddMissingUser},
		{"adding a member twice is not an error", testGroupAddTwice},
		{"members lists user IDs in order", testGroupMembers},
		{"removing a member takes it out and a non-member is not found", testGroupRemoveMember},
		{"user groups returns the groups with permissions by name", testGroupUserGroups},
		{"user groups of a missing user reports not found", testGroupUserGroupsMissingUser},
		{"set user groups replaces the user's groups", testGroupSetUserGroups},
		{"set user groups with an unknown group changes nothing", testGroupSetUnknownGroup},
		{"set user groups of a missing user reports not found", testGroupSetMissingUser},
		{"deleting a user removes its memberships", testGroupDeleteUser},
		{"deleting a group removes its memberships", testGroupDeleteGroup},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testGroupInvalidText},
	})
}

// The paths of GET /admin/groups/{name}/ and its siblings.
func testGroupInvalidText(t *testing.T, s GroupsAndUsers) {
	ctx := t.Context()
	g := sampleGroup("editors", "blog.add_post")
	createGroup(t, s, g)
	uid := member(t, s, "ada", "editors")
	keep := func(*storage.Group) error { return nil }
	for _, bad := range invalidTexts {
		what := func(call string) string { return fmt.Sprintf("%s with %q", call, bad) }
		_, err := s.GetGroup(ctx, bad)
		wantNotFound(t, what("GetGroup"), err)
		_, err = s.Members(ctx, bad)
		wantNotFound(t, what("Members"), err)
		_, err = s.UpdateGroup(ctx, bad, keep)
		wantNotFound(t, what("UpdateGroup"), err)
		wantNotFound(t, what("DeleteGroup"), s.DeleteGroup(ctx, bad))
		wantNotFound(t, what("AddMember"), s.AddMember(ctx, bad, uid))
		wantNotFound(t, what("RemoveMember"), s.RemoveMember(ctx, bad, uid))
		wantNotFound(t, what("SetUserGroups"), s.SetUserGroups(ctx, uid, []string{"editors", bad}))

		wantInvalid(t, what("CreateGroup"), s.CreateGroup(ctx, sampleGroup(bad)))
		wantInvalid(t, what("CreateGroup"), s.CreateGroup(ctx, sampleGroup("writers", "ok", bad)))
		_, err = s.UpdateGroup(ctx, "editors", func(g *storage.Group) error {
			g.Permissions = append(g.Permissions, bad)
			return nil
		})
		wantInvalid(t, what("UpdateGroup"), err)
	}
	gs, err := s.ListGroups(ctx)
	must(t, err)
	equal(t, "ListGroups", gs, []storage.Group{g})
	equal(t, "user groups", groupNames(t, s, uid), []string{"editors"})
}

func sampleGroup(name string, perms ...string) storage.Group {
	return storage.Group{Name: name, Permissions: perms, CreatedAt: base()}
}

func createGroup(t *testing.T, s storage.Groups, g storage.Group) {
	t.Helper()
	must(t, s.CreateGroup(t.Context(), g))
}

// member creates a user and puts it in the groups.
func member(t *testing.T, s GroupsAndUsers, name string, groups ...string) int64 {
	t.Helper()
	u := createUser(t, s, userNamed(name))
	for _, g := range groups {
		must(t, s.AddMember(t.Context(), g, u.ID))
	}
	return u.ID
}

func groupNames(t *testing.T, s storage.Groups, userID int64) []string {
	t.Helper()
	gs, err := s.UserGroups(t.Context(), userID)
	must(t, err)
	names := []string{}
	for _, g := range gs {
		names = append(names, g.Name)
	}
	return names
}

func members(t *testing.T, s storage.Groups, group string) []int64 {
	t.Helper()
	ids, err := s.Members(t.Context(), group)
	must(t, err)
	if ids == nil {
		ids = []int64{}
	}
	return ids
}

func testGroupRoundTrip(t *testing.T, s GroupsAndUsers) {
	g := sampleGroup("editors", "blog.add_post", "blog.change_post")
	createGroup(t, s, g)
	got, err := s.GetGroup(t.Context(), "editors")
	must(t, err)
	equal(t, "GetGroup", got, g)

	empty := sampleGroup("nobodies")
	createGroup(t, s, empty)
	got, err = s.GetGroup(t.Context(), "nobodies")
	must(t, err)
	if len(got.Permissions) != 0 {
		t.Errorf("a group without permissions came back with %v", got.Permissions)
	}
}

func testGroupPermissionsNormalized(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("g", "b.view", "a.add", "b.view", "a.add"))
	got, err := s.GetGroup(t.Context(), "g")
	must(t, err)
	equal(t, "permissions", got.Permissions, []string{"a.add", "b.view"})
}

func testGroupDuplicate(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("admins", "x"))
	wantErr(t, s.CreateGroup(t.Context(), sampleGroup("admins", "y")), storage.ErrConflict)
	got, err := s.GetGroup(t.Context(), "admins")
	must(t, err)
	equal(t, "permissions after a clash", got.Permissions, []string{"x"})
}

func testGroupList(t *testing.T, s GroupsAndUsers) {
	gs, err := s.ListGroups(t.Context())
	must(t, err)
	equal(t, "empty store", len(gs), 0)
	for _, name := range []string{"zeta", "alpha", "mu"} {
		createGroup(t, s, sampleGroup(name, name+".perm"))
	}
	gs, err = s.ListGroups(t.Context())
	must(t, err)
	equal(t, "ListGroups", gs, []storage.Group{
		sampleGroup("alpha", "alpha.perm"), sampleGroup("mu", "mu.perm"), sampleGroup("zeta", "zeta.perm"),
	})
}

func testGroupUpdate(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("staff", "a"))
	got, err := s.UpdateGroup(t.Context(), "staff", func(g *storage.Group) error {
		g.Name = "renamed" // ignored: the name is the key
		g.Permissions = append(g.Permissions, "c", "b")
		return nil
	})
	must(t, err)
	want := sampleGroup("staff", "a", "b", "c")
	equal(t, "UpdateGroup result", got, want)
	stored, err := s.GetGroup(t.Context(), "staff")
	must(t, err)
	equal(t, "GetGroup after update", stored, want)
	_, err = s.GetGroup(t.Context(), "renamed")
	wantErr(t, err, storage.ErrNotFound)
}

func testGroupUpdateAborts(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("staff", "a"))
	sentinel := errors.New("nope")
	_, err := s.UpdateGroup(t.Context(), "staff", func(g *storage.Group) error {
		g.Permissions = []string{"everything"}
		return sentinel
	})
	wantErr(t, err, sentinel)
	got, err := s.GetGroup(t.Context(), "staff")
	must(t, err)
	equal(t, "GetGroup after aborted update", got, sampleGroup("staff", "a"))
}

func testGroupMissing(t *testing.T, s GroupsAndUsers) {
	id := member(t, s, "someone")
	_, err := s.GetGroup(t.Context(), "ghosts")
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UpdateGroup(t.Context(), "ghosts", func(*storage.Group) error { return nil })
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.DeleteGroup(t.Context(), "ghosts"), storage.ErrNotFound)
	wantErr(t, s.AddMember(t.Context(), "ghosts", id), storage.ErrNotFound)
	wantErr(t, s.RemoveMember(t.Context(), "ghosts", id), storage.ErrNotFound)
	_, err = s.Members(t.Context(), "ghosts")
	wantErr(t, err, storage.ErrNotFound)
}

func testGroupAddMissingUser(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("staff"))
	wantErr(t, s.AddMember(t.Context(), "staff", 424242), storage.ErrNotFound)
	equal(t, "members", members(t, s, "staff"), []int64{})
}

func testGroupAddTwice(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("staff"))
	id := member(t, s, "ann", "staff")
	must(t, s.AddMember(t.Context(), "staff", id))
	equal(t, "members", members(t, s, "staff"), []int64{id})
}

func testGroupMembers(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("staff"))
	createGroup(t, s, sampleGroup("empty"))
	a := member(t, s, "a", "staff")
	member(t, s, "outsider")
	b := member(t, s, "b", "staff")
	equal(t, "staff", members(t, s, "staff"), []int64{a, b})
	equal(t, "empty", members(t, s, "empty"), []int64{})
}

func testGroupRemoveMember(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("staff"))
	a := member(t, s, "a", "staff")
	b := member(t, s, "b", "staff")
	must(t, s.RemoveMember(t.Context(), "staff", a))
	equal(t, "members", members(t, s, "staff"), []int64{b})
	wantErr(t, s.RemoveMember(t.Context(), "staff", a), storage.ErrNotFound)
}

func testGroupUserGroups(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("writers", "post.add", "post.change"))
	createGroup(t, s, sampleGroup("admins", "site.admin"))
	createGroup(t, s, sampleGroup("others", "x"))
	id := member(t, s, "ann", "writers", "admins")
	gs, err := s.UserGroups(t.Context(), id)
	must(t, err)
	equal(t, "UserGroups", gs, []storage.Group{
		sampleGroup("admins", "site.admin"), sampleGroup("writers", "post.add", "post.change"),
	})
	lonely := member(t, s, "lonely")
	equal(t, "user without groups", groupNames(t, s, lonely), []string{})
}

func testGroupUserGroupsMissingUser(t *testing.T, s GroupsAndUsers) {
	_, err := s.UserGroups(t.Context(), 424242)
	wantErr(t, err, storage.ErrNotFound)
}

func testGroupSetUserGroups(t *testing.T, s GroupsAndUsers) {
	for _, g := range []string{"a", "b", "c"} {
		createGroup(t, s, sampleGroup(g))
	}
	id := member(t, s, "ann", "a", "b")
	must(t, s.SetUserGroups(t.Context(), id, []string{"c", "b", "c"}))
	equal(t, "after set", groupNames(t, s, id), []string{"b", "c"})
	must(t, s.SetUserGroups(t.Context(), id, nil))
	equal(t, "after clearing", groupNames(t, s, id), []string{})
}

func testGroupSetUnknownGroup(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("a"))
	createGroup(t, s, sampleGroup("b"))
	id := member(t, s, "ann", "a")
	wantErr(t, s.SetUserGroups(t.Context(), id, []string{"b", "ghosts"}), storage.ErrNotFound)
	equal(t, "groups after a failed set", groupNames(t, s, id), []string{"a"})
}

func testGroupSetMissingUser(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("a"))
	wantErr(t, s.SetUserGroups(t.Context(), 424242, []string{"a"}), storage.ErrNotFound)
	equal(t, "members", members(t, s, "a"), []int64{})
}

func testGroupDeleteUser(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("staff"))
	a := member(t, s, "a", "staff")
	b := member(t, s, "b", "staff")
	must(t, s.DeleteUser(t.Context(), a))
	equal(t, "members", members(t, s, "staff"), []int64{b})
}

func testGroupDeleteGroup(t *testing.T, s GroupsAndUsers) {
	createGroup(t, s, sampleGroup("doomed"))
	createGroup(t, s, sampleGroup("kept"))
	id := member(t, s, "ann", "doomed", "kept")
	must(t, s.DeleteGroup(t.Context(), "doomed"))
	_, err := s.GetGroup(t.Context(), "doomed")
	wantErr(t, err, storage.ErrNotFound)
	equal(t, "groups of the member", groupNames(t, s, id), []string{"kept"})
	// The name is free again, and the new group starts empty.
	createGroup(t, s, sampleGroup("doomed"))
	equal(t, "members of the new group", members(t, s, "doomed"), []int64{})
}
