// Package accounts is the logic of the user API (contract sections 4 and 5):
// djoser's users, SimpleJWT's and knox's token endpoints, sessions,
// personal access tokens and the admin's groups. It holds no HTTP
// framework: handlers decode a request into an Input, call a Service method
// and write what it returns, DRF style.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/passwordpolicy"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// Store is what the service reads and writes in the durable store.
type Store interface {
	storage.Users
	storage.Groups
	storage.PersonalTokens
}

// Sessions is what the service uses of the token store (SQL or Redis).
type Sessions interface {
	GetFamily(ctx context.Context, id string) (storage.Family, error)
	ListFamilies(ctx context.Context, subject string, now time.Time) ([]storage.Family, error)
	RevokeFamily(ctx context.Context, id string, now time.Time) error
	RevokeSubject(ctx context.Context, subject string, now time.Time) (int, error)
}

// Authenticator checks who a caller is: passwords, access tokens and the
// hashes personal tokens are stored under. *provider.Provider implements
// it, so the user API's checks share /oauth2/token's password backends and
// brute-force limits.
type Authenticator interface {
	// AuthenticatePassword checks a login and password. Wrong credentials
	// (unknown login, wrong password, inactive account) are an error for
	// which provider.IsBadLogin holds; a rate limit is a *provider.Error
	// with status 429 and RetryAfter; a store or backend fault has status
	// 503. A backend identity with no local account has UserID 0.
	AuthenticatePassword(ctx context.Context, login, password string) (backends.Identity, error)
	// VerifyAccessToken checks an access token (JWT or opaque) of any
	// client; an invalid, expired or revoked one is invalid_token. The
	// answer names the client, scope, subject and session of the token.
	VerifyAccessToken(ctx context.Context, raw string) (*provider.Introspection, error)
	// HashSecret is the keyed hash a personal token is stored and looked
	// up under: the same secret always gives the same hash.
	HashSecret(secret string) string
}

// ScopeChecker says which part of a scope a user may hold
// (*provider.Provider).
type ScopeChecker interface {
	UserScope(ctx context.Context, userID int64, scope string) (string, error)
}

// Tokens issues, checks and ends the OAuth tokens of the user API's
// first-party client (SimpleJWT's views, logout everywhere), as
// /oauth2/token would. *provider.Provider implements it.
type Tokens interface {
	// EnsureFirstPartyClient creates the first-party client when it is
	// missing and leaves an existing one as it is.
	EnsureFirstPartyClient(ctx context.Context, id string) error
	// IssueUserTokens issues an access token, and a refresh token (a new
	// session) when the client may refresh, for a login already checked
	// with AuthenticatePassword. A client without the password grant is
	// unauthorized_client.
	IssueUserTokens(ctx context.Context, clientID string, id backends.Identity, userAgent string) (*provider.TokenResponse, error)
	// RefreshUserTokens rotates a refresh token of the client. A token that
	// is invalid, expired, revoked or rotated out is invalid_grant.
	RefreshUserTokens(ctx context.Context, clientID, refresh, userAgent string) (*provider.TokenResponse, error)
	// VerifyUserToken reports whether an access or refresh token of the
	// client is valid now: nil if so, invalid_token if not (another
	// client's token too).
	VerifyUserToken(ctx context.Context, clientID, raw string) error
	// RevokeRefreshToken ends the session of a live refresh token of the
	// client; one that is not live, or another client's, is invalid_token
	// and nothing is revoked.
	RevokeRefreshToken(ctx context.Context, clientID, raw string) error
	// RevokeSubjectAccessTokens revokes every access token issued to the
	// subject (a user ID) until now, those without a session included.
	RevokeSubjectAccessTokens(ctx context.Context, subject string) error
	// ForgetUser drops what is cached of a user after a change to the
	// account (flags, groups, deletion), so the next tokens see it.
	ForgetUser(userID int64)
}

// MailLimiter counts the requests for e-mails (rate_limit.mail).
// *provider.Provider implements it.
type MailLimiter interface {
	// CountMail counts one request for an e-mail to the address, whether or
	// not an account has it. Past the limit it is a *provider.Error with
	// status 429 and RetryAfter, and no e-mail should be sent.
	CountMail(ctx context.Context, recipient string) error
}

// Auditor records audit events (user changes, revoked sessions);
// *audit.Recorder implements it. Record never fails the request.
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, audit.Event) {}

// auditUser records an event about a user's account.
func (s *Service) auditUser(ctx context.Context, typ string, userID int64, detail map[string]string) {
	s.opts.Audit.Record(ctx, audit.Event{Type: typ, Subject: subjectOf(userID), Detail: detail})
}

