package server_test

import (
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cluster is two `latchkey serve` processes sharing one Postgres schema and
// one Redis prefix, with the same master key: the production shape.
type cluster struct {
	a, b *process
}

// keys.cache_ttl and tokens.client_cache_ttl in the cluster tests: how soon
// a key rotated on one instance is trusted by the other, and how long a
// client's old secret may still work there.
const (
	clusterKeyCacheTTL    = time.Second
	clusterClientCacheTTL = time.Second
)

func startCluster(t *testing.T) cluster {
	t.Helper()
	return startClusterWith(t, nil)
}

// startClusterWith is startCluster with more settings (LATCHKEY_*) for both
// instances.
func startClusterWith(t *testing.T, extra map[string]string) cluster {
	t.Helper()
	redisURL := testRedisURL(t)
	dsn, _ := postgresDSN(t)
	prefix, _ := redisPrefix(t, redisURL)
	env := map[string]string{
		"LATCHKEY_STORAGE__DRIVER":              "postgres",
		"LATCHKEY_STORAGE__POSTGRES__DSN":       dsn,
		"LATCHKEY_STORAGE__REDIS__URL":          redisURL,
		"LATCHKEY_STORAGE__REDIS__PREFIX":       prefix,
		"LATCHKEY_STORAGE__TOKENS":              "redis",
		"LATCHKEY_KEYS__MASTER_KEY":             newMasterKey(t),
		"LATCHKEY_KEYS__CACHE_TTL":              clusterKeyCacheTTL.String(),
		"LATCHKEY_BOOTSTRAP_CLIENT_ID":          demoClient,
		"LATCHKEY_BOOTSTRAP_ADMIN_USERNAME":     adminUser,
		"LATCHKEY_HTTP__SHUTDOWN_TIMEOUT":       "10s",
		"LATCHKEY_RATE_LIMIT__ENABLED":          "false",
		"LATCHKEY_TOKENS__CLIENT_CACHE_TTL":     clusterClientCacheTTL.String(),
		"LATCHKEY_STORAGE__POSTGRES__MAX_CONNS": "10",
	}
	maps.Copy(env, extra)
	// Both start at once, as a deployment's replicas do.
	var c cluster
	var wg sync.WaitGroup
	wg.Go(func() { c.a = startProcess(t, "A", env) })
	wg.Go(func() { c.b = startProcess(t, "B", env) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	c.a.waitReady(t, 10*time.Second)
	c.b.waitReady(t, 10*time.Second)
	return c
}

// A token issued by A is active on B; revoking on B is seen by A at once.
func TestClusterTokensAndRevocationsAreSharedAtOnce(t *testing.T) {
	c := startCluster(t)
	tok := c.a.passwordToken(adminUser, adminPass, "openid")
	if active, m := c.b.introspectActive(tok.AccessToken); !active {
		t.Fatalf("A's access token is not active on B: %v", m)
	}
	// The refresh token from A works on B.
	next, err := c.b.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("A's refresh token on B: %v", err)
	}

	// Revoke the (JWT) access token on B: A answers inactive at once.
	c.b.revoke(next.AccessToken, demoClient, demoSecret)
	if active, _ := c.a.introspectActive(next.AccessToken); active {
		t.Fatal("an access token revoked on B is still active on A")
	}
	// Revoke the refresh token on B: A refuses it at once.
	c.b.revoke(next.RefreshToken, demoClient, demoSecret)
	_, err = c.a.refresh(next.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
}

// A refresh token rotated on A and replayed on B is reuse: B refuses it
// and revokes the family, so the token A handed out is dead everywhere.
func TestClusterRefreshReplayedOnTheOtherInstanceRevokesTheFamily(t *testing.T) {
	c := startCluster(t)
	tok := c.a.passwordToken(adminUser, adminPass, "openid")
	rotated, err := c.a.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// The replay arrives after the rotation committed: past the quarter
	// second a request may take to reach the store and commit, within
	// which it counts as one that lost a race (provider.commitAllowance).
	time.Sleep(300 * time.Millisecond)
	_, err = c.b.refresh(tok.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)

	for _, p := range []*process{c.a, c.b} {
		if _, err := p.refresh(rotated.RefreshToken); err == nil {
			t.Errorf("%s: the rotated refresh token still works after the replay", p.name)
		}
		if active, _ := p.introspectActive(rotated.AccessToken); active {
			t.Errorf("%s: the family's access token is still active after the replay", p.name)
		}
	}
}

// A key rotated on A signs A's next tokens; B trusts them within
// keys.cache_ttl, and publishes the new key in its JWKS.
func TestClusterKeyRotatedOnOneInstanceVerifiesOnTheOther(t *testing.T) {
	c := startCluster(t)
	admin := c.a.adminToken()
	before := c.b.jwks()
	res := c.a.adminJSON(http.MethodPost, "/admin/keys/rotate/", admin, nil)
	if res.Status != http.StatusCreated {
		t.Fatalf("rotate on A: %s", res)
	}
	kid, _ := res.json(t)["kid"].(string)
	if kid == "" || strings.Contains(strings.Join(kids(before), " "), kid) {
		t.Fatalf("rotation returned kid %q (B's keys before: %v)", kid, kids(before))
	}
	tok := c.a.passwordToken(adminUser, adminPass, "openid")
	h, _, _ := jwtParts(t, tok.AccessToken)
	if h["kid"] != kid {
		t.Fatalf("A signs with %v after rotating to %s", h["kid"], kid)
	}
	if !eventually(clusterKeyCacheTTL+3*time.Second, func() bool {
		active, _ := c.b.introspectActive(tok.AccessToken)
		return active && strings.Contains(strings.Join(kids(c.b.jwks()), " "), kid)
	}) {
		t.Fatalf("B does not trust the key rotated on A within keys.cache_ttl (%v) plus slack", clusterKeyCacheTTL)
	}
	// Tokens signed with the old key still verify on both.
	if active, _ := c.a.introspectActive(admin); !active {
		t.Error("a token signed with the retired key is no longer active on A")
	}
}

// Fifty concurrent refreshes with one token, spread over both instances:
// exactly one succeeds, the others are invalid_grant, none is a 5xx.
func TestClusterFiftyConcurrentRefreshesExactlyOneSucceeds(t *testing.T) {
	c := startCluster(t)
	tok := c.a.passwordToken(adminUser, adminPass, "openid")
	const n = 50
	if ok, statuses := raceRefresh(t, c.a.client, []string{c.a.URL, c.b.URL}, tok.RefreshToken, n); ok != 1 {
		t.Errorf("%d of %d concurrent refreshes over two instances succeeded, want exactly 1 (statuses %v)", ok, n, statuses)
	}
}

// kill -9 of one instance in the middle of a load: the other keeps
// serving every request, including refresh tokens the dead one issued.
func TestClusterKillingOneInstanceLeavesTheOtherServing(t *testing.T) {
	c := startCluster(t)
	tok := c.a.passwordToken(adminUser, adminPass, "openid")
	cc := func(p *process) error {
		_, err := p.clientToken(demoClient, demoSecret)
		return err
	}

	var (
		stop          = make(chan struct{})
		wg            sync.WaitGroup
		bOK, bFail    atomic.Int64
		aOK           atomic.Int64
		firstBFailure atomic.Value
	)
	for w := range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if w%2 == 0 {
					if err := cc(c.a); err == nil {
						aOK.Add(1)
					}
					continue
				}
				if err := cc(c.b); err != nil {
					bFail.Add(1)
					firstBFailure.CompareAndSwap(nil, err.Error())
				} else {
					bOK.Add(1)
				}
			}
		})
	}
	waitFor(t, 30*time.Second, "the load to reach both instances", func() bool { return aOK.Load() > 0 && bOK.Load() > 0 })
	c.a.kill()
	killedAt := bOK.Load()
	// B goes on under the load for a hundred answers after A died, whatever
	// they are: the checks below tell successes from failures.
	answeredAt := killedAt + bFail.Load()
	waitFor(t, 30*time.Second, "B to answer a hundred requests after A died", func() bool {
		return bOK.Load()+bFail.Load() >= answeredAt+100
	})
	close(stop)
	wg.Wait()

	if aOK.Load() == 0 {
		t.Error("A served nothing before it was killed: the load did not reach it")
	}
	if bOK.Load() <= killedAt {
		t.Errorf("B served nothing after A was killed (%d before, %d after)", killedAt, bOK.Load())
	}
	if n := bFail.Load(); n > 0 {
		t.Errorf("B failed %d requests while A died; first: %v", n, firstBFailure.Load())
	}
	// A's refresh token still works on B.
	if _, err := c.b.refresh(tok.RefreshToken); err != nil {
		t.Errorf("a refresh token issued by the dead instance does not work on the live one: %v", err)
	}
}

