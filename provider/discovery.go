package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey-auth/latchkey/permissions"
)

// Discovery is the OpenID Provider metadata (OIDC Discovery §3), which is
// also the RFC 8414 authorization server metadata. It lists what latchkey
// serves today, no more.
type Discovery struct {
	Issuer                                    string   `json:"issuer"`
	AuthorizationEndpoint                     string   `json:"authorization_endpoint"`
	EndSessionEndpoint                        string   `json:"end_session_endpoint"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	UserinfoEndpoint                          string   `json:"userinfo_endpoint"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	RegistrationEndpoint                      string   `json:"registration_endpoint,omitempty"`
	DeviceAuthorizationEndpoint               string   `json:"device_authorization_endpoint,omitempty"`
	ScopesSupported                           []string `json:"scopes_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported"`
	CodeChallengeMethodsSupported             []string `json:"code_challenge_methods_supported"`
	PromptValuesSupported                     []string `json:"prompt_values_supported"`
	AuthorizationResponseISSParameter         bool     `json:"authorization_response_iss_parameter_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	SubjectTypesSupported                     []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	ClaimsSupported                           []string `json:"claims_supported"`
	// ClientIDMetadataDocumentSupported: a client_id may be the URL of a
	// Client ID Metadata Document (only sent when on).
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
}

// Discovery returns the metadata document as JSON.
func (p *Provider) Discovery(ctx context.Context) ([]byte, error) {
	keys, err := p.keys.List(ctx)
	if err != nil {
		return nil, err
	}
	algs := []string{}
	for _, k := range keys {
		if !contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	base := strings.TrimSuffix(p.issuer, "/")
	d := Discovery{
		Issuer:                                    p.issuer,
		AuthorizationEndpoint:                     base + "/oauth2/authorize",
		EndSessionEndpoint:                        base + "/oauth2/logout",
		TokenEndpoint:                             base + "/oauth2/token",
		JWKSURI:                                   base + "/oauth2/jwks",
		UserinfoEndpoint:                          base + "/oauth2/userinfo",
		IntrospectionEndpoint:                     base + "/oauth2/introspect",
		RevocationEndpoint:                        base + "/oauth2/revoke",
		ScopesSupported:                           []string{"openid", "profile", "email", "offline_access", "groups"},
		ResponseTypesSupported:                    []string{"code"},
		ResponseModesSupported:                    []string{"query"},
		CodeChallengeMethodsSupported:             []string{"S256"},
		PromptValuesSupported:                     []string{PromptNone, PromptLogin, PromptConsent},
		AuthorizationResponseISSParameter:         true,
		GrantTypesSupported:                       p.GrantTypes(),
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          algs,
		TokenEndpointAuthMethodsSupported:         []string{AuthSecretBasic, AuthSecretPost, AuthNone},
		IntrospectionEndpointAuthMethodsSupported: []string{AuthSecretBasic, AuthSecretPost},
		RevocationEndpointAuthMethodsSupported:    []string{AuthSecretBasic, AuthSecretPost, AuthNone},
		ClaimsSupported: []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "azp", "amr", "at_hash",
			"preferred_username", "name", "given_name", "family_name", "email", "email_verified", "groups",
		},
	}
	if p.registration {
		d.RegistrationEndpoint = base + "/oauth2/register"
	}
	if p.devices != nil {
		d.DeviceAuthorizationEndpoint = base + "/oauth2/device_authorization"
	}
	d.ClientIDMetadataDocumentSupported = p.clients.docs != nil
	return json.Marshal(d)
}

// UserInfo is the userinfo response (OIDC Core §5.3.2): the standard
// claims of the token's scopes, and the extra claims the permission
// mapper's permissions.claims release for them.
type UserInfo struct {
	Subject string `json:"sub"`
	ProfileClaims
	Extra map[string]any `json:"-"`
}

type userInfoJSON struct {
	Subject string `json:"sub"`
	ProfileClaims
}

// MarshalJSON writes the claims and the extra ones beside them.
func (u UserInfo) MarshalJSON() ([]byte, error) {
	return json.Marshal(withExtraClaims(userInfoJSON{Subject: u.Subject, ProfileClaims: u.ProfileClaims}, u.Extra))
}

// UserInfo answers the userinfo endpoint for an access token: the claims
// its scope grants. The token must carry openid and belong to a user.
func (p *Provider) UserInfo(ctx context.Context, raw string) (*UserInfo, error) {
	info, err := p.VerifyAccessToken(ctx, raw)
	if err != nil {
		return nil, err
	}
	if !hasScope(info.Scope, "openid") {
		return nil, ErrInsufficientScope.WithDescription("the token lacks the openid scope")
	}
	uid, ok := info.UserID()
	if !ok {
		return nil, ErrInvalidToken.WithDescription("the token does not belong to a user")
	}
	sub, err := p.loadUser(ctx, uid, false)
	if errors.Is(err, ErrInvalidGrant) {
		return nil, ErrInvalidToken.WithDescription("the user is not active")
	}
	if err != nil {
		return nil, fmt.Errorf("userinfo: %w", err)
	}
	out := &UserInfo{Subject: sub.ID, ProfileClaims: profileClaims(sub, info.Scope)}
	// The token's scopes were granted already: the mapper is asked again
	// only for the claims they release to the user as they are now.
	scopes := splitScope(info.Scope)
	if res, err := p.mapper.Map(permissions.Request{User: sub.facts, Client: info.ClientID, ClientScopes: scopes, Requested: scopes}); err == nil {
		out.Extra = res.Claims
	}
	return out, nil
}
