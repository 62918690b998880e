package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage"
)

// Device authorizations (RFC 8628):
//
//	lk:device:<hash>      hash: uh (user-code hash), c (client), scope, st (status),
//	                      iv (interval ms), lp (last poll ms), created, exp (Unix ms),
//	                      dec (the decision, JSON, once decided)
//	lk:devuser:<userhash> string: the device hash
//
// Both keys expire storage.DeviceCodeRetention after the code (at least
// minTTL after they were written), so that a late poll is told
// expired_token. The user-code key only leads to the device key, and never
// changes: every decision and poll is one script on the device key alone,
// so the scripts run unchanged on Cluster.

var _ storage.DeviceCodes = (*Store)(nil)

func (s *Store) deviceKey(hash string) string         { return s.prefix + "device:" + hash }
func (s *Store) deviceUserKey(userHash string) string { return s.prefix + "devuser:" + userHash }

// deviceDecisionWire is a decision as stored.
type deviceDecisionWire struct {
	Subject   string         `json:"sub,omitempty"`
	SessionID string         `json:"sid,omitempty"`
	AuthTime  int64          `json:"auth,omitempty"`
	Claims    map[string]any `json:"claims,omitempty"`
	DecidedAt int64          `json:"at,omitempty"`
}

// createDeviceScript stores a pending device code unless its key exists.
// KEYS[1] device key; ARGV: pexpireat, then the fields as pairs.
// Returns 1, or 0 on a clash.
var createDeviceScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
`)

// decideDeviceScript records a decision on a live pending code.
// KEYS[1] device key; ARGV: user-code hash, now ms, status, decision JSON.
// Returns false (unknown, another user code, or expired), 'conflict'
// (decided already) or the fields as HGETALL gives them.
var decideDeviceScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'uh', 'exp', 'st')
if not f[1] or f[1] ~= ARGV[1] then return false end
if tonumber(f[2]) <= tonumber(ARGV[2]) then return false end
if f[3] ~= 'pending' then return 'conflict' end
redis.call('HSET', KEYS[1], 'st', ARGV[3], 'dec', ARGV[4])
return redis.call('HGETALL', KEYS[1])
`)

// pollDeviceScript is one poll, the rules of storage.DeviceCode.Poll.
// KEYS[1] device key; ARGV: client, now ms, retention ms, slow-down step ms.
// Returns false (unknown, another client's, or past retention) or
// {outcome, fields as HGETALL gives them...}.
var pollDeviceScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'c', 'exp', 'st', 'lp', 'iv')
if not f[2] or f[1] ~= ARGV[1] then return false end
local now, exp = tonumber(ARGV[2]), tonumber(f[2])
if exp + tonumber(ARGV[3]) <= now then return false end
local out
if exp <= now then
  out = 'expired'
elseif f[3] == 'approved' then
  redis.call('HSET', KEYS[1], 'st', 'used', 'lp', ARGV[2])
  out = 'approved'
elseif f[3] == 'denied' then
  out = 'denied'
elseif f[3] == 'used' then
  out = 'used'
else
  local lp, iv = tonumber(f[4] or '0'), tonumber(f[5] or '0')
  if lp ~= 0 and now - lp < iv then
    redis.call('HSET', KEYS[1], 'lp', ARGV[2], 'iv', iv + tonumber(ARGV[4]))
    out = 'slow_down'
  else
    redis.call('HSET', KEYS[1], 'lp', ARGV[2])
    out = 'pending'
  end
