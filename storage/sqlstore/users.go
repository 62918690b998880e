package sqlstore

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

type userRow struct {
	bun.BaseModel `bun:"table:users"`

	ID                int64 `bun:"id,pk,autoincrement"`
	Username          string
	UsernameNorm      string
	Email             string
	EmailNorm         *string // NULL for an empty e-mail: NULLs never clash
	SearchText        string  // lower-cased fields ListUsers searches
	PasswordHash      string
	FirstName         string
	LastName          string
	IsActive          bool
	IsStaff           bool
	IsSuperuser       bool
	EmailVerified     bool
	DateJoined        dbTime
	LastLogin         dbTime
	PasswordChangedAt dbTime
	Profile           profileColumn
	Permissions       []string // NULL when none
}

// normalize lower-cases a login for the unique, case-insensitive columns.
// It is done in Go, not SQL, because SQLite's lower() knows only ASCII.
func normalize(s string) string { return strings.ToLower(s) }

func newUserRow(u storage.User) userRow {
	r := userRow{
		ID: u.ID, Username: u.Username, UsernameNorm: normalize(u.Username),
		Email: u.Email, PasswordHash: u.PasswordHash,
		FirstName: u.FirstName, LastName: u.LastName,
		IsActive: u.IsActive, IsStaff: u.IsStaff, IsSuperuser: u.IsSuperuser,
		EmailVerified: u.EmailVerified, DateJoined: dbTime(u.DateJoined),
		LastLogin: dbTime(u.LastLogin), PasswordChangedAt: dbTime(u.PasswordChangedAt),
		Profile: escapeProfile(u.Profile), Permissions: userPermissions(u.Permissions),
	}
	if u.Email != "" {
		norm := normalize(u.Email)
		r.EmailNorm = &norm
	}
	// Newlines keep a search from matching across two fields.
	r.SearchText = normalize(strings.Join([]string{u.Username, u.Email, u.FirstName, u.LastName}, "\n"))
	return r
}

func (r *userRow) user() storage.User {
	return storage.User{
		ID: r.ID, Username: r.Username, Email: r.Email, PasswordHash: r.PasswordHash,
		FirstName: r.FirstName, LastName: r.LastName,
		IsActive: r.IsActive, IsStaff: r.IsStaff, IsSuperuser: r.IsSuperuser,
		EmailVerified: r.EmailVerified, DateJoined: r.DateJoined.Time(),
		LastLogin: r.LastLogin.Time(), PasswordChangedAt: r.PasswordChangedAt.Time(),
		Profile: unescapeProfile(map[string]any(r.Profile)), Permissions: userPermissions(r.Permissions),
	}
}

// userPermissions are a user's own permissions as stored: sorted, unique,
// and nil when there are none.
func userPermissions(perms []string) []string {
	if len(perms) == 0 {
		return nil
	}
	return sortedUnique(perms)
}

// CreateUser stores u and sets u.ID; the database picks the ID.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	op := fmt.Sprintf("create user %q", u.Username)
	row := newUserRow(*u)
	row.ID = 0
	// The row, not u: a profile's U+0000 is escaped there (profile.go).
	if err := checkText(op, &row); err != nil {
		return err
	}
	if _, err := s.w.NewInsert().Model(&row).Exec(ctx); err != nil {
		return translate(op, err)
	}
	u.ID = row.ID
	return nil
}

// GetUser returns the user with the ID.
func (s *Store) GetUser(ctx context.Context, id int64) (storage.User, error) {
	return s.userWhere(ctx, fmt.Sprintf("get user %d", id), s.q.getUser, id)
}

// UserByUsername finds a user by username, ignoring case.
func (s *Store) UserByUsername(ctx context.Context, username string) (storage.User, error) {
	// Checked before normalize, which would make invalid UTF-8 valid.
	if err := checkKey("user by username", username); err != nil {
		return storage.User{}, err
	}
	return s.userWhere(ctx, "user by username", s.q.userByUsername, normalize(username))
}

// UserByEmail finds a user by e-mail, ignoring case. The empty e-mail
// belongs to no one.
func (s *Store) UserByEmail(ctx context.Context, email string) (storage.User, error) {
	if email == "" {
		return storage.User{}, notFound("user by email")
	}
	if err := checkKey("user by email", email); err != nil {
		return storage.User{}, err
	}
	return s.userWhere(ctx, "user by email", s.q.userByEmail, normalize(email))
}

func (s *Store) userWhere(ctx context.Context, op, query string, arg any) (storage.User, error) {
	var row userRow
	if err := s.read(ctx, &row, query, arg); err != nil {
		return storage.User{}, translate(op, err)
	}
	return row.user(), nil
}

// UpdateUser loads the user, applies fn and saves it in one transaction. The
// ID cannot change; an error from fn is returned as is.
func (s *Store) UpdateUser(ctx context.Context, id int64, fn func(*storage.User) error) (storage.User, error) {
	return updateTx(ctx, s, fmt.Sprintf("update user %d", id), fn,
		func(q *bun.SelectQuery) *bun.SelectQuery { return q.Where("id = ?", id) },
		(*userRow).user,
		func(r *userRow, u storage.User) { u.ID = r.ID; *r = newUserRow(u) })
}

// DeleteUser deletes the user; its group memberships go with it.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	op := fmt.Sprintf("delete user %d", id)
	res, err := s.w.NewDelete().Model((*userRow)(nil)).Where("id = ?", id).Exec(ctx)
	s.bumpRevocations() // the user's personal tokens went with it
	return expectRows(res, err, op)
}

// ListUsers returns a page of users by ID and how many match in all.
func (s *Store) ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, int, error) {
	if err := checkText("list users", q.Search); err != nil {
		return nil, 0, err
	}
	var rows []userRow
	sel := s.r.NewSelect().Model(&rows)
	if q.Search != "" {
		sel = sel.Where("search_text LIKE ? ESCAPE '!'", "%"+escapeLike(normalize(q.Search))+"%")
	}
	total, err := sel.Count(ctx)
	if err != nil {
		return nil, 0, translate("count users", err)
	}
	sel = sel.Order("id").Offset(int64(max(q.Offset, 0)))
	switch {
	case q.Limit > 0:
		sel = sel.Limit(int64(q.Limit))
	case q.Offset > 0:
		sel = sel.Limit(math.MaxInt64) // SQLite allows no OFFSET without LIMIT
	}
	if err := sel.Scan(ctx); err != nil {
		return nil, 0, translate("list users", err)
	}
	users := make([]storage.User, len(rows))
	for i := range rows {
		users[i] = rows[i].user()
	}
	return users, int(total), nil
}

// escapeLike makes LIKE's wildcards in s literal, with '!' as the escape:
// a backslash means different things to the two dialects' string literals.
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// CountUsers counts every user.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	n, err := s.r.NewSelect().Model((*userRow)(nil)).Count(ctx)
	if err != nil {
		return 0, translate("count users", err)
	}
	return int(n), nil
}
