package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/uptrace/bun"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/local"
	"github.com/latchkey-auth/latchkey/cmd/latchkey/stores"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/server"
	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// Credentials the bootstrap creates in every test server.
const (
	adminUser    = "admin"
	adminPass    = "admin-pass-123"
	adminEmail   = "admin@localhost"
	demoClient   = "demo"
	demoSecret   = "demo-secret"
	accessTTL    = 5 * time.Minute // config.Default's tokens.access_ttl
	keyCacheTTL  = 30 * time.Second
	maxClientTTL = provider.MaxClientAccessTTL
)

// fastArgon2 keeps password hashing cheap in tests.
var fastArgon2 = local.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

// serviceMissing stops a test that needs an outside service it lacks
// (Postgres, Redis, the redis-server binary): a loud skip on a laptop, a
// failure when LATCHKEY_TEST_REQUIRE_SERVICES=1, as CI sets, so that CI
// serviceEnv returns the value of the environment variable that points at
// an outside service, or skips the test with a loud notice (fails when
// LATCHKEY_TEST_REQUIRE_SERVICES=1): the storage suites' one gate.
func serviceEnv(t testing.TB, name, what string) string {
	t.Helper()
	return storagetest.RequireService(t, what, name)
}

// testClock is the server's injectable clock; tests move it forward instead
// of sleeping.
type testClock struct {
	mu  sync.Mutex
	now time.Time
	// live clocks run with the wall clock, offset by Advance: for races
	// whose outcome depends on which request came first.
	live   bool
	offset time.Duration
}

func newTestClock() *testClock {
	return &testClock{now: time.Now().Truncate(time.Second)}
}

// newLiveClock returns a clock that runs with the wall clock and can still
// be moved forward.
func newLiveClock() *testClock {
	return &testClock{live: true}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live {
		return time.Now().Add(c.offset)
	}
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.offset += d
}

// testServer is a real latchkey server listening on a loopback port.
// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	// Logs holds every log line the server wrote (debug level and up).
	Logs   *syncBuffer
	t      *testing.T
	srv    *server.Server
	cfg    config.Config
	URL    string // http://127.0.0.1:port, also the issuer unless mutate changed it
	Addr   string
	Clock  *testClock
	Out    *bytes.Buffer
	client *http.Client

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan error
}

// startServer starts a server on a fresh data directory and port. mutate, if
// not nil, changes the configuration before the server opens.
func startServer(t *testing.T, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startServerAt(t, "127.0.0.1:0", t.TempDir(), newTestClock(), mutate)
}

// startServerAt starts a server on addr with the given data directory and
// clock, so a test can restart one where the last one stopped.
func startServerAt(t *testing.T, addr, dataDir string, clock *testClock, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startServerWith(t, addr, dataDir, clock, mutate, nil)
}

// startServerWith is startServerAt whose server options opts, if not nil,
// may change before the server opens.
func startServerWith(t *testing.T, addr, dataDir string, clock *testClock, mutate func(*config.Config), opts func(*server.Options)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	cfg := config.Default()
	cfg.Listen = ln.Addr().String()
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.DataDir = dataDir
	cfg.Log.Level = "warn"
	if mutate != nil {
		mutate(&cfg)
	}
	var out bytes.Buffer
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	o := server.Options{
		Config: cfg,
		Stores: stores.Opener{},
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backends: backends.Registry{"local": func() backends.Config {
			return &local.Config{Argon2: fastArgon2}
		}},
		Environ: []string{
			"LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD=" + adminPass,
			"LATCHKEY_BOOTSTRAP_CLIENT_SECRET=" + demoSecret,
		},
		Out: &out,
		Now: clock.Now,
	}
	if opts != nil {
		opts(&o)
	}
	s, err := server.Open(ctx, o)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("server.Open: %v", err)
	}
	ts := &testServer{
		t: t, srv: s, cfg: cfg, URL: baseURL(cfg, ln.Addr().String()), Addr: ln.Addr().String(), Clock: clock, Out: &out, Logs: logs,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 30 * time.Second},
		cancel: cancel, done: make(chan error, 1),
	}
	go func() { ts.done <- s.Serve(ctx, ln, nil) }()
	t.Cleanup(ts.Stop)
	return ts
}

