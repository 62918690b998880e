package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage"
)

// Failure counters (storage.Attempts) live in one hash per key:
//
//	lk:att:<key>   hash: n (failures), until (block end, Unix ms, 0: none),
//	               exp (Unix ms; the count is forgotten from then on)
//
// Why a TTL on every counter: anyone on the network can make a new key (a
// new address, a made-up login), so counters must disappear by themselves
// or an attacker could grow Redis without bound. Each hash gets PEXPIREAT at
// its exp, which the script moves forward with every failure; at least
// minTTL past the wall clock (as every key of this store, see Expiry in the
// package comment), because exp is computed from the caller's now. A counter
// whose exp has passed but is still in Redis reads as forgotten: the check
// uses the caller's now, never Redis expiry.

var _ storage.Attempts = (*Store)(nil)

func (s *Store) attemptKey(key string) string { return s.prefix + "att:" + key }

// failAttemptScript counts one failure, atomically (Redis runs a script
// alone, so concurrent failures on a key are all counted). It follows
// storage.AttemptLimit.BlockFor and sqlstore's attemptRow.fail exactly.
// KEYS: the counter. ARGV: now, failures, window, backoff, max backoff,
// floor (durations in ms). Returns {n, until}.
var failAttemptScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local backoff = tonumber(ARGV[4])
local maxb = tonumber(ARGV[5])
local floor = tonumber(ARGV[6])
local v = redis.call('HMGET', KEYS[1], 'n', 'until', 'exp')
local n = tonumber(v[1]) or 0
local untl = tonumber(v[2]) or 0
local exp = tonumber(v[3]) or 0
if now >= exp then
  n = 0
  untl = 0
  exp = 0
end
n = n + 1
if limit > 0 and n >= limit then
  local d = backoff
  local i = limit
  while i < n and d < maxb do
    d = d * 2
    i = i + 1
  end
  if d > maxb then d = maxb end
  if now + d > untl then untl = now + d end
end
local e = math.max(now, untl) + window
if e > exp then exp = e end
redis.call('HSET', KEYS[1], 'n', string.format('%d', n), 'until', string.format('%d', untl), 'exp', string.format('%d', exp))
redis.call('PEXPIREAT', KEYS[1], math.max(exp, floor))
return {n, untl}
`)

// FailAttempt counts one failure of key at now.
func (s *Store) FailAttempt(ctx context.Context, key string, l storage.AttemptLimit, now time.Time) (storage.AttemptState, error) {
	const op = "fail attempt"
	if err := checkText(op, key); err != nil {
		return storage.AttemptState{}, err
	}
	nowMS := now.UnixMilli()
	res, err := failAttemptScript.Run(ctx, s.c, []string{s.attemptKey(key)},
		nowMS, l.Failures, l.Window.Milliseconds(), l.Backoff.Milliseconds(), l.MaxBackoff.Milliseconds(),
		s.floor()).Int64Slice()
	if err != nil {
		return storage.AttemptState{}, translate(op, err)
	}
	if len(res) != 2 {
		return storage.AttemptState{}, translate(op, errors.New("unexpected script reply"))
	}
	st := storage.AttemptState{Failures: int(res[0])}
	if res[1] > nowMS {
		st.BlockedUntil = fromMS(res[1])
	}
	return st, nil
}

// AttemptStates reads every key in one pipelined round trip (split per
// node on a Cluster by go-redis).
func (s *Store) AttemptStates(ctx context.Context, now time.Time, keys ...string) ([]storage.AttemptState, error) {
	out := make([]storage.AttemptState, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	cmds := make([]*redis.SliceCmd, len(keys))
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, s.attemptKey(k), "n", "until", "exp")
		}
		return nil
	})
	if err != nil {
		return nil, translate("attempt states", err)
	}
	nowMS := now.UnixMilli()
	for i, c := range cmds {
		v := c.Val()
		if len(v) != 3 || v[0] == nil {
			continue
		}
		if exp := field(v[2]); nowMS >= exp {
			continue
		}
		out[i].Failures = int(field(v[0]))
		if until := field(v[1]); until > nowMS {
			out[i].BlockedUntil = fromMS(until)
		}
	}
	return out, nil
}

// field reads an HMGET value as an integer; a missing one is 0.
func field(v any) int64 {
	str, _ := v.(string)
	n, _ := strconv.ParseInt(str, 10, 64)
	return n
}

// ResetAttempts deletes the counter.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	if err := s.c.Del(ctx, s.attemptKey(key)).Err(); err != nil {
		return translate("reset attempts", err)
	}
	return nil
}
