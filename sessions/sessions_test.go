package sessions_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/sessions"
	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/redisstore"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

// The sessions package runs against real stores: SQLite in a temporary
// directory and, with LATCHKEY_TEST_REDIS_URL, Redis under a fresh prefix.

// store is what a Manager needs of a store, plus what the tests look at.
type store interface {
	storage.LoginSessions
	sessions.Families
}

// eachStore runs fn on a fresh SQLite store and, when Redis is configured
// (or required), on a fresh Redis prefix.
func eachStore(t *testing.T, fn func(t *testing.T, s store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
	t.Run("redis", func(t *testing.T) { fn(t, openRedis(t)) })
}

func openSQLite(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "latchkey.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func openRedis(t *testing.T) *redisstore.Store {
	t.Helper()
	u := storagetest.RequireService(t, "the sessions tests on Redis", "LATCHKEY_TEST_REDIS_URL")
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("LATCHKEY_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	prefix := "lktest:" + uuid.NewString() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := c.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			_ = c.Del(ctx, keys...).Err()
		}
		_ = c.Close()
	})
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", u, err)
	}
	return redisstore.New(redisstore.Options{Client: c, Prefix: prefix})
}

// clock is a test clock moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newHasher(t *testing.T) *provider.Secrets {
	t.Helper()
	master := make([]byte, provider.MasterKeySize)
	_, _ = rand.Read(master)
	h, err := provider.NewSecrets(master)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fixture is a Manager on a store with its clock.
type fixture struct {
	m     *sessions.Manager
	s     store
	clock *clock
	hash  *provider.Secrets
}

func newFixture(t *testing.T, s store, change func(*sessions.Options)) fixture {
	t.Helper()
	c, h := newClock(), newHasher(t)
	opts := sessions.Options{Logins: s, Families: s, Hasher: h, Idle: 10 * time.Minute, Lifetime: time.Hour, Now: c.Now}
	if change != nil {
		change(&opts)
	}
	m, err := sessions.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{m: m, s: s, clock: c, hash: h}
}

var ana = sessions.Login{Subject: "7", Username: "ana", Backend: "local", AMR: []string{"pwd"}, UserAgent: "test-agent", IP: "192.0.2.1"}

// start signs a browser in; cookie is the cookie it had (nil: none). It
// returns the session and the new cookie.
func (f fixture) start(t *testing.T, cookie *http.Cookie, l sessions.Login) (*sessions.Session, *http.Cookie) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	s, err := f.m.Start(context.Background(), w, r, l)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ck := cookieOf(w, sessions.CookieName)
	if ck == nil {
		t.Fatalf("Start set no %s cookie: %v", sessions.CookieName, w.Header())
	}
	return s, ck
}

