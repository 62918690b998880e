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

// One-time authorization codes:
//
//	lk:code:<hash>   hash: d (the code, JSON), exp (Unix ms), used (Unix ms, once consumed)
//
// The key expires at the code's expiry (at least minTTL after it
// was written, see Expiry in the package comment); a consumed code stays,
// marked used, until then so that a replay is recognised.

var _ storage.Codes = (*Store)(nil)

func (s *Store) codeKey(hash string) string { return s.prefix + "code:" + hash }

// ephemeralExpireAt is the PEXPIREAT for a code or login session expiring
// at exp: exp, but at least minTTL past the wall clock (a zero exp too:
// these records always expire).
func (s *Store) ephemeralExpireAt(exp time.Time) time.Time {
	return time.UnixMilli(max(ms(exp), s.floor()))
}

// codeWire is a code as stored: times in Unix ms.
type codeWire struct {
	FamilyID            string         `json:"fam,omitempty"`
	ClientID            string         `json:"client,omitempty"`
	Subject             string         `json:"sub,omitempty"`
	RedirectURI         string         `json:"redirect_uri,omitempty"`
	Scope               string         `json:"scope,omitempty"`
	Nonce               string         `json:"nonce,omitempty"`
	CodeChallenge       string         `json:"cc,omitempty"`
	CodeChallengeMethod string         `json:"ccm,omitempty"`
	SessionID           string         `json:"sid,omitempty"`
	Resource            string         `json:"res,omitempty"`
	AuthTime            int64          `json:"auth,omitempty"`
	Claims              map[string]any `json:"claims,omitempty"`
	CreatedAt           int64          `json:"created,omitempty"`
	ExpiresAt           int64          `json:"exp,omitempty"`
}

// createCodeScript stores a code unless its key exists.
// KEYS[1] code key; ARGV: data, exp ms, PEXPIREAT ms. Returns 1, or 0 on a clash.
var createCodeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'exp', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
`)

// consumeCodeScript marks a live code used, atomically: a script, because
// the check (exists, not expired, not used) and the mark must be one step
// for exactly one of concurrent callers to win, and a script is one step
// on a single node and on Cluster alike (one key, so one slot).
// KEYS[1] code key; ARGV[1] now ms. Returns nil (unknown or expired), or
// {data, used}: used is "" when this call consumed the code, else the time
// of the first use.
var consumeCodeScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'd', 'exp', 'used')
if not v[1] then return false end
local exp = tonumber(v[2]) or 0
if exp ~= 0 and exp <= tonumber(ARGV[1]) then return false end
if v[3] then return {v[1], v[3]} end
redis.call('HSET', KEYS[1], 'used', ARGV[1])
return {v[1], ''}
`)

// CreateCode stores a new authorization code.
func (s *Store) CreateCode(ctx context.Context, c storage.Code) error {
	const op = "create code"
	if err := checkText(op, c); err != nil {
		return err
	}
	data, err := json.Marshal(codeWire{
		FamilyID: c.FamilyID, ClientID: c.ClientID, Subject: c.Subject, RedirectURI: c.RedirectURI,
		Scope: c.Scope, Nonce: c.Nonce, CodeChallenge: c.CodeChallenge, CodeChallengeMethod: c.CodeChallengeMethod,
		SessionID: c.SessionID, Resource: c.Resource, AuthTime: ms(c.AuthTime), Claims: c.Claims,
		CreatedAt: ms(c.CreatedAt), ExpiresAt: ms(c.ExpiresAt),
	})
	if err != nil {
		return translate(op, err)
	}
	at := s.ephemeralExpireAt(c.ExpiresAt).UnixMilli()
	n, err := createCodeScript.Run(ctx, s.c, []string{s.codeKey(c.Hash)}, data, ms(c.ExpiresAt), at).Int()
	if err != nil {
		return translate(op, err)
	}
	if n == 0 {
		return conflict(op)
	}
	return nil
}

// ConsumeCode marks a live code used and returns it; see storage.Codes.
func (s *Store) ConsumeCode(ctx context.Context, hash string, now time.Time) (storage.Code, error) {
	const op = "consume code"
	res, err := consumeCodeScript.Run(ctx, s.c, []string{s.codeKey(hash)}, now.UnixMilli()).StringSlice()
	if errors.Is(err, redis.Nil) {
		return storage.Code{}, notFound(op)
	}
	if err != nil {
		return storage.Code{}, translate(op, err)
	}
	if len(res) != 2 {
		return storage.Code{}, translate(op, fmt.Errorf("unexpected reply of %d values", len(res)))
	}
	var w codeWire
	if err := json.Unmarshal([]byte(res[0]), &w); err != nil {
		return storage.Code{}, translate(op, fmt.Errorf("decode: %w", err))
	}
	c := storage.Code{
		Hash: hash, FamilyID: w.FamilyID, ClientID: w.ClientID, Subject: w.Subject, RedirectURI: w.RedirectURI,
		Scope: w.Scope, Nonce: w.Nonce, CodeChallenge: w.CodeChallenge, CodeChallengeMethod: w.CodeChallengeMethod,
		SessionID: w.SessionID, Resource: w.Resource, AuthTime: fromMS(w.AuthTime), Claims: w.Claims,
		CreatedAt: fromMS(w.CreatedAt), ExpiresAt: fromMS(w.ExpiresAt),
	}
	if res[1] == "" {
		c.UsedAt = fromMS(now.UnixMilli())
		return c, nil
	}
	var used int64
	if _, err := fmt.Sscan(res[1], &used); err != nil {
		return storage.Code{}, translate(op, fmt.Errorf("decode use time: %w", err))
	}
	c.UsedAt = fromMS(used)
	return c, fmt.Errorf("redisstore: %s: %w", op, storage.ErrCodeReused)
}

// PurgeCodes does nothing: code keys expire by themselves.
func (s *Store) PurgeCodes(context.Context, time.Time) (int, error) { return 0, nil }
