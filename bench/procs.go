package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Credentials of the bootstrapped admin user and demo client.
const (
	adminUser = "admin"
	demoID    = "demo"
)

// targets are the servers under test, each a separate process.
type targets struct {
	opts         options
	tmp          string
	scripts      string             // bench/wrk
	servers      map[string]*server // by target name
	prodStore    *prodStore         // the production shape's schema and key prefix
	adminPass    string
	clientSecret string
	// cimdDoc is the URL of the Client ID Metadata Document the bench
	// serves itself (the backends target fetches it).
	cimdDoc string
}

// server is one server under test.
type server struct {
	name string
	proc *proc
	url  string
}

// pid is the server's process ID (0 when it is not running).
func (s *server) pid() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// proc is a child process whose output goes to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// startTargets starts the servers the selected scenarios need, and waits
// until they are ready.
func startTargets(ctx context.Context, opts options, tmp string, selected []scenario) (_ *targets, err error) {
	t := &targets{opts: opts, tmp: tmp, servers: map[string]*server{}, adminPass: randomString(12), clientSecret: randomString(16)}
	if t.scripts, err = scriptDir(ctx, opts); err != nil {
		return nil, err
	}
	if _, err := wrkPath(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			t.stop()
		}
	}()
	bin := opts.latchkeyPath
	if (needs(selected, targetLatchkey) || needs(selected, targetWarn) || needs(selected, targetProd) || needs(selected, targetBackends)) && bin == "" {
		bin = filepath.Join(tmp, "latchkey")
		if err := buildLatchkey(ctx, bin); err != nil {
			return nil, err
		}
	}
	if needs(selected, targetLatchkey) || needs(selected, targetBackends) {
		env := []string{"LATCHKEY_DATA_DIR=" + filepath.Join(tmp, "data"), "LATCHKEY_LOG__LEVEL=info"}
		if err := t.startLatchkey(ctx, targetLatchkey, bin, tmp, env); err != nil {
			return nil, err
		}
	}
	if needs(selected, targetBackends) {
		if err := t.startBackendsTarget(ctx, bin, tmp); err != nil {
			return nil, err
		}
	}
	if needs(selected, targetWarn) {
		env := []string{"LATCHKEY_DATA_DIR=" + filepath.Join(tmp, "data-warn"), "LATCHKEY_LOG__LEVEL=warn"}
		if err := t.startLatchkey(ctx, targetWarn, bin, tmp, env); err != nil {
			return nil, err
		}
	}
	if needs(selected, targetProd) {
		ps, err := newProdStore(ctx, opts.postgresDSN, opts.redisURL)
		if err != nil {
			return nil, fmt.Errorf("production shape: %w", err)
		}
		t.prodStore = ps
		env := append(ps.env(), "LATCHKEY_DATA_DIR="+filepath.Join(tmp, "data-prod"), "LATCHKEY_LOG__LEVEL=info")
		if err := t.startLatchkey(ctx, targetProd, bin, tmp, env); err != nil {
			return nil, err
		}
	}
	// The baseline comes last: its verify route reads the JWKS of the
	// embedded default, which must be up.
	if needs(selected, targetBaseline) {
		issuer := ""
		if selectedName(selected, scenarioVerifyReference) {
			issuer = t.servers[targetLatchkey].url
		}
		if err := t.startBaseline(ctx, tmp, issuer); err != nil {
			return nil, fmt.Errorf("start the baseline: %w", err)
		}
	}
	return t, nil
}

// needs says whether a selected scenario runs against target, or uses the
// tokens it issues.
func needs(selected []scenario, target string) bool {
	for _, sc := range selected {
		if sc.target == target || sc.tokensFrom == target {
			return true
		}
	}
	return false
}

func selectedName(selected []scenario, name string) bool {
	for _, sc := range selected {
		if sc.name == name {
			return true
		}
	}
	return false
}

// startBaseline re-executes the bench as the baseline server; with issuer,
// its verify route checks tokens with that latchkey's keys.
func (t *targets) startBaseline(ctx context.Context, tmp, issuer string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	srv := &server{name: targetBaseline, url: "http://" + addr}
	t.servers[targetBaseline] = srv
	args := []string{"-serve-baseline", addr}
	if issuer != "" {
		args = append(args, "-baseline-issuer", issuer)
	}
	srv.proc, err = startProc("baseline", self, args, os.Environ(), filepath.Join(tmp, "baseline.log"))
	if err != nil {
		return err
	}
	return waitReady(ctx, srv.url+"/readyz", srv.proc)
}

// startLatchkey starts `latchkey serve` as the named target with the extra
// environment env.
func (t *targets) startLatchkey(ctx context.Context, name, bin, tmp string, env []string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	srv := &server{name: name, url: "http://" + addr}
	t.servers[name] = srv
	env = append(append(os.Environ(),
		"LATCHKEY_LISTEN="+addr,
		"LATCHKEY_ISSUER="+srv.url,
		"LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD="+t.adminPass,
		"LATCHKEY_BOOTSTRAP_CLIENT_SECRET="+t.clientSecret,
	), env...)
	srv.proc, err = startProc(name, bin, []string{"serve"}, env, filepath.Join(tmp, name+".log"))
	if err != nil {
		return err
	}
	return waitReady(ctx, srv.url+"/readyz", srv.proc)
}

// buildLatchkey runs go build ./cmd/latchkey in the module root.
func buildLatchkey(ctx context.Context, out string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	logf("building latchkey (go build ./cmd/latchkey in %s)", root)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/latchkey")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/latchkey: %w\n%s", err, msg)
	}
	return nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the latchkey module: run from the repository, or pass -latchkey")
	}
	return filepath.Dir(gomod), nil
}

// stop ends every server and drops the production shape's data; it is
// safe to call more than once.
func (t *targets) stop() {
	for name, srv := range t.servers {
		if srv.proc != nil {
			srv.proc.stop()
		}
		delete(t.servers, name)
	}
	if t.prodStore != nil {
		t.prodStore.drop()
		t.prodStore = nil
	}
}

func startProc(name, path string, args, env []string, logPath string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// stop asks the process to end and kills it if it has not after 5s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail is the end of the process's output, for error messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// waitReady polls url until it answers 200, the process exits or 60s pass.
func waitReady(ctx context.Context, url string, p *proc) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.name, p.err, p.logTail())
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after 60s:\n%s", p.name, p.logTail())
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
