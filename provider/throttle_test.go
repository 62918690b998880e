package provider

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
)

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want int
	}{
		{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {time.Second + time.Millisecond, 2},
		{1500 * time.Millisecond, 2}, {15 * time.Minute, 900}, {-time.Second, 1},
	} {
		if got := retryAfter(tc.wait); got != tc.want {
			t.Errorf("retryAfter(%v) = %d, want %d", tc.wait, got, tc.want)
		}
	}
}

func TestNormalizeAddress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb::99", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"", ""},
		{"not-an-ip", "not-an-ip"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64)},
	} {
		if got := normalizeAddress(tc.in); got != tc.want {
			t.Errorf("normalizeAddress(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBlockFor(t *testing.T) {
	l := storage.AttemptLimit{Failures: 5, Window: time.Minute, Backoff: time.Second, MaxBackoff: 15 * time.Second}
	want := map[int]time.Duration{0: 0, 1: 0, 4: 0, 5: time.Second, 6: 2 * time.Second, 7: 4 * time.Second, 8: 8 * time.Second, 9: 15 * time.Second, 1000: 15 * time.Second}
	for n, d := range want {
		if got := l.BlockFor(n); got != d {
			t.Errorf("BlockFor(%d) = %v, want %v", n, got, d)
		}
	}
	if got := (storage.AttemptLimit{}).BlockFor(100); got != 0 {
		t.Errorf("a limit that is off blocks for %v", got)
	}
	// No overflow with a huge count and a cap near the maximum duration.
	huge := storage.AttemptLimit{Failures: 1, Backoff: time.Hour, MaxBackoff: 1 << 62}
	if got := huge.BlockFor(1 << 30); got != 1<<62 {
		t.Errorf("huge BlockFor = %v", got)
	}
}

func TestThrottleKeys(t *testing.T) {
	on := storage.AttemptLimit{Failures: 1, Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Second}
	th := newThrottle(RateLimits{Store: &sqlstore.Store{}, AccountAddress: on, Account: on, Address: on}, refreshSecrets(t, 0), nopObserver{}, nil, time.Now)
	keys := th.keys(credPassword, "Alice@Example.com", "192.0.2.7")
	if len(keys) != 3 {
		t.Fatalf("keys: %v", keys)
	}
	for i, k := range keys {
		if strings.Contains(strings.ToLower(k.key), "alice") {
			t.Errorf("key %q holds the login in the clear", k.key)
		}
		if i != 2 && !strings.HasPrefix(k.key, "pw:") {
			t.Errorf("key %q lacks its kind", k.key)
		}
	}
	if same := th.keys(credPassword, "alice@example.COM", "192.0.2.7"); same[0] != keys[0] || same[1] != keys[1] {
		t.Errorf("spellings of one login get different counters: %v vs %v", same, keys)
	}
	if other := th.keys(credClientSecret, "Alice@Example.com", "192.0.2.7"); other[0].key == keys[0].key || other[2].key == keys[2].key {
		t.Errorf("client secrets share the password counters: %v", other)
	}
	if got := th.keys(credPassword, "alice", ""); len(got) != 1 || got[0].limit != limitAccount {
		t.Errorf("without an address only the account counter applies: %v", got)
	}
	th.limits[limitAccount].Failures = 0
	if got := th.keys(credPassword, "alice", "192.0.2.7"); len(got) != 2 || got[0].limit != limitAccountAddress || got[1].limit != limitAddress {
		t.Errorf("a limit with 0 failures is off: %v", got)
	}
	if newThrottle(RateLimits{}, refreshSecrets(t, 0), nopObserver{}, nil, time.Now) != nil {
		t.Error("a throttle without a store is not nil")
	}
}

// countingObserver records RateLimited calls.
type countingObserver struct {
	nopObserver
	mu      sync.Mutex
	limited map[string]int
}

func (o *countingObserver) RateLimited(limit string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.limited[limit]++
}

func (o *countingObserver) count(limit string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.limited[limit]
}

// openAttemptStore opens a migrated SQLite store and returns it with its
// Close, which may be called before the test ends (Close is not idempotent).
func openAttemptStore(t *testing.T) (*sqlstore.Store, func()) {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "lk.db")})
	if err != nil {
		t.Fatal(err)
	}
	closeOnce := sync.OnceFunc(func() { _ = s.Close() })
	t.Cleanup(closeOnce)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, closeOnce
}

func wantRateLimited(t *testing.T, err error, retry int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Code != "rate_limited" || e.RetryAfter != retry {
		t.Fatalf("err = %#v, want 429 rate_limited with Retry-After %d", err, retry)
	}
}

