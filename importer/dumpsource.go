package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/latchkey-auth/latchkey/storage"
)

// dumpSource reads dumpdata JSON. The first pass keeps content types,
// permissions and groups (a few hundred objects at most) and counts users;
// the second pass streams the users, whose groups and permissions are then
// known whatever order the file has.
type dumpSource struct {
	userModel string
	fieldMap  map[string]string

	contentTypes map[string]string    // pk → app_label
	permissions  map[string][2]string // pk → content type pk, codename
	groupPKs     map[string]string    // pk → name
	groupPerms   map[string][]ref     // name → permission refs
	groupList    []storage.Group
}

// The fields of Django's AbstractUser and where they go. "groups" and
// "user_permissions" are read apart.
var standardFields = map[string]string{
	"username": "username", "email": "email", "password": "password",
	"first_name": "first_name", "last_name": "last_name",
	"is_active": "is_active", "is_staff": "is_staff", "is_superuser": "is_superuser",
	"date_joined": "date_joined", "last_login": "last_login",
}

var mapTargets = []string{"username", "email", "first_name", "last_name", "password"}

func newDumpSource(opts Options) (*dumpSource, error) {
	model := strings.ToLower(opts.UserModel)
	if model == "" {
		model = "auth.user"
	}
	if app, name, ok := strings.Cut(model, "."); !ok || app == "" || name == "" || strings.Contains(name, ".") {
		return nil, fmt.Errorf("--user-model %q: want app_label.ModelName, as in accounts.User", opts.UserModel)
	}
	fm := map[string]string{}
	for field, target := range opts.Map {
		if target != "" && !slices.Contains(mapTargets, target) && !strings.HasPrefix(target, "profile.") || target == "profile." {
			return nil, fmt.Errorf("--map %s=%s: want one of %s or profile.<key>", field, target, strings.Join(mapTargets, ", "))
		}
		fm[field] = target
	}
	return &dumpSource{
		userModel: model, fieldMap: fm,
		contentTypes: map[string]string{}, permissions: map[string][2]string{},
		groupPKs: map[string]string{}, groupPerms: map[string][]ref{},
	}, nil
}

func (s *dumpSource) scan(r io.Reader) (int, error) {
	dr, err := newDumpReader(r)
	if err != nil {
		return 0, err
	}
	users := 0
	var groupOrder, models []string
	for {
		obj, err := dr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		pk := pkString(obj.PK)
		if !slices.Contains(models, obj.Model) && len(models) < 20 {
			models = append(models, obj.Model)
		}
		switch obj.Model {
		case s.userModel:
			users++
		case "contenttypes.contenttype":
			if app, err := fieldString(obj.Fields, "app_label"); err == nil {
				s.contentTypes[pk] = app
			}
		case "auth.permission":
			code, err := fieldString(obj.Fields, "codename")
			if err != nil {
				return 0, fmt.Errorf("record %d (permission): %w", dr.index, err)
			}
			ct, err := parseRef(obj.Fields["content_type"])
			if err != nil {
				return 0, fmt.Errorf("record %d (permission): content_type: %w", dr.index, err)
			}
			app := ct.pk
			if len(ct.natural) > 0 {
				app = "natural:" + ct.natural[0]
			}
			s.permissions[pk] = [2]string{app, code}
		case "auth.group":
			name, err := fieldString(obj.Fields, "name")
			if err != nil || name == "" {
				return 0, fmt.Errorf("record %d (group): no name", dr.index)
			}
			perms, err := parseRefs(obj.Fields, "permissions")
			if err != nil {
				return 0, fmt.Errorf("record %d (group %q): %w", dr.index, name, err)
			}
			s.groupPKs[pk] = name
			s.groupPerms[name] = perms
			groupOrder = append(groupOrder, name)
		}
	}
	for _, name := range groupOrder {
		var perms []string
		for _, p := range s.groupPerms[name] {
			perm, err := s.permission(p)
			if err != nil {
				return 0, fmt.Errorf("group %q: %w", name, err)
			}
			perms = append(perms, perm)
		}
		s.groupList = append(s.groupList, storage.Group{Name: name, Permissions: perms})
	}
	if users == 0 {
		return 0, fmt.Errorf("no %s records (the file has %s): is the user model right (--user-model app_label.ModelName)?",
			s.userModel, strings.Join(models, ", "))
	}
	return users, nil
}

