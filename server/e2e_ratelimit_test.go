package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/config"
)

// Brute-force protection end to end, through the real token endpoint. The
// policy under test (docs/rate-limits.md), with the defaults:
//
//   - account_address: 5 failures of one account from one address, then a
//     block of 1s, doubling with each further failure up to 15m;
//   - account: 50 failures of one account from anywhere, then 1s … 5m;
//   - address: 100 failures from one address on any account, then 1s … 15m;
//   - a blocked check is refused with 429 rate_limited and Retry-After
//     before any password is checked, and is not counted;
//   - a failure counts on all three; a success resets only account_address;
//   - counts are forgotten 15m after the later of the last failure and the
//     end of the block.
//
// Every test runs with the counters in SQLite (embedded mode) and, when
// LATCHKEY_TEST_REDIS_URL is set, in Redis.

// eachAttemptsStore runs fn with a server whose counters live in each
// store. mutate, if not nil, changes the configuration further.
func eachAttemptsStore(t *testing.T, fn func(t *testing.T, start func(mutate func(*config.Config)) *testServer)) {
	withProxy := func(mutate func(*config.Config)) func(*config.Config) {
		return func(c *config.Config) {
			// The test speaks from many addresses through a "proxy" on loopback.
			c.TrustedProxies = []string{"127.0.0.1"}
			if mutate != nil {
				mutate(c)
			}
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(mutate func(*config.Config)) *testServer { return startServer(t, withProxy(mutate)) })
	})
	t.Run("redis", func(t *testing.T) {
		redisURL := testRedisURL(t)
		prefix, _ := redisPrefix(t, redisURL)
		fn(t, func(mutate func(*config.Config)) *testServer {
			return startServer(t, withProxy(func(c *config.Config) {
				c.Storage.Redis.URL = redisURL
				c.Storage.Redis.Prefix = prefix
				if mutate != nil {
					mutate(c)
				}
			}))
		})
	})
}

// login runs the password grant as the demo client from the given client
// address.
func (ts *testServer) login(from, username, password string) response {
	ts.t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	req := ts.newRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", from)
	req.SetBasicAuth(demoClient, demoSecret)
	return ts.do(req)
}

// clientLogin runs client_credentials with the given secret from an address.
func (ts *testServer) clientLogin(from, id, secret string) response {
	ts.t.Helper()
	req := ts.newRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", from)
	req.SetBasicAuth(id, secret)
	return ts.do(req)
}

// wantLimited checks a 429 rate_limited answer and returns its Retry-After.
func wantLimited(t *testing.T, res response) int {
	t.Helper()
	wantOAuthError(t, res, http.StatusTooManyRequests, "rate_limited")
	wantNoStore(t, res)
	secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q, want whole seconds >= 1 (%s)", res.Header.Get("Retry-After"), res)
	}
	return secs
}

func wantBadLogin(t *testing.T, res response) {
	t.Helper()
	wantOAuthError(t, res, http.StatusBadRequest, "invalid_grant")
	if ra := res.Header.Get("Retry-After"); ra != "" {
		t.Errorf("a wrong password carries Retry-After %q", ra)
	}
}

