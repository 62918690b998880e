package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/throttle"
)

// Token endpoint authentication methods (RFC 7591 §2).
const (
	AuthSecretBasic = "client_secret_basic"
	AuthSecretPost  = "client_secret_post"
	AuthNone        = "none"
)

// ScopeAPI lets an access token act on latchkey's own user and admin APIs
// (/auth/, /admin/) for its user. Tokens of the first-party client need no
// scope; any other client must be registered for this one, so an app a
// user signed in to cannot change their password or, for staff, use the
// admin API with the token it holds.
const ScopeAPI = "latchkey"

// clientStore is what the provider needs of clients: reading them, and
// creating the built-in first-party client.
type clientStore interface {
	GetClient(ctx context.Context, id string) (storage.Client, error)
	CreateClient(ctx context.Context, c storage.Client) error
}

// ForgetClient drops a client from the cache after an administrative
// change, so this instance sees it at once (others within
// tokens.client_cache_ttl).
func (p *Provider) ForgetClient(id string) { p.clients.evict(id) }

// clientCache keeps clients for tokens.client_cache_ttl.
type clientCache struct {
	store clientStore
	cache *ttlCache[string, *storage.Client]
	// docs resolves metadata-document clients (nil: off); they are cached
	// by the resolver, not here.
	docs ClientMetadataDocuments
}

// maxCachedClients bounds the client cache (client IDs are chosen by admins,
// so this is a safety net).
const maxCachedClients = 10000

func newClientCache(store clientStore, ttl time.Duration, now func() time.Time) *clientCache {
	return &clientCache{store: store, cache: newTTLCache[string, *storage.Client](ttl, maxCachedClients, now)}
}

func (c *clientCache) get(ctx context.Context, id string) (*storage.Client, error) {
	if c.docs != nil && c.docs.Handles(id) {
		return resolveDocument(ctx, c.docs, id)
	}
	return c.cache.get(id, func() (*storage.Client, error) {
		cl, err := c.store.GetClient(ctx, id)
		if err != nil {
			return nil, err
		}
		return &cl, nil
	})
}

func (c *clientCache) evict(id string) { c.cache.evict(id) }

// reload reads a client from the store, bypassing and refreshing the cache.
func (c *clientCache) reload(ctx context.Context, id string) (*storage.Client, error) {
	c.cache.evict(id)
	return c.get(ctx, id)
}

// clientCredentials are what a request presented to authenticate a client.
type clientCredentials struct {
	id, secret string
	method     string // client_secret_basic, client_secret_post or none
}

// readClientCredentials extracts client credentials from the Authorization
// header or the form (RFC 6749 §2.3.1). Using both is an error (§2.3).
func readClientCredentials(r *http.Request, form url.Values) (clientCredentials, error) {
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	if auth := r.Header.Get("Authorization"); auth != "" {
		id, secret, ok := r.BasicAuth()
		if !ok {
			return clientCredentials{}, ErrInvalidClient.WithDescription("malformed Authorization header")
		}
		if formSecret != "" {
			return clientCredentials{}, ErrInvalidRequest.WithDescription("use one client authentication method, not two")
		}
		// The id and secret are form-urlencoded before Basic encoding (§2.3.1).
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || id == "" || !validText(id) || !validText(secret) {
			return clientCredentials{}, ErrInvalidClient.WithDescription("malformed client credentials")
		}
		if formID != "" && formID != id {
			return clientCredentials{}, ErrInvalidRequest.WithDescription("client_id does not match the Authorization header")
		}
		return clientCredentials{id: id, secret: secret, method: AuthSecretBasic}, nil
	}
	if formID == "" {
		return clientCredentials{}, ErrInvalidClient.WithDescription("client authentication is required")
	}
	if formSecret != "" {
		return clientCredentials{id: formID, secret: formSecret, method: AuthSecretPost}, nil
	}
	return clientCredentials{id: formID, method: AuthNone}, nil
}

