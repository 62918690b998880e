package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

// Permissions live in a JSON column: they are only ever read and written
// with their group, so a join table would buy nothing.
type groupRow struct {
	bun.BaseModel `bun:"table:groups"`

	Name        string `bun:"name,pk"`
	Permissions []string
	CreatedAt   dbTime
}

type memberRow struct {
	bun.BaseModel `bun:"table:user_groups"`

	UserID    int64  `bun:"user_id,pk"`
	GroupName string `bun:"group_name,pk"`
}

func (r *groupRow) group() storage.Group {
	return storage.Group{Name: r.Name, Permissions: r.Permissions, CreatedAt: r.CreatedAt.Time()}
}

// sortedUnique returns a sorted copy of ss without duplicates; nil stays nil.
func sortedUnique(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// CreateGroup stores a group; its permissions are stored sorted and unique.
func (s *Store) CreateGroup(ctx context.Context, g storage.Group) error {
	op := fmt.Sprintf("create group %q", g.Name)
	if err := checkText(op, g); err != nil {
		return err
	}
	row := groupRow{Name: g.Name, Permissions: sortedUnique(g.Permissions), CreatedAt: dbTime(g.CreatedAt)}
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// GetGroup returns the group with the name.
func (s *Store) GetGroup(ctx context.Context, name string) (storage.Group, error) {
	op := fmt.Sprintf("get group %q", name)
	if err := checkKey(op, name); err != nil {
		return storage.Group{}, err
	}
	var row groupRow
	if err := s.r.NewSelect().Model(&row).Where("name = ?", name).Scan(ctx); err != nil {
		return storage.Group{}, translate(op, err)
	}
	return row.group(), nil
}

// ListGroups returns every group by name.
func (s *Store) ListGroups(ctx context.Context) ([]storage.Group, error) {
	var rows []groupRow
	if err := s.r.NewSelect().Model(&rows).Order("name").Scan(ctx); err != nil {
		return nil, translate("list groups", err)
	}
	out := make([]storage.Group, len(rows))
	for i := range rows {
		out[i] = rows[i].group()
	}
	return out, nil
}

// UpdateGroup applies fn and saves the group's permissions in one
// transaction; the name and creation time stay.
func (s *Store) UpdateGroup(ctx context.Context, name string, fn func(*storage.Group) error) (storage.Group, error) {
	op := fmt.Sprintf("update group %q", name)
	if err := checkKey(op, name); err != nil {
		return storage.Group{}, err
	}
	return updateTx(ctx, s, op, fn,
		func(q *bun.SelectQuery) *bun.SelectQuery { return q.Where("name = ?", name) },
		(*groupRow).group,
		func(r *groupRow, g storage.Group) { r.Permissions = sortedUnique(g.Permissions) },
		"permissions")
}

// DeleteGroup deletes the group and its memberships.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	op := fmt.Sprintf("delete group %q", name)
	if err := checkKey(op, name); err != nil {
		return err
	}
	res, err := s.w.NewDelete().Model((*groupRow)(nil)).Where("name = ?", name).Exec(ctx)
	return expectRows(res, err, op)
}

// AddMember puts the user in the group; being a member already is fine. A
// missing user or group fails the foreign key, which wrap reports as
// ErrNotFound.
func (s *Store) AddMember(ctx context.Context, group string, userID int64) error {
	op := fmt.Sprintf("add user %d to group %q", userID, group)
	if err := checkKey(op, group); err != nil {
		return err
	}
	row := memberRow{UserID: userID, GroupName: group}
	_, err := s.w.NewInsert().Model(&row).On("CONFLICT DO NOTHING").Exec(ctx)
	return translate(op, err)
}

// RemoveMember takes the user out of the group; a non-member is ErrNotFound.
func (s *Store) RemoveMember(ctx context.Context, group string, userID int64) error {
	op := fmt.Sprintf("remove user %d from group %q", userID, group)
	if err := checkKey(op, group); err != nil {
		return err
	}
	res, err := s.w.NewDelete().Model((*memberRow)(nil)).
		Where("user_id = ? AND group_name = ?", userID, group).Exec(ctx)
	return expectRows(res, err, op)
}

// SetUserGroups replaces the user's groups in one transaction. An unknown
// user or group is ErrNotFound and changes nothing.
func (s *Store) SetUserGroups(ctx context.Context, userID int64, groups []string) error {
	op := fmt.Sprintf("set groups of user %d", userID)
	names := sortedUnique(groups)
	unknownGroup := fmt.Errorf("sqlstore: %s: unknown group: %w", op, storage.ErrNotFound)
	if !storage.ValidText(names) {
		return unknownGroup
	}
	err := s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		users, err := tx.NewSelect().Model((*userRow)(nil)).Where("id = ?", userID).Count(ctx)
		if err != nil {
			return err
		}
		if users == 0 {
			return notFound(op)
		}
		if len(names) > 0 {
			known, err := tx.NewSelect().Model((*groupRow)(nil)).Where("name IN (?)", bun.List(names)).Count(ctx)
			if err != nil {
				return err
			}
			if known != int64(len(names)) {
				return unknownGroup
			}
		}
		if _, err := tx.NewDelete().Model((*memberRow)(nil)).Where("user_id = ?", userID).Exec(ctx); err != nil {
			return err
		}
		if len(names) == 0 {
			return nil
		}
		rows := make([]memberRow, len(names))
		for i, name := range names {
			rows[i] = memberRow{UserID: userID, GroupName: name}
		}
		_, err = tx.NewInsert().Model(&rows).Exec(ctx)
		return err
	})
	return translate(op, err)
}

