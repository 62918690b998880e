package config

import (
	"slices"
	"strings"
	"testing"
)

func TestCORSOriginsAreExactAndNeverAWildcard(t *testing.T) {
	cfg, err := Load("", []string{"LATCHKEY_HTTP__CORS__ALLOWED_ORIGINS=https://app.example.com,http://localhost:3000"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://app.example.com", "http://localhost:3000"}; !slices.Equal(cfg.HTTP.CORS.AllowedOrigins, want) {
		t.Errorf("allowed_origins from the environment = %q, want %q", cfg.HTTP.CORS.AllowedOrigins, want)
	}
	for _, o := range []string{"*", "https://*.example.com", "https://app.example.com/", "https://app.example.com/path",
		"app.example.com", "ftp://app.example.com", "https://user@app.example.com", "https://App.Example.com", "null"} {
		_, err := Load("", []string{"LATCHKEY_HTTP__CORS__ALLOWED_ORIGINS=" + o})
		if err == nil || !strings.Contains(err.Error(), "http.cors.allowed_origins[0]") {
			t.Errorf("origin %q: err = %v, want it refused", o, err)
		}
	}
}

func TestMetricsListenAndToken(t *testing.T) {
	if _, err := Load("", []string{"LATCHKEY_METRICS__LISTEN=127.0.0.1:8080"}); err == nil || !strings.Contains(err.Error(), "metrics.listen") {
		t.Errorf("metrics.listen equal to listen: err = %v", err)
	}
	if _, err := Load("", []string{"LATCHKEY_METRICS__TOKEN_FILE=/nonexistent/token"}); err == nil || !strings.Contains(err.Error(), "metrics.token_file") {
		t.Errorf("a missing metrics.token_file: err = %v", err)
	}
	if _, err := Load("", []string{"LATCHKEY_STORAGE__REDIS__TIMEOUT=0s"}); err == nil || !strings.Contains(err.Error(), "storage.redis.timeout") {
		t.Errorf("storage.redis.timeout 0: err = %v", err)
	}
	if _, err := Load("", []string{"LATCHKEY_USERS__USERNAME_MIXED_SCRIPTS=maybe"}); err == nil || !strings.Contains(err.Error(), "users.username_mixed_scripts") {
		t.Errorf("users.username_mixed_scripts maybe: err = %v", err)
	}
}
