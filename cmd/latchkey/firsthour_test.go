package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/provider"
)

// runCLI runs the CLI with environ and returns stdout and the error.
func runCLI(environ []string, stdin string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, environ)
	return out.String(), err
}

// config check and serve refuse the same configurations with the same
// words, and serve refuses them before it creates the data directory.
func TestConfigCheckIsExactlyAsStrictAsServe(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		environ []string
		want    string
	}{
		{"an unknown backend type", "backends:\n  - id: corp\n    type: ldap\n", nil, `backends[0].type: backend "corp": backends: unknown type "ldap" (known: [local oidc opaque webhook])`},
		{"a typo inside a backend's config", "backends:\n  - id: local\n    type: local\n    config:\n      argon: {memory_kib: 64}\n", nil, `backends[0].config: backend "local": config: line 5: unknown key "argon"`},
		{"a bad value inside a backend's config", "backends:\n  - id: local\n    type: local\n    config:\n      argon2: {memory_kib: 1}\n", nil, `backends[0].config: backend "local"`},
		{"a misspelt bootstrap variable", "", []string{"LATCHKEY_BOOTSTRAP_ADMIN_PASWORD=x"}, "LATCHKEY_BOOTSTRAP_ADMIN_PASWORD: not a bootstrap variable"},
		{"an unknown variable", "", []string{"LATCHKEY_LISTN=127.0.0.1:1"}, `LATCHKEY_LISTN: no configuration key "listn"`},
		{"a YAML type error", "tokens:\n  access_ttl: \"5 minutes\"\n", nil, `tokens.access_ttl: "5 minutes" is not a duration`},
		{"a master key file that is not a key", "", []string{"LATCHKEY_KEYS__MASTER_KEY_FILE=" + writeTemp(t, "not a key")}, "keys.master_key_file:"},
		{"a profile schema that does not compile", "users:\n  profile_schema: '{\"type\": 5}'\n", nil, "users.profile_schema:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			cfg := filepath.Join(dir, "latchkey.yaml")
			if err := os.WriteFile(cfg, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			environ := append([]string{"LATCHKEY_CONFIG=" + cfg, "LATCHKEY_DATA_DIR=" + data, "LATCHKEY_LISTEN=127.0.0.1:0"}, tt.environ...)
			out, checkErr := runCLI(environ, "", "config", "check")
			if checkErr == nil || !strings.Contains(checkErr.Error(), tt.want) {
				t.Fatalf("config check: %v (printed %q), want an error containing %q", checkErr, out, tt.want)
			}
			_, serveErr := runCLI(environ, "", "serve")
			if serveErr == nil || serveErr.Error() != checkErr.Error() {
				t.Fatalf("serve: %v\nconfig check: %v", serveErr, checkErr)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("serve created %s before refusing the configuration (%v)", data, err)
			}
		})
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnknownSubcommandsFail(t *testing.T) {
	e := newCLIEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"users", "frobnicate", "x.csv"}, `unknown command "frobnicate" for "latchkey users"`},
		{[]string{"clients", "frobnicate"}, `unknown command "frobnicate" for "latchkey clients"`},
		{[]string{"keys", "burn"}, `unknown command "burn" for "latchkey keys"`},
		{[]string{"config", "edit"}, `unknown command "edit" for "latchkey config"`},
		{[]string{"import"}, `unknown command "import" for "latchkey"`},
	} {
		if _, err := runCLI(e.environ, "", tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("latchkey %s: err = %v, want %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
	if out, err := runCLI(e.environ, "", "users"); err != nil || !strings.Contains(out, "set-password") {
		t.Errorf("latchkey users: %v, printed %q; want its help", err, out)
	}
}

func TestClientsDeleteOfAMissingClientNamesIt(t *testing.T) {
	e := newCLIEnv(t)
	for _, args := range [][]string{{"clients", "delete", "x"}, {"clients", "rotate-secret", "x"}} {
		_, err := runCLI(e.environ, "", args...)
		if err == nil || err.Error() != `no client "x"` {
			t.Errorf("latchkey %s: err = %v, want no client \"x\"", strings.Join(args, " "), err)
		}
	}
}

func TestUsersSetPassword(t *testing.T) {
	e := newCLIEnv(t)
	e.run(t, false, "first-password-1\n", "users", "createsuperuser", "--username", "root", "--password-stdin")
	out := e.run(t, false, "", "clients", "create", "--id", "app", "--grant-type", "password")
	var c struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if out := e.run(t, false, "second-password-2\n", "users", "set-password", "--username", "root", "--password-stdin"); !strings.Contains(out, "password of user root changed") {
		t.Fatalf("set-password printed %q", out)
	}
	if _, err := runCLI(e.environ, "x\n", "users", "set-password", "--username", "root", "--password-stdin"); err == nil {
		t.Fatal("a short password was accepted")
	}
	if _, err := runCLI(e.environ, "", "users", "set-password", "--username", "nobody", "--password", "long-enough-1"); err == nil || err.Error() != `no user "nobody"` {
		t.Fatalf("a missing user: %v", err)
	}
	base := startServe(t, e)
	postToken(t, base, "app", c.ClientSecret, map[string][]string{"grant_type": {"password"}, "username": {"root"}, "password": {"second-password-2"}})
}

func TestClientsCreateRefusesGrantsTheServerDoesNotServe(t *testing.T) {
	e := newCLIEnv(t)
	_, err := runCLI(e.environ, "", "clients", "create", "--grant-type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
	if err == nil || !strings.Contains(err.Error(), "it serves "+strings.Join(provider.BuiltinGrantTypes(), ", ")) {
		t.Fatalf("err = %v", err)
	}
	out := e.run(t, false, "", "clients", "create", "--name", "default")
	if !strings.Contains(out, `"client_credentials"`) {
		t.Fatalf("a confidential client's default grants: %s", out)
	}
	out = e.run(t, false, "", "clients", "create", "--name", "spa", "--public")
	if !strings.Contains(out, `"password"`) || !strings.Contains(out, `"refresh_token"`) {
		t.Fatalf("a public client's default grants: %s", out)
	}
	// A browser app (docs/browser-login.md): the code flow by default, and
	// where the logout may send the browser back.
	out = e.run(t, false, "", "clients", "create", "--id", "webapp", "--redirect-uri", "http://127.0.0.1:8090/callback",
		"--post-logout-redirect-uri", "http://127.0.0.1:8090/")
	var web struct {
		GrantTypes             []string `json:"grant_types"`
		PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	}
	if err := json.Unmarshal([]byte(out), &web); err != nil || strings.Join(web.GrantTypes, " ") != "authorization_code refresh_token" ||
		strings.Join(web.PostLogoutRedirectURIs, " ") != "http://127.0.0.1:8090/" {
		t.Fatalf("a browser app's client: %s (%v)", out, err)
	}
}

// Without an issuer, `LATCHKEY_LISTEN=127.0.0.1:PORT latchkey serve`
// answers as http://localhost:PORT: in discovery, in the tokens' iss, in the
// printed curl and in the log line that says which issuer is in force.
func TestServeDerivesTheIssuerFromTheListenAddress(t *testing.T) {
	e := newCLIEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	env := append(append([]string{}, e.environ...), "LATCHKEY_LISTEN=127.0.0.1:"+strconv.Itoa(port), "LATCHKEY_LOG__LEVEL=info")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), &out, &errOut, env) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	want := "http://localhost:" + strconv.Itoa(port)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	ready := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !ready; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
	}
	if !ready {
		t.Fatal("serve did not become ready")
	}
	resp, err := http.Get(base + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || disc.Issuer != want || disc.TokenEndpoint != want+"/oauth2/token" {
		t.Fatalf("discovery: %+v (%v), want issuer %s", disc, err, want)
	}
	stop()
	logs := errOut.String()
	if !strings.Contains(logs, want+"/oauth2/token") {
		t.Errorf("the printed curl does not use %s:\n%s", want, logs)
	}
	if !strings.Contains(logs, `"msg":"issuer derived from the listen address`) || !strings.Contains(logs, `"issuer":"`+want+`"`) {
		t.Errorf("the issuer in force is not logged:\n%s", logs)
	}
}
