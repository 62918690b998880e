// Package throttle is the brute-force protection of every credential check
// (password logins and client secrets) and the limit on e-mails requested.
// Three counters watch each check:
//
//   - account_address: one account (login or client ID) from one client
//     address. It stops a guesser at one address without locking the owner
//     out elsewhere.
//   - account: one account from every address (a distributed guesser).
//   - address: one address for every account (credential stuffing).
//
// Before the check, if any of the three is blocked, Begin refuses the
// request with a *LimitedError whose RetryAfter is the time until the
// longest block ends (the provider answers 429 rate_limited with
// Retry-After). Refused requests are not checked and not counted, so a
// guesser hammering from one address feeds only its own counters, and
// cannot push the account-wide counter up to lock the owner out. After a
// failed check the failure is counted on all three.
//
// Password logins (BeginLogin) key the account counter on the account the
// login names, resolved by a LoginResolver, not on the login as typed; and
// a known client (a device token, an address that signed the account in
// within KnownAddressTTL) passes the account counter's block, so a
// distributed guesser cannot lock the owner out (see BeginLogin).
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
// resolved account or, for a login that names none, on the login as typed
// (NFKC-normalised and lower-cased), hashed with the server's keyed hash
// (the Hasher); the checks before and after are the same for both.
//
// Concurrent requests that pass the check before the first failure lands
// are each checked (and counted): a burst can exceed a limit by the number
// of password checks that run at once, never more. Counter states are
// cached per Limiter for attemptCacheTTL, refreshed by every failure.
//
// The limits fail closed: a counter store that cannot be read or written
// makes Begin and Failed return an error wrapping ErrUnavailable (the
// provider answers 503), never a pass.
//
// E-mail requests (KindMail, CountMail) have counters of their own: per
// recipient (the account counter, Limits.Mail) and per client address (the
// address counter, Limits.MailAddress); there is no account_address
// counter for them.
package throttle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// Limits are the policies of the counters. A limit with 0 Failures is off.
type Limits struct {
	AccountAddress storage.AttemptLimit
	Account        storage.AttemptLimit
	Address        storage.AttemptLimit
	// Mail and MailAddress limit the e-mails requested for one recipient
	// and from one client address (see CountMail).
	Mail        storage.AttemptLimit
	MailAddress storage.AttemptLimit
}

// The names of the limits: LimitedError.Limit and Observer.RateLimited
// report one of them. They label the latchkey_rate_limited_total metric and
// match the config keys.
const (
	LimitAccountAddress = "account_address"
	LimitAccount        = "account"
	LimitAddress        = "address"
)

// The limits, in the order of Limiter.cred and Limiter.mail.
const (
	limitAccountAddress = iota
	limitAccount
	limitAddress
	numLimits
)

var limitNames = [numLimits]string{LimitAccountAddress, LimitAccount, LimitAddress}

// Kind is what kind of credential is checked: each kind has its own
// counters, so a user's wrong passwords never block a client's secret from
// the same address. Its value is part of every counter key.
type Kind string

// The kinds of checks.
const (
	// KindPassword is a password login; the login is compared
	// case-insensitively.
	KindPassword Kind = "pw"
	// KindClientSecret is a client secret; the client ID is exact.
	KindClientSecret Kind = "cs"
	// KindMail is a request for an e-mail to a recipient, compared
	// case-insensitively. It is under Limits.Mail and Limits.MailAddress.
	KindMail Kind = "mail"
)

// Hasher is the server's keyed hash, which keeps logins out of the counter
// keys (the provider's *Secrets).
type Hasher interface {
	Hash(s string) string
}

// Observer counts checks refused by a limit (the provider's Observer).
type Observer interface {
	// RateLimited counts a check refused by a rate limit (LimitAccountAddress,
	// LimitAccount or LimitAddress).
	RateLimited(limit string)
}

