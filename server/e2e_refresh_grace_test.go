package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/config"
)

// refreshRace fires n refresh_token requests with one token at once as the
// demo client, spread over bases, on connections opened beforehand so that
// the requests arrive together, and returns the answers.
func refreshRace(t *testing.T, bases []string, refresh string, n int) []refreshAnswer {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: time.Minute}
	t.Cleanup(client.CloseIdleConnections)
	// Open the connections: n requests at once need n connections.
	var warm sync.WaitGroup
	for i := range n {
		warm.Go(func() {
			res, err := client.Get(bases[i%len(bases)] + "/healthz")
			if err != nil {
				t.Errorf("warm up: %v", err)
				return
			}
			res.Body.Close()
		})
	}
	warm.Wait()
	return fireRefreshes(t, client, bases, refresh, n)
}

// oneWinner checks that exactly one answer is a 200 and every other one
// invalid_grant, and returns the winner.
func oneWinner(t *testing.T, answers []refreshAnswer) refreshAnswer {
	t.Helper()
	var winners []refreshAnswer
	for i, a := range answers {
		switch {
		case a.status == http.StatusOK:
			winners = append(winners, a)
		case a.status != http.StatusBadRequest || a.code != "invalid_grant":
			t.Errorf("request %d: %d %q, want 200 or 400 invalid_grant", i, a.status, a.code)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1", len(winners), len(answers))
	}
	return winners[0]
}

// allWin checks that every answer is a 200 with one and the same refresh
// token, and returns that token.
func allWin(t *testing.T, answers []refreshAnswer) string {
	t.Helper()
	refresh := ""
	for i, a := range answers {
		if a.status != http.StatusOK {
			t.Fatalf("request %d within the grace: %d %q, want 200", i, a.status, a.code)
		}
		if refresh == "" {
			refresh = a.refresh
		}
		if a.refresh != refresh {
			t.Fatalf("request %d got another refresh token than request 0: want one successor", i)
		}
	}
	return refresh
}

// instance is what a race test needs of a server: one of the in-process
// test server or a `latchkey serve` process.
type instance interface {
	introspectActive(token string) (bool, map[string]any)
	refreshOn(refresh string) error
}

func (ts *testServer) refreshOn(refresh string) error {
	_, err := ts.refresh(refresh)
	return err
}

// wantSessionAlive checks that the winner's access token is active and its
// refresh token works: the race did not end the session.
func wantSessionAlive(t *testing.T, on instance, access, refresh string) {
	t.Helper()
	if active, _ := on.introspectActive(access); !active {
		t.Fatal("the winner's access token is inactive after the race: the family was revoked")
	}
	if err := on.refreshOn(refresh); err != nil {
		t.Fatalf("the winner's refresh token fails after the race: %v", err)
	}
}

// tokenStores are the refresh-token stores of one instance.
func tokenStores(t *testing.T) map[string]func(*config.Config) {
	t.Helper()
	redisURL := testRedisURL(t)
	return map[string]func(*config.Config){
		"sqlite": func(c *config.Config) { c.RateLimit.Enabled = false },
		"postgres": func(c *config.Config) {
			dsn, _ := postgresDSN(t)
			c.Storage.Driver, c.Storage.Postgres.DSN, c.Storage.Tokens = "postgres", dsn, "sql"
			c.RateLimit.Enabled = false
		},
		"redis": func(c *config.Config) {
			prefix, _ := redisPrefix(t, redisURL)
			c.Storage.Redis.URL, c.Storage.Redis.Prefix, c.Storage.Tokens = redisURL, prefix, "redis"
			c.RateLimit.Enabled = false
		},
	}
}

// The review's reproduction, with the default grace 0s: two refreshes with
// one token at once. The loser was in flight when the winner's rotation
// committed, so it gets invalid_grant and the family stays alive: the
// winner's access token is active and its refresh token works. Before the
// fix the loser revoked the family.
func TestRefreshRaceOfTwoKeepsTheWinnersSession(t *testing.T) {
	for name, mutate := range tokenStores(t) {
		t.Run(name, func(t *testing.T) {
			ts := startServerWith(t, "127.0.0.1:0", t.TempDir(), newLiveClock(), mutate, nil)
			tok := ts.passwordToken(adminUser, adminPass, "openid")
			w := oneWinner(t, refreshRace(t, []string{ts.URL}, tok.RefreshToken, 2))
			wantSessionAlive(t, ts, w.access, w.refresh)
		})
	}
}

// Fifty at once with grace 0s: exactly one wins, every other one is
// invalid_grant, none a 5xx.
func TestRefreshRaceOfFiftyHasOneWinner(t *testing.T) {
	for name, mutate := range tokenStores(t) {
		t.Run(name, func(t *testing.T) {
			ts := startServerWith(t, "127.0.0.1:0", t.TempDir(), newLiveClock(), mutate, nil)
			tok := ts.passwordToken(adminUser, adminPass, "openid")
			oneWinner(t, refreshRace(t, []string{ts.URL}, tok.RefreshToken, 50))
		})
	}
}

// With a reuse grace (the setting for single-page apps) 2 and 50
// refreshes at once all succeed with the same successor; every access
// token is active and the successor works. After the grace the previous
// token is reuse again and revokes the family.
func TestRefreshRaceWithinTheGraceGivesEveryoneTheSameSuccessor(t *testing.T) {
	for name, mutate := range tokenStores(t) {
		for _, n := range []int{2, 50} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				clock := newLiveClock()
				ts := startServerWith(t, "127.0.0.1:0", t.TempDir(), clock, func(c *config.Config) {
					mutate(c)
					c.Tokens.RefreshReuseGrace = 30 * time.Second
				}, nil)
				tok := ts.passwordToken(adminUser, adminPass, "openid")
				answers := refreshRace(t, []string{ts.URL}, tok.RefreshToken, n)
				next := allWin(t, answers)
				for i, a := range answers {
					if active, _ := ts.introspectActive(a.access); !active {
						t.Fatalf("access token %d is inactive", i)
					}
				}
				clock.Advance(31 * time.Second)
				if _, err := ts.refresh(tok.RefreshToken); err == nil {
					t.Fatal("the previous refresh token works after the grace")
				}
				if active, _ := ts.introspectActive(answers[0].access); active {
					t.Fatal("a replay after the grace did not revoke the family")
				}
				if _, err := ts.refresh(next); err == nil {
					t.Fatal("the successor works after a replay past the grace")
				}
			})
		}
	}
}

