package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// ConsentsAndClients is what the consent suite needs: consents refer to
// clients.
type ConsentsAndClients interface {
	storage.Consents
	CreateClient(ctx context.Context, c storage.Client) error
	DeleteClient(ctx context.Context, id string) error
}

// RunConsents runs the conformance suite of storage.Consents.
func RunConsents(t *testing.T, open func(t *testing.T) ConsentsAndClients) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, ConsentsAndClients)
	}{
		{"GrantThenGet", testConsentRoundTrip},
		{"GrantsAddScopes", testConsentMerge},
		{"ConcurrentGrantsKeepEveryScope", testConsentRace},
		{"ListIsPerUserNewestFirst", testConsentList},
		{"RevokeForgets", testConsentRevoke},
		{"DeletingTheClientDeletesItsConsents", testConsentClientGone},
		{"BadTextIsRefusedOrNotFound", testConsentBadText},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var consentT0 = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func consentClient(t *testing.T, s ConsentsAndClients, id string) {
	t.Helper()
	if err := s.CreateClient(t.Context(), storage.Client{
		ID: id, Name: id, GrantTypes: []string{"authorization_code"}, TokenEndpointAuthMethod: "none",
		CreatedAt: consentT0, UpdatedAt: consentT0,
	}); err != nil {
		t.Fatal(err)
	}
}

func testConsentRoundTrip(t *testing.T, s ConsentsAndClients) {
	ctx := t.Context()
	consentClient(t, s, "app")
	if _, err := s.GetConsent(ctx, "7", "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no consent yet: got %v, want ErrNotFound", err)
	}
	got, err := s.GrantConsent(ctx, "7", "app", []string{"profile", "openid", "openid"}, consentT0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Scopes, []string{"openid", "profile"}) || got.Subject != "7" || got.ClientID != "app" {
		t.Fatalf("granted %+v", got)
	}
	read, err := s.GetConsent(ctx, "7", "app")
	if err != nil || !slices.Equal(read.Scopes, got.Scopes) || !read.CreatedAt.Equal(consentT0) || !read.UpdatedAt.Equal(consentT0) {
		t.Fatalf("read %+v, %v", read, err)
	}
}

func testConsentMerge(t *testing.T, s ConsentsAndClients) {
	ctx := t.Context()
	consentClient(t, s, "app")
	if _, err := s.GrantConsent(ctx, "7", "app", []string{"openid"}, consentT0); err != nil {
		t.Fatal(err)
	}
	later := consentT0.Add(time.Hour)
	got, err := s.GrantConsent(ctx, "7", "app", []string{"email"}, later)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Scopes, []string{"email", "openid"}) || !got.CreatedAt.Equal(consentT0) || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after a second grant: %+v", got)
	}
}

func testConsentRace(t *testing.T, s ConsentsAndClients) {
	ctx := t.Context()
	consentClient(t, s, "app")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := s.GrantConsent(ctx, "7", "app", []string{fmt.Sprintf("s%02d", i)}, consentT0); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.GetConsent(ctx, "7", "app")
	if err != nil || len(got.Scopes) != n {
		t.Fatalf("after %d concurrent grants: %+v, %v", n, got, err)
	}
}

func testConsentList(t *testing.T, s ConsentsAndClients) {
	ctx := t.Context()
	consentClient(t, s, "a")
	consentClient(t, s, "b")
	for i, c := range []string{"a", "b"} {
		if _, err := s.GrantConsent(ctx, "7", c, []string{"openid"}, consentT0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GrantConsent(ctx, "8", "a", []string{"openid"}, consentT0); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListConsents(ctx, "7")
	if err != nil || len(list) != 2 || list[0].ClientID != "b" || list[1].ClientID != "a" {
		t.Fatalf("user 7's consents: %+v, %v", list, err)
	}
	none, err := s.ListConsents(ctx, "9")
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("a user without consents: %#v, %v; want an empty list", none, err)
	}
}

func testConsentRevoke(t *testing.T, s ConsentsAndClients) {
	ctx := t.Context()
	consentClient(t, s, "app")
	if _, err := s.GrantConsent(ctx, "7", "app", []string{"openid"}, consentT0); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeConsent(ctx, "7", "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetConsent(ctx, "7", "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after revoking: %v", err)
	}
	if err := s.RevokeConsent(ctx, "7", "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("revoking twice: %v, want ErrNotFound", err)
	}
}

func testConsentClientGone(t *testing.T, s ConsentsAndClients) {
	ctx := t.Context()
	consentClient(t, s, "app")
	if _, err := s.GrantConsent(ctx, "7", "app", []string{"openid"}, consentT0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetConsent(ctx, "7", "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a deleted client's consent: %v", err)
	}
	if _, err := s.GrantConsent(ctx, "7", "gone", []string{"openid"}, consentT0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a consent for an unknown client: %v, want ErrNotFound", err)
	}
}

func testConsentBadText(t *testing.T, s ConsentsAndClients) {
	ctx := t.Context()
	consentClient(t, s, "app")
	for _, scopes := range [][]string{{"a\x00b"}, {"\xff"}, {"two words"}, {""}} {
		if _, err := s.GrantConsent(ctx, "7", "app", scopes, consentT0); !errors.Is(err, storage.ErrInvalidInput) {
			t.Errorf("granting %q: %v, want ErrInvalidInput", scopes, err)
		}
	}
	if _, err := s.GetConsent(ctx, "7", "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a refused grant wrote something: %v", err)
	}
	if _, err := s.GetConsent(ctx, "7\x00", "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a lookup with a NUL: %v, want ErrNotFound", err)
	}
	if err := s.RevokeConsent(ctx, "7", "\xff"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a revoke with bad text: %v, want ErrNotFound", err)
	}
}