// TestThrottle runs the throttle against a real (SQLite) counter store with
// a fake clock.
func TestThrottle(t *testing.T) {
	store, closeStore := openAttemptStore(t)
	now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	obs := &countingObserver{limited: map[string]int{}}
	th := newThrottle(RateLimits{
		Store:          store,
		AccountAddress: storage.AttemptLimit{Failures: 2, Window: time.Minute, Backoff: time.Second, MaxBackoff: 4 * time.Second},
		Account:        storage.AttemptLimit{Failures: 6, Window: time.Minute, Backoff: 10 * time.Second, MaxBackoff: time.Minute},
		Address:        storage.AttemptLimit{Failures: 20, Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Minute},
	}, refreshSecrets(t, 0), obs, nil, clock)
	home := WithClientIP(context.Background(), "192.0.2.1")
	away := WithClientIP(context.Background(), "198.51.100.9")

	failOnce := func(ctx context.Context, login string) {
		t.Helper()
		a, err := th.begin(ctx, credPassword, login)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		if err := a.failed(ctx); err != nil {
			t.Fatalf("failed: %v", err)
		}
	}

	failOnce(home, "alice")
	failOnce(home, "ALICE") // the same account
	_, err := th.begin(home, credPassword, "alice")
	wantRateLimited(t, err, 1)
	if got := obs.count("account_address"); got != 1 {
		t.Errorf("rate_limited{limit=account_address} = %d, want 1", got)
	}
	// Another address may still try the account, and this address another account.
	if _, err := th.begin(away, credPassword, "alice"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if _, err := th.begin(home, credPassword, "bob"); err != nil {
		t.Fatalf("another account: %v", err)
	}

	// The back-off doubles with each failure after a block, up to the cap.
	for _, want := range []int{2, 4, 4} {
		now = now.Add(5 * time.Second)
		failOnce(home, "alice")
		_, err = th.begin(home, credPassword, "alice")
		wantRateLimited(t, err, want)
	}

	// 6 failures on the account from anywhere block it everywhere, for the
	// account limit's back-off.
	now = now.Add(5 * time.Second)
	failOnce(away, "alice") // the sixth failure on the account
	_, err = th.begin(WithClientIP(context.Background(), "203.0.113.5"), credPassword, "alice")
	wantRateLimited(t, err, 10)
	if got := obs.count("account"); got != 1 {
		t.Errorf("rate_limited{limit=account} = %d, want 1", got)
	}

	// A success resets only the account-and-address counter.
	now = now.Add(time.Minute + 5*time.Second)
	failOnce(home, "carol")
	a, err := th.begin(home, credPassword, "carol")
	if err != nil {
		t.Fatal(err)
	}
	a.succeeded(home)
	keys := th.keys(credPassword, "carol", "192.0.2.1")
	states, err := store.AttemptStates(t.Context(), now, keys[0].key, keys[1].key, keys[2].key)
	if err != nil {
		t.Fatal(err)
	}
	if states[0].Failures != 0 || states[1].Failures != 1 || states[2].Failures == 0 {
		t.Errorf("after a success: %+v; want the account+address counter reset, the others kept", states)
	}

	// A store that is down fails closed with 503, never a 500 or a pass.
	_, err = th.begin(home, credPassword, "dave")
	if err != nil {
		t.Fatal(err)
	}
	a, _ = th.begin(home, credPassword, "dave")
	closeStore()
	// (erin's counters were never read, so no cached state stands in.)
	for name, err := range map[string]error{"begin": second(th.begin(home, credPassword, "erin")), "failed": a.failed(home)} {
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Code != "temporarily_unavailable" {
			t.Errorf("%s with the store down: %v, want 503 temporarily_unavailable", name, err)
		}
	}

	// Off: no store, no calls, no errors.
	var off *throttle
	na, err := off.begin(home, credPassword, "alice")
	if na != nil || err != nil {
		t.Fatalf("off: %v, %v", na, err)
	}
	if err := na.failed(home); err != nil {
		t.Fatal(err)
	}
	na.succeeded(home)
}

func second[A, B any](_ A, b B) B { return b }

// TestThrottleCache: an instance trusts the counter states it read for
// attemptCacheTTL; a block made by another instance (here: written straight
// to the shared store) is seen once that has passed, and a failure here
// learns the shared state at once.
func TestThrottleCache(t *testing.T) {
	store, _ := openAttemptStore(t)
	now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	limit := storage.AttemptLimit{Failures: 2, Window: time.Minute, Backoff: 30 * time.Second, MaxBackoff: time.Minute}
	th := newThrottle(RateLimits{Store: store, AccountAddress: limit, Account: limit, Address: limit},
		refreshSecrets(t, 7), nil, nil, clock)
	ctx := WithClientIP(context.Background(), "192.0.2.1")
	keys := th.keys(credClientSecret, "svc", "192.0.2.1")

	if _, err := th.begin(ctx, credClientSecret, "svc"); err != nil {
		t.Fatal(err)
	}
	// Another instance blocks the account.
	for range 3 {
		if _, err := store.FailAttempt(t.Context(), keys[1].key, limit, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := th.begin(ctx, credClientSecret, "svc"); err != nil {
		t.Fatalf("within the cache TTL the cached state stands: %v", err)
	}
	now = now.Add(attemptCacheTTL)
	_, err := th.begin(ctx, credClientSecret, "svc")
	wantLimitedAny(t, err)

	// A fresh instance state, then a failure here: it reads the shared
	// counter back and refuses the next check without waiting for the TTL.
	th2 := newThrottle(RateLimits{Store: store, AccountAddress: limit, Account: limit, Address: limit},
		refreshSecrets(t, 7), nil, nil, clock)
	other := WithClientIP(context.Background(), "192.0.2.2")
	a, err := th2.begin(other, credClientSecret, "svc2")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := store.FailAttempt(t.Context(), th2.keys(credClientSecret, "svc2", "192.0.2.2")[1].key, limit, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.failed(other); err != nil {
		t.Fatal(err)
	}
	_, err = th2.begin(other, credClientSecret, "svc2")
	wantLimitedAny(t, err)
}

func wantLimitedAny(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.RetryAfter <= 0 {
		t.Fatalf("err = %v, want 429 rate_limited with a Retry-After", err)
	}
}
