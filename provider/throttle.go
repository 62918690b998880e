package provider

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// Brute-force protection of every credential check (password logins and
// client secrets). Three counters watch each check:
//
//   - account_address: one account (login or client ID) from one client
//     address. It stops a guesser at one address without locking the owner
//     out elsewhere.
//   - account: one account from every address (a distributed guesser).
//   - address: one address for every account (credential stuffing).
//
// Before the check, if any of the three is blocked, the request is refused
// with 429 rate_limited and Retry-After: the time until the longest block
// ends. Refused requests are not checked and not counted, so a guesser
// hammering from one address feeds only its own counters, and cannot push
// the account-wide counter up to lock the owner out. After a failed check
// the failure is counted on all three.
//
// After a successful check only the account_address counter is reset. The
// account counter is not: the owner signing in must not wipe out the count
// of a distributed attack on their account. The address counter is not:
// an attacker holding one valid account could sign in to it between
// guesses at others and never be limited.
//
// The limits (storage.AttemptLimit) count Failures within a Window, then
// block for Backoff, doubling with every further failure up to MaxBackoff.
//
// What is known about an account is never visible: the counters key on the
// login as typed (lower-cased, as logins are compared), hashed with the
// server's keyed hash, whether or not the account exists, and the checks
// before and after are the same for both.
//
// Concurrent requests that pass the check before the first failure lands
// are each checked (and counted): a burst can exceed a limit by the number
// of password checks that run at once, never more. Counter states are
// cached per instance for attemptCacheTTL, refreshed by every failure.
type throttle struct {
	store   storage.Attempts
	limits  [numLimits]storage.AttemptLimit
	secrets *Secrets
	obs     Observer
	log     *slog.Logger
	now     func() time.Time
	cache   *attemptCache // see attemptCacheTTL
}

// RateLimits configures brute-force protection. A nil Store turns it off:
// no counter is read or written.
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

// The limits, in the order of throttle.limits; their names label the
// latchkey_rate_limited_total metric and match the config keys.
const (
	limitAccountAddress = iota
	limitAccount
	limitAddress
	numLimits
)

var limitNames = [numLimits]string{"account_address", "account", "address"}

// What kind of credential is checked: each kind has its own counters, so a
// user's wrong passwords never block a client's secret from the same
// address.
const (
	credPassword     = "pw"
	credClientSecret = "cs"
	credMail         = "mail"
)

