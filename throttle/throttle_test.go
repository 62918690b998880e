package throttle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
)

// keyedHash is a Hasher like the provider's Secrets: HMAC-SHA256 under a
// key of 32 fill bytes.
type keyedHash byte

func (k keyedHash) Hash(s string) string {
	m := hmac.New(sha256.New, []byte(strings.Repeat(string(rune(k)), 32)))
	m.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// fakeAttempts is a storage.Attempts whose methods are function fields.
type fakeAttempts struct {
	failAttempt   func(ctx context.Context, key string, limit storage.AttemptLimit, now time.Time) (storage.AttemptState, error)
	attemptStates func(ctx context.Context, now time.Time, keys ...string) ([]storage.AttemptState, error)
	resetAttempts func(ctx context.Context, key string) error
}

func (f *fakeAttempts) FailAttempt(ctx context.Context, key string, limit storage.AttemptLimit, now time.Time) (storage.AttemptState, error) {
	return f.failAttempt(ctx, key, limit, now)
}

func (f *fakeAttempts) AttemptStates(ctx context.Context, now time.Time, keys ...string) ([]storage.AttemptState, error) {
	return f.attemptStates(ctx, now, keys...)
}

func (f *fakeAttempts) ResetAttempts(ctx context.Context, key string) error {
	return f.resetAttempts(ctx, key)
}

var _ storage.Attempts = (*fakeAttempts)(nil)

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

// TestBlockFor pins the back-off of storage.AttemptLimit the limiter
// relies on.
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

func TestLimiterKeys(t *testing.T) {
	on := storage.AttemptLimit{Failures: 1, Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Second}
	l := New(&fakeAttempts{}, keyedHash(0), Limits{AccountAddress: on, Account: on, Address: on}, Options{})
	keys := l.keys(KindPassword, "Alice@Example.com", "192.0.2.7")
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
	if same := l.keys(KindPassword, "alice@example.COM", "192.0.2.7"); same[0] != keys[0] || same[1] != keys[1] {
		t.Errorf("spellings of one login get different counters: %v vs %v", same, keys)
	}
	if other := l.keys(KindClientSecret, "Alice@Example.com", "192.0.2.7"); other[0].key == keys[0].key || other[2].key == keys[2].key {
		t.Errorf("client secrets share the password counters: %v", other)
	}
	if other := l.keys(KindClientSecret, "alice@example.com", "192.0.2.7"); other[1].key == l.keys(KindClientSecret, "Alice@Example.com", "192.0.2.7")[1].key {
		t.Errorf("client IDs are compared case-insensitively: %v", other)
	}
	if got := l.keys(KindPassword, "alice", ""); len(got) != 1 || got[0].limit != limitAccount {
		t.Errorf("without an address only the account counter applies: %v", got)
	}
	l.cred[limitAccount].Failures = 0
	if got := l.keys(KindPassword, "alice", "192.0.2.7"); len(got) != 2 || got[0].limit != limitAccountAddress || got[1].limit != limitAddress {
		t.Errorf("a limit with 0 failures is off: %v", got)
	}
	if New(nil, keyedHash(0), Limits{AccountAddress: on}, Options{}) != nil {
		t.Error("a limiter without a store is not nil")
	}
}

// The keys are what the store holds across releases: a change would forget
// every count on upgrade. They match the provider's former throttle.
func TestLimiterKeysAreStable(t *testing.T) {
	on := storage.AttemptLimit{Failures: 1}
	l := New(&fakeAttempts{}, keyedHash(0), Limits{AccountAddress: on, Account: on, Address: on, Mail: on, MailAddress: on}, Options{})
	h := keyedHash(0).Hash
	for _, tc := range []struct {
		kind        Kind
		account, ip string
		want        []string
	}{
		{KindPassword, "Alice", "2001:db8::1", []string{
			"pw:aa:" + h("rate-limit pw alice") + ":2001:db8::/64", "pw:a:" + h("rate-limit pw alice"), "pw:ip:2001:db8::/64"}},
		{KindClientSecret, "Svc", "192.0.2.7", []string{
			"cs:aa:" + h("rate-limit cs Svc") + ":192.0.2.7", "cs:a:" + h("rate-limit cs Svc"), "cs:ip:192.0.2.7"}},
		{KindMail, "Bob@Example.com", "192.0.2.7", []string{
			"mail:a:" + h("rate-limit mail bob@example.com"), "mail:ip:192.0.2.7"}},
	} {
		var got []string
		for _, k := range l.keys(tc.kind, tc.account, tc.ip) {
			got = append(got, k.key)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("keys(%s, %q, %q) = %q, want %q", tc.kind, tc.account, tc.ip, got, tc.want)
		}
	}
}

// countingObserver records RateLimited calls.
type countingObserver struct {
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

func wantRateLimited(t *testing.T, err error, retry int, limit string) {
	t.Helper()
	var e *LimitedError
	if !errors.As(err, &e) || e.RetryAfter != retry || e.Limit != limit {
		t.Fatalf("err = %#v, want a block by %s with Retry-After %d", err, limit, retry)
	}
	if errors.Is(err, ErrUnavailable) {
		t.Fatalf("a block %v reads as an unavailable store", err)
	}
}

func wantUnavailable(t *testing.T, name string, err error) {
	t.Helper()
	var e *LimitedError
	if !errors.Is(err, ErrUnavailable) || errors.As(err, &e) {
		t.Errorf("%s with the store down: %v, want ErrUnavailable", name, err)
	}
}

// TestLimiter runs the limiter against a real (SQLite) counter store with
// a fake clock.
func TestLimiter(t *testing.T) {
	store, closeStore := openAttemptStore(t)
	now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	obs := &countingObserver{limited: map[string]int{}}
	l := New(store, keyedHash(0), Limits{
		AccountAddress: storage.AttemptLimit{Failures: 2, Window: time.Minute, Backoff: time.Second, MaxBackoff: 4 * time.Second},
		Account:        storage.AttemptLimit{Failures: 6, Window: time.Minute, Backoff: 10 * time.Second, MaxBackoff: time.Minute},
		Address:        storage.AttemptLimit{Failures: 20, Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Minute},
	}, Options{Observer: obs, Now: clock})
	ctx := context.Background()
	const home, away = "192.0.2.1", "198.51.100.9"

	failOnce := func(ip, login string) {
		t.Helper()
		a, err := l.Begin(ctx, KindPassword, login, ip)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		if err := a.Failed(ctx); err != nil {
			t.Fatalf("failed: %v", err)
		}
	}
	statesOf := func(login, ip string) []storage.AttemptState {
		t.Helper()
		keys := l.keys(KindPassword, login, ip)
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.key
		}
		states, err := store.AttemptStates(t.Context(), now, names...)
		if err != nil {
			t.Fatal(err)
		}
		return states
	}

	failOnce(home, "alice")
	failOnce(home, "ALICE") // the same account
	before := statesOf("alice", home)
	a, err := l.Begin(ctx, KindPassword, "alice", home)
	wantRateLimited(t, err, 1, LimitAccountAddress)
	if got := obs.count("account_address"); got != 1 {
		t.Errorf("rate_limited{limit=account_address} = %d, want 1", got)
	}
	// A refused request is not counted.
	if a != nil {
		t.Fatalf("a refused check has an attempt: %+v", a)
	}
	if err := a.Failed(ctx); err != nil {
		t.Fatal(err)
	}
	if after := statesOf("alice", home); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused check was counted: %+v, then %+v", before, after)
	}
	// Another address may still try the account, and this address another account.
	if _, err := l.Begin(ctx, KindPassword, "alice", away); err != nil {
		t.Fatalf("another address: %v", err)
	}
	if _, err := l.Begin(ctx, KindPassword, "bob", home); err != nil {
		t.Fatalf("another account: %v", err)
	}
	// And the same address another kind of credential under the same name.
	if _, err := l.Begin(ctx, KindClientSecret, "alice", home); err != nil {
		t.Fatalf("another kind: %v", err)
	}

	// The back-off doubles with each failure after a block, up to the cap.
	for _, want := range []int{2, 4, 4} {
		now = now.Add(5 * time.Second)
		failOnce(home, "alice")
		_, err = l.Begin(ctx, KindPassword, "alice", home)
		wantRateLimited(t, err, want, LimitAccountAddress)
	}

	// 6 failures on the account from anywhere block it everywhere, for the
	// account limit's back-off.
	now = now.Add(5 * time.Second)
	failOnce(away, "alice") // the sixth failure on the account
	_, err = l.Begin(ctx, KindPassword, "alice", "203.0.113.5")
	wantRateLimited(t, err, 10, LimitAccount)
	if got := obs.count("account"); got != 1 {
		t.Errorf("rate_limited{limit=account} = %d, want 1", got)
	}

	// A success resets only the account-and-address counter.
	now = now.Add(time.Minute + 5*time.Second)
	failOnce(home, "carol")
	a, err = l.Begin(ctx, KindPassword, "carol", home)
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded(ctx)
	if states := statesOf("carol", home); states[0].Failures != 0 || states[1].Failures != 1 || states[2].Failures == 0 {
		t.Errorf("after a success: %+v; want the account+address counter reset, the others kept", states)
	}

	// A store that is down fails closed with ErrUnavailable, never a pass.
	_, err = l.Begin(ctx, KindPassword, "dave", home)
	if err != nil {
		t.Fatal(err)
	}
	a, _ = l.Begin(ctx, KindPassword, "dave", home)
	closeStore()
	// (erin's counters were never read, so no cached state stands in.)
	_, err = l.Begin(ctx, KindPassword, "erin", home)
	wantUnavailable(t, "Begin", err)
	wantUnavailable(t, "Failed", a.Failed(ctx))

	// Off: no store, no calls, no errors.
	var off *Limiter
	na, err := off.Begin(ctx, KindPassword, "alice", home)
	if na != nil || err != nil {
		t.Fatalf("off: %v, %v", na, err)
	}
	if err := na.Failed(ctx); err != nil {
		t.Fatal(err)
	}
	na.Succeeded(ctx)
	if err := off.CountMail(ctx, "a@example.com", home); err != nil {
		t.Fatalf("off: CountMail: %v", err)
	}
}

