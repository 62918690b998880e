package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

var _ storage.UserImporter = (*Store)(nil)

// errDryRun rolls back the transaction of a dry run.
var errDryRun = errors.New("sqlstore: dry run")

// ImportUsers writes a batch of users, groups and memberships in one
// transaction, with one query per kind of change rather than one per user.
func (s *Store) ImportUsers(ctx context.Context, b storage.ImportBatch) (storage.ImportOutcome, error) {
	const op = "import users"
	for _, g := range b.Groups {
		if err := checkText(fmt.Sprintf("%s: group %q", op, g.Name), g); err != nil {
			return storage.ImportOutcome{}, err
		}
	}
	for i, u := range b.Users {
		if err := checkText(op, u.User, u.Groups); err != nil {
			return storage.ImportOutcome{}, &storage.ImportRecordError{Index: i, Err: err}
		}
	}
	var out storage.ImportOutcome
	err := s.tx(ctx, func(ctx context.Context, tx bun.Tx) error {
		out = storage.ImportOutcome{Users: make([]storage.ImportResult, len(b.Users))}
		known, err := importGroups(ctx, tx, b, &out)
		if err != nil {
			return err
		}
		if err := s.importUsers(ctx, tx, b, known, &out); err != nil {
			return err
		}
		if b.DryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		return out, nil
	}
	var rec *storage.ImportRecordError
	if errors.As(err, &rec) {
		return storage.ImportOutcome{}, err
	}
	if err != nil {
		return storage.ImportOutcome{}, translate(op, err)
	}
	return out, nil
}

// importGroups creates the batch's missing groups, updates changed ones when
// asked, and returns every group name the batch's users may name.
func importGroups(ctx context.Context, tx bun.Tx, b storage.ImportBatch, out *storage.ImportOutcome) (map[string]bool, error) {
	names := map[string]bool{}
	for _, g := range b.Groups {
		names[g.Name] = true
	}
	for _, u := range b.Users {
		for _, g := range u.Groups {
			names[g] = true
		}
	}
	known := map[string]bool{}
	if len(names) == 0 {
		return known, nil
	}
	var stored []groupRow
	if err := tx.NewSelect().Model(&stored).Where("name IN (?)", bun.List(keys(names))).Scan(ctx); err != nil {
		return nil, err
	}
	byName := map[string]groupRow{}
	for _, r := range stored {
		byName[r.Name] = r
		known[r.Name] = true
	}
	var create []groupRow
	for _, g := range b.Groups {
		perms := sortedUnique(g.Permissions)
		if perms == nil {
			perms = []string{}
		}
		r, ok := byName[g.Name]
		switch {
		case !ok && !known[g.Name]:
			create = append(create, groupRow{Name: g.Name, Permissions: perms, CreatedAt: dbTime(g.CreatedAt)})
			known[g.Name] = true
		case ok && b.Update && !slices.Equal(sortedUnique(r.Permissions), perms) && !(len(r.Permissions) == 0 && len(perms) == 0):
			if _, err := tx.NewUpdate().Model(&groupRow{Name: g.Name, Permissions: perms}).Column("permissions").WherePK().Exec(ctx); err != nil {
				return nil, err
			}
			out.GroupsUpdated++
		}
	}
	if len(create) > 0 {
		if _, err := tx.NewInsert().Model(&create).Exec(ctx); err != nil {
			return nil, err
		}
		out.GroupsCreated = len(create)
	}
	return known, nil
}

func (s *Store) importUsers(ctx context.Context, tx bun.Tx, b storage.ImportBatch, known map[string]bool, out *storage.ImportOutcome) error {
	if len(b.Users) == 0 {
		return nil
	}
	rows := make([]userRow, len(b.Users))
	usernames := make([]string, 0, len(b.Users))
	emails := []string{}
	for i, u := range b.Users {
		rows[i] = newUserRow(u.User)
		usernames = append(usernames, rows[i].UsernameNorm)
		if rows[i].EmailNorm != nil {
			emails = append(emails, *rows[i].EmailNorm)
		}
	}
	var stored []userRow
	q := tx.NewSelect().Model(&stored).Where("username_norm IN (?)", bun.List(usernames))
	if len(emails) > 0 {
		q = q.WhereOr("email_norm IN (?)", bun.List(emails))
	}
	if err := q.Scan(ctx); err != nil {
		return err
	}
	byUsername := map[string]*userRow{}
	byEmail := map[string]*userRow{}
	ids := make([]int64, 0, len(stored))
	for i := range stored {
		r := &stored[i]
		byUsername[r.UsernameNorm] = r
		if r.EmailNorm != nil {
			byEmail[*r.EmailNorm] = r
		}
		ids = append(ids, r.ID)
	}
	groupsOf := map[int64][]string{}
	if len(ids) > 0 {
		var members []memberRow
		if err := tx.NewSelect().Model(&members).Where("user_id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
			return err
		}
		for _, m := range members {
			groupsOf[m.UserID] = append(groupsOf[m.UserID], m.GroupName)
		}
	}

	seenUsername := map[string]bool{}
	seenEmail := map[string]bool{}
	var create []userRow
	var createAt []int // batch index of each row of create
	var replaceGroups []int64
	var members []memberRow
	for i, u := range b.Users {
		r := rows[i]
		for _, g := range u.Groups {
			if !known[g] {
				return &storage.ImportRecordError{Index: i, Err: fmt.Errorf("group %q: %w", g, storage.ErrNotFound)}
			}
		}
		if seenUsername[r.UsernameNorm] {
			return &storage.ImportRecordError{Index: i, Err: fmt.Errorf("username comes twice in the batch: %w", storage.ErrConflict)}
		}
		seenUsername[r.UsernameNorm] = true
		if r.EmailNorm != nil {
			if seenEmail[*r.EmailNorm] {
				return &storage.ImportRecordError{Index: i, Err: fmt.Errorf("e-mail comes twice in the batch: %w", storage.ErrConflict)}
			}
			seenEmail[*r.EmailNorm] = true
		}
		existing := byUsername[r.UsernameNorm]
		if r.EmailNorm != nil {
			if other := byEmail[*r.EmailNorm]; other != nil && (existing == nil || other.ID != existing.ID) {
				return &storage.ImportRecordError{Index: i, Err: fmt.Errorf("e-mail belongs to another user: %w", storage.ErrConflict)}
			}
		}
		groups := sortedUnique(u.Groups)
		if existing == nil {
			create = append(create, r)
			createAt = append(createAt, i)
			continue
		}
		r.ID = existing.ID
		same, err := sameUserRow(existing, &r)
		if err != nil {
			return err
		}
		if same && slices.Equal(sortedUnique(groupsOf[existing.ID]), groups) {
			out.Users[i] = storage.ImportUnchanged
			continue
		}
		if !b.Update {
			out.Users[i] = storage.ImportSkipped
			continue
		}
		if !same {
			if _, err := tx.NewUpdate().Model(&r).WherePK().Exec(ctx); err != nil {
				return err
			}
		}
		replaceGroups = append(replaceGroups, r.ID)
		for _, g := range groups {
			members = append(members, memberRow{UserID: r.ID, GroupName: g})
		}
		out.Users[i] = storage.ImportUpdated
	}
	if len(create) > 0 {
		for i := range create {
			create[i].ID = 0
		}
		if _, err := tx.NewInsert().Model(&create).Returning("id").Exec(ctx); err != nil {
			return err
		}
		for j, i := range createAt {
			out.Users[i] = storage.ImportCreated
			for _, g := range sortedUnique(b.Users[i].Groups) {
				members = append(members, memberRow{UserID: create[j].ID, GroupName: g})
			}
		}
	}
	if len(replaceGroups) > 0 {
		if _, err := tx.NewDelete().Model((*memberRow)(nil)).Where("user_id IN (?)", bun.List(replaceGroups)).Exec(ctx); err != nil {
			return err
		}
	}
	if len(members) > 0 {
		if _, err := tx.NewInsert().Model(&members).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// sameUserRow reports whether a stored row equals an incoming one as the
// database keeps it: times to the millisecond, the profile as JSON.
func sameUserRow(stored, in *userRow) (bool, error) {
	a, b := *stored, *in
	ta := []*dbTime{&a.DateJoined, &a.LastLogin, &a.PasswordChangedAt}
	tb := []*dbTime{&b.DateJoined, &b.LastLogin, &b.PasswordChangedAt}
	for i := range ta {
		if !ta[i].Time().Truncate(time.Millisecond).Equal(tb[i].Time().Truncate(time.Millisecond)) {
			return false, nil
		}
		*ta[i], *tb[i] = dbTime{}, dbTime{}
	}
	pa, err := json.Marshal(a.Profile)
	if err != nil {
		return false, err
	}
	pb, err := json.Marshal(b.Profile)
	if err != nil {
		return false, err
	}
	if len(a.Profile) == 0 && len(b.Profile) == 0 {
		pa, pb = nil, nil
	}
	a.Profile, b.Profile = nil, nil
	a.Permissions, b.Permissions = userPermissions(a.Permissions), userPermissions(b.Permissions)
	return bytes.Equal(pa, pb) && reflect.DeepEqual(a, b), nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
