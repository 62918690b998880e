package local

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/latchkey-auth/latchkey/storage"
)

// fakeUsers is a map-backed storage.Users with just what the backend calls.
// The embedded interface is nil, so a call to anything else panics and shows
// the backend reaching for more than it should.
type fakeUsers struct {
	storage.Users

	mu     sync.Mutex
	byID   map[int64]storage.User
	nextID int64

	// lookupErr, when set, is returned by both lookups.
	lookupErr error
	// hang, when set, makes both lookups wait for their context to end, as
	// a store that accepted the query and never answers.
	hang bool
	// updateErr, when set, is returned by UpdateUser without calling fn.
	updateErr error
	// beforeUpdate, when set, changes the stored user before fn sees it, as
	// a concurrent writer would.
	beforeUpdate func(*storage.User)

	byUsernameCalls, byEmailCalls, updateCalls int
}

func newFakeUsers() *fakeUsers {
	return &fakeUsers{byID: make(map[int64]storage.User)}
}

func (f *fakeUsers) add(u storage.User) storage.User {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	u.ID = f.nextID
	f.byID[u.ID] = u
	return u
}

func (f *fakeUsers) get(id int64) storage.User {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byID[id]
}

func (f *fakeUsers) counts() (byUsername, byEmail, updates int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byUsernameCalls, f.byEmailCalls, f.updateCalls
}

// find matches case-insensitively, as storage.Users promises.
func (f *fakeUsers) find(match func(storage.User) bool) (storage.User, error) {
	if f.lookupErr != nil {
		return storage.User{}, f.lookupErr
	}
	for _, u := range f.byID {
		if match(u) {
			return u, nil
		}
	}
	return storage.User{}, storage.ErrNotFound
}

func (f *fakeUsers) UserByUsername(ctx context.Context, username string) (storage.User, error) {
	if f.hang {
		<-ctx.Done()
		return storage.User{}, fmt.Errorf("fake store: %w: %w", storage.ErrUnavailable, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byUsernameCalls++
	return f.find(func(u storage.User) bool { return strings.EqualFold(u.Username, username) })
}

func (f *fakeUsers) UserByEmail(ctx context.Context, email string) (storage.User, error) {
	if f.hang {
		<-ctx.Done()
		return storage.User{}, fmt.Errorf("fake store: %w: %w", storage.ErrUnavailable, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byEmailCalls++
	return f.find(func(u storage.User) bool { return u.Email != "" && strings.EqualFold(u.Email, email) })
}

func (f *fakeUsers) UpdateUser(_ context.Context, id int64, fn func(*storage.User) error) (storage.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updateCalls++
	if f.updateErr != nil {
		return storage.User{}, f.updateErr
	}
	u, ok := f.byID[id]
	if !ok {
		return storage.User{}, storage.ErrNotFound
	}
	if f.beforeUpdate != nil {
		f.beforeUpdate(&u)
		f.byID[id] = u
	}
	if err := fn(&u); err != nil {
		return storage.User{}, err
	}
	f.byID[id] = u
	return u, nil
}
