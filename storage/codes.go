package storage

import (
	"context"
	"fmt"
	"time"
)

// ErrCodeReused is returned by Codes.ConsumeCode for a code that was
// already consumed. The code is returned with it, so the caller can revoke
// the tokens issued from it (RFC 6749 §4.1.2: "If an authorization code is
// used more than once, the authorization server MUST deny the request and
// SHOULD revoke (when possible) all tokens previously issued based on that
// authorization code"). It matches ErrReused with errors.Is.
var ErrCodeReused = fmt.Errorf("storage: authorization code reused: %w", ErrReused)

// Code is a one-time authorization code (RFC 6749 §4.1), by its keyed hash.
type Code struct {
	Hash string
	// FamilyID is the refresh-token family the tokens issued from this code
	// will belong to. It is chosen when the code is created, so that a replay
	// can revoke those tokens by revoking the family.
	FamilyID    string
	ClientID    string
	Subject     string
	RedirectURI string // as sent in the authorization request, matched exactly
	Scope       string
	Nonce       string // OIDC nonce, echoed in the ID token
	// CodeChallenge and CodeChallengeMethod are the PKCE parameters
	// (RFC 7636); empty when the client sent none.
	CodeChallenge       string
	CodeChallengeMethod string
	// SessionID is the login session the code was issued in.
	SessionID string
	// Resource is the resource indicator of the authorization request (RFC
	// 8707): the audience of the tokens; empty when it named none.
	Resource string
	AuthTime time.Time
	// Claims are extra claims to carry into the tokens (e.g. acr, amr).
	Claims    map[string]any
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is when the code was consumed; zero until then. Set by the
	// store.
	UsedAt time.Time
}

// Codes stores one-time authorization codes. A code is kept (marked used)
// after it is consumed until it expires, so that a replay is recognised.
type Codes interface {
	// CreateCode stores a new code; a code with the same hash is ErrConflict.
	CreateCode(ctx context.Context, c Code) error
	// ConsumeCode marks the code used at now and returns it, in one atomic
	// step: of many concurrent calls with one hash exactly one succeeds.
	//   - unknown hash, or a code expired at now: ErrNotFound;
	//   - a code already consumed: the code (UsedAt set) and ErrCodeReused.
	ConsumeCode(ctx context.Context, hash string, now time.Time) (Code, error)
	// PurgeCodes deletes codes expired at now and counts them (stores whose
	// records expire by themselves may return 0).
	PurgeCodes(ctx context.Context, now time.Time) (int, error)
}
