package server_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// userLogin signs in through the user API (/auth/jwt/create/) from the
// given client address, sending the device cookie when it is not nil.
func (ts *testServer) userLogin(from, login, password string, device *http.Cookie) response {
	ts.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": login, "password": password})
	req := ts.newRequest(http.MethodPost, "/auth/jwt/create/", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", from)
	if device != nil {
		req.AddCookie(device)
	}
	return ts.do(req)
}

// deviceCookie is the latchkey_device cookie a response sets, nil if none.
func deviceCookie(res response) *http.Cookie {
	for _, line := range res.Header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil && c.Name == "latchkey_device" {
			return c
		}
	}
	return nil
}

// TestLockoutSprayDoesNotLockOutKnownDevices is the issue 12 lockout
// reproduction: an attacker sprays wrong passwords at one account from many
// addresses, alternating its username and e-mail address. The account is
// locked for new addresses after rate_limit.account.failures guesses in
// all (the two spellings share one counter), and the attacker gets 429 —
// but the owner still signs in on the browser that holds the device cookie
// (from a new address) and from the address they signed in from before.
func TestLockoutSprayDoesNotLockOutKnownDevices(t *testing.T) {
	eachAttemptsStore(t, func(t *testing.T, start func(func(*config.Config)) *testServer) {
		ts := start(func(c *config.Config) { c.RateLimit.Account.Failures = 10 })
		const home = "198.51.100.7"

		// The owner signed in before, at home, in a browser.
		res := ts.userLogin(home, adminUser, adminPass, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("owner's first login: %s", res)
		}
		dev := deviceCookie(res)
		if dev == nil {
			t.Fatalf("no latchkey_device cookie on a successful login: %v", res.Header.Values("Set-Cookie"))
		}
		if !dev.HttpOnly || dev.SameSite != http.SameSiteLaxMode || dev.Secure || dev.Path != "/" || dev.MaxAge <= 0 {
			t.Errorf("device cookie attributes: %+v", dev)
		}

		// The spray: one guess per address, alternating the two spellings,
		// so no account_address counter ever blocks. 10 guesses in all.
		for i := range 10 {
			login := adminUser
			if i%2 == 1 {
				login = adminEmail
			}
			wantBadLogin(t, ts.login("203.0.113."+strconv.Itoa(i+1), login, "guess-"+strconv.Itoa(i)))
		}
		// The account is locked for new addresses, under both spellings:
		// switching between them bought no extra guesses.
		for i, login := range []string{adminUser, adminEmail} {
			wantLimited(t, ts.login("203.0.113."+strconv.Itoa(50+i), login, "another-guess"))
			if res := ts.userLogin("203.0.113."+strconv.Itoa(60+i), login, "another-guess", nil); res.Status != http.StatusTooManyRequests {
				t.Errorf("attacker on the user API with %s: %s, want 429", login, res)
			}
		}
		// A device cookie whose lifetime was stretched is no better.
		parts := strings.Split(dev.Value, ".")
		if len(parts) != 4 {
			t.Fatalf("device cookie %q: want four dot-separated parts", dev.Value)
		}
		parts[2] += "0"
		forged := &http.Cookie{Name: "latchkey_device", Value: strings.Join(parts, ".")}
		if res := ts.userLogin("203.0.113.70", adminUser, adminPass, forged); res.Status != http.StatusTooManyRequests {
			t.Errorf("forged device cookie: %s, want 429", res)
		}

		// The owner's browser, now on another network, still signs in.
		if res := ts.userLogin("100.64.0.9", adminUser, adminPass, dev); res.Status != http.StatusOK {
			t.Errorf("owner with the device cookie: %s, want 200", res)
		}
		// And so does the owner from home, without a cookie (password grant).
		wantToken(t, ts.login(home, adminEmail, adminPass))
		// A new address without the cookie is refused, the owner's included.
		wantLimited(t, ts.login("100.64.0.10", adminUser, adminPass))
	})
}

// TestLockoutKnownDeviceKeepsItsOwnLimits: a known device passes only the
// account-wide block; guessing from it is stopped by its own limits.
func TestLockoutKnownDeviceKeepsItsOwnLimits(t *testing.T) {
	eachAttemptsStore(t, func(t *testing.T, start func(func(*config.Config)) *testServer) {
		ts := start(nil)
		const home = "198.51.100.8"
		wantToken(t, ts.login(home, adminUser, adminPass))
		// rate_limit.account_address: 5 failures, then 429, known address or not.
		for range 5 {
			wantBadLogin(t, ts.login(home, adminUser, "wrong"))
		}
		wantLimited(t, ts.login(home, adminUser, adminPass))
	})
}
