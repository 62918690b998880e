package local

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/backendtest"
	"github.com/latchkey-auth/latchkey/storage"
)

// testParams keep the suite fast; TestDefaultParams covers the real ones.
var testParams = Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

// testParamsPrefix is how a hash made with testParams begins.
const testParamsPrefix = "$argon2id$v=19$m=64,t=1,p=1$"

func mustHash(t testing.TB, password string, p Params) string {
	t.Helper()
	h, err := HashPassword(password, p)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	return h
}

func open(t testing.TB, cfg Config, deps backends.Deps) *backend {
	t.Helper()
	impl, err := cfg.Open("local", deps)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	b, ok := impl.(*backend)
	if !ok {
		t.Fatalf("Open returned %T, want *backend", impl)
	}
	return b
}

// logBuffer collects log output so tests can check nothing secret is in it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestConformance(t *testing.T) {
	backendtest.RunPasswordChecker(t, backendtest.Harness{
		BackendID: "local",
		Open: func(t *testing.T, users []backendtest.User) backends.PasswordChecker {
			fake := newFakeUsers()
			for _, u := range users {
				fake.add(storage.User{
					Username:     u.Username,
					Email:        u.Email,
					PasswordHash: mustHash(t, u.Password, testParams),
					IsActive:     u.Active,
				})
			}
			return open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})
		},
		Down: func(t *testing.T) backends.PasswordChecker {
			fake := newFakeUsers()
			fake.lookupErr = fmt.Errorf("fake store: %w", storage.ErrUnavailable)
			return open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})
		},
		Hang: func(t *testing.T) backends.PasswordChecker {
			fake := newFakeUsers()
			fake.hang = true
			return open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})
		},
	})
}

func TestHasherConformance(t *testing.T) {
	backendtest.RunPasswordHasher(t, backendtest.HasherHarness{
		Open: func(t *testing.T) backends.PasswordHasher {
			return open(t, Config{Argon2: testParams}, backends.Deps{Users: newFakeUsers()})
		},
		Check: func(t *testing.T, encoded, password string) bool {
			fake := newFakeUsers()
			fake.add(storage.User{Username: "u", PasswordHash: encoded, IsActive: true})
			_, ok, err := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake}).CheckPassword(t.Context(), "u", password)
			if err != nil {
				t.Fatalf("CheckPassword: %v", err)
			}
			return ok
		},
	})
}

// The backend hashes new passwords with its configured parameters, so they
// need no rehash at the first login.
func TestBackendHashesWithItsConfiguredParams(t *testing.T) {
	b := open(t, Config{Argon2: testParams}, backends.Deps{Users: newFakeUsers()})
	encoded, err := b.HashPassword(t.Context(), "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, testParamsPrefix) {
		t.Errorf("HashPassword made %q, want the configured parameters (%s...)", encoded, testParamsPrefix)
	}
	if _, needsRehash, err := VerifyPassword(encoded, "hunter2", testParams); err != nil || needsRehash {
		t.Errorf("a fresh hash needs a rehash (%v) or does not verify: %v", needsRehash, err)
	}
}

func TestDefaultParams(t *testing.T) {
	want := Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	if got := DefaultParams(); got != want {
		t.Fatalf("DefaultParams() = %+v, want OWASP's %+v", got, want)
	}

	fake := newFakeUsers()
	encoded := mustHash(t, "hunter2", Params{})
	fake.add(storage.User{Username: "alice", PasswordHash: encoded, IsActive: true})
	b := open(t, Config{}, backends.Deps{Users: fake})
	if b.params != want {
		t.Errorf("an empty config opens with %+v, want %+v", b.params, want)
	}
	for name, h := range map[string]string{"HashPassword": encoded, "the dummy hash": b.dummyHash} {
		if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("%s made %q, want the default parameters", name, h)
		}
	}
	if _, ok, err := b.CheckPassword(t.Context(), "alice", "hunter2"); !ok || err != nil {
		t.Fatalf("right password with default params: ok %v, err %v", ok, err)
	}
	if _, _, updates := fake.counts(); updates != 0 {
		t.Errorf("a hash with the current params was rewritten %d times, want 0", updates)
	}
}

