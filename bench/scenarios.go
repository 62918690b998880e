package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Scenario names (without their target's suffix).
const (
	scenarioBaseline = "baseline"
	// scenarioBaselineAgain runs last whenever baseline is selected.
	scenarioBaselineAgain = "baseline (again)"
	// The reference rows' names have no comma: -only splits on them.
	scenarioVerifyReference   = "ES256 verify (bare Gin: the cold tokens)"
	scenarioSignReference     = "ES256 sign (bare Gin: a token per request)"
	scenarioClientCredentials = "client_credentials"
	scenarioIntrospection     = "introspection (cache warm)"
	scenarioIntrospectionCold = "introspection (cache cold)"
	scenarioRefresh           = "refresh"
	scenarioCode              = "code"
	scenarioPassword          = "password"
	scenarioArgon2id          = "argon2id (raw, in-process)"
)

// Servers a scenario runs against.
const (
	targetBaseline = "baseline"
	targetLatchkey = "latchkey"      // embedded default: SQLite, no Redis, log level info
	targetWarn     = "latchkey-warn" // the same at log level warn
	targetProd     = "production"    // Postgres + Redis (tokens in Redis), log level info
)

// Suffixes of the scenarios of the other targets.
const (
	warnSuffix = " [warn]"
	prodSuffix = " [pg+redis]"
)

// What a scenario's req/s is compared with: the baseline, the raw argon2id
// rate, or (production shape) the same scenario on the embedded default.
const (
	ratioToBaseline = "baseline"
	ratioToArgon2id = "argon2id"
)

// Scopes asked for: the client's own, and a user session with refresh.
const (
	clientScope = "profile email"
	userScope   = "openid profile email offline_access"
)

// scenario is one measured load.
type scenario struct {
	name    string
	target  string
	ratioTo string
	// goal is the minimum ratio, in percent; 0 means none.
	goal float64
	// reference marks a row that only gives another a yardstick: its ratio
	// is printed, with no verdict.
	reference bool
	// tokensFrom is the target whose tokens the scenario sends, when that
	// is not its own target.
	tokensFrom string
	// prepare returns what wrk sends to srv in a phase ("warmup" or
	// "measure"); it may call srv.
	prepare func(ctx context.Context, t *targets, srv *server, phase string) (*loadSpec, error)
}

// loadSpec is what wrk sends: a script of bench/wrk and its environment.
type loadSpec struct {
	path   string
	script string // post.lua, tokens.lua or code.lua
	env    []string
}

// embedded are the scenarios of the embedded default, run at log level
// info (the default) and again at warn.
var embedded = []scenario{
	{name: scenarioClientCredentials, ratioTo: ratioToBaseline, goal: 40, prepare: prepareClientCredentials},
	{name: scenarioIntrospection, ratioTo: ratioToBaseline, goal: 60, prepare: prepareIntrospection},
	{name: scenarioIntrospectionCold, ratioTo: ratioToBaseline, goal: 40, prepare: prepareIntrospectionCold},
	{name: scenarioRefresh, ratioTo: ratioToBaseline, goal: 15, prepare: prepareRefresh},
	// No target yet: measured beside the baseline (issue 14).
	{name: scenarioCode, ratioTo: ratioToBaseline, prepare: prepareCode},
	// No target: measured beside the baseline (issue 16).
	{name: scenarioDevicePoll, ratioTo: ratioToBaseline, prepare: prepareDevicePoll},
}

var scenarios = buildScenarios()

func buildScenarios() []scenario {
	out := []scenario{{name: scenarioBaseline, target: targetBaseline, prepare: prepareBaseline}}
	for _, sc := range embedded {
		sc.target = targetLatchkey
		out = append(out, sc)
		if sc.name == scenarioClientCredentials {
			out = append(out, scenario{
				name: scenarioSignReference, target: targetBaseline,
				ratioTo: ratioToBaseline, reference: true, prepare: prepareSignReference,
			})
		}
		if sc.name == scenarioIntrospectionCold {
			out = append(out, scenario{
				name: scenarioVerifyReference, target: targetBaseline, tokensFrom: targetLatchkey,
				ratioTo: ratioToBaseline, reference: true, prepare: prepareVerifyReference,
			})
		}
	}
	out = append(out, scenario{name: scenarioPassword, target: targetLatchkey, ratioTo: ratioToArgon2id, goal: 85, prepare: preparePassword})
	out = append(out, backendScenarios...)
	for _, sc := range embedded {
		sc.name, sc.target = sc.name+warnSuffix, targetWarn
		out = append(out, sc)
	}
	for _, sc := range embedded {
		// Compared with the same scenario on the embedded default.
		sc.ratioTo, sc.goal = sc.name, 80
		sc.name, sc.target = sc.name+prodSuffix, targetProd
		out = append(out, sc)
	}
	return out
}

func scenarioNames() string {
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.name
	}
	return strings.Join(names, ",")
}

// baselineAgain measures the baseline a second time, after every other
// scenario: the ratios use the mean of both runs.
var baselineAgain = scenario{name: scenarioBaselineAgain, target: targetBaseline, prepare: prepareBaseline}

