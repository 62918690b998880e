package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/latchkey-auth/latchkey/storage"
)

// The device grant's answers while no tokens can be issued (RFC 8628
// §3.5), all 400 as RFC 6749 §5.2 says of token endpoint errors.
var (
	ErrAuthorizationPending = &Error{Code: "authorization_pending", Status: http.StatusBadRequest,
		Description: "the user has not yet approved the request"}
	ErrSlowDown = &Error{Code: "slow_down", Status: http.StatusBadRequest,
		Description: "polling too fast: the interval has grown by 5 seconds"}
	ErrExpiredToken = &Error{Code: "expired_token", Status: http.StatusBadRequest,
		Description: "the device code has expired; start a new device authorization"}
	errDeviceDenied = &Error{Code: ErrAccessDenied.Code, Status: http.StatusBadRequest,
		Description: "the user denied the request"}
	errBadDeviceCode = ErrInvalidGrant.WithDescription("the device code is invalid or was already used")
)

// deviceCodeGrant redeems a device code (RFC 8628 §3.4–3.5). Each poll is
// one atomic step of the store, which answers pending, slow_down (polled
// sooner than the interval after the previous poll; the interval grows by
// 5 s for every later poll), denied, expired, or approved exactly once;
// an approval redeemed already, an unknown code and another client's code
// are invalid_grant.
//
// On approval the tokens are the approving user's, minted as for every
// grant; a session (refresh family) with a refresh token is started when
// the client may refresh, tied to the login session the user approved in
// so that its logout can revoke them.
type deviceCodeGrant struct{ p *Provider }

func (deviceCodeGrant) Type() string { return GrantDeviceCode }

func (g deviceCodeGrant) Token(ctx context.Context, req *TokenRequest) (resp *TokenResponse, err error) {
	p := g.p
	defer func() { p.observeDevice(func(o DeviceObserver) { o.DevicePoll(outcomeOf(err, "approved")) }) }()
	raw := req.Form.Get("device_code")
	if raw == "" {
		return nil, ErrInvalidRequest.WithDescription("device_code is required")
	}
	if p.devices == nil || !hasPrefix(raw, PrefixDeviceCode) {
		return nil, errBadDeviceCode
	}
	d, outcome, err := p.devices.PollDeviceCode(ctx, p.secrets.Hash(raw), req.Client.ID, req.Time)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errBadDeviceCode
	}
	if err != nil {
		return nil, fmt.Errorf("poll device code: %w", err)
	}
	switch outcome {
	case storage.PollPending:
		return nil, ErrAuthorizationPending
	case storage.PollSlowDown:
		return nil, ErrSlowDown
	case storage.PollDenied:
		return nil, errDeviceDenied
	case storage.PollExpired:
		return nil, ErrExpiredToken
	case storage.PollApproved:
	default:
		return nil, errBadDeviceCode
	}
	uid, ok := userIDOf(d.Subject)
	if !ok {
		return nil, errBadDeviceCode
	}
	sub, err := p.loadUser(ctx, uid, true)
	if err != nil {
		return nil, err
	}
	spec := grantSpec{
		client: req.Client, subject: sub, scope: d.Scope, authTime: d.AuthTime, now: req.Time,
		amr: stringList(d.Claims["amr"]),
	}
	spec.sid, _ = d.Claims["sid"].(string)
	if allowsGrant(req.Client, GrantRefreshToken) {
		if spec.family, spec.refresh, err = p.newFamilyWithID(ctx, req, newID(), sub, d.Scope, d.AuthTime); err != nil {
			return nil, err
		}
		if p.sessions != nil && d.SessionID != "" {
			// A logout that ends the login session may revoke these tokens.
			if err := p.sessions.AddFamily(ctx, d.SessionID, spec.family.ID); err != nil {
				p.log.WarnContext(ctx, "could not tie the tokens to their login session", "err", err)
			}
		}
	}
	return p.mint(ctx, spec)
}
