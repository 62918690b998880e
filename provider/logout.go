package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"

	"github.com/latchkey-auth/latchkey/storage"
)

// LogoutRequest is a valid RP-Initiated Logout request (OpenID Connect
// RP-Initiated Logout 1.0 §2).
type LogoutRequest struct {
	// Client is the relying party, named by the hint's audience or by
	// client_id; nil when neither was sent.
	Client *storage.Client
	// RedirectURI is the post_logout_redirect_uri, registered for Client;
	// empty when none was asked for.
	RedirectURI string
	State       string
	// Hint is the verified id_token_hint; nil when none was sent.
	Hint *IDTokenHint
}

// IDTokenHint is what a verified id_token_hint says.
type IDTokenHint struct {
	Subject   string
	SessionID string
	ClientID  string
}

// RedirectURL is where the browser goes once signed out: the registered
// post_logout_redirect_uri with state, or "" for the server's own page.
func (r *LogoutRequest) RedirectURL() string {
	if r.RedirectURI == "" {
		return ""
	}
	q := url.Values{}
	if r.State != "" {
		q.Set("state", r.State)
	}
	return withQuery(r.RedirectURI, q)
}

var (
	errBadHint         = ErrInvalidRequest.WithDescription("id_token_hint is not an ID token this server issued")
	errHintClient      = ErrInvalidRequest.WithDescription("client_id does not match the id_token_hint")
	errLogoutNoClient  = ErrInvalidRequest.WithDescription("post_logout_redirect_uri needs a client_id or an id_token_hint")
	errLogoutRedirect  = ErrInvalidRequest.WithDescription("post_logout_redirect_uri is not registered for this client")
	errLogoutBadClient = ErrInvalidRequest.WithDescription("unknown client")
)

// ParseLogout validates a logout request's parameters. Every error is for
// the user (a page), never a redirect: a redirect target that is not
// registered, exactly, for the client is refused (an open redirect
// otherwise).
func (p *Provider) ParseLogout(ctx context.Context, q url.Values) (*LogoutRequest, error) {
	for key, values := range q {
		if len(values) > 1 {
			return nil, ErrInvalidRequest.WithDescription("parameter " + safeName(key) + " given more than once")
		}
		if len(values[0]) > maxParamLength || !validText(values[0]) {
			return nil, ErrInvalidRequest.WithDescription("parameter " + safeName(key) + " is too long, not UTF-8 or holds a NUL")
		}
	}
	req := &LogoutRequest{State: q.Get("state")}
	if len(req.State) > 512 {
		return nil, ErrInvalidRequest.WithDescription("state is limited to 512 characters")
	}
	clientID := q.Get("client_id")
	if raw := q.Get("id_token_hint"); raw != "" {
		hint, err := p.verifyIDTokenHint(ctx, raw)
		if err != nil {
			return nil, err
		}
		if clientID != "" && clientID != hint.ClientID {
			return nil, errHintClient
		}
		req.Hint, clientID = hint, hint.ClientID
	}
	if clientID != "" {
		cl, err := p.clients.get(ctx, clientID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, errLogoutBadClient
		}
		if err != nil {
			return nil, err
		}
		req.Client = cl
	}
	if uri := q.Get("post_logout_redirect_uri"); uri != "" {
		if req.Client == nil {
			return nil, errLogoutNoClient
		}
		// Exact string match, no loopback allowance: RP-Initiated Logout
		// §3 compares with the registered values.
		if !slices.Contains(req.Client.PostLogoutRedirectURIs, uri) {
			return nil, errLogoutRedirect
		}
		req.RedirectURI = uri
	}
	return req, nil
}

// verifyIDTokenHint checks that raw is an ID token this server signed, for
// a user. Its expiry is not checked: RP-Initiated Logout §2 lets a relying
// party send an expired ID token as the hint.
func (p *Provider) verifyIDTokenHint(ctx context.Context, raw string) (*IDTokenHint, error) {
	payload, _, err := p.keys.verifyCompactKID(ctx, raw, "jwt")
	if err != nil {
		return nil, errBadHint
	}
	var c IDClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != p.issuer || c.Subject == "" || len(c.Audience) == 0 {
		return nil, errBadHint
	}
	client := c.AuthorizedParty
	if client == "" {
		client = c.Audience[0]
	}
	return &IDTokenHint{Subject: c.Subject, SessionID: c.SessionID, ClientID: client}, nil
}