// Options are the optional parts of a Limiter.
type Options struct {
	Observer Observer         // nil: nothing is counted
	Logger   *slog.Logger     // nil: nothing is logged
	Now      func() time.Time // nil: time.Now
	// Resolver maps a typed login to its account (see BeginLogin); nil
	// keys the account counter on the normalised login as typed.
	Resolver LoginResolver
	// KnownAddressTTL is how long a client address that signed an account
	// in stays known to it and passes the account-wide block; 0 turns the
	// address rule off.
	KnownAddressTTL time.Duration
	// DeviceTTL is the lifetime of a device token (Attempt.DeviceToken);
	// 0 issues none and accepts none.
	DeviceTTL time.Duration
}

// LoginResolver maps a typed login (a username or an e-mail address) to a
// stable key of the account it names, so every spelling of one account
// shares one account counter. found is false for a login that names no
// account; an error means the lookup could not be made (the check is then
// refused, 503). Implementations take the same steps whether or not the
// account exists (the local backend does).
type LoginResolver interface {
	ResolveLogin(ctx context.Context, login string) (account string, found bool, err error)
}

// ErrUnavailable is in the chain of every error of a counter store that
// could not be read or written, followed by the store's own error: the
// check cannot be vouched for and is refused (503).
var ErrUnavailable = errors.New("throttle: counters unavailable")

// LimitedError refuses a check while a counter is blocked (match it with
// errors.As). Nothing was checked or counted.
type LimitedError struct {
	// RetryAfter is the wait, in whole seconds rounded up and at least 1,
	// until the longest block ends: the Retry-After to send.
	RetryAfter int
	// Limit names the limit whose block ends last (LimitAccountAddress,
	// LimitAccount or LimitAddress).
	Limit string
}

func (e *LimitedError) Error() string {
	return "throttle: blocked by the " + e.Limit + " limit, retry after " + strconv.Itoa(e.RetryAfter) + "s"
}

// Limiter watches credential checks and e-mail requests. A nil *Limiter is
// rate limiting turned off: it reads and writes no counter and refuses
// nothing.
type Limiter struct {
	store storage.Attempts
	hash  Hasher
	cred  [numLimits]storage.AttemptLimit
	mail  [numLimits]storage.AttemptLimit
	obs   Observer
	log   *slog.Logger
	now   func() time.Time
	cache *attemptCache // see attemptCacheTTL

	resolver     LoginResolver
	knownAddrTTL time.Duration
	deviceTTL    time.Duration
}

