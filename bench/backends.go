package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The backend scenarios (docs/backends.md): a personal access token at
// introspection on the embedded default; and, on a latchkey configured with
// a webhook and an opaque backend, a cached upstream introspection (the
// upstream is the embedded default) and a password login that the webhook
// (examples/webhook) answers.
const (
	scenarioPATIntrospection      = "introspection (personal access token)"
	scenarioUpstreamIntrospection = "introspection (upstream token cached)"
	scenarioWebhookLogin          = "password (webhook)"
	scenarioIDTokenExchange       = "token exchange (ID token)"
	scenarioCIMDAuthorize         = "authorize (client metadata document cached)"

	targetBackends = "latchkey-backends"
	webhookSecret  = "the bench webhook secret, 32 bytes or more"
)

var backendScenarios = []scenario{
	{name: scenarioPATIntrospection, target: targetLatchkey, ratioTo: ratioToBaseline, goal: 40, prepare: preparePATIntrospection},
	{name: scenarioUpstreamIntrospection, target: targetBackends, ratioTo: ratioToBaseline, prepare: prepareUpstreamIntrospection},
	{name: scenarioWebhookLogin, target: targetBackends, ratioTo: ratioToBaseline, prepare: prepareWebhookLogin},
	{name: scenarioIDTokenExchange, target: targetBackends, ratioTo: ratioToBaseline, prepare: prepareIDTokenExchange},
	{name: scenarioCIMDAuthorize, target: targetBackends, ratioTo: ratioToBaseline, prepare: prepareCIMDAuthorize},
}

// prepareCIMDAuthorize signs the admin in at the backends target and sends
// authorization requests whose client_id is the URL of a Client ID
// Metadata Document (docs/client-id-metadata.md): after the first the
// document comes from the cache; each request is checked, kept, and
// answered 302 to the consent page (metadata-document clients are asked
// every time).
func prepareCIMDAuthorize(ctx context.Context, t *targets, srv *server, _ string) (*loadSpec, error) {
	cookie, err := t.browserSignIn(ctx, srv)
	if err != nil {
		return nil, err
	}
	path := "/oauth2/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {t.cimdDoc}, "redirect_uri": {codeRedirect}, "scope": {"openid"},
		"state": {"bench"}, "code_challenge": {codeChallenge()}, "code_challenge_method": {"S256"},
	}.Encode()
	return &loadSpec{path: path, script: "get.lua", env: []string{
		"BENCH_COOKIE=latchkey_session=" + cookie, "BENCH_EXPECT_LOCATION=/consent?",
	}}, nil
}

// serveCIMDDocument serves, from the bench itself, the metadata document
// of a public client whose client_id is the document's URL.
func (t *targets) serveCIMDDocument() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	t.cimdDoc = "http://" + ln.Addr().String() + "/oauth/agent.json"
	doc, err := json.Marshal(map[string]any{
		"client_id": t.cimdDoc, "client_name": "Bench agent", "redirect_uris": []string{codeRedirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code"}, "response_types": []string{"code"},
	})
	if err != nil {
		return err
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "max-age=3600")
			_, _ = w.Write(doc)
		}))
	}()
	return nil
}

// prepareIDTokenExchange gets an ID token from the embedded default (an
// OpenID provider to the backends target's oidc backend "upstream-id") and
// trades it for tokens at the backends target over and over: each request
// verifies the ID token (the upstream's JWKS cached) and finds the linked
// account.
func prepareIDTokenExchange(ctx context.Context, t *targets, _ *server, _ string) (*loadSpec, error) {
	up := t.servers[targetLatchkey]
	tok, err := t.token(ctx, up, form("grant_type", "password", "username", adminUser, "password", t.adminPass, "scope", "openid profile email"))
	if err != nil || tok.IDToken == "" {
		return nil, fmt.Errorf("get an upstream ID token: %v", err)
	}
	return t.post("/oauth2/token", form("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange",
		"subject_token", tok.IDToken, "subject_token_type", "urn:ietf:params:oauth:token-type:id_token", "scope", "profile"),
		`"issued_token_type"`), nil
}

// preparePATIntrospection makes a personal access token through the user
// API and introspects it over and over.
func preparePATIntrospection(ctx context.Context, t *targets, srv *server, _ string) (*loadSpec, error) {
	var pair struct{ Access string }
	if err := postJSON(ctx, srv.url+"/auth/jwt/create/", "", map[string]any{"username": adminUser, "password": t.adminPass}, &pair); err != nil {
		return nil, fmt.Errorf("log in to make a personal access token: %w", err)
	}
	var pat struct{ Token string }
	if err := postJSON(ctx, srv.url+"/auth/users/me/tokens/", "Bearer "+pair.Access, map[string]any{"name": "bench", "scope": "profile email"}, &pat); err != nil {
		return nil, fmt.Errorf("make a personal access token: %w", err)
	}
	return t.post("/oauth2/introspect", form("token", pat.Token), activeTrue), nil
}

