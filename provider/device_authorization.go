package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/throttle"
)

// The device authorization grant, RFC 8628: the device authorization
// endpoint (§3.1–3.2) and the verification page's steps (§3.3). The token
// endpoint's side is grant_device_code.go.

// GrantDeviceCode is the device authorization grant's grant_type (RFC
// 8628 §3.4).
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// PrefixDeviceCode marks device codes for secret scanners.
const PrefixDeviceCode = "lk_dc_"

// DeviceCodeTTL is how long a device code and its user code live, and
// DevicePollInterval the polling interval a client is given (RFC 8628 §3.2:
// "If no value is provided, clients MUST use 5 as the default").
const (
	DeviceCodeTTL      = 10 * time.Minute
	DevicePollInterval = 5 * time.Second
)

// UserCodeAlphabet is the user code's alphabet: the 20 consonants RFC 8628
// §6.1 recommends (no vowels, so no words; no digits, so no 0/O, 1/I), 8 of
// them: 20^8 ≈ 2^34.5 codes, which the page's attempt limits make
// unguessable within a code's life.
const (
	UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
)

// kindUserCode is the rate-limit kind of user codes typed on the device
// page: counted per signed-in user and per address (package throttle).
const kindUserCode throttle.Kind = "uc"

// ErrUnknownUserCode is what the device page is told for a user code that
// is unknown, expired, or not well formed.
var ErrUnknownUserCode = errors.New("provider: unknown or expired user code")

// ErrUserCodeDecided is what the device page is told for a user code that
// was approved or denied already.
var ErrUserCodeDecided = errors.New("provider: user code already used")

// DeviceObserver is told about the device flow (metrics); an Observer
// that implements it is told, others are not.
type DeviceObserver interface {
	// DeviceAuthorization counts a device authorization request by
	// outcome: "ok" or the error code.
	DeviceAuthorization(outcome string)
	// DevicePoll counts a poll of the device grant by outcome: "approved",
	// "authorization_pending", "slow_down", "access_denied",
	// "expired_token", "invalid_grant".
	DevicePoll(outcome string)
}

