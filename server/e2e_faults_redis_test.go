package server_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// redisProcess is a redis-server of the test's own, on a free port, with
// an append-only file (fsync on every write) in a temporary directory, so
// that it can be killed and restarted with what it acknowledged.
type redisProcess struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	// head comes before the common arguments (a sentinel's config file),
	// tail after them.
	head, tail []string
}

// startRedisProcess starts a data server; extra are more redis-server
// arguments (e.g. --replicaof).
func startRedisProcess(t *testing.T, extra ...string) *redisProcess {
	t.Helper()
	r := newRedisProcess(t)
	r.tail = append([]string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"}, extra...)
	r.start()
	t.Cleanup(r.kill)
	return r
}

func newRedisProcess(t *testing.T) *redisProcess {
	t.Helper()
	bin := storagetest.RequireProgram(t, "the Redis fault tests", "redis-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &redisProcess{t: t, bin: bin, dir: t.TempDir(), port: port}
}

func (r *redisProcess) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *redisProcess) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisProcess) start() {
	r.t.Helper()
	args := append([]string{}, r.head...)
	args = append(args, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--dir", r.dir,
		"--daemonize", "no", "--logfile", "")
	r.cmd = exec.Command(r.bin, append(args, r.tail...)...)
	r.cmd.Stdout, r.cmd.Stderr = nil, nil
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), MaxRetries: -1})
	defer c.Close()
	waitFor(r.t, 10*time.Second, "redis-server to answer", func() bool { return c.Ping(r.t.Context()).Err() == nil })
}

// kill sends SIGKILL: Redis crashes, it does not shut down.
func (r *redisProcess) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// sqlForFaults points the durable store at Postgres when the environment
// has one, else leaves the embedded SQLite.
func sqlForFaults(t *testing.T, c *config.Config) {
	if os.Getenv("LATCHKEY_TEST_POSTGRES_DSN") == "" {
		return
	}
	dsn, _ := postgresDSN(t)
	c.Storage.Driver = "postgres"
	c.Storage.Postgres.DSN = dsn
}

