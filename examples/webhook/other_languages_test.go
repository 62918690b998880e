package main

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/webhook"
)

// The Python and Node services of docs/backends.md, run as written against
// the webhook backend when their interpreter is installed.
func TestPythonAndNodeServices(t *testing.T) {
	for _, tc := range []struct{ interpreter, script string }{
		{"python3", "webhook.py"},
		{"node", "webhook.js"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			path, err := exec.LookPath(tc.interpreter)
			if err != nil {
				if os.Getenv("LATCHKEY_TEST_REQUIRE_SERVICES") != "" {
					t.Fatalf("%s is not installed", tc.interpreter)
				}
				t.Skipf("%s is not installed", tc.interpreter)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			ln.Close()
			cmd := exec.Command(path, tc.script)
			cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, "WEBHOOK_PORT="+port)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			// Wait until it listens (a condition, not a fixed sleep).
			deadline := time.Now().Add(30 * time.Second)
			for {
				c, err := net.Dial("tcp", "127.0.0.1:"+port)
				if err == nil {
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not listen on %s: %v", tc.script, port, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			url := "http://127.0.0.1:" + port + "/"
			cfg := &webhook.Config{URL: url, Secret: secret}
			impl, err := cfg.Open("bridge", backends.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			v := impl.(backends.PasswordVerifier)
			for _, c := range []struct {
				login, password string
				want            backends.Result
			}{
				{"demo", "demo password", backends.Accepted},
				{"demo", "wrong", backends.WrongPassword},
				{"someone", "demo password", backends.UnknownUser},
			} {
				id, res, err := v.VerifyPassword(t.Context(), c.login, c.password)
				if err != nil || res != c.want {
					t.Errorf("%s/%s: %v, %v; want %v", c.login, c.password, res, err, c.want)
				}
				if res == backends.Accepted && (id.Subject != "demo-1" || id.Email != "demo@example.com") {
					t.Errorf("identity %+v", id)
				}
			}
			wrong := &webhook.Config{URL: url, Secret: "another secret, also 32 bytes long"}
			impl, _ = wrong.Open("x", backends.Deps{})
			if _, ok, err := impl.(backends.PasswordChecker).CheckPassword(t.Context(), "demo", "demo password"); ok || err == nil {
				t.Errorf("a wrongly signed request: ok %v, err %v; want an error", ok, err)
			}
		})
	}
}
