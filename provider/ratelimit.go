package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/throttle"
)

// RateLimits configures brute-force protection of every credential check
// (see package throttle). A nil Store turns it off: no counter is read or
// written.
type RateLimits struct {
	Store          storage.Attempts
	AccountAddress storage.AttemptLimit
	Account        storage.AttemptLimit
	Address        storage.AttemptLimit
	// Mail and MailAddress limit the e-mails requested for one recipient
	// and from one client address (see Provider.CountMail).
	Mail        storage.AttemptLimit
	MailAddress storage.AttemptLimit
	// KnownAddressTTL is how long an address that signed an account in
	// passes that account's account-wide block (0: never).
	KnownAddressTTL time.Duration
	// DeviceTTL is the lifetime of the device cookie set by the user API's
	// logins (0: no cookie).
	DeviceTTL time.Duration
}

func newLimiter(opts Options) *throttle.Limiter {
	rl := opts.RateLimits
	return throttle.New(rl.Store, opts.Secrets, throttle.Limits{
		AccountAddress: rl.AccountAddress, Account: rl.Account, Address: rl.Address,
		Mail: rl.Mail, MailAddress: rl.MailAddress,
	}, throttle.Options{
		Observer: opts.Observer, Logger: opts.Logger, Now: opts.Now,
		Resolver: loginResolver(opts.Passwords), KnownAddressTTL: rl.KnownAddressTTL, DeviceTTL: rl.DeviceTTL,
	})
}

// loginResolver resolves logins through the password backends that can
// (throttle.LoginResolver, the local backend), in configured order; nil
// when none can.
func loginResolver(backends []PasswordBackend) throttle.LoginResolver {
	var rs backendResolvers
	for _, b := range backends {
		if r, ok := b.Checker.(throttle.LoginResolver); ok {
			rs = append(rs, idResolver{id: b.ID, r: r})
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return rs
}

type idResolver struct {
	id string
	r  throttle.LoginResolver
}

// backendResolvers asks each backend in turn; the first that knows the
// login names the account, prefixed with its backend ID.
type backendResolvers []idResolver

func (rs backendResolvers) ResolveLogin(ctx context.Context, login string) (string, bool, error) {
	for _, r := range rs {
		key, found, err := r.r.ResolveLogin(ctx, login)
		if err != nil {
			return "", false, fmt.Errorf("backend %s: %w", r.id, err)
		}
		if found {
			return r.id + ":" + key, true, nil
		}
	}
	return "", false, nil
}

// DeviceCookieName is the browser cookie that marks a device which signed
// an account in before (see Device).
const DeviceCookieName = "latchkey_device"

// Device carries a login's device cookie through AuthenticatePassword: In
// is the cookie the client sent; after a successful login Out is the
// cookie to set, good for MaxAge (empty when device cookies are off). The
// handler puts one in the context with WithDevice.
type Device struct {
	In     string
	Out    string
	MaxAge time.Duration
}

type deviceKey struct{}

// WithDevice returns a context carrying d for AuthenticatePassword.
func WithDevice(ctx context.Context, d *Device) context.Context {
	return context.WithValue(ctx, deviceKey{}, d)
}

func deviceFrom(ctx context.Context) *Device {
	d, _ := ctx.Value(deviceKey{}).(*Device)
	return d
}

// throttleErr turns the limiter's answers into ours: a block is 429
// rate_limited with Retry-After, counters that cannot be read or written
// are 503 (a check nobody can vouch for is refused).
func throttleErr(err error) error {
	var lim *throttle.LimitedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &lim):
		e := *ErrRateLimited
		e.RetryAfter = lim.RetryAfter
		return &e
	}
	return ErrTemporarilyUnavailable.WithCause(err)
}

// CountMail counts a request for an e-mail to recipient (a password or
// username reset, an activation resend). Past rate_limit.mail or
// rate_limit.mail_address it is ErrRateLimited and nothing should be sent.
// The typed address is counted whether or not an account has it, so the
// answer says nothing about accounts.
func (p *Provider) CountMail(ctx context.Context, recipient string) error {
	return throttleErr(p.limiter.CountMail(ctx, recipient, ClientIP(ctx)))
}