// selectScenarios returns the scenarios named in only (all when empty), in
// their fixed order, and the baseline again at the end when it is one.
func selectScenarios(only string) ([]scenario, error) {
	out, err := selectNamed(only)
	if err != nil {
		return nil, err
	}
	if selectedName(out, scenarioBaseline) {
		out = append(out, baselineAgain)
	}
	return out, nil
}

func selectNamed(only string) ([]scenario, error) {
	if strings.TrimSpace(only) == "" {
		return append([]scenario(nil), scenarios...), nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		want[strings.TrimSpace(name)] = true
	}
	var out []scenario
	for _, sc := range scenarios {
		if want[sc.name] {
			out = append(out, sc)
			delete(want, sc.name)
		}
	}
	for name := range want {
		return nil, fmt.Errorf("-only: unknown scenario %q (have %s)", name, scenarioNames())
	}
	return out, nil
}

// shape returns the connections and duration of a scenario.
func (sc scenario) shape(opts options) (int, time.Duration) {
	if sc.name == scenarioPassword {
		return opts.pwConns, opts.pwDuration
	}
	return opts.conns, opts.duration
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func (t *targets) demoAuth() string { return basicAuth(demoID, t.clientSecret) }

// post is a fixed POST of body as the demo client; a 2xx body must hold
// expect when it is not empty.
func (t *targets) post(path, body, expect string) *loadSpec {
	return &loadSpec{path: path, script: "post.lua", env: []string{
		"BENCH_BODY=" + body, "BENCH_AUTH=" + t.demoAuth(), "BENCH_EXPECT=" + expect,
	}}
}

const activeTrue = `"active":true`

func prepareBaseline(_ context.Context, t *targets, _ *server, _ string) (*loadSpec, error) {
	return t.post("/oauth2/token", form("grant_type", "client_credentials", "scope", clientScope), ""), nil
}

func prepareClientCredentials(_ context.Context, t *targets, _ *server, _ string) (*loadSpec, error) {
	return t.post("/oauth2/token", form("grant_type", "client_credentials", "scope", clientScope), ""), nil
}

// prepareSignReference sends the client_credentials request to the
// baseline's sign route, which answers each with a freshly signed ES256
// access token.
func prepareSignReference(_ context.Context, t *targets, _ *server, _ string) (*loadSpec, error) {
	return t.post("/sign", form("grant_type", "client_credentials", "scope", clientScope), `"access_token"`), nil
}

// prepareIntrospection introspects one client_credentials JWT over and
// over: after the first request it is in the verified-token cache.
func prepareIntrospection(ctx context.Context, t *targets, srv *server, _ string) (*loadSpec, error) {
	tok, err := t.token(ctx, srv, form("grant_type", "client_credentials", "scope", clientScope))
	if err != nil {
		return nil, fmt.Errorf("get a token to introspect: %w", err)
	}
	return t.post("/oauth2/introspect", form("token", tok.AccessToken), activeTrue), nil
}

// prepareIntrospectionCold introspects a pool of tokens larger than the
// server's verified-token cache, in a cycle: every lookup misses.
func prepareIntrospectionCold(ctx context.Context, t *targets, srv *server, phase string) (*loadSpec, error) {
	file, err := t.coldPool(ctx, srv)
	if err != nil {
		return nil, err
	}
	// The warmup starts half-way through each thread's slice: the tokens it
	// leaves in the cache come last, not first, in the measured run.
	offset := 0
	if phase == "warmup" {
		offset = t.opts.coldTokens / max(1, min(t.opts.threads, t.opts.conns)) / 2
	}
	return &loadSpec{path: "/oauth2/introspect", script: "tokens.lua", env: []string{
		"BENCH_MODE=introspect", "BENCH_TOKENS=" + file, "BENCH_AUTH=" + t.demoAuth(), "BENCH_EXPECT=" + activeTrue,
		fmt.Sprintf("BENCH_OFFSET=%d", offset),
	}}, nil
}

// prepareVerifyReference sends the cold-cache introspection's tokens (the
// same file, script and offsets) to the baseline's verify route, which
// only checks each signature with the embedded default's keys.
func prepareVerifyReference(ctx context.Context, t *targets, _ *server, phase string) (*loadSpec, error) {
	lk := t.servers[targetLatchkey]
	if lk == nil {
		return nil, fmt.Errorf("no %s server to issue the tokens", targetLatchkey)
	}
	spec, err := prepareIntrospectionCold(ctx, t, lk, phase)
	if err != nil {
		return nil, err
	}
	spec.path = "/verify"
	return spec, nil
}

func preparePassword(_ context.Context, t *targets, _ *server, _ string) (*loadSpec, error) {
	return t.post("/oauth2/token", t.passwordForm(), ""), nil
}

func (t *targets) passwordForm() string {
	return form("grant_type", "password", "username", adminUser, "password", t.adminPass, "scope", userScope)
}

// prepareRefresh starts refresh chains with password grants, a fresh set
// for each phase, and writes their first tokens to a file that the wrk
// threads share out (bench/wrk/tokens.lua): no token is sent twice.
func prepareRefresh(ctx context.Context, t *targets, srv *server, phase string) (*loadSpec, error) {
	n := t.opts.conns * 3 / 2
	toks := make([]string, n)
	err := forEach(n, 4, func(i int) error {
		tr, err := t.token(ctx, srv, t.passwordForm())
		if err != nil {
			return err
		}
		if tr.RefreshToken == "" {
			return fmt.Errorf("password grant returned no refresh_token")
		}
		toks[i] = tr.RefreshToken
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("start refresh chains: %w", err)
	}
	file := filepath.Join(t.tmp, fmt.Sprintf("refresh-%s-%s.txt", srv.name, phase))
	if err := os.WriteFile(file, []byte(strings.Join(toks, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	return &loadSpec{path: "/oauth2/token", script: "tokens.lua", env: []string{
		"BENCH_MODE=refresh", "BENCH_TOKENS=" + file, "BENCH_AUTH=" + t.demoAuth(),
	}}, nil
}

// coldPool issues opts.coldTokens access tokens once per server and
// writes them to a file.
func (t *targets) coldPool(ctx context.Context, srv *server) (string, error) {
	file := filepath.Join(t.tmp, "cold-"+srv.name+".txt")
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	n := t.opts.coldTokens
	logf("%s: issuing %d access tokens for the cold-cache introspection", srv.name, n)
	toks := make([]string, n)
	body := form("grant_type", "client_credentials", "scope", clientScope)
	const par = 8
	err := forEach(par, par, func(w int) error {
		for i := w; i < n; i += par {
			tr, err := t.token(ctx, srv, body)
			if err != nil {
				return err
			}
			toks[i] = tr.AccessToken
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("issue tokens to introspect: %w", err)
	}
	return file, os.WriteFile(file, []byte(strings.Join(toks, "\n")+"\n"), 0o600)
}

// forEach runs fn(0..n-1) with at most par at once and returns the first error.
func forEach(n, par int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, par)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// form encodes key, value pairs as a form body, in order.
func form(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// setupClient makes the requests outside the measured runs.
var setupClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
}

// token posts a token request as the demo client.
func (t *targets) token(ctx context.Context, srv *server, body string) (tokenResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.url+"/oauth2/token", strings.NewReader(body))
	if err != nil {
		return tokenResponse{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", t.demoAuth())
	resp, err := setupClient.Do(req)
	if err != nil {
		return tokenResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokenResponse{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return tokenResponse{}, fmt.Errorf("token endpoint: %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return tokenResponse{}, fmt.Errorf("token response: %w", err)
	}
	return tr, nil
}

// runScenario prepares a scenario, warms it up and measures it with wrk.
func runScenario(ctx context.Context, opts options, t *targets, sc scenario) (result, error) {
	conns, duration := sc.shape(opts)
	srv := t.servers[sc.target]
	if srv == nil {
		return result{}, fmt.Errorf("no %s server", sc.target)
	}
	logf("%s: wrk -t%d -c%d, %s warmup + %s", sc.name, min(opts.threads, conns), conns, opts.warmup, duration)
	if opts.warmup > 0 {
		warm, err := sc.prepare(ctx, t, srv, "warmup")
		if err != nil {
			return result{}, err
		}
		if _, err := runWrk(ctx, opts, conns, opts.warmup, filepath.Join(t.scripts, warm.script), srv.url+warm.path, warm.env); err != nil {
			return result{}, err
		}
	}
	spec, err := sc.prepare(ctx, t, srv, "measure")
	if err != nil {
		return result{}, err
	}
	if sc.name == scenarioPassword {
		// The peak RSS from here on is the password flood's.
		resetPeakRSS(srv.pid())
	}
	before := scrape(ctx, srv.url)
	cpuBefore, cpuOK := procCPU(srv.pid())
	run, err := runWrk(ctx, opts, conns, duration, filepath.Join(t.scripts, spec.script), srv.url+spec.path, spec.env)
	if err != nil {
		return result{}, err
	}
	cpuAfter, cpuOK2 := procCPU(srv.pid())
	after := scrape(ctx, srv.url)
	res := run.toResult(sc.name, conns)
	if cpuOK && cpuOK2 && res.Requests > 0 {
		v := float64((cpuAfter - cpuBefore).Microseconds()) / float64(res.Requests)
		res.ServerCPUus = &v
	}
	if res.Requests > 0 && sc.target == targetProd {
		if v, ok := after.delta(before, redisRoundTripsMetric, ""); ok {
			v /= float64(res.Requests)
			res.RedisRT = &v
		}
	}
	if strings.HasPrefix(sc.name, "introspection") {
		hits, ok1 := after.delta(before, cacheMetric, `result="hit"`)
		misses, ok2 := after.delta(before, cacheMetric, `result="miss"`)
		if ok1 && ok2 && hits+misses > 0 {
			v := 100 * hits / (hits + misses)
			res.CacheHitPct = &v
		}
	}
	if sc.name == scenarioPassword {
		if v, ok := peakRSS(srv.pid()); ok {
			res.PeakRSSMiB = &v
		}
	}
	return res, nil
}