// prepareUpstreamIntrospection introspects, at the backends target, a token
// of its upstream (the embedded default): after the first request the
// opaque backend's cache answers.
func prepareUpstreamIntrospection(ctx context.Context, t *targets, _ *server, _ string) (*loadSpec, error) {
	up := t.servers[targetLatchkey]
	tok, err := t.token(ctx, up, form("grant_type", "client_credentials", "scope", clientScope))
	if err != nil {
		return nil, fmt.Errorf("get an upstream token: %w", err)
	}
	return t.post("/oauth2/introspect", form("token", tok.AccessToken), activeTrue), nil
}

// prepareWebhookLogin logs in a user the webhook (first in the chain)
// knows: a signed call to examples/webhook, then the tokens.
func prepareWebhookLogin(_ context.Context, t *targets, _ *server, _ string) (*loadSpec, error) {
	return t.post("/oauth2/token", form("grant_type", "password", "username", "demo", "password", "demo password", "scope", "profile"), ""), nil
}

// startBackendsTarget starts examples/webhook and a latchkey whose backends
// are the webhook, local and an opaque backend over the embedded default.
func (t *targets) startBackendsTarget(ctx context.Context, bin, tmp string) error {
	up := t.servers[targetLatchkey]
	if up == nil {
		return fmt.Errorf("%s needs the %s target as its upstream", targetBackends, targetLatchkey)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	hookBin := filepath.Join(tmp, "webhook")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", hookBin, "./examples/webhook")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./examples/webhook: %w\n%s", err, msg)
	}
	hookAddr, err := freeAddr()
	if err != nil {
		return err
	}
	hook, err := startProc("webhook", hookBin, nil, append(os.Environ(), "WEBHOOK_LISTEN="+hookAddr, "WEBHOOK_SECRET="+webhookSecret), filepath.Join(tmp, "webhook.log"))
	if err != nil {
		return err
	}
	t.servers["webhook"] = &server{name: "webhook", proc: hook, url: "http://" + hookAddr}
	if err := waitListening(ctx, hookAddr, hook); err != nil {
		return err
	}
	if err := t.serveCIMDDocument(); err != nil {
		return fmt.Errorf("serve the metadata document: %w", err)
	}
	// The upstream's issuer as its discovery says it, for the oidc backend.
	var disco struct{ Issuer string }
	if err := getJSON(ctx, up.url+"/.well-known/openid-configuration", &disco); err != nil {
		return fmt.Errorf("upstream discovery: %w", err)
	}
	// The webhook first: the row measures its path, not a local argon2id
	// check of a login the local backend does not know.
	cfg := fmt.Sprintf(`backends:
  - id: bridge
    type: webhook
    config: {url: "http://%s/", secret: %q, timeout: 2s}
  - id: local
    type: local
  - id: upstream
    type: opaque
    config: {introspection_url: "%s/oauth2/introspect", client_id: %q, client_secret: %q, cache_ttl: 5m}
  - id: upstream-id
    type: oidc
    config: {issuer: %q, client_id: %q, provision: true}
oauth2:
  client_id_metadata_documents: {enabled: true, allow_private_addresses: true}
`, hookAddr, webhookSecret, up.url, demoID, t.clientSecret, disco.Issuer, demoID)
	file := filepath.Join(tmp, "backends.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		return err
	}
	env := []string{"LATCHKEY_CONFIG=" + file, "LATCHKEY_DATA_DIR=" + filepath.Join(tmp, "data-backends"), "LATCHKEY_LOG__LEVEL=info"}
	return t.startLatchkey(ctx, targetBackends, bin, tmp, env)
}

// waitListening waits until addr accepts connections.
func waitListening(ctx context.Context, addr string, p *proc) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited before it listened (%v):\n%s", p.name, p.err, p.logTail())
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not listening after 60s", p.name)
}

// postJSON posts body as JSON and decodes a 2xx answer into out.
func postJSON(ctx context.Context, url, auth string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := setupClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(answer)))
	}
	return json.Unmarshal(answer, out)
}

// getJSON fetches url and decodes a 2xx answer into out.
func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := setupClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