// Registration modes (users.registration).
const (
	RegistrationOpen       = "open"
	RegistrationActivation = "activation"
	RegistrationClosed     = "closed"
)

// Options configures a Service.
type Options struct {
	Store    Store
	Sessions Sessions
	// Authenticator, Tokens and MailLimiter are the OAuth provider's.
	Authenticator Authenticator
	Tokens        Tokens
	// Scopes checks a personal access token's scope against what its
	// owner holds (the permission mapper); nil checks nothing.
	Scopes      ScopeChecker
	MailLimiter MailLimiter
	// HashPassword hashes a new password (argon2id).
	HashPassword func(string) (string, error)
	// LoginFields are users.login_fields: "username" and/or "email".
	LoginFields  []string
	Registration string
	// AllowMixedScripts accepts new usernames that mix scripts
	// (users.username_mixed_scripts: allow); by default they are refused.
	AllowMixedScripts bool
	// FirstPartyClient receives the tokens of /auth/jwt/* and /auth/token/login.
	FirstPartyClient               string
	RevokeSessionsOnPasswordChange bool
	BasicAuth                      bool
	Retype                         Retype
	// Passwords checks new passwords; nil means Django's default validators.
	Passwords PasswordValidator
	// Profile checks profile attributes; nil accepts any JSON object.
	Profile ProfileValidator
	// LoginTokenTTL and PersonalTokenTTL are the lifetimes of knox login
	// tokens and (the default and longest of) personal access tokens.
	LoginTokenTTL    time.Duration
	PersonalTokenTTL time.Duration
	// Mailer sends activation, reset and confirmation e-mails; nil sends
	// none. Links fills their links.
	Mailer Mailer
	Links  Links
	// UserTokens makes the links' tokens; nil uses a random key, so links
	// do not survive a restart.
	UserTokens UserTokens
	// SyncMail sends e-mails before the answer instead of in the
	// background (tests, and the CLI).
	SyncMail bool
	Now      func() time.Time
	Logger   *slog.Logger
	// Audit records audit events; nil records none.
	Audit Auditor
	// AdminKeys stores admin API keys (lk_ak_), which authorize /admin/
	// and nothing else; nil turns them off.
	AdminKeys storage.AdminKeys
	// Consents are the users' consents to clients (the consent page's
	// memory) and Clients names the clients they are for; with Consents
	// nil a user has none.
	Consents Consents
	Clients  ClientReader
}

// Retype are djoser's *_RETYPE settings.
type Retype struct {
	UserCreatePassword, SetPassword, SetUsername, PasswordResetConfirm, UsernameResetConfirm bool
}

// PasswordValidator checks a new password for a user and returns Django's
// messages, none when the password is acceptable.
type PasswordValidator interface {
	Validate(password string, u storage.User) []string
}

// ProfileValidator checks profile attributes and returns errors by
// attribute path ("" for the whole object).
type ProfileValidator interface {
	Validate(profile map[string]any) map[string][]string
}

// Service serves the user API.
type Service struct {
	opts Options
}

// New returns a Service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Audit == nil {
		opts.Audit = nopAuditor{}
	}
	if opts.Passwords == nil {
		opts.Passwords = passwordpolicy.ForUsers(passwordpolicy.New(passwordpolicy.Default()))
	}
	if len(opts.LoginFields) == 0 {
		opts.LoginFields = []string{"username", "email"}
	}
	if opts.Registration == "" {
		opts.Registration = RegistrationOpen
	}
	if opts.FirstPartyClient == "" {
		opts.FirstPartyClient = "latchkey-api"
	}
	if opts.LoginTokenTTL <= 0 {
		opts.LoginTokenTTL = 10 * time.Hour
	}
	if opts.Links.TokenTTL <= 0 {
		opts.Links.TokenTTL = 72 * time.Hour
	}
	if opts.UserTokens == nil {
		opts.UserTokens = ephemeralUserTokens(opts)
	}
	if opts.PersonalTokenTTL <= 0 {
		opts.PersonalTokenTTL = 90 * 24 * time.Hour
	}
	return &Service{opts: opts}
}

// Start creates the first-party client when it is missing.
func (s *Service) Start(ctx context.Context) error {
	return s.opts.Tokens.EnsureFirstPartyClient(ctx, s.opts.FirstPartyClient)
}

// BasicAuth reports whether Basic credentials are accepted.
func (s *Service) BasicAuth() bool { return s.opts.BasicAuth }

// Error is a DRF error answer: a status and {"detail": ..., "code": ...}.
type Error struct {
	Status int
	Detail string
	Code   string // SimpleJWT's "code", when it sends one
	// Challenge is sent as WWW-Authenticate on 401.
	Challenge string
	// RetryAfter, in seconds, is sent as Retry-After when not zero.
	RetryAfter int
	cause      error
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Detail) }

