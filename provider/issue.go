package provider

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey-auth/latchkey/permissions"
	"github.com/latchkey-auth/latchkey/storage"
)

// subject is who a token is about: a user, or the client itself.
type subject struct {
	ID            string // the sub claim
	UserID        int64  // 0 for a client
	Username      string
	Email         string
	EmailVerified bool
	FirstName     string
	LastName      string
	Groups        []string
	// facts are what the permission mapper is told; nil for a client.
	facts *permissions.User
}

// grantSpec is everything needed to mint the tokens of one grant.
type grantSpec struct {
	client   *storage.Client
	subject  subject
	scope    string
	authTime time.Time
	family   *storage.Family // the session; nil when no refresh token goes with it
	refresh  string          // the new refresh token, if any
	now      time.Time       // the request's time: iat, exp
	nonce    string          // OIDC nonce of the authorization request
	amr      []string        // authentication methods of the login (RFC 8176)
	// sid is the login session of a browser sign-in, the ID token's sid;
	// empty: the family's ID.
	sid    string
	mapped permissions.Result
	idp    string // the backend that authenticated the user
	// maxTTL, when set, caps the access token's lifetime (token exchange:
	// never past the subject token's expiry).
	maxTTL time.Duration
	// resource is what the access token is for (RFC 8707): its aud, a
	// bound on its scope and lifetime; nil: the default audience.
	resource *Resource
}

// clientIPKey carries the caller's address (set by the HTTP layer, which
// knows the trusted proxies) into the provider.
type clientIPKey struct{}

// WithClientIP returns a context that carries the caller's IP address.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP returns the address WithClientIP put in ctx ("" when none).
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// maxCachedUsers bounds the user cache.
const maxCachedUsers = 100000

// loadUser reads a user and their groups for a token, from the user cache
// (tokens.user_cache_ttl) unless fresh. An inactive or deleted user gets no
// token.
func (p *Provider) loadUser(ctx context.Context, userID int64, fresh bool) (subject, error) {
	if fresh {
		p.users.evict(userID)
	}
	return p.users.get(userID, func() (subject, error) { return p.readUser(ctx, userID) })
}

