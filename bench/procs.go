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
	baseline     *proc
	baselineURL  string
	latchkey     *proc
	latchkeyURL  string
	adminPass    string
	clientSecret string
}

// proc is a child process whose output goes to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// startTargets starts the baseline and latchkey when a selected scenario
// needs them, and waits until they are ready.
func startTargets(ctx context.Context, opts options, tmp string, selected []scenario) (_ *targets, err error) {
	t := &targets{adminPass: randomString(12), clientSecret: randomString(16)}
	defer func() {
		if err != nil {
			t.stop()
		}
	}()
	if needs(selected, targetBaseline) {
		if err := t.startBaseline(ctx, tmp); err != nil {
			return nil, err
		}
	}
	if needs(selected, targetLatchkey) {
		if err := t.startLatchkey(ctx, opts, tmp); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func needs(selected []scenario, target string) bool {
	for _, sc := range selected {
		if sc.target == target {
			return true
		}
	}
	return false
}

func (t *targets) startBaseline(ctx context.Context, tmp string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	t.baselineURL = "http://" + addr
	t.baseline, err = startProc("baseline", self, []string{"-serve-baseline", addr}, os.Environ(), filepath.Join(tmp, "baseline.log"))
	if err != nil {
		return err
	}
	return waitReady(ctx, t.baselineURL+"/readyz", t.baseline)
}

func (t *targets) startLatchkey(ctx context.Context, opts options, tmp string) error {
	bin := opts.latchkeyPath
	if bin == "" {
		bin = filepath.Join(tmp, "latchkey")
		if err := buildLatchkey(ctx, bin); err != nil {
			return err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	t.latchkeyURL = "http://" + addr
	env := append(os.Environ(),
		"LATCHKEY_LISTEN="+addr,
		"LATCHKEY_ISSUER="+t.latchkeyURL,
		"LATCHKEY_DATA_DIR="+filepath.Join(tmp, "data"),
		"LATCHKEY_LOG__LEVEL=warn",
		"LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD="+t.adminPass,
		"LATCHKEY_BOOTSTRAP_CLIENT_SECRET="+t.clientSecret,
	)
	t.latchkey, err = startProc("latchkey", bin, []string{"serve"}, env, filepath.Join(tmp, "latchkey.log"))
	if err != nil {
		return err
	}
	return waitReady(ctx, t.latchkeyURL+"/readyz", t.latchkey)
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

// stop ends every server; it is safe to call more than once.
func (t *targets) stop() {
	t.stopBaseline()
	if t.latchkey != nil {
		t.latchkey.stop()
		t.latchkey = nil
	}
}

func (t *targets) stopBaseline() {
	if t.baseline != nil {
		t.baseline.stop()
		t.baseline = nil
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