// TestLimiterCache: a Limiter trusts the counter states it read for
// attemptCacheTTL; a block made by another instance (here: written straight
// to the shared store) is seen once that has passed, and a failure here
// learns the shared state at once.
func TestLimiterCache(t *testing.T) {
	store, _ := openAttemptStore(t)
	now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	limit := storage.AttemptLimit{Failures: 2, Window: time.Minute, Backoff: 30 * time.Second, MaxBackoff: time.Minute}
	limits := Limits{AccountAddress: limit, Account: limit, Address: limit}
	l := New(store, keyedHash(7), limits, Options{Now: clock})
	ctx := context.Background()
	keys := l.keys(KindClientSecret, "svc", "192.0.2.1")

	if _, err := l.Begin(ctx, KindClientSecret, "svc", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	// Another instance blocks the account.
	for range 3 {
		if _, err := store.FailAttempt(t.Context(), keys[1].key, limit, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Begin(ctx, KindClientSecret, "svc", "192.0.2.1"); err != nil {
		t.Fatalf("within the cache TTL the cached state stands: %v", err)
	}
	now = now.Add(attemptCacheTTL)
	_, err := l.Begin(ctx, KindClientSecret, "svc", "192.0.2.1")
	wantLimitedAny(t, err)

	// A fresh instance state, then a failure here: it reads the shared
	// counter back and refuses the next check without waiting for the TTL.
	l2 := New(store, keyedHash(7), limits, Options{Now: clock})
	a, err := l2.Begin(ctx, KindClientSecret, "svc2", "192.0.2.2")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := store.FailAttempt(t.Context(), l2.keys(KindClientSecret, "svc2", "192.0.2.2")[1].key, limit, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Failed(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = l2.Begin(ctx, KindClientSecret, "svc2", "192.0.2.2")
	wantLimitedAny(t, err)
}

func wantLimitedAny(t *testing.T, err error) {
	t.Helper()
	var e *LimitedError
	if !errors.As(err, &e) || e.RetryAfter <= 0 {
		t.Fatalf("err = %v, want a block with a Retry-After", err)
	}
}

// TestCountMail: every request counts, per recipient (however spelled) and
// per address, under the mail limits only.
func TestCountMail(t *testing.T) {
	store, _ := openAttemptStore(t)
	now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	obs := &countingObserver{limited: map[string]int{}}
	strict := storage.AttemptLimit{Failures: 1, Window: time.Hour, Backoff: time.Hour, MaxBackoff: time.Hour}
	l := New(store, keyedHash(3), Limits{
		// The credential limits do not apply to mail.
		AccountAddress: strict, Account: strict, Address: strict,
		Mail:        storage.AttemptLimit{Failures: 2, Window: time.Hour, Backoff: time.Minute, MaxBackoff: time.Hour},
		MailAddress: storage.AttemptLimit{Failures: 3, Window: time.Hour, Backoff: 2 * time.Minute, MaxBackoff: time.Hour},
	}, Options{Observer: obs, Now: func() time.Time { return now }})
	ctx := context.Background()

	if got := l.keys(KindMail, "a@example.com", "192.0.2.1"); len(got) != 2 || got[0].limit != limitAccount || got[1].limit != limitAddress {
		t.Errorf("mail has no account_address counter: %v", got)
	}
	for _, to := range []string{"a@example.com", "A@Example.COM"} {
		if err := l.CountMail(ctx, to, "192.0.2.1"); err != nil {
			t.Fatalf("CountMail(%q): %v", to, err)
		}
	}
	// The second request for one recipient blocks it, from every address.
	wantRateLimited(t, l.CountMail(ctx, "a@example.com", "198.51.100.9"), 60, LimitAccount)
	// The third request from one address blocks it, for every recipient.
	if err := l.CountMail(ctx, "b@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	wantRateLimited(t, l.CountMail(ctx, "c@example.com", "192.0.2.1"), 120, LimitAddress)
	if obs.count("account") != 1 || obs.count("address") != 1 {
		t.Errorf("rate_limited = %v", obs.limited)
	}
	// Mail never blocks a password check, nor the other way round.
	if _, err := l.Begin(ctx, KindPassword, "a@example.com", "192.0.2.1"); err != nil {
		t.Errorf("mail blocked a password check: %v", err)
	}
	// Begin(KindMail) is CountMail's check.
	if _, err := l.Begin(ctx, KindMail, "A@EXAMPLE.COM", "203.0.113.5"); err == nil {
		t.Error("Begin(KindMail) ignores the recipient's block")
	}
}

// TestUnavailableKeepsTheStoreError: whatever the store returns is kept in
// the chain behind ErrUnavailable (storage.ErrUnavailable included), and a
// successful check against clean counters costs no write.
func TestUnavailableKeepsTheStoreError(t *testing.T) {
	storeErr := fmt.Errorf("redisstore: read attempts: %w", storage.ErrUnavailable)
	var fails, resets int
	store := &fakeAttempts{
		attemptStates: func(_ context.Context, _ time.Time, keys ...string) ([]storage.AttemptState, error) {
			return make([]storage.AttemptState, len(keys)), nil
		},
		failAttempt: func(context.Context, string, storage.AttemptLimit, time.Time) (storage.AttemptState, error) {
			fails++
			return storage.AttemptState{}, storeErr
		},
		resetAttempts: func(context.Context, string) error { resets++; return nil },
	}
	on := storage.AttemptLimit{Failures: 3, Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Second}
	l := New(store, keyedHash(1), Limits{AccountAddress: on, Account: on, Address: on}, Options{})
	ctx := context.Background()

	a, err := l.Begin(ctx, KindPassword, "alice", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded(ctx)
	if resets != 0 {
		t.Errorf("a success on clean counters wrote %d resets", resets)
	}
	err = a.Failed(ctx)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, storeErr) {
		t.Errorf("Failed = %v, want ErrUnavailable with the store's error behind it", err)
	}
	if fails != 1 {
		t.Errorf("Failed went on after the store failed: %d writes", fails)
	}

	store.attemptStates = func(ctx context.Context, _ time.Time, _ ...string) ([]storage.AttemptState, error) {
		return nil, ctx.Err()
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = l.Begin(cancelled, KindPassword, "bob", "192.0.2.1")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Begin = %v, want ErrUnavailable with context.Canceled behind it", err)
	}
}
