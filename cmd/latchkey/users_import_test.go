package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

const djangoDump = "../../importer/testdata/django_dump.json"

// djangoImportArgs import the fixture of importer/testdata/make_fixture.py:
// a custom user model with two extra fields.
func djangoImportArgs(file string, extra ...string) []string {
	return append([]string{"users", "import", file, "--user-model", "accounts.User",
		"--map", "department=profile.department", "--map", "employee_no=profile.employee_no"}, extra...)
}

// withPostgres points e at a fresh schema of the test Postgres.
func withPostgres(t *testing.T, e *cliEnv) {
	t.Helper()
	dsn := storagetest.RequireService(t, "the Postgres import test", "LATCHKEY_TEST_POSTGRES_DSN")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := "lk_import_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		db.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	e.environ = append(e.environ, "LATCHKEY_STORAGE__DRIVER=postgres",
		"LATCHKEY_STORAGE__POSTGRES__DSN="+dsn+sep+"search_path="+schema)
}

// exported returns the users CSV of e as rows keyed by username.
func exported(t *testing.T, e *cliEnv) map[string][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(e.run(t, false, "", "users", "export", "-"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range rows[1:] {
		out[r[0]] = r
	}
	return out
}

// jwtClaims decodes an access token's claims; the server tests check the
// signature, this test what an import put in them.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func stringsOf(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	slices.Sort(out)
	return out
}

func TestUsersImportDjangoDumpThenLogInWithTheOldPasswords(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			e := newCLIEnv(t)
			// Django's own cost for pbkdf2 (260,000 rounds) and argon2
			// (100 MiB, 8 lanes) takes seconds under -race on a busy machine.
			e.environ = append(e.environ, "LATCHKEY_STORAGE__TIMEOUT=2m")
			if db == "postgres" {
				withPostgres(t, e)
			}
			out := e.run(t, false, "", djangoImportArgs(djangoDump+".gz")...)
			if !strings.Contains(out, "213 created, 0 updated, 0 unchanged") || !strings.Contains(out, "3 created") {
				t.Fatalf("first import printed %q", out)
			}
			before := exported(t, e)
			if got := before["user000"]; got[8] != "ProductManagers|Viewers" || !strings.HasPrefix(got[2], "pbkdf2_sha256$") || got[6] != "true" {
				t.Fatalf("user000 exported as %q", got)
			}

			var client struct {
				ClientID     string `json:"client_id"`
				ClientSecret string `json:"client_secret"`
			}
			if err := json.Unmarshal([]byte(e.run(t, false, "", "clients", "create", "--id", "old-frontend",
				"--grant-type", "password", "--scope", "openid")), &client); err != nil {
				t.Fatal(err)
			}
			base := startServe(t, e)
			conf := &oauth2.Config{ClientID: client.ClientID, ClientSecret: client.ClientSecret,
				Endpoint: oauth2.Endpoint{TokenURL: base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
			ctx := context.Background()

			// One user per hasher of the fixture, with the password Django had.
			logins := map[string]string{"user000": "pw-0-secret", "user001": "pw-1-secret", "user002": "pw-2-secret",
				"user003": "pw-3-secret", "user004": "pw-4-secret", "user005": "pw-5-secret", "user006": "pw-6-secret",
				"user007": "pw-7-secret", "user013": "pw-13-secret", "alice@example.com": "alice-old-password"}
			for login, password := range logins {
				tok, err := conf.PasswordCredentialsToken(ctx, login, password)
				if err != nil {
					t.Fatalf("%s with the Django password: %v", login, err)
				}
				if login != "user000" {
					continue
				}
				claims := jwtClaims(t, tok.AccessToken)
				if got := stringsOf(claims["groups"]); !slices.Equal(got, []string{"ProductManagers", "Viewers"}) {
					t.Errorf("user000's token groups = %v", got)
				}
				// Staff (admin), their own store.add_product and their groups'.
				if got := stringsOf(claims["permissions"]); !slices.Equal(got, []string{"admin", "store.add_product", "store.can_publish_product", "store.change_product", "store.view_product"}) {
					t.Errorf("user000's token permissions = %v", got)
				}
			}
			for login, password := range map[string]string{"user000": "pw-1-secret", "nopass": "", "ghost": "ghost-password"} {
				for _, pw := range []string{password, before[login][2]} {
					if pw == "" {
						continue
					}
					if _, err := conf.PasswordCredentialsToken(ctx, login, pw); err == nil {
						t.Errorf("%s logged in with %q", login, pw)
					}
				}
			}

			// The hashes of those who logged in are argon2id now; the others are as imported.
			after := exported(t, e)
			for name, row := range after {
				login := name
				if name == "alice" {
					login = "alice@example.com"
				}
				_, loggedIn := logins[login]
				if loggedIn != strings.HasPrefix(row[2], "$argon2id$") {
					t.Errorf("%s (logged in: %v) has the hash %.20s…", name, loggedIn, row[2])
				}
				if !loggedIn && row[2] != before[name][2] {
					t.Errorf("%s's hash changed without a login", name)
				}
			}
			if !strings.HasPrefix(after["nopass"][2], "!") {
				t.Errorf("nopass's unusable password became %.10s…", after["nopass"][2])
			}
		})
	}
}

