package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunAuditEvents runs the storage.AuditEvents conformance suite.
func RunAuditEvents(t *testing.T, open func(t *testing.T) storage.AuditEvents) {
	runAll(t, open, []subtest[storage.AuditEvents]{
		{"append then list returns the event as written", testAuditRoundTrip},
		{"a duplicate ID conflicts", testAuditDuplicate},
		{"list is newest first and the cursor walks every event once", testAuditCursor},
		{"a cursor keeps its place while new events arrive", testAuditCursorStable},
		{"filters by type, subject, client and since combine", testAuditFilters},
		{"a cursor that is not the store's is invalid input", testAuditBadCursor},
		{"purge deletes only events older than the limit", testAuditPurge},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testAuditInvalidText},
	})
}

func sampleEvent(n int, at time.Time) storage.AuditEvent {
	return storage.AuditEvent{
		ID: fmt.Sprintf("ev-%03d", n), Time: at, Type: "login.succeeded", Outcome: "success",
		Actor: "user:7", Subject: "7", ClientID: "demo", Backend: "local", IP: "192.0.2.1",
		UserAgent: "agent/1.0", Detail: map[string]string{"n": fmt.Sprint(n)},
	}
}

func appendEvents(t *testing.T, s storage.AuditEvents, n int, change func(i int, e *storage.AuditEvent)) []storage.AuditEvent {
	t.Helper()
	var out []storage.AuditEvent
	for i := range n {
		e := sampleEvent(i, base().Add(time.Duration(i)*time.Second))
		if change != nil {
			change(i, &e)
		}
		must(t, s.AppendAuditEvent(t.Context(), e))
		out = append(out, e)
	}
	return out
}

func listAll(t *testing.T, s storage.AuditEvents, q storage.AuditQuery) []storage.AuditEvent {
	t.Helper()
	var out []storage.AuditEvent
	for range 1000 {
		page, next, err := s.ListAuditEvents(t.Context(), q)
		must(t, err)
		out = append(out, page...)
		if next == "" {
			return out
		}
		q.Cursor = next
	}
	t.Fatal("the cursor never ends")
	return nil
}

