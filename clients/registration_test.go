package clients

import (
	"errors"
	"slices"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
)

type stubProvider struct{ grants []string }

func (stubProvider) HashSecret(s string) string { return "h:" + s }
func (stubProvider) ForgetClient(string)        {}
func (p stubProvider) GrantTypes() []string     { return p.grants }

func TestRegistrationMetadataRules(t *testing.T) {
	served := []string{provider.GrantPassword, provider.GrantRefreshToken, provider.GrantClientCredentials, provider.GrantAuthorizationCode}
	admin := New(nil, stubProvider{grants: served}, nil)
	public := NewRegistrar(admin, nil, RegistrationOptions{Policy: config.RegistrationOpen})
	confidential := NewRegistrar(admin, nil, RegistrationOptions{Policy: config.RegistrationOpen, AllowConfidential: true})
	cb := []string{"https://app.example/cb"}
	tests := []struct {
		name       string
		r          *Registrar
		req        RegistrationRequest
		wantErr    *provider.Error
		wantAuth   string
		wantGrants []string
	}{
		{"a client that says nothing is public with the code flow", public, RegistrationRequest{RedirectURIs: cb}, nil, provider.AuthNone, []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}},
		{"with confidential clients allowed the RFC default applies", confidential, RegistrationRequest{RedirectURIs: cb}, nil, provider.AuthSecretBasic, []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}},
		{"a confidential client when only public ones register", public, RegistrationRequest{RedirectURIs: cb, TokenEndpointAuthMethod: provider.AuthSecretPost}, ErrInvalidMetadata, "", nil},
		{"client_credentials for a confidential client", confidential, RegistrationRequest{GrantTypes: []string{provider.GrantClientCredentials}}, nil, provider.AuthSecretBasic, []string{provider.GrantClientCredentials}},
		{"the password grant is first-party only", confidential, RegistrationRequest{GrantTypes: []string{provider.GrantPassword}}, ErrInvalidMetadata, "", nil},
		{"a grant the server does not serve", public, RegistrationRequest{RedirectURIs: cb, GrantTypes: []string{"urn:ietf:params:oauth:grant-type:device_code"}}, ErrInvalidMetadata, "", nil},
		{"the latchkey scope", public, RegistrationRequest{RedirectURIs: cb, Scope: "openid  latchkey"}, ErrInvalidMetadata, "", nil},
		{"no redirect URI for the code flow", public, RegistrationRequest{}, ErrInvalidRedirectURI, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.r.metadata(tt.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.TokenEndpointAuthMethod != tt.wantAuth || !slices.Equal(m.GrantTypes, tt.wantGrants) {
				t.Fatalf("auth %q grants %v, want %q %v", m.TokenEndpointAuthMethod, m.GrantTypes, tt.wantAuth, tt.wantGrants)
			}
		})
	}
}

func TestRegistrationAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an address":       "not an address",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegistrationOffAndNil(t *testing.T) {
	var nilRegistrar *Registrar
	if nilRegistrar.Enabled() {
		t.Error("a nil Registrar is enabled")
	}
	r := NewRegistrar(New(nil, stubProvider{}, nil), nil, RegistrationOptions{})
	if r.Enabled() {
		t.Error("registration with no policy is enabled")
	}
	if _, err := r.Register(t.Context(), RegistrationRequest{}, "", ""); !errors.Is(err, ErrRegistrationOff) {
		t.Errorf("Register while off: %v", err)
	}
}
