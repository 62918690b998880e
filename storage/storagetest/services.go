package storagetest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireServicesEnv is the variable CI sets to 1: a test whose service is
// missing then fails instead of skipping, so CI always runs against real
// servers.
const RequireServicesEnv = "LATCHKEY_TEST_REQUIRE_SERVICES"

// SkipLogEnv names a file every skip for a missing service is appended to
// (one line: package directory, test, why), so `make test`
// (scripts/test.sh) can list the skipped suites at the end of the run,
// where `go test`'s "ok" lines would hide them.
const SkipLogEnv = "LATCHKEY_TEST_SKIP_LOG"

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

// Require skips (or, with LATCHKEY_TEST_REQUIRE_SERVICES=1, fails) the
// test when ok is false, as RequireService does; why says what is missing
// ("the test runs as root").
func Require(tb testing.TB, name string, ok bool, why string) {
	tb.Helper()
	if !ok {
		missing(tb, name, why)
	}
}

func missing(tb testing.TB, name, why string) {
	tb.Helper()
	if os.Getenv(RequireServicesEnv) == "1" {
		tb.Fatalf("%s is required (%s=1) but %s", name, RequireServicesEnv, why)
	}
	logSkip(tb.Name(), name, why)
	tb.Skipf("!!! SKIPPING %s: %s !!!", name, why)
}

// logSkip appends one line to the file named by SkipLogEnv, if any. A
// failure to write is reported on stderr and otherwise ignored: the skip
// itself still happens.
func logSkip(test, name, why string) {
	path := os.Getenv(SkipLogEnv)
	if path == "" {
		return
	}
	dir, _ := os.Getwd()
	line := fmt.Sprintf("%s\t%s\t%s: %s\n", dir, test, name, why)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = f.WriteString(line) // one short write: O_APPEND keeps lines whole across processes
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "storagetest: %s: %v\n", SkipLogEnv, err)
	}
}
