package provider

import (
	"slices"
	"strings"
	"time"
)

// ParamResource is the resource indicator parameter (RFC 8707 §2). It is
// the one parameter that may be given more than once (ParseForm and the
// authorization request let it through; resolveResource decides).
const ParamResource = "resource"

// Resource is a protected resource registered in config (`resources:`):
// a client names it with the resource parameter and gets tokens whose aud
// is its URI.
type Resource struct {
	// URI is the resource indicator, matched exactly.
	URI string
	// Scopes are the scopes the resource accepts; empty accepts any.
	Scopes []string
	// AccessTTL caps the lifetime of its access tokens; 0: no cap.
	AccessTTL time.Duration
}

// oidcScopes govern the ID token and the refresh token latchkey gives the
// client itself, not the resource: a resource's scopes never remove them.
var oidcScopes = []string{"openid", "profile", "email", "offline_access"}

// resources are the registered resources by URI.
type resources map[string]*Resource

func newResources(list []Resource) resources {
	m := make(resources, len(list))
	for i := range list {
		r := list[i]
		r.Scopes = slices.Clone(r.Scopes)
		m[r.URI] = &r
	}
	return m
}

// resolve finds the resource a request names: nil without one,
// invalid_target for one not registered or for more than one (latchkey
// binds a token to one audience).
func (rs resources) resolve(values []string) (*Resource, error) {
	switch len(values) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, ErrInvalidTarget.WithDescription("only one resource may be requested")
	}
	if values[0] == "" {
		return nil, ErrInvalidRequest.WithDescription("resource must not be empty")
	}
	r, ok := rs[values[0]]
	if !ok {
		return nil, ErrInvalidTarget.WithDescription("the resource is not registered")
	}
	return r, nil
}

// limit keeps the scopes of scope that the resource accepts (its scopes
// and the OpenID Connect ones); invalid_scope when none remains. Without a
// resource, or with one that accepts any scope, scope is unchanged.
func (r *Resource) limit(scope string) (string, error) {
	if r == nil || len(r.Scopes) == 0 {
		return scope, nil
	}
	var out []string
	for _, s := range strings.Fields(scope) {
		if slices.Contains(r.Scopes, s) || slices.Contains(oidcScopes, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 && scope != "" {
		return "", ErrInvalidScope.WithDescription("no requested scope is accepted by the resource")
	}
	return strings.Join(out, " "), nil
}

// uri is the resource's URI, "" for none.
func (r *Resource) uri() string {
	if r == nil {
		return ""
	}
	return r.URI
}

// audience is the aud of an access token for the resource: its URI, or
// the server's audience (tokens.audience, by default the issuer) without
// one — the "default resource" of RFC 9068 §3.
func (p *Provider) audienceFor(r *Resource) Audience {
	if r == nil {
		return p.audience
	}
	return Audience{r.URI}
}

// grantResource resolves the resource a token request names against the
// resource its grant (a code or a refresh family) was given for: the
// request may repeat it or leave it out, but not name another
// (invalid_target); a grant given for no resource may be bound to one now.
func (p *Provider) grantResource(req *TokenRequest, granted string) (*Resource, error) {
	asked, err := p.resources.resolve(req.Form[ParamResource])
	if err != nil {
		return nil, err
	}
	switch {
	case asked == nil && granted == "":
		return nil, nil
	case asked == nil:
		r, ok := p.resources[granted]
		if !ok {
			return nil, ErrInvalidTarget.WithDescription("the resource of this grant is no longer registered")
		}
		return r, nil
	case granted != "" && asked.URI != granted:
		return nil, ErrInvalidTarget.WithDescription("the grant was not given for this resource")
	}
	return asked, nil
}