// permission resolves a permission reference to app_label.codename.
func (s *dumpSource) permission(r ref) (string, error) {
	if len(r.natural) == 3 { // [codename, app_label, model]
		return r.natural[1] + "." + r.natural[0], nil
	}
	if len(r.natural) > 0 {
		return "", fmt.Errorf("permission %v: want [codename, app_label, model]", r.natural)
	}
	p, ok := s.permissions[r.pk]
	if !ok {
		return "", fmt.Errorf("permission %s is not in the file (dump auth.permission and contenttypes too)", r.pk)
	}
	app, ok := strings.CutPrefix(p[0], "natural:")
	if !ok {
		if app, ok = s.contentTypes[p[0]]; !ok {
			return "", fmt.Errorf("content type %s of permission %s is not in the file (dump contenttypes too)", p[0], r.pk)
		}
	}
	return app + "." + p[1], nil
}

func (s *dumpSource) groups() []storage.Group { return s.groupList }

func (s *dumpSource) users(r io.Reader, fn func(record) error) error {
	dr, err := newDumpReader(r)
	if err != nil {
		return err
	}
	for {
		obj, err := dr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if obj.Model == "?" {
			// Not an object with a model: it cannot be told apart from a
			// user, so it is reported.
			if err := fn(record{index: dr.index, err: errors.New("not a dumpdata object (want model, pk and fields)")}); err != nil {
				return err
			}
			continue
		}
		if obj.Model != s.userModel {
			continue
		}
		rec := record{index: dr.index}
		rec.user, rec.groups, rec.err = s.user(obj)
		if err := fn(rec); err != nil {
			return err
		}
	}
}

func (s *dumpSource) user(obj dumpObject) (storage.User, []string, error) {
	u := storage.User{IsActive: true, Profile: map[string]any{}}
	if len(obj.PK) > 0 {
		var pk any
		if err := json.Unmarshal(obj.PK, &pk); err == nil && pk != nil {
			u.Profile[DjangoIDKey] = pk
		}
	}
	if obj.Fields == nil {
		return u, nil, errors.New("no fields")
	}
	// A standard field goes to its place, and also where --map sends it
	// (email=username: the login is the address); --map FIELD= drops it.
	for field, raw := range obj.Fields {
		if field == "groups" || field == "user_permissions" {
			continue
		}
		mapped, isMapped := s.fieldMap[field]
		targets := []string{standardFields[field]}
		if isMapped {
			targets = append(targets, mapped)
			if mapped == "" {
				targets = nil
			}
		}
		for _, target := range targets {
			if target == "" {
				continue
			}
			if key, ok := strings.CutPrefix(target, "profile."); ok {
				var v any
				if err := json.Unmarshal(raw, &v); err != nil {
					return u, nil, fmt.Errorf("field %s: %v", field, err)
				}
				if v != nil {
					u.Profile[key] = v
				}
				continue
			}
			if err := setField(&u, target, obj.Fields, field); err != nil {
				return u, nil, err
			}
		}
	}
	if u.Username == "" {
		return u, nil, errors.New("no username (map the login field with --map FIELD=username)")
	}
	refs, err := parseRefs(obj.Fields, "groups")
	if err != nil {
		return u, nil, err
	}
	var groups []string
	for _, g := range refs {
		var name string
		if len(g.natural) > 0 {
			name = g.natural[0]
		} else if name = s.groupPKs[g.pk]; name == "" {
			return u, nil, fmt.Errorf("group %s is not in the file (dump auth.group too)", g.pk)
		}
		groups = append(groups, name)
	}
	prefs, err := parseRefs(obj.Fields, "user_permissions")
	if err != nil {
		return u, nil, err
	}
	// The user's own permissions count like their groups' in tokens (the
	// permission mapper); the store keeps them sorted and unique.
	for _, p := range prefs {
		perm, err := s.permission(p)
		if err != nil {
			return u, nil, err
		}
		u.Permissions = append(u.Permissions, perm)
	}
	slices.Sort(u.Permissions)
	u.Permissions = slices.Compact(u.Permissions)
	return u, groups, nil
}

func setField(u *storage.User, target string, fields map[string]json.RawMessage, field string) error {
	var err error
	switch target {
	case "username":
		u.Username, err = fieldString(fields, field)
	case "email":
		u.Email, err = fieldString(fields, field)
	case "password":
		u.PasswordHash, err = fieldString(fields, field)
	case "first_name":
		u.FirstName, err = fieldString(fields, field)
	case "last_name":
		u.LastName, err = fieldString(fields, field)
	case "is_active":
		u.IsActive, err = fieldBool(fields, field, true)
	case "is_staff":
		u.IsStaff, err = fieldBool(fields, field, false)
	case "is_superuser":
		u.IsSuperuser, err = fieldBool(fields, field, false)
	case "date_joined":
		u.DateJoined, err = fieldTime(fields, field)
	case "last_login":
		u.LastLogin, err = fieldTime(fields, field)
	}
	if err != nil && !strings.HasPrefix(err.Error(), "field ") {
		err = fmt.Errorf("field %s: %w", field, err)
	}
	return err
}
