// Package resourceserver verifies latchkey access tokens in an API (a
// resource server) and checks permissions the way Django REST Framework's
// permission classes do.
//
// A Verifier finds the issuer's JWKS and introspection endpoint by
// discovery, verifies JWT access tokens (RFC 9068) against the cached key
// set, and optionally asks the introspection endpoint (RFC 7662) about
// opaque tokens, and about JWTs too so that a revocation is seen at once.
// Middleware (net/http; the ginrs subpackage for Gin) puts the verified
// Principal in the request context and answers failures with DRF's JSON
// bodies and an RFC 6750 WWW-Authenticate header.
//
// The package imports nothing of latchkey's server: an API vendors only it,
// go-jose and golang.org/x/sync.
package resourceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Errors returned by Verify, compared with errors.Is.
var (
	// ErrInvalidToken: the token is malformed, expired, revoked, from
	// another issuer or audience, signed by an unknown key, or not an access
	// token. Answered 401 invalid_token.
	ErrInvalidToken = errors.New("invalid token")
	// ErrUnavailable: the issuer (JWKS or introspection) did not answer.
	// Answered 503.
	ErrUnavailable = errors.New("authorization server unavailable")
)

// Config configures a Verifier. Issuer and Audience are required.
type Config struct {
	// Issuer is latchkey's issuer URL (its "issuer" config key); discovery
	// is read from Issuer + "/.well-known/openid-configuration", and every
	// token's iss must equal it.
	Issuer string
	// Audience must be among a token's aud. latchkey's default audience
	// (tokens.audience) is the issuer URL; a resource registered in
	// latchkey's `resources:` (RFC 8707) is its URI. A token issued for
	// another resource is refused.
	Audience string
	// Leeway is the clock skew allowed on exp and nbf (default 30s).
	Leeway time.Duration
	// JWKSRefreshInterval is the least time between two JWKS fetches caused
	// by tokens with an unknown kid (default 10s): a flood of forged kids
	// costs the issuer one request per interval.
	JWKSRefreshInterval time.Duration
	// JWKSMaxAge is how long the key set is trusted before the next
	// verification refetches it, so a key removed from the JWKS stops
	// working (default 10m). A failed refetch keeps the old keys.
	JWKSMaxAge time.Duration
	// Introspection, if set, sends opaque tokens (and JWTs, with
	// IntrospectJWTs) to the issuer's introspection endpoint. Without it an
	// opaque token is refused.
	Introspection *Introspection
	// HTTPClient makes the requests to the issuer (default: a client with a
	// 10s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ResourceMetadata, when set, is the URL of the API's Protected
	// Resource Metadata (RFC 9728; MetadataURL gives it for a resource
	// URI): every 401 of the middleware carries it in WWW-Authenticate
	// (resource_metadata="..."), so a client that knows only the API finds
	// where to get a token.
	ResourceMetadata string
}

// Introspection configures RFC 7662 introspection: latchkey requires a
// confidential client to introspect.
type Introspection struct {
	ClientID     string
	ClientSecret string
	// IntrospectJWTs asks about JWT access tokens too (after their
	// signature checks out), so a revoked token is refused within CacheTTL
	// instead of living until it expires.
	IntrospectJWTs bool
	// CacheTTL is how long an answer is reused (default 10s; never past the
	// token's exp). A negative value turns the cache off: every request
	// asks, and a revocation is seen at once.
	CacheTTL time.Duration
	// MaxEntries bounds the cache (default 10000).
	MaxEntries int
}

// Verifier verifies access tokens. It is safe for concurrent use.
type Verifier struct {
	cfg           Config
	client        *http.Client
	now           func() time.Time
	jwksURL       string
	introspectURL string

	keysMu    sync.RWMutex
	keys      map[string]jose.JSONWebKey // by kid
	fetchedAt time.Time                  // last successful fetch
	triedAt   time.Time                  // last attempt caused by an unknown kid
	flight    singleflight.Group         // "jwks" and introspections by token

	cacheMu sync.RWMutex
	cache   map[string]cached

	beforeFlight func() // tests: called before an introspection joins its flight
}