// A retry after a lost response: the same client presents the previous
// token again within the grace and gets the same successor and a fresh
// access token; the session lives on. A token two generations back is
// reuse. A client's refresh_reuse_grace overrides the server's: 0 makes a
// repeat reuse for it.
func TestRefreshRetryWithinTheGraceAndPerClientOverride(t *testing.T) {
	clock := newLiveClock()
	ts := startServerWith(t, "127.0.0.1:0", t.TempDir(), clock, func(c *config.Config) {
		c.Tokens.RefreshReuseGrace = 10 * time.Second
	}, nil)
	tok := ts.passwordToken(adminUser, adminPass, "openid")
	first, err := ts.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	again, err := ts.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("a retry within the grace: %v", err)
	}
	if again.RefreshToken != first.RefreshToken {
		t.Fatal("a retry within the grace got another refresh token")
	}
	if again.AccessToken == first.AccessToken {
		t.Fatal("a retry within the grace got the same access token, want a fresh one")
	}
	second, err := ts.refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("the successor after a retry: %v", err)
	}
	// Two generations back, within the grace of the last rotation.
	if _, err := ts.refresh(tok.RefreshToken); err == nil {
		t.Fatal("a token two generations back works")
	}
	if active, _ := ts.introspectActive(second.AccessToken); active {
		t.Fatal("a token two generations back did not revoke the family")
	}

	// The override: the server allows 10s, this client none.
	adminTok := ts.adminToken()
	res := ts.adminJSON(http.MethodPost, "/admin/clients/", adminTok, map[string]any{
		"client_id": "strict-app", "client_name": "Strict", "grant_types": []string{"password", "refresh_token"},
		"scope": "openid offline_access", "token_endpoint_auth_method": "client_secret_basic",
		"refresh_reuse_grace": 0,
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %s", res)
	}
	created := res.json(t)
	if g, ok := created["refresh_reuse_grace"].(float64); !ok || g != 0 {
		t.Fatalf("refresh_reuse_grace in the answer: %v, want 0", created["refresh_reuse_grace"])
	}
	secret, _ := created["client_secret"].(string)
	login := ts.postForm("/oauth2/token", url.Values{
		"grant_type": {"password"}, "username": {adminUser}, "password": {adminPass}, "scope": {"openid"},
	}, "strict-app", secret)
	if login.Status != http.StatusOK {
		t.Fatalf("password grant: %s", login)
	}
	rt, _ := login.json(t)["refresh_token"].(string)
	refresh := func() response {
		return ts.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "strict-app", secret)
	}
	rotated := refresh()
	if rotated.Status != http.StatusOK {
		t.Fatalf("refresh: %s", rotated)
	}
	clock.Advance(time.Second)
	wantOAuthError(t, refresh(), http.StatusBadRequest, "invalid_grant")
	access, _ := rotated.json(t)["access_token"].(string)
	if active, _ := ts.introspectActive(access); active {
		t.Fatal("with refresh_reuse_grace 0 a repeat did not revoke the family")
	}

	bad := ts.adminJSON(http.MethodPost, "/admin/clients/", adminTok, map[string]any{
		"client_id": "greedy-app", "client_name": "Greedy", "grant_types": []string{"refresh_token", "password"},
		"token_endpoint_auth_method": "client_secret_basic", "refresh_reuse_grace": 3600,
	})
	if bad.Status != http.StatusBadRequest || !strings.Contains(string(bad.Body), "refresh_reuse_grace") {
		t.Fatalf("a grace of an hour: %s, want 400 naming refresh_reuse_grace", bad)
	}
}