// A client secret rotated on A: the new secret works on B at once (a wrong
// secret is checked again against the store), and the old one stops on B
// within tokens.client_cache_ttl.
func TestClusterClientSecretRotatedOnOneInstance(t *testing.T) {
	c := startCluster(t)
	admin := c.a.adminToken()
	created := c.a.createClient(admin, map[string]any{
		"client_name": "svc", "grant_types": []string{"client_credentials"}, "scope": "profile",
	})
	id, _ := created["client_id"].(string)
	old, _ := created["client_secret"].(string)
	if _, err := c.b.clientToken(id, old); err != nil {
		t.Fatalf("B before the rotation: %v", err) // B now caches the client
	}
	res := c.a.adminJSON(http.MethodPost, "/admin/clients/"+id+"/rotate-secret/", admin, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("rotate-secret on A: %s", res)
	}
	fresh, _ := res.json(t)["client_secret"].(string)
	if _, err := c.b.clientToken(id, fresh); err != nil {
		t.Fatalf("the new secret on B right after the rotation on A: %v", err)
	}
	// B has re-read the client, so the old secret is refused at once too;
	// at the latest it is after the cache TTL.
	waitFor(t, clusterClientCacheTTL+2*time.Second, "B to refuse the old secret", func() bool {
		_, err := c.b.clientToken(id, old)
		return err != nil
	})
	_, err := c.b.clientToken(id, old)
	wantRetrieveError(t, err, "invalid_client", http.StatusUnauthorized)
}
