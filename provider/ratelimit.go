package provider

import (
	"context"
	"errors"

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
}

func newLimiter(opts Options) *throttle.Limiter {
	rl := opts.RateLimits
	return throttle.New(rl.Store, opts.Secrets, throttle.Limits{
		AccountAddress: rl.AccountAddress, Account: rl.Account, Address: rl.Address,
		Mail: rl.Mail, MailAddress: rl.MailAddress,
	}, throttle.Options{Observer: opts.Observer, Logger: opts.Logger, Now: opts.Now})
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
	return throttleErr(p.limiter.CountMail(ctx, recipient, clientIP(ctx)))
}
