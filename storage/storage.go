// Package storage holds latchkey's record types and the interfaces its stores
// implement. Implementations live in subpackages: sqlstore (bun on SQLite and
// Postgres) and redisstore (tokens, codes, login sessions and attempts on
// Redis). storagetest is the conformance suite every implementation runs.
//
// Rules every implementation follows:
//   - a missing record is ErrNotFound, never a zero value with a nil error;
//   - a unique-key clash is ErrConflict;
//   - single-use values are consumed in one atomic step;
//   - read-modify-write goes through an updater function run in a transaction;
//   - tokens are stored as hashes, never in the clear (the caller hashes);
//   - time is passed in by the caller, never read from the clock;
//   - text is valid UTF-8 without NUL bytes (ValidText). A write with any
//     other string is ErrInvalidInput and changes nothing. A lookup by such
//     a key finds nothing, since nothing stored has one: ErrNotFound where
//     a missing record is an error, an empty list, a zero state or "not
//     revoked" where it is not. A search filter with one
//     (UserQuery.Search) is ErrInvalidInput. Neither is ever ErrUnavailable;
//   - a failure of the store itself (its driver, the network) is
//     ErrUnavailable, and the driver's error stays in the chain for logs.
package storage

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound is returned when a record does not exist (or has expired).
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict is returned when a record with the same unique key exists.
	ErrConflict = errors.New("storage: already exists")
	// ErrReused is returned by Tokens.Rotate when the refresh token was already
	// rotated out. The implementation has revoked the token's family by then.
	ErrReused = errors.New("storage: refresh token reused")
	// ErrUnavailable wraps a failure of the store itself (connection refused
	// or reset, timeout, pool exhausted, a Redis that is loading or read-only):
	// the same request may succeed later, so callers answer 503. Each store
	// translates its own driver's errors into it; callers never look at
	// driver errors.
	ErrUnavailable = errors.New("storage: unavailable")
	// ErrInvalidInput wraps a value the store refuses as such (a NUL byte, a
	// string that is not UTF-8, a value too long for the database): the
	// request is wrong and callers answer 4xx. Nothing was changed.
	ErrInvalidInput = errors.New("storage: invalid input")
)

// User is an account in latchkey's own database.
type User struct {
	ID                int64
	Username          string
	Email             string // may be empty
	PasswordHash      string // PHC or Django format; empty means no usable password
	FirstName         string
	LastName          string
	IsActive          bool
	IsStaff           bool
	IsSuperuser       bool
	EmailVerified     bool
	DateJoined        time.Time
	LastLogin         time.Time // zero: never
	PasswordChangedAt time.Time
	Profile           map[string]any
	// Permissions are the user's own permissions (Django's
	// user_permissions), besides those of their groups; sorted, unique.
	Permissions []string
}

// UserQuery selects a page of users.
type UserQuery struct {
	// Search is a case-insensitive substring of username, email, first or
	// last name; one that is not valid text is ErrInvalidInput.
	Search string
	Offset int
	Limit  int // 0 means no limit
}

