package clients

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/storage"
)

func TestValidateRedirects(t *testing.T) {
	tests := []struct {
		uri  string
		rule string // a word of the rule the error names; "" = accepted
	}{
		{"https://app.example.com/cb", ""},
		{"https://app.example.com:8443/cb?x=1", ""},
		{"http://localhost:3000/cb", ""},
		{"http://LOCALHOST/cb", ""},
		{"http://127.0.0.1/cb", ""},
		{"http://127.0.0.2:9/cb", ""},
		{"http://[::1]:8080/cb", ""},
		{"com.example.app:/oauth2redirect", ""},
		{"com.example.app://callback", ""},
		{"http://app.example.com/cb", "loopback"},
		{"http://localhost.evil.example/cb", "loopback"},
		{"http://127.0.0.1.nip.io/cb", "loopback"},
		{"https://app.example.com/cb#frag", "fragment"},
		{"https://app.example.com/cb#", "fragment"},
		{"/relative", "absolute"},
		{"//app.example.com/cb", "absolute"},
		{"https:///nohost", "host"},
		{"javascript:alert(1)", "javascript: scheme"},
		{"JavaScript:alert(1)//", "javascript: scheme"},
		{"data:text/html,<script>alert(1)</script>", "data: scheme"},
		{"file:///etc/passwd", "file: scheme"},
		{"vbscript:msgbox(1)", "vbscript: scheme"},
		{"myapp:/cb", "reverse-domain"},
		{"ftp://app.example.com/cb", "reverse-domain"},
		{"https://*.example.com/cb", "wildcard"},
		{"https://app.*/cb", "wildcard"},
		{"com.example.app://*/cb", "wildcard"},
		{"https://user:pass@app.example.com/cb", "userinfo"},
		{"https://user@app.example.com/cb", "userinfo"},
		{"http://user@localhost/cb", "userinfo"},
		{"https://app.example.com/" + strings.Repeat("a", 2000), "2000"},
	}
	for _, tc := range tests {
		for _, field := range []string{"redirect_uris", "post_logout_redirect_uris"} {
			err := validateRedirects(field, []string{"https://ok.example/cb", tc.uri}, true)
			if tc.rule == "" {
				if err != nil {
					t.Errorf("%s %q: refused (%v), want accepted", field, tc.uri, err)
				}
				continue
			}
			if !errors.Is(err, ErrInvalidRedirectURI) {
				t.Errorf("%s %q: err = %v, want invalid_redirect_uri", field, tc.uri, err)
				continue
			}
			desc := err.Error()
			if !strings.Contains(desc, field+": ") || !strings.Contains(desc, tc.rule) || !strings.Contains(desc, truncate(tc.uri, 20)) {
				t.Errorf("%s %q: description %q should name the field, the URI and the rule (%q)", field, tc.uri, desc, tc.rule)
			}
		}
	}
	if err := validateRedirects("redirect_uris", nil, true); err == nil {
		t.Error("no redirect URI was accepted for the authorization_code grant")
	}
}

func TestMetadataKeepsSkipConsentAndPostLogoutRedirectURIs(t *testing.T) {
	for _, skip := range []bool{true, false} {
		m := Metadata{
			ClientName: "web", GrantTypes: []string{"password"}, SkipConsent: skip,
			PostLogoutRedirectURIs: []string{"https://app.example.com/bye", "com.example.app:/bye"},
		}
		if err := m.normalize(served); err != nil {
			t.Fatal(err)
		}
		var rec storage.Client
		rec.SkipConsent = !skip // the record's old value is replaced
		m.toRecord(&rec)
		if rec.SkipConsent != skip || !slices.Equal(rec.PostLogoutRedirectURIs, m.PostLogoutRedirectURIs) {
			t.Errorf("record: skip_consent %v, post-logout URIs %v; want %v, %v", rec.SkipConsent, rec.PostLogoutRedirectURIs, skip, m.PostLogoutRedirectURIs)
		}
		back := metadataOf(rec)
		if back.SkipConsent != skip || !slices.Equal(back.PostLogoutRedirectURIs, m.PostLogoutRedirectURIs) {
			t.Errorf("metadata: skip_consent %v, post-logout URIs %v; want %v, %v", back.SkipConsent, back.PostLogoutRedirectURIs, skip, m.PostLogoutRedirectURIs)
		}
	}
}
