package resourceserver

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Principal is who a verified access token speaks for. Every field comes
// from the token's claims (or the introspection answer, RFC 7662 §2.2,
// which uses the same names); Claims holds all of them as decoded JSON.
type Principal struct {
	Subject     string    // sub: a user's id, or the client ID for a client_credentials token
	Username    string    // username (user tokens only)
	ClientID    string    // client_id: the client the token was issued to
	Scopes      []string  // scope, split on spaces
	Groups      []string  // groups (user tokens)
	Permissions []string  // permissions (user tokens), e.g. store.change_product
	Audience    []string  // aud
	TokenID     string    // jti
	Expiry      time.Time // exp
	Claims      map[string]any
}

// IsClient reports whether the token was issued to a client for itself
// (client_credentials): latchkey sets its sub to the client ID.
func (p *Principal) IsClient() bool { return p.Subject == p.ClientID }

// HasScope reports whether the token was granted every one of scopes.
func (p *Principal) HasScope(scopes ...string) bool {
	for _, s := range scopes {
		if !slices.Contains(p.Scopes, s) {
			return false
		}
	}
	return true
}

// HasPermission reports whether the token carries every one of perms
// (Django's user.has_perms).
func (p *Principal) HasPermission(perms ...string) bool {
	for _, s := range perms {
		if !slices.Contains(p.Permissions, s) {
			return false
		}
	}
	return true
}

// InGroup reports whether the user is a member of group.
func (p *Principal) InGroup(group string) bool { return slices.Contains(p.Groups, group) }

// AdminRole is the role of staff users (contract: "is_staff is the admin
// role"): IsStaff looks for it in the permissions and roles claims.
const AdminRole = "admin"

// IsStaff reports whether the token speaks for a staff user (Django's
// is_staff): a true is_staff or is_superuser claim, or the admin role in
// the permissions or roles claims. latchkey's permission mapper puts the
// admin role in the permissions of staff users' tokens (and of members of
// a group holding it).
func (p *Principal) IsStaff() bool {
	if b, _ := p.Claims["is_staff"].(bool); b {
		return true
	}
	if b, _ := p.Claims["is_superuser"].(bool); b {
		return true
	}
	return slices.Contains(p.Permissions, AdminRole) || slices.Contains(stringList(p.Claims["roles"]), AdminRole)
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal the middleware put in ctx, and false
// for an anonymous request.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// principalOf builds a principal from decoded claims.
func principalOf(c map[string]any) *Principal {
	p := &Principal{Claims: c}
	p.Subject, _ = c["sub"].(string)
	p.Username, _ = c["username"].(string)
	p.ClientID, _ = c["client_id"].(string)
	p.TokenID, _ = c["jti"].(string)
	if s, _ := c["scope"].(string); s != "" {
		p.Scopes = strings.Fields(s)
	}
	p.Groups = stringList(c["groups"])
	p.Permissions = stringList(c["permissions"])
	p.Audience = stringList(c["aud"])
	if exp, ok := numericDate(c["exp"]); ok {
		p.Expiry = exp
	}
	return p
}

// stringList reads a JSON string or array of strings; anything else is nil.
func stringList(v any) []string {
	switch l := v.(type) {
	case string:
		return []string{l}
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// numericDate reads a JSON NumericDate (RFC 7519 §2).
func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}