func ids(es []storage.AuditEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func testAuditRoundTrip(t *testing.T, s storage.AuditEvents) {
	e := sampleEvent(1, base())
	must(t, s.AppendAuditEvent(t.Context(), e))
	bare := storage.AuditEvent{ID: "bare", Time: base().Add(time.Second), Type: "key.rotated"}
	must(t, s.AppendAuditEvent(t.Context(), bare))
	got, next, err := s.ListAuditEvents(t.Context(), storage.AuditQuery{})
	must(t, err)
	equal(t, "next", next, "")
	equal(t, "events", got, []storage.AuditEvent{bare, e})
}

func testAuditDuplicate(t *testing.T, s storage.AuditEvents) {
	e := sampleEvent(1, base())
	must(t, s.AppendAuditEvent(t.Context(), e))
	e.Type = "user.created"
	wantErr(t, s.AppendAuditEvent(t.Context(), e), storage.ErrConflict)
	got := listAll(t, s, storage.AuditQuery{})
	equal(t, "events", ids(got), []string{"ev-001"})
}

func testAuditCursor(t *testing.T, s storage.AuditEvents) {
	// Equal times: the order is that of appending.
	all := appendEvents(t, s, 7, func(i int, e *storage.AuditEvent) { e.Time = base() })
	page, next, err := s.ListAuditEvents(t.Context(), storage.AuditQuery{Limit: 3})
	must(t, err)
	equal(t, "first page", ids(page), []string{"ev-006", "ev-005", "ev-004"})
	if next == "" {
		t.Fatal("no cursor after a full page")
	}
	got := listAll(t, s, storage.AuditQuery{Limit: 3})
	want := make([]string, len(all))
	for i := range all {
		want[i] = all[len(all)-1-i].ID
	}
	equal(t, "every page", ids(got), want)
	_, next, err = s.ListAuditEvents(t.Context(), storage.AuditQuery{Limit: 7})
	must(t, err)
	equal(t, "cursor after an exact last page", next, "")
}

func testAuditCursorStable(t *testing.T, s storage.AuditEvents) {
	appendEvents(t, s, 4, nil)
	_, next, err := s.ListAuditEvents(t.Context(), storage.AuditQuery{Limit: 2})
	must(t, err)
	must(t, s.AppendAuditEvent(t.Context(), sampleEvent(99, base().Add(time.Hour))))
	page, _, err := s.ListAuditEvents(t.Context(), storage.AuditQuery{Limit: 2, Cursor: next})
	must(t, err)
	equal(t, "second page", ids(page), []string{"ev-001", "ev-000"})
}

func testAuditFilters(t *testing.T, s storage.AuditEvents) {
	appendEvents(t, s, 8, func(i int, e *storage.AuditEvent) {
		if i%2 == 1 {
			e.Type = "login.failed"
		}
		if i >= 4 {
			e.Subject = "8"
			e.ClientID = "other"
		}
	})
	cases := []struct {
		q    storage.AuditQuery
		want []string
	}{
		{storage.AuditQuery{Type: "login.failed"}, []string{"ev-007", "ev-005", "ev-003", "ev-001"}},
		{storage.AuditQuery{Subject: "7"}, []string{"ev-003", "ev-002", "ev-001", "ev-000"}},
		{storage.AuditQuery{ClientID: "other", Type: "login.succeeded"}, []string{"ev-006", "ev-004"}},
		{storage.AuditQuery{Since: base().Add(5 * time.Second)}, []string{"ev-007", "ev-006", "ev-005"}},
		{storage.AuditQuery{Type: "login.failed", Subject: "8", Since: base().Add(6 * time.Second), Limit: 1}, []string{"ev-007"}},
		{storage.AuditQuery{Type: "nothing"}, []string{}},
	}
	for _, c := range cases {
		got := listAll(t, s, c.q)
		equal(t, fmt.Sprintf("%+v", c.q), ids(got), c.want)
	}
}

func testAuditBadCursor(t *testing.T, s storage.AuditEvents) {
	appendEvents(t, s, 2, nil)
	for _, c := range []string{"x", "-1", "nul\x00"} {
		_, _, err := s.ListAuditEvents(t.Context(), storage.AuditQuery{Cursor: c})
		wantInvalid(t, fmt.Sprintf("cursor %q", c), err)
	}
}

func testAuditPurge(t *testing.T, s storage.AuditEvents) {
	appendEvents(t, s, 5, nil)
	n, err := s.PurgeAuditEvents(t.Context(), base().Add(2*time.Second))
	must(t, err)
	equal(t, "purged", n, 2)
	equal(t, "left", ids(listAll(t, s, storage.AuditQuery{})), []string{"ev-004", "ev-003", "ev-002"})
	n, err = s.PurgeAuditEvents(t.Context(), base())
	must(t, err)
	equal(t, "purged again", n, 0)
}

func testAuditInvalidText(t *testing.T, s storage.AuditEvents) {
	ctx := t.Context()
	for _, bad := range invalidTexts {
		for _, change := range []func(*storage.AuditEvent){
			func(e *storage.AuditEvent) { e.ID = bad },
			func(e *storage.AuditEvent) { e.UserAgent = bad },
			func(e *storage.AuditEvent) { e.Detail = map[string]string{"k": bad} },
		} {
			e := sampleEvent(1, base())
			change(&e)
			wantInvalid(t, fmt.Sprintf("append with %q", bad), s.AppendAuditEvent(ctx, e))
		}
		got, next, err := s.ListAuditEvents(ctx, storage.AuditQuery{Type: bad, Subject: bad})
		must(t, err)
		if len(got) != 0 || next != "" {
			t.Errorf("list by %q: %v", bad, got)
		}
	}
	equal(t, "stored", len(listAll(t, s, storage.AuditQuery{})), 0)
}

// RunAdminKeys runs the storage.AdminKeys conformance suite.
func RunAdminKeys(t *testing.T, open func(t *testing.T) storage.AdminKeys) {
	runAll(t, open, []subtest[storage.AdminKeys]{
		{"create then look up by hash returns the key", testAdminKeyRoundTrip},
		{"an unknown hash is not found", testAdminKeyUnknown},
		{"a duplicate ID or hash conflicts", testAdminKeyDuplicate},
		{"list is newest first", testAdminKeyList},
		{"delete removes the key at once; an unknown ID is not found", testAdminKeyDelete},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testAdminKeyInvalidText},
	})
}

