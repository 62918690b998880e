package server_test

import (
	"database/sql"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/latchkey-auth/latchkey/config"
)

// cutProxy forwards TCP to a target until cut, then refuses and drops every
// connection until restored: a database that goes away and comes back.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.accept()
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, up)
		go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
	}
}

func (p *cutProxy) track(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		p.conns[c] = true
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// postgresDSN returns the test Postgres with a fresh schema, routed through
// addr, or skips (fails when services are required).
func postgresDSN(t *testing.T) (dsn, host string) {
	base := serviceEnv(t, "LATCHKEY_TEST_POSTGRES_DSN", "the Postgres server tests")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := "lk_fault_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	return u.String(), u.Host
}

// A database that goes away gives 503 temporarily_unavailable quickly, never
// a panic or a 500; /readyz fails and /healthz does not; when the database
// is back the server serves again by itself, and what it acknowledged before
// is still there.
func TestADatabaseOutageGives503AndTheServerRecovers(t *testing.T) {
	dsn, host := postgresDSN(t)
	proxy := newCutProxy(t, host)
	u, _ := url.Parse(dsn)
	u.Host = proxy.ln.Addr().String()
	ts := startServer(t, func(c *config.Config) {
		c.Storage.Driver = "postgres"
		c.Storage.Postgres.DSN = u.String()
		c.Storage.Timeout = 2 * time.Second
	})
	tok := ts.passwordToken(adminUser, adminPass, "openid")

	proxy.cut()
	start := time.Now()
	for _, tc := range []struct {
		name string
		res  response
	}{
		{"a refresh", ts.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, demoClient, demoSecret)},
		{"an introspection", ts.introspect(tok.AccessToken)},
		{"a revocation", ts.postForm("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}}, demoClient, demoSecret)},
	} {
		wantOAuthError(t, tc.res, http.StatusServiceUnavailable, "temporarily_unavailable")
		if tc.res.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", tc.name)
		}
	}
	if res := ts.get("/readyz", ""); res.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down: %s", res)
	}
	if res := ts.get("/healthz", ""); res.Status != http.StatusOK {
		t.Errorf("/healthz with the database down: %s", res)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("answering during the outage took %v: requests hang", d)
	}

	proxy.restore()
	ts.awaitReady(15*time.Second, "the server did not recover after the database came back")
	if _, err := ts.refresh(tok.RefreshToken); err != nil {
		t.Fatalf("the refresh token issued before the outage does not work after it: %v", err)
	}
	if strings.Contains(ts.Logs.String(), `"panic"`) {
		t.Error("the server panicked during the outage")
	}
}
