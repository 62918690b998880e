package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/server"
)

// Bootstrap variables set on a database bootstrapped before change nothing;
// the server says so once, names the variables (never their values) and
// how to change the admin password or rotate the demo secret.
func TestBootstrapVariablesAfterTheFirstStartWarnOnce(t *testing.T) {
	dir := t.TempDir()
	first := startServerAt(t, "127.0.0.1:0", dir, newTestClock(), nil)
	if strings.Contains(first.Logs.String(), "bootstrap variables have no effect") {
		t.Fatalf("the first start warned:\n%s", first.Logs.String())
	}
	first.Stop()

	const newPassword = "a-new-admin-password-7"
	second := startServerWith(t, "127.0.0.1:0", dir, newTestClock(), nil, func(o *server.Options) {
		o.Environ = append(o.Environ, config.EnvBootstrapAdminPassword+"="+newPassword, config.EnvBootstrapClientID+"=")
	})
	logs := second.Logs.String()
	if n := strings.Count(logs, "bootstrap variables have no effect"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs)
	}
	for _, want := range []string{"latchkey users set-password --username admin", "latchkey clients rotate-secret demo", config.EnvBootstrapAdminPassword, config.EnvBootstrapClientSecret} {
		if !strings.Contains(logs, want) {
			t.Errorf("the warning lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, config.EnvBootstrapClientID) {
		t.Errorf("an empty variable was named:\n%s", logs)
	}
	if strings.Contains(logs, newPassword) || strings.Contains(logs, adminPass) || strings.Contains(logs, demoSecret) {
		t.Fatalf("the warning shows a value:\n%s", logs)
	}
	// And indeed nothing changed: the first password still works.
	second.passwordToken(adminUser, adminPass)
}

// The demo client is registered for exactly the grants the server serves.
func TestTheDemoClientHasEveryServedGrant(t *testing.T) {
	ts := startServer(t, nil)
	c, err := ts.srv.Store().GetClient(t.Context(), demoClient)
	if err != nil {
		t.Fatal(err)
	}
	if want := ts.srv.Provider().GrantTypes(); !slices.Equal(c.GrantTypes, want) {
		t.Fatalf("demo grants %v, served %v", c.GrantTypes, want)
	}
}
