package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// MaxResourceAccessTTL bounds a resource's access_ttl, as a client's own
// access-token lifetime is bounded (signing keys stay published that long).
const MaxResourceAccessTTL = 24 * time.Hour

// Resource is one entry of `resources:`: a protected resource a client may
// name with the resource parameter (RFC 8707). Its tokens have aud = URI.
type Resource struct {
	// URI is the resource indicator: an absolute URI without a fragment
	// (RFC 8707 §2), matched exactly.
	URI string `yaml:"uri"`
	// Scopes are the scopes the resource accepts; empty accepts every scope
	// the client may ask for. The OpenID Connect scopes (openid, profile,
	// email, offline_access) are always allowed: they govern the ID token
	// and the refresh token, not the resource.
	Scopes []string `yaml:"scopes"`
	// AccessTTL, when set, caps the lifetime of the resource's access
	// tokens (a client's or the server's shorter lifetime still wins).
	AccessTTL time.Duration `yaml:"access_ttl"`
}

// validateResources checks `resources:`.
func (c *Config) validateResources(p *problems) {
	seen := map[string]bool{}
	for i, r := range c.Resources {
		key := fmt.Sprintf("resources[%d]", i)
		if msg := checkResourceURI(r.URI); msg != "" {
			p.add(key+".uri", "%s, got %q", msg, r.URI)
		} else if seen[r.URI] {
			p.add(key+".uri", "%q is listed twice", r.URI)
		}
		seen[r.URI] = true
		for j, s := range r.Scopes {
			if !isScopeToken(s) {
				p.add(fmt.Sprintf("%s.scopes[%d]", key, j), "must be a scope token (printable ASCII, no space, quote or backslash), got %q", s)
			}
		}
		if r.AccessTTL < 0 || r.AccessTTL > MaxResourceAccessTTL {
			p.add(key+".access_ttl", "must be 0s (the default lifetime) to %s, got %s", MaxResourceAccessTTL, r.AccessTTL)
		}
	}
}

// checkResourceURI says what is wrong with a resource indicator, or "".
func checkResourceURI(s string) string {
	if s == "" {
		return "required"
	}
	if len(s) > 2048 || strings.ContainsAny(s, " \t\r\n\x00") {
		return "must be a URI without spaces, at most 2048 characters"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs():
		return "must be an absolute URI such as https://api.example.com/"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment (RFC 8707 §2)"
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return "must name a host"
	}
	return ""
}

// isScopeToken reports whether s is an RFC 6749 §3.3 scope token.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