// current is the session of a browser that sends cookie.
func (f fixture) current(t *testing.T, cookie *http.Cookie) *sessions.Session {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if cookie != nil {
		r.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	s, err := f.m.Current(context.Background(), r)
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return s
}

func cookieOf(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func family(t *testing.T, s store, id string) storage.Family {
	t.Helper()
	fam, err := s.GetFamily(context.Background(), id)
	if err != nil {
		t.Fatalf("family %s: %v", id, err)
	}
	return fam
}

// newFamily stores an active refresh family of the user, as a code
// redemption does.
func newFamily(t *testing.T, f fixture, subject string) string {
	t.Helper()
	now := f.clock.Now()
	id := uuid.NewString()
	fam := storage.Family{ID: id, ClientID: "app", Subject: subject, Scope: "openid", AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	tok := storage.RefreshToken{FamilyID: id, Hash: f.hash.Hash("refresh:" + id), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := f.s.CreateFamily(context.Background(), fam, tok); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestNewRequiresItsStores(t *testing.T) {
	h := newHasher(t)
	s := openSQLite(t)
	for name, o := range map[string]sessions.Options{
		"no logins":   {Families: s, Hasher: h},
		"no families": {Logins: s, Hasher: h},
		"no hasher":   {Logins: s, Families: s},
	} {
		if _, err := sessions.New(o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// Start sets the contract's cookie and stores the session under a keyed
// hash of it (never the value), with a refresh family whose ID is the
// public sid; Current finds it again.
func TestStartAndCurrent(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		f := newFixture(t, st, nil)
		s, ck := f.start(t, nil, ana)
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || ck.Domain != "" {
			t.Errorf("cookie flags %+v: want HttpOnly, Lax, Path=/, not Secure, host-only", ck)
		}
		if ck.MaxAge != int(time.Hour/time.Second) {
			t.Errorf("cookie Max-Age %d, want the absolute lifetime %d", ck.MaxAge, int(time.Hour/time.Second))
		}
		if len(ck.Value) < 43 {
			t.Errorf("cookie value %q is short (want 256 bits)", ck.Value)
		}
		if s.ID == "" || s.ID == ck.Value || s.Key == ck.Value || s.Key != f.hash.Hash(ck.Value) {
			t.Errorf("session ID %q, key %q for cookie %q", s.ID, s.Key, ck.Value)
		}
		// The cookie value is not a key in the store; its hash is.
		if _, err := st.GetLogin(context.Background(), ck.Value, f.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the raw cookie value finds a record: %v", err)
		}
		if _, err := st.GetLogin(context.Background(), s.Key, f.clock.Now()); err != nil {
			t.Errorf("the session's record: %v", err)
		}
		fam := family(t, st, s.ID)
		if fam.ClientID != sessions.BrowserClientID || fam.Subject != ana.Subject || !fam.ExpiresAt.Equal(f.clock.Now().Add(time.Hour)) ||
			!fam.RevokedAt.IsZero() || fam.UserAgent != ana.UserAgent || fam.IP != ana.IP {
			t.Errorf("family %+v", fam)
		}

		got := f.current(t, ck)
		if got == nil {
			t.Fatal("Current found no session")
		}
		if got.ID != s.ID || got.Key != s.Key || got.Subject != "7" || got.Username != "ana" || got.Backend != "local" ||
			!slices.Equal(got.AMR, []string{"pwd"}) || !got.AuthTime.Equal(f.clock.Now()) {
			t.Errorf("Current = %+v, want %+v", got, s)
		}
	})
}

func TestSecureCookieWithAnHTTPSIssuer(t *testing.T) {
	f := newFixture(t, openSQLite(t), func(o *sessions.Options) { o.Secure = true })
	_, ck := f.start(t, nil, ana)
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v: want Secure, HttpOnly, Lax", ck)
	}
	w := httptest.NewRecorder()
	f.m.ClearCookie(w)
	if c := cookieOf(w, sessions.CookieName); c == nil || !c.Secure || c.MaxAge >= 0 {
		t.Errorf("cleared cookie %+v: want Secure and expired", c)
	}
}

// A browser without a usable cookie has no session, and that is no error.
func TestCurrentWithoutASession(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		f := newFixture(t, st, nil)
		s, ck := f.start(t, nil, ana)
		for name, c := range map[string]*http.Cookie{
			"no cookie":           nil,
			"empty":               {Name: sessions.CookieName, Value: ""},
			"unknown":             {Name: sessions.CookieName, Value: "unknown-value-0123456789abcdefghijklmnopqrstuvw"},
			"too long":            {Name: sessions.CookieName, Value: string(make([]byte, 200))},
			"the public ID":       {Name: sessions.CookieName, Value: s.ID},
			"the record key":      {Name: sessions.CookieName, Value: s.Key},
			"another cookie name": {Name: "sessionid", Value: ck.Value},
		} {
			if got := f.current(t, c); got != nil {
				t.Errorf("%s: a session %+v", name, got)
			}
		}
	})
}

// A login ends the session the browser had and starts a new one under a
// new value: no value survives a login (no fixation).
func TestStartRotatesTheSession(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		f := newFixture(t, st, nil)
		old, oldCk := f.start(t, nil, ana)
		s, ck := f.start(t, oldCk, sessions.Login{Subject: "8", Username: "bo", Backend: "local", AMR: []string{"pwd"}})
		if ck.Value == oldCk.Value || s.ID == old.ID || s.Key == old.Key {
			t.Fatalf("the session was not rotated: %q → %q", oldCk.Value, ck.Value)
		}
		if f.current(t, oldCk) != nil {
			t.Error("the value of before the login still has a session")
		}
		if fam := family(t, st, old.ID); fam.RevokedAt.IsZero() {
			t.Error("the old session's family is not revoked")
		}
		if got := f.current(t, ck); got == nil || got.Subject != "8" {
			t.Errorf("the new session: %+v", got)
		}
		// A planted value that names no session is simply replaced.
		planted := &http.Cookie{Name: sessions.CookieName, Value: "planted-by-someone-else-0123456789abcdefghijk"}
		_, ck2 := f.start(t, planted, ana)
		if ck2.Value == planted.Value || f.current(t, planted) != nil {
			t.Error("a planted value was kept")
		}
	})
}

// A session unused for the idle timeout ends; use slides the deadline,
// never past the absolute lifetime.
func TestIdleAndAbsoluteLifetimes(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		t.Run("idle", func(t *testing.T) {
			f := newFixture(t, st, nil) // idle 10m, lifetime 1h
			_, ck := f.start(t, nil, ana)
			for i := range 4 {
				f.clock.Advance(9 * time.Minute)
				if f.current(t, ck) == nil {
					t.Fatalf("used every 9 minutes, the session ended after %d uses", i)
				}
			}
			f.clock.Advance(10*time.Minute + time.Second)
			if f.current(t, ck) != nil {
				t.Error("a session unused for longer than the idle timeout is alive")
			}
		})
		t.Run("absolute", func(t *testing.T) {
			f := newFixture(t, st, func(o *sessions.Options) { o.Lifetime = 30 * time.Minute })
			_, ck := f.start(t, nil, ana)
			for range 3 {
				f.clock.Advance(9 * time.Minute)
				if f.current(t, ck) == nil {
					t.Fatal("the session ended before its lifetime")
				}
			}
			f.clock.Advance(3*time.Minute + time.Second) // 30m01s after the login, 3m after the last use
			if f.current(t, ck) != nil {
				t.Error("a session in use outlived its absolute lifetime")
			}
		})
		t.Run("idle longer than lifetime", func(t *testing.T) {
			f := newFixture(t, st, func(o *sessions.Options) { o.Idle, o.Lifetime = 2*time.Hour, 20*time.Minute })
			_, ck := f.start(t, nil, ana)
			f.clock.Advance(20*time.Minute + time.Second)
			if f.current(t, ck) != nil {
				t.Error("the idle timeout outlived the lifetime")
			}
		})
	})
}

