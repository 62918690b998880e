package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunDeviceCodes runs the storage.DeviceCodes conformance suite (RFC 8628).
func RunDeviceCodes(t *testing.T, open func(t *testing.T) storage.DeviceCodes) {
	runAll(t, open, []subtest[storage.DeviceCodes]{
		{"a created code is found by its user code, pending", testDeviceRoundTrip},
		{"a duplicate device hash or user-code hash conflicts and stores nothing", testDeviceDuplicate},
		{"unknown codes are not found", testDeviceUnknown},
		{"polls before a decision are pending, and too soon is slow_down that grows the interval", testDevicePollPending},
		{"an approved code gives its tokens once", testDeviceApprove},
		{"a denied code answers denied to every poll", testDeviceDeny},
		{"a code is decided once", testDeviceDecideOnce},
		{"concurrent decisions have exactly one winner", testDeviceDecideRace},
		{"concurrent polls of an approved code have exactly one winner", testDevicePollRace},
		{"another client's poll is not found and changes nothing", testDeviceOtherClient},
		{"an expired code polls expired, is not found by user code and cannot be decided", testDeviceExpiry},
		{"purge removes codes past their retention and keeps the others", testDevicePurge},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testDeviceInvalidText},
	})
}

func sampleDevice(hash string) storage.DeviceCode {
	t := base()
	return storage.DeviceCode{
		Hash: hash, UserCodeHash: "u-" + hash, ClientID: "tv", Scope: "openid profile offline_access",
		Interval: 5 * time.Second, CreatedAt: t, ExpiresAt: t.Add(10 * time.Minute),
	}
}

func sampleDecision(approve bool) storage.DeviceDecision {
	return storage.DeviceDecision{
		Approve: approve, Subject: "42", SessionID: "sess-1", AuthTime: base().Add(-time.Minute),
		Claims: map[string]any{"sid": "s-pub", "amr": []any{"pwd"}},
	}
}

func testDeviceRoundTrip(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	d := sampleDevice("d1")
	d.Status, d.Subject = storage.DeviceApproved, "sneaky" // the store sets these
	must(t, s.CreateDeviceCode(ctx, d))
	got, err := s.DeviceCodeByUserCode(ctx, "u-d1", base().Add(time.Second))
	must(t, err)
	want := sampleDevice("d1")
	want.Status = storage.DevicePending
	equal(t, "stored code", got, want)
}

func testDeviceDuplicate(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	must(t, s.CreateDeviceCode(ctx, sampleDevice("d1")))
	sameDevice := sampleDevice("d1")
	sameDevice.UserCodeHash, sameDevice.ClientID = "u-other", "attacker"
	wantErr(t, s.CreateDeviceCode(ctx, sameDevice), storage.ErrConflict)
	_, err := s.DeviceCodeByUserCode(ctx, "u-other", base())
	wantErr(t, err, storage.ErrNotFound)

	sameUser := sampleDevice("d2")
	sameUser.UserCodeHash, sameUser.ClientID = "u-d1", "attacker"
	wantErr(t, s.CreateDeviceCode(ctx, sameUser), storage.ErrConflict)
	_, _, err = s.PollDeviceCode(ctx, "d2", "attacker", base())
	wantErr(t, err, storage.ErrNotFound)
	got, err := s.DeviceCodeByUserCode(ctx, "u-d1", base())
	must(t, err)
	if got.ClientID != "tv" || got.Hash != "d1" {
		t.Fatalf("a conflicting create replaced the code: %+v", got)
	}
}

func testDeviceUnknown(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	_, err := s.DeviceCodeByUserCode(ctx, "nope", base())
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.DecideDeviceCode(ctx, "nope", base(), sampleDecision(true))
	wantErr(t, err, storage.ErrNotFound)
	_, _, err = s.PollDeviceCode(ctx, "nope", "tv", base())
	wantErr(t, err, storage.ErrNotFound)
}

func wantPoll(t *testing.T, s storage.DeviceCodes, hash string, at time.Time, want storage.DevicePoll) storage.DeviceCode {
	t.Helper()
	d, got, err := s.PollDeviceCode(t.Context(), hash, "tv", at)
	must(t, err)
	if got != want {
		t.Fatalf("poll at +%v = %d, want %d", at.Sub(base()), got, want)
	}
	return d
}

