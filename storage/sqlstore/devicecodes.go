package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

var _ storage.DeviceCodes = (*Store)(nil)

type deviceCodeRow struct {
	bun.BaseModel `bun:"table:device_codes,alias:dc"`

	Hash         string `bun:"hash,pk"`
	UserCodeHash string
	ClientID     string
	Scope        string
	IntervalMS   int64 `bun:"interval_ms"`
	Status       string
	LastPoll     dbTime
	Subject      string
	SessionID    string
	AuthTime     dbTime
	Claims       map[string]any
	DecidedAt    dbTime
	CreatedAt    dbTime
	ExpiresAt    dbTime
}

func newDeviceCodeRow(d storage.DeviceCode) deviceCodeRow {
	return deviceCodeRow{
		Hash: d.Hash, UserCodeHash: d.UserCodeHash, ClientID: d.ClientID, Scope: d.Scope,
		IntervalMS: d.Interval.Milliseconds(), Status: string(d.Status), LastPoll: dbTime(d.LastPoll),
		Subject: d.Subject, SessionID: d.SessionID, AuthTime: dbTime(d.AuthTime), Claims: d.Claims,
		DecidedAt: dbTime(d.DecidedAt), CreatedAt: dbTime(d.CreatedAt), ExpiresAt: dbTime(d.ExpiresAt),
	}
}

func (r *deviceCodeRow) deviceCode() storage.DeviceCode {
	return storage.DeviceCode{
		Hash: r.Hash, UserCodeHash: r.UserCodeHash, ClientID: r.ClientID, Scope: r.Scope,
		Interval: time.Duration(r.IntervalMS) * time.Millisecond, Status: storage.DeviceStatus(r.Status),
		LastPoll: r.LastPoll.Time(), Subject: r.Subject, SessionID: r.SessionID, AuthTime: r.AuthTime.Time(),
		Claims: r.Claims, DecidedAt: r.DecidedAt.Time(), CreatedAt: r.CreatedAt.Time(), ExpiresAt: r.ExpiresAt.Time(),
	}
}

// CreateDeviceCode stores a new pending device code.
func (s *Store) CreateDeviceCode(ctx context.Context, d storage.DeviceCode) error {
	const op = "create device code"
	d.Status = storage.DevicePending
	d.LastPoll, d.Subject, d.SessionID, d.AuthTime, d.Claims, d.DecidedAt = time.Time{}, "", "", time.Time{}, nil, time.Time{}
	row := newDeviceCodeRow(d)
	if err := checkText(op, &row); err != nil {
		return err
	}
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// DeviceCodeByUserCode finds a live code by its user-code hash.
func (s *Store) DeviceCodeByUserCode(ctx context.Context, userCodeHash string, now time.Time) (storage.DeviceCode, error) {
	const op = "device code by user code"
	if err := checkKey(op, userCodeHash); err != nil {
		return storage.DeviceCode{}, err
	}
	var row deviceCodeRow
	err := s.r.NewSelect().Model(&row).
		Where("user_code_hash = ?", userCodeHash).
		Where("expires_at > ?", dbTime(now)).
		Scan(ctx)
	if err != nil {
		return storage.DeviceCode{}, translate(op, err)
	}
	return row.deviceCode(), nil
}

// errDecided stops the decision's transaction on a code decided already.
var errDecided = errors.New("decided")

// DecideDeviceCode records the user's decision on a live pending code, in
// one transaction (the row locked on Postgres; SQLite has one writer).
func (s *Store) DecideDeviceCode(ctx context.Context, userCodeHash string, now time.Time, dec storage.DeviceDecision) (storage.DeviceCode, error) {
	const op = "decide device code"
	if err := checkKey(op, userCodeHash); err != nil {
		return storage.DeviceCode{}, err
	}
	if err := checkText(op, dec.Subject, dec.SessionID, dec.Claims); err != nil {
		return storage.DeviceCode{}, err
	}
	d, err := updateTx(ctx, s, op, func(d *storage.DeviceCode) error {
		if d.Status != storage.DevicePending {
			return errDecided
		}
		d.Status = storage.DeviceDenied
		if dec.Approve {
			d.Status = storage.DeviceApproved
		}
		d.Subject, d.SessionID, d.AuthTime, d.Claims, d.DecidedAt = dec.Subject, dec.SessionID, dec.AuthTime, dec.Claims, now
		return nil
	},
		func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("user_code_hash = ?", userCodeHash).Where("expires_at > ?", dbTime(now))
		},
		(*deviceCodeRow).deviceCode,
		func(r *deviceCodeRow, d storage.DeviceCode) { *r = newDeviceCodeRow(d) })
	if errors.Is(err, errDecided) {
		return storage.DeviceCode{}, fmt.Errorf("sqlstore: %s: already decided: %w", op, storage.ErrConflict)
	}
	return d, err
}

// PollDeviceCode is one poll, decided by storage.DeviceCode.Poll inside a
// transaction that holds the row.
func (s *Store) PollDeviceCode(ctx context.Context, hash, clientID string, now time.Time) (storage.DeviceCode, storage.DevicePoll, error) {
	const op = "poll device code"
	if err := checkKey(op, hash, clientID); err != nil {
		return storage.DeviceCode{}, 0, err
	}
	var outcome storage.DevicePoll
	d, err := updateTx(ctx, s, op, func(d *storage.DeviceCode) error {
		*d, outcome = d.Poll(now)
		return nil
	},
		func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("hash = ?", hash).Where("client_id = ?", clientID).
				Where("expires_at > ?", dbTime(now.Add(-storage.DeviceCodeRetention)))
		},
		(*deviceCodeRow).deviceCode,
		func(r *deviceCodeRow, d storage.DeviceCode) { *r = newDeviceCodeRow(d) },
		"status", "last_poll", "interval_ms")
	if err != nil {
		return storage.DeviceCode{}, 0, err
	}
	return d, outcome, nil
}

// PurgeDeviceCodes deletes codes expired for longer than the retention.
func (s *Store) PurgeDeviceCodes(ctx context.Context, now time.Time) (int, error) {
	return s.purgeTable(ctx, "device_codes", "hash", "expires_at <= ?", dbTime(now.Add(-storage.DeviceCodeRetention)))
}
