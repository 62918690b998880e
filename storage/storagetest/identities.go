package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// IdentitiesAndUsers is what the identities suite needs: identities belong
// to users.
type IdentitiesAndUsers interface {
	storage.Identities
	CreateUser(ctx context.Context, u *storage.User) error
	DeleteUser(ctx context.Context, id int64) error
}

// RunIdentities runs the conformance suite of storage.Identities.
func RunIdentities(t *testing.T, open func(t *testing.T) IdentitiesAndUsers) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, IdentitiesAndUsers)
	}{
		{"CreateThenGet", testIdentityRoundTrip},
		{"OneLinkPerUpstreamSubjectAndPerUserAndBackend", testIdentityConflicts},
		{"ConcurrentLinksOfOneSubjectOneWins", testIdentityRace},
		{"ListTouchDelete", testIdentityListTouchDelete},
		{"DeletingTheUserDeletesItsIdentities", testIdentityUserGone},
		{"BadTextIsRefusedOrNotFound", testIdentityBadText},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var identityT0 = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

func identityUser(t *testing.T, s IdentitiesAndUsers, name string) int64 {
	t.Helper()
	u := &storage.User{Username: name, Email: name + "@example.com", IsActive: true, DateJoined: identityT0}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func testIdentityRoundTrip(t *testing.T, s IdentitiesAndUsers) {
	ctx := t.Context()
	uid := identityUser(t, s, "ida")
	if _, err := s.GetIdentity(ctx, "google", "g-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("nothing linked yet: %v, want ErrNotFound", err)
	}
	in := storage.LinkedIdentity{Backend: "google", Subject: "g-1", UserID: uid, Email: "ida@gmail.example", CreatedAt: identityT0, LastLoginAt: identityT0}
	if err := s.CreateIdentity(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetIdentity(ctx, "google", "g-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != uid || got.Email != in.Email || !got.CreatedAt.Equal(identityT0) || !got.LastLoginAt.Equal(identityT0) {
		t.Fatalf("got %+v, want %+v", got, in)
	}
	if _, err := s.GetIdentity(ctx, "gitlab", "g-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the same subject at another backend: %v, want ErrNotFound", err)
	}
}

func testIdentityConflicts(t *testing.T, s IdentitiesAndUsers) {
	ctx := t.Context()
	a, b := identityUser(t, s, "ana"), identityUser(t, s, "ben")
	if err := s.CreateIdentity(ctx, storage.LinkedIdentity{Backend: "google", Subject: "s1", UserID: a, CreatedAt: identityT0}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateIdentity(ctx, storage.LinkedIdentity{Backend: "google", Subject: "s1", UserID: b, CreatedAt: identityT0}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("a subject linked twice: %v, want ErrConflict", err)
	}
	if err := s.CreateIdentity(ctx, storage.LinkedIdentity{Backend: "google", Subject: "s2", UserID: a, CreatedAt: identityT0}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("a second identity of one backend for one user: %v, want ErrConflict", err)
	}
	if err := s.CreateIdentity(ctx, storage.LinkedIdentity{Backend: "gitlab", Subject: "s1", UserID: a, CreatedAt: identityT0}); err != nil {
		t.Fatalf("another backend for the same user: %v", err)
	}
	if got, err := s.GetIdentity(ctx, "google", "s1"); err != nil || got.UserID != a {
		t.Fatalf("the first link changed: %+v, %v", got, err)
	}
}

func testIdentityRace(t *testing.T, s IdentitiesAndUsers) {
	ctx := t.Context()
	const n = 8
	users := make([]int64, n)
	for i := range users {
		users[i] = identityUser(t, s, fmt.Sprintf("racer%d", i))
	}
	var wg sync.WaitGroup
	var won, lost atomic.Int32
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.CreateIdentity(ctx, storage.LinkedIdentity{Backend: "google", Subject: "contested", UserID: users[i], CreatedAt: identityT0})
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, storage.ErrConflict):
				lost.Add(1)
			default:
				t.Errorf("link %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 || lost.Load() != n-1 {
		t.Fatalf("%d links won and %d lost, want 1 and %d", won.Load(), lost.Load(), n-1)
	}
}

func testIdentityListTouchDelete(t *testing.T, s IdentitiesAndUsers) {
	ctx := t.Context()
	uid := identityUser(t, s, "lis")
	for _, b := range []string{"gitlab", "google"} {
		if err := s.CreateIdentity(ctx, storage.LinkedIdentity{Backend: b, Subject: b + "-sub", UserID: uid, CreatedAt: identityT0, LastLoginAt: identityT0}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListIdentities(ctx, uid)
	if err != nil || len(list) != 2 || list[0].Backend != "gitlab" || list[1].Backend != "google" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	later := identityT0.Add(time.Hour)
	if err := s.TouchIdentity(ctx, "google", "google-sub", "new@example.com", later); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetIdentity(ctx, "google", "google-sub"); got.Email != "new@example.com" || !got.LastLoginAt.Equal(later) {
		t.Fatalf("after touch: %+v", got)
	}
	if err := s.TouchIdentity(ctx, "google", "nobody", "x@example.com", later); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("touch of an unknown identity: %v, want ErrNotFound", err)
	}
	if err := s.DeleteIdentity(ctx, uid, "google"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIdentity(ctx, uid, "google"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a second delete: %v, want ErrNotFound", err)
	}
	if list, _ := s.ListIdentities(ctx, uid); len(list) != 1 || list[0].Backend != "gitlab" {
		t.Fatalf("after delete: %+v", list)
	}
	if list, err := s.ListIdentities(ctx, uid+1000); err != nil || len(list) != 0 {
		t.Fatalf("another user's list: %+v, %v", list, err)
	}
}

func testIdentityUserGone(t *testing.T, s IdentitiesAndUsers) {
	ctx := t.Context()
	uid := identityUser(t, s, "gone")
	if err := s.CreateIdentity(ctx, storage.LinkedIdentity{Backend: "google", Subject: "g-gone", UserID: uid, CreatedAt: identityT0}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetIdentity(ctx, "google", "g-gone"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the identity of a deleted user: %v, want ErrNotFound", err)
	}
}

func testIdentityBadText(t *testing.T, s IdentitiesAndUsers) {
	ctx := t.Context()
	uid := identityUser(t, s, "bad")
	if err := s.CreateIdentity(ctx, storage.LinkedIdentity{Backend: "google", Subject: "a\x00b", UserID: uid}); !errors.Is(err, storage.ErrInvalidInput) {
		t.Fatalf("a NUL in the subject: %v, want ErrInvalidInput", err)
	}
	if _, err := s.GetIdentity(ctx, "google", "\xff"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("lookup with invalid UTF-8: %v, want ErrNotFound", err)
	}
}
