package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// RunClients runs the storage.Clients conformance suite.
func RunClients(t *testing.T, open func(t *testing.T) storage.Clients) {
	runAll(t, open, []subtest[storage.Clients]{
		{"create then get returns every field", testClientRoundTrip},
		{"nil and empty lists come back as they went in", testClientNilLists},
		{"a duplicate client conflicts", testClientDuplicate},
		{"list clients is ordered by ID", testClientList},
		{"update saves the changes and keeps the ID", testClientUpdate},
		{"skip_consent round-trips true and false and an update flips it", testClientSkipConsent},
		{"an updater error aborts without writing", testClientUpdateAborts},
		{"every call on a missing client reports not found", testClientMissing},
		{"delete removes the client", testClientDelete},
		{"text with a NUL byte or not UTF-8 is refused and found nowhere", testClientInvalidText},
		{"a registered client keeps its mark, token hash and last use", testClientRegisteredRoundTrip},
		{"touch moves last use forward only; a missing client is no error", testClientTouch},
		{"unused registered clients are deleted, used and admin-made ones stay", testClientDeleteUnused},
	})
}

func sampleRegisteredClient(id string) storage.Client {
	c := sampleClient(id)
	c.Registered = true
	c.RegistrationTokenHash = "rat-hash-" + id
	c.SecretHash = ""
	c.TokenEndpointAuthMethod = "none"
	return c
}

func testClientRegisteredRoundTrip(t *testing.T, s storage.Clients) {
	c := sampleRegisteredClient("dyn")
	c.LastUsedAt = base().Add(2 * time.Hour)
	createClient(t, s, c)
	got, err := s.GetClient(t.Context(), "dyn")
	must(t, err)
	equal(t, "GetClient", got, c)
	got, err = s.UpdateClient(t.Context(), "dyn", func(c *storage.Client) error {
		c.RegistrationTokenHash = "rotated"
		return nil
	})
	must(t, err)
	c.RegistrationTokenHash = "rotated"
	equal(t, "UpdateClient", got, c)
}

func testClientTouch(t *testing.T, s storage.Clients) {
	ctx := t.Context()
	createClient(t, s, sampleRegisteredClient("dyn"))
	later := base().Add(time.Hour)
	must(t, s.TouchClient(ctx, "dyn", later))
	got, err := s.GetClient(ctx, "dyn")
	must(t, err)
	equal(t, "LastUsedAt after touch", got.LastUsedAt, later)
	must(t, s.TouchClient(ctx, "dyn", base()))
	got, err = s.GetClient(ctx, "dyn")
	must(t, err)
	equal(t, "LastUsedAt after an earlier touch", got.LastUsedAt, later)
	must(t, s.TouchClient(ctx, "ghost", later))
	must(t, s.TouchClient(ctx, invalidTexts[0], later))
}

func testClientDeleteUnused(t *testing.T, s storage.Clients) {
	ctx := t.Context()
	old := sampleRegisteredClient("old") // created at base, never used
	used := sampleRegisteredClient("used")
	used.LastUsedAt = base().Add(48 * time.Hour)
	stale := sampleRegisteredClient("stale")
	stale.LastUsedAt = base().Add(time.Hour)
	admin := sampleClient("admin") // not registered, never used
	for _, c := range []storage.Client{old, used, stale, admin} {
		createClient(t, s, c)
	}
	ids, err := s.DeleteUnusedRegisteredClients(ctx, base().Add(24*time.Hour))
	must(t, err)
	slices.Sort(ids)
	equal(t, "deleted", ids, []string{"old", "stale"})
	list, err := s.ListClients(ctx)
	must(t, err)
	equal(t, "left", list, []storage.Client{admin, used})
	ids, err = s.DeleteUnusedRegisteredClients(ctx, base().Add(24*time.Hour))
	must(t, err)
	equal(t, "deleted again", len(ids), 0)
}