type cached struct {
	p       *Principal // nil: inactive
	expires time.Time
}

// verifyAlgorithms are the JWS algorithms accepted: asymmetric ones only,
// never none or HMAC (RFC 8725 §3.1).
var verifyAlgorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// maxTokenLength refuses absurd tokens before parsing them.
const maxTokenLength = 16 << 10

// New reads the issuer's discovery document and key set and returns a
// Verifier. ctx bounds these first requests.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("resourceserver: Issuer and Audience are required")
	}
	if m := cfg.ResourceMetadata; m != "" {
		if u, err := url.Parse(m); err != nil || !u.IsAbs() || quotable(m) != m {
			return nil, errors.New("resourceserver: ResourceMetadata must be an absolute URL")
		}
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.JWKSRefreshInterval == 0 {
		cfg.JWKSRefreshInterval = 10 * time.Second
	}
	if cfg.JWKSMaxAge == 0 {
		cfg.JWKSMaxAge = 10 * time.Minute
	}
	v := &Verifier{cfg: cfg, client: cfg.HTTPClient, now: cfg.Now, cache: map[string]cached{}}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if in := cfg.Introspection; in != nil {
		if in.ClientID == "" || in.ClientSecret == "" {
			return nil, errors.New("resourceserver: introspection needs ClientID and ClientSecret")
		}
		c := *in
		if c.CacheTTL == 0 {
			c.CacheTTL = 10 * time.Second
		}
		if c.MaxEntries <= 0 {
			c.MaxEntries = 10000
		}
		v.cfg.Introspection = &c
	}
	var doc struct {
		Issuer                string `json:"issuer"`
		JWKSURI               string `json:"jwks_uri"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	if err := v.getJSON(ctx, cfg.Issuer+"/.well-known/openid-configuration", &doc); err != nil {
		return nil, fmt.Errorf("resourceserver: discovery: %w", err)
	}
	if strings.TrimSuffix(doc.Issuer, "/") != cfg.Issuer {
		return nil, fmt.Errorf("resourceserver: discovery names issuer %q, want %q", doc.Issuer, cfg.Issuer)
	}
	if doc.JWKSURI == "" {
		return nil, errors.New("resourceserver: discovery has no jwks_uri")
	}
	v.jwksURL, v.introspectURL = doc.JWKSURI, doc.IntrospectionEndpoint
	if cfg.Introspection != nil && v.introspectURL == "" {
		return nil, errors.New("resourceserver: discovery has no introspection_endpoint")
	}
	if err := v.fetchKeys(ctx); err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	return v, nil
}

// Verify verifies an access token and returns its principal. Errors wrap
// ErrInvalidToken or ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if token == "" || len(token) > maxTokenLength {
		return nil, fmt.Errorf("%w: empty or too long", ErrInvalidToken)
	}
	in := v.cfg.Introspection
	if strings.Count(token, ".") != 2 {
		if in == nil {
			return nil, fmt.Errorf("%w: not a JWT and introspection is off", ErrInvalidToken)
		}
		if strings.HasPrefix(token, "lk_rt_") {
			return nil, fmt.Errorf("%w: a refresh token", ErrInvalidToken)
		}
		return v.introspect(ctx, token, nil)
	}
	p, err := v.verifyJWT(ctx, token)
	if err != nil || in == nil || !in.IntrospectJWTs {
		return p, err
	}
	return v.introspect(ctx, token, p)
}

// verifyJWT checks a JWT access token's signature, typ and claims.
func (v *Verifier) verifyJWT(ctx context.Context, token string) (*Principal, error) {
	jws, err := jose.ParseSignedCompact(token, verifyAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: not a signed JWT with an accepted algorithm", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenType(typ) {
		return nil, fmt.Errorf("%w: typ %q is not at+jwt (an ID token is not an access token)", ErrInvalidToken, typ)
	}
	key, err := v.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != "" && key.Algorithm != h.Algorithm {
		return nil, fmt.Errorf("%w: alg %s does not match the key's", ErrInvalidToken, h.Algorithm)
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object", ErrInvalidToken)
	}
	return v.checkClaims(claims, true)
}

// isAccessTokenType: RFC 9068 §2.1 says typ is at+jwt; RFC 7515 §4.1.9
// lets the application/ prefix be there or not, in any case.
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == "at+jwt" || typ == "application/at+jwt"
}

// checkClaims checks iss, aud, exp and nbf; signed says every one of iss,
// sub, aud and exp must be there (an introspection answer may leave some
// out).
func (v *Verifier) checkClaims(c map[string]any, signed bool) (*Principal, error) {
	now := v.now()
	iss, ok := c["iss"].(string)
	if ok && iss != v.cfg.Issuer || !ok && signed {
		return nil, fmt.Errorf("%w: issuer %q is not %q", ErrInvalidToken, iss, v.cfg.Issuer)
	}
	p := principalOf(c)
	if _, has := c["aud"]; has || signed {
		if !contains(p.Audience, v.cfg.Audience) {
			return nil, fmt.Errorf("%w: audience %q does not include %q", ErrInvalidToken, p.Audience, v.cfg.Audience)
		}
	}
	if p.Expiry.IsZero() {
		if _, has := c["exp"]; has || signed {
			return nil, fmt.Errorf("%w: no exp", ErrInvalidToken)
		}
	} else if !now.Before(p.Expiry.Add(v.cfg.Leeway)) {
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	if nbf, ok := numericDate(c["nbf"]); ok && now.Add(v.cfg.Leeway).Before(nbf) {
		return nil, fmt.Errorf("%w: not valid yet", ErrInvalidToken)
	}
	if p.Subject == "" {
		return nil, fmt.Errorf("%w: no sub", ErrInvalidToken)
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// key returns the published key with kid. An unknown kid, or a key set
// older than JWKSMaxAge, refetches the key set — at most once per
// JWKSRefreshInterval, so neither forged kids nor an issuer that is down
// make a request per token. A failed refetch keeps the keys there are.
func (v *Verifier) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	now := v.now()
	v.keysMu.RLock()
	k, ok := v.keys[kid]
	stale := now.Sub(v.fetchedAt) >= v.cfg.JWKSMaxAge
	v.keysMu.RUnlock()
	if ok && !stale {
		return k, nil
	}
	v.keysMu.Lock()
	allowed := now.Sub(v.triedAt) >= v.cfg.JWKSRefreshInterval
	if allowed {
		v.triedAt = now
	}
	v.keysMu.Unlock()
	if allowed {
		if err := v.fetchKeys(ctx); err != nil && !ok {
			return k, fmt.Errorf("%w: unknown key %q and %w", ErrInvalidToken, kid, err)
		}
		v.keysMu.RLock()
		k, ok = v.keys[kid]
		v.keysMu.RUnlock()
	}
	if !ok {
		return k, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, kid)
	}
	return k, nil
}

// fetchKeys replaces the key set with the issuer's JWKS; concurrent
// callers share one request.
func (v *Verifier) fetchKeys(ctx context.Context) error {
	_, err, _ := v.flight.Do("\x00jwks", func() (any, error) {
		var set jose.JSONWebKeySet
		if err := v.getJSON(context.WithoutCancel(ctx), v.jwksURL, &set); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		keys := make(map[string]jose.JSONWebKey, len(set.Keys))
		for _, k := range set.Keys {
			if k.IsPublic() && k.Valid() && (k.Use == "" || k.Use == "sig") {
				keys[k.KeyID] = k
			}
		}
		v.keysMu.Lock()
		v.keys, v.fetchedAt = keys, v.now()
		v.keysMu.Unlock()
		return nil, nil
	})
	return err
}

// getJSON GETs url into out.
func (v *Verifier) getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	return v.do(req, out)
}

func (v *Verifier) do(req *http.Request, out any) error {
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: read %s: %w", ErrUnavailable, req.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s %s answered %s", ErrUnavailable, req.Method, req.URL, resp.Status)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, req.URL, err)
	}
	return nil
}
