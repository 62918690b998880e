package provider

import (
	"context"
	"errors"
	"net/http"

	"github.com/latchkey-auth/latchkey/storage"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2).
type Error struct {
	Code        string // "invalid_grant"
	Description string // safe to show the client
	Status      int
	// RetryAfter, in seconds, is sent as Retry-After when not zero.
	RetryAfter int
	cause      error // logged, never sent
}

// The errors of RFC 6749 §5.2, RFC 7009 and the contract. Sentinels are never
// mutated: WithDescription and WithCause return copies.
var (
	ErrInvalidRequest         = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrInvalidClient          = &Error{Code: "invalid_client", Status: http.StatusUnauthorized, Description: "client authentication failed"}
	ErrInvalidGrant           = &Error{Code: "invalid_grant", Status: http.StatusBadRequest}
	ErrUnauthorizedClient     = &Error{Code: "unauthorized_client", Status: http.StatusBadRequest}
	ErrUnsupportedGrantType   = &Error{Code: "unsupported_grant_type", Status: http.StatusBadRequest}
	ErrInvalidScope           = &Error{Code: "invalid_scope", Status: http.StatusBadRequest}
	ErrInvalidTarget          = &Error{Code: "invalid_target", Status: http.StatusBadRequest}
	ErrUnsupportedTokenType   = &Error{Code: "unsupported_token_type", Status: http.StatusBadRequest}
	ErrInvalidToken           = &Error{Code: "invalid_token", Status: http.StatusUnauthorized}
	ErrInsufficientScope      = &Error{Code: "insufficient_scope", Status: http.StatusForbidden}
	ErrAccessDenied           = &Error{Code: "access_denied", Status: http.StatusForbidden}
	ErrRequestTooLarge        = &Error{Code: "invalid_request", Status: http.StatusRequestEntityTooLarge, Description: "request body too large"}
	ErrUnsupportedMediaType   = &Error{Code: "invalid_request", Status: http.StatusUnsupportedMediaType, Description: "content type must be application/x-www-form-urlencoded"}
	ErrMethodNotAllowed       = &Error{Code: "invalid_request", Status: http.StatusMethodNotAllowed, Description: "method not allowed"}
	ErrRateLimited            = &Error{Code: "rate_limited", Status: http.StatusTooManyRequests, Description: "too many requests"}
	ErrTemporarilyUnavailable = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable, Description: "the server is temporarily unable to handle the request"}
	ErrServerError            = &Error{Code: "server_error", Status: http.StatusInternalServerError, Description: "internal error"}
)

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the cause, which is logged and never sent.
func (e *Error) Unwrap() error { return e.cause }

// Is matches errors of the same code and status.
func (e *Error) Is(target error) bool {
	o, ok := target.(*Error)
	return ok && o.Code == e.Code && o.Status == e.Status
}

// WithDescription returns a copy with a client-safe description.
func (e *Error) WithDescription(msg string) *Error { c := *e; c.Description = msg; return &c }

// WithCause returns a copy that carries cause for the logs.
func (e *Error) WithCause(err error) *Error { c := *e; c.cause = err; return &c }

// AsError turns any error into an *Error: ours pass through, a store that
// cannot answer is temporarily_unavailable, input a store refuses is
// invalid_request, and anything else is server_error (its cause kept for
// the log).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	// A store that cannot answer, or the request's own deadline spent
	// waiting for one.
	if errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return ErrTemporarilyUnavailable.WithCause(err)
	}
	if errors.Is(err, storage.ErrInvalidInput) {
		return ErrInvalidRequest.WithDescription("a parameter holds a value that cannot be stored").WithCause(err)
	}
	return ErrServerError.WithCause(err)
}
