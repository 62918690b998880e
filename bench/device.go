package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The device scenario (RFC 8628, docs/device-flow.md): a TV polls the
// token endpoint with a device code the user has not approved yet
// (bench/wrk/poll.lua).
const scenarioDevicePoll = "device polling"

// prepareDevicePoll starts a device authorization for the demo client and
// polls it over and over.
func prepareDevicePoll(ctx context.Context, t *targets, srv *server, _ string) (*loadSpec, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.url+"/oauth2/device_authorization", strings.NewReader(form("scope", "openid")))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", t.demoAuth())
	resp, err := setupClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var da struct {
		DeviceCode string `json:"device_code"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &da) != nil || da.DeviceCode == "" {
		return nil, fmt.Errorf("device authorization: %s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	return &loadSpec{path: "/oauth2/token", script: "poll.lua", env: []string{
		"BENCH_BODY=" + form("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", da.DeviceCode),
		"BENCH_AUTH=" + t.demoAuth(),
	}}, nil
}