// Redis dies (kill -9) in the middle of a load: the requests that need it
// answer 503 temporarily_unavailable with Retry-After, quickly, never a 500
// or a panic, and /readyz fails; Redis comes back: the next requests succeed
// without restarting latchkey, what was acknowledged before the crash is
// still there, and no goroutine is left behind.
func TestARedisOutageGives503AndTheServerRecovers(t *testing.T) {
	rp := startRedisProcess(t)
	ts := startServer(t, func(c *config.Config) {
		c.Storage.Redis.URL = rp.url()
		c.Storage.Tokens = "auto"
		c.Storage.Timeout = 3 * time.Second
		sqlForFaults(t, c)
	})
	tok := ts.passwordToken(adminUser, adminPass, "openid")
	acked, err := ts.refresh(tok.RefreshToken) // acknowledged: must survive the crash
	if err != nil {
		t.Fatal(err)
	}
	if active, _ := ts.introspectActive(acked.AccessToken); !active {
		t.Fatal("token not active before the outage")
	}
	ts.client.CloseIdleConnections()
	goroutinesBefore := settledGoroutines(t)

	type result struct {
		worker  int
		status  int
		code    string
		retry   string
		elapsed time.Duration
		phase   int32
		started time.Time
		ended   time.Time
	}
	const workers = 6
	var (
		phase   atomic.Int32 // 0 up, 1 down, 2 back
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []result
	)
	// count is how many answers so far match.
	count := func(match func(result) bool) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range results {
			if match(r) {
				n++
			}
		}
		return n
	}
	// everyWorker reports whether each worker has had at least atLeast
	// answers that match.
	everyWorker := func(atLeast int, match func(result) bool) bool {
		for w := range workers {
			if count(func(r result) bool { return r.worker == w && match(r) }) < atLeast {
				return false
			}
		}
		return true
	}
	junk := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"lk_rt_not-a-real-token"}}.Encode()
	introspect := url.Values{"token": {acked.AccessToken}}.Encode()
	for w := range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ph := phase.Load()
				path, body := "/oauth2/introspect", introspect
				if w%2 == 1 {
					path, body = "/oauth2/token", junk
				}
				req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(demoClient, demoSecret)
				start := time.Now()
				res, err := ts.client.Do(req)
				r := result{worker: w, elapsed: time.Since(start), phase: ph, started: start, ended: time.Now()}
				if err != nil {
					r.status = -1
					r.code = err.Error()
				} else {
					var e struct {
						Error string `json:"error"`
					}
					_ = decodeJSON(res.Body, &e)
					res.Body.Close()
					r.status, r.code, r.retry = res.StatusCode, e.Error, res.Header.Get("Retry-After")
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				// Pacing, not a wait for anything: a worker rests 5ms
				// between requests rather than sending as many as the
				// CPUs allow, so the server, Redis and the checks
				// below share the machine.
				time.Sleep(5 * time.Millisecond)
			}
		})
	}

	answered := func(r result) bool { return r.status > 0 }
	waitFor(t, 30*time.Second, "ten answers to every worker with Redis up", func() bool {
		return everyWorker(10, func(r result) bool { return r.phase == 0 && answered(r) })
	})
	phase.Store(1)
	killedAt := time.Now()
	rp.kill()
	waitFor(t, 30*time.Second, "fifty 503s to the load with Redis down", func() bool {
		return count(func(r result) bool { return r.phase == 1 && r.status == http.StatusServiceUnavailable }) >= 50
	})
	if res := ts.get("/readyz", ""); res.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down: %s", res)
	}
	if res := ts.get("/healthz", ""); res.Status != http.StatusOK {
		t.Errorf("/healthz with Redis down: %s", res)
	}

	rp.start()
	ts.awaitReady(15*time.Second, "/readyz did not recover after Redis came back")
	// The pool may still hold connections from before the crash: the
	// recovered phase starts once every worker was answered (not 503) by a
	// request it sent after readiness, and lasts until each has had fifty
	// answers in it.
	readyAt := time.Now()
	waitFor(t, 15*time.Second, "every worker to be served again after /readyz recovered", func() bool {
		return everyWorker(1, func(r result) bool {
			return r.started.After(readyAt) && answered(r) && r.status != http.StatusServiceUnavailable
		})
	})
	phase.Store(2)
	waitFor(t, 30*time.Second, "fifty answers to every worker with Redis back", func() bool {
		return everyWorker(50, func(r result) bool { return r.phase == 2 && answered(r) })
	})
	close(stop)
	wg.Wait()

	counts := map[int32]map[int]int{0: {}, 1: {}, 2: {}}
	for _, r := range results {
		counts[r.phase][r.status]++
		switch {
		case r.status == -1:
			t.Errorf("phase %d: transport error %s", r.phase, r.code)
		case r.status >= 500 && r.status != http.StatusServiceUnavailable:
			t.Errorf("phase %d: status %d %q", r.phase, r.status, r.code)
		case r.status == http.StatusServiceUnavailable:
			if r.code != "temporarily_unavailable" || r.retry == "" {
				t.Errorf("503 with error %q, Retry-After %q", r.code, r.retry)
			}
			if r.phase == 2 {
				t.Errorf("a 503 after Redis came back and /readyz recovered")
			}
			if r.ended.Before(killedAt) {
				t.Errorf("a 503 before Redis was killed (%v before)", killedAt.Sub(r.ended))
			}
		case r.status != http.StatusOK && r.status != http.StatusBadRequest:
			t.Errorf("phase %d: unexpected status %d %q", r.phase, r.status, r.code)
		}
		if r.elapsed > 3*time.Second {
			t.Errorf("phase %d: a request took %v", r.phase, r.elapsed)
		}
	}
	t.Logf("statuses by phase (0 up, 1 down, 2 back): %v", counts)
	if counts[1][http.StatusServiceUnavailable] == 0 {
		t.Error("no 503 while Redis was down: the load did not reach Redis")
	}
	if counts[2][http.StatusOK] == 0 {
		t.Error("no success after Redis came back")
	}

	// What was acknowledged before the crash is still there.
	if active, _ := ts.introspectActive(acked.AccessToken); !active {
		t.Error("the access token issued before the crash is not active after it")
	}
	if _, err := ts.refresh(acked.RefreshToken); err != nil {
		t.Errorf("the refresh token acknowledged before the crash does not work after it: %v", err)
	}
	if strings.Contains(ts.Logs.String(), "panic") {
		t.Error("the server logged a panic")
	}

	// No goroutine is left behind by the failed requests.
	ts.client.CloseIdleConnections()
	var n int
	if !eventually(5*time.Second, func() bool {
		n = runtime.NumGoroutine()
		return n <= goroutinesBefore+5
	}) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines after the outage, %d before:\n%s", n, goroutinesBefore, buf)
	}
}

// settledGoroutines is the number of goroutines once it has stopped
// changing (the same at ten polls in a row), so that a count taken right
// after closing connections does not include their goroutines on their way
// out.
func settledGoroutines(t *testing.T) int {
	t.Helper()
	n, same := runtime.NumGoroutine(), 0
	waitFor(t, 5*time.Second, "the number of goroutines to settle", func() bool {
		if m := runtime.NumGoroutine(); m != n {
			n, same = m, 0
			return false
		}
		same++
		return same >= 10
	})
	return n
}

