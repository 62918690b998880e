package storagetest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireServicesEnv is the variable CI sets to 1: a test whose service is
// missing then fails instead of skipping, so CI always runs against real
// servers.
const RequireServicesEnv = "LATCHKEY_TEST_REQUIRE_SERVICES"

// RequireService returns the value of envVar, which tells a test where a
// service it needs is (a Postgres DSN, a Redis URL). When envVar is empty
// the test is skipped with a loud notice, or fails when
// LATCHKEY_TEST_REQUIRE_SERVICES=1. name says what needs it, e.g. "the
// Postgres suite".
func RequireService(tb testing.TB, name, envVar string) string {
	tb.Helper()
	v := os.Getenv(envVar)
	if v == "" {
		missing(tb, name, envVar+" is not set")
	}
	return v
}

// RequireProgram returns the path of an installed program a test needs
// (redis-server to start a Cluster of its own). When it is not installed
// the test is skipped or fails as in RequireService.
func RequireProgram(tb testing.TB, name, program string) string {
	tb.Helper()
	path, err := exec.LookPath(program)
	if err != nil {
		missing(tb, name, program+" is not installed")
	}
	return path
}

func missing(tb testing.TB, name, why string) {
	tb.Helper()
	if os.Getenv(RequireServicesEnv) == "1" {
		tb.Fatalf("%s is required (%s=1) but %s", name, RequireServicesEnv, why)
	}
	tb.Skipf("!!! SKIPPING %s: %s !!!", name, why)
}
