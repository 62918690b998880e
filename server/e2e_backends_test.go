package server_test

import (
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// The first configured backend that hashes makes new passwords' hashes, with
// its own parameters: the bootstrap admin's is an argon2id hash with the test
// backend's (fastArgon2), which its login needs no rehash of.
func TestNewPasswordsAreHashedByTheConfiguredBackend(t *testing.T) {
	ts := startServer(t, nil)
	const fast = "$argon2id$v=19$m=64,t=1,p=1$"
	if h := ts.user(adminUser).PasswordHash; !strings.HasPrefix(h, fast) {
		t.Fatalf("the admin's hash is %.30q..., want one made with the local backend's parameters (%s)", h, fast)
	}
	ts.passwordToken(adminUser, adminPass, "openid")
}

// With no backend that hashes (backends: []), new passwords are still hashed
// by the registry's local type with an empty config block, so a local
// backend configured later lets those users in.
func TestWithoutAHashingBackendPasswordsAreStillHashedTheLocalWay(t *testing.T) {
	dir, clock := t.TempDir(), newTestClock()
	ts := startServerAt(t, "127.0.0.1:0", dir, clock, func(c *config.Config) { c.Backends = nil })
	if h := ts.user(adminUser).PasswordHash; !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("the admin's hash with no backend configured is %.30q..., want argon2id", h)
	}
	ts.Stop()
	ts = startServerAt(t, "127.0.0.1:0", dir, clock, nil)
	ts.passwordToken(adminUser, adminPass, "openid")
}