end
local r = redis.call('HGETALL', KEYS[1])
table.insert(r, 1, out)
return r
`)

var pollOutcomes = map[string]storage.DevicePoll{
	"pending": storage.PollPending, "slow_down": storage.PollSlowDown, "approved": storage.PollApproved,
	"denied": storage.PollDenied, "expired": storage.PollExpired, "used": storage.PollUsed,
}

// CreateDeviceCode stores a new pending device code: the device key, then
// the user-code key; a clash on the second removes the first.
func (s *Store) CreateDeviceCode(ctx context.Context, d storage.DeviceCode) error {
	const op = "create device code"
	if err := checkText(op, d.Hash, d.UserCodeHash, d.ClientID, d.Scope); err != nil {
		return err
	}
	at := time.UnixMilli(max(ms(d.ExpiresAt.Add(storage.DeviceCodeRetention)), s.floor()))
	n, err := createDeviceScript.Run(ctx, s.c, []string{s.deviceKey(d.Hash)}, at.UnixMilli(),
		"uh", d.UserCodeHash, "c", d.ClientID, "scope", d.Scope, "st", string(storage.DevicePending),
		"iv", d.Interval.Milliseconds(), "lp", 0, "created", ms(d.CreatedAt), "exp", ms(d.ExpiresAt)).Int()
	if err != nil {
		return translate(op, err)
	}
	if n == 0 {
		return conflict(op)
	}
	ok, err := s.c.SetNX(ctx, s.deviceUserKey(d.UserCodeHash), d.Hash, time.Until(at)).Result()
	if err == nil && ok {
		return nil
	}
	if derr := s.c.Del(ctx, s.deviceKey(d.Hash)).Err(); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return translate(op, err)
	}
	return conflict(op)
}

// DeviceCodeByUserCode finds a live code by its user-code hash.
func (s *Store) DeviceCodeByUserCode(ctx context.Context, userCodeHash string, now time.Time) (storage.DeviceCode, error) {
	const op = "device code by user code"
	hash, err := s.c.Get(ctx, s.deviceUserKey(userCodeHash)).Result()
	if errors.Is(err, redis.Nil) {
		return storage.DeviceCode{}, notFound(op)
	}
	if err != nil {
		return storage.DeviceCode{}, translate(op, err)
	}
	fields, err := s.c.HGetAll(ctx, s.deviceKey(hash)).Result()
	if err != nil {
		return storage.DeviceCode{}, translate(op, err)
	}
	if len(fields) == 0 || fields["uh"] != userCodeHash {
		return storage.DeviceCode{}, notFound(op)
	}
	d, err := decodeDevice(hash, fields)
	if err != nil {
		return storage.DeviceCode{}, translate(op, err)
	}
	if !now.Before(d.ExpiresAt) {
		return storage.DeviceCode{}, notFound(op)
	}
	return d, nil
}

// DecideDeviceCode records the user's decision on a live pending code.
func (s *Store) DecideDeviceCode(ctx context.Context, userCodeHash string, now time.Time, dec storage.DeviceDecision) (storage.DeviceCode, error) {
	const op = "decide device code"
	if err := checkText(op, dec.Subject, dec.SessionID, dec.Claims); err != nil {
		return storage.DeviceCode{}, err
	}
	hash, err := s.c.Get(ctx, s.deviceUserKey(userCodeHash)).Result()
	if errors.Is(err, redis.Nil) {
		return storage.DeviceCode{}, notFound(op)
	}
	if err != nil {
		return storage.DeviceCode{}, translate(op, err)
	}
	data, err := json.Marshal(deviceDecisionWire{
		Subject: dec.Subject, SessionID: dec.SessionID, AuthTime: ms(dec.AuthTime), Claims: dec.Claims, DecidedAt: ms(now),
	})
	if err != nil {
		return storage.DeviceCode{}, translate(op, err)
	}
	status := storage.DeviceDenied
	if dec.Approve {
		status = storage.DeviceApproved
	}
	res, err := decideDeviceScript.Run(ctx, s.c, []string{s.deviceKey(hash)}, userCodeHash, now.UnixMilli(), string(status), data).Result()
	if errors.Is(err, redis.Nil) {
		return storage.DeviceCode{}, notFound(op)
	}
	if err != nil {
		return storage.DeviceCode{}, translate(op, err)
	}
	if res == "conflict" {
		return storage.DeviceCode{}, fmt.Errorf("redisstore: %s: already decided: %w", op, storage.ErrConflict)
	}
	list, ok := res.([]any)
	if !ok {
		return storage.DeviceCode{}, translate(op, fmt.Errorf("unexpected reply %T", res))
	}
	d, err := decodeDevice(hash, pairs(list))
	if err != nil {
		return storage.DeviceCode{}, translate(op, err)
	}
	return d, nil
}

// PollDeviceCode is one poll; see storage.DeviceCodes.
func (s *Store) PollDeviceCode(ctx context.Context, hash, clientID string, now time.Time) (storage.DeviceCode, storage.DevicePoll, error) {
	const op = "poll device code"
	res, err := pollDeviceScript.Run(ctx, s.c, []string{s.deviceKey(hash)}, clientID, now.UnixMilli(),
		storage.DeviceCodeRetention.Milliseconds(), storage.DeviceSlowDownStep.Milliseconds()).StringSlice()
	if errors.Is(err, redis.Nil) {
		return storage.DeviceCode{}, 0, notFound(op)
	}
	if err != nil {
		return storage.DeviceCode{}, 0, translate(op, err)
	}
	if len(res) == 0 {
		return storage.DeviceCode{}, 0, translate(op, errors.New("empty reply"))
	}
	outcome, ok := pollOutcomes[res[0]]
	if !ok {
		return storage.DeviceCode{}, 0, translate(op, fmt.Errorf("unexpected outcome %q", res[0]))
	}
	fields := make(map[string]string, len(res)/2)
	for i := 1; i+1 < len(res); i += 2 {
		fields[res[i]] = res[i+1]
	}
	d, err := decodeDevice(hash, fields)
	if err != nil {
		return storage.DeviceCode{}, 0, translate(op, err)
	}
	return d, outcome, nil
}

// PurgeDeviceCodes does nothing: device keys expire by themselves.
func (s *Store) PurgeDeviceCodes(context.Context, time.Time) (int, error) { return 0, nil }

// pairs turns a HGETALL reply read as []any into a map.
func pairs(list []any) map[string]string {
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		v, _ := list[i+1].(string)
		m[k] = v
	}
	return m
}

func decodeDevice(hash string, f map[string]string) (storage.DeviceCode, error) {
	d := storage.DeviceCode{
		Hash: hash, UserCodeHash: f["uh"], ClientID: f["c"], Scope: f["scope"],
		Status: storage.DeviceStatus(f["st"]), Interval: time.Duration(atoi(f["iv"])) * time.Millisecond,
		LastPoll: fromMS(atoi(f["lp"])), CreatedAt: fromMS(atoi(f["created"])), ExpiresAt: fromMS(atoi(f["exp"])),
	}
	if raw := f["dec"]; raw != "" {
		var w deviceDecisionWire
		if err := json.Unmarshal([]byte(raw), &w); err != nil {
			return storage.DeviceCode{}, fmt.Errorf("decode decision: %w", err)
		}
		d.Subject, d.SessionID, d.AuthTime, d.Claims, d.DecidedAt = w.Subject, w.SessionID, fromMS(w.AuthTime), w.Claims, fromMS(w.DecidedAt)
	}
	return d, nil
}