// A session whose family was revoked (logoutall, a password change, the
// sessions API, an admin) is over.
func TestRevokedFamilyEndsTheSession(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		f := newFixture(t, st, nil)
		s, ck := f.start(t, nil, ana)
		if err := st.RevokeFamily(context.Background(), s.ID, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if f.current(t, ck) != nil {
			t.Error("a session with a revoked family is alive")
		}
	})
}

// End deletes the session and clears the cookie; with revokeTokens it also
// revokes the families AddFamily tied to it, and only those.
func TestEnd(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		for _, revoke := range []bool{false, true} {
			t.Run(fmt.Sprint("revokeTokens=", revoke), func(t *testing.T) {
				f := newFixture(t, st, nil)
				s, ck := f.start(t, nil, ana)
				tied, untied := newFamily(t, f, ana.Subject), newFamily(t, f, ana.Subject)
				if err := f.m.AddFamily(context.Background(), s.Key, tied); err != nil {
					t.Fatal(err)
				}
				// Twice is once.
				if err := f.m.AddFamily(context.Background(), s.Key, tied); err != nil {
					t.Fatal(err)
				}
				if got := f.current(t, ck); got == nil || !slices.Equal(got.Families, []string{tied}) {
					t.Fatalf("families of the session: %+v", got)
				}
				w := httptest.NewRecorder()
				// The session as loaded before the family was tied: End reads
				// the list again.
				if err := f.m.End(context.Background(), w, s, revoke); err != nil {
					t.Fatal(err)
				}
				if c := cookieOf(w, sessions.CookieName); c == nil || c.MaxAge >= 0 || c.Value != "" {
					t.Errorf("End did not clear the cookie: %+v", c)
				}
				if f.current(t, ck) != nil {
					t.Error("the session is alive after End")
				}
				if family(t, st, s.ID).RevokedAt.IsZero() {
					t.Error("the session's own family is not revoked")
				}
				if got := !family(t, st, tied).RevokedAt.IsZero(); got != revoke {
					t.Errorf("the tied family revoked: %v, want %v", got, revoke)
				}
				if !family(t, st, untied).RevokedAt.IsZero() {
					t.Error("a family not tied to the session was revoked")
				}
				// Tying a family to a session that ended is not an error.
				if err := f.m.AddFamily(context.Background(), s.Key, newFamily(t, f, ana.Subject)); err != nil {
					t.Errorf("AddFamily after End: %v", err)
				}
				// Ending it again is harmless.
				if err := f.m.End(context.Background(), httptest.NewRecorder(), s, revoke); err != nil {
					t.Errorf("End twice: %v", err)
				}
			})
		}
		t.Run("no session", func(t *testing.T) {
			f := newFixture(t, st, nil)
			w := httptest.NewRecorder()
			if err := f.m.End(context.Background(), w, nil, true); err != nil {
				t.Fatal(err)
			}
			if c := cookieOf(w, sessions.CookieName); c == nil || c.MaxAge >= 0 {
				t.Errorf("End(nil) did not clear the cookie: %+v", c)
			}
		})
	})
}

