package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage/redisstore/redistest"
)

// startSentinel starts a Sentinel watching the master at masterAddr as
// "mymaster", quick to fail over.
func startSentinel(t *testing.T, master *redisProcess) *redisProcess {
	t.Helper()
	r := newRedisProcess(t)
	conf := filepath.Join(r.dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor mymaster 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds mymaster 1000\n"+
		"sentinel failover-timeout mymaster 5000\n", master.port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r.head = []string{conf, "--sentinel"}
	r.start()
	t.Cleanup(r.kill)
	return r
}

// With storage.redis naming Sentinels and a master, latchkey finds the
// master through them; after a failover to the replica it follows the new
// master by itself, and the tokens issued before (replicated) still work.
// Requests during the switch may be 503, never 500.
func TestSentinelFailoverIsFollowedWithoutRestart(t *testing.T) {
	master := startRedisProcess(t)
	replica := startRedisProcess(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
	sentinel := startSentinel(t, master)

	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.addr()})
	defer sc.Close()
	waitFor(t, 10*time.Second, "the sentinel to see the replica", func() bool {
		rs, err := sc.Replicas(t.Context(), "mymaster").Result()
		return err == nil && len(rs) == 1
	})

	ts := startServer(t, func(c *config.Config) {
		c.Storage.Redis.Addrs = []string{sentinel.addr()}
		c.Storage.Redis.MasterName = "mymaster"
		c.Storage.Tokens = "redis"
	})
	tok := ts.passwordToken(adminUser, adminPass, "openid")
	if active, _ := ts.introspectActive(tok.AccessToken); !active {
		t.Fatal("token not active through Sentinel")
	}
	// The replica has everything before the failover.
	mc := redis.NewClient(&redis.Options{Addr: master.addr()})
	defer mc.Close()
	// The replica's initial sync may still run on a busy machine: wait until
	// the master sees it online, then until it acknowledged every write.
	waitFor(t, 60*time.Second, "the replica to be online at the master", func() bool {
		info, err := mc.Info(t.Context(), "replication").Result()
		return err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online")
	})
	if n, err := mc.Wait(t.Context(), 1, 30*time.Second).Result(); err != nil || n < 1 {
		t.Fatalf("WAIT for the replica: %d %v", n, err)
	}

	if err := sc.Failover(t.Context(), "mymaster").Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	waitFor(t, 15*time.Second, "the failover to the replica", func() bool {
		addr, err := sc.GetMasterAddrByName(t.Context(), "mymaster").Result()
		return err == nil && len(addr) == 2 && addr[1] == strconv.Itoa(replica.port)
	})

	// The old master goes away for good, so only the new one can answer.
	master.kill()

	// latchkey follows: the refresh token from before the failover works
	// on the new master, without a restart.
	var next string
	waitFor(t, 15*time.Second, "a refresh to succeed on the new master", func() bool {
		res := ts.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, demoClient, demoSecret)
		switch res.Status {
		case http.StatusOK:
			next, _ = res.json(t)["access_token"].(string)
			return true
		case http.StatusServiceUnavailable:
			wantOAuthError(t, res, http.StatusServiceUnavailable, provider.ErrTemporarilyUnavailable.Code)
			return false
		}
		t.Fatalf("refresh during the failover: %s", res)
		return false
	})
	if active, _ := ts.introspectActive(next); !active {
		t.Fatal("the token issued after the failover is not active")
	}
}

// With several storage.redis.addrs latchkey talks to a Redis Cluster: every
// grant, rotation, reuse detection, revocation and readiness check works
// across its shards (no CROSSSLOT anywhere, rate limits included).
func TestRedisClusterServesEveryFlow(t *testing.T) {
	addrs := redistest.Cluster(t)
	ts := startServer(t, func(c *config.Config) {
		c.Storage.Redis.Addrs = addrs
		c.Storage.Tokens = "redis"
	})
	if r := ts.get("/readyz", ""); r.Status != http.StatusOK {
		t.Fatalf("/readyz on a Cluster: %s", r)
	}
	// Logins with a wrong password first, so the rate limits count in
	// the Cluster too.
	_, err := ts.passwordConfig("openid").PasswordCredentialsToken(ts.ctx(), adminUser, "wrong-password")
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	var toks []*oauth2.Token
	for range 5 {
		toks = append(toks, ts.passwordToken(adminUser, adminPass, "openid"))
	}
	for i, tok := range toks {
		next, err := ts.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if active, _ := ts.introspectActive(next.AccessToken); !active {
			t.Fatalf("token %d not active", i)
		}
		// Reuse (after the rotation committed, not a request in flight)
		// revokes the family.
		ts.Clock.Advance(time.Second)
		_, err = ts.refresh(tok.RefreshToken)
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
		if _, err := ts.refresh(next.RefreshToken); err == nil {
			t.Fatalf("family %d survived a reuse", i)
		}
	}
	tok := ts.passwordToken(adminUser, adminPass, "openid")
	ts.revoke(tok.AccessToken, demoClient, demoSecret)
	if active, _ := ts.introspectActive(tok.AccessToken); active {
		t.Fatal("a revoked token is active")
	}
	if strings.Contains(ts.Logs.String(), "CROSSSLOT") {
		t.Fatalf("a command spanned hash slots:\n%s", ts.Logs.String())
	}
}
