package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while a command writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestAdminKeysCommands(t *testing.T) {
	e := newCLIEnv(t)
	out := e.run(t, false, "", "admin", "keys", "create", "--name", "ci deploy")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "lk_ak_") || len(key) != len("lk_ak_")+43 {
		t.Fatalf("create printed %q", out)
	}
	id := strings.Fields(lines[0])[3]
	list := e.run(t, false, "", "admin", "keys", "list")
	if !strings.Contains(list, id) || !strings.Contains(list, "ci deploy") || strings.Contains(list, key) {
		t.Fatalf("list printed %q (want the ID and name, never the key)", list)
	}
	if out := e.run(t, true, "", "admin", "keys", "create"); !strings.Contains(out, "name") {
		t.Errorf("create without --name: %q", out)
	}
	e.run(t, false, "", "admin", "keys", "revoke", id)
	if list := e.run(t, false, "", "admin", "keys", "list"); strings.Contains(list, id) {
		t.Errorf("a revoked key is still listed: %q", list)
	}
	if out := e.run(t, true, "", "admin", "keys", "revoke", id); !strings.Contains(out, id) {
		t.Errorf("revoking twice: %q", out)
	}
	tail := e.run(t, false, "", "events", "tail", "-n", "10")
	for _, want := range []string{`"type":"admin_key.created"`, `"type":"admin_key.revoked"`, `"actor":"cli"`} {
		if !strings.Contains(tail, want) {
			t.Errorf("events tail lacks %s:\n%s", want, tail)
		}
	}
	if strings.Contains(tail, key) {
		t.Error("an event holds the key")
	}
}

// events tail prints the newest events oldest first, and --follow prints
// an event another process records afterwards.
func TestEventsTailFollows(t *testing.T) {
	e := newCLIEnv(t)
	for _, id := range []string{"first", "second", "third"} {
		e.run(t, false, "", "clients", "create", "--id", id, "--grant-type", "client_credentials")
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(e.run(t, false, "", "events", "tail", "-n", "2", "--type", "client.created")), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		got = append(got, ev["client_id"].(string))
	}
	if strings.Join(got, ",") != "second,third" {
		t.Errorf("tail -n 2 printed clients %v, want second,third", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"events", "tail", "-n", "1", "--follow", "--interval", "100ms", "--type", "client.created"}, strings.NewReader(""), &out, &errOut, e.environ)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tail --follow: %v\n%s", err, errOut.String())
		}
	}()
	waitUntil(t, 30*time.Second, "tail prints the newest event", func() bool { return strings.Contains(out.String(), `"client_id":"third"`) })
	e.run(t, false, "", "clients", "create", "--id", "fourth", "--grant-type", "client_credentials")
	waitUntil(t, 30*time.Second, "tail --follow prints the new event", func() bool { return strings.Contains(out.String(), `"client_id":"fourth"`) })
	if n := strings.Count(out.String(), `"client_id":"third"`); n != 1 {
		t.Errorf("the event before the follow was printed %d times", n)
	}
}

// waitUntil polls cond until it holds or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
