package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/storage"
)

// memStore keeps events in memory, or fails every append with err.
type memStore struct {
	mu     sync.Mutex
	events []storage.AuditEvent
	err    error
	ctxErr error // the context's error at the last append
}

func (m *memStore) AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ctxErr = ctx.Err()
	if m.err != nil {
		return m.err
	}
	m.events = append(m.events, e)
	return nil
}

func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRecordCompletesLogsAndStores(t *testing.T) {
	var buf bytes.Buffer
	store := &memStore{}
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	r := audit.New(store, slog.New(slog.NewJSONHandler(&buf, nil)), func() time.Time { return now })
	ctx := audit.WithRequest(context.Background(), "192.0.2.7", "curl/8\x00\xff")
	ctx = audit.WithActor(ctx, audit.UserActor(3))
	ctx = audit.WithClient(ctx, "demo")
	r.Record(ctx, audit.Event{Type: audit.TypeUserUpdated, Subject: "4", Detail: map[string]string{
		"fields": "email", "oops": "Bearer lk_rt_abc.def",
	}})

	if len(store.events) != 1 {
		t.Fatalf("stored %d events", len(store.events))
	}
	e := store.events[0]
	if e.ID == "" || !e.Time.Equal(now) || e.Outcome != audit.OutcomeSuccess || e.Actor != "user:3" ||
		e.ClientID != "demo" || e.IP != "192.0.2.7" || !storage.ValidText(e) {
		t.Errorf("stored %+v", e)
	}
	if e.Detail["oops"] != "[redacted]" || e.Detail["fields"] != "email" {
		t.Errorf("detail %v: a value holding a token must be redacted", e.Detail)
	}
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["audit"] != true || lines[0]["event_id"] != e.ID || lines[0]["type"] != "user.updated" {
		t.Errorf("log %v", lines)
	}
	if strings.Contains(buf.String(), "lk_rt_") {
		t.Error("the log holds the token")
	}
}

// A store that is down does not fail the caller: Record returns, the
// event is in the log, and an error line says it was not stored.
func TestRecordSurvivesAStoreThatIsDown(t *testing.T) {
	var buf bytes.Buffer
	store := &memStore{err: errors.Join(storage.ErrUnavailable, errors.New("connection refused"))}
	r := audit.New(store, slog.New(slog.NewJSONHandler(&buf, nil)), nil)
	r.Record(context.Background(), audit.Event{Type: audit.TypeLoginFailed, Outcome: audit.OutcomeFailure})
	lines := logLines(t, &buf)
	if len(lines) != 2 || lines[0]["audit"] != true || lines[1]["msg"] != "audit event not stored" || lines[1]["event_id"] != lines[0]["event_id"] {
		t.Errorf("log %v", lines)
	}
}

// A request that ended (the client hung up) still leaves its event.
func TestRecordStoresAfterTheRequestEnded(t *testing.T) {
	store := &memStore{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	audit.New(store, nil, nil).Record(ctx, audit.Event{Type: audit.TypeTokenRevoked})
	if len(store.events) != 1 || store.ctxErr != nil {
		t.Errorf("stored %d events, store context error %v", len(store.events), store.ctxErr)
	}
}

func TestNilRecorderRecordsNothing(t *testing.T) {
	var r *audit.Recorder
	r.Record(context.Background(), audit.Event{Type: audit.TypeKeyRotated}) // must not panic
}