func testClientInvalidText(t *testing.T, s storage.Clients) {
	ctx := t.Context()
	c := sampleClient("web")
	createClient(t, s, c)
	for _, bad := range invalidTexts {
		what := func(call string) string { return fmt.Sprintf("%s with %q", call, bad) }
		_, err := s.GetClient(ctx, bad)
		wantNotFound(t, what("GetClient"), err)
		_, err = s.UpdateClient(ctx, bad, func(*storage.Client) error { return nil })
		wantNotFound(t, what("UpdateClient"), err)
		wantNotFound(t, what("DeleteClient"), s.DeleteClient(ctx, bad))

		for _, change := range []func(*storage.Client){
			func(c *storage.Client) { c.Name = bad },
			func(c *storage.Client) { c.Scope = bad },
			func(c *storage.Client) { c.RedirectURIs = []string{"https://app.example/cb", bad} },
		} {
			fresh := sampleClient("cli")
			change(&fresh)
			wantInvalid(t, what("CreateClient"), s.CreateClient(ctx, fresh))
			_, err := s.UpdateClient(ctx, "web", func(c *storage.Client) error { change(c); return nil })
			wantInvalid(t, what("UpdateClient"), err)
		}
		wantInvalid(t, what("CreateClient"), s.CreateClient(ctx, sampleClient(bad)))
	}
	list, err := s.ListClients(ctx)
	must(t, err)
	equal(t, "ListClients", list, []storage.Client{c})
}

func sampleClient(id string) storage.Client {
	return storage.Client{
		ID:                      id,
		SecretHash:              "hmac-sha256:" + id,
		Name:                    "Client " + id,
		RedirectURIs:            []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs:  []string{"https://app.example/bye"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scope:                   "openid profile email",
		TokenEndpointAuthMethod: "client_secret_basic",
		AccessTokenFormat:       "opaque",
		AccessTokenTTL:          5*time.Minute + 1500*time.Millisecond,
		RefreshTokenTTL:         30 * 24 * time.Hour,
		CreatedAt:               base(),
		UpdatedAt:               base().Add(time.Second),
	}
}

func createClient(t *testing.T, s storage.Clients, c storage.Client) {
	t.Helper()
	must(t, s.CreateClient(t.Context(), c))
}

func testClientRoundTrip(t *testing.T, s storage.Clients) {
	c := sampleClient("web")
	createClient(t, s, c)
	got, err := s.GetClient(t.Context(), "web")
	must(t, err)
	equal(t, "GetClient", got, c)
}

func testClientNilLists(t *testing.T, s storage.Clients) {
	c := sampleClient("cli")
	c.SecretHash = ""
	c.TokenEndpointAuthMethod = "none"
	c.RedirectURIs = nil
	c.PostLogoutRedirectURIs = []string{}
	c.GrantTypes = nil
	c.ResponseTypes = []string{}
	c.AccessTokenTTL, c.RefreshTokenTTL = 0, 0
	createClient(t, s, c)
	got, err := s.GetClient(t.Context(), "cli")
	must(t, err)
	if got.RedirectURIs != nil || got.GrantTypes != nil {
		t.Errorf("nil lists came back as %#v and %#v", got.RedirectURIs, got.GrantTypes)
	}
	if got.PostLogoutRedirectURIs == nil || got.ResponseTypes == nil {
		t.Errorf("empty lists came back nil")
	}
	equal(t, "GetClient", got, c)
}

func testClientDuplicate(t *testing.T, s storage.Clients) {
	createClient(t, s, sampleClient("web"))
	other := sampleClient("web")
	other.Name = "impostor"
	wantErr(t, s.CreateClient(t.Context(), other), storage.ErrConflict)
	got, err := s.GetClient(t.Context(), "web")
	must(t, err)
	equal(t, "name after a clash", got.Name, "Client web")
}

func testClientList(t *testing.T, s storage.Clients) {
	cs, err := s.ListClients(t.Context())
	must(t, err)
	equal(t, "empty store", len(cs), 0)
	for _, id := range []string{"m", "z", "a"} {
		createClient(t, s, sampleClient(id))
	}
	cs, err = s.ListClients(t.Context())
	must(t, err)
	equal(t, "ListClients", cs, []storage.Client{sampleClient("a"), sampleClient("m"), sampleClient("z")})
}

func testClientUpdate(t *testing.T, s storage.Clients) {
	createClient(t, s, sampleClient("web"))
	later := base().Add(time.Hour)
	got, err := s.UpdateClient(t.Context(), "web", func(c *storage.Client) error {
		c.ID = "other" // ignored: the ID is the key
		c.Name = "Renamed"
		c.RedirectURIs = append(c.RedirectURIs, "https://new.example/cb")
		c.AccessTokenFormat = "jwt"
		c.AccessTokenTTL = time.Minute
		c.UpdatedAt = later
		return nil
	})
	must(t, err)
	want := sampleClient("web")
	want.Name, want.AccessTokenFormat, want.AccessTokenTTL, want.UpdatedAt = "Renamed", "jwt", time.Minute, later
	want.RedirectURIs = append(want.RedirectURIs, "https://new.example/cb")
	equal(t, "UpdateClient result", got, want)
	stored, err := s.GetClient(t.Context(), "web")
	must(t, err)
	equal(t, "GetClient after update", stored, want)
	_, err = s.GetClient(t.Context(), "other")
	wantErr(t, err, storage.ErrNotFound)
}

func testClientUpdateAborts(t *testing.T, s storage.Clients) {
	createClient(t, s, sampleClient("web"))
	sentinel := errors.New("bad redirect")
	_, err := s.UpdateClient(t.Context(), "web", func(c *storage.Client) error {
		c.Name = "changed"
		return sentinel
	})
	wantErr(t, err, sentinel)
	got, err := s.GetClient(t.Context(), "web")
	must(t, err)
	equal(t, "GetClient after aborted update", got, sampleClient("web"))
}

func testClientMissing(t *testing.T, s storage.Clients) {
	_, err := s.GetClient(t.Context(), "ghost")
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.UpdateClient(t.Context(), "ghost", func(*storage.Client) error { return nil })
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.DeleteClient(t.Context(), "ghost"), storage.ErrNotFound)
}

