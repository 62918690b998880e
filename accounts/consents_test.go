package accounts

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/storage"
)

// memConsents is Consents in memory, by subject and client.
type memConsents struct {
	fail faults

	mu       sync.Mutex
	consents map[[2]string]storage.Consent
}

func newMemConsents(cs ...storage.Consent) *memConsents {
	m := &memConsents{fail: faults{}, consents: map[[2]string]storage.Consent{}}
	for _, c := range cs {
		m.consents[[2]string{c.Subject, c.ClientID}] = c
	}
	return m
}

func (m *memConsents) GetConsent(_ context.Context, subject, clientID string) (storage.Consent, error) {
	if err := m.fail["GetConsent"]; err != nil {
		return storage.Consent{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.consents[[2]string{subject, clientID}]
	if !ok {
		return storage.Consent{}, storage.ErrNotFound
	}
	return c, nil
}

func (m *memConsents) ListConsents(_ context.Context, subject string) ([]storage.Consent, error) {
	if err := m.fail["ListConsents"]; err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []storage.Consent
	for _, c := range m.consents {
		if c.Subject == subject {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b storage.Consent) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	return out, nil
}

func (m *memConsents) RevokeConsent(_ context.Context, subject, clientID string) error {
	if err := m.fail["RevokeConsent"]; err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{subject, clientID}
	if _, ok := m.consents[k]; !ok {
		return storage.ErrNotFound
	}
	delete(m.consents, k)
	return nil
}

// keys returns "subject/client" of every consent, sorted.
func (m *memConsents) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.consents {
		out = append(out, k[0]+"/"+k[1])
	}
	slices.Sort(out)
	return out
}

// memClients is ClientReader over a map of client names.
type memClients struct {
	fail  error
	names map[string]string
}

func (c memClients) GetClient(_ context.Context, id string) (storage.Client, error) {
	if c.fail != nil {
		return storage.Client{}, c.fail
	}
	name, ok := c.names[id]
	if !ok {
		return storage.Client{}, storage.ErrNotFound
	}
	return storage.Client{ID: id, Name: name}, nil
}

// memAudit keeps the events it is given.
type memAudit struct {
	mu     sync.Mutex
	events []audit.Event
}

func (a *memAudit) Record(_ context.Context, e audit.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

func (a *memAudit) ofType(typ string) []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Event
	for _, e := range a.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// Consents of alice (crm, wiki) and bob (crm). alice has a session of crm
// (famA2) and of app-web (famA1); bob one of app-web (famB).
var (
	consentACRM  = storage.Consent{Subject: "1", ClientID: "crm", Scopes: []string{"email", "openid"}, CreatedAt: testNow.Add(-2 * time.Hour), UpdatedAt: testNow.Add(-time.Hour)}
	consentAWiki = storage.Consent{Subject: "1", ClientID: "wiki", Scopes: []string{"openid"}, CreatedAt: testNow.Add(-3 * time.Hour), UpdatedAt: testNow.Add(-3 * time.Hour)}
	consentBCRM  = storage.Consent{Subject: "2", ClientID: "crm", Scopes: []string{"openid", "profile"}, CreatedAt: testNow, UpdatedAt: testNow}
	famA3        = storage.Family{ID: "fam-a3", ClientID: "crm", Subject: "1", ExpiresAt: testNow.Add(time.Hour)}
	famBCRM      = storage.Family{ID: "fam-b-crm", ClientID: "crm", Subject: "2", ExpiresAt: testNow.Add(time.Hour)}
)

type consentEnv struct {
	*testEnv
	consents *memConsents
	audit    *memAudit
}

// newConsentEnv is newSessionEnv with the consents above, a second crm
// session of alice and one of bob, and the clients' names (wiki's client
// has none: it is gone).
func newConsentEnv(t *testing.T, edit ...func(*Options)) *consentEnv {
	ce := &consentEnv{consents: newMemConsents(consentACRM, consentAWiki, consentBCRM), audit: &memAudit{}}
	ce.testEnv = newSessionEnv(t, append([]func(*Options){func(o *Options) {
		o.Consents = ce.consents
		o.Clients = memClients{names: map[string]string{"crm": "The CRM", "app-web": "Web"}}
		o.Audit = ce.audit
	}}, edit...)...)
	ce.sessions.families[famA3.ID] = famA3
	ce.sessions.families[famBCRM.ID] = famBCRM
	return ce
}

func TestConsentsListsTheCallersConsentsWithClientNames(t *testing.T) {
	e := newConsentEnv(t)
	got, err := e.svc.Consents(context.Background(), &Principal{User: alice, Method: "jwt"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Consent{
		{ClientID: "crm", ClientName: "The CRM", Scopes: []string{"email", "openid"}, Created: testNow.Add(-2 * time.Hour), Updated: testNow.Add(-time.Hour)},
		{ClientID: "wiki", ClientName: "", Scopes: []string{"openid"}, Created: testNow.Add(-3 * time.Hour), Updated: testNow.Add(-3 * time.Hour)},
	}
	if !slices.EqualFunc(got, want, consentEqual) {
		t.Fatalf("Consents = %+v,\nwant       %+v", got, want)
	}

	t.Run("without a consent store a user has none", func(t *testing.T) {
		e := newEnv(t)
		got, err := e.svc.Consents(context.Background(), &Principal{User: alice})
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Consents = %#v, %v; want an empty list", got, err)
		}
	})
	t.Run("a store outage is 503", func(t *testing.T) {
		e := newConsentEnv(t)
		e.consents.fail["ListConsents"] = errStoreDown
		_, err := e.svc.Consents(context.Background(), &Principal{User: alice})
		checkErr(t, err, ErrUnavailable)
	})
	t.Run("a client store outage is 503", func(t *testing.T) {
		e := newConsentEnv(t, func(o *Options) { o.Clients = memClients{fail: errStoreDown} })
		_, err := e.svc.Consents(context.Background(), &Principal{User: alice})
		checkErr(t, err, ErrUnavailable)
	})
}

func consentEqual(a, b Consent) bool {
	return a.ClientID == b.ClientID && a.ClientName == b.ClientName && slices.Equal(a.Scopes, b.Scopes) &&
		a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated)
}

func TestRevokeConsent(t *testing.T) {
	for _, tc := range []struct {
		name         string
		client       string
		fault        string // a method of the fakes that fails
		want         error
		wantConsents []string
		wantSessions []string
	}{
		{
			name: "the consent goes and so do the caller's sessions of that client", client: "crm",
			wantConsents: []string{"1/wiki", "2/crm"},
			wantSessions: []string{"fam-a1", "fam-b", "fam-b-crm"},
		},
		{
			name: "a consent without sessions goes alone", client: "wiki",
			wantConsents: []string{"1/crm", "2/crm"},
			wantSessions: []string{"fam-a1", "fam-a2", "fam-a3", "fam-b", "fam-b-crm"},
		},
		{
			name: "a client the caller never consented to is not found, and nothing changes", client: "app-web", want: ErrNotFound,
			wantConsents: []string{"1/crm", "1/wiki", "2/crm"},
			wantSessions: []string{"fam-a1", "fam-a2", "fam-a3", "fam-b", "fam-b-crm"},
		},
		{
			name: "an unknown client is not found", client: "ghost", want: ErrNotFound,
			wantConsents: []string{"1/crm", "1/wiki", "2/crm"},
			wantSessions: []string{"fam-a1", "fam-a2", "fam-a3", "fam-b", "fam-b-crm"},
		},
		{
			name: "a client ID too long to be one is not found", client: strings.Repeat("c", maxClientIDLen+1), want: ErrNotFound,
			wantConsents: []string{"1/crm", "1/wiki", "2/crm"},
			wantSessions: []string{"fam-a1", "fam-a2", "fam-a3", "fam-b", "fam-b-crm"},
		},
		{
			name: "a token store outage is 503 and the consent stays, so the call can be repeated", client: "crm", fault: "ListFamilies", want: ErrUnavailable,
			wantConsents: []string{"1/crm", "1/wiki", "2/crm"},
			wantSessions: []string{"fam-a1", "fam-a2", "fam-a3", "fam-b", "fam-b-crm"},
		},
		{
			name: "a failure to end a session is 503 and the consent stays", client: "crm", fault: "RevokeFamily", want: ErrUnavailable,
			wantConsents: []string{"1/crm", "1/wiki", "2/crm"},
			wantSessions: []string{"fam-a1", "fam-a2", "fam-a3", "fam-b", "fam-b-crm"},
		},
		{
			name: "a consent store outage is 503", client: "crm", fault: "GetConsent", want: ErrUnavailable,
			wantConsents: []string{"1/crm", "1/wiki", "2/crm"},
			wantSessions: []string{"fam-a1", "fam-a2", "fam-a3", "fam-b", "fam-b-crm"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newConsentEnv(t)
			switch tc.fault {
			case "ListFamilies", "RevokeFamily":
				e.sessions.fail[tc.fault] = errors.New("redis: connection refused")
			case "GetConsent":
				e.consents.fail[tc.fault] = errStoreDown
			}
			err := e.svc.RevokeConsent(context.Background(), &Principal{User: alice, Method: "jwt", SessionID: "fam-a1"}, tc.client)
			checkErr(t, err, tc.want)
			if got := e.consents.keys(); !slices.Equal(got, tc.wantConsents) {
				t.Errorf("consents %v, want %v", got, tc.wantConsents)
			}
			if got := e.sessions.live(); !slices.Equal(got, tc.wantSessions) {
				t.Errorf("live sessions %v, want %v", got, tc.wantSessions)
			}
			revoked := e.audit.ofType(audit.TypeConsentRevoked)
			if tc.want != nil {
				if len(revoked) > 0 {
					t.Errorf("a refused revocation was audited: %+v", revoked)
				}
				return
			}
			if len(revoked) != 1 {
				t.Fatalf("%d consent.revoked events, want 1", len(revoked))
			}
			ev := revoked[0]
			if ev.Actor != "user:1" || ev.Subject != "1" || ev.ClientID != tc.client {
				t.Errorf("event actor %q subject %q client %q, want user:1, 1, %s", ev.Actor, ev.Subject, ev.ClientID, tc.client)
			}
			ended := len(e.audit.ofType(audit.TypeSessionRevoked))
			if want := 5 - len(tc.wantSessions); ended != want || ev.Detail["sessions_revoked"] != strconv.Itoa(want) {
				t.Errorf("%d session.revoked events, detail %v; want %d", ended, ev.Detail, want)
			}
		})
	}
}

func TestAdminConsents(t *testing.T) {
	admin := storage.User{ID: 9, Username: "root", IsActive: true, IsSuperuser: true}
	keyPrincipal := &Principal{User: storage.User{IsSuperuser: true, IsStaff: true}, Method: "admin_key", AdminKey: &storage.AdminKey{ID: "k1"}}

	t.Run("staff list another user's consents", func(t *testing.T) {
		e := newConsentEnv(t)
		got, err := e.svc.UserConsents(context.Background(), &Principal{User: bob}, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ClientID != "crm" || got[1].ClientID != "wiki" {
			t.Fatalf("UserConsents = %+v, want alice's crm and wiki", got)
		}
	})
	t.Run("a user who is not staff cannot see another's consents", func(t *testing.T) {
		e := newConsentEnv(t)
		_, err := e.svc.UserConsents(context.Background(), &Principal{User: alice}, bob.ID)
		checkErr(t, err, ErrNotFound)
		err = e.svc.RevokeUserConsent(context.Background(), &Principal{User: alice}, bob.ID, "crm")
		checkErr(t, err, ErrNotFound)
		if got := e.consents.keys(); !slices.Contains(got, "2/crm") {
			t.Errorf("bob's consent went: %v", got)
		}
	})
	t.Run("an unknown user is not found", func(t *testing.T) {
		e := newConsentEnv(t)
		_, err := e.svc.UserConsents(context.Background(), &Principal{User: bob}, 404)
		checkErr(t, err, ErrNotFound)
	})
	t.Run("staff revoke another user's consent with its sessions, audited as staff", func(t *testing.T) {
		e := newConsentEnv(t)
		if err := e.svc.RevokeUserConsent(context.Background(), &Principal{User: bob}, alice.ID, "crm"); err != nil {
			t.Fatal(err)
		}
		if got := e.consents.keys(); !slices.Equal(got, []string{"1/wiki", "2/crm"}) {
			t.Errorf("consents %v", got)
		}
		if got := e.sessions.live(); !slices.Equal(got, []string{"fam-a1", "fam-b", "fam-b-crm"}) {
			t.Errorf("live sessions %v", got)
		}
		ev := e.audit.ofType(audit.TypeConsentRevoked)
		if len(ev) != 1 || ev[0].Actor != "user:2" || ev[0].Subject != "1" {
			t.Errorf("events %+v, want one by user:2 about 1", ev)
		}
	})
	t.Run("an admin key revokes a consent, audited as the key", func(t *testing.T) {
		e := newConsentEnv(t)
		if err := e.svc.RevokeUserConsent(context.Background(), keyPrincipal, bob.ID, "crm"); err != nil {
			t.Fatal(err)
		}
		ev := e.audit.ofType(audit.TypeConsentRevoked)
		if len(ev) != 1 || ev[0].Actor != "key:k1" || ev[0].Subject != "2" {
			t.Errorf("events %+v, want one by key:k1 about 2", ev)
		}
	})
	t.Run("only a superuser revokes a superuser's consent", func(t *testing.T) {
		e := newConsentEnv(t)
		e.store.users[admin.ID] = admin
		e.consents.consents[[2]string{"9", "crm"}] = storage.Consent{Subject: "9", ClientID: "crm", Scopes: []string{"openid"}}
		err := e.svc.RevokeUserConsent(context.Background(), &Principal{User: bob}, admin.ID, "crm")
		checkErr(t, err, ErrForbidden)
		if err := e.svc.RevokeUserConsent(context.Background(), keyPrincipal, admin.ID, "crm"); err != nil {
			t.Fatalf("an admin key: %v", err)
		}
	})
}