// Families tied concurrently are all remembered (UpdateLogin is atomic),
// so a logout revokes every one.
func TestAddFamilyConcurrently(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		f := newFixture(t, st, nil)
		s, _ := f.start(t, nil, ana)
		ids := make([]string, 8)
		for i := range ids {
			ids[i] = newFamily(t, f, ana.Subject)
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() {
				if err := f.m.AddFamily(context.Background(), s.Key, id); err != nil {
					t.Errorf("AddFamily: %v", err)
				}
			})
		}
		wg.Wait()
		if err := f.m.End(context.Background(), httptest.NewRecorder(), s, true); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if family(t, st, id).RevokedAt.IsZero() {
				t.Errorf("family %s was lost by a concurrent AddFamily", id)
			}
		}
	})
}

func TestStartNeedsASubject(t *testing.T) {
	f := newFixture(t, openSQLite(t), nil)
	w := httptest.NewRecorder()
	if _, err := f.m.Start(context.Background(), w, httptest.NewRequest(http.MethodPost, "/login", nil), sessions.Login{Username: "x"}); err == nil {
		t.Fatal("Start without a subject succeeded")
	}
	if c := cookieOf(w, sessions.CookieName); c != nil {
		t.Errorf("a cookie was set: %+v", c)
	}
}

// A store that is down is an error, never "no session".
func TestStoreFaultIsAnError(t *testing.T) {
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "latchkey.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, s, nil)
	_, ck := f.start(t, nil, ana)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(ck)
	if got, err := f.m.Current(context.Background(), r); err == nil {
		t.Errorf("Current on a closed store: %+v, nil error", got)
	}
	if _, err := f.m.SaveRequest(context.Background(), url.Values{"client_id": {"app"}}); err == nil {
		t.Error("SaveRequest on a closed store: nil error")
	}
	if _, err := f.m.Request(context.Background(), "some-request-id"); err == nil || errors.Is(err, sessions.ErrNoRequest) {
		t.Errorf("Request on a closed store: %v, want a store error", err)
	}
}

// A kept authorization request comes back as it was saved until it is
// finished (once) or expires; its ID is no session and a session's cookie
// is no request.
func TestRequests(t *testing.T) {
	eachStore(t, func(t *testing.T, st store) {
		f := newFixture(t, st, nil)
		ctx := context.Background()
		params := url.Values{"client_id": {"app"}, "state": {"a b&c=d/é"}, "scope": {"openid profile"}}
		saved, err := f.m.SaveRequest(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(saved.ID) < 32 {
			t.Errorf("request ID %q is short", saved.ID)
		}
		// Stored under a keyed hash, not the ID.
		if _, err := st.GetLogin(ctx, saved.ID, f.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the raw request ID finds a record: %v", err)
		}
		f.clock.Advance(time.Minute)
		got, err := f.m.Request(ctx, saved.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Params.Encode() != params.Encode() || !got.CreatedAt.Equal(saved.CreatedAt) || got.ID != saved.ID {
			t.Errorf("Request = %+v, want %+v", got, saved)
		}
		// A request is not a session, and a session is not a request.
		if f.current(t, &http.Cookie{Name: sessions.CookieName, Value: saved.ID}) != nil {
			t.Error("a request ID works as a session cookie")
		}
		_, ck := f.start(t, nil, ana)
		if _, err := f.m.Request(ctx, ck.Value); !errors.Is(err, sessions.ErrNoRequest) {
			t.Errorf("a session cookie as a request ID: %v", err)
		}
		for _, id := range []string{"", "unknown-request-id", string(make([]byte, 100))} {
			if _, err := f.m.Request(ctx, id); !errors.Is(err, sessions.ErrNoRequest) {
				t.Errorf("Request(%q): %v, want ErrNoRequest", id, err)
			}
		}

		// Finished once.
		if err := f.m.FinishRequest(ctx, saved.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.m.FinishRequest(ctx, saved.ID); !errors.Is(err, sessions.ErrNoRequest) {
			t.Errorf("second FinishRequest: %v, want ErrNoRequest", err)
		}
		if _, err := f.m.Request(ctx, saved.ID); !errors.Is(err, sessions.ErrNoRequest) {
			t.Errorf("Request after FinishRequest: %v", err)
		}

		// Concurrent finishes: exactly one wins.
		saved, err = f.m.SaveRequest(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Go(func() {
				err := f.m.FinishRequest(ctx, saved.ID)
				switch {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case !errors.Is(err, sessions.ErrNoRequest):
					t.Errorf("FinishRequest: %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d concurrent FinishRequest calls succeeded, want 1", wins)
		}

		// Expiry.
		saved, err = f.m.SaveRequest(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(sessions.RequestTTL - time.Second)
		if _, err := f.m.Request(ctx, saved.ID); err != nil {
			t.Errorf("a request just before its expiry: %v", err)
		}
		f.clock.Advance(2 * time.Second)
		if _, err := f.m.Request(ctx, saved.ID); !errors.Is(err, sessions.ErrNoRequest) {
			t.Errorf("an expired request: %v, want ErrNoRequest", err)
		}
	})
}
