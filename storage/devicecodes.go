package storage

import (
	"context"
	"time"
)

// DeviceStatus is where a device authorization stands (RFC 8628 §3.3–3.5).
type DeviceStatus string

// Device authorization states. A code starts pending; the user approves or
// denies it once; an approved code is used once its tokens are issued.
const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
	DeviceUsed     DeviceStatus = "used"
)

// DevicePoll is the answer of one poll of a device code (RFC 8628 §3.5).
type DevicePoll int

// Poll outcomes.
const (
	// PollPending: the user has not decided yet (authorization_pending).
	PollPending DevicePoll = iota
	// PollSlowDown: the client polled sooner than the interval after its
	// previous poll; the interval has grown by DeviceSlowDownStep
	// (slow_down).
	PollSlowDown
	// PollApproved: the user approved and this poll consumed the approval:
	// the caller issues the tokens. Exactly one poll ever gets it.
	PollApproved
	// PollDenied: the user denied (access_denied).
	PollDenied
	// PollExpired: the code expired before it was redeemed (expired_token).
	PollExpired
	// PollUsed: the approval was consumed by an earlier poll (invalid_grant).
	PollUsed
)

// DeviceSlowDownStep is how much a slow_down grows the polling interval
// (RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and
// all subsequent requests").
const DeviceSlowDownStep = 5 * time.Second

// DeviceCodeRetention is how long a device code is kept after it expires,
// so that a late poll is told expired_token rather than invalid_grant.
// PurgeDeviceCodes deletes codes expired longer ago than this.
const DeviceCodeRetention = time.Hour

// DeviceCode is a device authorization (RFC 8628 §3.2), stored under the
// keyed hashes of its device code and its (normalized) user code: neither
// is ever stored in the clear.
type DeviceCode struct {
	Hash         string // keyed hash of the device_code
	UserCodeHash string // keyed hash of the normalized user_code
	ClientID     string
	Scope        string
	// Interval is the minimum time between polls; a slow_down grows it.
	Interval time.Duration
	// Status is set by the store: DevicePending on create.
	Status DeviceStatus
	// LastPoll is the time of the latest poll; zero before the first.
	LastPoll time.Time

	// The decision (DecideDeviceCode): who approved or denied, in which
	// login session, when they signed in, extra claims (amr, sid).
	Subject   string
	SessionID string
	AuthTime  time.Time
	Claims    map[string]any
	DecidedAt time.Time

	CreatedAt time.Time
	ExpiresAt time.Time
}

// DeviceDecision is what the user decided on the device page.
type DeviceDecision struct {
	Approve   bool
	Subject   string
	SessionID string
	AuthTime  time.Time
	Claims    map[string]any
}

// DeviceCodes stores device authorizations (RFC 8628).
type DeviceCodes interface {
	// CreateDeviceCode stores a new pending code. A code whose device hash
	// or user-code hash is taken by a stored code (expired or not) is
	// ErrConflict and nothing is stored.
	CreateDeviceCode(ctx context.Context, d DeviceCode) error
	// DeviceCodeByUserCode returns the code with this user-code hash,
	// whatever its status; unknown, or expired at now: ErrNotFound.
	DeviceCodeByUserCode(ctx context.Context, userCodeHash string, now time.Time) (DeviceCode, error)
	// DecideDeviceCode records the user's decision on a pending code, in
	// one atomic step, once: of concurrent decisions exactly one wins.
	// Unknown or expired at now: ErrNotFound; decided already: ErrConflict.
	// It returns the code as decided.
	DecideDeviceCode(ctx context.Context, userCodeHash string, now time.Time, d DeviceDecision) (DeviceCode, error)
	// PollDeviceCode is one poll by the client clientID at now, in one
	// atomic step (see DevicePoll): expired codes answer PollExpired
	// whatever their status; a pending code polled sooner than Interval
	// after LastPoll answers PollSlowDown and its interval grows by
	// DeviceSlowDownStep; every poll of a pending code records now as
	// LastPoll; an approved code answers PollApproved once and is used
	// from then on (PollUsed). An unknown code, or one issued to another
	// client, is ErrNotFound and changes nothing. It returns the code as
	// the poll left it.
	PollDeviceCode(ctx context.Context, hash, clientID string, now time.Time) (DeviceCode, DevicePoll, error)
	// PurgeDeviceCodes deletes codes expired for longer than
	// DeviceCodeRetention at now and counts them (stores whose records
	// expire by themselves may return 0).
	PurgeDeviceCodes(ctx context.Context, now time.Time) (int, error)
}

// Poll decides one poll of d at now, for stores that read the record and
// write it back in one transaction: it returns the record to write and the
// outcome. The caller has checked the client and the retention.
func (d DeviceCode) Poll(now time.Time) (DeviceCode, DevicePoll) {
	if !now.Before(d.ExpiresAt) {
		return d, PollExpired
	}
	switch d.Status {
	case DeviceApproved:
		d.Status = DeviceUsed
		d.LastPoll = now
		return d, PollApproved
	case DeviceDenied:
		return d, PollDenied
	case DeviceUsed:
		return d, PollUsed
	}
	early := !d.LastPoll.IsZero() && now.Sub(d.LastPoll) < d.Interval
	d.LastPoll = now
	if early {
		d.Interval += DeviceSlowDownStep
		return d, PollSlowDown
	}
	return d, PollPending
}
