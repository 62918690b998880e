// Package sessions keeps browsers signed in: the login session of the
// hosted pages (cookie latchkey_session) and the authorization requests
// waiting for a login or a consent.
//
// A login session has two records:
//   - its state in storage.LoginSessions, under a keyed hash of the cookie
//     value (the cookie itself is never stored): who signed in, when, with
//     which backend and methods. Its ExpiresAt is the idle deadline, slid
//     forward as the session is used, never past the absolute one;
//   - a refresh family in storage.Tokens (with no usable refresh token)
//     whose ID is the session's public ID, the sid of the ID tokens issued
//     in it. Through it a browser session is listed with the user's other
//     sessions (/auth/users/me/sessions/), revoked with them (logoutall, a
//     password change, an admin), and its absolute lifetime is enforced by
//     every store.
//
// A session is valid while both records are: the state has not expired and
// the family is neither revoked nor expired.
package sessions

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// CookieName is the login session's cookie (the contract's section 3).
const CookieName = "latchkey_session"

// BrowserClientID is the client_id of a browser session's family, as the
// sessions API shows it.
const BrowserClientID = "latchkey-browser"

// Defaults of the lifetimes (sessions.idle_timeout, sessions.lifetime).
const (
	DefaultIdle     = 12 * time.Hour
	DefaultLifetime = 7 * 24 * time.Hour
)

// slideEvery bounds how often the idle deadline is written: a session in
// use is slid at most once per this interval.
const slideEvery = time.Minute

// Data keys of a session record.
const (
	dataSID      = "sid"
	dataAMR      = "amr"
	dataFamilies = "families"
	dataAbsolute = "absolute"
	dataUsername = "username"
	dataIDP      = "idp"
)

// maxFamilies bounds the refresh families remembered per session (for
// the revocation at logout); the oldest are forgotten first.
const maxFamilies = 64

// Hasher is the keyed hash records are stored under (provider.Secrets).
type Hasher interface {
	Hash(raw string) string
}

// Families is what a session needs of storage.Tokens.
type Families interface {
	CreateFamily(ctx context.Context, f storage.Family, first storage.RefreshToken) error
	GetFamily(ctx context.Context, id string) (storage.Family, error)
	RevokeFamily(ctx context.Context, id string, now time.Time) error
}

// Options configure a Manager.
type Options struct {
	Logins   storage.LoginSessions
	Families Families
	Hasher   Hasher
	// Idle ends a session unused for this long; Lifetime ends any session
	// this long after the login.
	Idle, Lifetime time.Duration
	// Secure sets the cookie's Secure flag (an https issuer).
	Secure bool
	Now    func() time.Time
}

// Manager starts, finds and ends login sessions.
type Manager struct {
	opts Options
}

