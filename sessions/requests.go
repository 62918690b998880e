package sessions

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RequestTTL is how long an authorization request waits for the user to
// sign in and consent.
const RequestTTL = 15 * time.Minute

// ErrNoRequest is a pending request that does not exist (expired, already
// answered, or never made).
var ErrNoRequest = errors.New("sessions: no such authorization request")

// Request is an authorization request waiting for the user: the
// parameters the client sent, kept as they came so the request is checked
// again, in full, when it resumes.
type Request struct {
	// ID is the request's handle in the pages' URLs and forms: random,
	// stored only as a keyed hash.
	ID     string
	Params url.Values
	// CreatedAt is when the browser arrived; a login after it satisfies
	// prompt=login.
	CreatedAt time.Time
}

const dataParams = "params"

// SaveRequest keeps an authorization request's parameters until the user
// has signed in (RequestTTL) and returns its ID.
func (m *Manager) SaveRequest(ctx context.Context, params url.Values) (*Request, error) {
	now := m.opts.Now()
	id := randomID(24)
	rec := storage.LoginSession{
		ID: m.requestKey(id), Data: map[string]string{dataParams: params.Encode()},
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(RequestTTL),
	}
	if err := m.opts.Logins.CreateLogin(ctx, rec); err != nil {
		return nil, fmt.Errorf("save authorization request: %w", err)
	}
	return &Request{ID: id, Params: params, CreatedAt: now}, nil
}

// Request returns a pending authorization request; an unknown or expired
// one is ErrNoRequest.
func (m *Manager) Request(ctx context.Context, id string) (*Request, error) {
	if id == "" || len(id) > 64 {
		return nil, ErrNoRequest
	}
	rec, err := m.opts.Logins.GetLogin(ctx, m.requestKey(id), m.opts.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoRequest
	}
	if err != nil {
		return nil, fmt.Errorf("load authorization request: %w", err)
	}
	params, err := url.ParseQuery(rec.Data[dataParams])
	if err != nil || rec.Subject != "" {
		return nil, ErrNoRequest
	}
	return &Request{ID: id, Params: params, CreatedAt: rec.CreatedAt}, nil
}

// FinishRequest forgets a request that was answered (a code or an error
// went to the client), so it cannot be answered twice.
func (m *Manager) FinishRequest(ctx context.Context, id string) error {
	err := m.opts.Logins.DeleteLogin(ctx, m.requestKey(id))
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNoRequest
	}
	if err != nil {
		return fmt.Errorf("finish authorization request: %w", err)
	}
	return nil
}

func (m *Manager) requestKey(id string) string {
	return m.opts.Hasher.Hash("authorization-request:" + id)
}
