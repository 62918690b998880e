package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Scenario names, in the order they run.
const (
	scenarioBaseline          = "baseline"
	scenarioClientCredentials = "client_credentials"
	scenarioIntrospection     = "introspection"
	scenarioRefresh           = "refresh"
	scenarioPassword          = "password"
	scenarioArgon2id          = "argon2id (raw, in-process)"
)

// Servers a scenario runs against.
const (
	targetBaseline = "baseline"
	targetLatchkey = "latchkey"   // embedded default: SQLite, no Redis
	targetProd     = "production" // Postgres + Redis (tokens in Redis)
)

// prodSuffix marks the production shape's scenarios.
const prodSuffix = " [pg+redis]"

// What a scenario's req/s is compared with.
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
	// prepare returns what the workers send to srv; it may call srv.
	prepare func(ctx context.Context, t *targets, srv *server) (*loadSpec, error)
}

// loadSpec is what a scenario's workers send.
type loadSpec struct {
	url  string
	auth string
	// source returns worker i's request bodies.
	source func(ctx context.Context, i int) (bodySource, error)
}

// bodySource gives a worker its next request body and sees each response.
type bodySource interface {
	body() string
	// observe sees every response; an error counts the request as failed.
	observe(ctx context.Context, status int, resp []byte) error
}

var scenarios = []scenario{
	{name: scenarioBaseline, target: targetBaseline, prepare: prepareBaseline},
	{name: scenarioClientCredentials, target: targetLatchkey, ratioTo: ratioToBaseline, goal: 30, prepare: prepareClientCredentials},
	{name: scenarioIntrospection, target: targetLatchkey, ratioTo: ratioToBaseline, goal: 40, prepare: prepareIntrospection},
	{name: scenarioRefresh, target: targetLatchkey, ratioTo: ratioToBaseline, goal: 15, prepare: prepareRefresh},
	{name: scenarioPassword, target: targetLatchkey, ratioTo: ratioToArgon2id, goal: 80, prepare: preparePassword},
	{name: scenarioClientCredentials + prodSuffix, target: targetProd, ratioTo: ratioToBaseline, goal: 30, prepare: prepareClientCredentials},
	{name: scenarioIntrospection + prodSuffix, target: targetProd, ratioTo: ratioToBaseline, goal: 40, prepare: prepareIntrospection},
	{name: scenarioRefresh + prodSuffix, target: targetProd, ratioTo: ratioToBaseline, goal: 15, prepare: prepareRefresh},
}

func scenarioNames() string {
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.name
	}
	return strings.Join(names, ",")
}

// selectScenarios returns the scenarios named in only (all when empty), in
// their fixed order.
func selectScenarios(only string) ([]scenario, error) {
	if strings.TrimSpace(only) == "" {
		return scenarios, nil
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

func prepareBaseline(_ context.Context, t *targets, srv *server) (*loadSpec, error) {
	body := form("grant_type", "client_credentials", "scope", clientScope)
	return &loadSpec{url: srv.url + "/oauth2/token", auth: t.demoAuth(), source: fixed(body, nil)}, nil
}

func prepareClientCredentials(_ context.Context, t *targets, srv *server) (*loadSpec, error) {
	body := form("grant_type", "client_credentials", "scope", clientScope)
	return &loadSpec{url: srv.url + "/oauth2/token", auth: t.demoAuth(), source: fixed(body, nil)}, nil
}

// prepareIntrospection gets one client_credentials JWT and introspects it;
// a response that does not say active:true is an error.
func prepareIntrospection(ctx context.Context, t *targets, srv *server) (*loadSpec, error) {
	tok, err := t.token(ctx, srv, form("grant_type", "client_credentials", "scope", clientScope))
	if err != nil {
		return nil, fmt.Errorf("get a token to introspect: %w", err)
	}
	return &loadSpec{
		url: srv.url + "/oauth2/introspect", auth: t.demoAuth(),
		source: fixed(form("token", tok.AccessToken), isActive),
	}, nil
}

func isActive(resp []byte) error {
	var info struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(resp, &info); err != nil || !info.Active {
		return errors.New("introspection did not say active:true")
	}
	return nil
}

func preparePassword(_ context.Context, t *targets, srv *server) (*loadSpec, error) {
	return &loadSpec{url: srv.url + "/oauth2/token", auth: t.demoAuth(), source: fixed(t.passwordForm(), nil)}, nil
}

func (t *targets) passwordForm() string {
	return form("grant_type", "password", "username", adminUser, "password", t.adminPass, "scope", userScope)
}

// prepareRefresh gives every worker its own refresh chain, started by a
// password grant.
func prepareRefresh(_ context.Context, t *targets, srv *server) (*loadSpec, error) {
	return &loadSpec{
		url: srv.url + "/oauth2/token", auth: t.demoAuth(),
		source: func(ctx context.Context, _ int) (bodySource, error) {
			c := &refreshChain{t: t, srv: srv}
			return c, c.reseed(ctx)
		},
	}, nil
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

// fixedBody sends the same body every time.
type fixedBody struct {
	form  string
	check func([]byte) error
}

func fixed(body string, check func([]byte) error) func(context.Context, int) (bodySource, error) {
	src := fixedBody{form: body, check: check}
	return func(context.Context, int) (bodySource, error) { return src, nil }
}

func (f fixedBody) body() string { return f.form }

func (f fixedBody) observe(_ context.Context, status int, resp []byte) error {
	if status/100 != 2 || f.check == nil {
		return nil
	}
	return f.check(resp)
}

// refreshChain refreshes with the newest refresh token of each response;
// tokens rotate on every use, so none is sent twice. A failed refresh
// starts a new chain with a password grant.
type refreshChain struct {
	t     *targets
	srv   *server
	token string
}

func (c *refreshChain) body() string {
	return "grant_type=refresh_token&refresh_token=" + url.QueryEscape(c.token)
}

func (c *refreshChain) observe(ctx context.Context, status int, resp []byte) error {
	if status/100 == 2 {
		var tr tokenResponse
		if err := json.Unmarshal(resp, &tr); err == nil && tr.RefreshToken != "" {
			c.token = tr.RefreshToken
			return nil
		}
	}
	if err := c.reseed(ctx); err != nil {
		return fmt.Errorf("restart the refresh chain: %w", err)
	}
	if status/100 == 2 {
		return errors.New("refresh response without a refresh_token")
	}
	return nil
}

func (c *refreshChain) reseed(ctx context.Context) error {
	tr, err := c.t.token(ctx, c.srv, c.t.passwordForm())
	if err != nil {
		return err
	}
	if tr.RefreshToken == "" {
		return errors.New("password grant returned no refresh_token")
	}
	c.token = tr.RefreshToken
	return nil
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// setupClient makes the requests outside the measured loop.
var setupClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4},
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
