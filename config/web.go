package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// validateWeb checks what browsers and operators see: CORS origins, HSTS
// and the metrics endpoint.
func (c *Config) validateWeb(p *problems) {
	for i, o := range c.HTTP.CORS.AllowedOrigins {
		if msg := originProblem(o); msg != "" {
			p.add(fmt.Sprintf("http.cors.allowed_origins[%d]", i), "%s, got %q", msg, o)
		}
	}
	notNegative(p, "http.hsts.max_age", c.HTTP.HSTS.MaxAge)
	if c.Metrics.Listen != "" {
		checkHostPort(p, "metrics.listen", c.Metrics.Listen)
		if c.Metrics.Listen == c.Listen || c.Metrics.Listen == c.Admin.Listen {
			p.add("metrics.listen", "must differ from listen and admin.listen, got %q", c.Metrics.Listen)
		}
	}
	if c.Metrics.Token == "" {
		checkFile(p, "metrics.token_file", c.Metrics.TokenFile)
	}
}

// originProblem says why o is not an exact origin (RFC 6454:
// scheme://host[:port], nothing else), or returns "".
func originProblem(o string) string {
	if strings.Contains(o, "*") {
		return `must be an exact origin such as https://app.example.com; "*" is refused because CORS requests carry credentials`
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || strings.Contains(o, "#") {
		return "must be an exact origin: scheme://host[:port], such as https://app.example.com"
	}
	if u.Path == "/" || o != strings.ToLower(o) {
		return fmt.Sprintf("must be written as a browser sends it in Origin (%s://%s)", u.Scheme, strings.ToLower(u.Host))
	}
	return ""
}

// MetricsToken returns the bearer token /metrics requires (metrics.token,
// else the first line of metrics.token_file), or "" when it requires none.
func (c *Config) MetricsToken() (string, error) {
	if c.Metrics.Token != "" || c.Metrics.TokenFile == "" {
		return c.Metrics.Token, nil
	}
	b, err := os.ReadFile(c.Metrics.TokenFile)
	if err != nil {
		return "", fmt.Errorf("metrics.token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("metrics.token_file: %q is empty", c.Metrics.TokenFile)
	}
	return tok, nil
}
