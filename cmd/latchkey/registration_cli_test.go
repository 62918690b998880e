package main

import (
	"strings"
	"testing"
)

// clients registration-token create prints an lk_iat_ token once; list
// shows its ID, never the token; delete removes it.
func TestRegistrationTokenCommands(t *testing.T) {
	e := newCLIEnv(t)
	out := e.run(t, false, "", "clients", "registration-token", "create", "--name", "ci", "--expires-in", "2h", "--max-uses", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := lines[len(lines)-1]
	if !strings.HasPrefix(token, "lk_iat_") || len(token) != len("lk_iat_")+43 || !strings.Contains(out, "3 registration(s)") {
		t.Fatalf("create printed %q", out)
	}
	id := strings.Fields(lines[0])[3]
	list := e.run(t, false, "", "clients", "registration-token", "list")
	if !strings.Contains(list, id) || !strings.Contains(list, "ci") || strings.Contains(list, token) {
		t.Fatalf("list printed %q (want the ID and name, never the token)", list)
	}
	if out := e.run(t, true, "", "clients", "registration-token", "create"); !strings.Contains(out, "name") {
		t.Errorf("create without --name: %q", out)
	}
	if out := e.run(t, true, "", "clients", "registration-token", "create", "--name", "x", "--expires-in", "9000h"); !strings.Contains(out, "expires_in") {
		t.Errorf("create with a lifetime over the maximum: %q", out)
	}
	e.run(t, false, "", "clients", "registration-token", "delete", id)
	if list := e.run(t, false, "", "clients", "registration-token", "list"); strings.Contains(list, id) {
		t.Errorf("a deleted token is still listed: %q", list)
	}
	if out := e.run(t, true, "", "clients", "registration-token", "delete", id); !strings.Contains(out, id) {
		t.Errorf("deleting twice: %q", out)
	}
}
