package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
)

// Every flow that handles a secret runs with debug logging and the access
// log on; afterwards no password, client secret or token may appear in the
// logs, while the requests themselves (with their ids) do.
func TestLogsNeverContainASecret(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Log.Level = "debug" })
	tok := ts.passwordToken(adminUser, adminPass, "openid", "profile")
	next, err := ts.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = ts.refresh(tok.RefreshToken) // reuse: logged as a warning
	ts.introspect(next.AccessToken)
	ts.get("/oauth2/userinfo?access_token="+url.QueryEscape(next.AccessToken), next.AccessToken)
	ts.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {adminUser}, "password": {"wrong-" + adminPass}}, demoClient, demoSecret)
	ts.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, demoClient, "not-"+demoSecret)
	created := ts.createClient(ts.adminToken(), map[string]any{"client_id": "logged", "grant_types": []string{"client_credentials"}})
	rotated := ts.adminJSON(http.MethodPost, "/admin/clients/logged/rotate-secret/", ts.adminToken(), nil)
	ts.revoke(next.RefreshToken, demoClient, demoSecret)

	logs := ts.Logs.String()
	if !strings.Contains(logs, `"route":"/oauth2/token"`) || !strings.Contains(logs, `"request_id"`) ||
		!strings.Contains(logs, `"ip":"127.0.0.1"`) || !strings.Contains(logs, `"msg":"request"`) {
		t.Fatalf("the access log is missing; logs:\n%s", logs)
	}
	secrets := map[string]string{
		"admin password":         adminPass,
		"wrong password":         "wrong-" + adminPass,
		"client secret":          demoSecret,
		"wrong client secret":    "not-" + demoSecret,
		"refresh token":          tok.RefreshToken,
		"rotated refresh token":  next.RefreshToken,
		"access token":           tok.AccessToken,
		"refreshed access token": next.AccessToken,
		"created client secret":  created["client_secret"].(string),
		"rotated client secret":  jsonField(t, rotated.Body, "client_secret"),
	}
	if id, ok := tok.Extra("id_token").(string); ok {
		secrets["id token"] = id
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("%s is empty: the test would prove nothing", name)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
		// A token's signature part alone is also a leak.
		if i := strings.LastIndexByte(secret, '.'); i > 0 && strings.Contains(logs, secret[i+1:]) {
			t.Errorf("the logs contain the signature of the %s", name)
		}
	}
}

func jsonField(t *testing.T, body []byte, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	s, _ := m[field].(string)
	return s
}
