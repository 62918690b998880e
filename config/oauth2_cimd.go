package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// ClientIDMetadataDocuments configures OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document): a client_id that is an
// https URL with a path is fetched and used as a public client.
type ClientIDMetadataDocuments struct {
	// Enabled turns the feature on; off, a URL client_id is an unknown client
	// and no request leaves the server.
	Enabled bool `yaml:"enabled"`
	// AllowHosts, when not empty, are the only hosts documents are fetched
	// from: exact names, or "*.example.com" for any subdomain of it.
	AllowHosts []string `yaml:"allow_hosts"`
	// DenyHosts are never fetched from (same patterns); they win over
	// AllowHosts.
	DenyHosts []string `yaml:"deny_hosts"`
	// AllowPrivateAddresses lets documents come from loopback, private and
	// link-local addresses, and over http from a loopback host. For
	// development and tests only.
	AllowPrivateAddresses bool `yaml:"allow_private_addresses"`
	// Scopes are every scope such a client may ask for; a document's scope
	// narrows them. The latchkey scope is never allowed.
	Scopes []string `yaml:"scopes"`
	// CacheMin and CacheMax bound how long a fetched document is trusted:
	// its Cache-Control max-age, raised to CacheMin and lowered to CacheMax.
	CacheMin time.Duration `yaml:"cache_min"`
	CacheMax time.Duration `yaml:"cache_max"`
	// ErrorCacheTTL is how long a refused document is remembered as refused.
	ErrorCacheTTL time.Duration `yaml:"error_cache_ttl"`
	// MaxBytes limits a document's size.
	MaxBytes int64 `yaml:"max_bytes"`
	// Timeout bounds one fetch (connect, TLS and the whole body).
	Timeout time.Duration `yaml:"timeout"`
	// CacheSize bounds how many documents are kept.
	CacheSize int `yaml:"cache_size"`
}

func defaultCIMD() ClientIDMetadataDocuments {
	return ClientIDMetadataDocuments{
		Scopes:        []string{"openid", "profile", "email", "offline_access"},
		CacheMin:      5 * time.Minute,
		CacheMax:      24 * time.Hour,
		ErrorCacheTTL: 30 * time.Second,
		MaxBytes:      5 << 10,
		Timeout:       5 * time.Second,
		CacheSize:     1000,
	}
}

func (c *Config) validateCIMD(p *problems) {
	const k = "oauth2.client_id_metadata_documents."
	d := c.OAuth2.ClientIDMetadataDocuments
	for i, h := range d.AllowHosts {
		checkHostPattern(p, fmt.Sprintf("%sallow_hosts[%d]", k, i), h)
	}
	for i, h := range d.DenyHosts {
		checkHostPattern(p, fmt.Sprintf("%sdeny_hosts[%d]", k, i), h)
	}
	for i, s := range d.Scopes {
		switch {
		case s == "" || strings.ContainsAny(s, " \t\r\n\"\\"):
			p.add(fmt.Sprintf("%sscopes[%d]", k, i), "must be a scope token (no spaces or quotes), got %q", s)
		case s == "latchkey":
			p.add(fmt.Sprintf("%sscopes[%d]", k, i), "the latchkey scope acts on latchkey's own API and is never given to metadata-document clients")
		}
	}
	if d.CacheMin < 0 || d.CacheMin > 7*24*time.Hour {
		p.add(k+"cache_min", "must be between 0 and 168h, got %s", d.CacheMin)
	}
	if d.CacheMax < d.CacheMin || d.CacheMax > 7*24*time.Hour {
		p.add(k+"cache_max", "must be between cache_min (%s) and 168h, got %s", d.CacheMin, d.CacheMax)
	}
	if d.ErrorCacheTTL < 0 || d.ErrorCacheTTL > time.Hour {
		p.add(k+"error_cache_ttl", "must be between 0 and 1h, got %s", d.ErrorCacheTTL)
	}
	if d.MaxBytes < 256 || d.MaxBytes > 1<<20 {
		p.add(k+"max_bytes", "must be between 256 and 1048576, got %d", d.MaxBytes)
	}
	if d.Timeout < 100*time.Millisecond || d.Timeout > time.Minute {
		p.add(k+"timeout", "must be between 100ms and 1m, got %s", d.Timeout)
	}
	if d.CacheSize < 1 || d.CacheSize > 1000000 {
		p.add(k+"cache_size", "must be between 1 and 1000000, got %d", d.CacheSize)
	}
}

// checkHostPattern accepts a lower-case host name, an IP address, or
// "*.name" for every subdomain of name.
func checkHostPattern(p *problems, key, h string) {
	name := strings.TrimPrefix(h, "*.")
	if net.ParseIP(name) != nil && name == h {
		return
	}
	if name == "" || name != strings.ToLower(name) || strings.ContainsAny(name, "*/:@ ") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		p.add(key, "must be a lower-case host name (app.example.com), \"*.example.com\" or an IP address, got %q", h)
	}
}
