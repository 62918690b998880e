package storage

import (
	"context"
	"time"
)

// InitialAccessToken is an lk_iat_ token an administrator made for
// dynamic client registration (RFC 7591 §3, oauth2.registration:
// initial_access_token), by its keyed hash.
type InitialAccessToken struct {
	ID        string // public identifier, shown in listings
	Hash      string // keyed hash of the token
	Name      string
	CreatedAt time.Time
	ExpiresAt time.Time // required: the token works until then
	MaxUses   int       // 0: any number of registrations
	Uses      int       // registrations made with it
}

// InitialAccessTokens stores initial access tokens.
type InitialAccessTokens interface {
	// CreateInitialAccessToken stores a token; a duplicate ID or hash is
	// ErrConflict.
	CreateInitialAccessToken(ctx context.Context, t InitialAccessToken) error
	// InitialAccessToken returns the token with the hash if it is live at
	// now: not expired and, with MaxUses, not used up. Else ErrNotFound.
	InitialAccessToken(ctx context.Context, hash string, now time.Time) (InitialAccessToken, error)
	// UseInitialAccessToken counts one use of the token with the hash, in
	// one atomic step, if it is live at now, and returns it as it is after
	// the use; else ErrNotFound. Of concurrent uses of a token with one use
	// left, exactly one succeeds.
	UseInitialAccessToken(ctx context.Context, hash string, now time.Time) (InitialAccessToken, error)
	// ListInitialAccessTokens returns every token, newest first.
	ListInitialAccessTokens(ctx context.Context) ([]InitialAccessToken, error)
	// DeleteInitialAccessToken deletes the token with the ID; an unknown
	// one is ErrNotFound.
	DeleteInitialAccessToken(ctx context.Context, id string) error
	// PurgeInitialAccessTokens deletes tokens expired at now or used up,
	// and counts them.
	PurgeInitialAccessTokens(ctx context.Context, now time.Time) (int, error)
}
