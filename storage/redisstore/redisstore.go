// Package redisstore implements storage.Tokens on Redis (single node,
// Sentinel or Cluster, through redis.UniversalClient).
//
// # Keys
//
// With the default prefix "lk:":
//
//	lk:fam:{<family>}   hash: the family and its live refresh token
//	                    (gen, th: its keyed hash, tc: created, te: expires)
//	lk:sub:<subject>    sorted set: the subject's family IDs by created_at
//	lk:at:<hash>        string: an opaque access token, JSON
//	lk:rev:<jti>        string: the revocation's until, Unix ms
//	lk:rsub:<subject>   string: "<before>:<until>", Unix ms: the subject's
//	                    access tokens issued before <before> are revoked
//	                    (kept until <until>, checked against now as rev: is)
//
// A refresh token names its family and generation (see storage.TokenRef), so
// the store goes straight to the family's hash: a rotation is one script on
// one key, one round trip, atomic on any deployment. The hash tag
// {<family>} keeps the family key's slot stable should more keys of a
// family be added. The prefix must not contain '{' or '}', and family IDs
// must not be empty.
//
// # Expiry
//
// Every key expires by itself: a family (with its live token) at its
// ExpiresAt (its absolute cap), an access token at its ExpiresAt, a
// revocation or a subject mark at its until, a subject's set at the expiry of its newest
// family. Keys are never needed longer: the family's generation, kept until
// the cap, is what tells a rotated-out token (reuse) from a live one.
//
// Correctness never relies on Redis expiry: every check compares the stored
// expiry with the caller's now, which (as storage requires) is passed in and
// may differ from the wall clock — the conformance suite uses a fixed base
// time far from today. Redis expiry, in contrast, runs on the server's wall
// clock, so a key gets PEXPIREAT at the record's expiry only when that lies
// at least minTTL after the wall clock; otherwise it is kept for minTTL from
// now, long enough for a caller whose now is off to still see it, and still
// bounded. A zero ExpiresAt means "never" (no Redis expiry either).
package redisstore

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage"
)

// minTTL is the least time a key is kept after it was written (see Expiry in
// the package comment).
const minTTL = 10 * time.Minute

// Options configures a Store.
type Options struct {
	// Client is the Redis connection: *redis.Client, *redis.ClusterClient or
	// a failover client. The Store does not close it.
	Client redis.UniversalClient
	// Prefix starts every key; "lk:" when empty. It must not contain '{'
	// or '}'.
	Prefix string
}

// Store implements storage.Tokens on Redis.
type Store struct {
	c      redis.UniversalClient
	prefix string
	// now is the wall clock, for Redis expiry only.
	now func() time.Time
	// revoked groups concurrent revocation checks into one pipeline.
	revoked *revokedBatcher
}

var _ storage.Tokens = (*Store)(nil)

// New returns a Store on opts.Client.
func New(opts Options) *Store {
	p := opts.Prefix
	if p == "" {
		p = "lk:"
	}
	s := &Store{c: opts.Client, prefix: p, now: time.Now}
	s.revoked = &revokedBatcher{s: s}
	return s
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return translate("ping", err)
	}
	return nil
}

// Key names; see the package comment.
func (s *Store) famKey(id string) string       { return s.prefix + "fam:{" + id + "}" }
func (s *Store) subKey(subject string) string  { return s.prefix + "sub:" + subject }
func (s *Store) atKey(hash string) string      { return s.prefix + "at:" + hash }
func (s *Store) revKey(jti string) string      { return s.prefix + "rev:" + jti }
func (s *Store) rsubKey(subject string) string { return s.prefix + "rsub:" + subject }

// floor is the earliest PEXPIREAT any key gets: minTTL past the wall clock.
func (s *Store) floor() int64 { return s.now().Add(minTTL).UnixMilli() }

