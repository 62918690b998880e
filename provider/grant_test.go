package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
)

// echoGrant is a grant that exists only in this test: it shows that a new
// grant is one type and one registration, and that the endpoint hands it
// an authenticated client and the request's values explicitly. It issues a
// client token whose scope is its "echo" parameter.
type echoGrant struct {
	p    *Provider
	seen *TokenRequest
}

const grantEcho = "urn:latchkey:test:echo"

func (*echoGrant) Type() string { return grantEcho }

func (g *echoGrant) Token(ctx context.Context, req *TokenRequest) (*TokenResponse, error) {
	g.seen = req
	if req.Form.Get("echo") == "" {
		return nil, ErrInvalidRequest.WithDescription("echo is required")
	}
	return g.p.mint(ctx, grantSpec{
		client: req.Client, subject: subject{ID: req.Client.ID},
		scope: req.Form.Get("echo"), now: req.Time,
	})
}

// openTestStore opens a migrated SQLite store in the test's directory,
// closed when the test ends.
func openTestStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	store, err := sqlstore.Open(t.Context(), sqlstore.Options{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "lk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return store
}

// newTestProvider builds a provider on SQLite, on the clock now, with an
// extra grant (when extra is not nil) and a confidential client "app"
// (secret "app-secret") registered for grantTypes.
func newTestProvider(t *testing.T, clock func() time.Time, grantTypes []string, extra func(*Provider) Grant) *Provider {
	t.Helper()
	store := openTestStore(t)
	secrets := refreshSecrets(t, 3)
	opts := Options{
		Issuer: "https://issuer.example", Store: store, Tokens: store, Codes: store, Secrets: secrets,
		Lifetimes: Lifetimes{Access: time.Minute, Refresh: time.Hour, RefreshMax: 2 * time.Hour, IDToken: time.Minute},
		Now:       clock,
	}
	if extra != nil {
		opts.Grants = []func(*Provider) Grant{extra}
	}
	p := New(opts)
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := clock()
	if err := store.CreateClient(t.Context(), storage.Client{
		ID: "app", SecretHash: secrets.Hash("app-secret"), GrantTypes: grantTypes,
		TokenEndpointAuthMethod: AuthSecretBasic, Scope: "read write", AccessTokenFormat: "jwt",
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

func tokenRequest(t *testing.T, p *Provider, form url.Values, secret string) (*TokenResponse, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("User-Agent", "grant-test/1")
	r.SetBasicAuth("app", secret)
	return p.Token(WithClientIP(t.Context(), "192.0.2.7"), r)
}

func TestANewGrantIsOneTypeAndOneRegistration(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	echo := &echoGrant{}
	p := newTestProvider(t, func() time.Time { return now }, []string{grantEcho}, func(p *Provider) Grant { echo.p = p; return echo })

	t.Run("the endpoint calls it with the authenticated client and the request's values", func(t *testing.T) {
		resp, err := tokenRequest(t, p, url.Values{"grant_type": {grantEcho}, "echo": {"read"}}, "app-secret")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Scope != "read" || resp.AccessToken == "" || resp.TokenType != "Bearer" || resp.RefreshToken != "" {
			t.Fatalf("response %+v", resp)
		}
		req := echo.seen
		if req.Client.ID != "app" || req.GrantType != grantEcho || req.UserAgent != "grant-test/1" || req.IP != "192.0.2.7" || !req.Time.Equal(now) {
			t.Fatalf("request %+v", req)
		}
		info, err := p.VerifyAccessToken(t.Context(), resp.AccessToken)
		if err != nil || info.ClientID != "app" || info.Scope != "read" || info.Subject != "app" {
			t.Fatalf("issued token: %+v, %v", info, err)
		}
	})
	t.Run("its errors reach the caller unchanged", func(t *testing.T) {
		_, err := tokenRequest(t, p, url.Values{"grant_type": {grantEcho}}, "app-secret")
		if !errors.Is(err, ErrInvalidRequest) || AsError(err).Description != "echo is required" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("it is never called for a client that failed authentication", func(t *testing.T) {
		echo.seen = nil
		_, err := tokenRequest(t, p, url.Values{"grant_type": {grantEcho}, "echo": {"read"}}, "wrong")
		if !errors.Is(err, ErrInvalidClient) || echo.seen != nil {
			t.Fatalf("got %v, grant called: %v", err, echo.seen != nil)
		}
	})
	t.Run("discovery lists it", func(t *testing.T) {
		body, err := p.Discovery(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var d Discovery
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		want := append(BuiltinGrantTypes(), grantEcho)
		if !slices.Equal(d.GrantTypesSupported, want) {
			t.Fatalf("grant_types_supported = %v, want %v", d.GrantTypesSupported, want)
		}
	})
}

func TestTokenEndpointDispatch(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := newTestProvider(t, func() time.Time { return now }, []string{GrantClientCredentials}, nil)
	tests := []struct {
		name string
		form url.Values
		want *Error
	}{
		{"a missing grant_type is invalid_request", url.Values{}, ErrInvalidRequest},
		{"an unregistered grant_type is unsupported_grant_type", url.Values{"grant_type": {grantEcho}}, ErrUnsupportedGrantType},
		{"a grant the client is not registered for is unauthorized_client", url.Values{"grant_type": {GrantPassword}, "username": {"u"}, "password": {"p"}}, ErrUnauthorizedClient},
		{"a scope outside the client's is invalid_scope", url.Values{"grant_type": {GrantClientCredentials}, "scope": {"admin"}}, ErrInvalidScope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tokenRequest(t, p, tc.form, "app-secret")
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %s", err, tc.want.Code)
			}
		})
	}
	t.Run("the registered grant issues", func(t *testing.T) {
		resp, err := tokenRequest(t, p, url.Values{"grant_type": {GrantClientCredentials}}, "app-secret")
		if err != nil || resp.Scope != "read write" {
			t.Fatalf("got %+v, %v", resp, err)
		}
	})
	t.Run("registering a grant type twice panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		newGrantRegistry([]Grant{clientCredentialsGrant{p}, clientCredentialsGrant{p}})
	})
}
