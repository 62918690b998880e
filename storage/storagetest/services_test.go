package storagetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A skipped suite leaves a line in the skip log, which `make test`
// (scripts/test.sh) prints at the end of the run.
func TestASkipIsLoggedForTheSummary(t *testing.T) {
	log := filepath.Join(t.TempDir(), "skips")
	t.Setenv(RequireServicesEnv, "")
	t.Setenv(SkipLogEnv, log)
	t.Setenv("LATCHKEY_TEST_NEVER_SET", "")
	t.Run("gated", func(t *testing.T) {
		RequireService(t, "the imaginary suite", "LATCHKEY_TEST_NEVER_SET")
		t.Error("the test was not skipped")
	})
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := wd + "\tTestASkipIsLoggedForTheSummary/gated\tthe imaginary suite: LATCHKEY_TEST_NEVER_SET is not set\n"
	if string(data) != want {
		t.Fatalf("skip log %q, want %q", data, want)
	}
	if strings.Count(string(data), "\n") != 1 {
		t.Fatal("more than one line")
	}
}