func newThrottle(rl RateLimits, secrets *Secrets, obs Observer, log *slog.Logger, now func() time.Time) *throttle {
	if rl.Store == nil {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if obs == nil {
		obs = nopObserver{}
	}
	return &throttle{
		store:   rl.Store,
		limits:  [numLimits]storage.AttemptLimit{rl.AccountAddress, rl.Account, rl.Address},
		secrets: secrets, obs: obs, log: log, now: now, cache: newAttemptCache(),
	}
}

// attemptKey is one counter a check watches.
type attemptKey struct {
	limit int
	key   string
}

// attempt is one credential check under watch. A nil *attempt (rate
// limiting off) does nothing.
type attempt struct {
	t      *throttle
	keys   []attemptKey
	states []storage.AttemptState
}

// begin is called before a credential check of account (a login or a
// client ID) of the given kind. It refuses a blocked check with
// ErrRateLimited, and a check it cannot vouch for (the store is down) with
// ErrTemporarilyUnavailable: the limits fail closed.
func (t *throttle) begin(ctx context.Context, kind, account string) (*attempt, error) {
	if t == nil {
		return nil, nil
	}
	a := &attempt{t: t, keys: t.keys(kind, account, clientIP(ctx))}
	if len(a.keys) == 0 {
		return a, nil
	}
	names := make([]string, len(a.keys))
	for i, k := range a.keys {
		names[i] = k.key
	}
	now := t.now()
	states := make([]storage.AttemptState, len(names))
	if missing := t.cache.get(names, now, states); len(missing) > 0 {
		read := make([]string, len(missing))
		for j, i := range missing {
			read[j] = names[i]
		}
		got, err := t.store.AttemptStates(ctx, now, read...)
		if err != nil {
			return nil, ErrTemporarilyUnavailable.WithCause(fmt.Errorf("rate limit: read counters: %w", err))
		}
		for j, i := range missing {
			states[i] = got[j]
			t.cache.put(names[i], got[j], now)
		}
	}
	a.states = states
	var until time.Time
	blockedBy := -1
	for i, st := range states {
		if st.BlockedUntil.After(now) && st.BlockedUntil.After(until) {
			until, blockedBy = st.BlockedUntil, a.keys[i].limit
		}
	}
	if blockedBy < 0 {
		return a, nil
	}
	t.obs.RateLimited(limitNames[blockedBy])
	t.log.InfoContext(ctx, "credential check refused by rate limit",
		"kind", kind, "limit", limitNames[blockedBy], "ip", clientIP(ctx), "retry_after_s", retryAfter(until.Sub(now)))
	return nil, rateLimited(until.Sub(now))
}

// failed counts a failed check on every watched counter. An error means the
// failure could not be counted; the caller answers 503 rather than let an
// uncounted guess through.
func (a *attempt) failed(ctx context.Context) error {
	if a == nil {
		return nil
	}
	now := a.t.now()
	for _, k := range a.keys {
		st, err := a.t.store.FailAttempt(ctx, k.key, a.t.limits[k.limit], now)
		if err != nil {
			return ErrTemporarilyUnavailable.WithCause(fmt.Errorf("rate limit: count failure: %w", err))
		}
		a.t.cache.put(k.key, st, now)
	}
	return nil
}

// succeeded resets the account_address counter, and nothing else (see
// throttle). It writes only when that counter holds failures, so a
// successful check costs no write. A failed reset is logged, not returned:
// the credentials were right, and the count simply stays.
func (a *attempt) succeeded(ctx context.Context) {
	if a == nil {
		return
	}
	for i, k := range a.keys {
		if k.limit != limitAccountAddress || a.states[i].Failures == 0 {
			continue
		}
		if err := a.t.store.ResetAttempts(ctx, k.key); err != nil {
			a.t.log.WarnContext(ctx, "rate limit: could not reset a counter after a successful check", "err", err)
			continue
		}
		a.t.cache.put(k.key, storage.AttemptState{}, a.t.now())
	}
}

// keys are the counters of a check; a limit with no failures allowed is
// off, and without a client address only the account counter applies.
func (t *throttle) keys(kind, account, ip string) []attemptKey {
	acct := t.secrets.Hash("rate-limit " + kind + " " + normalizeAccount(kind, account))
	addr := normalizeAddress(ip)
	out := make([]attemptKey, 0, numLimits)
	add := func(limit int, key string) {
		if t.limits[limit].Failures > 0 {
			out = append(out, attemptKey{limit: limit, key: key})
		}
	}
	if addr != "" {
		add(limitAccountAddress, kind+":aa:"+acct+":"+addr)
	}
	add(limitAccount, kind+":a:"+acct)
	if addr != "" {
		add(limitAddress, kind+":ip:"+addr)
	}
	return out
}

// normalizeAccount maps every spelling of one login to one counter: logins
// are compared case-insensitively. Client IDs are exact.
func normalizeAccount(kind, account string) string {
	if kind == credPassword {
		return strings.ToLower(account)
	}
	return account
}

// normalizeAddress is the address a counter keys on: an IPv4 address as
// is, an IPv6 address by its /64 (one subscriber usually holds a whole /64,
// so counting single addresses would give them 2^64 fresh counters).
func normalizeAddress(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		if len(ip) > 64 {
			ip = ip[:64]
		}
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return addr.String()
	}
	return p.String()
}

// rateLimited is ErrRateLimited with Retry-After for a wait.
func rateLimited(wait time.Duration) *Error {
	e := *ErrRateLimited
	e.RetryAfter = retryAfter(wait)
	return &e
}

// retryAfter is a wait in whole seconds, rounded up, at least 1.
func retryAfter(wait time.Duration) int {
	s := int((wait + time.Second - 1) / time.Second)
	return max(s, 1)
}

// mailThrottle is the throttle of e-mail requests: per recipient (the
// account counter) and per client address.
func mailThrottle(rl RateLimits, secrets *Secrets, obs Observer, log *slog.Logger, now func() time.Time) *throttle {
	return newThrottle(RateLimits{Store: rl.Store, Account: rl.Mail, Address: rl.MailAddress}, secrets, obs, log, now)
}

// CountMail counts a request for an e-mail to recipient (a password or
// username reset, an activation resend). Past rate_limit.mail or
// rate_limit.mail_address it is ErrRateLimited and nothing should be sent.
// The typed address is counted whether or not an account has it, so the
// answer says nothing about accounts.
func (p *Provider) CountMail(ctx context.Context, recipient string) error {
	att, err := p.mailThrottle.begin(ctx, credMail, strings.ToLower(recipient))
	if err != nil {
		return err
	}
	return att.failed(ctx)
}
