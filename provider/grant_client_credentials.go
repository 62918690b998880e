package provider

import "context"

// clientCredentialsGrant issues an access token to the client itself
// (RFC 6749 §4.4). No refresh token (§4.4.3); the sub is the client ID
// (RFC 9068 §2.2).
type clientCredentialsGrant struct{ p *Provider }

func (clientCredentialsGrant) Type() string { return GrantClientCredentials }

func (g clientCredentialsGrant) Token(ctx context.Context, req *TokenRequest) (*TokenResponse, error) {
	scope, err := grantScope(req.Client, req.Form.Get("scope"))
	if err != nil {
		return nil, err
	}
	// A resource indicator (RFC 8707 §2.2) binds the token to it.
	res, err := g.p.resources.resolve(req.Form[ParamResource])
	if err != nil {
		return nil, err
	}
	return g.p.mint(ctx, grantSpec{
		client:   req.Client,
		subject:  subject{ID: req.Client.ID},
		scope:    scope,
		now:      req.Time,
		resource: res,
	})
}
