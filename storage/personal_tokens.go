package storage

import (
	"context"
	"time"
)

// Kinds of personal tokens.
const (
	// TokenKindPersonal is a personal access token made at
	// /auth/users/me/tokens/ (an API key with a name).
	TokenKindPersonal = "personal"
	// TokenKindLogin is a knox-style token made by /auth/token/login/.
	TokenKindLogin = "login"
)

// PersonalToken is an opaque lk_pat_ token of a user, by its keyed hash.
type PersonalToken struct {
	ID        string // public identifier, shown in listings
	Hash      string // keyed hash of the secret
	UserID    int64
	Kind      string // TokenKindPersonal or TokenKindLogin
	Name      string
	Scope     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PersonalTokens stores personal access tokens and login tokens. Revoking
// one deletes it.
type PersonalTokens interface {
	CreatePersonalToken(ctx context.Context, t PersonalToken) error
	// PersonalToken returns the token with the hash unless it has expired.
	PersonalToken(ctx context.Context, hash string, now time.Time) (PersonalToken, error)
	// ListPersonalTokens returns the user's live tokens, newest first.
	ListPersonalTokens(ctx context.Context, userID int64, now time.Time) ([]PersonalToken, error)
	// DeletePersonalToken deletes one of the user's tokens; a token of
	// another user is ErrNotFound and stays.
	DeletePersonalToken(ctx context.Context, userID int64, id string) error
	// DeleteUserPersonalTokens deletes the user's tokens of the kind (every
	// kind when kind is empty) and returns how many.
	DeleteUserPersonalTokens(ctx context.Context, userID int64, kind string) (int, error)
	// PurgePersonalTokens deletes expired tokens.
	PurgePersonalTokens(ctx context.Context, now time.Time) (int, error)
}