func wantToken(t *testing.T, res response) {
	t.Helper()
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"access_token"`) {
		t.Fatalf("want a token, got %s", res)
	}
}

// TestBruteForceOneAccount is the acceptance test: 100 rapid wrong
// passwords for one account are throttled with 429; the right password from
// another address still works, because the per-account limit (50) is far
// from reached: refused attempts are not counted.
func TestBruteForceOneAccount(t *testing.T) {
	eachAttemptsStore(t, func(t *testing.T, start func(func(*config.Config)) *testServer) {
		ts := start(nil)
		const attacker, owner = "203.0.113.66", "198.51.100.7"
		const n, workers = 100, 8
		var (
			wg      sync.WaitGroup
			next    = make(chan int)
			answers = make([]response, n)
		)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					answers[i] = ts.login(attacker, adminUser, fmt.Sprintf("guess-%d", i))
				}
			}()
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		counts := map[int]int{}
		var retries []int
		for _, res := range answers {
			counts[res.Status]++
			if res.Status == http.StatusTooManyRequests {
				retries = append(retries, wantLimited(t, res))
			} else {
				wantBadLogin(t, res)
			}
		}
		// The clock stands still: after the 5th counted failure every
		// further attempt is refused; a few that were already past the
		// check when the 5th landed may still be checked (at most one per
		// worker).
		checked := counts[http.StatusBadRequest]
		if checked < 5 || checked > 5+workers || counts[http.StatusTooManyRequests] != n-checked {
			t.Fatalf("of %d rapid wrong passwords: %v; want 5 to %d checked and the rest 429", n, counts, 5+workers)
		}
		for _, r := range retries {
			if r > 15*60 {
				t.Fatalf("Retry-After %d beyond max_backoff", r)
			}
		}
		t.Logf("%d checked (400), %d refused (429)", checked, n-checked)

		// The owner, from another address, is not locked out.
		wantToken(t, ts.login(owner, adminUser, adminPass))
		// The attacker's address stays blocked even with the right password.
		wantLimited(t, ts.login(attacker, adminUser, adminPass))

		metrics := ts.get("/metrics", "")
		m := regexp.MustCompile(`latchkey_rate_limited_total\{limit="account_address"\} (\d+)`).FindSubmatch(metrics.Body)
		if m == nil {
			t.Fatalf("/metrics lacks latchkey_rate_limited_total{limit=\"account_address\"}")
		}
		if got, _ := strconv.Atoi(string(m[1])); got != n-checked+1 {
			t.Errorf("latchkey_rate_limited_total{limit=\"account_address\"} = %d, want %d", got, n-checked+1)
		}
	})
}

// TestRateLimitSameAnswerForUnknownAccounts checks that an existing and a
// made-up account get the same answers, step by step, from status and body
// to Retry-After.
func TestRateLimitSameAnswerForUnknownAccounts(t *testing.T) {
	eachAttemptsStore(t, func(t *testing.T, start func(func(*config.Config)) *testServer) {
		ts := start(nil)
		type answer struct {
			status     int
			body       string
			retryAfter string
		}
		run := func(from, username string) []answer {
			var out []answer
			for i := range 8 {
				res := ts.login(from, username, fmt.Sprintf("wrong-%d", i))
				out = append(out, answer{res.Status, string(res.Body), res.Header.Get("Retry-After")})
			}
			return out
		}
		known := run("192.0.2.10", adminUser)
		unknown := run("192.0.2.11", "no-such-user")
		if fmt.Sprint(known) != fmt.Sprint(unknown) {
			t.Fatalf("answers differ:\n known   %v\n unknown %v", known, unknown)
		}
		if known[4].status != http.StatusBadRequest || known[5].status != http.StatusTooManyRequests {
			t.Fatalf("want 5 wrong-password answers then 429s: %v", known)
		}
	})
}

// TestRateLimitBackoffGrows waits out each block and fails again: each
// block is twice the last, up to max_backoff.
func TestRateLimitBackoffGrows(t *testing.T) {
	eachAttemptsStore(t, func(t *testing.T, start func(func(*config.Config)) *testServer) {
		ts := start(func(c *config.Config) { c.RateLimit.AccountAddress.MaxBackoff = 8 * time.Second })
		const from = "192.0.2.20"
		for i := range 5 {
			wantBadLogin(t, ts.login(from, adminUser, "wrong"+strconv.Itoa(i)))
		}
		for _, want := range []int{1, 2, 4, 8, 8} {
			if got := wantLimited(t, ts.login(from, adminUser, "wrong")); got != want {
				t.Fatalf("Retry-After %d, want %d", got, want)
			}
			// Still blocked a moment before the end.
			ts.Clock.Advance(time.Duration(want)*time.Second - time.Millisecond)
			wantLimited(t, ts.login(from, adminUser, adminPass))
			ts.Clock.Advance(time.Millisecond)
			wantBadLogin(t, ts.login(from, adminUser, "wrong again"))
		}
	})
}

// TestRateLimitWindow checks that counts are forgotten a window after the
// last failure (or the end of the block), and that a success resets the
// account-and-address count.
func TestRateLimitWindow(t *testing.T) {
	eachAttemptsStore(t, func(t *testing.T, start func(func(*config.Config)) *testServer) {
		ts := start(nil)
		window := ts.cfg.RateLimit.AccountAddress.Window
		const from = "192.0.2.30"
		for range 4 {
			wantBadLogin(t, ts.login(from, adminUser, "wrong"))
		}
		// Four failures, a window of quiet: forgotten, so four more pass.
		ts.Clock.Advance(window)
		for range 4 {
			wantBadLogin(t, ts.login(from, adminUser, "wrong"))
		}
		// A fifth within the window blocks.
		ts.Clock.Advance(window - time.Second)
		wantBadLogin(t, ts.login(from, adminUser, "wrong"))
		wantLimited(t, ts.login(from, adminUser, "wrong"))
		// After the block and a window more, the count starts afresh: the
		// next failure is the first, not the sixth (which would block 2s).
		ts.Clock.Advance(time.Second + window)
		wantBadLogin(t, ts.login(from, adminUser, "wrong"))
		wantToken(t, ts.login(from, adminUser, adminPass))
		// The success reset the account-and-address count: four more pass.
		for range 4 {
			wantBadLogin(t, ts.login(from, adminUser, "wrong"))
		}
		wantToken(t, ts.login(from, adminUser, adminPass))
	})
}

// TestRateLimitAccountWide shows the documented limit of "the right
// password from another address": once the account limit is reached by
// failures from several addresses, the account is blocked from everywhere
// until its back-off ends.
func TestRateLimitAccountWide(t *testing.T) {
	eachAttemptsStore(t, func(t *testing.T, start func(func(*config.Config)) *testServer) {
		ts := start(func(c *config.Config) { c.RateLimit.Account.Failures = 10 })
		for _, from := range []string{"192.0.2.41", "192.0.2.42"} {
			for range 5 {
				wantBadLogin(t, ts.login(from, adminUser, "wrong"))
			}
			// The owner signing in between does not reset the account count.
			if from == "192.0.2.41" {
				wantToken(t, ts.login("192.0.2.44", adminUser, adminPass))
			}
		}
		got := wantLimited(t, ts.login("192.0.2.43", adminUser, adminPass))
		if got != 1 {
			t.Errorf("Retry-After %d, want the account limit's first back-off, 1", got)
		}
		// Other accounts are not affected.
		ts.createUser("bob", "bob-pass-123", false)
		wantToken(t, ts.login("192.0.2.43", "bob", "bob-pass-123"))
		// Once the block ends the owner gets in from a fresh address.
		ts.Clock.Advance(time.Second)
		wantToken(t, ts.login("192.0.2.43", adminUser, adminPass))
	})
}

// TestRateLimitAddress covers credential stuffing: one address trying many
// accounts is blocked after rate_limit.address.failures.
func TestRateLimitAddress(t *testing.T) {
	eachAttemptsStore(t, func(t *testing.T, start func(func(*config.Config)) *testServer) {
		ts := start(func(c *config.Config) { c.RateLimit.Address.Failures = 6 })
		const from = "2001:db8:7:7::1"
		for i := range 6 {
			wantBadLogin(t, ts.login(from, "user"+strconv.Itoa(i), "wrong"))
		}
		// Blocked for every account, from the whole /64.
		wantLimited(t, ts.login("2001:db8:7:7:ffff::2", adminUser, adminPass))
		wantToken(t, ts.login("2001:db8:7:8::1", adminUser, adminPass))
	})
}

// TestRateLimitClientSecrets: wrong client secrets are limited the same
// way, an unknown client looks like a known one, and the right secret from
// another address works.
func TestRateLimitClientSecrets(t *testing.T) {
	eachAttemptsStore(t, func(t *testing.T, start func(func(*config.Config)) *testServer) {
		ts := start(nil)
		var known, unknown []string
		for i := range 7 {
			res := ts.clientLogin("192.0.2.50", demoClient, "wrong-"+strconv.Itoa(i))
			known = append(known, fmt.Sprint(res.Status, string(res.Body), res.Header.Get("Retry-After")))
			res = ts.clientLogin("192.0.2.51", "no-such-client", "wrong-"+strconv.Itoa(i))
			unknown = append(unknown, fmt.Sprint(res.Status, string(res.Body), res.Header.Get("Retry-After")))
		}
		if fmt.Sprint(known) != fmt.Sprint(unknown) {
			t.Fatalf("answers differ:\n known   %v\n unknown %v", known, unknown)
		}
		if !strings.HasPrefix(known[4], "401") || !strings.HasPrefix(known[5], "429") {
			t.Fatalf("want 5 invalid_client then 429: %v", known)
		}
		wantLimited(t, ts.clientLogin("192.0.2.50", demoClient, demoSecret))
		res := ts.clientLogin("192.0.2.52", demoClient, demoSecret)
		if res.Status != http.StatusOK {
			t.Fatalf("the right secret from another address: %s", res)
		}
		// A user's wrong passwords do not block the client at that address.
		for range 6 {
			ts.login("192.0.2.53", adminUser, "wrong")
		}
		wantLimited(t, ts.login("192.0.2.53", adminUser, adminPass))
		if res := ts.clientLogin("192.0.2.53", demoClient, demoSecret); res.Status != http.StatusOK {
			t.Fatalf("client_credentials where a user is blocked: %s", res)
		}
	})
}

// TestRateLimitOff: with rate_limit.enabled false nothing is limited.
func TestRateLimitOff(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.RateLimit.Enabled = false
	})
	for range 30 {
		wantBadLogin(t, ts.login("192.0.2.60", adminUser, "wrong"))
	}
	wantToken(t, ts.login("192.0.2.60", adminUser, adminPass))
	// Off means no counter is read or written at all.
	var rows int
	if err := ts.sqlDB().NewRaw("SELECT count(*) FROM login_attempts").Scan(t.Context(), &rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d counters written with rate limiting off", rows)
	}
}

// TestRateLimitCountersInRedis checks where the counters go when Redis is
// configured: into Redis, whether the tokens are there too (the shared
// client) or stay in SQL (storage.tokens: sql, a client of their own), and
// not into the database.
func TestRateLimitCountersInRedis(t *testing.T) {
	redisURL := testRedisURL(t)
	for _, tokens := range []string{"auto", "sql"} {
		t.Run("tokens="+tokens, func(t *testing.T) {
			prefix, c := redisPrefix(t, redisURL)
			ts := startServer(t, func(c *config.Config) {
				c.TrustedProxies = []string{"127.0.0.1"}
				c.Storage.Redis.URL = redisURL
				c.Storage.Redis.Prefix = prefix
				c.Storage.Tokens = tokens
			})
			wantBadLogin(t, ts.login("192.0.2.70", adminUser, "wrong"))
			keys, err := c.Keys(t.Context(), prefix+"att:*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 3 {
				t.Fatalf("counters in redis: %v, want 3 (account_address, account, address)", keys)
			}
			for _, k := range keys {
				if strings.Contains(strings.ToLower(k), adminUser) {
					t.Errorf("counter key %q holds the login in the clear", k)
				}
			}
			var rows int
			if err := ts.sqlDB().NewRaw("SELECT count(*) FROM login_attempts").Scan(t.Context(), &rows); err != nil {
				t.Fatal(err)
			}
			if rows != 0 {
				t.Errorf("%d counters in the database as well", rows)
			}
		})
	}
}

// TestRateLimitStoreOutage cuts the connection to the Redis that holds the
// counters (tokens stay in SQL, so only the limits depend on it): once the
// instance's cached states are stale, every credential check fails closed
// with a quick 503 temporarily_unavailable, never a 500 and never an
// unchecked login, and works again once Redis is back.
func TestRateLimitStoreOutage(t *testing.T) {
	redisURL := testRedisURL(t)
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	prefix, _ := redisPrefix(t, redisURL)
	ts := startServer(t, func(c *config.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.Storage.Redis.URL = u.String()
		c.Storage.Redis.Prefix = prefix
		c.Storage.Tokens = "sql"
	})
	wantToken(t, ts.login("192.0.2.80", adminUser, adminPass))

	proxy.cut()
	// An instance trusts the counter states it read for a second (the
	// provider's attempt cache); past that it must ask the store.
	ts.Clock.Advance(time.Second)
	start := time.Now()
	for _, res := range []response{
		ts.login("192.0.2.80", adminUser, adminPass),
		ts.login("192.0.2.80", adminUser, "wrong"),
		ts.clientLogin("192.0.2.80", demoClient, demoSecret),
	} {
		wantOAuthError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After: %s", res)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("answering during the outage took %v", d)
	}

	proxy.restore()
	var res response
	if !eventually(10*time.Second, func() bool {
		res = ts.login("192.0.2.80", adminUser, adminPass)
		return res.Status == http.StatusOK
	}) {
		t.Fatalf("no recovery after Redis came back: %s", res)
	}
	if strings.Contains(ts.Logs.String(), "panic") {
		t.Error("the server panicked during the outage")
	}
}
