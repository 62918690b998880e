package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// MasterKeySize is the length in bytes of keys.master_key once decoded.
const MasterKeySize = 32

// FieldError is one problem found by Validate, at a key path written as in
// YAML ("storage.driver", "backends[1].id").
type FieldError struct {
	Key     string
	Message string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Message }

// problems collects FieldErrors.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &FieldError{Key: key, Message: fmt.Sprintf(format, args...)})
}

// Validate checks the whole configuration and reports every problem at once
// (errors.Join of *FieldError, in the order of the YAML keys); nil means the
// configuration is usable.
func (c *Config) Validate() error {
	var p problems
	checkHostPort(&p, "listen", c.Listen)
	c.validateIssuer(&p)
	c.validateTLS(&p)
	for i, proxy := range c.TrustedProxies {
		if !isIPOrCIDR(proxy) {
			p.add(fmt.Sprintf("trusted_proxies[%d]", i), "must be an IP address or CIDR (e.g. 10.0.0.0/8), got %q", proxy)
		}
	}
	if c.Admin.Listen != "" {
		checkHostPort(&p, "admin.listen", c.Admin.Listen)
	}
	c.validateStorage(&p)
	c.validateKeys(&p)
	c.validateTokens(&p)
	c.validateUsers(&p)
	c.validateBackends(&p)
	c.validateRateLimit(&p)
	c.validateMail(&p)
	c.validateUI(&p)
	c.validateSessions(&p)
	c.validateOAuth2(&p)
	c.validateResources(&p)
	positive(&p, "audit.retention", c.Audit.Retention)
	oneOf(&p, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(&p, "log.format", c.Log.Format, "json", "text")
	if c.HTTP.MaxBodyBytes <= 0 {
		p.add("http.max_body_bytes", "must be greater than 0, got %d", c.HTTP.MaxBodyBytes)
	}
	notNegative(&p, "http.read_timeout", c.HTTP.ReadTimeout)
	notNegative(&p, "http.write_timeout", c.HTTP.WriteTimeout)
	notNegative(&p, "http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	c.validateWeb(&p)
	return errors.Join(p...)
}

func checkHostPort(p *problems, key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "must be host:port (e.g. 127.0.0.1:8080 or :8080), got %q", addr)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add(key, "port must be a number from 0 to 65535, got %q", port)
	}
}

func (c *Config) validateIssuer(p *problems) {
	const key = "issuer"
	if c.Issuer == "" {
		p.add(key, "must be set to the public base URL, e.g. https://auth.example.com")
		return
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		p.add(key, "must be an absolute URL such as https://auth.example.com, got %q", c.Issuer)
		return
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.InsecureHTTP && !isLoopbackHost(u.Hostname()) {
			p.add(key, "%q uses http on a host that is not loopback, so tokens, passwords and client secrets "+
				"would travel in clear text; use https (TLS may end at a proxy in front of latchkey), "+
				"or set insecure_http: true (LATCHKEY_INSECURE_HTTP=true) to allow it anyway", c.Issuer)
		}
	default:
		p.add(key, "scheme must be https or http, got %q", u.Scheme)
	}
	if u.User != nil {
		p.add(key, "must not contain a user name or password")
	}
	if u.RawQuery != "" || u.ForceQuery {
		p.add(key, "must not have a query (?...), got %q", c.Issuer)
	}
	if u.Fragment != "" || strings.Contains(c.Issuer, "#") {
		p.add(key, "must not have a fragment (#...), got %q", c.Issuer)
	}
	if strings.HasSuffix(c.Issuer, "/") {
		p.add(key, "must not end with a slash, got %q (try %q)", c.Issuer, strings.TrimRight(c.Issuer, "/"))
	}
}

// isLoopbackHost reports whether host (without port or brackets) is
// localhost, in 127.0.0.0/8 or ::1.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

func isIPOrCIDR(s string) bool {
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func (c *Config) validateTLS(p *problems) {
	cert, key := c.TLS.CertFile, c.TLS.KeyFile
	switch {
	case cert != "" && key == "":
		p.add("tls.key_file", "must be set when tls.cert_file is set")
	case cert == "" && key != "":
		p.add("tls.cert_file", "must be set when tls.key_file is set")
	}
	checkFile(p, "tls.cert_file", cert)
	checkFile(p, "tls.key_file", key)
}

func checkFile(p *problems, key, path string) {
	if path == "" {
		return
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.add(key, "file %q does not exist", path)
	case err != nil:
		p.add(key, "cannot use file %q: %v", path, err)
	case info.IsDir():
		p.add(key, "%q is a directory, not a file", path)
	}
}

func (c *Config) validateStorage(p *problems) {
	switch c.Storage.Driver {
	case "sqlite":
	case "postgres":
		if c.Storage.Postgres.DSN == "" {
			p.add("storage.postgres.dsn", "is required when storage.driver is \"postgres\"")
		}
	default:
		p.add("storage.driver", "must be \"sqlite\" or \"postgres\", got %q", c.Storage.Driver)
	}
	if c.Storage.Postgres.MaxConns < 0 {
		p.add("storage.postgres.max_conns", "must not be negative, got %d", c.Storage.Postgres.MaxConns)
	}
	c.validateRedis(p)
	positive(p, "storage.timeout", c.Storage.Timeout)
}

func (c *Config) validateKeys(p *problems) {
	oneOf(p, "keys.algorithm", c.Keys.Algorithm, "ES256", "RS256", "EdDSA")
	if c.Keys.MasterKey != "" {
		if _, err := DecodeMasterKey(c.Keys.MasterKey); err != nil {
			p.add("keys.master_key", "%v", err)
		}
	}
	if r := c.Keys.RotationPeriod; r != 0 && r < time.Hour {
		p.add("keys.rotation_period", "must be 0 (rotate only on demand) or at least 1h, got %s", r)
	}
	notNegative(p, "keys.cache_ttl", c.Keys.CacheTTL)
}

// DecodeMasterKey decodes a master key written as base64, standard or URL
// alphabet, padded or not, and checks that it is MasterKeySize bytes. The
// error never contains the key.
func DecodeMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != MasterKeySize {
			return nil, fmt.Errorf("must be base64 of exactly %d bytes, got %d bytes (generate one with: openssl rand -base64 32)", MasterKeySize, len(key))
		}
		return key, nil
	}
	return nil, errors.New("must be base64 (standard or URL alphabet) of exactly 32 bytes (generate one with: openssl rand -base64 32)")
}

