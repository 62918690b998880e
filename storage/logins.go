package storage

import (
	"context"
	"time"
)

// LoginSession is the state of the hosted login pages: a browser's login
// session (who signed in, when) and the authorization request in progress
// (the client's OAuth state, its nonce and PKCE challenge, and the state,
// nonce and PKCE verifier of an upstream OIDC login).
type LoginSession struct {
	// ID is the record's key: a keyed hash of the session cookie or of the
	// state value, never the value itself.
	ID string
	// Subject is the signed-in user; empty until the login succeeds.
	Subject  string
	AuthTime time.Time
	// Backend is the backend that authenticated (or will) the user.
	Backend string

	// The client's authorization request (RFC 6749 §4.1.1, RFC 7636, OIDC).
	ClientID            string
	RedirectURI         string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string

	// The upstream login (social backends): what we sent the upstream
	// issuer, to check on its callback.
	UpstreamState    string
	UpstreamNonce    string
	UpstreamVerifier string

	// CSRFToken protects the hosted pages' forms.
	CSRFToken string
	// Data holds anything else a page needs to carry between requests.
	Data      map[string]string
	UserAgent string
	IP        string
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
}

// LoginSessions stores login state. A session past its ExpiresAt does not
// exist for any method.
type LoginSessions interface {
	// CreateLogin stores a new session; an existing ID is ErrConflict.
	CreateLogin(ctx context.Context, l LoginSession) error
	// GetLogin returns a session that has not expired at now.
	GetLogin(ctx context.Context, id string, now time.Time) (LoginSession, error)
	// UpdateLogin loads a live session, calls fn and saves the result
	// atomically (concurrent updates do not lose each other's changes). fn
	// may change every field but ID, including ExpiresAt to slide the
	// session. An error from fn aborts and is returned as is.
	UpdateLogin(ctx context.Context, id string, now time.Time, fn func(*LoginSession) error) (LoginSession, error)
	// DeleteLogin removes a session; a missing one is ErrNotFound.
	DeleteLogin(ctx context.Context, id string) error
	// PurgeLogins deletes sessions expired at now and counts them (stores
	// whose records expire by themselves may return 0).
	PurgeLogins(ctx context.Context, now time.Time) (int, error)
}