// Stop shuts the server down, waits for Serve to return and closes the store.
func (ts *testServer) Stop() {
	ts.stopOnce.Do(func() {
		ts.cancel()
		ts.client.CloseIdleConnections()
		if err := <-ts.done; err != nil {
			ts.t.Errorf("Serve returned %v", err)
		}
		if err := ts.srv.Close(); err != nil {
			ts.t.Errorf("Close: %v", err)
		}
	})
}

// ctx returns a context whose HTTP client (for x/oauth2 and go-oidc) is this
// server's.
func (ts *testServer) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, ts.client)
}

// response is a fully read HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string {
	return fmt.Sprintf("%d %s", r.Status, r.Body)
}

// json decodes the body into a map, failing the test if it is not a JSON object.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

func (ts *testServer) do(req *http.Request) response {
	ts.t.Helper()
	res, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: body}
}

func (ts *testServer) newRequest(method, path string, body io.Reader) *http.Request {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		ts.t.Fatalf("new request: %v", err)
	}
	return req
}

// get sends a GET with an optional bearer token.
func (ts *testServer) get(path, bearer string) response {
	ts.t.Helper()
	req := ts.newRequest(http.MethodGet, path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return ts.do(req)
}

// postRaw posts body as a form with optional Basic client credentials.
func (ts *testServer) postRaw(path, body, user, pass string) response {
	ts.t.Helper()
	req := ts.newRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return ts.do(req)
}

// postForm posts form with optional Basic client credentials.
func (ts *testServer) postForm(path string, form url.Values, user, pass string) response {
	ts.t.Helper()
	return ts.postRaw(path, form.Encode(), user, pass)
}

// introspect asks the introspection endpoint about token as the demo client.
func (ts *testServer) introspect(token string) response {
	ts.t.Helper()
	return ts.postForm("/oauth2/introspect", url.Values{"token": {token}}, demoClient, demoSecret)
}

// introspectActive reports the active field of an introspection, failing
// the test unless the call itself succeeded.
func (ts *testServer) introspectActive(token string) (bool, map[string]any) {
	ts.t.Helper()
	res := ts.introspect(token)
	if res.Status != http.StatusOK {
		ts.t.Fatalf("introspect: %s", res)
	}
	m := res.json(ts.t)
	active, ok := m["active"].(bool)
	if !ok {
		ts.t.Fatalf("introspect: no boolean active in %s", res.Body)
	}
	if !active && len(m) != 1 {
		ts.t.Errorf("inactive introspection carries more than active: %s", res.Body)
	}
	return active, m
}

// revoke revokes token as the given client.
func (ts *testServer) revoke(token, user, pass string) {
	ts.t.Helper()
	res := ts.postForm("/oauth2/revoke", url.Values{"token": {token}}, user, pass)
	if res.Status != http.StatusOK {
		ts.t.Fatalf("revoke: %s", res)
	}
}

// passwordConfig is an x/oauth2 client config for the demo client.
func (ts *testServer) passwordConfig(scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: demoClient, ClientSecret: demoSecret, Scopes: scopes,
		Endpoint: oauth2.Endpoint{TokenURL: ts.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// passwordToken runs the password grant through x/oauth2.
func (ts *testServer) passwordToken(username, password string, scopes ...string) *oauth2.Token {
	ts.t.Helper()
	tok, err := ts.passwordConfig(scopes...).PasswordCredentialsToken(ts.ctx(), username, password)
	if err != nil {
		ts.t.Fatalf("password grant for %s: %v", username, err)
	}
	return tok
}

// adminToken is an access token of the bootstrapped superuser.
func (ts *testServer) adminToken() string {
	ts.t.Helper()
	return ts.passwordToken(adminUser, adminPass, "openid", "profile", "email", provider.ScopeAPI).AccessToken
}

// clientToken runs the client_credentials grant through x/oauth2.
func (ts *testServer) clientToken(id, secret string, scopes ...string) (*oauth2.Token, error) {
	cc := clientcredentials.Config{
		ClientID: id, ClientSecret: secret, Scopes: scopes,
		TokenURL: ts.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader,
	}
	return cc.Token(ts.ctx())
}

// refresh runs the refresh_token grant through x/oauth2 for the demo client.
func (ts *testServer) refresh(refreshToken string) (*oauth2.Token, error) {
	expired := &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Hour)}
	return ts.passwordConfig().TokenSource(ts.ctx(), expired).Token()
}

// adminJSON sends a JSON request to the admin API with a bearer token.
func (ts *testServer) adminJSON(method, path, bearer string, body any) response {
	ts.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatalf("marshal: %v", err)
		}
		r = bytes.NewReader(data)
	}
	req := ts.newRequest(method, path, r)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return ts.do(req)
}

