package throttle

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// mapResolver resolves the logins it lists (a username and an e-mail
// address of one account map to one key).
type mapResolver map[string]string

func (m mapResolver) ResolveLogin(_ context.Context, login string) (string, bool, error) {
	k, ok := m[login]
	return k, ok, nil
}

type errResolver struct{}

func (errResolver) ResolveLogin(context.Context, string) (string, bool, error) {
	return "", false, errors.New("users table gone")
}

// loginLimiter is a Limiter on a real (SQLite) store with a fake clock:
// account_address 3, account 4 failures.
func loginLimiter(t *testing.T, opts Options) (*Limiter, *time.Time) {
	t.Helper()
	store, _ := openAttemptStore(t)
	now := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	opts.Now = func() time.Time { return now }
	l := New(store, keyedHash(0), Limits{
		AccountAddress: storage.AttemptLimit{Failures: 3, Window: time.Minute, Backoff: time.Second, MaxBackoff: 4 * time.Second},
		Account:        storage.AttemptLimit{Failures: 4, Window: time.Minute, Backoff: 10 * time.Second, MaxBackoff: time.Minute},
		Address:        storage.AttemptLimit{Failures: 100, Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Minute},
	}, opts)
	return l, &now
}

func loginFail(t *testing.T, l *Limiter, login, ip, device string) {
	t.Helper()
	a, err := l.BeginLogin(t.Context(), login, ip, device)
	if err != nil {
		t.Fatalf("begin %s from %s: %v", login, ip, err)
	}
	if err := a.Failed(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestBeginLoginResolvesAccount: a username and an e-mail address of one
// account share the account counter, and unknown logins are counted under
// their NFKC, lower-cased spelling.
func TestBeginLoginResolvesAccount(t *testing.T) {
	l, _ := loginLimiter(t, Options{Resolver: mapResolver{"alice": "7", "alice@example.com": "7"}})
	// Two failures under each spelling, each from a fresh address: four on
	// one account.
	loginFail(t, l, "alice", "192.0.2.1", "")
	loginFail(t, l, "alice@example.com", "192.0.2.2", "")
	loginFail(t, l, "alice", "192.0.2.3", "")
	loginFail(t, l, "alice@example.com", "192.0.2.4", "")
	for _, login := range []string{"alice", "alice@example.com"} {
		_, err := l.BeginLogin(t.Context(), login, "192.0.2.5", "")
		wantRateLimited(t, err, 10, LimitAccount)
	}

	// An unknown login: fullwidth and upper case are the same counter.
	for i, login := range []string{"ｚｅｄ", "ZED", "zed", "Ｚed"} {
		loginFail(t, l, login, "198.51.100."+string(rune('1'+i)), "")
	}
	_, err := l.BeginLogin(t.Context(), "zed", "198.51.100.9", "")
	wantRateLimited(t, err, 10, LimitAccount)

	// A resolver that cannot answer fails closed.
	l2, _ := loginLimiter(t, Options{Resolver: errResolver{}})
	_, err = l2.BeginLogin(t.Context(), "alice", "192.0.2.1", "")
	wantUnavailable(t, "resolve", err)
}

// TestKnownDevicePassesAccountBlock: a device token of the account, and an
// address that signed the account in, pass the account counter's block;
// new addresses, other accounts' tokens, forged or expired tokens do not;
// the device's own counter still applies.
func TestKnownDevicePassesAccountBlock(t *testing.T) {
	l, now := loginLimiter(t, Options{
		Resolver:        mapResolver{"alice": "7", "alice@example.com": "7", "bob": "8"},
		KnownAddressTTL: time.Hour, DeviceTTL: 2 * time.Hour,
	})
	const home, phone, attacker = "192.0.2.10", "192.0.2.20", "203.0.113.1"

	// The owner signs in at home (a known address), and on a phone whose
	// token is then used from another network.
	a, err := l.BeginLogin(t.Context(), "alice", home, "")
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded(t.Context())
	a, err = l.BeginLogin(t.Context(), "alice@example.com", phone, "")
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded(t.Context())
	token, exp := a.DeviceToken()
	if token == "" || !exp.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("device token %q expiring %v", token, exp)
	}
	b, err := l.BeginLogin(t.Context(), "bob", phone, "")
	if err != nil {
		t.Fatal(err)
	}
	bobToken, _ := b.DeviceToken()

	// A distributed guesser blocks the account.
	for i := range 4 {
		loginFail(t, l, "alice", "203.0.113."+string(rune('1'+i)), "")
	}
	_, err = l.BeginLogin(t.Context(), "alice", attacker, "")
	wantRateLimited(t, err, 10, LimitAccount)

	// The known address and the device token pass.
	if _, err := l.BeginLogin(t.Context(), "alice", home, ""); err != nil {
		t.Errorf("known address: %v", err)
	}
	if _, err := l.BeginLogin(t.Context(), "alice", "100.64.0.1", token); err != nil {
		t.Errorf("device token from a new address: %v", err)
	}
	// Nothing else does.
	parts := strings.Split(token, ".")
	parts[2] += "0" // a stretched lifetime
	forged := strings.Join(parts, ".")
	for name, tok := range map[string]string{"no token": "", "bob's token": bobToken, "forged": forged, "junk": "d1.x.y.z"} {
		t.Run(name, func(t *testing.T) {
			_, err := l.BeginLogin(t.Context(), "alice", attacker, tok)
			wantRateLimited(t, err, 10, LimitAccount)
		})
	}

	// The device's own counter: account_address's 3 failures block it.
	for range 3 {
		loginFail(t, l, "alice", "100.64.0.2", token)
	}
	_, err = l.BeginLogin(t.Context(), "alice", "100.64.0.3", token)
	wantRateLimited(t, err, 1, LimitAccountAddress)

	// Past their lifetimes neither passes (the account is blocked again).
	*now = now.Add(2*time.Hour + time.Second)
	for i := range 4 {
		loginFail(t, l, "alice", "203.0.113."+string(rune('5'+i)), "")
	}
	if _, err := l.BeginLogin(t.Context(), "alice", home, ""); err == nil {
		t.Error("an address known more than known_device_ttl ago passes")
	}
	if _, err := l.BeginLogin(t.Context(), "alice", "100.64.0.9", token); err == nil {
		t.Error("an expired device token passes")
	}
}

// TestKnownAddressOff: with KnownAddressTTL 0 and DeviceTTL 0 nothing is
// known and no token is issued.
func TestKnownAddressOff(t *testing.T) {
	l, _ := loginLimiter(t, Options{Resolver: mapResolver{"alice": "7"}})
	a, err := l.BeginLogin(t.Context(), "alice", "192.0.2.10", "")
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded(t.Context())
	if tok, _ := a.DeviceToken(); tok != "" {
		t.Errorf("device token %q with DeviceTTL 0", tok)
	}
	for i := range 4 {
		loginFail(t, l, "alice", "203.0.113."+string(rune('1'+i)), "")
	}
	_, err = l.BeginLogin(t.Context(), "alice", "192.0.2.10", "")
	wantRateLimited(t, err, 10, LimitAccount)
}