func sampleAdminKey(n int, at time.Time) storage.AdminKey {
	return storage.AdminKey{ID: fmt.Sprintf("ak%d", n), Hash: fmt.Sprintf("hash-%d", n), Name: fmt.Sprintf("deploy %d", n), CreatedAt: at}
}

func testAdminKeyRoundTrip(t *testing.T, s storage.AdminKeys) {
	k := sampleAdminKey(1, base())
	must(t, s.CreateAdminKey(t.Context(), k))
	got, err := s.AdminKey(t.Context(), k.Hash)
	must(t, err)
	equal(t, "key", got, k)
}

func testAdminKeyUnknown(t *testing.T, s storage.AdminKeys) {
	must(t, s.CreateAdminKey(t.Context(), sampleAdminKey(1, base())))
	_, err := s.AdminKey(t.Context(), "hash-2")
	wantErr(t, err, storage.ErrNotFound)
}

func testAdminKeyDuplicate(t *testing.T, s storage.AdminKeys) {
	k := sampleAdminKey(1, base())
	must(t, s.CreateAdminKey(t.Context(), k))
	sameID := sampleAdminKey(2, base())
	sameID.ID = k.ID
	wantErr(t, s.CreateAdminKey(t.Context(), sameID), storage.ErrConflict)
	sameHash := sampleAdminKey(3, base())
	sameHash.Hash = k.Hash
	wantErr(t, s.CreateAdminKey(t.Context(), sameHash), storage.ErrConflict)
}

func testAdminKeyList(t *testing.T, s storage.AdminKeys) {
	a, b := sampleAdminKey(1, base()), sampleAdminKey(2, base().Add(time.Minute))
	must(t, s.CreateAdminKey(t.Context(), a))
	must(t, s.CreateAdminKey(t.Context(), b))
	got, err := s.ListAdminKeys(t.Context())
	must(t, err)
	equal(t, "keys", got, []storage.AdminKey{b, a})
}

func testAdminKeyDelete(t *testing.T, s storage.AdminKeys) {
	a, b := sampleAdminKey(1, base()), sampleAdminKey(2, base())
	must(t, s.CreateAdminKey(t.Context(), a))
	must(t, s.CreateAdminKey(t.Context(), b))
	must(t, s.DeleteAdminKey(t.Context(), a.ID))
	_, err := s.AdminKey(t.Context(), a.Hash)
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.AdminKey(t.Context(), b.Hash)
	must(t, err)
	wantErr(t, s.DeleteAdminKey(t.Context(), a.ID), storage.ErrNotFound)
}

func testAdminKeyInvalidText(t *testing.T, s storage.AdminKeys) {
	ctx := t.Context()
	for _, bad := range invalidTexts {
		_, err := s.AdminKey(ctx, bad)
		wantNotFound(t, fmt.Sprintf("AdminKey(%q)", bad), err)
		wantNotFound(t, fmt.Sprintf("DeleteAdminKey(%q)", bad), s.DeleteAdminKey(ctx, bad))
		k := sampleAdminKey(1, base())
		k.Name = bad
		wantInvalid(t, fmt.Sprintf("create named %q", bad), s.CreateAdminKey(ctx, k))
	}
	got, err := s.ListAdminKeys(ctx)
	must(t, err)
	equal(t, "stored", len(got), 0)
}