func testClientDelete(t *testing.T, s storage.Clients) {
	createClient(t, s, sampleClient("web"))
	createClient(t, s, sampleClient("kept"))
	must(t, s.DeleteClient(t.Context(), "web"))
	_, err := s.GetClient(t.Context(), "web")
	wantErr(t, err, storage.ErrNotFound)
	cs, err := s.ListClients(t.Context())
	must(t, err)
	equal(t, "clients left", len(cs), 1)
}

func testClientSkipConsent(t *testing.T, s storage.Clients) {
	ctx := t.Context()
	first := sampleClient("first")
	first.SkipConsent = true
	third := sampleClient("third")
	createClient(t, s, first)
	createClient(t, s, third)
	for _, want := range []storage.Client{first, third} {
		got, err := s.GetClient(ctx, want.ID)
		must(t, err)
		equal(t, "SkipConsent of "+want.ID, got.SkipConsent, want.SkipConsent)
		equal(t, "GetClient "+want.ID, got, want)
	}
	list, err := s.ListClients(ctx)
	must(t, err)
	equal(t, "ListClients", list, []storage.Client{first, third})

	got, err := s.UpdateClient(ctx, "first", func(c *storage.Client) error { c.SkipConsent = false; return nil })
	must(t, err)
	equal(t, "UpdateClient result's SkipConsent", got.SkipConsent, false)
	got, err = s.UpdateClient(ctx, "third", func(c *storage.Client) error { c.SkipConsent = true; return nil })
	must(t, err)
	equal(t, "UpdateClient result's SkipConsent", got.SkipConsent, true)
	// An update that does not touch the flag keeps it.
	_, err = s.UpdateClient(ctx, "third", func(c *storage.Client) error { c.Name = "Renamed"; return nil })
	must(t, err)
	for id, want := range map[string]bool{"first": false, "third": true} {
		stored, err := s.GetClient(ctx, id)
		must(t, err)
		equal(t, "stored SkipConsent of "+id, stored.SkipConsent, want)
	}
}