func testDevicePollPending(t *testing.T, s storage.DeviceCodes) {
	must(t, s.CreateDeviceCode(t.Context(), sampleDevice("d1")))
	at := func(d time.Duration) time.Time { return base().Add(d) }
	d := wantPoll(t, s, "d1", at(time.Second), storage.PollPending)
	if !d.LastPoll.Equal(at(time.Second)) || d.Interval != 5*time.Second {
		t.Fatalf("after the first poll: last poll %v, interval %v", d.LastPoll, d.Interval)
	}
	wantPoll(t, s, "d1", at(6*time.Second), storage.PollPending) // 5 s later: on time
	d = wantPoll(t, s, "d1", at(8*time.Second), storage.PollSlowDown)
	if d.Interval != 10*time.Second || !d.LastPoll.Equal(at(8*time.Second)) {
		t.Fatalf("after slow_down: interval %v, last poll %v; want 10s and +8s", d.Interval, d.LastPoll)
	}
	// The grown interval holds for every later poll.
	d = wantPoll(t, s, "d1", at(17*time.Second), storage.PollSlowDown)
	if d.Interval != 15*time.Second {
		t.Fatalf("interval %v after a second slow_down, want 15s", d.Interval)
	}
	d = wantPoll(t, s, "d1", at(32*time.Second), storage.PollPending)
	if d.Interval != 15*time.Second || d.Status != storage.DevicePending {
		t.Fatalf("after an on-time poll: %+v", d)
	}
}

func testDeviceApprove(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	must(t, s.CreateDeviceCode(ctx, sampleDevice("d1")))
	wantPoll(t, s, "d1", base().Add(time.Second), storage.PollPending)
	decidedAt := base().Add(3 * time.Second)
	got, err := s.DecideDeviceCode(ctx, "u-d1", decidedAt, sampleDecision(true))
	must(t, err)
	dec := sampleDecision(true)
	want := sampleDevice("d1")
	want.Status, want.LastPoll = storage.DeviceApproved, base().Add(time.Second)
	want.Subject, want.SessionID, want.AuthTime, want.Claims, want.DecidedAt = dec.Subject, dec.SessionID, dec.AuthTime, dec.Claims, decidedAt
	equal(t, "decided code", got, want)

	// An approval is delivered even to a poll that comes too soon.
	got = wantPoll(t, s, "d1", base().Add(2*time.Second), storage.PollApproved)
	want.Status, want.LastPoll = storage.DeviceUsed, base().Add(2*time.Second)
	equal(t, "approved poll", got, want)
	wantPoll(t, s, "d1", base().Add(20*time.Second), storage.PollUsed)
	wantPoll(t, s, "d1", base().Add(40*time.Second), storage.PollUsed)
}

func testDeviceDeny(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	must(t, s.CreateDeviceCode(ctx, sampleDevice("d1")))
	got, err := s.DecideDeviceCode(ctx, "u-d1", base().Add(time.Second), sampleDecision(false))
	must(t, err)
	if got.Status != storage.DeviceDenied {
		t.Fatalf("status %q after a denial", got.Status)
	}
	wantPoll(t, s, "d1", base().Add(10*time.Second), storage.PollDenied)
	wantPoll(t, s, "d1", base().Add(11*time.Second), storage.PollDenied)
}

func testDeviceDecideOnce(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	must(t, s.CreateDeviceCode(ctx, sampleDevice("d1")))
	_, err := s.DecideDeviceCode(ctx, "u-d1", base().Add(time.Second), sampleDecision(false))
	must(t, err)
	_, err = s.DecideDeviceCode(ctx, "u-d1", base().Add(2*time.Second), sampleDecision(true))
	wantErr(t, err, storage.ErrConflict)
	wantPoll(t, s, "d1", base().Add(10*time.Second), storage.PollDenied)

	must(t, s.CreateDeviceCode(ctx, sampleDevice("d2")))
	_, err = s.DecideDeviceCode(ctx, "u-d2", base().Add(time.Second), sampleDecision(true))
	must(t, err)
	wantPoll(t, s, "d2", base().Add(10*time.Second), storage.PollApproved)
	_, err = s.DecideDeviceCode(ctx, "u-d2", base().Add(11*time.Second), sampleDecision(false))
	wantErr(t, err, storage.ErrConflict)
	got, err := s.DeviceCodeByUserCode(ctx, "u-d2", base().Add(12*time.Second))
	must(t, err)
	if got.Status != storage.DeviceUsed {
		t.Fatalf("status %q of a redeemed code", got.Status)
	}
}

func testDeviceDecideRace(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	must(t, s.CreateDeviceCode(ctx, sampleDevice("d1")))
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.DecideDeviceCode(ctx, "u-d1", base().Add(time.Second), sampleDecision(i%2 == 0))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrConflict):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent decisions won, want exactly 1", wins, n)
	}
}