func atoi(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// capExp caps an expiry at a limit (Unix ms, 0: never).
func capExp(exp, limit int64) int64 {
	switch {
	case exp == 0:
		return limit
	case limit == 0 || exp < limit:
		return exp
	}
	return limit
}

// ms encodes a time as Unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS decodes ms.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// expireAt is the PEXPIREAT for a record expiring at exp (Unix ms, 0:
// never): exp, but at least minTTL past the wall clock; 0 for never.
func (s *Store) expireAt(exp int64) int64 {
	if exp == 0 {
		return 0
	}
	return max(exp, s.floor())
}

// expired reports whether an expiry (Unix ms, 0: never) has passed at now.
func expired(exp int64, now time.Time) bool { return exp != 0 && exp <= now.UnixMilli() }

func familyFields(f storage.Family) []any {
	return []any{
		"client", f.ClientID, "sub", f.Subject, "scope", f.Scope, "res", f.Resource,
		"auth", ms(f.AuthTime), "created", ms(f.CreatedAt), "used", ms(f.LastUsedAt),
		"exp", ms(f.ExpiresAt), "revoked", ms(f.RevokedAt), "ua", f.UserAgent, "ip", f.IP,
	}
}

func decodeFamily(id string, h map[string]string) storage.Family {
	return storage.Family{
		ID:         id,
		ClientID:   h["client"],
		Subject:    h["sub"],
		Scope:      h["scope"],
		Resource:   h["res"],
		AuthTime:   fromMS(atoi(h["auth"])),
		CreatedAt:  fromMS(atoi(h["created"])),
		LastUsedAt: fromMS(atoi(h["used"])),
		ExpiresAt:  fromMS(atoi(h["exp"])),
		RevokedAt:  fromMS(atoi(h["revoked"])),
		UserAgent:  h["ua"],
		IP:         h["ip"],
	}
}

// active reports whether a family is neither revoked nor past its cap.
func active(f storage.Family, now time.Time) bool {
	return f.RevokedAt.IsZero() && !expired(ms(f.ExpiresAt), now)
}

// CreateFamily stores a new family with its first refresh token; an
// existing family ID is ErrConflict. The subject's set and the family go in
// one pipeline (one round trip on a single node), the set first: a crash
// between the two leaves an ID without a family, which readers drop, rather
// than a family RevokeSubject cannot find. Readers also check the family's
// subject, so an ID added by a call that then conflicts does no harm.
func (s *Store) CreateFamily(ctx context.Context, f storage.Family, first storage.RefreshToken) error {
	const op = "create family"
	if f.ID == "" || first.Hash == "" {
		return translate(op, errors.New("empty family ID or token hash"))
	}
	if err := checkText(op, f, first); err != nil {
		return err
	}
	fexp := ms(f.ExpiresAt)
	args := []any{s.expireAt(fexp)}
	args = append(args, familyFields(f)...)
	args = append(args, "gen", first.Generation, "th", first.Hash,
		"tc", ms(first.CreatedAt), "te", capExp(ms(first.ExpiresAt), fexp))
	var create *redis.Cmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		if f.Subject != "" {
			// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
			subjectScript.Eval(ctx, p, []string{s.subKey(f.Subject)},
				ms(f.CreatedAt), f.ID, s.expireAt(fexp), s.now().UnixMilli())
		}
		create = createFamilyScript.Eval(ctx, p, []string{s.famKey(f.ID)}, args...)
		return nil
	})
	if err != nil {
		return translate(op, err)
	}
	if res, _ := create.Text(); res != "ok" {
		return conflict(op)
	}
	return nil
}

