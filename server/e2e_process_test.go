package server_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The helpers here run latchkey as real processes (`latchkey serve`), the
// way production runs it, for the multi-instance and fault tests.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// latchkeyBinary builds ./cmd/latchkey once per test run. The binary goes
// to one directory per checkout (not a new one per run, which would pile
// up), written under a temporary name and renamed into place, so a
// concurrent run in the same checkout never executes a half-written file.
func latchkeyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), "latchkey-e2e-"+hex.EncodeToString(sum[:6]))
		if buildErr = os.MkdirAll(dir, 0o700); buildErr != nil {
			return
		}
		tmp, err := os.CreateTemp(dir, "latchkey-*.tmp")
		if err != nil {
			buildErr = err
			return
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/latchkey")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binPath = filepath.Join(dir, "latchkey")
		buildErr = os.Rename(tmp.Name(), binPath)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// newMasterKey returns a random base64 master key for keys.master_key.
func newMasterKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// process is one running `latchkey serve`, driven through the same helpers
// as the in-process test servers.
type process struct {
	*testServer
	name string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error

	stopOnce sync.Once
	exitErr  error
}

// startProcess starts `latchkey serve` with env (LATCHKEY_* settings on top
// of a clean environment) and waits until it listens.
func startProcess(t *testing.T, name string, env map[string]string) *process {
	t.Helper()
	bin := latchkeyBinary(t)
	cmd := exec.Command(bin, "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	base := map[string]string{
		"LATCHKEY_LISTEN":                   "127.0.0.1:0",
		"LATCHKEY_ISSUER":                   "http://127.0.0.1",
		"LATCHKEY_DATA_DIR":                 t.TempDir(),
		"LATCHKEY_LOG__LEVEL":               "info",
		"LATCHKEY_LOG__FORMAT":              "json",
		"LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD": adminPass,
		"LATCHKEY_BOOTSTRAP_CLIENT_SECRET":  demoSecret,
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range base {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, logs: logs, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = logs.Write([]byte(line + "\n"))
			if !sent && strings.Contains(line, `"latchkey listening"`) {
				var m struct {
					Addr string `json:"addr"`
				}
				if json.Unmarshal([]byte(line), &m) == nil && m.Addr != "" {
					addrc <- m.Addr
					sent = true
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case addr := <-addrc:
		p.testServer = &testServer{
			t: t, URL: "http://" + addr, Addr: addr, Logs: logs,
			client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second},
		}
	case err := <-p.done:
		p.done <- err
		t.Fatalf("%s exited before listening: %v\n%s", name, err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start listening:\n%s", name, logs.String())
	}
	return p
}

// terminate sends SIGTERM and waits for the process to exit.
func (p *process) terminate(t *testing.T) error {
	t.Helper()
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case p.exitErr = <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			p.exitErr = fmt.Errorf("%s did not exit within 30s of SIGTERM", p.name)
			<-p.done
		}
		if p.testServer != nil {
			p.client.CloseIdleConnections()
		}
	})
	return p.exitErr
}

// kill sends SIGKILL (kill -9) and reaps the process.
func (p *process) kill() {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.done // "signal: killed", as intended
	})
}

func (p *process) stop(t *testing.T) {
	if err := p.terminate(t); err != nil {
		t.Errorf("%s: %v", p.name, err)
	}
	if strings.Contains(p.logs.String(), "panic") {
		t.Errorf("%s logged a panic:\n%s", p.name, p.logs.String())
	}
}

// waitReady polls /readyz until it answers 200 or the timeout passes.
func (p *process) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	ready := eventually(timeout, func() bool {
		res, err := p.client.Get(p.URL + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	if !ready {
		t.Fatalf("%s not ready after %v", p.name, timeout)
	}
}