// userGroupRow is a group joined to a user; Name is nil when the user has
// no group (the LEFT JOIN's empty side).
type userGroupRow struct {
	Name        *string
	Permissions []string
	CreatedAt   dbTime
}

// UserGroups returns the user's groups by name in one query; a missing user
// is ErrNotFound.
func (s *Store) UserGroups(ctx context.Context, userID int64) ([]storage.Group, error) {
	op := fmt.Sprintf("groups of user %d", userID)
	var rows []userGroupRow
	if err := s.readAll(ctx, &rows, s.q.userGroups, userID); err != nil {
		return nil, translate(op, err)
	}
	if len(rows) == 0 {
		return nil, notFound(op)
	}
	out := make([]storage.Group, 0, len(rows))
	for _, r := range rows {
		if r.Name != nil {
			out = append(out, storage.Group{Name: *r.Name, Permissions: r.Permissions, CreatedAt: r.CreatedAt.Time()})
		}
	}
	return out, nil
}

// Members returns the IDs of the group's users in order.
func (s *Store) Members(ctx context.Context, group string) ([]int64, error) {
	op := fmt.Sprintf("members of group %q", group)
	if err := checkKey(op, group); err != nil {
		return nil, err
	}
	var rows []struct {
		UserID *int64 // nil: the LEFT JOIN found a group without members
	}
	err := s.r.NewRaw(`SELECT ug.user_id
		FROM "groups" AS g
		LEFT JOIN user_groups AS ug ON ug.group_name = g.name
		WHERE g.name = ? ORDER BY ug.user_id`, group).Scan(ctx, &rows)
	if err != nil {
		return nil, translate(op, err)
	}
	if len(rows) == 0 {
		return nil, notFound(op)
	}
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		if r.UserID != nil {
			out = append(out, *r.UserID)
		}
	}
	return out, nil
}

// expectRows turns "no row changed" into ErrNotFound.
func expectRows(res sql.Result, err error, op string) error {
	if err != nil {
		return translate(op, err)
	}
	n, err := affected(res, op)
	if err == nil && n == 0 {
		err = notFound(op)
	}
	return err
}