func (p *Provider) readUser(ctx context.Context, userID int64) (subject, error) {
	u, err := p.store.GetUser(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && !u.IsActive {
		return subject{}, ErrInvalidGrant.WithDescription("the user is not active")
	}
	if err != nil {
		return subject{}, fmt.Errorf("load user: %w", err)
	}
	groups, err := p.store.UserGroups(ctx, userID)
	if err != nil {
		return subject{}, fmt.Errorf("load groups: %w", err)
	}
	s := subject{
		ID: strconv.FormatInt(u.ID, 10), UserID: u.ID, Username: u.Username,
		Email: u.Email, EmailVerified: u.EmailVerified, FirstName: u.FirstName, LastName: u.LastName,
	}
	for _, g := range groups {
		s.Groups = append(s.Groups, g.Name)
	}
	sort.Strings(s.Groups)
	s.facts = userFacts(u, groups)
	return s, nil
}

// userIDOf parses the sub of a user token; client tokens have none.
func userIDOf(sub string) (int64, bool) {
	id, err := strconv.ParseInt(sub, 10, 64)
	return id, err == nil && id > 0
}

// newFamily starts a session for a login.
func (p *Provider) newFamily(ctx context.Context, req *TokenRequest, sub subject, scope string) (*storage.Family, string, error) {
	return p.newFamilyWithID(ctx, req, newID(), sub, scope, req.Time)
}

// newFamilyWithID starts the session id, for a login at authTime. The
// session keeps the scope the permission mapper grants sub (so a refresh
// can only narrow it); invalid_scope, before anything is stored, when it
// grants nothing.
func (p *Provider) newFamilyWithID(ctx context.Context, req *TokenRequest, id string, sub subject, scope string, authTime time.Time) (*storage.Family, string, error) {
	return p.newFamilyFor(ctx, req, id, sub, scope, authTime, nil)
}

// newFamilyFor is newFamilyWithID for a session whose access tokens are
// for resource (RFC 8707); the family remembers it for every refresh.
func (p *Provider) newFamilyFor(ctx context.Context, req *TokenRequest, id string, sub subject, scope string, authTime time.Time, resource *Resource) (*storage.Family, string, error) {
	scope, err := p.grantedScope(ctx, req.Client, sub, scope)
	if err != nil {
		return nil, "", err
	}
	now := req.Time
	fam := &storage.Family{
		ID: id, ClientID: req.Client.ID, Subject: sub.ID, Scope: scope, Resource: resource.uri(),
		AuthTime: authTime, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(p.lifetimes.RefreshMax),
		IP:        req.IP, UserAgent: truncate(req.UserAgent, 256),
	}
	raw := p.secrets.NewRefreshToken(fam.ID, 0)
	first := storage.RefreshToken{
		Hash: p.secrets.Hash(raw), FamilyID: fam.ID, CreatedAt: now,
		ExpiresAt: minTime(now.Add(p.refreshTTL(req.Client)), fam.ExpiresAt),
	}
	if err := p.tokens.CreateFamily(ctx, *fam, first); err != nil {
		return nil, "", fmt.Errorf("create session: %w", err)
	}
	return fam, raw, nil
}

// mint signs (or stores) the access token and, when openid was granted to a
// user, the ID token, and builds the response. Every grant comes through
// here: the permission mapper (mapGrant) decides the scope, groups,
// permissions and extra claims from the grant's scope and the subject's
// current facts.
func (p *Provider) mint(ctx context.Context, g grantSpec) (*TokenResponse, error) {
	scope, err := g.resource.limit(g.scope)
	if err != nil {
		return nil, err
	}
	mapped, err := p.mapGrant(ctx, g.client, g.subject, scope)
	if err != nil {
		return nil, err
	}
	g.mapped, g.scope = mapped, strings.Join(mapped.Scopes, " ")
	now := g.now
	ttl := p.accessTTL(g.client)
	if g.maxTTL > 0 && ttl > g.maxTTL {
		ttl = g.maxTTL
	}
	if r := g.resource; r != nil && r.AccessTTL > 0 {
		ttl = min(ttl, r.AccessTTL, MaxClientAccessTTL)
	}
	access, err := p.mintAccess(ctx, g, now, ttl)
	if err != nil {
		return nil, err
	}
	resp := &TokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second),
		Scope: g.scope, RefreshToken: g.refresh,
	}
	if g.subject.UserID != 0 && hasScope(g.scope, "openid") {
		if resp.IDToken, err = p.mintIDToken(ctx, g, now, access); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (p *Provider) mintAccess(ctx context.Context, g grantSpec, now time.Time, ttl time.Duration) (string, error) {
	claims := AccessClaims{
		Issuer: p.issuer, Subject: g.subject.ID, Audience: p.audienceFor(g.resource),
		IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(), ID: newID(),
		ClientID: g.client.ID, Scope: g.scope, Username: g.subject.Username,
		Groups: g.mapped.Groups, Permissions: g.mapped.Permissions, IdentityProvider: g.idp,
	}
	if g.family != nil {
		claims.SessionID = g.family.ID
	}
	if !g.authTime.IsZero() {
		claims.AuthTime = g.authTime.Unix()
	}
	if g.client.AccessTokenFormat != "opaque" {
		tok, err := p.keys.signAccess(ctx, claims)
		if err != nil {
			return "", fmt.Errorf("sign access token: %w", err)
		}
		return tok, nil
	}
	raw := NewSecret(PrefixAccessToken)
	rec := storage.AccessToken{
		Hash: p.secrets.Hash(raw), ID: claims.ID, FamilyID: claims.SessionID,
		ClientID: claims.ClientID, Subject: claims.Subject, Scope: claims.Scope,
		IssuedAt: now, ExpiresAt: now.Add(ttl),
		Claims: map[string]any{"username": claims.Username, "groups": claims.Groups, "permissions": claims.Permissions},
	}
	if g.resource != nil {
		rec.Claims["aud"] = g.resource.URI
	}
	if err := p.tokens.CreateAccessToken(ctx, rec); err != nil {
		return "", fmt.Errorf("store access token: %w", err)
	}
	return raw, nil
}

// ProfileClaims are the user claims the standard scopes grant (OIDC Core
// §5.4); ID tokens and userinfo share them.
type ProfileClaims struct {
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Name              string   `json:"name,omitempty"`
	GivenName         string   `json:"given_name,omitempty"`
	FamilyName        string   `json:"family_name,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     *bool    `json:"email_verified,omitempty"`
	Groups            []string `json:"groups,omitempty"`
}

// IDClaims are the claims of an ID token (OIDC Core §2).
type IDClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        Audience `json:"aud"`
	Expiry          int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time,omitempty"`
	Nonce           string   `json:"nonce,omitempty"`
	AuthorizedParty string   `json:"azp,omitempty"`
	SessionID       string   `json:"sid,omitempty"`
	AMR             []string `json:"amr,omitempty"`
	// IdentityProvider names the backend that authenticated the user.
	IdentityProvider string `json:"idp,omitempty"`
	AccessTokenHash  string `json:"at_hash,omitempty"`
	ProfileClaims
}

func (p *Provider) mintIDToken(ctx context.Context, g grantSpec, now time.Time, access string) (string, error) {
	c := IDClaims{
		Issuer: p.issuer, Subject: g.subject.ID, Audience: Audience{g.client.ID},
		IssuedAt: now.Unix(), Expiry: now.Add(p.lifetimes.IDToken).Unix(), AuthorizedParty: g.client.ID,
		Nonce: g.nonce, AMR: g.amr, IdentityProvider: g.idp,
	}
	if !g.authTime.IsZero() {
		c.AuthTime = g.authTime.Unix()
	}
	if g.family != nil {
		c.SessionID = g.family.ID
	}
	if g.sid != "" {
		c.SessionID = g.sid
	}
	c.ProfileClaims = profileClaims(g.subject, g.scope)
	tok, err := p.keys.signID(ctx, func(alg string) any {
		c.AccessTokenHash = halfHash(alg, access)
		return withExtraClaims(c, g.mapped.Claims)
	})
	if err != nil {
		return "", fmt.Errorf("sign id token: %w", err)
	}
	return tok, nil
}

// withExtraClaims adds the permission mapper's configured claims to the
// claims v (which win on a clash; the configuration cannot name theirs).
func withExtraClaims(v any, extra map[string]any) any {
	if len(extra) == 0 {
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return v
	}
	for k, x := range extra {
		if _, ok := m[k]; !ok {
			m[k] = x
		}
	}
	return m
}

// profileClaims returns the claims each granted standard scope allows.
func profileClaims(s subject, scope string) ProfileClaims {
	var c ProfileClaims
	if hasScope(scope, "profile") {
		c.PreferredUsername = s.Username
		c.GivenName, c.FamilyName = s.FirstName, s.LastName
		c.Name = strings.TrimSpace(s.FirstName + " " + s.LastName)
	}
	if hasScope(scope, "email") && s.Email != "" {
		c.Email = s.Email
		verified := s.EmailVerified
		c.EmailVerified = &verified
	}
	if hasScope(scope, "groups") {
		c.Groups = s.Groups
	}
	return c
}

func (p *Provider) accessTTL(cl *storage.Client) time.Duration {
	if cl.AccessTokenTTL > 0 {
		return min(cl.AccessTokenTTL, MaxClientAccessTTL)
	}
	return p.lifetimes.Access
}

func (p *Provider) refreshTTL(cl *storage.Client) time.Duration {
	if cl.RefreshTokenTTL > 0 {
		return cl.RefreshTokenTTL
	}
	return p.lifetimes.Refresh
}

// reuseGrace is the client's refresh reuse grace, or the server's.
func (p *Provider) reuseGrace(cl *storage.Client) time.Duration {
	if cl.RefreshReuseGrace != nil {
		return min(max(*cl.RefreshReuseGrace, 0), MaxRefreshReuseGrace)
	}
	return min(p.lifetimes.RefreshReuseGrace, MaxRefreshReuseGrace)
}

// hasScope reports whether a space-separated scope string holds s.
func hasScope(scope, s string) bool {
	for _, f := range strings.Fields(scope) {
		if f == s {
			return true
		}
	}
	return false
}

func splitScope(scope string) []string { return strings.Fields(scope) }

// newID returns 128 random bits, base64url: token IDs and session IDs.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("provider: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// truncate makes s valid UTF-8 (a User-Agent may hold Latin-1 bytes) and
// at most n bytes long, never splitting a character: stores refuse text
// that is not UTF-8.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
