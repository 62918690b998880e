package provider

import (
	"context"
	"errors"
	"time"

	"github.com/go-oauth2/oauth2/v4"
	"github.com/go-oauth2/oauth2/v4/models"

	"github.com/latchkey-auth/latchkey/storage"
)

// manager is our oauth2.Manager: the engine validates and dispatches, the
// manager issues. Token storage is ours (families, atomic rotation, reuse
// detection), which the engine's own manager cannot do: its refresh is a
// get-then-delete that lets concurrent refreshes all succeed.
type manager struct{ p *Provider }

var _ oauth2.Manager = (*manager)(nil)

// clientInfo adapts a stored client to the engine's ClientInfo. The secret
// is never exposed: VerifyPassword compares its hash in constant time.
type clientInfo struct {
	id, domain, secretHash string
	public                 bool
	secrets                *Secrets
}

func (c *clientInfo) GetID() string     { return c.id }
func (c *clientInfo) GetSecret() string { return "" }
func (c *clientInfo) GetDomain() string { return c.domain }
func (c *clientInfo) IsPublic() bool    { return c.public }
func (c *clientInfo) GetUserID() string { return "" }
func (c *clientInfo) VerifyPassword(secret string) bool {
	return !c.public && c.secrets.Verify(secret, c.secretHash)
}

func (m *manager) GetClient(ctx context.Context, id string) (oauth2.ClientInfo, error) {
	cl, err := m.p.clients.get(ctx, id)
	if err != nil {
		return nil, ErrInvalidClient
	}
	domain := ""
	if len(cl.RedirectURIs) > 0 {
		domain = cl.RedirectURIs[0]
	}
	return &clientInfo{id: cl.ID, domain: domain, secretHash: cl.SecretHash, public: cl.TokenEndpointAuthMethod == AuthNone, secrets: m.p.secrets}, nil
}

func (m *manager) GenerateAuthToken(context.Context, oauth2.ResponseType, *oauth2.TokenGenerateRequest) (oauth2.TokenInfo, error) {
	return nil, ErrUnsupportedGrantType
}

func (m *manager) GenerateAccessToken(ctx context.Context, gt oauth2.GrantType, tgr *oauth2.TokenGenerateRequest) (oauth2.TokenInfo, error) {
	st := requestState(ctx)
	var (
		resp *TokenResponse
		err  error
	)
	switch gt {
	case oauth2.PasswordCredentials:
		resp, err = m.p.passwordGrant(ctx, st, tgr.Scope)
	case oauth2.ClientCredentials:
		resp, err = m.p.clientCredentialsGrant(ctx, st, tgr.Scope)
	default:
		return nil, ErrUnsupportedGrantType
	}
	if err != nil {
		return nil, err
	}
	st.resp = resp
	return tokenInfo(st, resp), nil
}

func (m *manager) RefreshAccessToken(ctx context.Context, tgr *oauth2.TokenGenerateRequest) (oauth2.TokenInfo, error) {
	st := requestState(ctx)
	resp, err := m.p.refreshGrant(ctx, st, tgr.Refresh, tgr.Scope)
	if err != nil {
		return nil, err
	}
	st.resp = resp
	return tokenInfo(st, resp), nil
}

// LoadRefreshToken reports a live refresh token in the engine's model. The
// engine only calls it for scope checks, which refreshGrant does itself.
func (m *manager) LoadRefreshToken(ctx context.Context, refresh string) (oauth2.TokenInfo, error) {
	ref, ok := m.p.secrets.ParseRefreshToken(refresh)
	if !ok {
		return nil, errBadRefresh
	}
	_, fam, err := m.p.tokens.RefreshToken(ctx, ref, m.p.now())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, errBadRefresh
		}
		return nil, storeError(err)
	}
	t := models.NewToken()
	t.ClientID, t.UserID, t.Scope = fam.ClientID, fam.Subject, fam.Scope
	t.Refresh = refresh
	return t, nil
}

func (m *manager) LoadAccessToken(ctx context.Context, access string) (oauth2.TokenInfo, error) {
	info, err := m.p.inspectAccess(ctx, access)
	if err != nil {
		return nil, err
	}
	t := models.NewToken()
	t.ClientID, t.UserID, t.Scope, t.Access = info.ClientID, info.Subject, info.Scope, access
	t.AccessCreateAt = time.Unix(info.IssuedAt, 0)
	t.AccessExpiresIn = time.Duration(info.Expiry-info.IssuedAt) * time.Second
	return t, nil
}

func (m *manager) RemoveAccessToken(ctx context.Context, access string) error {
	return m.p.revokeAccess(ctx, access, "")
}

func (m *manager) RemoveRefreshToken(ctx context.Context, refresh string) error {
	return m.p.revokeRefresh(ctx, refresh, "")
}

// tokenInfo reports the issued token to the engine in its own model.
func tokenInfo(st *tokenRequest, resp *TokenResponse) oauth2.TokenInfo {
	t := models.NewToken()
	t.ClientID = st.client.ID
	t.Scope = resp.Scope
	t.Access = resp.AccessToken
	t.AccessExpiresIn = time.Duration(resp.ExpiresIn) * time.Second
	t.Refresh = resp.RefreshToken
	return t
}
