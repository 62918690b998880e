package backends

import (
	"context"
	"time"
)

// Result is what a password check concluded. The provider's chain of
// password backends uses it to decide whether the next backend is asked:
// an unknown login falls through, a wrong password stops the chain unless
// the backend is configured to let it through.
type Result int

const (
	// UnknownUser: the backend has no such login (or cannot tell).
	UnknownUser Result = iota
	// WrongPassword: the backend knows the login and refuses the
	// credentials (a wrong password, or an inactive account).
	WrongPassword
	// Accepted: the credentials are right.
	Accepted
)

// String names a result in metrics and logs.
func (r Result) String() string {
	switch r {
	case Accepted:
		return "accepted"
	case WrongPassword:
		return "wrong_password"
	default:
		return "unknown_user"
	}
}

// PasswordVerifier is a PasswordChecker that tells an unknown login apart
// from a wrong password. It is optional: a checker without it refuses as
// UnknownUser, so the chain asks the next backend. The two refusals must
// still cost about the same time; only the provider sees the difference,
// never the client.
type PasswordVerifier interface {
	VerifyPassword(ctx context.Context, login, password string) (Identity, Result, error)
}

// TokenInfo is what a backend knows about an active bearer token it
// vouches for: whose it is and what it may do.
type TokenInfo struct {
	// Identity is the token's owner. UserID is set when the backend mapped
	// it to a local account; otherwise Backend and Subject name an
	// external subject.
	Identity Identity
	// Scope is the token's scope, space-separated ("" when the upstream
	// server does not say).
	Scope    string
	ClientID string
	IssuedAt time.Time
	// ExpiresAt is when the token stops being valid (zero when unknown).
	ExpiresAt time.Time
}

// TokenIntrospector resolves opaque bearer tokens another server issued
// (RFC 7662), for latchkey's introspection endpoint, token exchange and
// the user API. An inactive or unknown token is (TokenInfo{}, false, nil);
// an error means the backend (or its upstream) could not answer.
type TokenIntrospector interface {
	IntrospectToken(ctx context.Context, token string) (TokenInfo, bool, error)
}

// clientIDKey carries the OAuth client a login is for.
type clientIDKey struct{}

// WithClientID returns a context carrying the client_id a password check is
// made for (the password grant's client, the user API's first-party one).
func WithClientID(ctx context.Context, clientID string) context.Context {
	return context.WithValue(ctx, clientIDKey{}, clientID)
}

// ClientID returns the client_id of WithClientID, or "".
func ClientID(ctx context.Context) string {
	id, _ := ctx.Value(clientIDKey{}).(string)
	return id
}
