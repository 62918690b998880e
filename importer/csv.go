package importer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkey-auth/latchkey/storage"
)

// CSVColumns are the columns of the users CSV (contract §8), in the order
// Export writes them. password is a Django hash string (or latchkey's
// argon2id PHC string); groups are separated by '|'.
var CSVColumns = []string{"username", "email", "password", "first_name", "last_name", "is_active", "is_staff", "is_superuser", "groups"}

// csvSource reads the users CSV. The header names the columns, in any
// order; username is required, the others default to empty, is_active to
// true. Groups it names are created without permissions.
type csvSource struct {
	col       map[string]int
	groupList []storage.Group
}

func (s *csvSource) readHeader(cr *csv.Reader) error {
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return errors.New("empty file: want a header row of " + strings.Join(CSVColumns, ","))
	}
	if err != nil {
		return fmt.Errorf("header row: %w", err)
	}
	s.col = map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !slices.Contains(CSVColumns, h) {
			return fmt.Errorf("header row: unknown column %q (want %s)", h, strings.Join(CSVColumns, ","))
		}
		if _, dup := s.col[h]; dup {
			return fmt.Errorf("header row: column %q twice", h)
		}
		s.col[h] = i
	}
	if _, ok := s.col["username"]; !ok {
		return errors.New("header row: no username column")
	}
	return nil
}

func newCSVReader(r io.Reader) *csv.Reader {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // a short row is a refused record, not the end
	cr.ReuseRecord = true
	return cr
}

func (s *csvSource) scan(r io.Reader) (int, error) {
	cr := newCSVReader(r)
	if err := s.readHeader(cr); err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	n := 0
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		n++
		if err != nil {
			return 0, fmt.Errorf("record %d: %w", n, err)
		}
		if i, ok := s.col["groups"]; ok && i < len(row) {
			for _, g := range splitGroups(row[i]) {
				if !seen[g] {
					seen[g] = true
					s.groupList = append(s.groupList, storage.Group{Name: g})
				}
			}
		}
	}
	return n, nil
}

func splitGroups(s string) []string {
	var out []string
	for _, g := range strings.Split(s, "|") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

func (s *csvSource) groups() []storage.Group { return s.groupList }

func (s *csvSource) users(r io.Reader, fn func(record) error) error {
	cr := newCSVReader(r)
	if err := s.readHeader(cr); err != nil {
		return err
	}
	for n := 1; ; n++ {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		rec := record{index: n}
		rec.user, rec.groups, rec.err = s.user(row)
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func (s *csvSource) user(row []string) (storage.User, []string, error) {
	if len(row) != len(s.col) {
		return storage.User{}, nil, fmt.Errorf("%d fields, want %d", len(row), len(s.col))
	}
	get := func(name string) string {
		if i, ok := s.col[name]; ok {
			return row[i]
		}
		return ""
	}
	u := storage.User{
		Username: get("username"), Email: get("email"), PasswordHash: get("password"),
		FirstName: get("first_name"), LastName: get("last_name"),
	}
	var err error
	for _, b := range []struct {
		name string
		dst  *bool
		def  bool
	}{{"is_active", &u.IsActive, true}, {"is_staff", &u.IsStaff, false}, {"is_superuser", &u.IsSuperuser, false}} {
		if *b.dst, err = parseBool(get(b.name), b.def); err != nil {
			return u, nil, fmt.Errorf("%s: %w", b.name, err)
		}
	}
	if u.Username == "" {
		return u, nil, errors.New("no username")
	}
	return u, splitGroups(get("groups")), nil
}

func parseBool(s string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return def, nil
	case "true", "t", "1", "yes":
		return true, nil
	case "false", "f", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}

// ExportStore is what Export reads.
type ExportStore interface {
	ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, int, error)
	UserGroups(ctx context.Context, userID int64) ([]storage.Group, error)
}

// Export writes every user as the users CSV, by ID, and returns how many.
// The password column holds the stored hash: keep the file as secret as the
// database.
func Export(ctx context.Context, store ExportStore, w io.Writer) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVColumns); err != nil {
		return 0, err
	}
	const page = 1000
	n := 0
	for offset := 0; ; offset += page {
		users, _, err := store.ListUsers(ctx, storage.UserQuery{Offset: offset, Limit: page})
		if err != nil {
			return n, fmt.Errorf("list users: %w", err)
		}
		for _, u := range users {
			gs, err := store.UserGroups(ctx, u.ID)
			if err != nil && !errors.Is(err, storage.ErrNotFound) { // deleted meanwhile
				return n, fmt.Errorf("groups of user %d: %w", u.ID, err)
			}
			names := make([]string, len(gs))
			for i, g := range gs {
				names[i] = g.Name
			}
			row := []string{u.Username, u.Email, u.PasswordHash, u.FirstName, u.LastName,
				strconv.FormatBool(u.IsActive), strconv.FormatBool(u.IsStaff), strconv.FormatBool(u.IsSuperuser),
				strings.Join(names, "|")}
			if err := cw.Write(row); err != nil {
				return n, err
			}
			n++
		}
		if len(users) < page {
			break
		}
	}
	cw.Flush()
	return n, cw.Error()
}
