package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateClientIDMetadataDocuments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(d *ClientIDMetadataDocuments)
		want   string // substring of the error; "" means valid
	}{
		{"the defaults, on", func(d *ClientIDMetadataDocuments) { d.Enabled = true }, ""},
		{"host patterns", func(d *ClientIDMetadataDocuments) {
			d.AllowHosts, d.DenyHosts = []string{"agent.example.com", "*.example.org", "203.0.113.9"}, []string{"bad.example.org"}
		}, ""},
		{"an upper-case host", func(d *ClientIDMetadataDocuments) { d.AllowHosts = []string{"Agent.example.com"} }, "oauth2.client_id_metadata_documents.allow_hosts[0]: must be a lower-case host name"},
		{"a URL as a host", func(d *ClientIDMetadataDocuments) { d.DenyHosts = []string{"https://x.example"} }, "deny_hosts[0]"},
		{"a bare wildcard", func(d *ClientIDMetadataDocuments) { d.DenyHosts = []string{"*"} }, "deny_hosts[0]"},
		{"the latchkey scope", func(d *ClientIDMetadataDocuments) { d.Scopes = []string{"openid", "latchkey"} }, "scopes[1]: the latchkey scope"},
		{"a scope with a space", func(d *ClientIDMetadataDocuments) { d.Scopes = []string{"a b"} }, "scopes[0]"},
		{"a ceiling under the floor", func(d *ClientIDMetadataDocuments) { d.CacheMax = time.Minute }, "cache_max: must be between cache_min"},
		{"a negative floor", func(d *ClientIDMetadataDocuments) { d.CacheMin = -time.Second }, "cache_min"},
		{"no size", func(d *ClientIDMetadataDocuments) { d.MaxBytes = 0 }, "max_bytes"},
		{"no timeout", func(d *ClientIDMetadataDocuments) { d.Timeout = 0 }, "timeout"},
		{"no cache", func(d *ClientIDMetadataDocuments) { d.CacheSize = 0 }, "cache_size"},
		{"a long error cache", func(d *ClientIDMetadataDocuments) { d.ErrorCacheTTL = 2 * time.Hour }, "error_cache_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c.OAuth2.ClientIDMetadataDocuments)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

func TestClientIDMetadataDocumentsFromEnv(t *testing.T) {
	path := writeFile(t, "latchkey.yaml", "")
	c, err := Load(path, []string{
		"LATCHKEY_OAUTH2__CLIENT_ID_METADATA_DOCUMENTS__ENABLED=true",
		"LATCHKEY_OAUTH2__CLIENT_ID_METADATA_DOCUMENTS__ALLOW_PRIVATE_ADDRESSES=true",
		"LATCHKEY_OAUTH2__CLIENT_ID_METADATA_DOCUMENTS__ALLOW_HOSTS=a.example,*.b.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	d := c.OAuth2.ClientIDMetadataDocuments
	if !d.Enabled || !d.AllowPrivateAddresses || strings.Join(d.AllowHosts, " ") != "a.example *.b.example" {
		t.Fatalf("%+v", d)
	}
}