func TestRehashOnLoginWhenParamsChange(t *testing.T) {
	fake := newFakeUsers()
	old := mustHash(t, "hunter2", testParams)
	u := fake.add(storage.User{Username: "alice", PasswordHash: old, IsActive: true})

	stronger := Params{MemoryKiB: 128, Iterations: 2, Parallelism: 2}
	b := open(t, Config{Argon2: stronger}, backends.Deps{Users: fake})

	if _, ok, err := b.CheckPassword(t.Context(), "alice", "wrong"); ok || err != nil {
		t.Fatalf("wrong password: ok %v, err %v", ok, err)
	}
	if got := fake.get(u.ID).PasswordHash; got != old {
		t.Fatal("a failed login rewrote the hash")
	}

	if _, ok, err := b.CheckPassword(t.Context(), "alice", "hunter2"); !ok || err != nil {
		t.Fatalf("right password: ok %v, err %v", ok, err)
	}
	fresh := fake.get(u.ID).PasswordHash
	if fresh == old {
		t.Fatal("the hash with old params is still stored")
	}
	if !strings.HasPrefix(fresh, "$argon2id$v=19$m=128,t=2,p=2$") {
		t.Errorf("rehashed to %q, want the new params", fresh)
	}
	if ok, again, err := VerifyPassword(fresh, "hunter2", stronger); !ok || again || err != nil {
		t.Errorf("VerifyPassword(new hash) = ok %v, needsRehash %v, err %v; want true, false, nil", ok, again, err)
	}

	// The upgrade happens once: the next login finds nothing to do.
	if _, ok, err := b.CheckPassword(t.Context(), "alice", "hunter2"); !ok || err != nil {
		t.Fatalf("login after rehash: ok %v, err %v", ok, err)
	}
	if _, _, updates := fake.counts(); updates != 1 {
		t.Errorf("UpdateUser called %d times, want 1", updates)
	}
	if got := fake.get(u.ID).PasswordHash; got != fresh {
		t.Error("the hash changed again on a login with current params")
	}
}

// Django's formats, built here the way Django builds them.

// djangoPBKDF2 is PBKDF2PasswordHasher.encode: the salt is text, the key is
// the digest's length, base64 with padding.
func djangoPBKDF2(t testing.TB, password, salt string, iterations int) string {
	t.Helper()
	key, err := pbkdf2.Key(sha256.New, password, []byte(salt), iterations, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iterations, salt, base64.StdEncoding.EncodeToString(key))
}

