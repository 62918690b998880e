package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/config"
)

// A hung Redis (SIGSTOP) answers 503 within storage.redis.timeout, not
// after a wait for a connection and then a wait for the reply: each
// request's time to its 503 is bounded by the configured timeout plus a
// second of slack for a loaded machine. With a pool of two connections and
// eight requests, the old fixed timeouts (1s pool wait, then 1s read) took
// 2–3 s, past that bound.
func TestAHungRedisAnswers503WithinStorageRedisTimeout(t *testing.T) {
	const (
		timeout = 250 * time.Millisecond
		slack   = time.Second
	)
	rp := startRedisProcess(t)
	ts := startServer(t, func(c *config.Config) {
		c.Storage.Redis.URL = rp.url()
		c.Storage.Redis.Timeout = timeout
		c.Storage.Redis.PoolSize = 2 // most requests wait for a connection first
		c.Storage.Tokens = "redis"
		c.Storage.Timeout = 5 * time.Second
		sqlForFaults(t, c)
	})
	tok := ts.passwordToken(adminUser, adminPass, "openid")

	if err := rp.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume := func() { once.Do(func() { _ = rp.cmd.Process.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)

	const n = 8
	var wg sync.WaitGroup
	status := make([]int, n)
	took := make([]time.Duration, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(demoClient, demoSecret)
			start := time.Now()
			r, err := ts.client.Do(req)
			took[i] = time.Since(start)
			if err != nil {
				status[i] = -1
				return
			}
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			status[i] = r.StatusCode
		})
	}
	wg.Wait()
	for i := range n {
		if status[i] != http.StatusServiceUnavailable {
			t.Errorf("request %d with Redis hung: status %d, want 503", i, status[i])
		}
		if took[i] > timeout+slack {
			t.Errorf("request %d took %v to its 503 with Redis hung; storage.redis.timeout is %v", i, took[i], timeout)
		}
	}
	t.Logf("time to 503 with storage.redis.timeout %v: %v", timeout, took)

	resume()
	ts.awaitReady(10*time.Second, "/readyz did not recover after SIGCONT")
	if active, _ := ts.introspectActive(tok.AccessToken); !active {
		t.Error("the token is not active after Redis resumed")
	}
}
