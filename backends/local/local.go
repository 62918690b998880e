// Package local is the "local" backend: passwords checked against the hashes
// in latchkey's own user table. New hashes are argon2id; hashes imported from
// Django are verified too and upgraded at the user's next successful login.
//
// cmd/latchkey registers it as
//
//	"local": func() backends.Config { return new(local.Config) }
package local

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

// Config is the `config:` block of a local backend.
type Config struct {
	// Argon2 are the parameters of new hashes. A stored argon2id hash with
	// other parameters is re-hashed at the next successful login.
	Argon2 Params `yaml:"argon2"`
}

var (
	_ backends.Config    = Config{}
	_ backends.Validator = Config{}
)

// Validate checks the argon2 parameters (with their defaults filled in).
func (c Config) Validate() error {
	return c.Argon2.withDefaults().Validate()
}

// Login fields a backends.Deps may name.
const (
	fieldUsername = "username"
	fieldEmail    = "email"
)

// Open validates the configuration and returns the backend, a
// backends.PasswordChecker and backends.PasswordHasher.
func (c Config) Open(id string, deps backends.Deps) (any, error) {
	if deps.Users == nil {
		return nil, errors.New("local: no user store")
	}
	params := c.Argon2.withDefaults()
	if err := params.Validate(); err != nil {
		return nil, err
	}
	fields := deps.LoginFields
	if len(fields) == 0 {
		fields = []string{fieldUsername, fieldEmail}
	}
	for _, f := range fields {
		if f != fieldUsername && f != fieldEmail {
			return nil, fmt.Errorf("local: unknown login field %q (want %q or %q)", f, fieldUsername, fieldEmail)
		}
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The dummy hash stands in for the accounts that have no hash to check,
	// so that a failed login costs one argon2 run whether or not the account
	// exists. Its password is random and thrown away: nothing matches it.
	dummy, err := HashPassword(rand.Text(), params)
	if err != nil {
		return nil, fmt.Errorf("local: dummy hash: %w", err)
	}
	return &backend{
		id:        id,
		users:     deps.Users,
		fields:    fields,
		params:    params,
		log:       log,
		dummyHash: dummy,
		verify:    VerifyPassword,
		gate:      make(chan struct{}, max(runtime.GOMAXPROCS(0), 1)),
	}, nil
}

// userStore is what the backend uses of storage.Users: it looks accounts up
// and rewrites their hash, and never creates or deletes them.
type userStore interface {
	UserByUsername(ctx context.Context, username string) (storage.User, error)
	UserByEmail(ctx context.Context, email string) (storage.User, error)
	UpdateUser(ctx context.Context, id int64, fn func(*storage.User) error) (storage.User, error)
}

type backend struct {
	id        string
	users     userStore
	fields    []string
	params    Params
	log       *slog.Logger
	dummyHash string
	// verify is VerifyPassword; tests wrap it to see which hash each login
	// path checks.
	verify func(encoded, password string, p Params) (ok, needsRehash bool, err error)
	// gate lets as many hashes run at once as there are Ps; the others wait
	// their turn in arrival order. An argon2id hash holds MemoryKiB (19 MiB
	// by default) while it runs: a flood of 64 logins hashing at once held
	// 64 of them (a peak RSS of 263 MiB) and thrashed the CPU caches, for no
	// more hashes per second than two at a time give.
	gate chan struct{}
}

// hashing runs fn, a password hash or verification, inside the gate; a
// caller that gives up while waiting gets ctx's error.
func (b *backend) hashing(ctx context.Context, fn func()) error {
	select {
	case b.gate <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("local: waiting to hash: %w", ctx.Err())
	}
	defer func() { <-b.gate }()
	fn()
	return nil
}

var (
	_ backends.PasswordChecker  = (*backend)(nil)
	_ backends.PasswordHasher   = (*backend)(nil)
	_ backends.PasswordVerifier = (*backend)(nil)
)

// HashPassword implements backends.PasswordHasher: argon2id with the
// configured parameters.
func (b *backend) HashPassword(ctx context.Context, password string) (encoded string, err error) {
	if gerr := b.hashing(ctx, func() { encoded, err = HashPassword(password, b.params) }); gerr != nil {
		return "", gerr
	}
	return encoded, err
}

// CheckPassword implements backends.PasswordChecker.
func (b *backend) CheckPassword(ctx context.Context, login, password string) (backends.Identity, bool, error) {
	id, res, err := b.VerifyPassword(ctx, login, password)
	return id, res == backends.Accepted, err
}

// VerifyPassword implements backends.PasswordVerifier: an account that
// exists (active or not) refuses as WrongPassword, so a chain of backends
// stops there; a login no account has is UnknownUser. Both cost the same
// argon2id verification.
func (b *backend) VerifyPassword(ctx context.Context, login, password string) (backends.Identity, backends.Result, error) {
	// Refused before any lookup, so these take the same (no) time for every
	// login and say nothing about which accounts exist.
	if login == "" || password == "" || len(password) > MaxPasswordLength {
		return backends.Identity{}, backends.UnknownUser, nil
	}
	u, found, err := b.lookup(ctx, login)
	if err != nil {
		return backends.Identity{}, backends.UnknownUser, err
	}
	refused := backends.UnknownUser
	if found {
		refused = backends.WrongPassword
	}
	// Unknown, inactive and password-less accounts all check the dummy hash:
	// the same work as a wrong password for a real account.
	usable := found && u.IsActive && hasPassword(u.PasswordHash)
	encoded := b.dummyHash
	if usable {
		encoded = u.PasswordHash
	}
	var ok, needsRehash bool
	if gerr := b.hashing(ctx, func() { ok, needsRehash, err = b.verify(encoded, password, b.params) }); gerr != nil {
		return backends.Identity{}, backends.UnknownUser, gerr
	}
	if err != nil {
		if !usable {
			return backends.Identity{}, backends.UnknownUser, fmt.Errorf("local: check dummy hash: %w", err)
		}
		// One account's unreadable hash (an import gone wrong, a hasher we
		// do not know) is not a broken backend: refuse that account and tell
		// the operator which one, without the hash.
		b.log.WarnContext(ctx, "local: stored password hash unusable, login refused", "user_id", u.ID, "error", err)
		return backends.Identity{}, backends.WrongPassword, nil
	}
	if !ok || !usable {
		return backends.Identity{}, refused, nil
	}
	if needsRehash {
		b.rehash(ctx, u.ID, u.PasswordHash, password)
	}
	return identity(b.id, u), backends.Accepted, nil
}

// ResolveLogin names the account a login signs in to (its user ID), for
// the rate limits' account counter (throttle.LoginResolver): a username and
// the account's e-mail address resolve to the same key. It makes the same
// lookups as CheckPassword, whether or not the account exists.
func (b *backend) ResolveLogin(ctx context.Context, login string) (string, bool, error) {
	if login == "" {
		return "", false, nil
	}
	u, found, err := b.lookup(ctx, login)
	if err != nil || !found {
		return "", false, err
	}
	return strconv.FormatInt(u.ID, 10), true, nil
}

// lookup finds the account a login names, trying the configured fields in
// order; the first match wins.
func (b *backend) lookup(ctx context.Context, login string) (storage.User, bool, error) {
	for _, f := range b.fields {
		var u storage.User
		var err error
		switch f {
		case fieldUsername:
			u, err = b.users.UserByUsername(ctx, login)
			// Usernames are stored NFKC-normalised (Django's
			// normalize_username): "ａdmin" typed is "admin". The login as
			// typed is tried first, so a username stored before
			// normalisation still signs in.
			if nfkc := norm.NFKC.String(login); errors.Is(err, storage.ErrNotFound) && nfkc != login {
				u, err = b.users.UserByUsername(ctx, nfkc)
			}
		case fieldEmail:
			// A login without '@' cannot be an address; skip the query.
			if !strings.Contains(login, "@") {
				continue
			}
			u, err = b.users.UserByEmail(ctx, login)
		}
		switch {
		case err == nil:
			return u, true, nil
		case !errors.Is(err, storage.ErrNotFound):
			return storage.User{}, false, fmt.Errorf("local: look up user by %s: %w", f, err)
		}
	}
	return storage.User{}, false, nil
}

// hasPassword reports whether a stored hash can be checked at all. Django
// marks an unusable password with a leading '!'; empty means none was set.
func hasPassword(encoded string) bool {
	return encoded != "" && !strings.HasPrefix(encoded, "!")
}

// errHashChanged aborts a rehash when the stored hash is no longer the one
// that was checked.
var errHashChanged = errors.New("local: password hash changed meanwhile")

// rehash stores a hash of password with the current parameters. It runs after
// the password was verified, so a failure only means the upgrade waits for
// the next login: it is logged and the login goes on. Neither password nor
// hash is ever logged.
func (b *backend) rehash(ctx context.Context, userID int64, old, password string) {
	fresh, err := b.HashPassword(ctx, password)
	if err != nil {
		b.log.WarnContext(ctx, "local: password rehash failed", "user_id", userID, "error", err)
		return
	}
	_, err = b.users.UpdateUser(ctx, userID, func(u *storage.User) error {
		// A password set since we read the old hash wins over our upgrade.
		if u.PasswordHash != old {
			return errHashChanged
		}
		u.PasswordHash = fresh
		return nil
	})
	switch {
	case err == nil:
		b.log.InfoContext(ctx, "local: password rehashed with current parameters", "user_id", userID)
	case errors.Is(err, errHashChanged), errors.Is(err, storage.ErrNotFound):
		b.log.DebugContext(ctx, "local: password rehash skipped", "user_id", userID, "error", err)
	default:
		b.log.WarnContext(ctx, "local: password rehash failed", "user_id", userID, "error", err)
	}
}

func identity(backendID string, u storage.User) backends.Identity {
	return backends.Identity{
		Backend:       backendID,
		Subject:       strconv.FormatInt(u.ID, 10),
		UserID:        u.ID,
		Username:      u.Username,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          strings.TrimSpace(u.FirstName + " " + u.LastName),
	}
}