// djangoBcrypt is BCryptPasswordHasher (sha256 false) and
// BCryptSHA256PasswordHasher (sha256 true, bcrypt over the hex digest).
// Python's bcrypt writes the $2b$ prefix.
func djangoBcrypt(t testing.TB, password string, sha256Digest bool) string {
	t.Helper()
	prefix, secret := "bcrypt$", []byte(password)
	if sha256Digest {
		sum := sha256.Sum256(secret)
		prefix, secret = "bcrypt_sha256$", []byte(hex.EncodeToString(sum[:]))
	}
	h, err := bcrypt.GenerateFromPassword(secret, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + strings.Replace(string(h), "$2a$", "$2b$", 1)
}

// djangoArgon2 is Argon2PasswordHasher: "argon2" and argon2-cffi's PHC
// string, with Django's own text salt. p=8 is Django's default parallelism.
func djangoArgon2(password, salt string) string {
	key := argon2.IDKey([]byte(password), []byte(salt), 1, 64, 8, 32)
	return fmt.Sprintf("argon2$argon2id$v=19$m=64,t=1,p=8$%s$%s",
		base64.RawStdEncoding.EncodeToString([]byte(salt)), base64.RawStdEncoding.EncodeToString(key))
}

// importedHashes are hashes as Django stores them, each with its password.
func importedHashes(t testing.TB) []struct{ name, encoded, password string } {
	return []struct{ name, encoded, password string }{
		// From Django's own test suite (tests/auth_tests/test_hashers.py,
		// test_pbkdf2, when the default was 10000 iterations).
		{"pbkdf2_sha256 from Django's tests", "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY=", "lètmein"},
		// make_password('password', salt='seasalt', hasher='pbkdf2_sha256')
		// at 20000 iterations, computed independently with Python's
		// hashlib.pbkdf2_hmac('sha256', b'password', b'seasalt', 20000).
		{"pbkdf2_sha256 fixed vector", "pbkdf2_sha256$20000$seasalt$r+55pyxmKjbZk4zzvs8GbpOTmHjIJNePoTng7oOmX04=", "password"},
		// hashlib.pbkdf2_hmac('sha1', b'password', b'seasalt', 20000).
		{"pbkdf2_sha1 fixed vector", "pbkdf2_sha1$20000$seasalt$bU7Uu8sLuQSVAyiwOF1NvP5Z6VM=", "password"},
		{"pbkdf2_sha256 generated", djangoPBKDF2(t, "s3cret-pbkdf2", "Zr5H0N5fG0xqWbbd3rRg7A", 1000), "s3cret-pbkdf2"},
		{"bcrypt_sha256 generated", djangoBcrypt(t, "s3cret-bcrypt-sha256", true), "s3cret-bcrypt-sha256"},
		{"bcrypt generated", djangoBcrypt(t, "s3cret-bcrypt", false), "s3cret-bcrypt"},
		// OpenBSD's bcrypt test vector, behind Django's prefix.
		{"bcrypt fixed vector", "bcrypt$$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
		{"argon2 generated", djangoArgon2("s3cret-argon2", "xUq8bWcR1aQ9vCzZk3mJ0e"), "s3cret-argon2"},
		// The argon2 reference implementation's test vectors (src/test.c).
		{"argon2 argon2id fixed vector", "argon2$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "password"},
		{"argon2 argon2i fixed vector", "argon2$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8", "password"},
	}
}

func TestDjangoHashesVerifyAndUpgrade(t *testing.T) {
	for _, tc := range importedHashes(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeUsers()
			u := fake.add(storage.User{Username: "alice", PasswordHash: tc.encoded, IsActive: true})
			b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})

			if _, ok, err := b.CheckPassword(t.Context(), "alice", tc.password+"x"); ok || err != nil {
				t.Fatalf("wrong password: ok %v, err %v", ok, err)
			}
			if fake.get(u.ID).PasswordHash != tc.encoded {
				t.Fatal("a failed login rewrote the hash")
			}

			if _, ok, err := b.CheckPassword(t.Context(), "alice", tc.password); !ok || err != nil {
				t.Fatalf("right password: ok %v, err %v", ok, err)
			}
			fresh := fake.get(u.ID).PasswordHash
			if !strings.HasPrefix(fresh, testParamsPrefix) {
				t.Fatalf("after login the hash is %q, want argon2id with the configured params", fresh)
			}
			if ok, again, err := VerifyPassword(fresh, tc.password, testParams); !ok || again || err != nil {
				t.Errorf("VerifyPassword(upgraded) = ok %v, needsRehash %v, err %v; want true, false, nil", ok, again, err)
			}
			if _, ok, err := b.CheckPassword(t.Context(), "alice", tc.password); !ok || err != nil {
				t.Errorf("login after upgrade: ok %v, err %v", ok, err)
			}
		})
	}
}

func TestRehashFailureIsLoggedAndLoginSucceeds(t *testing.T) {
	fake := newFakeUsers()
	const password = "s3cret-for-the-log-test"
	old := djangoPBKDF2(t, password, "logsalt", 1000)
	fake.add(storage.User{Username: "alice", PasswordHash: old, IsActive: true})
	fake.updateErr = errors.New("database is read-only")
	var logs logBuffer
	b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake, Logger: logs.logger()})

	id, ok, err := b.CheckPassword(t.Context(), "alice", password)
	if !ok || err != nil || id.Username != "alice" {
		t.Fatalf("login with a failing rehash: ok %v, err %v, identity %+v; want success", ok, err, id)
	}
	out := logs.String()
	if !strings.Contains(out, "rehash failed") || !strings.Contains(out, "database is read-only") {
		t.Errorf("the failure was not logged: %q", out)
	}
	checkNothingSecret(t, out, password, old)
}

// checkNothingSecret fails if the log holds the password, a stored hash or
// any argon2 hash (such as the one a rehash made).
func checkNothingSecret(t *testing.T, logs, password, hash string) {
	t.Helper()
	for what, s := range map[string]string{"password": password, "stored hash": hash, "argon2 hash": "$argon2", "salt or key": "seasalt"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log contains the %s: %q", what, logs)
		}
	}
}