// createClient registers a client through the admin API and returns the
// answer (with client_id and client_secret).
func (ts *testServer) createClient(adminToken string, metadata map[string]any) map[string]any {
	ts.t.Helper()
	res := ts.adminJSON(http.MethodPost, "/admin/clients/", adminToken, metadata)
	if res.Status != http.StatusCreated {
		ts.t.Fatalf("create client: %s", res)
	}
	return res.json(ts.t)
}

// user returns a stored user by username.
func (ts *testServer) user(username string) storage.User {
	ts.t.Helper()
	u, err := ts.srv.Store().UserByUsername(context.Background(), username)
	if err != nil {
		ts.t.Fatalf("user %s: %v", username, err)
	}
	return u
}

// sqlDB is the durable store's database, for the tests that look at its
// tables.
func (ts *testServer) sqlDB() *bun.DB {
	ts.t.Helper()
	store, ok := ts.srv.Store().(*sqlstore.Store)
	if !ok {
		ts.t.Fatalf("the durable store is a %T, not a *sqlstore.Store", ts.srv.Store())
	}
	return store.DB()
}

// createUser stores an active user with a password.
func (ts *testServer) createUser(username, password string, staff bool) storage.User {
	ts.t.Helper()
	hash, err := local.HashPassword(password, fastArgon2)
	if err != nil {
		ts.t.Fatal(err)
	}
	now := ts.Clock.Now()
	u := &storage.User{
		Username: username, Email: username + "@example.com", PasswordHash: hash,
		IsActive: true, IsStaff: staff, DateJoined: now, PasswordChangedAt: now,
	}
	if err := ts.srv.Store().CreateUser(context.Background(), u); err != nil {
		ts.t.Fatalf("create user %s: %v", username, err)
	}
	return *u
}

// jwks fetches and parses the published key set.
func (ts *testServer) jwks() jose.JSONWebKeySet {
	ts.t.Helper()
	res := ts.get("/oauth2/jwks", "")
	if res.Status != http.StatusOK {
		ts.t.Fatalf("jwks: %s", res)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(res.Body, &set); err != nil {
		ts.t.Fatalf("jwks: %v: %s", err, res.Body)
	}
	return set
}

// kids lists the key IDs of a key set.
func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

var asymmetricAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// verifyJWT checks a compact JWS against a key set with go-jose and returns
// its protected header and claims.
func verifyJWT(raw string, set jose.JSONWebKeySet) (jose.Header, map[string]any, error) {
	jws, err := jose.ParseSignedCompact(raw, asymmetricAlgs)
	if err != nil {
		return jose.Header{}, nil, fmt.Errorf("parse: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return jose.Header{}, nil, errors.New("want exactly one signature")
	}
	h := jws.Signatures[0].Protected
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		return h, nil, fmt.Errorf("kid %q is not in the JWKS %v", h.KeyID, kids(set))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return h, nil, fmt.Errorf("verify with kid %q: %w", h.KeyID, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return h, nil, fmt.Errorf("claims: %w", err)
	}
	return h, claims, nil
}

// mustVerifyJWT is verifyJWT that fails the test.
func mustVerifyJWT(t *testing.T, raw string, set jose.JSONWebKeySet) (jose.Header, map[string]any) {
	t.Helper()
	h, c, err := verifyJWT(raw, set)
	if err != nil {
		t.Fatalf("JWT does not verify against the JWKS: %v", err)
	}
	return h, c
}

// typHeader returns the typ of a protected header.
func typHeader(h jose.Header) string {
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return typ
}

// jwtParts splits a compact JWT and decodes its header and payload without
// checking anything.
func jwtParts(t *testing.T, raw string) (header, payload map[string]any, sig string) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWT: %q", raw)
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return header, payload, parts[2]
}

func b64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// retrieveError unwraps an x/oauth2 error response.
func retrieveError(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	if err == nil {
		t.Fatal("the request succeeded; want an error response")
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error is %T (%v), want *oauth2.RetrieveError", err, err)
	}
	return re
}

// wantRetrieveError checks an x/oauth2 error's code and status.
func wantRetrieveError(t *testing.T, err error, code string, status int) {
	t.Helper()
	re := retrieveError(t, err)
	if re.ErrorCode != code || re.Response.StatusCode != status {
		t.Errorf("got %d %q (%s), want %d %q", re.Response.StatusCode, re.ErrorCode, re.Body, status, code)
	}
}

// wantOAuthError checks a raw RFC 6749 §5.2 error response.
func wantOAuthError(t *testing.T, res response, status int, code string) {
	t.Helper()
	if res.Status != status {
		t.Errorf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Errorf("error body is not JSON: %v: %s", err, res.Body)
		return
	}
	if body.Error != code {
		t.Errorf("error %q, want %q: %s", body.Error, code, res.Body)
	}
}

// wantNoStore checks the caching headers of RFC 6749 §5.1.
func wantNoStore(t *testing.T, res response) {
	t.Helper()
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store (%d %s)", got, res.Status, res.Body)
	}
	if got := res.Header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma %q, want no-cache (%d %s)", got, res.Status, res.Body)
	}
}

