package local

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

// djangoVectors are hashes made by Django's own hashers
// (testdata/gen_django_vectors.py; the file records the Django version).
func djangoVectors(t *testing.T) []struct{ Hasher, Password, Encoded string } {
	t.Helper()
	raw, err := os.ReadFile("testdata/django_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		DjangoVersion string `json:"django_version"`
		Vectors       []struct{ Hasher, Password, Encoded string }
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if file.DjangoVersion == "" || len(file.Vectors) < 10 {
		t.Fatalf("testdata/django_vectors.json holds %d vectors of Django %q", len(file.Vectors), file.DjangoVersion)
	}
	return file.Vectors
}

func TestDjangoHasherVectorsVerifyAndAskForARehash(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range djangoVectors(t) {
		seen[v.Hasher] = true
		if v.Hasher == "unusable" {
			continue
		}
		ok, again, err := VerifyPassword(v.Encoded, v.Password, testParams)
		if !ok || !again || err != nil {
			t.Errorf("%s %q: ok %v, needsRehash %v, err %v; want true, true, nil", v.Hasher, v.Encoded, ok, again, err)
		}
		if ok, _, err := VerifyPassword(v.Encoded, v.Password+"!", testParams); ok || err != nil {
			t.Errorf("%s: a wrong password: ok %v, err %v", v.Hasher, ok, err)
		}
	}
	for _, h := range []string{"pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt",
		"sha1", "md5", "unsalted_sha1", "unsalted_md5", "unusable"} {
		if !seen[h] {
			t.Errorf("no vector of %s", h)
		}
	}
}

func TestDjangoHasherVectorsLogInOnceThenAreArgon2id(t *testing.T) {
	for _, v := range djangoVectors(t) {
		if v.Hasher == "unusable" || v.Password != "x" {
			continue
		}
		fake := newFakeUsers()
		u := fake.add(storage.User{Username: "alice", PasswordHash: v.Encoded, IsActive: true})
		b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})
		if _, ok, err := b.CheckPassword(t.Context(), "alice", v.Password); !ok || err != nil {
			t.Fatalf("%s: login: ok %v, err %v", v.Hasher, ok, err)
		}
		if got := fake.get(u.ID).PasswordHash; !strings.HasPrefix(got, testParamsPrefix) {
			t.Errorf("%s: after login the stored hash is %q, want argon2id", v.Hasher, got)
		}
	}
}

func TestUnusableDjangoPasswordNeverLogsIn(t *testing.T) {
	for _, v := range djangoVectors(t) {
		if v.Hasher != "unusable" {
			continue
		}
		fake := newFakeUsers()
		u := fake.add(storage.User{Username: "alice", PasswordHash: v.Encoded, IsActive: true})
		b := open(t, Config{Argon2: testParams}, backends.Deps{Users: fake})
		// The unusable marker is "!" and 40 random characters: neither it
		// nor its tail is a password.
		for _, guess := range []string{v.Encoded, v.Encoded[1:], "!"} {
			if _, ok, err := b.CheckPassword(t.Context(), "alice", guess); ok || err != nil {
				t.Errorf("unusable password: ok %v, err %v", ok, err)
			}
		}
		if got := fake.get(u.ID).PasswordHash; got != v.Encoded {
			t.Errorf("a refused login rewrote the unusable marker to %q", got)
		}
	}
}

func TestMalformedLegacyHashesAreRefused(t *testing.T) {
	for _, encoded := range []string{
		"sha1$salt$cff36ea83f5706ce9aa7454e63e431fc726b2dc",   // short digest
		"sha1$salt$CFF36EA83F5706CE9AA7454E63E431FC726B2DC8",  // upper-case hex
		"md5$salt$zz0123456789abcdef0123456789abcd",           // not hex
		"md5$a$b$0123456789abcdef0123456789abcdef",            // too many fields
		"scrypt$16384$salt$8$1",                               // no key
		"scrypt$16383$salt$8$1$" + strings.Repeat("QUFB", 22), // n not a power of two
		"scrypt$1048576$salt$64$1$" + strings.Repeat("QUFB", 22),
		"scrypt$16384$$8$1$" + strings.Repeat("QUFB", 22),
		"scrypt$16384$salt$8$0$" + strings.Repeat("QUFB", 22),
	} {
		if ok, _, err := VerifyPassword(encoded, "pw", testParams); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", encoded, ok, err)
		}
	}
}
