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

// Login sessions:
//
//	lk:login:<id>   string: the session, JSON (times in Unix ms)
//
// The key expires at the session's ExpiresAt (at least minTTL
// after it was written); an update that slides ExpiresAt moves the key's
// expiry with it.

var _ storage.LoginSessions = (*Store)(nil)

// updateLoginAttempts bounds the optimistic retries of UpdateLogin under
// contention on one session.
const updateLoginAttempts = 100

func (s *Store) loginKey(id string) string { return s.prefix + "login:" + id }

type loginWire struct {
	Subject             string            `json:"sub,omitempty"`
	AuthTime            int64             `json:"auth,omitempty"`
	Backend             string            `json:"backend,omitempty"`
	ClientID            string            `json:"client,omitempty"`
	RedirectURI         string            `json:"redirect_uri,omitempty"`
	Scope               string            `json:"scope,omitempty"`
	State               string            `json:"state,omitempty"`
	Nonce               string            `json:"nonce,omitempty"`
	CodeChallenge       string            `json:"cc,omitempty"`
	CodeChallengeMethod string            `json:"ccm,omitempty"`
	UpstreamState       string            `json:"up_state,omitempty"`
	UpstreamNonce       string            `json:"up_nonce,omitempty"`
	UpstreamVerifier    string            `json:"up_verifier,omitempty"`
	CSRFToken           string            `json:"csrf,omitempty"`
	Data                map[string]string `json:"data,omitempty"`
	UserAgent           string            `json:"ua,omitempty"`
	IP                  string            `json:"ip,omitempty"`
	CreatedAt           int64             `json:"created,omitempty"`
	UpdatedAt           int64             `json:"updated,omitempty"`
	ExpiresAt           int64             `json:"exp,omitempty"`
}

func encodeLogin(l storage.LoginSession) ([]byte, error) {
	return json.Marshal(loginWire{
		Subject: l.Subject, AuthTime: ms(l.AuthTime), Backend: l.Backend, ClientID: l.ClientID,
		RedirectURI: l.RedirectURI, Scope: l.Scope, State: l.State, Nonce: l.Nonce,
		CodeChallenge: l.CodeChallenge, CodeChallengeMethod: l.CodeChallengeMethod,
		UpstreamState: l.UpstreamState, UpstreamNonce: l.UpstreamNonce, UpstreamVerifier: l.UpstreamVerifier,
		CSRFToken: l.CSRFToken, Data: l.Data, UserAgent: l.UserAgent, IP: l.IP,
		CreatedAt: ms(l.CreatedAt), UpdatedAt: ms(l.UpdatedAt), ExpiresAt: ms(l.ExpiresAt),
	})
}

func decodeLogin(id string, data []byte) (storage.LoginSession, error) {
	var w loginWire
	if err := json.Unmarshal(data, &w); err != nil {
		return storage.LoginSession{}, err
	}
	return storage.LoginSession{
		ID: id, Subject: w.Subject, AuthTime: fromMS(w.AuthTime), Backend: w.Backend, ClientID: w.ClientID,
		RedirectURI: w.RedirectURI, Scope: w.Scope, State: w.State, Nonce: w.Nonce,
		CodeChallenge: w.CodeChallenge, CodeChallengeMethod: w.CodeChallengeMethod,
		UpstreamState: w.UpstreamState, UpstreamNonce: w.UpstreamNonce, UpstreamVerifier: w.UpstreamVerifier,
		CSRFToken: w.CSRFToken, Data: w.Data, UserAgent: w.UserAgent, IP: w.IP,
		CreatedAt: fromMS(w.CreatedAt), UpdatedAt: fromMS(w.UpdatedAt), ExpiresAt: fromMS(w.ExpiresAt),
	}, nil
}