// Unwrap returns the cause, which is logged and never sent.
func (e *Error) Unwrap() error { return e.cause }

// Is matches errors of the same status and detail.
func (e *Error) Is(target error) bool {
	o, ok := target.(*Error)
	return ok && o.Status == e.Status && o.Detail == e.Detail
}

const challenge = `Bearer realm="api"`

// DRF's, SimpleJWT's, knox's and djoser's answers, word for word.
var (
	ErrNotAuthenticated = &Error{Status: http.StatusUnauthorized, Detail: "Authentication credentials were not provided.", Challenge: challenge}
	ErrTokenNotValid    = &Error{Status: http.StatusUnauthorized, Detail: "Given token not valid for any token type", Code: "token_not_valid", Challenge: challenge}
	ErrInvalidKnoxToken = &Error{Status: http.StatusUnauthorized, Detail: "Invalid token.", Challenge: `Token`}
	ErrBadBasic         = &Error{Status: http.StatusUnauthorized, Detail: "Invalid username/password.", Challenge: `Basic realm="api"`}
	ErrUserInactive     = &Error{Status: http.StatusUnauthorized, Detail: "User is inactive", Code: "user_inactive", Challenge: challenge}
	ErrNoActiveAccount  = &Error{Status: http.StatusUnauthorized, Detail: "No active account found with the given credentials", Code: "no_active_account", Challenge: challenge}
	ErrTokenInvalid     = &Error{Status: http.StatusUnauthorized, Detail: "Token is invalid or expired", Code: "token_not_valid", Challenge: challenge}
	ErrForbidden        = &Error{Status: http.StatusForbidden, Detail: "You do not have permission to perform this action."}
	ErrNotFound         = &Error{Status: http.StatusNotFound, Detail: "Not found."}
	ErrUnavailable      = &Error{Status: http.StatusServiceUnavailable, Detail: "Service temporarily unavailable, try again later."}
	ErrInvalidInput     = &Error{Status: http.StatusBadRequest, Detail: "The request holds text that is not valid (a NUL character or bytes that are not UTF-8)."}
)

func (e *Error) withCause(err error) *Error { c := *e; c.cause = err; return &c }

// FieldErrors is a 400 answer: messages by field, DRF style, with
// "non_field_errors" for the whole request.
type FieldErrors map[string][]string

func (f FieldErrors) Error() string { return fmt.Sprintf("invalid input: %d fields", len(f)) }

func (f FieldErrors) add(field, msg string) {
	f[field] = append(f[field], msg)
}

// NonField is DRF's key for errors of the whole request.
const NonField = "non_field_errors"

func fieldError(field, msg string) FieldErrors { return FieldErrors{field: {msg}} }

// storeErr classifies a store failure: not found is ErrNotFound, input the
// store refuses is ErrInvalidInput (400), anything else unavailable (503).
func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, storage.ErrInvalidInput):
		return ErrInvalidInput.withCause(fmt.Errorf("accounts: %s: %w", op, err))
	}
	return ErrUnavailable.withCause(fmt.Errorf("accounts: %s: %w", op, err))
}

// providerErr maps an error of the provider: bad credentials are given by
// the caller, rate limits and store faults keep their status.
func providerErr(err error, bad *Error) error {
	if err == nil {
		return nil
	}
	e := provider.AsError(err)
	switch {
	case provider.IsBadLogin(err), e.Code == "invalid_grant", e.Code == "invalid_token":
		return bad
	case e.Status == http.StatusTooManyRequests:
		detail := "Request was throttled."
		switch {
		case e.RetryAfter == 1:
			detail = "Request was throttled. Expected available in 1 second."
		case e.RetryAfter > 1:
			detail = fmt.Sprintf("Request was throttled. Expected available in %d seconds.", e.RetryAfter)
		}
		return &Error{Status: http.StatusTooManyRequests, Detail: detail, Code: "throttled", RetryAfter: max(e.RetryAfter, 1), cause: err}
	case e.Status == http.StatusServiceUnavailable:
		return ErrUnavailable.withCause(err)
	case e.Code == "unauthorized_client":
		// The first-party client is not registered for the grant: the
		// operator switched these logins off.
		return ErrForbidden
	}
	return &Error{Status: http.StatusInternalServerError, Detail: "A server error occurred.", cause: err}
}

func (s *Service) now() time.Time { return s.opts.Now() }

func (s *Service) loginField(f string) bool {
	for _, x := range s.opts.LoginFields {
		if x == f {
			return true
		}
	}
	return false
}