// Rotate replaces the family's live token; see storage.Tokens. The token
// lives in its family's hash, so the whole check-and-replace is one script
// on one key: one round trip, atomic, and on Cluster one hash slot.
func (s *Store) Rotate(ctx context.Context, ref storage.TokenRef, clientID string, next storage.RefreshToken, rot storage.Rotation) (storage.Family, error) {
	const op = "rotate refresh token"
	if next.Hash == "" {
		return storage.Family{}, translate(op, errors.New("empty next token hash"))
	}
	if err := checkText(op, next); err != nil {
		return storage.Family{}, err
	}
	if ref.FamilyID == "" || ref.Hash == "" {
		return storage.Family{}, notFound(op)
	}
	// A rotation that started finishes: once the script is sent, a client
	// hanging up (ctx canceled) must not turn a rotation that ran into an
	// error. The deadline still bounds it.
	if err := ctx.Err(); err != nil {
		return storage.Family{}, translate(op, err)
	}
	ctx, cancel := uncanceled(ctx)
	defer cancel()
	res, err := rotateScript.Run(ctx, s.c, []string{s.famKey(ref.FamilyID)},
		ms(rot.Now), ref.Generation, ref.Hash, clientID, next.Hash, ms(next.CreatedAt), ms(next.ExpiresAt),
		rot.Arrival().UnixMicro(), max(rot.Grace, 0).Microseconds(), rot.Commit().UnixMicro()).Slice()
	if err != nil {
		return storage.Family{}, translate(op, err)
	}
	code, _ := res[0].(string)
	switch code {
	case "ok":
	case "notfound":
		return storage.Family{}, notFound(op)
	case "reused":
		return storage.Family{}, translate(op, storage.ErrReused)
	default:
		return storage.Family{}, translate(op, fmt.Errorf("unexpected script result %v", res))
	}
	h := make(map[string]string, (len(res)-1)/2)
	for i := 1; i+1 < len(res); i += 2 {
		k, _ := res[i].(string)
		v, _ := res[i+1].(string)
		h[k] = v
	}
	return decodeFamily(ref.FamilyID, h), nil
}

// liveToken reports whether the family hash h holds the live token ref
// names at now. The hashes are compared in constant time.
func liveToken(h map[string]string, ref storage.TokenRef, now time.Time) bool {
	return len(h) > 0 && h["gen"] == strconv.FormatInt(ref.Generation, 10) &&
		subtle.ConstantTimeCompare([]byte(h["th"]), []byte(ref.Hash)) == 1 &&
		!expired(atoi(h["te"]), now)
}

// RefreshToken looks up a live refresh token and its family: one HGETALL.
func (s *Store) RefreshToken(ctx context.Context, ref storage.TokenRef, now time.Time) (storage.RefreshToken, storage.Family, error) {
	const op = "get refresh token"
	if ref.FamilyID == "" || ref.Hash == "" {
		return storage.RefreshToken{}, storage.Family{}, notFound(op)
	}
	h, err := s.c.HGetAll(ctx, s.famKey(ref.FamilyID)).Result()
	if err != nil {
		return storage.RefreshToken{}, storage.Family{}, translate(op, err)
	}
	if !liveToken(h, ref, now) {
		return storage.RefreshToken{}, storage.Family{}, notFound(op)
	}
	f := decodeFamily(ref.FamilyID, h)
	if !active(f, now) {
		return storage.RefreshToken{}, storage.Family{}, notFound(op)
	}
	tok := storage.RefreshToken{
		FamilyID:   ref.FamilyID,
		Generation: ref.Generation,
		Hash:       h["th"],
		CreatedAt:  fromMS(atoi(h["tc"])),
		ExpiresAt:  fromMS(atoi(h["te"])),
	}
	return tok, f, nil
}

// GetFamily returns a family, revoked or not, until its key is gone.
func (s *Store) GetFamily(ctx context.Context, id string) (storage.Family, error) {
	const op = "get family"
	h, err := s.c.HGetAll(ctx, s.famKey(id)).Result()
	if err != nil {
		return storage.Family{}, translate(op, err)
	}
	if len(h) == 0 {
		return storage.Family{}, notFound(op)
	}
	return decodeFamily(id, h), nil
}

// storedFamily is a family with its live token's expiry.
type storedFamily struct {
	storage.Family
	tokenExp int64
}