// authenticateClient checks the presented credentials against the client.
// Unknown client and wrong secret give the same answer. A confidential client
// may present its secret by either secret method; a public client must not
// present one.
//
// A presented secret is a credential check under the rate limits (see
// throttle): checked for blocks before the client is looked up, and an
// unknown client or a wrong secret counted as a failure alike.
func (p *Provider) authenticateClient(ctx context.Context, cred clientCredentials) (*storage.Client, error) {
	var att *throttle.Attempt
	if cred.method != AuthNone {
		var err error
		if att, err = p.limiter.Begin(ctx, throttle.KindClientSecret, cred.id, ClientIP(ctx)); err != nil {
			return nil, throttleErr(err)
		}
	}
	cl, err := p.clients.get(ctx, cred.id)
	if errors.Is(err, storage.ErrNotFound) {
		p.secrets.Verify(cred.secret, dummySecretHash) // same work as a real check
		return nil, badClientSecret(ctx, att)
	}
	if err != nil {
		return nil, err
	}
	secretOK := false
	if cl.TokenEndpointAuthMethod != AuthNone && cred.method != AuthNone {
		secretOK = p.secrets.Verify(cred.secret, cl.SecretHash)
		if !secretOK {
			// The cached client may predate a secret rotation made on another
			// instance: a wrong secret is checked once more against the store,
			// so a new secret works everywhere at once (an old one stops within
			// tokens.client_cache_ttl). Failures are rate limited, so this
			// read cannot be hammered.
			if fresh, err := p.clients.reload(ctx, cred.id); err == nil {
				cl = fresh
				secretOK = p.secrets.Verify(cred.secret, cl.SecretHash)
			} else if !errors.Is(err, storage.ErrNotFound) {
				return nil, err
			}
		}
	}
	public := cl.TokenEndpointAuthMethod == AuthNone
	switch {
	case public && cred.method != AuthNone:
		return nil, ErrInvalidClient.WithDescription("this client is public and has no secret")
	case !public && cred.method == AuthNone:
		return nil, ErrInvalidClient.WithDescription("client authentication is required")
	case !public && !secretOK:
		return nil, badClientSecret(ctx, att)
	}
	att.Succeeded(ctx)
	return cl, nil
}

// badClientSecret counts a failed secret check and answers invalid_client,
// or 503 when the failure could not be counted.
func badClientSecret(ctx context.Context, att *throttle.Attempt) error {
	if err := att.Failed(ctx); err != nil {
		return throttleErr(err)
	}
	return ErrInvalidClient
}

// dummySecretHash is compared against when the client does not exist.
const dummySecretHash = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// allowsGrant reports whether the client is registered for the grant type.
func allowsGrant(cl *storage.Client, grant string) bool {
	for _, g := range cl.GrantTypes {
		if g == grant {
			return true
		}
	}
	return false
}

// grantScope decides the scope of a request: the requested scopes the
// client is registered for, once each in request order, or all of the
// client's scopes when none is requested. A requested scope the client may
// not ask for is left out when others remain, as RFC 6749 §3.3 allows (the
// answer's scope then tells the client), and invalid_scope when none
// remains. The permission mapper (mapGrant, at minting) then keeps those
// the user qualifies for.
func grantScope(cl *storage.Client, requested string) (string, error) {
	allowed := strings.Fields(cl.Scope)
	if strings.TrimSpace(requested) == "" {
		return strings.Join(allowed, " "), nil
	}
	var out []string
	for _, s := range strings.Fields(requested) {
		if contains(allowed, s) && !contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return "", ErrInvalidScope.WithDescription("scope " + quoteScope(strings.Fields(requested)[0]) + " is not allowed")
	}
	return strings.Join(out, " "), nil
}

// narrowScope checks that every requested scope is in allowed and returns
// them once each, in request order.
func narrowScope(requested string, allowed []string) (string, error) {
	var out []string
	for _, s := range strings.Fields(requested) {
		if !contains(allowed, s) {
			return "", ErrInvalidScope.WithDescription("scope " + quoteScope(s) + " is not allowed")
		}
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " "), nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// quoteScope echoes a scope token safely (RFC 6749 scope tokens are
// printable ASCII without quotes or backslashes).
func quoteScope(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	for _, c := range s {
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return "(invalid)"
		}
	}
	return `"` + s + `"`
}