// New returns a Limiter keeping its counters in store and keying them with
// hash. A nil store turns rate limiting off: New returns nil.
func New(store storage.Attempts, hash Hasher, limits Limits, opts Options) *Limiter {
	if store == nil {
		return nil
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Limiter{
		store: store,
		hash:  hash,
		cred:  [numLimits]storage.AttemptLimit{limits.AccountAddress, limits.Account, limits.Address},
		mail:  [numLimits]storage.AttemptLimit{limitAccount: limits.Mail, limitAddress: limits.MailAddress},
		obs:   opts.Observer, log: opts.Logger, now: opts.Now, cache: newAttemptCache(),
		resolver: opts.Resolver, knownAddrTTL: opts.KnownAddressTTL, deviceTTL: opts.DeviceTTL,
	}
}

type nopObserver struct{}

func (nopObserver) RateLimited(string) {}

// attemptKey is one counter a check watches.
type attemptKey struct {
	limit int
	key   string
}

// Attempt is one check under watch, between Begin and Succeeded or Failed.
// A nil *Attempt (rate limiting off) does nothing.
type Attempt struct {
	l      *Limiter
	kind   Kind
	keys   []attemptKey
	states []storage.AttemptState
	// account is the account counter's key of a login (BeginLogin) and
	// knownKey the record of its known addresses (empty when off).
	account  string
	knownKey string
}

// Begin is called before a check of account (a login, a client ID or an
// e-mail recipient) of the given kind, made from the client address ip
// (empty when unknown: then only the account counter applies). It refuses
// a blocked check with a *LimitedError, and a check it cannot vouch for
// (the store is down) with an error wrapping ErrUnavailable: the limits
// fail closed. On a nil Limiter it returns (nil, nil).
func (l *Limiter) Begin(ctx context.Context, kind Kind, account, ip string) (*Attempt, error) {
	if l == nil {
		return nil, nil
	}
	a := &Attempt{l: l, kind: kind, keys: l.keys(kind, account, ip)}
	if err := l.begin(ctx, a, ip, false); err != nil {
		return nil, err
	}
	return a, nil
}

// BeginLogin is Begin for a password login, made from the client address
// ip, with the device token the client presented ("" for none).
//
// The account counter keys on the account the login names, resolved by
// the Resolver (a username and the account's e-mail address share one
// counter); a login that names no account is counted under its normalised
// spelling (NFKC, lower case), with the same steps, so the answers say
// nothing about which accounts exist.
//
// A known client — a valid device token of this account, or an address
// that signed this account in within KnownAddressTTL — is not refused by
// the account counter's block: a distributed guesser cannot lock the owner
// out. Its account_address and address counters still apply, and a device
// token adds a counter of its own (under the account_address policy).
func (l *Limiter) BeginLogin(ctx context.Context, login, ip, device string) (*Attempt, error) {
	if l == nil {
		return nil, nil
	}
	account := "login:" + NormalizeLogin(login)
	if l.resolver != nil {
		key, found, err := l.resolver.ResolveLogin(ctx, login)
		if err != nil {
			return nil, fmt.Errorf("%w: resolve login: %w", ErrUnavailable, err)
		}
		if found {
			account = "account:" + key
		}
	}
	a := &Attempt{l: l, kind: KindPassword, account: account, keys: l.keys(KindPassword, account, ip)}
	known := false
	if id, ok := l.verifyDevice(account, device); ok {
		known = true
		if lim := l.cred[limitAccountAddress]; lim.Failures > 0 {
			a.keys = append(a.keys, attemptKey{limit: limitAccountAddress, key: "pw:d:" + l.hash.Hash("rate-limit device "+id)})
		}
	}
	if addr := normalizeAddress(ip); addr != "" && l.knownAddrTTL > 0 {
		a.knownKey = "pw:k:" + l.hash.Hash("rate-limit known "+account) + ":" + addr
	}
	if err := l.begin(ctx, a, ip, known); err != nil {
		return nil, err
	}
	return a, nil
}

// states reads the counters of keys, from the cache where it is fresh.
func (l *Limiter) states(ctx context.Context, names []string, now time.Time) ([]storage.AttemptState, error) {
	states := make([]storage.AttemptState, len(names))
	if missing := l.cache.get(names, now, states); len(missing) > 0 {
		read := make([]string, len(missing))
		for j, i := range missing {
			read[j] = names[i]
		}
		got, err := l.store.AttemptStates(ctx, now, read...)
		if err != nil {
			return nil, fmt.Errorf("%w: read counters: %w", ErrUnavailable, err)
		}
		for j, i := range missing {
			states[i] = got[j]
			l.cache.put(names[i], got[j], now)
		}
	}
	return states, nil
}

// begin reads the counters of a and refuses a blocked check; known (or a
// record under a.knownKey, read in the same round trip) passes the account
// counter's block.
func (l *Limiter) begin(ctx context.Context, a *Attempt, ip string, known bool) error {
	kind := a.kind
	if len(a.keys) == 0 {
		return nil
	}
	names := make([]string, len(a.keys), len(a.keys)+1)
	for i, k := range a.keys {
		names[i] = k.key
	}
	readKnown := !known && a.knownKey != ""
	if readKnown {
		names = append(names, a.knownKey)
	}
	now := l.now()
	states, err := l.states(ctx, names, now)
	if err != nil {
		return err
	}
	if readKnown {
		known = states[len(states)-1].Failures > 0
		states = states[:len(states)-1]
	}
	a.states = states
	var until time.Time
	blockedBy := -1
	for i, st := range states {
		if known && a.keys[i].limit == limitAccount {
			continue
		}
		if st.BlockedUntil.After(now) && st.BlockedUntil.After(until) {
			until, blockedBy = st.BlockedUntil, a.keys[i].limit
		}
	}
	if blockedBy < 0 {
		return nil
	}
	e := &LimitedError{RetryAfter: retryAfter(until.Sub(now)), Limit: limitNames[blockedBy]}
	l.obs.RateLimited(e.Limit)
	l.log.InfoContext(ctx, "credential check refused by rate limit",
		"kind", string(kind), "limit", e.Limit, "ip", ip, "retry_after_s", e.RetryAfter)
	return e
}

// Failed counts a failed check on every watched counter. An error (wrapping
// ErrUnavailable) means the failure could not be counted; the caller
// answers 503 rather than let an uncounted guess through.
func (a *Attempt) Failed(ctx context.Context) error {
	if a == nil {
		return nil
	}
	now := a.l.now()
	limits := a.l.limits(a.kind)
	for _, k := range a.keys {
		st, err := a.l.store.FailAttempt(ctx, k.key, limits[k.limit], now)
		if err != nil {
			return fmt.Errorf("%w: count failure: %w", ErrUnavailable, err)
		}
		a.l.cache.put(k.key, st, now)
	}
	return nil
}

// Succeeded resets the account_address counter, and nothing else (see the
// package comment). It writes only when that counter holds failures, so a
// successful check costs no write. A failed reset is logged, not returned:
// the credentials were right, and the count simply stays.
func (a *Attempt) Succeeded(ctx context.Context) {
	if a == nil {
		return
	}
	for i, k := range a.keys {
		if k.limit != limitAccountAddress || a.states[i].Failures == 0 {
			continue
		}
		if err := a.l.store.ResetAttempts(ctx, k.key); err != nil {
			a.l.log.WarnContext(ctx, "rate limit: could not reset a counter after a successful check", "err", err)
			continue
		}
		a.l.cache.put(k.key, storage.AttemptState{}, a.l.now())
	}
	if a.knownKey != "" {
		// The address is known to this account for KnownAddressTTL from
		// now: a record that is never blocked, forgotten after the TTL.
		now := a.l.now()
		st, err := a.l.store.FailAttempt(ctx, a.knownKey, a.l.knownLimit(), now)
		if err != nil {
			a.l.log.WarnContext(ctx, "rate limit: could not record a known address", "err", err)
			return
		}
		a.l.cache.put(a.knownKey, st, now)
	}
}

// CountMail counts a request for an e-mail to recipient (a password or
// username reset, an activation resend) from the client address ip. Past
// Limits.Mail or Limits.MailAddress it is a *LimitedError and nothing
// should be sent. The typed address is counted whether or not an account
// has it, so the answer says nothing about accounts. On a nil Limiter it
// returns nil.
func (l *Limiter) CountMail(ctx context.Context, recipient, ip string) error {
	att, err := l.Begin(ctx, KindMail, recipient, ip)
	if err != nil {
		return err
	}
	return att.Failed(ctx)
}

// limits are the policies that apply to a kind.
func (l *Limiter) limits(kind Kind) *[numLimits]storage.AttemptLimit {
	if kind == KindMail {
		return &l.mail
	}
	return &l.cred
}

// keys are the counters of a check; a limit with no failures allowed is
// off, and without a client address only the account counter applies.
func (l *Limiter) keys(kind Kind, account, ip string) []attemptKey {
	k := string(kind)
	acct := l.hash.Hash("rate-limit " + k + " " + normalizeAccount(kind, account))
	addr := normalizeAddress(ip)
	limits := l.limits(kind)
	out := make([]attemptKey, 0, numLimits)
	add := func(limit int, key string) {
		if limits[limit].Failures > 0 {
			out = append(out, attemptKey{limit: limit, key: key})
		}
	}
	if addr != "" {
		add(limitAccountAddress, k+":aa:"+acct+":"+addr)
	}
	add(limitAccount, k+":a:"+acct)
	if addr != "" {
		add(limitAddress, k+":ip:"+addr)
	}
	return out
}

// normalizeAccount maps every spelling of one login (or e-mail recipient)
// to one counter: they are compared case-insensitively. Client IDs are
// exact.
func normalizeAccount(kind Kind, account string) string {
	if kind == KindPassword || kind == KindMail {
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

// retryAfter is a wait in whole seconds, rounded up, at least 1.
func retryAfter(wait time.Duration) int {
	s := int((wait + time.Second - 1) / time.Second)
	return max(s, 1)
}