// subjectFamilies reads the subject's set and its families, dropping the
// IDs whose family is gone.
func (s *Store) subjectFamilies(ctx context.Context, op, subject string) ([]storedFamily, error) {
	key := s.subKey(subject)
	ids, err := s.c.ZRevRange(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, translate(op, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.famKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, translate(op, err)
	}
	var (
		fams []storedFamily
		gone []any
	)
	for i, c := range cmds {
		h := c.Val()
		if len(h) == 0 {
			gone = append(gone, ids[i])
			continue
		}
		if f := decodeFamily(ids[i], h); f.Subject == subject {
			fams = append(fams, storedFamily{Family: f, tokenExp: atoi(h["te"])})
		}
	}
	if len(gone) > 0 {
		if err := s.c.ZRem(ctx, key, gone...).Err(); err != nil {
			return nil, translate(op, err)
		}
	}
	return fams, nil
}

// ListFamilies returns the subject's active families, newest first.
func (s *Store) ListFamilies(ctx context.Context, subject string, now time.Time) ([]storage.Family, error) {
	fams, err := s.subjectFamilies(ctx, "list families", subject)
	if err != nil {
		return nil, err
	}
	live := make([]storage.Family, 0, len(fams))
	for _, f := range fams {
		if active(f.Family, now) && !expired(f.tokenExp, now) {
			live = append(live, f.Family)
		}
	}
	sort.SliceStable(live, func(i, j int) bool {
		if !live[i].CreatedAt.Equal(live[j].CreatedAt) {
			return live[i].CreatedAt.After(live[j].CreatedAt)
		}
		return live[i].ID > live[j].ID
	})
	return live, nil
}

// RevokeFamily revokes a family, keeping the first revocation time.
func (s *Store) RevokeFamily(ctx context.Context, id string, now time.Time) error {
	const op = "revoke family"
	n, err := revokeFamilyScript.Run(ctx, s.c, []string{s.famKey(id)}, ms(now), "0").Int()
	if err != nil {
		return translate(op, err)
	}
	if n < 0 {
		return notFound(op)
	}
	return nil
}

// RevokeSubject revokes every active family of a subject and returns how
// many. The revocations go in one pipeline, each one a script on its
// family's slot.
func (s *Store) RevokeSubject(ctx context.Context, subject string, now time.Time) (int, error) {
	const op = "revoke subject"
	fams, err := s.subjectFamilies(ctx, op, subject)
	if err != nil || len(fams) == 0 {
		return 0, err
	}
	cmds := make([]*redis.Cmd, len(fams))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, f := range fams {
			// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT.
			cmds[i] = revokeFamilyScript.Eval(ctx, p, []string{s.famKey(f.ID)}, ms(now), "1")
		}
		return nil
	})
	if err != nil {
		return 0, translate(op, err)
	}
	n := 0
	for _, c := range cmds {
		if v, _ := c.Int(); v == 1 {
			n++
		}
	}
	return n, nil
}

// accessRecord is an access token's JSON.
type accessRecord struct {
	ID        string         `json:"jti"`
	FamilyID  string         `json:"fam,omitempty"`
	ClientID  string         `json:"client"`
	Subject   string         `json:"sub,omitempty"`
	Scope     string         `json:"scope,omitempty"`
	Claims    map[string]any `json:"claims,omitempty"`
	IssuedAt  int64          `json:"iat"`
	ExpiresAt int64          `json:"exp"`
}

// CreateAccessToken stores an opaque access token; an existing hash is
// ErrConflict.
func (s *Store) CreateAccessToken(ctx context.Context, t storage.AccessToken) error {
	const op = "create access token"
	if err := checkText(op, t); err != nil {
		return err
	}
	b, err := json.Marshal(accessRecord{
		ID: t.ID, FamilyID: t.FamilyID, ClientID: t.ClientID, Subject: t.Subject, Scope: t.Scope,
		Claims: t.Claims, IssuedAt: ms(t.IssuedAt), ExpiresAt: ms(t.ExpiresAt),
	})
	if err != nil {
		return translate(op, err)
	}
	args := redis.SetArgs{Mode: "NX"}
	if at := s.expireAt(ms(t.ExpiresAt)); at != 0 {
		args.ExpireAt = time.UnixMilli(at)
	}
	err = s.c.SetArgs(ctx, s.atKey(t.Hash), b, args).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return conflict(op)
	case err != nil:
		return translate(op, err)
	}
	return nil
}