// numClaim reads a numeric claim as an int64.
func numClaim(t *testing.T, m map[string]any, name string) int64 {
	t.Helper()
	switch v := m[name].(type) {
	case float64:
		return int64(v)
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return n
	}
	t.Fatalf("claim %s is %T (%v), want a number", name, m[name], m[name])
	return 0
}

// audContains reports whether an aud claim (string or array) holds v.
func audContains(aud any, v string) bool {
	switch a := aud.(type) {
	case string:
		return a == v
	case []any:
		for _, x := range a {
			if x == v {
				return true
			}
		}
	}
	return false
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// baseURL is where the test reaches the server: the issuer, unless the
// test gave it one that is not this listener (instances sharing an issuer).
func baseURL(cfg config.Config, addr string) string {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == addr {
		return cfg.Issuer
	}
	return u.Scheme + "://" + addr
}

// refreshAnswer is one answer of a refresh race.
type refreshAnswer struct {
	status          int
	code            string
	access, refresh string
}

// fireRefreshes sends n refreshes with one refresh token at the same
// moment as the demo client, request i to bases[i%len(bases)], and returns
// the answers; a request that gets no answer fails the test.
func fireRefreshes(t *testing.T, client *http.Client, bases []string, refresh string, n int) []refreshAnswer {
	t.Helper()
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}.Encode()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		out   = make([]refreshAnswer, n)
	)
	for i := range n {
		req, err := http.NewRequest(http.MethodPost, bases[i%len(bases)]+"/oauth2/token", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(demoClient, demoSecret)
		wg.Go(func() {
			<-start
			res, err := client.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer res.Body.Close()
			var b struct {
				Error        string `json:"error"`
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			_ = decodeJSON(res.Body, &b)
			out[i] = refreshAnswer{status: res.StatusCode, code: b.Error, access: b.AccessToken, refresh: b.RefreshToken}
		})
	}
	close(start)
	wg.Wait()
	return out
}

// raceRefresh sends n refreshes with one refresh token at the same moment,
// request i to bases[i%len(bases)], and returns how many succeeded and
// every status. An answer other than 200 or 400 invalid_grant fails the
// test.
func raceRefresh(t *testing.T, client *http.Client, bases []string, refresh string, n int) (int, []int) {
	t.Helper()
	ok, statuses := 0, make([]int, n)
	for i, a := range fireRefreshes(t, client, bases, refresh, n) {
		statuses[i] = a.status
		switch {
		case a.status == 0: // no answer: reported by fireRefreshes
		case a.status == http.StatusOK:
			ok++
		case a.status != http.StatusBadRequest || a.code != "invalid_grant":
			t.Errorf("request %d: %d %q, want 200 or 400 invalid_grant", i, a.status, a.code)
		}
	}
	return ok, statuses
}

// awaitReady polls /readyz until it answers 200, or fails the test with
// msg once timeout has passed (a server recovering from a store outage).
func (ts *testServer) awaitReady(timeout time.Duration, msg string) {
	ts.t.Helper()
	if !eventually(timeout, func() bool { return ts.get("/readyz", "").Status == http.StatusOK }) {
		ts.t.Fatal(msg)
	}
}

// pollInterval is how often eventually checks its condition.
const pollInterval = 10 * time.Millisecond

// eventually reports whether cond holds within timeout, checking it every
// pollInterval: the tests wait for what they need to have happened, never
// for a fixed time.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
	return true
}

// waitFor waits until cond holds, or fails the test once timeout has
// passed; what names the awaited event in the failure.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !eventually(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}
