package server_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers/pages/pagestest"
	"github.com/latchkey-auth/latchkey/provider"
)

// userCodeShape is RFC 8628 §6.1's recommended user code, as shown.
var userCodeShape = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// deviceAuth asks for a device code with a raw request.
func (ts *testServer) deviceAuth(t *testing.T, clientID, scope string) (deviceCode, userCode string) {
	t.Helper()
	res := ts.postForm("/oauth2/device_authorization", url.Values{"client_id": {clientID}, "scope": {scope}}, "", "")
	if res.Status != http.StatusOK {
		t.Fatalf("device authorization: %s", res)
	}
	wantNoStore(t, res)
	m := res.json(t)
	return fmt.Sprint(m["device_code"]), fmt.Sprint(m["user_code"])
}

// pollDevice is one raw poll of the device grant.
func (ts *testServer) pollDevice(clientID, deviceCode string) response {
	ts.t.Helper()
	return ts.postForm("/oauth2/token", url.Values{
		"grant_type": {provider.GrantDeviceCode}, "client_id": {clientID}, "device_code": {deviceCode},
	}, "", "")
}

// The device authorization grant end to end (RFC 8628): a polling client
// built on x/oauth2's DeviceAuth and DeviceAccessToken gets tokens once a
// user approves on the hosted /device page in a real browser; the RFC's
// answers while it waits (authorization_pending, slow_down with a growing
// interval, access_denied, expired_token); a user code guessed by brute
// force is throttled; clients that may not use the grant are refused. The
// server's clock stands still unless a test moves it, so "too fast" and
// "expired" do not depend on how fast this machine is.
func TestDeviceFlow(t *testing.T) {
	ts := startServer(t, nil)
	b := pagestest.NewBrowser(t)
	const pw = "correct-horse-42"
	alice := ts.createUser("alice", pw, false)
	admin := ts.adminToken()
	ts.createClient(admin, map[string]any{
		"client_id": "tv", "client_name": "Living Room TV", "token_endpoint_auth_method": "none",
		"grant_types": []string{provider.GrantDeviceCode, provider.GrantRefreshToken},
		"scope":       "openid profile offline_access",
	})
	conf := &oauth2.Config{
		ClientID: "tv", Scopes: []string{"openid", "profile", "offline_access"},
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: ts.URL + "/oauth2/device_authorization", TokenURL: ts.URL + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}

	t.Run("discovery lists the endpoint and the grant", func(t *testing.T) {
		m := ts.get("/.well-known/openid-configuration", "").json(t)
		if m["device_authorization_endpoint"] != ts.URL+"/oauth2/device_authorization" {
			t.Errorf("device_authorization_endpoint %v", m["device_authorization_endpoint"])
		}
		if !strings.Contains(fmt.Sprint(m["grant_types_supported"]), provider.GrantDeviceCode) {
			t.Errorf("grant_types_supported %v", m["grant_types_supported"])
		}
	})

	t.Run("a polling client gets tokens once the user approves in a browser", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		if !strings.HasPrefix(da.DeviceCode, "lk_dc_") || !userCodeShape.MatchString(da.UserCode) {
			t.Fatalf("device code %q, user code %q", da.DeviceCode, da.UserCode)
		}
		if da.VerificationURI != ts.URL+"/device" || da.VerificationURIComplete != ts.URL+"/device?user_code="+da.UserCode || da.Interval != 5 {
			t.Fatalf("verification_uri %q, complete %q, interval %d", da.VerificationURI, da.VerificationURIComplete, da.Interval)
		}
		if left := time.Until(da.Expiry); left < 9*time.Minute || left > 10*time.Minute {
			t.Fatalf("the code expires in %v, want 10 minutes", left)
		}
		wantOAuthError(t, ts.pollDevice("tv", da.DeviceCode), http.StatusBadRequest, "authorization_pending")

		b := b.With(t)
		res := b.Response(chromedp.Navigate(da.VerificationURIComplete))
		if !strings.HasPrefix(res.URL, ts.URL+"/login?next=") {
			t.Fatalf("without a session the device page sent the browser to %s, want the login page", res.URL)
		}
		b.Fill(`input[name=username]`, "alice")
		b.Fill(`input[name=password]`, pw)
		res = b.Submit(`button[type=submit]`)
		if res.URL != da.VerificationURIComplete || res.Status != http.StatusOK {
			t.Fatalf("after login the browser is at %s (%d), want %s", res.URL, res.Status, da.VerificationURIComplete)
		}
		wantPageHeaders(t, "device page", browserHeaders(res))
		b.Screenshots("device-code")
		// Nothing is approved by following a link: the user confirms.
		wantOAuthError(t, ts.pollDevice("tv", da.DeviceCode), http.StatusBadRequest, "slow_down")
		ts.Clock.Advance(10 * time.Second)

		res = b.Submit(`button[type=submit]`)
		if res.Status != http.StatusOK {
			t.Fatalf("the code's confirmation page: %d", res.Status)
		}
		if got := b.Text("h1"); !strings.Contains(got, "Living Room TV") {
			t.Errorf("the confirmation page does not name the client: %q", got)
		}
		if got := b.Text(".user-code"); got != da.UserCode {
			t.Errorf("the confirmation page shows the code %q, want %q", got, da.UserCode)
		}
		if got := b.Text(`li[data-scope="profile"]`); !strings.Contains(got, "name") {
			t.Errorf("the profile scope in words: %q", got)
		}
		b.Screenshots("device-confirm")
		res = b.Submit(`button[name=decision][value=allow]`)
		if res.Status != http.StatusOK || b.Text("#device-result") != "Device connected" {
			t.Fatalf("after allow: %d %q", res.Status, b.Text("#device-result"))
		}
		b.Screenshots("device-done")

		tok, err := conf.DeviceAccessToken(ctx, da)
		if err != nil {
			t.Fatalf("DeviceAccessToken: %v", err)
		}
		if tok.RefreshToken == "" || tok.Extra("id_token") == nil || tok.Extra("scope") != "openid profile offline_access" {
			t.Errorf("token response: refresh %t, id_token %v, scope %v", tok.RefreshToken != "", tok.Extra("id_token") != nil, tok.Extra("scope"))
		}
		active, claims := ts.introspectActive(tok.AccessToken)
		if !active || claims["sub"] != fmt.Sprint(alice.ID) || claims["client_id"] != "tv" {
			t.Errorf("introspection: active %t, %v", active, claims)
		}
		_, idClaims := mustVerifyJWT(t, tok.Extra("id_token").(string), ts.jwks())
		if idClaims["sub"] != fmt.Sprint(alice.ID) || idClaims["aud"] != "tv" || idClaims["sid"] == nil {
			t.Errorf("id token claims %v", idClaims)
		}
		// The approval is redeemed once.
		wantOAuthError(t, ts.pollDevice("tv", da.DeviceCode), http.StatusBadRequest, "invalid_grant")
		// The refresh token works like any other.
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
			t.Errorf("refresh: %v", err)
		}
		// The code cannot be decided again.
		b.Response(chromedp.Navigate(da.VerificationURIComplete))
		res = b.Submit(`button[type=submit]`)
		if res.Status != http.StatusBadRequest || !strings.Contains(b.Text("#code-error"), "already used") {
			t.Errorf("a used code on the page: %d %q", res.Status, b.Text("#code-error"))
		}
	})

	t.Run("polling faster than the interval is slow_down, and the interval grows by 5 s", func(t *testing.T) {
		code, _ := ts.deviceAuth(t, "tv", "openid")
		wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "authorization_pending")
		res := ts.pollDevice("tv", code)
		wantOAuthError(t, res, http.StatusBadRequest, "slow_down")
		wantNoStore(t, res)
		ts.Clock.Advance(9 * time.Second) // the interval is 10 s now
		wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "slow_down")
		ts.Clock.Advance(15 * time.Second) // and now 15 s
		wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "authorization_pending")
	})

	t.Run("a user who denies gets the client access_denied", func(t *testing.T) {
		code, user := ts.deviceAuth(t, "tv", "openid profile")
		b := b.With(t)
		b.Response(chromedp.Navigate(ts.URL + "/device"))
		// Typed in lower case without the dash.
		b.Fill(`input[name=user_code]`, strings.ToLower(strings.ReplaceAll(user, "-", "")))
		b.Submit(`button[type=submit]`)
		if got := b.Text(".user-code"); got != user {
			t.Fatalf("the confirmation page shows %q, want %q", got, user)
		}
		res := b.Submit(`button[name=decision][value=deny]`)
		if res.Status != http.StatusOK || b.Text("#device-result") != "Request denied" {
			t.Fatalf("after deny: %d %q", res.Status, b.Text("#device-result"))
		}
		wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "access_denied")
		ts.Clock.Advance(6 * time.Second)
		wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "access_denied")
	})

	t.Run("a device code past its expiry is expired_token", func(t *testing.T) {
		code, user := ts.deviceAuth(t, "tv", "openid")
		ts.Clock.Advance(provider.DeviceCodeTTL)
		wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "expired_token")
		b := b.With(t)
		b.Response(chromedp.Navigate(ts.URL + "/device?user_code=" + user))
		res := b.Submit(`button[type=submit]`)
		if res.Status != http.StatusBadRequest || !strings.Contains(b.Text("#code-error"), "expired") {
			t.Errorf("an expired code on the page: %d %q", res.Status, b.Text("#code-error"))
		}
	})

	t.Run("guessing user codes is throttled", func(t *testing.T) {
		_, user := ts.deviceAuth(t, "tv", "openid")
		b := b.With(t)
		b.Response(chromedp.Navigate(ts.URL + "/device"))
		limited := false
		for i := range 10 {
			b.Do(chromedp.Clear(chromedp.CSS(`input[name=user_code]`)))
			b.Fill(`input[name=user_code]`, fmt.Sprintf("BBBB-BB%c%c", "CDFGHJKLMN"[i], 'B'))
			res := b.Submit(`button[type=submit]`)
			if res.Status == http.StatusTooManyRequests {
				limited = true
				if pagestest.Header(res, "Retry-After") == "" {
					t.Error("a 429 without Retry-After")
				}
				break
			}
			if res.Status != http.StatusBadRequest {
				t.Fatalf("wrong code %d: status %d", i, res.Status)
			}
		}
		if !limited {
			t.Fatal("10 wrong user codes in a row were never refused")
		}
		b.Screenshots("device-throttled")
		// While blocked even the right code is not looked up.
		b.Do(chromedp.Clear(chromedp.CSS(`input[name=user_code]`)))
		b.Fill(`input[name=user_code]`, user)
		if res := b.Submit(`button[type=submit]`); res.Status != http.StatusTooManyRequests {
			t.Errorf("the right code while blocked: %d", res.Status)
		}
	})

	t.Run("clients that may not use the grant, and bad requests, are refused", func(t *testing.T) {
		admin := ts.adminToken() // the clock has moved past the first one's expiry
		ts.createClient(admin, map[string]any{
			"client_id": "cli", "token_endpoint_auth_method": "none",
			"grant_types": []string{provider.GrantPassword}, "scope": "openid",
		})
		post := func(form url.Values) response {
			return ts.postForm("/oauth2/device_authorization", form, "", "")
		}
		wantOAuthError(t, post(url.Values{"client_id": {"nobody"}}), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, post(url.Values{}), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, post(url.Values{"client_id": {"cli"}}), http.StatusBadRequest, "unauthorized_client")
		wantOAuthError(t, post(url.Values{"client_id": {"tv"}, "scope": {"admin"}}), http.StatusBadRequest, "invalid_scope")
		wantOAuthError(t, ts.postForm("/oauth2/device_authorization", url.Values{"client_id": {"tv"}}, demoClient, demoSecret),
			http.StatusBadRequest, "invalid_request") // two client IDs
		req := ts.newRequest(http.MethodPost, "/oauth2/device_authorization", strings.NewReader(`{"client_id":"tv"}`))
		req.Header.Set("Content-Type", "application/json")
		wantOAuthError(t, ts.do(req), http.StatusUnsupportedMediaType, "invalid_request")

		code, _ := ts.deviceAuth(t, "tv", "openid")
		wantOAuthError(t, ts.pollDevice("cli", code), http.StatusBadRequest, "unauthorized_client")
		ts.createClient(admin, map[string]any{
			"client_id": "tv2", "token_endpoint_auth_method": "none",
			"grant_types": []string{provider.GrantDeviceCode}, "scope": "openid",
		})
		wantOAuthError(t, ts.pollDevice("tv2", code), http.StatusBadRequest, "invalid_grant") // another client's code
		wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "authorization_pending")
		wantOAuthError(t, ts.pollDevice("tv", "lk_dc_forged"), http.StatusBadRequest, "invalid_grant")
		wantOAuthError(t, ts.pollDevice("tv", ""), http.StatusBadRequest, "invalid_request")
	})

	t.Run("metrics count device authorizations and polls by outcome", func(t *testing.T) {
		body := string(ts.get("/metrics", "").Body)
		for _, want := range []string{
			`latchkey_device_authorizations_total{outcome="ok"}`,
			`latchkey_device_authorizations_total{outcome="unauthorized_client"} 1`,
			`latchkey_device_polls_total{outcome="approved"} 1`,
			`latchkey_device_polls_total{outcome="slow_down"}`,
			`latchkey_device_polls_total{outcome="access_denied"} 2`,
			`latchkey_device_polls_total{outcome="expired_token"} 1`,
			`latchkey_tokens_issued_total{grant="` + provider.GrantDeviceCode + `"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// csrfField reads a page's hidden csrf_token.
var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// formClient is a browser without JavaScript: cookies, redirects followed.
type formClient struct {
	t *testing.T
	c *http.Client
}

func newFormClient(t *testing.T) *formClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &formClient{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// get loads a page and returns its status, final URL and CSRF token.
func (f *formClient) get(u string) (int, string, string) {
	f.t.Helper()
	res, err := f.c.Get(u)
	if err != nil {
		f.t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	m := csrfField.FindSubmatch(body)
	if m == nil {
		return res.StatusCode, res.Request.URL.String(), ""
	}
	return res.StatusCode, res.Request.URL.String(), html.UnescapeString(string(m[1]))
}

// post sends a form and returns the status and the page.
func (f *formClient) post(u string, form url.Values) (int, string) {
	f.t.Helper()
	res, err := f.c.PostForm(u, form)
	if err != nil {
		f.t.Fatalf("POST %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// With the hot data in Redis the device flow works the same: the codes,
// polls and decisions go through the Redis store's scripts.
func TestDeviceFlowOnRedis(t *testing.T) {
	redisURL := testRedisURL(t)
	prefix, rc := redisPrefix(t, redisURL)
	ts := startServer(t, func(c *config.Config) {
		c.Storage.Redis.URL = redisURL
		c.Storage.Redis.Prefix = prefix
		c.Storage.Tokens = "redis"
	})
	ts.createUser("bob", "bob-pass-1234", false)
	ts.createClient(ts.adminToken(), map[string]any{
		"client_id": "tv", "client_name": "Kitchen TV", "token_endpoint_auth_method": "none",
		"grant_types": []string{provider.GrantDeviceCode}, "scope": "openid profile",
	})
	code, user := ts.deviceAuth(t, "tv", "openid profile")
	if keys, err := rc.Keys(t.Context(), prefix+"device:*").Result(); err != nil || len(keys) != 1 {
		t.Fatalf("device keys in Redis: %v (%v)", keys, err)
	}
	wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "authorization_pending")
	wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "slow_down")

	f := newFormClient(t)
	status, at, csrf := f.get(ts.URL + "/device?user_code=" + url.QueryEscape(user))
	if status != http.StatusOK || !strings.HasPrefix(at, ts.URL+"/login?next=") || csrf == "" {
		t.Fatalf("the device page without a session: %d at %s", status, at)
	}
	status, page := f.post(ts.URL+"/login", url.Values{
		"csrf_token": {csrf}, "username": {"bob"}, "password": {"bob-pass-1234"}, "next": {"/device?user_code=" + user},
	})
	if status != http.StatusOK || !strings.Contains(page, `name="user_code" value="`+user+`"`) {
		t.Fatalf("after login: %d\n%s", status, page)
	}
	_, _, csrf = f.get(ts.URL + "/device")
	status, page = f.post(ts.URL+"/device", url.Values{"csrf_token": {csrf}, "user_code": {user}})
	if status != http.StatusOK || !strings.Contains(page, "Kitchen TV") {
		t.Fatalf("confirmation: %d\n%s", status, page)
	}
	// A form without the session's CSRF token changes nothing.
	if status, _ = f.post(ts.URL+"/device", url.Values{"user_code": {user}, "decision": {"allow"}}); status != http.StatusForbidden {
		t.Fatalf("a decision without a CSRF token: %d", status)
	}
	wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "slow_down")
	status, page = f.post(ts.URL+"/device", url.Values{"csrf_token": {csrf}, "user_code": {user}, "decision": {"allow"}})
	if status != http.StatusOK || !strings.Contains(page, "Device connected") {
		t.Fatalf("allow: %d\n%s", status, page)
	}
	res := ts.pollDevice("tv", code)
	if res.Status != http.StatusOK {
		t.Fatalf("the poll after approval: %s", res)
	}
	wantNoStore(t, res)
	tok := res.json(t)
	if tok["id_token"] == nil || tok["refresh_token"] != nil {
		t.Errorf("tokens %v: want an id_token and, without the refresh_token grant, no refresh token", tok)
	}
	wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "invalid_grant")

	code, _ = ts.deviceAuth(t, "tv", "openid")
	ts.Clock.Advance(provider.DeviceCodeTTL)
	wantOAuthError(t, ts.pollDevice("tv", code), http.StatusBadRequest, "expired_token")
}