func TestRehashDoesNotOverwriteAConcurrentPasswordChange(t *testing.T) {
	fake := newFakeUsers()
	u := fake.add(storage.User{Username: "alice", PasswordHash: djangoPBKDF2(t, "old password", "s", 1000), IsActive: true})
	changed := mustHash(t, "new password set by an admin", testParams)
	fake.beforeUpdate = func(u *storage.User) { u.PasswordHash = changed }
	b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})

	if _, ok, err := b.CheckPassword(t.Context(), "alice", "old password"); !ok || err != nil {
		t.Fatalf("login: ok %v, err %v", ok, err)
	}
	if got := fake.get(u.ID).PasswordHash; got != changed {
		t.Error("the rehash overwrote a password changed after the login read it")
	}
}

// TestEveryFailedLoginChecksAnArgon2Hash is the timing test without a clock:
// wall-time comparisons are flaky, so it checks instead that every path runs
// exactly one verification, and that the paths without a real hash check a
// dummy argon2id hash as costly as a real one.
func TestEveryFailedLoginChecksAnArgon2Hash(t *testing.T) {
	fake := newFakeUsers()
	real := mustHash(t, "right", testParams)
	fake.add(storage.User{Username: "alice", Email: "alice@example.com", PasswordHash: real, IsActive: true})
	fake.add(storage.User{Username: "carol", PasswordHash: mustHash(t, "right", testParams), IsActive: false})
	fake.add(storage.User{Username: "nohash", PasswordHash: "", IsActive: true})
	fake.add(storage.User{Username: "unusable", PasswordHash: "!Xk3uNqZ4t9bLwQe2sRr7yHc1vMpD8aFjGh5nKz0", IsActive: true})
	b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})

	var checked []string
	verify := b.verify
	b.verify = func(encoded, password string, p Params) (bool, bool, error) {
		checked = append(checked, encoded)
		return verify(encoded, password, p)
	}

	for _, tc := range []struct {
		name, login, password, want string
		ok                          bool
	}{
		{"unknown username", "mallory", "right", b.dummyHash, false},
		{"unknown e-mail", "mallory@example.com", "right", b.dummyHash, false},
		{"inactive user", "carol", "right", b.dummyHash, false},
		{"user without a password", "nohash", "right", b.dummyHash, false},
		{"user with Django's unusable password", "unusable", "right", b.dummyHash, false},
		{"wrong password", "alice", "wrong", real, false},
		{"right password", "alice", "right", real, true},
	} {
		checked = nil
		_, ok, err := b.CheckPassword(t.Context(), tc.login, tc.password)
		if ok != tc.ok || err != nil {
			t.Errorf("%s: ok %v, err %v; want ok %v", tc.name, ok, err, tc.ok)
		}
		if len(checked) != 1 || checked[0] != tc.want {
			t.Errorf("%s: verified %d hashes %q, want exactly one: %q", tc.name, len(checked), checked, tc.want)
		}
	}

	dummy, err := parseHash(b.dummyHash)
	if err != nil {
		t.Fatalf("the dummy hash does not parse: %v", err)
	}
	realParsed, err := parseHash(real)
	if err != nil {
		t.Fatal(err)
	}
	if dummy.kind != kindArgon2id || dummy.argon != realParsed.argon || dummy.argon != b.params {
		t.Errorf("the dummy hash costs %+v (kind %d), a real one %+v: want the same argon2id parameters", dummy.argon, dummy.kind, realParsed.argon)
	}
}

