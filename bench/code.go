package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The code scenario: a browser already signed in at latchkey signs in to
// an application (the demo client) — GET /oauth2/authorize with the login
// session's cookie, answered with a code, then the token request that
// redeems it (bench/wrk/code.lua).
const (
	// codeRedirect is a loopback redirect URI the demo client accepts
	// (http://127.0.0.1/callback, any port: RFC 8252).
	codeRedirect = "http://127.0.0.1:9/callback"
	// codeScope is a web app's sign-in (examples/webapp): an ID token and
	// an access token, no refresh token.
	codeScope = "openid profile email"
	// codeVerifier is the PKCE verifier of every request (RFC 7636: 43 to
	// 128 characters); the server checks the S256 challenge every time.
	codeVerifier = "bench-code-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
	// codeSessions bounds the login sessions the load cycles through.
	codeSessions = 16
)

func codeChallenge() string {
	sum := sha256.Sum256([]byte(codeVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizePath is the path and query of the scenario's authorization request.
func authorizePath() string {
	return "/oauth2/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {demoID}, "redirect_uri": {codeRedirect}, "scope": {codeScope},
		"state": {"bench"}, "nonce": {"bench"}, "code_challenge": {codeChallenge()}, "code_challenge_method": {"S256"},
	}.Encode()
}

func codeTokenBody() string {
	return form("grant_type", "authorization_code", "redirect_uri", codeRedirect, "code_verifier", codeVerifier)
}

// prepareCode signs the admin in through the hosted pages codeSessions
// times (once per server; the first sign-in also allows the demo client on
// the consent page, when it asks) and hands the session cookies to
// bench/wrk/code.lua.
func prepareCode(ctx context.Context, t *targets, srv *server, _ string) (*loadSpec, error) {
	file := filepath.Join(t.tmp, "sessions-"+srv.name+".txt")
	if _, err := os.Stat(file); err != nil {
		n := max(codeSessions, min(t.opts.threads, t.opts.conns))
		logf("%s: signing in %d browser sessions for the code scenario", srv.name, n)
		cookies := make([]string, n)
		var err error
		if cookies[0], err = t.browserSignIn(ctx, srv); err != nil { // the consent, once
			return nil, err
		}
		err = forEach(n-1, 4, func(i int) error {
			c, err := t.browserSignIn(ctx, srv)
			cookies[i+1] = c
			return err
		})
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(file, []byte(strings.Join(cookies, "\n")+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	return &loadSpec{path: "/", script: "code.lua", env: []string{
		"BENCH_AUTHORIZE=" + authorizePath(), "BENCH_COOKIES=" + file,
		"BENCH_BODY=" + codeTokenBody(), "BENCH_AUTH=" + t.demoAuth(),
	}}, nil
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// browserSignIn goes through the code flow as a browser without
// JavaScript: authorize, the login page, the consent page when it comes,
// and the code's exchange, which must give an access token. It returns
// the login session's cookie.
func (t *targets) browserSignIn(ctx context.Context, srv *server) (string, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{Jar: jar, Timeout: setupClient.Timeout, Transport: setupClient.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base, err := url.Parse(srv.url)
	if err != nil {
		return "", err
	}
	send := func(method, ref string, body url.Values) (*http.Response, string, error) {
		u, err := base.Parse(ref)
		if err != nil {
			return nil, "", err
		}
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(body.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
		if err != nil {
			return nil, "", err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		return resp, string(raw), err
	}
	// A page's form: its hidden fields plus fields, posted to its path.
	submit := func(page, body string, fields url.Values) (*http.Response, error) {
		form := url.Values{}
		for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
			form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		for k, v := range fields {
			form[k] = v
		}
		resp, _, err := send(http.MethodPost, page, form)
		return resp, err
	}

	resp, _, err := send(http.MethodGet, authorizePath(), nil)
	if err != nil {
		return "", fmt.Errorf("sign in: authorize: %w", err)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/login?") {
		return "", fmt.Errorf("sign in: authorize answered %s to %q, want the login page", resp.Status, loc)
	}
	_, page, err := send(http.MethodGet, loc, nil)
	if err != nil {
		return "", fmt.Errorf("sign in: login page: %w", err)
	}
	resp, err = submit("/login", page, url.Values{"username": {adminUser}, "password": {t.adminPass}})
	if err != nil {
		return "", fmt.Errorf("sign in: login: %w", err)
	}
	loc = resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/consent?") {
		if _, page, err = send(http.MethodGet, loc, nil); err != nil {
			return "", fmt.Errorf("sign in: consent page: %w", err)
		}
		if resp, err = submit("/consent", page, url.Values{"decision": {"allow"}}); err != nil {
			return "", fmt.Errorf("sign in: consent: %w", err)
		}
		loc = resp.Header.Get("Location")
	}
	to, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, codeRedirect+"?") || to.Query().Get("code") == "" {
		return "", fmt.Errorf("sign in: answered %s to %q, want a code for %s", resp.Status, loc, codeRedirect)
	}
	if _, err := t.token(ctx, srv, codeTokenBody()+"&"+form("code", to.Query().Get("code"))); err != nil {
		return "", fmt.Errorf("sign in: redeem the code: %w", err)
	}
	for _, ck := range jar.Cookies(base) {
		if ck.Name == "latchkey_session" {
			return ck.Value, nil
		}
	}
	return "", errors.New("sign in: no latchkey_session cookie")
}
