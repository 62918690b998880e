package clients

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/provider"
)

// served is what the token endpoint serves today.
var served = []string{provider.GrantPassword, provider.GrantRefreshToken, provider.GrantClientCredentials}

func TestOnlyServedGrantTypesMayBeRegistered(t *testing.T) {
	for _, g := range []string{provider.GrantAuthorizationCode, provider.GrantTokenExchange, "implicit"} {
		m := Metadata{ClientName: "x", GrantTypes: []string{g}, RedirectURIs: []string{"https://app.example.com/cb"}}
		err := m.normalize(served)
		if !errors.Is(err, ErrInvalidMetadata) {
			t.Fatalf("%s: err = %v, want invalid_client_metadata", g, err)
		}
		if !strings.Contains(err.Error(), "password, refresh_token, client_credentials") {
			t.Errorf("%s: the error does not list the served grant types: %v", g, err)
		}
	}
	for _, g := range served {
		m := Metadata{ClientName: "x", GrantTypes: []string{g}}
		if err := m.normalize(served); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	t.Run("a grant the server gains is accepted at once", func(t *testing.T) {
		m := Metadata{ClientName: "x", GrantTypes: []string{provider.GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example.com/cb"}}
		if err := m.normalize(append(slices.Clone(served), provider.GrantAuthorizationCode)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDefaultGrantTypesAreServed(t *testing.T) {
	tests := []struct {
		name      string
		served    []string
		public    bool
		redirects bool
		want      []string
	}{
		{"a confidential client gets client_credentials", served, false, false, []string{"client_credentials"}},
		{"a public client gets password and refresh_token", served, true, false, []string{"password", "refresh_token"}},
		{"with redirect URIs and authorization_code served, RFC 7591's default", append(slices.Clone(served), "authorization_code"), true, true, []string{"authorization_code", "refresh_token"}},
		{"without redirect URIs, not the code flow", append(slices.Clone(served), "authorization_code"), false, false, []string{"client_credentials"}},
		{"nothing that is not served", []string{"client_credentials"}, true, false, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultGrantTypes(tt.served, tt.public, tt.redirects); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	m := Metadata{ClientName: "SPA", TokenEndpointAuthMethod: provider.AuthNone, RedirectURIs: []string{"https://app.example.com/cb"}}
	if err := m.normalize(served); err != nil || !slices.Equal(m.GrantTypes, []string{"password", "refresh_token"}) {
		t.Fatalf("a public client without grant_types, on a server without the code flow: %v, %v", m.GrantTypes, err)
	}
	m = Metadata{ClientName: "SPA", TokenEndpointAuthMethod: provider.AuthNone, RedirectURIs: []string{"https://app.example.com/cb"}}
	if err := m.normalize(provider.BuiltinGrantTypes()); err != nil || !slices.Equal(m.GrantTypes, []string{"authorization_code", "refresh_token"}) {
		t.Fatalf("a public client with a redirect URI and without grant_types: %v, %v", m.GrantTypes, err)
	}
}

func TestBuiltinGrantTypesAreWhatAProviderServes(t *testing.T) {
	if got, want := provider.BuiltinGrantTypes(), provider.New(provider.Options{}).GrantTypes(); !slices.Equal(got, want) {
		t.Fatalf("BuiltinGrantTypes() = %v, the provider serves %v", got, want)
	}
}
