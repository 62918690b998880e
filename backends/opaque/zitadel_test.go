package opaque

import (
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/latchkey-auth/latchkey/backends"
)

// An OpenID provider of another origin — zitadel's op package, serving RFC
// 7662 introspection of its own opaque bearer tokens — as the upstream.
func TestAgainstZitadelOP(t *testing.T) {
	var calls atomic.Int64
	var handler http.Handler
	var ready sync.WaitGroup
	ready.Add(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ready.Wait()
		if r.URL.Path == "/oauth/introspect" {
			calls.Add(1)
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	issuer := srv.URL
	stor := storage.NewStorageWithClients(storage.NewUserStore(issuer), map[string]*storage.Client{
		"resource-server": storage.WebClient("resource-server", "rs-secret", issuer+"/cb"),
	})
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte("zitadel test key"))}, stor,
		op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	handler = provider
	ready.Done()

	// A bearer token of user id1 for the resource server, as the op mints it.
	mint := func(t *testing.T, scopes ...string) string {
		t.Helper()
		req := &oidc.JWTTokenRequest{Subject: "id1", Audience: []string{"resource-server"}, Scopes: scopes}
		id, _, err := stor.CreateAccessToken(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := op.CreateBearerToken(id, "id1", provider.Crypto())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	open := func(t *testing.T, cfg Config) *Backend {
		t.Helper()
		cfg.IntrospectionURL = issuer + "/oauth/introspect"
		if cfg.ClientID == "" {
			cfg.ClientID, cfg.ClientSecret = "resource-server", "rs-secret"
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		impl, err := cfg.Open("zitadel", backends.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		return impl.(*Backend)
	}

	t.Run("an active token answers its owner and scope", func(t *testing.T) {
		b := open(t, Config{})
		tok := mint(t, "openid", "email", "profile")
		info, ok, err := b.IntrospectToken(t.Context(), tok)
		if err != nil || !ok {
			t.Fatalf("IntrospectToken = %v, %v", ok, err)
		}
		id := info.Identity
		if id.Backend != "zitadel" || id.Subject != "id1" || id.Email != "test-user@zitadel.ch" || !id.EmailVerified {
			t.Errorf("identity %+v", id)
		}
		if info.Scope != "openid email profile" || info.ExpiresAt.Before(time.Now()) {
			t.Errorf("scope %q exp %v", info.Scope, info.ExpiresAt)
		}
	})
	t.Run("cached: one upstream call for repeated and concurrent lookups", func(t *testing.T) {
		b := open(t, Config{})
		tok := mint(t, "openid")
		before := calls.Load()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, ok, err := b.IntrospectToken(t.Context(), tok); !ok || err != nil {
					t.Errorf("concurrent lookup: %v, %v", ok, err)
				}
			})
		}
		wg.Wait()
		for range 3 {
			if _, ok, _ := b.IntrospectToken(t.Context(), tok); !ok {
				t.Fatal("inactive from the cache")
			}
		}
		if n := calls.Load() - before; n != 1 {
			t.Errorf("%d upstream calls; want 1", n)
		}
	})
	t.Run("an unknown or forged token is inactive", func(t *testing.T) {
		b := open(t, Config{})
		for _, tok := range []string{"not-a-token", strings.Repeat("A", 80)} {
			if _, ok, err := b.IntrospectToken(t.Context(), tok); ok || err != nil {
				t.Errorf("IntrospectToken(%.10q) = %v, %v; want inactive", tok, ok, err)
			}
		}
	})
	t.Run("wrong client credentials are an error, not an inactive token", func(t *testing.T) {
		b := open(t, Config{ClientID: "resource-server", ClientSecret: "wrong"})
		if _, ok, err := b.IntrospectToken(t.Context(), mint(t, "openid")); ok || err == nil {
			t.Errorf("IntrospectToken = %v, %v; want an error", ok, err)
		}
	})
}
