package storage

import (
	"context"
	"time"
)

// Consent is what a user allowed a client on the consent page: the scopes
// it may get without asking again.
type Consent struct {
	Subject   string
	ClientID  string
	Scopes    []string // sorted, each once
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Consents remembers users' consents per (user, client). They are durable
// data (a user expects a decision to be kept), so they live in the SQL
// store.
type Consents interface {
	// GrantConsent adds scopes to the user's consent for the client,
	// creating it, and returns the result. Concurrent grants do not lose
	// each other's scopes.
	GrantConsent(ctx context.Context, subject, clientID string, scopes []string, now time.Time) (Consent, error)
	// GetConsent returns the user's consent for the client; none is
	// ErrNotFound.
	GetConsent(ctx context.Context, subject, clientID string) (Consent, error)
	// ListConsents returns the user's consents, newest change first.
	ListConsents(ctx context.Context, subject string) ([]Consent, error)
	// RevokeConsent forgets the user's consent for the client; none is
	// ErrNotFound.
	RevokeConsent(ctx context.Context, subject, clientID string) error
}
