// Package scripts holds the tests of the repository's shell scripts.
package scripts

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// scramCluster is a PostgreSQL cluster made with pg_createcluster in a
// temporary folder (configuration included, through PG_CLUSTER_CONF_ROOT)
// on a free port, with Debian's default authentication: scram-sha-256 on
// TCP, and a postgres role without a password. It is what a fresh
// `apt-get install postgresql` leaves running.
type scramCluster struct {
	version, name, confRoot string
	port                    int
	// root is the cluster's temporary folder, readable by everyone.
	root string
}

func newScramCluster(t *testing.T) *scramCluster {
	t.Helper()
	const gate = "the services.sh test"
	storagetest.Require(t, gate, os.Geteuid() == 0, "it must run as root (pg_createcluster, services.sh)")
	storagetest.RequireProgram(t, gate, "pg_createcluster")
	storagetest.RequireProgram(t, gate, "pg_ctlcluster")
	storagetest.RequireProgram(t, gate, "psql")
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	storagetest.Require(t, gate, len(versions) > 0, "no PostgreSQL server binaries in /usr/lib/postgresql")
	version := filepath.Base(filepath.Dir(filepath.Dir(versions[len(versions)-1])))

	// The server runs as postgres, which must reach its folders.
	root, err := os.MkdirTemp("", "latchkey-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &scramCluster{version: version, name: "lktest", confRoot: filepath.Join(root, "etc"), port: freePort(t), root: root}
	if err := os.Mkdir(c.confRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	c.run(t, "pg_createcluster", "-d", filepath.Join(root, "data"), "-p", strconv.Itoa(c.port), "--start-conf=manual",
		c.version, c.name, "--", "--auth-host=scram-sha-256", "--auth-local=peer")
	t.Cleanup(func() {
		_ = c.cmd(context.Background(), "pg_dropcluster", "--stop", c.version, c.name).Run()
	})
	c.run(t, "pg_ctlcluster", "--skip-systemctl-redirect", c.version, c.name, "start")
	return c
}

func (c *scramCluster) cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "PG_CLUSTER_CONF_ROOT="+c.confRoot, "SERVICES_PG_PORT="+strconv.Itoa(c.port))
	return cmd
}

func (c *scramCluster) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.cmd(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// connects reports whether postgres logs in over TCP without a password.
func (c *scramCluster) connects(db string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.cmd(ctx, "psql", "-w", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres", "-d", db, "-Atc", "select 1").Run() == nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// services.sh meets a running cluster that wants scram on 127.0.0.1, as a
// fresh Debian install leaves it: it must trust local connections, reload
// the running server so that takes effect, and create the test database.
// Without root it must say so and change nothing.
func TestServicesScriptOnAFreshScramCluster(t *testing.T) {
	c := newScramCluster(t)
	if c.connects("postgres") {
		t.Fatal("the fresh cluster lets postgres in without a password: not the scram setup under test")
	}
	// A copy anyone can read: the checkout may sit in a folder only root
	// enters, and the script also runs as nobody below.
	src, err := os.ReadFile("services.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(c.root, "services.sh")
	if err := os.WriteFile(script, src, 0o755); err != nil {
		t.Fatal(err)
	}

	t.Run("without root it stops with a clear message", func(t *testing.T) {
		storagetest.RequireProgram(t, "the services.sh non-root test", "runuser")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := c.cmd(ctx, "runuser", "-u", "nobody", "--", "bash", script, "postgres")
		cmd.Dir = c.root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err == nil {
			t.Fatalf("services.sh succeeded as nobody:\n%s", out.String())
		}
		if !strings.Contains(out.String(), "needs root: run it as root (sudo make services)") {
			t.Fatalf("no clear message:\n%s", out.String())
		}
		if c.connects("postgres") {
			t.Fatal("something changed without root")
		}
	})

	out := c.run(t, "bash", script, "postgres")
	if !strings.Contains(out, "reloading PostgreSQL") {
		t.Errorf("the running cluster was not reloaded:\n%s", out)
	}
	if !c.connects("test") {
		t.Fatalf("after services.sh postgres cannot use the test database without a password:\n%s", out)
	}
	// A second run finds everything in place and changes nothing.
	if out := c.run(t, "bash", script, "postgres"); strings.Contains(out, "reloading") || strings.Contains(out, "starting") {
		t.Errorf("the second run did something:\n%s", out)
	}
}
