// Package backends defines how latchkey authenticates credentials. Each
// capability is its own small interface; the provider finds out what a backend
// can do with a type assertion. Implementations live in subpackages
// (backends/local, ...) and are registered by type name in cmd/latchkey, the
// only place that imports them all.
package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/latchkey-auth/latchkey/storage"
)

// Identity is who a backend says the user is.
type Identity struct {
	Backend       string // the backend instance's ID
	Subject       string // stable within the backend
	UserID        int64  // the local account, when there is one
	Username      string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	Claims        map[string]any // raw upstream claims, if any
	// Profile are profile attributes the backend maps from upstream claims
	// (given to an account provisioned for the identity).
	Profile map[string]any
}

// PasswordChecker checks a login (username or e-mail) and password.
// A wrong login or password is (Identity{}, false, nil); an error means the
// backend itself is broken. Implementations take about the same time whether
// or not the user exists.
type PasswordChecker interface {
	CheckPassword(ctx context.Context, login, password string) (Identity, bool, error)
}

// PasswordHasher makes the stored form of a new password (the bootstrap
// admin's, or one set through the user API or the CLI) with the backend's
// configured parameters, in the form its CheckPassword verifies, so a new
// hash needs no upgrade at the next login. The server hashes with the first
// configured backend that implements it.
type PasswordHasher interface {
	HashPassword(ctx context.Context, password string) (string, error)
}

// Deps is what a backend may use from the server.
type Deps struct {
	Logger *slog.Logger
	Users  storage.Users
	// LoginFields are the user fields a login may match, in order:
	// "username", "email".
	LoginFields []string
}

// Config is what a backend instance's `config:` block decodes into.
type Config interface {
	Open(id string, deps Deps) (any, error)
}

// Registry maps a backend type name to a constructor of its empty Config.
// Fake backends are registered in tests only.
type Registry map[string]func() Config

// Spec names one configured backend instance.
type Spec struct {
	ID   string
	Type string
	// Decode decodes the instance's config block into the given value; nil
	// means the block was empty.
	Decode func(v any) error
}

// Backend is one opened backend instance.
type Backend struct {
	ID   string
	Type string
	Impl any
}

// ErrUnavailable is a backend that cannot answer now (its upstream is down
// or slow): not a refusal of the user, who may try again later.
var ErrUnavailable = errors.New("backends: the backend is unavailable")

// ErrUnknownType is returned by Open for a type the registry lacks.
var ErrUnknownType = errors.New("backends: unknown type")

// Validator is implemented by a Config that can check itself without
// opening anything, so `latchkey config check` and `serve` refuse a bad
// block before any store is touched.
type Validator interface {
	Validate() error
}

// Check decodes and validates one instance's config block without opening
// it: an unknown type, a key the type does not have, a value of the wrong
// type, or what the Config's Validate refuses.
func (r Registry) Check(spec Spec) error {
	_, err := r.decode(spec)
	return err
}

func (r Registry) decode(spec Spec) (Config, error) {
	newConfig, ok := r[spec.Type]
	if !ok {
		return nil, fmt.Errorf("backend %q: %w %q (known: %v)", spec.ID, ErrUnknownType, spec.Type, r.Types())
	}
	cfg := newConfig()
	if spec.Decode != nil {
		if err := spec.Decode(cfg); err != nil {
			return nil, fmt.Errorf("backend %q: config: %w", spec.ID, err)
		}
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("backend %q: config: %w", spec.ID, err)
		}
	}
	return cfg, nil
}

// Open opens one backend instance (after Check's decoding and validation).
func (r Registry) Open(spec Spec, deps Deps) (Backend, error) {
	cfg, err := r.decode(spec)
	if err != nil {
		return Backend{}, err
	}
	if deps.Logger != nil {
		deps.Logger = deps.Logger.With("backend", spec.ID)
	}
	impl, err := cfg.Open(spec.ID, deps)
	if err != nil {
		return Backend{}, fmt.Errorf("backend %q: open: %w", spec.ID, err)
	}
	return Backend{ID: spec.ID, Type: spec.Type, Impl: impl}, nil
}

// Types lists the registered type names, sorted.
func (r Registry) Types() []string {
	names := make([]string, 0, len(r))
	for name := range r {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// LinkPolicy says how identities of a backend that signs users in
// elsewhere (a social backend) become local accounts (package identities).
type LinkPolicy struct {
	// Provision creates an account for an identity that is not linked.
	Provision bool
	// LinkByVerifiedEmail links an identity to the account with the same
	// e-mail address when the upstream says the address is verified.
	LinkByVerifiedEmail bool
	// ManagedGroups are the local groups the backend's group rules give:
	// at each sign-in the user's membership of these follows the rules,
	// and other groups (set by admins) stay.
	ManagedGroups []string
}