// liveLogin reads a session from cmdable and checks it has not expired at
// now; its errors are translated with op.
func (s *Store) liveLogin(ctx context.Context, c redis.Cmdable, op, id string, now time.Time) (storage.LoginSession, error) {
	data, err := c.Get(ctx, s.loginKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return storage.LoginSession{}, notFound(op)
	}
	if err != nil {
		return storage.LoginSession{}, translate(op, err)
	}
	l, err := decodeLogin(id, data)
	if err != nil {
		return storage.LoginSession{}, translate(op, fmt.Errorf("decode: %w", err))
	}
	if !l.ExpiresAt.IsZero() && !l.ExpiresAt.After(now) {
		return storage.LoginSession{}, notFound(op)
	}
	return l, nil
}

// CreateLogin stores a new login session (SET NX).
func (s *Store) CreateLogin(ctx context.Context, l storage.LoginSession) error {
	const op = "create login session"
	if err := checkText(op, l); err != nil {
		return err
	}
	data, err := encodeLogin(l)
	if err != nil {
		return translate(op, err)
	}
	args := redis.SetArgs{Mode: "NX", ExpireAt: s.ephemeralExpireAt(l.ExpiresAt)}
	err = s.c.SetArgs(ctx, s.loginKey(l.ID), data, args).Err()
	if errors.Is(err, redis.Nil) {
		return conflict(op)
	}
	return translate(op, err)
}

// GetLogin returns a session that has not expired at now.
func (s *Store) GetLogin(ctx context.Context, id string, now time.Time) (storage.LoginSession, error) {
	return s.liveLogin(ctx, s.c, "get login session", id, now)
}

// errLoginUpdateAborted carries fn's error out of the WATCH transaction.
type errLoginUpdateAborted struct{ err error }

func (e errLoginUpdateAborted) Error() string { return e.err.Error() }

// UpdateLogin is an optimistic read-modify-write (WATCH, GET, MULTI/SET):
// the SET fails if another update changed the key in between, and the
// update is tried again with the new value. Login state sees little
// contention (one browser), so optimism beats a lock.
func (s *Store) UpdateLogin(ctx context.Context, id string, now time.Time, fn func(*storage.LoginSession) error) (storage.LoginSession, error) {
	const op = "update login session"
	key := s.loginKey(id)
	var out storage.LoginSession
	txf := func(tx *redis.Tx) error {
		l, err := s.liveLogin(ctx, tx, op, id, now)
		if err != nil {
			return err
		}
		if err := fn(&l); err != nil {
			return errLoginUpdateAborted{err}
		}
		l.ID = id
		if err := checkText(op, l); err != nil {
			return err
		}
		data, err := encodeLogin(l)
		if err != nil {
			return err
		}
		at := s.ephemeralExpireAt(l.ExpiresAt)
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.SetArgs(ctx, key, data, redis.SetArgs{ExpireAt: at})
			return nil
		})
		if err == nil {
			// Round-trip through the wire form, as a later GetLogin would.
			out, err = decodeLogin(id, data)
		}
		return err
	}
	for attempt := 0; attempt < updateLoginAttempts; attempt++ {
		err := s.c.Watch(ctx, txf, key)
		if errors.Is(err, redis.TxFailedErr) {
			select {
			case <-ctx.Done():
				return storage.LoginSession{}, translate(op, ctx.Err())
			case <-time.After(time.Duration(attempt%8+1) * time.Millisecond):
			}
			continue
		}
		var aborted errLoginUpdateAborted
		if errors.As(err, &aborted) {
			return storage.LoginSession{}, aborted.err
		}
		if err != nil {
			return storage.LoginSession{}, translate(op, err)
		}
		return out, nil
	}
	// Another try may get through: as a Redis too busy to answer.
	return storage.LoginSession{}, fmt.Errorf("redisstore: %s: too much contention on one session: %w", op, storage.ErrUnavailable)
}

// DeleteLogin removes a session.
func (s *Store) DeleteLogin(ctx context.Context, id string) error {
	const op = "delete login session"
	n, err := s.c.Del(ctx, s.loginKey(id)).Result()
	if err != nil {
		return translate(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// PurgeLogins does nothing: session keys expire by themselves.
func (s *Store) PurgeLogins(context.Context, time.Time) (int, error) { return 0, nil }