// Two instances on one Postgres and one Redis, tokens in either: the race
// of two spread over both instances keeps the winner's session (grace 0s),
// fifty have one winner, and within a grace fifty all get the same
// successor.
func TestClusterRefreshRaces(t *testing.T) {
	for _, tokens := range []string{"redis", "sql"} {
		t.Run(tokens, func(t *testing.T) {
			c := startClusterWith(t, map[string]string{"LATCHKEY_STORAGE__TOKENS": tokens})
			bases := []string{c.a.URL, c.b.URL}
			tok := c.a.passwordToken(adminUser, adminPass, "openid")
			w := oneWinner(t, refreshRace(t, bases, tok.RefreshToken, 2))
			wantSessionAlive(t, c.b, w.access, w.refresh)
			tok = c.a.passwordToken(adminUser, adminPass, "openid")
			oneWinner(t, refreshRace(t, bases, tok.RefreshToken, 50))

			g := startClusterWith(t, map[string]string{
				"LATCHKEY_STORAGE__TOKENS": tokens, "LATCHKEY_TOKENS__REFRESH_REUSE_GRACE": "30s",
			})
			bases = []string{g.a.URL, g.b.URL}
			for _, n := range []int{2, 50} {
				tok := g.a.passwordToken(adminUser, adminPass, "openid")
				answers := refreshRace(t, bases, tok.RefreshToken, n)
				next := allWin(t, answers)
				if active, _ := g.b.introspectActive(answers[0].access); !active {
					t.Fatalf("%d within the grace: an access token is inactive", n)
				}
				if err := g.a.refreshOn(next); err != nil {
					t.Fatalf("%d within the grace: the successor fails: %v", n, err)
				}
			}
		})
	}
}

// The review's reproduction: /auth/jwt/verify/ and /auth/jwt/blacklist/
// with the demo client's tokens (another client than the first-party one
// SimpleJWT knows) answer as for an invalid token, and nothing is revoked:
// the demo client's refresh token still works. Before the fix verify
// answered 200 and blacklist revoked the demo client's session.
func TestSimpleJWTRoutesRefuseOtherClientsTokens(t *testing.T) {
	ts := startServer(t, nil)
	foreign := ts.passwordToken(adminUser, adminPass, "openid")
	for _, tok := range []string{foreign.RefreshToken, foreign.AccessToken} {
		wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/verify/", "", map[string]any{"token": tok}),
			http.StatusUnauthorized, "Token is invalid or expired")
	}
	wantDetail(t, ts.call(http.MethodPost, "/auth/jwt/blacklist/", "", map[string]any{"refresh": foreign.RefreshToken}),
		http.StatusUnauthorized, "Token is invalid or expired")
	if active, _ := ts.introspectActive(foreign.AccessToken); !active {
		t.Fatal("blacklisting another client's refresh token revoked its session")
	}
	if _, err := ts.refresh(foreign.RefreshToken); err != nil {
		t.Fatalf("another client's refresh token fails after /auth/jwt/blacklist/: %v", err)
	}
	// The first-party client's tokens still verify and blacklist.
	res := ts.call(http.MethodPost, "/auth/jwt/create/", "", map[string]any{"username": adminUser, "password": adminPass})
	if res.Status != http.StatusOK {
		t.Fatalf("jwt/create: %s", res)
	}
	pair := res.json(t)
	access, _ := pair["access"].(string)
	refresh, _ := pair["refresh"].(string)
	for _, tok := range []string{access, refresh} {
		if r := ts.call(http.MethodPost, "/auth/jwt/verify/", "", map[string]any{"token": tok}); r.Status != http.StatusOK {
			t.Fatalf("jwt/verify of a first-party token: %s", r)
		}
	}
	if r := ts.call(http.MethodPost, "/auth/jwt/blacklist/", "", map[string]any{"refresh": refresh}); r.Status != http.StatusOK {
		t.Fatalf("jwt/blacklist of a first-party token: %s", r)
	}
}
