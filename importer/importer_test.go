package importer_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/importer"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
)

func openSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "latchkey.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A custom user model whose USERNAME_FIELD is the e-mail, dumped with
// --natural-foreign (groups and permissions by natural key), users before
// the groups they name.
const emailLoginDump = `[
{"model": "shop.customer", "pk": 9, "fields": {"password": "md5$s$0123456789abcdef0123456789abcdef",
  "email": "Ann@Example.com", "full_name": "Ann Example", "is_active": true, "date_joined": "2021-06-01T10:00:00.123456",
  "groups": [["Buyers"]], "user_permissions": [["view_order", "shop", "order"]]}},
{"model": "auth.group", "fields": {"name": "Buyers", "permissions": [["add_order", "shop", "order"], ["view_order", "shop", "order"]]}}
]`

func TestDumpWithNaturalKeysAndTheEmailAsLogin(t *testing.T) {
	s := openSQLite(t)
	file := writeFile(t, "dump.json", emailLoginDump)
	sum, err := importer.ImportFile(t.Context(), s, file, importer.Options{UserModel: "shop.Customer",
		Map: map[string]string{"email": "username", "full_name": "profile.name"}})
	if err != nil || sum.Created != 1 || sum.GroupsCreated != 1 || len(sum.Refused) != 0 {
		t.Fatalf("import: %v, %+v", err, sum)
	}
	u, err := s.UserByUsername(t.Context(), "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "Ann@Example.com" || u.Profile["name"] != "Ann Example" || u.Profile[importer.DjangoIDKey] != 9.0 ||
		!u.DateJoined.Equal(time.Date(2021, 6, 1, 10, 0, 0, 123_000_000, time.UTC)) {
		t.Errorf("imported %+v", u)
	}
	if !slices.Equal(u.Permissions, []string{"shop.view_order"}) {
		t.Errorf("user permissions %v", u.Permissions)
	}
	if _, ok := u.Profile["django_permissions"]; ok {
		t.Errorf("the user's permissions are in the profile too: %v", u.Profile)
	}
	g, err := s.GetGroup(t.Context(), "Buyers")
	if err != nil || !slices.Equal(g.Permissions, []string{"shop.add_order", "shop.view_order"}) {
		t.Errorf("group: %+v, %v", g, err)
	}
}

func TestDumpOptionsAreChecked(t *testing.T) {
	s := openSQLite(t)
	file := writeFile(t, "dump.json", emailLoginDump)
	for _, tc := range []struct {
		opts importer.Options
		want string
	}{
		{importer.Options{}, "no auth.user records"},
		{importer.Options{UserModel: "customer"}, "app_label.ModelName"},
		{importer.Options{UserModel: "shop.customer", Map: map[string]string{"email": "nickname"}}, "profile.<key>"},
		{importer.Options{UserModel: "shop.customer"}, ""}, // no username: a refused record
	} {
		sum, err := importer.ImportFile(t.Context(), s, file, tc.opts)
		if tc.want == "" {
			if err != nil || len(sum.Refused) != 1 || !strings.Contains(sum.Refused[0].Reason, "--map FIELD=username") {
				t.Errorf("no username: %v, %+v", err, sum)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
	if n, _ := s.CountUsers(t.Context()); n != 0 {
		t.Errorf("%d users written", n)
	}
}

func TestDumpWithPermissionsMissingIsRefusedBeforeAnyWrite(t *testing.T) {
	s := openSQLite(t)
	file := writeFile(t, "dump.json", `[{"model": "auth.group", "pk": 1, "fields": {"name": "G", "permissions": [5]}},
{"model": "auth.user", "pk": 1, "fields": {"username": "u", "password": "", "groups": [1]}}]`)
	_, err := importer.ImportFile(t.Context(), s, file, importer.Options{})
	if err == nil || !strings.Contains(err.Error(), "dump auth.permission and contenttypes too") {
		t.Fatalf("import: %v", err)
	}
	if n, _ := s.CountUsers(t.Context()); n != 0 {
		t.Errorf("%d users written", n)
	}
}

type countingProgress struct{ total, done, finished int }

func (p *countingProgress) Start(total int) { p.total = total }
func (p *countingProgress) Add(n int)       { p.done += n }
func (p *countingProgress) Finish()         { p.finished++ }

func TestCSVBadRowsAreRefusedAndProgressIsReported(t *testing.T) {
	s := openSQLite(t)
	file := writeFile(t, "users.csv", "username,email,is_active,groups\n"+
		"ann,ann@example.com,yes,A|B\n"+
		"bob,bob@example.com,maybe,\n"+
		",nobody@example.com,true,\n"+
		"cid,cid@example.com\n"+
		"dan,,0,B\n")
	p := &countingProgress{}
	sum, err := importer.ImportFile(t.Context(), s, file, importer.Options{Progress: p, BatchSize: 2})
	if err != nil || sum.Created != 2 || sum.GroupsCreated != 2 {
		t.Fatalf("import: %v, %+v", err, sum)
	}
	var got []string
	for _, r := range sum.Refused {
		got = append(got, r.Reason)
	}
	want := []string{`is_active: "maybe" is not true or false`, "no username", "2 fields, want 4"}
	if !slices.Equal(got, want) || sum.Refused[0].Record != 2 || sum.Refused[2].Record != 4 {
		t.Errorf("refused %+v, want %q", sum.Refused, want)
	}
	if p.total != 5 || p.done != 5 || p.finished != 1 {
		t.Errorf("progress %+v", p)
	}
	dan, err := s.UserByUsername(t.Context(), "dan")
	if err != nil || dan.IsActive || dan.Email != "" {
		t.Errorf("dan: %+v, %v", dan, err)
	}
	if _, err := importer.ImportFile(t.Context(), s, writeFile(t, "bad.csv", "login,email\n"), importer.Options{}); err == nil ||
		!strings.Contains(err.Error(), `unknown column "login"`) {
		t.Errorf("a bad header: %v", err)
	}
}