// AccessToken looks up an opaque access token that has not expired.
func (s *Store) AccessToken(ctx context.Context, hash string, now time.Time) (storage.AccessToken, error) {
	const op = "get access token"
	b, err := s.c.Get(ctx, s.atKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return storage.AccessToken{}, notFound(op)
	}
	if err != nil {
		return storage.AccessToken{}, translate(op, err)
	}
	var r accessRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return storage.AccessToken{}, translate(op, err)
	}
	if expired(r.ExpiresAt, now) {
		return storage.AccessToken{}, notFound(op)
	}
	return storage.AccessToken{
		Hash: hash, ID: r.ID, FamilyID: r.FamilyID, ClientID: r.ClientID, Subject: r.Subject,
		Scope: r.Scope, Claims: r.Claims, IssuedAt: fromMS(r.IssuedAt), ExpiresAt: fromMS(r.ExpiresAt),
	}, nil
}

// RevokeAccessToken denies the jti until the given time; a revocation that
// is already longer is kept.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, until time.Time) error {
	const op = "revoke access token"
	if err := checkText(op, jti); err != nil {
		return err
	}
	u := ms(until)
	at := s.expireAt(u)
	if at == 0 {
		return translate(op, errors.New("zero revocation time"))
	}
	if err := revokeTokenScript.Run(ctx, s.c, []string{s.revKey(jti)}, u, at).Err(); err != nil {
		return translate(op, err)
	}
	return nil
}

// RevokeSubjectTokensBefore marks the subject's access tokens issued
// before the given time revoked, until keepUntil. One script keeps the
// later before and the later keepUntil, atomically.
func (s *Store) RevokeSubjectTokensBefore(ctx context.Context, subject string, before, keepUntil time.Time) error {
	const op = "revoke subject tokens"
	if subject == "" || before.IsZero() || keepUntil.IsZero() {
		return translate(op, errors.New("empty subject or zero time"))
	}
	if err := checkText(op, subject); err != nil {
		return err
	}
	err := revokeSubjectScript.Run(ctx, s.c, []string{s.rsubKey(subject)}, ms(before), ms(keepUntil), s.floor()).Err()
	if err != nil {
		return translate(op, err)
	}
	return nil
}

// subjectMark decodes a subject mark's "<before>:<until>".
func subjectMark(v string) (before, until int64, ok bool) {
	b, u, ok := strings.Cut(v, ":")
	if !ok {
		return 0, 0, false
	}
	return atoi(b), atoi(u), true
}

// Revoked reports whether the jti is revoked at now, the family is
// revoked, or a mark of the subject kept at now is later than IssuedAt;
// each part only when given. The keys live in different hash slots, so
// they cannot be read with one multi-key command (EXISTS a b fails with
// CROSSSLOT on Cluster): each part is one command, and the checks of every
// request waiting at the same moment go to Redis in one pipeline (see
// revokedBatcher), read after the request arrived, so a revocation made on
// any instance is seen by the next check on every instance. On Cluster
// go-redis splits the pipeline by node and sends the parts concurrently.
func (s *Store) Revoked(ctx context.Context, c storage.RevocationCheck, now time.Time) (bool, error) {
	if c.JTI == "" && c.FamilyID == "" && !(c.Subject != "" && !c.IssuedAt.IsZero()) {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, translate("revoked", err)
	}
	return s.revoked.check(ctx, &revokedReq{c: c, now: now, ready: make(chan struct{}, 1)})
}

// revokedCmds are the reads of one revocation check.
type revokedCmds struct {
	rev, fam, sub *redis.StringCmd
}

// queue adds the reads of c to a pipeline.
func (s *Store) queueRevoked(ctx context.Context, p redis.Pipeliner, c storage.RevocationCheck) revokedCmds {
	var cmds revokedCmds
	if c.JTI != "" {
		cmds.rev = p.Get(ctx, s.revKey(c.JTI))
	}
	if c.FamilyID != "" {
		cmds.fam = p.HGet(ctx, s.famKey(c.FamilyID), "revoked")
	}
	if c.Subject != "" && !c.IssuedAt.IsZero() {
		cmds.sub = p.Get(ctx, s.rsubKey(c.Subject))
	}
	return cmds
}