// New returns a Manager.
func New(opts Options) (*Manager, error) {
	if opts.Logins == nil || opts.Families == nil || opts.Hasher == nil {
		return nil, errors.New("sessions: Logins, Families and Hasher are required")
	}
	if opts.Idle <= 0 {
		opts.Idle = DefaultIdle
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = DefaultLifetime
	}
	if opts.Idle > opts.Lifetime {
		opts.Idle = opts.Lifetime
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Manager{opts: opts}, nil
}

// Session is a valid login session.
type Session struct {
	// Key is the state record's key (the keyed hash of the cookie); it
	// binds the session's CSRF tokens and is never shown.
	Key string
	// ID is the public ID: the sid claim, the sessions API's id.
	ID       string
	Subject  string
	Username string
	AuthTime time.Time
	// Backend authenticated the user; AMR are the methods (RFC 8176).
	Backend string
	AMR     []string
	// IDP is the outside identity provider (a social backend's ID) the
	// user signed in at; empty for a password login.
	IDP string
	// Families are the refresh families started from this session.
	Families []string
}

// Login is who signed in.
type Login struct {
	Subject   string
	Username  string
	Backend   string
	AMR       []string
	IDP       string
	UserAgent string
	IP        string
}

// Start signs a browser in: it ends the session the browser had, if any,
// and starts a new one with a new cookie value (a session ID is never
// kept across a login: no fixation), setting the cookie on w.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, l Login) (*Session, error) {
	if l.Subject == "" {
		return nil, errors.New("sessions: a login needs a subject")
	}
	if old, err := m.Current(ctx, r); err == nil && old != nil {
		if err := m.end(ctx, old, false); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	now := m.opts.Now()
	absolute := now.Add(m.opts.Lifetime)
	sid := randomID(16)
	raw := randomID(32)
	fam := storage.Family{
		ID: sid, ClientID: BrowserClientID, Subject: l.Subject, Scope: "",
		AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: absolute,
		UserAgent: storage.CutText(l.UserAgent, 256), IP: l.IP,
	}
	// The family never hands out a refresh token: its first one is a hash
	// of nothing anybody holds.
	first := storage.RefreshToken{FamilyID: sid, Hash: m.opts.Hasher.Hash("browser-session:" + randomID(32)), CreatedAt: now, ExpiresAt: absolute}
	if err := m.opts.Families.CreateFamily(ctx, fam, first); err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	s := &Session{Key: m.opts.Hasher.Hash(raw), ID: sid, Subject: l.Subject, Username: l.Username, AuthTime: now, Backend: l.Backend, AMR: slices.Clone(l.AMR), IDP: l.IDP}
	rec := storage.LoginSession{
		ID: s.Key, Subject: l.Subject, AuthTime: now, Backend: l.Backend,
		Data: map[string]string{
			dataSID: sid, dataAMR: strings.Join(l.AMR, " "),
			dataAbsolute: absolute.UTC().Format(time.RFC3339Nano),
			dataUsername: storage.CutText(l.Username, 320),
			dataIDP:      l.IDP,
		},
		UserAgent: fam.UserAgent, IP: l.IP, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: minTime(now.Add(m.opts.Idle), absolute),
	}
	if err := m.opts.Logins.CreateLogin(ctx, rec); err != nil {
		_ = m.opts.Families.RevokeFamily(ctx, sid, now)
		return nil, fmt.Errorf("start session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: raw, Path: "/", MaxAge: int(m.opts.Lifetime / time.Second),
		HttpOnly: true, Secure: m.opts.Secure, SameSite: http.SameSiteLaxMode,
	})
	return s, nil
}

// Current returns the browser's valid session, or nil when it has none (no
// cookie, an unknown or expired one, a revoked session). Only a store
// fault is an error.
func (m *Manager) Current(ctx context.Context, r *http.Request) (*Session, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 128 {
		return nil, nil
	}
	now := m.opts.Now()
	key := m.opts.Hasher.Hash(ck.Value)
	rec, err := m.opts.Logins.GetLogin(ctx, key, now)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	if rec.Subject == "" {
		return nil, nil
	}
	s := sessionOf(rec)
	fam, err := m.opts.Families.GetFamily(ctx, s.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	if !fam.RevokedAt.IsZero() || !now.Before(fam.ExpiresAt) || fam.Subject != rec.Subject {
		return nil, nil
	}
	if now.Sub(rec.UpdatedAt) >= slideEvery {
		m.slide(ctx, key, now)
	}
	return s, nil
}

// slide moves the idle deadline forward; a failure only shortens the
// session, so it is not an error.
func (m *Manager) slide(ctx context.Context, key string, now time.Time) {
	_, _ = m.opts.Logins.UpdateLogin(ctx, key, now, func(l *storage.LoginSession) error {
		l.UpdatedAt = now
		l.ExpiresAt = minTime(now.Add(m.opts.Idle), absoluteOf(*l))
		return nil
	})
}

// End signs the browser out: the session's records are deleted and
// revoked, the cookie is cleared, and with revokeTokens the refresh
// families started from the session are revoked too.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, s *Session, revokeTokens bool) error {
	m.ClearCookie(w)
	if s == nil {
		return nil
	}
	return m.end(ctx, s, revokeTokens)
}

func (m *Manager) end(ctx context.Context, s *Session, revokeTokens bool) error {
	now := m.opts.Now()
	if err := m.opts.Families.RevokeFamily(ctx, s.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("end session: %w", err)
	}
	if revokeTokens {
		// Read the list again: a code redeemed since the session was loaded
		// may have added a family.
		fams := s.Families
		if rec, err := m.opts.Logins.GetLogin(ctx, s.Key, now); err == nil {
			fams = sessionOf(rec).Families
		}
		for _, id := range fams {
			if err := m.opts.Families.RevokeFamily(ctx, id, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("end session: revoke tokens: %w", err)
			}
		}
	}
	if err := m.opts.Logins.DeleteLogin(ctx, s.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// ClearCookie tells the browser to forget its session cookie.
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: m.opts.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// AddFamily remembers that a refresh family was started from the session
// whose key is key (an authorization code issued in it was redeemed), so
// that a logout can revoke it. A session that has ended is not an error.
func (m *Manager) AddFamily(ctx context.Context, key, familyID string) error {
	if key == "" || familyID == "" {
		return nil
	}
	_, err := m.opts.Logins.UpdateLogin(ctx, key, m.opts.Now(), func(l *storage.LoginSession) error {
		fams := splitList(l.Data[dataFamilies])
		if slices.Contains(fams, familyID) {
			return nil
		}
		fams = append(fams, familyID)
		if len(fams) > maxFamilies {
			fams = fams[len(fams)-maxFamilies:]
		}
		if l.Data == nil {
			l.Data = map[string]string{}
		}
		l.Data[dataFamilies] = strings.Join(fams, " ")
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}

func sessionOf(rec storage.LoginSession) *Session {
	return &Session{
		Key: rec.ID, ID: rec.Data[dataSID], Subject: rec.Subject, Username: rec.Data[dataUsername], AuthTime: rec.AuthTime, Backend: rec.Backend,
		AMR: splitList(rec.Data[dataAMR]), Families: splitList(rec.Data[dataFamilies]), IDP: rec.Data[dataIDP],
	}
}

// absoluteOf is the record's absolute deadline.
func absoluteOf(l storage.LoginSession) time.Time {
	t, err := time.Parse(time.RFC3339Nano, l.Data[dataAbsolute])
	if err != nil {
		return l.ExpiresAt
	}
	return t
}

func splitList(s string) []string { return strings.Fields(s) }

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("sessions: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