// MaxRefreshReuseGrace bounds tokens.refresh_reuse_grace: a grace is for
// two tabs or a retry after a lost response, not a second life for a
// stolen token.
const MaxRefreshReuseGrace = 5 * time.Minute

func (c *Config) validateTokens(p *problems) {
	t := c.Tokens
	positive(p, "tokens.access_ttl", t.AccessTTL)
	positive(p, "tokens.refresh_ttl", t.RefreshTTL)
	positive(p, "tokens.refresh_max_ttl", t.RefreshMaxTTL)
	positive(p, "tokens.id_token_ttl", t.IDTokenTTL)
	if t.RefreshTTL > 0 && t.RefreshMaxTTL > 0 && t.RefreshTTL > t.RefreshMaxTTL {
		p.add("tokens.refresh_ttl", "must not exceed tokens.refresh_max_ttl (%s), got %s", t.RefreshMaxTTL, t.RefreshTTL)
	}
	if t.RefreshReuseGrace < 0 || t.RefreshReuseGrace > MaxRefreshReuseGrace {
		p.add("tokens.refresh_reuse_grace", "must be 0s to %s, got %s", MaxRefreshReuseGrace, t.RefreshReuseGrace)
	}
	for i, aud := range t.Audience {
		if aud == "" {
			p.add(fmt.Sprintf("tokens.audience[%d]", i), "must not be empty")
		}
	}
	notNegative(p, "tokens.client_cache_ttl", t.ClientCacheTTL)
	notNegative(p, "tokens.user_cache_ttl", t.UserCacheTTL)
	if t.VerifiedCacheSize < 0 {
		p.add("tokens.verified_cache_size", "must not be negative, got %d", t.VerifiedCacheSize)
	}
}

func (c *Config) validateUsers(p *problems) {
	if len(c.Users.LoginFields) == 0 {
		p.add("users.login_fields", "must list at least one of \"username\", \"email\"")
	}
	seen := map[string]int{}
	for i, f := range c.Users.LoginFields {
		key := fmt.Sprintf("users.login_fields[%d]", i)
		if f != "username" && f != "email" {
			p.add(key, "must be \"username\" or \"email\", got %q", f)
			continue
		}
		if j, dup := seen[f]; dup {
			p.add(key, "%q is already listed at users.login_fields[%d]", f, j)
			continue
		}
		seen[f] = i
	}
	oneOf(p, "users.registration", c.Users.Registration, "open", "activation", "closed")
	oneOf(p, "users.username_mixed_scripts", c.Users.UsernameMixedScripts, "refuse", "allow")
	c.validateUserAPI(p)
}

func (c *Config) validateBackends(p *problems) {
	seen := map[string]int{}
	for i, b := range c.Backends {
		prefix := fmt.Sprintf("backends[%d]", i)
		switch j, dup := seen[b.ID]; {
		case b.ID == "":
			p.add(prefix+".id", "is required")
		case !validBackendID(b.ID):
			p.add(prefix+".id", "must match ^[a-z0-9][a-z0-9_-]*$, got %q", b.ID)
		case dup:
			p.add(prefix+".id", "%q is already used by backends[%d]", b.ID, j)
		default:
			seen[b.ID] = i
		}
		if b.Type == "" {
			p.add(prefix+".type", "is required")
		}
		if b.OnWrongPassword != "" {
			oneOf(p, prefix+".on_wrong_password", b.OnWrongPassword, "stop", "next")
		}
	}
}

// validBackendID reports whether id matches ^[a-z0-9][a-z0-9_-]*$.
func validBackendID(id string) bool {
	for i, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '_' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return id != ""
}

func oneOf(p *problems, key, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	var list string
	if len(quoted) == 2 {
		list = quoted[0] + " or " + quoted[1]
	} else {
		list = strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
	}
	p.add(key, "must be %s, got %q", list, value)
}

func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be greater than 0, got %s", d)
	}
}

func notNegative(p *problems, key string, d time.Duration) {
	if d < 0 {
		p.add(key, "must not be negative, got %s", d)
	}
}