// SIGTERM while requests are in flight: the server stops accepting new
// connections, finishes the requests it has, and exits cleanly.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	p := startProcess(t, "latchkey", nil)
	p.waitReady(t, 10*time.Second)

	// A slow client: headers now, half the body, the rest after SIGTERM.
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	const inFlight = 4
	conns := make([]net.Conn, inFlight)
	for i := range conns {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		req := "POST /oauth2/token HTTP/1.1\r\nHost: " + p.Addr + "\r\n" +
			"Content-Type: application/x-www-form-urlencoded\r\n" +
			"Authorization: Basic " + basicAuth(demoClient, demoSecret) + "\r\n" +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body[:len(body)/2]
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	waitServerRead(t, p.Addr, conns)

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused once the server drains.
	if !eventually(5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}) {
		t.Error("the server still accepts connections after SIGTERM")
	}
	for i, c := range conns {
		if _, err := c.Write([]byte(body[len(body)/2:])); err != nil {
			t.Fatalf("request %d: finishing the body: %v", i, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("request %d in flight at SIGTERM got no response: %v", i, err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		_ = decodeJSON(res.Body, &tok)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Errorf("request %d in flight at SIGTERM: %d", i, res.StatusCode)
		}
	}
	if err := p.terminate(t); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, p.logs.String())
	}
}

// waitServerRead waits until the server listening on addr has accepted each
// of conns and read everything sent on it (the headers and half a body):
// the kernel's receive queue of the server's end of each is empty. It reads
// /proc/net/tcp; where there is none it falls back to a fixed 300ms, the
// only thing left to give a server to get that far.
func waitServerRead(t *testing.T, addr string, conns []net.Conn) {
	t.Helper()
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	if _, ok := receiveQueues(port); !ok {
		time.Sleep(300 * time.Millisecond)
		return
	}
	waitFor(t, 10*time.Second, "the server to read the in-flight requests' headers", func() bool {
		queues, _ := receiveQueues(port)
		for _, c := range conns {
			unread, found := queues[c.LocalAddr().(*net.TCPAddr).Port]
			if !found || unread > 0 {
				return false
			}
		}
		return true
	})
}

// receiveQueues maps the client port of each connection to the server port
// to the bytes the kernel holds for the server to read, from /proc/net/tcp
// and /proc/net/tcp6. ok is false when neither can be read.
func receiveQueues(serverPort int) (queues map[int]int, ok bool) {
	queues = map[int]int{}
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		ok = true
		// sl local_address rem_address st tx_queue:rx_queue ...
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 5 || hexPort(f[1]) != serverPort || f[3] != tcpEstablished {
				continue
			}
			_, rx, _ := strings.Cut(f[4], ":")
			n, err := strconv.ParseInt(rx, 16, 64)
			if err == nil {
				queues[hexPort(f[2])] = int(n)
			}
		}
	}
	return queues, ok
}

// tcpEstablished is the state column of an open connection in /proc/net/tcp.
const tcpEstablished = "01"

// hexPort is the port of an address as /proc/net/tcp writes it
// (0100007F:1F90), or -1.
func hexPort(addr string) int {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(addr[i+1:], 16, 32)
	if err != nil {
		return -1
	}
	return int(n)
}

func basicAuth(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// A Redis that hangs (SIGSTOP: connections are accepted by the kernel, no
// reply ever comes) must not hang latchkey: the bounded read timeout turns
// each request into a 503 within about a second, concurrent requests do not
// queue behind each other for long, and SIGCONT brings everything back.
func TestAHungRedisGives503QuicklyNotAHang(t *testing.T) {
	rp := startRedisProcess(t)
	ts := startServer(t, func(c *config.Config) {
		c.Storage.Redis.URL = rp.url()
		c.Storage.Tokens = "redis"
		c.Storage.Timeout = 5 * time.Second
		sqlForFaults(t, c)
	})
	tok := ts.passwordToken(adminUser, adminPass, "openid")

	if err := rp.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = rp.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)

	const n = 12
	var wg sync.WaitGroup
	res := make([]response, n)
	took := make([]time.Duration, n)
	for i := range n {
		wg.Go(func() {
			start := time.Now()
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(demoClient, demoSecret)
			r, err := ts.client.Do(req)
			took[i] = time.Since(start)
			if err != nil {
				res[i] = response{Status: -1, Body: []byte(err.Error())}
				return
			}
			defer r.Body.Close()
			var body strings.Builder
			_, _ = bufio.NewReader(r.Body).WriteTo(&body)
			res[i] = response{Status: r.StatusCode, Header: r.Header, Body: []byte(body.String())}
		})
	}
	wg.Wait()
	for i := range n {
		wantOAuthError(t, res[i], http.StatusServiceUnavailable, "temporarily_unavailable")
		// Read timeout 1s, pool wait 1s: never near storage.timeout (5s).
		if took[i] > 3*time.Second {
			t.Errorf("request %d took %v with Redis hung", i, took[i])
		}
	}
	start := time.Now()
	if r := ts.get("/readyz", ""); r.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis hung: %s", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("/readyz took %v with Redis hung", d)
	}

	resume()
	ts.awaitReady(10*time.Second, "/readyz did not recover after SIGCONT")
	if active, _ := ts.introspectActive(tok.AccessToken); !active {
		t.Error("the token is not active after Redis resumed")
	}
	if _, err := ts.refresh(tok.RefreshToken); err != nil {
		t.Errorf("refresh after Redis resumed: %v", err)
	}
}