// DeviceAuthorizationResponse is the device authorization response (RFC
// 8628 §3.2).
type DeviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceEnabled reports whether the device flow is served (a store for
// its codes was configured).
func (p *Provider) DeviceEnabled() bool { return p.devices != nil }

// DeviceVerificationURI is the page where users enter user codes.
func (p *Provider) DeviceVerificationURI() string {
	return strings.TrimSuffix(p.issuer, "/") + "/device"
}

// DeviceAuthorization serves the device authorization endpoint (RFC 8628
// §3.1): the client authenticates as at the token endpoint (none for a
// public client), must be registered for the device grant, and asks for
// scopes within its own. The request body must be size-limited by the
// caller. Errors are RFC 6749 §5.2 errors.
func (p *Provider) DeviceAuthorization(ctx context.Context, r *http.Request) (resp *DeviceAuthorizationResponse, err error) {
	defer func() { p.observeDevice(func(o DeviceObserver) { o.DeviceAuthorization(outcomeOf(err, "ok")) }) }()
	if p.devices == nil {
		return nil, ErrUnsupportedGrantType.WithDescription("the device authorization grant is not enabled")
	}
	form, err := ParseForm(r)
	if err != nil {
		return nil, err
	}
	cred, err := readClientCredentials(r, form)
	if err != nil {
		return nil, err
	}
	cl, err := p.authenticateClient(ctx, cred)
	if err != nil {
		return nil, err
	}
	if !allowsGrant(cl, GrantDeviceCode) {
		return nil, ErrUnauthorizedClient.WithDescription("the client is not registered for the device authorization grant")
	}
	scope, err := grantScope(cl, form.Get("scope"))
	if err != nil {
		return nil, err
	}
	now := p.now()
	for range 5 {
		raw, user := NewSecret(PrefixDeviceCode), newUserCode()
		err = p.devices.CreateDeviceCode(ctx, storage.DeviceCode{
			Hash: p.secrets.Hash(raw), UserCodeHash: p.userCodeHash(user), ClientID: cl.ID, Scope: scope,
			Interval: DevicePollInterval, CreatedAt: now, ExpiresAt: now.Add(DeviceCodeTTL),
		})
		if errors.Is(err, storage.ErrConflict) {
			continue // a user code taken by a live code: draw another
		}
		if err != nil {
			return nil, fmt.Errorf("store device code: %w", err)
		}
		shown := FormatUserCode(user)
		return &DeviceAuthorizationResponse{
			DeviceCode: raw, UserCode: shown,
			VerificationURI:         p.DeviceVerificationURI(),
			VerificationURIComplete: p.DeviceVerificationURI() + "?" + url.Values{"user_code": {shown}}.Encode(),
			ExpiresIn:               int64(DeviceCodeTTL / time.Second),
			Interval:                int64(DevicePollInterval / time.Second),
		}, nil
	}
	return nil, fmt.Errorf("store device code: no free user code after 5 draws: %w", err)
}

// newUserCode draws a user code: userCodeLength letters of
// UserCodeAlphabet, uniformly.
func newUserCode() string {
	var b strings.Builder
	n := big.NewInt(int64(len(UserCodeAlphabet)))
	for range userCodeLength {
		i, err := rand.Int(rand.Reader, n)
		if err != nil {
			panic("provider: crypto/rand failed: " + err.Error()) // never on a supported OS
		}
		b.WriteByte(UserCodeAlphabet[i.Int64()])
	}
	return b.String()
}

// FormatUserCode shows a normalized user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != userCodeLength {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// NormalizeUserCode turns a typed user code into its stored form: upper
// case, without dashes or spaces (RFC 8628 §6.1: case-insensitive, the
// punctuation is only for reading). ok is false when the result is not
// userCodeLength letters of the alphabet.
func NormalizeUserCode(typed string) (code string, ok bool) {
	if len(typed) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, c := range strings.ToUpper(typed) {
		switch {
		case c == '-' || c == ' ':
		case c < 128 && strings.IndexByte(UserCodeAlphabet, byte(c)) >= 0:
			b.WriteRune(c)
		default:
			return "", false
		}
	}
	code = b.String()
	return code, len(code) == userCodeLength
}

// userCodeHash is the keyed hash a normalized user code is stored under.
func (p *Provider) userCodeHash(code string) string { return p.secrets.Hash("user-code " + code) }

// PendingDevice is a device authorization waiting for the user's
// decision, as the verification page shows it.
type PendingDevice struct {
	UserCode string // XXXX-XXXX
	Client   *storage.Client
	Scope    string
}

// LookupUserCode finds the pending device authorization of a user code
// typed by the signed-in user subject on the verification page. A code
// that is not well formed or unknown or expired is ErrUnknownUserCode and
// counts as a failed attempt (package throttle, per user and per client
// address); past the limits it is ErrRateLimited (429) and nothing is
// looked up. A code decided already is ErrUserCodeDecided.
func (p *Provider) LookupUserCode(ctx context.Context, subject, typed string) (*PendingDevice, error) {
	if p.devices == nil {
		return nil, ErrUnknownUserCode
	}
	att, err := p.limiter.Begin(ctx, kindUserCode, subject, ClientIP(ctx))
	if err != nil {
		return nil, throttleErr(err)
	}
	d, err := p.findUserCode(ctx, typed)
	if errors.Is(err, ErrUnknownUserCode) {
		if ferr := att.Failed(ctx); ferr != nil {
			return nil, throttleErr(ferr)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	att.Succeeded(ctx)
	if d.Status != storage.DevicePending {
		return nil, ErrUserCodeDecided
	}
	cl, err := p.clients.get(ctx, d.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrUnknownUserCode // the client was deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	code, _ := NormalizeUserCode(typed)
	return &PendingDevice{UserCode: FormatUserCode(code), Client: cl, Scope: d.Scope}, nil
}

func (p *Provider) findUserCode(ctx context.Context, typed string) (storage.DeviceCode, error) {
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return storage.DeviceCode{}, ErrUnknownUserCode
	}
	d, err := p.devices.DeviceCodeByUserCode(ctx, p.userCodeHash(code), p.now())
	if errors.Is(err, storage.ErrNotFound) {
		return storage.DeviceCode{}, ErrUnknownUserCode
	}
	if err != nil {
		return storage.DeviceCode{}, fmt.Errorf("look up user code: %w", err)
	}
	return d, nil
}

// DecideUserCode records the signed-in user's decision on a user code
// (RFC 8628 §3.3): approve, or deny. It works once per code: a code
// decided already is ErrUserCodeDecided, an unknown or expired one
// ErrUnknownUserCode. The page has shown the code's client
// (LookupUserCode) before.
func (p *Provider) DecideUserCode(ctx context.Context, typed string, approve bool, login Login) error {
	if p.devices == nil {
		return ErrUnknownUserCode
	}
	if login.Subject == "" {
		return ErrLoginRequired
	}
	code, ok := NormalizeUserCode(typed)
	if !ok {
		return ErrUnknownUserCode
	}
	dec := storage.DeviceDecision{
		Approve: approve, Subject: login.Subject, SessionID: login.SessionKey, AuthTime: login.AuthTime,
		Claims: map[string]any{},
	}
	if len(login.AMR) > 0 {
		dec.Claims["amr"] = login.AMR
	}
	if login.SessionID != "" {
		dec.Claims["sid"] = login.SessionID
	}
	_, err := p.devices.DecideDeviceCode(ctx, p.userCodeHash(code), p.now(), dec)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrUnknownUserCode
	case errors.Is(err, storage.ErrConflict):
		return ErrUserCodeDecided
	case err != nil:
		return fmt.Errorf("decide user code: %w", err)
	}
	return nil
}

func (p *Provider) observeDevice(f func(DeviceObserver)) {
	if o, ok := p.obs.(DeviceObserver); ok {
		f(o)
	}
}

// outcomeOf is the metric label of an answer: ok, an RFC error code, or
// server_error.
func outcomeOf(err error, ok string) string {
	if err == nil {
		return ok
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return ErrTemporarilyUnavailable.Code
	}
	return ErrServerError.Code
}