func TestLoginFields(t *testing.T) {
	newWorld := func(t *testing.T, fields []string) (*backend, *fakeUsers) {
		fake := newFakeUsers()
		h := mustHash(t, "pw", testParams)
		fake.add(storage.User{Username: "alice", Email: "alice@example.com", PasswordHash: h, IsActive: true})
		// A username that is also someone else's address: which account a
		// login means depends on the order of the fields.
		fake.add(storage.User{Username: "shared@example.com", Email: "owner@example.com", PasswordHash: h, IsActive: true})
		fake.add(storage.User{Username: "bob", Email: "shared@example.com", PasswordHash: h, IsActive: true})
		return open(t, Config{Argon2: testParams}, backends.Deps{Users: fake, LoginFields: fields}), fake
	}
	check := func(t *testing.T, b *backend, login string, wantOK bool, wantUser string) {
		t.Helper()
		id, ok, err := b.CheckPassword(t.Context(), login, "pw")
		if err != nil || ok != wantOK || id.Username != wantUser {
			t.Errorf("login %q: ok %v, err %v, user %q; want ok %v, user %q", login, ok, err, id.Username, wantOK, wantUser)
		}
	}

	t.Run("email only rejects usernames", func(t *testing.T) {
		b, fake := newWorld(t, []string{"email"})
		check(t, b, "alice", false, "")
		check(t, b, "alice@example.com", true, "alice")
		check(t, b, "shared@example.com", true, "bob")
		if byUsername, _, _ := fake.counts(); byUsername != 0 {
			t.Errorf("UserByUsername called %d times with logins by e-mail only", byUsername)
		}
	})
	t.Run("username only rejects e-mails", func(t *testing.T) {
		b, fake := newWorld(t, []string{"username"})
		check(t, b, "alice@example.com", false, "")
		check(t, b, "alice", true, "alice")
		check(t, b, "shared@example.com", true, "shared@example.com")
		if _, byEmail, _ := fake.counts(); byEmail != 0 {
			t.Errorf("UserByEmail called %d times with logins by username only", byEmail)
		}
	})
	t.Run("the default takes both, username first", func(t *testing.T) {
		b, _ := newWorld(t, nil)
		check(t, b, "alice", true, "alice")
		check(t, b, "ALICE@example.com", true, "alice")
		check(t, b, "shared@example.com", true, "shared@example.com")
	})
	t.Run("the configured order decides", func(t *testing.T) {
		b, _ := newWorld(t, []string{"email", "username"})
		check(t, b, "shared@example.com", true, "bob")
		check(t, b, "alice", true, "alice")
	})
	t.Run("a login without @ never queries by e-mail", func(t *testing.T) {
		b, fake := newWorld(t, nil)
		check(t, b, "nobody", false, "")
		if _, byEmail, _ := fake.counts(); byEmail != 0 {
			t.Errorf("UserByEmail called %d times for a login without @", byEmail)
		}
	})
	t.Run("an unknown field is a config error", func(t *testing.T) {
		_, err := Config{Argon2: testParams}.Open("local", backends.Deps{Users: newFakeUsers(), LoginFields: []string{"username", "phone"}})
		if err == nil || !strings.Contains(err.Error(), "phone") {
			t.Errorf("Open with login field phone: err %v, want one naming it", err)
		}
	})
}

func TestStoreErrorsAreReturned(t *testing.T) {
	fake := newFakeUsers()
	broken := errors.New("connection refused")
	fake.lookupErr = broken
	b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})
	for _, login := range []string{"alice", "alice@example.com"} {
		id, ok, err := b.CheckPassword(t.Context(), login, "pw")
		if !errors.Is(err, broken) || ok || !reflect.DeepEqual(id, backends.Identity{}) {
			t.Errorf("login %q with a broken store: ok %v, err %v, identity %+v; want an error wrapping %v", login, ok, err, id, broken)
		}
	}
}

func TestUnreadableStoredHashRefusesTheLoginAndSaysWhy(t *testing.T) {
	for _, encoded := range []string{
		"crypt$$seKX9.d3LX5Ds", // a Django hasher we do not take
		"$argon2id$v=19$m=64,t=1,p=1$!!!!$!!!!",
		"plaintext-seasalt-password",
	} {
		fake := newFakeUsers()
		u := fake.add(storage.User{Username: "alice", PasswordHash: encoded, IsActive: true})
		var logs logBuffer
		b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake, Logger: logs.logger()})
		const password = "guess-not-in-the-logs"
		if _, ok, err := b.CheckPassword(t.Context(), "alice", password); ok || err != nil {
			t.Errorf("unreadable hash: ok %v, err %v; want a plain refusal", ok, err)
		}
		out := logs.String()
		if !strings.Contains(out, "unusable") || !strings.Contains(out, fmt.Sprintf("user_id=%d", u.ID)) {
			t.Errorf("the refusal was not logged with the user: %q", out)
		}
		checkNothingSecret(t, out, password, encoded)
	}
}

