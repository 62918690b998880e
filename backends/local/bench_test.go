package local

import (
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

// BenchmarkCheckPassword measures a login with the default (OWASP) params;
// compare with BenchmarkArgon2idRaw to see what the backend adds to argon2.
func BenchmarkCheckPassword(b *testing.B) {
	fake := newFakeUsers()
	fake.add(storage.User{Username: "alice", Email: "alice@example.com", PasswordHash: mustHash(b, "hunter2", Params{}), IsActive: true})
	be := open(b, Config{}, backends.Deps{Users: fake})
	for _, bc := range []struct {
		name, login, password string
		ok                    bool
	}{
		{"right password", "alice", "hunter2", true},
		{"wrong password", "alice", "hunter3", false},
		{"unknown user", "mallory@example.com", "hunter2", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := be.CheckPassword(b.Context(), bc.login, bc.password); ok != bc.ok || err != nil {
					b.Fatalf("ok %v, err %v", ok, err)
				}
			}
		})
	}
}

// BenchmarkArgon2idRaw is one bare argon2id derivation with the default params.
func BenchmarkArgon2idRaw(b *testing.B) {
	p := DefaultParams()
	salt := make([]byte, p.SaltLength)
	rand.Read(salt)
	password := []byte("hunter2")
	b.ReportAllocs()
	for b.Loop() {
		argon2.IDKey(password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLength)
	}
}