func TestUsersImportTwiceChangesNothing(t *testing.T) {
	e := newCLIEnv(t)
	e.run(t, false, "", djangoImportArgs(djangoDump)...)
	first := exported(t, e)
	for _, conflict := range []string{"skip", "update"} {
		out := e.run(t, false, "", djangoImportArgs(djangoDump+".gz", "--on-conflict", conflict)...)
		if !strings.Contains(out, "0 created, 0 updated, 213 unchanged, 0 skipped") || !strings.Contains(out, "groups: 0 created, 0 updated") {
			t.Fatalf("re-import with --on-conflict %s printed %q", conflict, out)
		}
	}
	if again := exported(t, e); !mapsEqual(first, again) {
		t.Fatal("a re-import changed users")
	}
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestUsersImportReportsABrokenRecordAndImportsTheRest(t *testing.T) {
	raw, err := os.ReadFile(djangoDump)
	if err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(raw, &objs); err != nil {
		t.Fatal(err)
	}
	objs[4]["fields"].(map[string]any)["username"] = 42                 // record 5: not a string
	objs[6]["fields"].(map[string]any)["email"] = "user000@example.com" // record 7: another user's e-mail
	broken, _ := json.Marshal(objs)
	file := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(file, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	e := newCLIEnv(t)
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), djangoImportArgs(file), strings.NewReader(""), &stdout, &stderr, e.environ)
	if err == nil {
		t.Fatal("an import with refused records exited with success")
	}
	out := stdout.String()
	for _, want := range []string{"211 created", "2 refused", "refused record 5: field username: want a string",
		`refused record 7 ("user006"): e-mail comes twice in the batch`} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	users := exported(t, e)
	if _, ok := users["user006"]; ok || len(users) != 211 {
		t.Errorf("after the import: %d users, user006 there: %v", len(users), ok)
	}
}

func TestUsersImportRefusesTruncatedAndNonJSONFiles(t *testing.T) {
	raw, err := os.ReadFile(djangoDump)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		content []byte
		want    string
	}{
		"truncated.json": {raw[:len(raw)/2], "truncated"},
		"notjson.json":   {[]byte("username,email\nbob,bob@example.com\n"), "not a dumpdata file"},
		"garbage.json":   {[]byte(`[{"model": "accounts.user", "pk": 1, "fields": {]`), "invalid JSON"},
		"empty.json":     {nil, "not a dumpdata file"},
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name)
			if err := os.WriteFile(file, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			e := newCLIEnv(t)
			if out := e.run(t, true, "", djangoImportArgs(file)...); !strings.Contains(out, tc.want) || !strings.Contains(out, name) {
				t.Errorf("importing %s: %q, want the file named and %q", name, out, tc.want)
			}
			if users := exported(t, e); len(users) != 0 {
				t.Errorf("a refused file wrote %d users", len(users))
			}
		})
	}
}

func TestUsersImportOnConflictAndDryRun(t *testing.T) {
	e := newCLIEnv(t)
	e.run(t, false, "long-enough-password\n", "users", "create", "--username", "bob", "--email", "bob@old.example", "--password-stdin")
	file := filepath.Join(t.TempDir(), "users.csv")
	csvText := "username,email,password,first_name,last_name,is_active,is_staff,is_superuser,groups\n" +
		"bob,bob@new.example,md5$salt$5fcd9a8e6e6e8a6a1fcbab1c4b4d7f46,Bob,Builder,true,false,false,Builders\n" +
		"carol,carol@example.com,!unusable,Carol,,true,true,false,Builders|Admins\n"
	if err := os.WriteFile(file, []byte(csvText), 0o600); err != nil {
		t.Fatal(err)
	}

	out := e.run(t, false, "", "users", "import", file, "--dry-run")
	if !strings.Contains(out, "dry run") || !strings.Contains(out, "1 created, 0 updated, 0 unchanged, 1 skipped") || !strings.Contains(out, "groups: 2 created") {
		t.Fatalf("dry run printed %q", out)
	}
	if users := exported(t, e); len(users) != 1 {
		t.Fatalf("a dry run wrote users: %v", users)
	}

	out = e.run(t, false, "", "users", "import", file)
	if !strings.Contains(out, "1 created, 0 updated, 0 unchanged, 1 skipped") {
		t.Fatalf("--on-conflict skip printed %q", out)
	}
	if bob := exported(t, e)["bob"]; bob[1] != "bob@old.example" || !strings.HasPrefix(bob[2], "$argon2id$") || bob[8] != "" {
		t.Fatalf("a skipped bob changed: %q", bob)
	}

	out = e.run(t, false, "", "users", "import", file, "--on-conflict", "update")
	if !strings.Contains(out, "0 created, 1 updated, 1 unchanged, 0 skipped") {
		t.Fatalf("--on-conflict update printed %q", out)
	}
	users := exported(t, e)
	if bob := users["bob"]; bob[1] != "bob@new.example" || bob[3] != "Bob" || bob[8] != "Builders" {
		t.Fatalf("an updated bob is %q", bob)
	}
	if carol := users["carol"]; carol[8] != "Admins|Builders" || carol[6] != "true" {
		t.Fatalf("carol is %q", carol)
	}
	e.run(t, true, "", "users", "import", file, "--on-conflict", "overwrite")
}

func TestUsersExportThenImportElsewhere(t *testing.T) {
	src := newCLIEnv(t)
	src.run(t, false, "", djangoImportArgs(djangoDump)...)
	file := filepath.Join(t.TempDir(), "users.csv")
	src.run(t, false, "", "users", "export", file)
	dst := newCLIEnv(t)
	if out := dst.run(t, false, "", "users", "import", file); !strings.Contains(out, "213 created") {
		t.Fatalf("importing the export printed %q", out)
	}
	a, b := exported(t, src), exported(t, dst)
	if !mapsEqual(a, b) {
		t.Fatal("the users CSV did not survive an export and an import")
	}
	if out := dst.run(t, false, "", "users", "import", file); !strings.Contains(out, "213 unchanged") {
		t.Fatalf("importing the export twice printed %q", out)
	}
}
