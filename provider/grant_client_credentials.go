package provider

import "context"

// clientCredentialsGrant issues an access token to the client itself
// (RFC 6749 §4.4). No refresh token (§4.4.3); the sub is the client ID
// (RFC 9068 §2.2).
func (p *Provider) clientCredentialsGrant(ctx context.Context, st *tokenRequest, scope string) (*TokenResponse, error) {
	return p.mint(ctx, grantSpec{
		client:  st.client,
		subject: subject{ID: st.client.ID},
		scope:   scope,
	})
}