func TestIdentity(t *testing.T) {
	fake := newFakeUsers()
	h := mustHash(t, "pw", testParams)
	ada := fake.add(storage.User{Username: "ada", Email: "ada@example.com", EmailVerified: true, FirstName: "Ada", LastName: "Lovelace", PasswordHash: h, IsActive: true})
	fake.add(storage.User{Username: "byron", LastName: "Byron ", PasswordHash: h, IsActive: true})
	b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})

	id, ok, err := b.CheckPassword(t.Context(), "ada", "pw")
	if !ok || err != nil {
		t.Fatalf("login: ok %v, err %v", ok, err)
	}
	want := backends.Identity{
		Backend:       "local",
		Subject:       fmt.Sprint(ada.ID),
		UserID:        ada.ID,
		Username:      "ada",
		Email:         "ada@example.com",
		EmailVerified: true,
		Name:          "Ada Lovelace",
	}
	if !reflect.DeepEqual(id, want) {
		t.Errorf("identity = %+v\nwant       %+v", id, want)
	}
	if id, _, _ := b.CheckPassword(t.Context(), "byron", "pw"); id.Name != "Byron" {
		t.Errorf("name of a user with only a last name = %q, want %q", id.Name, "Byron")
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	users := newFakeUsers()
	for name, tc := range map[string]struct {
		cfg  Config
		deps backends.Deps
	}{
		"no user store":             {Config{}, backends.Deps{}},
		"memory below 8 per lane":   {Config{Argon2: Params{MemoryKiB: 16, Parallelism: 4}}, backends.Deps{Users: users}},
		"memory above the bound":    {Config{Argon2: Params{MemoryKiB: maxArgon2MemoryKiB + 1}}, backends.Deps{Users: users}},
		"too many iterations":       {Config{Argon2: Params{Iterations: maxArgon2Iterations + 1}}, backends.Deps{Users: users}},
		"salt too short":            {Config{Argon2: Params{SaltLength: 8}}, backends.Deps{Users: users}},
		"key too short":             {Config{Argon2: Params{KeyLength: 8}}, backends.Deps{Users: users}},
		"unknown login field":       {Config{Argon2: testParams}, backends.Deps{Users: users, LoginFields: []string{"Username"}}},
		"empty login field in list": {Config{Argon2: testParams}, backends.Deps{Users: users, LoginFields: []string{""}}},
	} {
		if _, err := tc.cfg.Open("local", tc.deps); err == nil {
			t.Errorf("%s: Open succeeded, want an error", name)
		}
	}
}

// TestRegistryOpen opens the backend the way cmd/latchkey does, through the
// registry and a decoded config block.
func TestRegistryOpen(t *testing.T) {
	reg := backends.Registry{"local": func() backends.Config { return new(Config) }}
	be, err := reg.Open(backends.Spec{ID: "db", Type: "local", Decode: func(v any) error {
		v.(*Config).Argon2 = testParams
		return nil
	}}, backends.Deps{Users: newFakeUsers(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Registry.Open: %v", err)
	}
	b, ok := be.Impl.(*backend)
	if !ok {
		t.Fatalf("Impl is %T, want *backend", be.Impl)
	}
	if b.id != "db" || b.params != testParams.withDefaults() {
		t.Errorf("opened id %q params %+v, want db and %+v", b.id, b.params, testParams.withDefaults())
	}
}

// TestResolveLogin: every spelling of one account resolves to one key (the
// rate limits' account counter), an unknown login to none, with the same
// lookups as a known one.
func TestResolveLogin(t *testing.T) {
	fake := newFakeUsers()
	alice := fake.add(storage.User{Username: "alice", Email: "alice@example.com", PasswordHash: mustHash(t, "pw", testParams), IsActive: true})
	b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})
	want := strconv.FormatInt(alice.ID, 10)
	for _, login := range []string{"alice", "ａlice", "alice@example.com", "ALICE@example.com"} {
		key, found, err := b.ResolveLogin(t.Context(), login)
		if err != nil || !found || key != want {
			t.Errorf("ResolveLogin(%q) = %q, %v, %v; want %q", login, key, found, err, want)
		}
	}
	lookups := func(login string) [2]int {
		u0, e0, _ := fake.counts()
		if _, _, err := b.ResolveLogin(t.Context(), login); err != nil {
			t.Fatal(err)
		}
		u1, e1, _ := fake.counts()
		return [2]int{u1 - u0, e1 - e0}
	}
	for known, unknown := range map[string]string{"alice": "nobody", "alice@example.com": "nobody@example.com"} {
		if key, found, _ := b.ResolveLogin(t.Context(), unknown); found || key != "" {
			t.Errorf("ResolveLogin(%q) = %q, found", unknown, key)
		}
		if k, u := lookups(known), lookups(unknown); k != u {
			t.Errorf("lookups for %q %v, for %q %v: want the same", known, k, unknown, u)
		}
	}
}
