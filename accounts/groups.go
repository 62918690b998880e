package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey-auth/latchkey/permissions"
	"github.com/latchkey-auth/latchkey/storage"
)

// Group is a group as the admin API shows it.
type Group struct {
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	Members     []int64   `json:"members,omitempty"`
	Created     time.Time `json:"created"`
}

func groupView(g storage.Group) Group {
	perms := g.Permissions
	if perms == nil {
		perms = []string{}
	}
	return Group{Name: g.Name, Permissions: perms, Created: apiTime(g.CreatedAt)}
}

const msgPermission = "Every permission must look like app_label.codename (letters, digits, '_', '.', ':', '-')."

func readPermissions(r *reader, required bool) ([]string, bool) {
	if !r.has("permissions") {
		r.get("permissions")
		if required {
			r.errs.add("permissions", "This field is required.")
		}
		return nil, false
	}
	perms, ok := r.strList("permissions", 255)
	if !ok {
		return nil, false
	}
	for _, p := range perms {
		if !permissions.ValidPermission(p) {
			r.errs.add("permissions", msgPermission)
			return nil, false
		}
	}
	return perms, true
}

// ListGroups lists every group by name.
func (s *Service) ListGroups(ctx context.Context) ([]Group, error) {
	gs, err := s.opts.Store.ListGroups(ctx)
	if err != nil {
		return nil, storeErr("list groups", err)
	}
	out := make([]Group, len(gs))
	for i, g := range gs {
		out[i] = groupView(g)
	}
	return out, nil
}

// CreateGroup is POST /admin/groups/: name and permissions.
func (s *Service) CreateGroup(ctx context.Context, in Input) (Group, error) {
	r := newReader(in)
	name, ok := r.str("name", true, false, 150)
	if ok && !permissions.ValidGroupName(name) {
		r.errs.add("name", "Enter a valid name: letters, digits, spaces and @/./+/-/_ only.")
	}
	perms, _ := readPermissions(r, false)
	r.ignore("members", "created")
	if err := r.done(); err != nil {
		return Group{}, err
	}
	g := storage.Group{Name: name, Permissions: perms, CreatedAt: s.now()}
	if g.Permissions == nil {
		g.Permissions = []string{}
	}
	if err := s.opts.Store.CreateGroup(ctx, g); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return Group{}, fieldError("name", "group with this name already exists.")
		}
		return Group{}, storeErr("create group", err)
	}
	stored, err := s.opts.Store.GetGroup(ctx, name)
	if err != nil {
		return Group{}, storeErr("get group", err)
	}
	return groupView(stored), nil
}

// GetGroup returns a group with its members.
func (s *Service) GetGroup(ctx context.Context, name string) (Group, error) {
	g, err := s.opts.Store.GetGroup(ctx, name)
	if err != nil {
		return Group{}, storeErr("get group", err)
	}
	members, err := s.opts.Store.Members(ctx, name)
	if err != nil {
		return Group{}, storeErr("list members", err)
	}
	v := groupView(g)
	v.Members = members
	if v.Members == nil {
		v.Members = []int64{}
	}
	return v, nil
}

// UpdateGroup is PUT/PATCH /admin/groups/{name}/: the permissions (the name
// is the key and cannot change).
func (s *Service) UpdateGroup(ctx context.Context, name string, in Input, partial bool) (Group, error) {
	if _, err := s.opts.Store.GetGroup(ctx, name); err != nil {
		return Group{}, storeErr("get group", err)
	}
	r := newReader(in)
	if n, ok := r.str("name", false, false, 150); ok && n != name {
		r.errs.add("name", "The name of a group cannot change.")
	}
	perms, set := readPermissions(r, !partial)
	r.ignore("members", "created")
	if err := r.done(); err != nil {
		return Group{}, err
	}
	if set {
		if _, err := s.opts.Store.UpdateGroup(ctx, name, func(g *storage.Group) error {
			g.Permissions = perms
			return nil
		}); err != nil {
			return Group{}, storeErr("update group", err)
		}
		if err := s.forgetMembers(ctx, name); err != nil {
			return Group{}, err
		}
	}
	return s.GetGroup(ctx, name)
}

// DeleteGroup deletes a group; its members lose it.
func (s *Service) DeleteGroup(ctx context.Context, name string) error {
	if err := s.forgetMembers(ctx, name); err != nil {
		return err
	}
	if err := s.opts.Store.DeleteGroup(ctx, name); err != nil {
		return storeErr("delete group", err)
	}
	return nil
}

// AddMember puts a user in a group.
func (s *Service) AddMember(ctx context.Context, name string, userID int64) error {
	if err := s.opts.Store.AddMember(ctx, name, userID); err != nil {
		return storeErr("add member", err)
	}
	s.opts.Tokens.ForgetUser(userID)
	return nil
}

// RemoveMember takes a user out of a group.
func (s *Service) RemoveMember(ctx context.Context, name string, userID int64) error {
	if err := s.opts.Store.RemoveMember(ctx, name, userID); err != nil {
		return storeErr("remove member", err)
	}
	s.opts.Tokens.ForgetUser(userID)
	return nil
}

func (s *Service) forgetMembers(ctx context.Context, name string) error {
	ids, err := s.opts.Store.Members(ctx, name)
	if err != nil {
		return storeErr("list members", err)
	}
	for _, id := range ids {
		s.opts.Tokens.ForgetUser(id)
	}
	return nil
}