func testDevicePollRace(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	must(t, s.CreateDeviceCode(ctx, sampleDevice("d1")))
	_, err := s.DecideDeviceCode(ctx, "u-d1", base().Add(time.Second), sampleDecision(true))
	must(t, err)
	const n = 20
	outs := make([]storage.DevicePoll, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, outs[i], errs[i] = s.PollDeviceCode(ctx, "d1", "tv", base().Add(10*time.Second))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		must(t, err)
		switch outs[i] {
		case storage.PollApproved:
			wins++
		case storage.PollUsed:
		default:
			t.Fatalf("poll outcome %d, want approved or used", outs[i])
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent polls got the approval, want exactly 1", wins, n)
	}
}

func testDeviceOtherClient(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	must(t, s.CreateDeviceCode(ctx, sampleDevice("d1")))
	_, err := s.DecideDeviceCode(ctx, "u-d1", base().Add(time.Second), sampleDecision(true))
	must(t, err)
	_, _, err = s.PollDeviceCode(ctx, "d1", "attacker", base().Add(10*time.Second))
	wantErr(t, err, storage.ErrNotFound)
	wantPoll(t, s, "d1", base().Add(10*time.Second), storage.PollApproved)
}

func testDeviceExpiry(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	for _, h := range []string{"pending", "approved", "denied"} {
		must(t, s.CreateDeviceCode(ctx, sampleDevice(h)))
	}
	_, err := s.DecideDeviceCode(ctx, "u-approved", base().Add(time.Second), sampleDecision(true))
	must(t, err)
	_, err = s.DecideDeviceCode(ctx, "u-denied", base().Add(time.Second), sampleDecision(false))
	must(t, err)
	exp := sampleDevice("x").ExpiresAt
	before := exp.Add(-time.Millisecond)
	if _, err := s.DeviceCodeByUserCode(ctx, "u-pending", before); err != nil {
		t.Fatalf("a code a millisecond before its expiry: %v", err)
	}
	for _, h := range []string{"pending", "approved", "denied"} {
		wantPoll(t, s, h, exp, storage.PollExpired)
		wantPoll(t, s, h, exp.Add(storage.DeviceCodeRetention-time.Millisecond), storage.PollExpired)
		_, err := s.DeviceCodeByUserCode(ctx, "u-"+h, exp)
		wantErr(t, err, storage.ErrNotFound)
		_, _, err = s.PollDeviceCode(ctx, h, "tv", exp.Add(storage.DeviceCodeRetention))
		wantErr(t, err, storage.ErrNotFound)
	}
	_, err = s.DecideDeviceCode(ctx, "u-pending", exp, sampleDecision(true))
	wantErr(t, err, storage.ErrNotFound)
	// The expired approval was never delivered, and never will be.
	wantPoll(t, s, "approved", exp.Add(time.Second), storage.PollExpired)
}

func testDevicePurge(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	old := sampleDevice("old")
	old.ExpiresAt = base().Add(-storage.DeviceCodeRetention - time.Second)
	recent := sampleDevice("recent")
	recent.ExpiresAt = base().Add(-time.Second)
	must(t, s.CreateDeviceCode(ctx, old))
	must(t, s.CreateDeviceCode(ctx, recent))
	must(t, s.CreateDeviceCode(ctx, sampleDevice("live")))
	n, err := s.PurgeDeviceCodes(ctx, base())
	must(t, err)
	if n != 0 && n != 1 {
		t.Fatalf("purged %d codes, want 1 (or 0 from a store that expires records itself)", n)
	}
	_, _, err = s.PollDeviceCode(ctx, "old", "tv", base())
	wantErr(t, err, storage.ErrNotFound)
	wantPoll(t, s, "recent", base(), storage.PollExpired)
	wantPoll(t, s, "live", base(), storage.PollPending)
	// A purged user code may be handed out again.
	reuse := sampleDevice("again")
	reuse.UserCodeHash = "u-old"
	if n == 1 {
		must(t, s.CreateDeviceCode(ctx, reuse))
	}
}

func testDeviceInvalidText(t *testing.T, s storage.DeviceCodes) {
	ctx := t.Context()
	for i, bad := range invalidTexts {
		what := func(call string) string { return fmt.Sprintf("%s with %q", call, bad) }
		_, err := s.DeviceCodeByUserCode(ctx, bad, base())
		wantNotFound(t, what("DeviceCodeByUserCode"), err)
		_, _, err = s.PollDeviceCode(ctx, bad, "tv", base())
		wantNotFound(t, what("PollDeviceCode"), err)
		for _, change := range []func(*storage.DeviceCode){
			func(d *storage.DeviceCode) { d.Hash = bad },
			func(d *storage.DeviceCode) { d.UserCodeHash = bad },
			func(d *storage.DeviceCode) { d.Scope = bad },
		} {
			d := sampleDevice("d1")
			change(&d)
			wantInvalid(t, what("CreateDeviceCode"), s.CreateDeviceCode(ctx, d))
		}
		must(t, s.CreateDeviceCode(ctx, sampleDevice("ok-"+fmt.Sprint(i))))
		dec := sampleDecision(true)
		dec.Subject = bad
		_, err = s.DecideDeviceCode(ctx, "u-ok-"+fmt.Sprint(i), base(), dec)
		wantInvalid(t, what("DecideDeviceCode"), err)
	}
	_, err := s.DeviceCodeByUserCode(ctx, "u-d1", base())
	wantErr(t, err, storage.ErrNotFound)
}
