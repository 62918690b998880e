package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// cliEnv is a fresh data directory for the CLI, with fast argon2 parameters.
type cliEnv struct {
	dir     string
	environ []string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "latchkey.yaml")
	yaml := "backends:\n  - id: local\n    type: local\n    config:\n      argon2: {memory_kib: 64, iterations: 1, parallelism: 1}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{dir: dir, environ: []string{
		"LATCHKEY_CONFIG=" + cfg,
		"LATCHKEY_DATA_DIR=" + dir,
		"LATCHKEY_LOG__LEVEL=warn",
	}}
}

// run runs the CLI and returns its stdout; a failing command fails the test
// unless wantErr.
func (e *cliEnv) run(t *testing.T, wantErr bool, stdin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, e.environ)
	if (err != nil) != wantErr {
		t.Fatalf("latchkey %s: err = %v (want error: %v)\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, wantErr, out.String(), errOut.String())
	}
	if err != nil {
		return err.Error()
	}
	return out.String()
}

func TestVersionAndConfigCommands(t *testing.T) {
	e := newCLIEnv(t)
	if out := e.run(t, false, "", "version"); !strings.HasPrefix(out, "latchkey ") {
		t.Fatalf("version printed %q", out)
	}
	if out := e.run(t, false, "", "config", "check"); !strings.Contains(out, "configuration ok") {
		t.Fatalf("config check printed %q", out)
	}
	if out := e.run(t, false, "", "config", "example"); !strings.Contains(out, "listen: 127.0.0.1:8080") {
		t.Fatalf("config example printed %q", out)
	}
	bad := &cliEnv{environ: append(append([]string{}, e.environ...), "LATCHKEY_STORAGE__DRIVER=mysql")}
	if out := bad.run(t, true, "", "config", "check"); !strings.Contains(out, "storage.driver") {
		t.Fatalf("a bad driver was not reported by key: %q", out)
	}
}

func TestMigrateCommands(t *testing.T) {
	e := newCLIEnv(t)
	if out := e.run(t, false, "", "migrate", "status"); !strings.Contains(out, "pending") {
		t.Fatalf("a fresh database shows no pending migration: %q", out)
	}
	e.run(t, false, "", "migrate")
	if out := e.run(t, false, "", "migrate", "status"); strings.Contains(out, "pending") || !strings.Contains(out, "applied") {
		t.Fatalf("after migrate up: %q", out)
	}
	e.run(t, false, "", "migrate", "down")
	if out := e.run(t, false, "", "migrate", "status"); !strings.Contains(out, "pending") {
		t.Fatalf("after migrate down nothing is pending: %q", out)
	}
	e.run(t, true, "", "migrate", "sideways")
}

func TestUserClientAndKeyCommandsWorkWithTheServer(t *testing.T) {
	e := newCLIEnv(t)
	e.run(t, false, "correct-horse-battery\n", "users", "createsuperuser", "--username", "root", "--email", "root@example.com", "--password-stdin")
	e.run(t, true, "", "users", "create", "--username", "shorty", "--password", "short")
	if out := e.run(t, true, "", "users", "create", "--username", "ROOT", "--password", "another-password"); !strings.Contains(out, "exists") {
		t.Fatalf("a duplicate username was not refused: %q", out)
	}
	// NFKC: a fullwidth "ｒoot" is root; a Cyrillic о in "rооt" mixes scripts.
	if out := e.run(t, true, "", "users", "create", "--username", "\uff52oot", "--password", "another-password"); !strings.Contains(out, "exists") {
		t.Fatalf("a fullwidth duplicate username was not refused: %q", out)
	}
	if out := e.run(t, true, "", "users", "create", "--username", "r\u043e\u043et", "--password", "another-password"); !strings.Contains(out, "scripts") {
		t.Fatalf("a mixed-script username was not refused: %q", out)
	}

	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	out := e.run(t, false, "", "clients", "create", "--id", "cli-app", "--name", "CLI app",
		"--grant-type", "client_credentials", "--grant-type", "password", "--scope", "api:read openid")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ClientID != "cli-app" || !strings.HasPrefix(created.ClientSecret, "lk_cs_") {
		t.Fatalf("clients create printed %q (%v)", out, err)
	}
	if out := e.run(t, false, "", "clients", "list"); !strings.Contains(out, "cli-app") {
		t.Fatalf("clients list lacks the client: %q", out)
	}
	// A first-party client: --skip-consent is stored and listed.
	var firstParty struct {
		SkipConsent            bool     `json:"skip_consent"`
		PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	}
	out = e.run(t, false, "", "clients", "create", "--id", "cli-web", "--grant-type", "client_credentials",
		"--skip-consent", "--post-logout-redirect-uri", "https://app.example.com/bye")
	if err := json.Unmarshal([]byte(out), &firstParty); err != nil || !firstParty.SkipConsent ||
		len(firstParty.PostLogoutRedirectURIs) != 1 || firstParty.PostLogoutRedirectURIs[0] != "https://app.example.com/bye" {
		t.Fatalf("clients create --skip-consent --post-logout-redirect-uri printed %q (%v)", out, err)
	}
	listed := e.run(t, false, "", "clients", "list")
	if !strings.Contains(listed, "SKIP_CONSENT") {
		t.Fatalf("clients list has no SKIP_CONSENT column: %q", listed)
	}
	for id, want := range map[string]string{"cli-app": "false", "cli-web": "true", "latchkey-api": "true"} {
		row := listRow(listed, id)
		if row == nil || !slices.Contains(row, want) {
			t.Errorf("clients list row of %s is %q, want skip_consent %s", id, row, want)
		}
	}
	e.run(t, false, "", "keys", "rotate")
	if out := e.run(t, false, "", "keys", "list"); strings.Count(out, "ES256") != 2 || strings.Count(out, "true") != 1 {
		t.Fatalf("after one rotation keys list shows %q", out)
	}

	// The server started on the same data sees what the CLI wrote.
	base := startServe(t, e)
	if tok := postToken(t, base, created.ClientID, created.ClientSecret, url.Values{"grant_type": {"password"}, "username": {"root@example.com"}, "password": {"correct-horse-battery"}}); tok == "" {
		t.Fatal("the CLI-created superuser could not log in with the CLI-created client")
	}

	rotated := e.run(t, false, "", "clients", "rotate-secret", "cli-app")
	var r struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(rotated), &r); err != nil || r.ClientSecret == created.ClientSecret {
		t.Fatalf("rotate-secret printed %q", rotated)
	}
	e.run(t, false, "", "clients", "delete", "cli-app")
	if out := e.run(t, false, "", "clients", "list"); strings.Contains(out, "cli-app") {
		t.Fatalf("a deleted client is still listed: %q", out)
	}
	e.run(t, true, "", "clients", "delete", "cli-app")
}

// startServe runs `latchkey serve` on a free port of e's data directory and
// returns its base URL.
func startServe(t *testing.T, e *cliEnv) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	env := append(append([]string{}, e.environ...), "LATCHKEY_LISTEN="+addr, "LATCHKEY_ISSUER=http://"+addr)
	done := make(chan error, 1)
	go func() {
		var out, errOut bytes.Buffer
		done <- run(ctx, []string{"serve"}, strings.NewReader(""), &out, &errOut, env)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after shutdown", err)
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
	}
	t.Fatal("serve did not become ready")
	return ""
}

func postToken(t *testing.T, base, id, secret string, form url.Values) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token request: status %d", resp.StatusCode)
	}
	return body.AccessToken
}

// listRow returns the fields of the tabular row whose first field is id.
func listRow(out, id string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == id {
			return f
		}
	}
	return nil
}