// answer reads the pipeline's replies of one check.
func (cmds revokedCmds) answer(c storage.RevocationCheck, now time.Time) (bool, error) {
	const op = "revoked"
	if cmds.rev != nil {
		v, err := cmds.rev.Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return false, translate(op, err)
		}
		if err == nil && v > ms(now) {
			return true, nil
		}
	}
	if cmds.fam != nil {
		v, err := cmds.fam.Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return false, translate(op, err)
		}
		if err == nil && v != 0 {
			return true, nil
		}
	}
	if cmds.sub != nil {
		v, err := cmds.sub.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return false, translate(op, err)
		}
		if before, until, ok := subjectMark(v); err == nil && ok && until > ms(now) && ms(c.IssuedAt) < before {
			return true, nil
		}
	}
	return false, nil
}

// Purge deletes the records that have expired at now and returns how many:
// refresh tokens, families past their cap, access tokens, revocations,
// subject marks.
//
// Redis expires every key by itself, so Purge is never needed to bound
// memory; it only matters when the caller's now runs ahead of the Redis
// server's clock (as in tests). It SCANs every key under the prefix (on
// each master of a Cluster), so it is slow on a large keyspace; an
// implementation that returned (0, nil) would be equally correct for
// memory, but not for the conformance suite's count.
func (s *Store) Purge(ctx context.Context, now time.Time) (int, error) {
	const op = "purge"
	total := 0
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		it := c.Scan(ctx, 0, s.prefix+"*", 500).Iterator()
		var batch []string
		for it.Next(ctx) {
			batch = append(batch, it.Val())
			if len(batch) == 500 {
				n, err := s.purgeBatch(ctx, batch, now)
				total += n
				if err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
		n, err := s.purgeBatch(ctx, batch, now)
		total += n
		return err
	}
	var err error
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		var mu chan struct{} = make(chan struct{}, 1)
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu <- struct{}{} // one master at a time: total is shared
			defer func() { <-mu }()
			return scan(ctx, c)
		})
	} else {
		err = scan(ctx, s.c)
	}
	if err != nil {
		return total, translate(op, err)
	}
	return total, nil
}

// purgeBatch purges the expired records among keys: first it reads the
// access tokens (their expiry is inside the JSON), then it deletes with
// scripts that check the expiry again.
func (s *Store) purgeBatch(ctx context.Context, keys []string, now time.Time) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	nowMS := ms(now)
	var (
		ats    = map[string]*redis.StringCmd{}
		others []string
	)
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			rest := strings.TrimPrefix(k, s.prefix)
			switch {
			case strings.HasPrefix(rest, "at:"):
				ats[k] = p.Get(ctx, k)
			case strings.HasPrefix(rest, "fam:"), strings.HasPrefix(rest, "rev:"), strings.HasPrefix(rest, "rsub:"):
				others = append(others, k)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	var dels []*redis.Cmd
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, c := range ats {
			b, err := c.Bytes()
			if err != nil {
				continue
			}
			var r accessRecord
			if json.Unmarshal(b, &r) != nil || !expired(r.ExpiresAt, now) {
				continue
			}
			dels = append(dels, delIfScript.Eval(ctx, p, []string{k}, b))
		}
		for _, k := range others {
			switch {
			case strings.HasPrefix(k, s.prefix+"fam:"):
				dels = append(dels, purgeHashScript.Eval(ctx, p, []string{k}, nowMS))
			case strings.HasPrefix(k, s.prefix+"rsub:"):
				dels = append(dels, purgeSubjectScript.Eval(ctx, p, []string{k}, nowMS))
			default:
				dels = append(dels, purgeValueScript.Eval(ctx, p, []string{k}, nowMS))
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range dels {
		if v, _ := c.Int(); v == 1 {
			n++
		}
	}
	return n, nil
}

// uncanceled keeps ctx's values and deadline but not its cancellation.
func uncanceled(ctx context.Context) (context.Context, context.CancelFunc) {
	d := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(d, deadline)
	}
	return context.WithCancel(d)
}
