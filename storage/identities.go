package storage

import (
	"context"
	"time"
)

// LinkedIdentity ties an account of an outside identity provider (a
// social backend's upstream subject) to a local user. The stable key is
// (Backend, Subject), never the e-mail address: addresses change hands,
// upstream subjects do not.
type LinkedIdentity struct {
	Backend string // the backend instance's ID
	Subject string // the upstream sub
	UserID  int64
	// Email is the address the upstream reported at the last sign-in (for
	// the user's list; never used to find the identity).
	Email       string
	CreatedAt   time.Time
	LastLoginAt time.Time
}

// Identities stores linked identities. A user has at most one identity per
// backend. They are durable data (SQL store); deleting a user deletes its
// identities.
type Identities interface {
	// CreateIdentity links an identity. An identity already linked (to
	// anybody), or a user already linked to that backend, is ErrConflict.
	CreateIdentity(ctx context.Context, id LinkedIdentity) error
	// GetIdentity returns the identity of an upstream subject; none is
	// ErrNotFound.
	GetIdentity(ctx context.Context, backend, subject string) (LinkedIdentity, error)
	// ListIdentities returns a user's identities, by backend.
	ListIdentities(ctx context.Context, userID int64) ([]LinkedIdentity, error)
	// TouchIdentity records a sign-in: the e-mail seen and its time. An
	// unknown identity is ErrNotFound.
	TouchIdentity(ctx context.Context, backend, subject, email string, now time.Time) error
	// DeleteIdentity unlinks the user's identity of a backend; none is
	// ErrNotFound.
	DeleteIdentity(ctx context.Context, userID int64, backend string) error
}