// Users stores accounts. Username and e-mail are unique, compared
// case-insensitively; an empty e-mail is not unique.
type Users interface {
	// CreateUser stores u and sets u.ID.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id int64) (User, error)
	UserByUsername(ctx context.Context, username string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUser loads the user, calls fn and saves the result in one
	// transaction. An error from fn aborts and is returned as is.
	UpdateUser(ctx context.Context, id int64, fn func(*User) error) (User, error)
	DeleteUser(ctx context.Context, id int64) error
	// ListUsers returns one page ordered by ID and the total count of matches.
	ListUsers(ctx context.Context, q UserQuery) ([]User, int, error)
	CountUsers(ctx context.Context) (int, error)
}

// Group is a named set of permissions (Django's auth.Group).
type Group struct {
	Name        string
	Permissions []string // sorted, unique
	CreatedAt   time.Time
}

// Groups stores groups, their permissions and their members.
type Groups interface {
	CreateGroup(ctx context.Context, g Group) error
	GetGroup(ctx context.Context, name string) (Group, error)
	ListGroups(ctx context.Context) ([]Group, error)
	// UpdateGroup changes a group's permissions (the name is its key and stays).
	UpdateGroup(ctx context.Context, name string, fn func(*Group) error) (Group, error)
	DeleteGroup(ctx context.Context, name string) error
	AddMember(ctx context.Context, group string, userID int64) error
	RemoveMember(ctx context.Context, group string, userID int64) error
	// SetUserGroups replaces a user's groups; an unknown group is ErrNotFound
	// and nothing changes.
	SetUserGroups(ctx context.Context, userID int64, groups []string) error
	// UserGroups returns the user's groups with their permissions, by name.
	UserGroups(ctx context.Context, userID int64) ([]Group, error)
	Members(ctx context.Context, group string) ([]int64, error)
}

// Client is an OAuth 2.0 client (RFC 7591 metadata).
type Client struct {
	ID                      string
	SecretHash              string // keyed hash of the secret; empty for public clients
	Name                    string
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	Scope                   string        // space-separated scopes the client may get
	TokenEndpointAuthMethod string        // client_secret_basic, client_secret_post or none
	AccessTokenFormat       string        // jwt or opaque
	AccessTokenTTL          time.Duration // 0: server default
	RefreshTokenTTL         time.Duration // 0: server default
	// RefreshReuseGrace overrides tokens.refresh_reuse_grace for this
	// client (see Tokens.Rotate); nil: the server's.
	RefreshReuseGrace *time.Duration
	// SkipConsent marks a first-party client: the hosted consent page is
	// never shown for it (the bootstrap demo client has it).
	SkipConsent bool
	// Registered marks a client that registered itself (RFC 7591 dynamic
	// client registration): third-party, never first-party.
	Registered bool
	// RegistrationTokenHash is the keyed hash of a registered client's
	// registration access token (RFC 7592); empty for other clients.
	RegistrationTokenHash string
	// LastUsedAt is when a token was last issued to a registered client
	// (recorded at most about hourly, see Clients.TouchClient); zero when
	// never.
	LastUsedAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Clients stores OAuth 2.0 clients.
type Clients interface {
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error) // ordered by ID
	UpdateClient(ctx context.Context, id string, fn func(*Client) error) (Client, error)
	DeleteClient(ctx context.Context, id string) error
	// TouchClient records that the client was used at at: LastUsedAt is
	// set to at unless it is already later. Touching a missing client is
	// not an error.
	TouchClient(ctx context.Context, id string, at time.Time) error
	// DeleteUnusedRegisteredClients deletes the registered clients last
	// used (or, never used, created) before before, and returns their IDs.
	DeleteUnusedRegisteredClients(ctx context.Context, before time.Time) ([]string, error)
}

// SigningKey is a key that signs or signed tokens.
type SigningKey struct {
	ID         string // kid: the RFC 7638 thumbprint
	Algorithm  string // ES256, RS256 or EdDSA
	PrivateKey []byte // sealed by the caller; opaque to storage
	PublicKey  []byte // public JWK, JSON
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while the key signs
	ExpiresAt  time.Time // zero while it signs; after it the key may be deleted
}

// Keys stores signing keys.
type Keys interface {
	// ListKeys returns every stored key, oldest first.
	ListKeys(ctx context.Context) ([]SigningKey, error)
	// RotateKey stores next as the signing key and retires every key that
	// signs now (RetiredAt = now, ExpiresAt = keepUntil), in one transaction.
	// When onlyIfOlderThan is not zero, it rotates only if no signing key was
	// created after it, and reports false otherwise (another instance won).
	RotateKey(ctx context.Context, next SigningKey, now, keepUntil, onlyIfOlderThan time.Time) (bool, error)
	// DeleteExpiredKeys removes retired keys whose ExpiresAt has passed.
	DeleteExpiredKeys(ctx context.Context, now time.Time) (int, error)
}

// Family is one login: every refresh token rotated from the first one, and
// every access token issued with them, share it. It is also a "session".
type Family struct {
	ID       string
	ClientID string
	Subject  string // user ID; empty for client-only grants
	Scope    string
	// Resource is the resource indicator the session was granted for (RFC
	// 8707): the aud of its access tokens; empty for the default audience.
	Resource   string
	AuthTime   time.Time
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // the absolute cap; no token of the family outlives it
	RevokedAt  time.Time // zero while active
	UserAgent  string
	IP         string
}

// RefreshToken is the live refresh token of a family. A family has one at a
// time: a rotation replaces it and adds one to Generation, so a token of an
// older generation is one that was rotated out.
type RefreshToken struct {
	FamilyID   string
	Generation int64
	Hash       string // keyed hash of the whole token
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// TokenRef is a presented refresh token: the family and generation it names
// and its keyed hash. The caller must have authenticated FamilyID and
// Generation (latchkey MACs them into the token) before it calls the store,
// because a reference to an older generation revokes the family.
type TokenRef struct {
	FamilyID   string
	Generation int64
	Hash       string
}

// Rotation is the time of a refresh-token rotation and its reuse grace.
type Rotation struct {
	// Now is the time of the rotation: expiries are checked against it and
	// it becomes the family's LastUsedAt.
	Now time.Time
	// Clock, when set, gives the commit time the rotation records: the
	// store reads it just before its write (after a queue or a lock it
	// waited for), so a request that arrived while this one waited counts
	// as in flight. Nil, or a time before Now: Now is the commit time.
	Clock func() time.Time
	// Arrived is when the request arrived; zero means Now. A request that
	// arrived before the commit of the rotation that spent its token lost a
	// race it could not see.
	Arrived time.Time
	// Grace is how long after a rotation the same client may present the
	// immediately previous token again (0: never, RFC 9700's strict reuse
	// detection).
	Grace time.Duration
}

// Commit returns the commit time to record: Clock's time, but not before
// Now.
func (r Rotation) Commit() time.Time {
	if r.Clock != nil {
		if t := r.Clock(); t.After(r.Now) {
			return t
		}
	}
	return r.Now
}

// Arrival returns Arrived, or Now when Arrived is zero.
func (r Rotation) Arrival() time.Time {
	if r.Arrived.IsZero() {
		return r.Now
	}
	return r.Arrived
}

// AccessToken is an opaque (reference) access token, by its keyed hash.
type AccessToken struct {
	Hash      string
	ID        string // jti
	FamilyID  string // empty when no refresh token was issued with it
	ClientID  string
	Subject   string
	Scope     string
	Claims    map[string]any // extra claims reported by introspection
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// RevocationCheck names what may have revoked an access token.
type RevocationCheck struct {
	JTI      string // the token's ID; empty: not checked
	FamilyID string // the token's family; empty: not checked
	// Subject and IssuedAt are checked against the subject's mark
	// (Tokens.RevokeSubjectTokensBefore) when both are set.
	Subject  string
	IssuedAt time.Time
}

// Tokens stores refresh-token families, opaque access tokens and revocations.
type Tokens interface {
	// CreateFamily stores a new family with its first refresh token
	// (first.FamilyID is ignored; first.Generation is kept, normally 0).
	CreateFamily(ctx context.Context, f Family, first RefreshToken) error
	// Rotate replaces the family's live refresh token, named by ref, with
	// next, atomically: of many concurrent calls with one ref exactly one
	// succeeds. The new token's generation is ref.Generation+1 (the caller
	// builds the token with it; next.FamilyID and next.Generation are
	// ignored) and its ExpiresAt is capped at the family's. The rotation
	// records r.Commit() as its commit time and the presented token's hash as the
	// previous token's. It returns the family with LastUsedAt = r.Now.
	//   - ref names the immediately previous generation with the previous
	//     token's hash, by the family's client (clientID empty: any), and
	//     r.Arrived is before the last rotation's commit time plus r.Grace
	//     (r.Grace > 0): a repeat within the reuse grace. Nothing changes;
	//     the family is returned as for a rotation, and the caller answers
	//     with the same successor token (it must be able to make it again);
	//   - r.Grace is 0 and r.Arrived is before the last rotation's commit
	//     time (stores keep microseconds: the same microsecond is not
	//     before): the request was in flight when another one won the race.
	//     ErrNotFound, and the family stays alive;
	//   - otherwise ref.Generation older than the family's: the token was
	//     rotated out, so the family is revoked (if it was not) and the error
	//     is ErrReused, whichever client presents it, unless the family is
	//     past its cap;
	//   - unknown family, revoked or expired family, expired token, a hash
	//     that is not the live token's, a generation from the future:
	//     ErrNotFound;
	//   - clientID not empty and the family belongs to another client: the
	//     token is left as it is and the error is ErrNotFound.
	Rotate(ctx context.Context, ref TokenRef, clientID string, next RefreshToken, r Rotation) (Family, error)
	// RefreshToken looks up a live refresh token (the family's current one,
	// not expired, family active) and its family.
	RefreshToken(ctx context.Context, ref TokenRef, now time.Time) (RefreshToken, Family, error)
	GetFamily(ctx context.Context, id string) (Family, error)
	// ListFamilies returns the subject's active families (not revoked, not
	// past the cap, live token not expired), newest first.
	ListFamilies(ctx context.Context, subject string, now time.Time) ([]Family, error)
	// RevokeFamily revokes a family and so every token issued in it.
	// Revoking a revoked family is not an error.
	RevokeFamily(ctx context.Context, id string, now time.Time) error
	// RevokeSubject revokes every active family of a subject and returns how many.
	RevokeSubject(ctx context.Context, subject string, now time.Time) (int, error)

	CreateAccessToken(ctx context.Context, t AccessToken) error
	// AccessToken looks up an opaque access token that has not expired.
	AccessToken(ctx context.Context, hash string, now time.Time) (AccessToken, error)
	// RevokeAccessToken denies the token ID (jti) until the given time.
	RevokeAccessToken(ctx context.Context, jti string, until time.Time) error
	// RevokeSubjectTokensBefore revokes every access token of the subject
	// issued before the given time (IssuedAt < before). A later call keeps
	// the later before and the later keepUntil. The mark may be forgotten
	// from keepUntil on: the caller passes before plus the longest
	// access-token lifetime, when every token it revokes has expired.
	RevokeSubjectTokensBefore(ctx context.Context, subject string, before, keepUntil time.Time) error
	// Revoked reports, in one query (one round trip), whether any part of
	// c revokes the token: the jti revoked, the family revoked, or a mark
	// of the subject's (RevokeSubjectTokensBefore) still kept at now that
	// is later than c.IssuedAt. Empty parts are not checked.
	Revoked(ctx context.Context, c RevocationCheck, now time.Time) (bool, error)

	// Purge deletes what has expired: families past their cap (with their
	// tokens), opaque access tokens, and revocations and subject marks past
	// their time.
	Purge(ctx context.Context, now time.Time) (int, error)
}

// Store is everything the durable store holds.
type Store interface {
	Users
	Groups
	Clients
	Keys
	Tokens
	PersonalTokens
	AuditEvents
	AdminKeys
	Ping(ctx context.Context) error
	Close() error
}
