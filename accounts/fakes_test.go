package accounts

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// Hand-written fakes of the service's dependencies (wtf's mock package).

// fakeProvider is the OAuth provider as accounts sees it: Authenticator,
// Tokens and MailLimiter. A method that answers something calls its
// function field and panics when that is not set, so an unexpected call
// fails the test; a method that only has an effect (revoking, forgetting,
// counting) succeeds when its field is not set. Every call is logged.
type fakeProvider struct {
	AuthenticatePasswordFn      func(ctx context.Context, login, password string) (backends.Identity, error)
	VerifyAccessTokenFn         func(ctx context.Context, raw string) (*provider.Introspection, error)
	EnsureFirstPartyClientFn    func(ctx context.Context, id string) error
	IssueUserTokensFn           func(ctx context.Context, clientID string, id backends.Identity, userAgent string) (*provider.TokenResponse, error)
	RefreshUserTokensFn         func(ctx context.Context, clientID, refresh, userAgent string) (*provider.TokenResponse, error)
	VerifyUserTokenFn           func(ctx context.Context, clientID, raw string) error
	RevokeRefreshTokenFn        func(ctx context.Context, clientID, raw string) error
	RevokeSubjectAccessTokensFn func(ctx context.Context, subject string) error
	CountMailFn                 func(ctx context.Context, recipient string) error

	mu    sync.Mutex
	calls []string // "Method arg arg..."
}

var (
	_ Authenticator = (*fakeProvider)(nil)
	_ Tokens        = (*fakeProvider)(nil)
	_ MailLimiter   = (*fakeProvider)(nil)
)

func (p *fakeProvider) log(method string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, strings.TrimSpace(method+" "+fmt.Sprintln(args...)))
}

// callsTo returns the arguments of every call to method, in order.
func (p *fakeProvider) callsTo(method string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.calls {
		if name, args, _ := strings.Cut(c, " "); name == method {
			out = append(out, args)
		}
	}
	return out
}

func unexpected(method string) { panic("fakeProvider: unexpected call to " + method) }

func (p *fakeProvider) AuthenticatePassword(ctx context.Context, login, password string) (backends.Identity, error) {
	p.log("AuthenticatePassword", login, password)
	if p.AuthenticatePasswordFn == nil {
		unexpected("AuthenticatePassword")
	}
	return p.AuthenticatePasswordFn(ctx, login, password)
}

func (p *fakeProvider) VerifyAccessToken(ctx context.Context, raw string) (*provider.Introspection, error) {
	p.log("VerifyAccessToken", raw)
	if p.VerifyAccessTokenFn == nil {
		unexpected("VerifyAccessToken")
	}
	return p.VerifyAccessTokenFn(ctx, raw)
}

// HashSecret is a visible stand-in for the keyed hash.
func (p *fakeProvider) HashSecret(secret string) string { return "hash:" + secret }

func (p *fakeProvider) EnsureFirstPartyClient(ctx context.Context, id string) error {
	p.log("EnsureFirstPartyClient", id)
	if p.EnsureFirstPartyClientFn == nil {
		return nil
	}
	return p.EnsureFirstPartyClientFn(ctx, id)
}

func (p *fakeProvider) IssueUserTokens(ctx context.Context, clientID string, id backends.Identity, userAgent string) (*provider.TokenResponse, error) {
	p.log("IssueUserTokens", clientID, id.UserID, userAgent)
	if p.IssueUserTokensFn == nil {
		unexpected("IssueUserTokens")
	}
	return p.IssueUserTokensFn(ctx, clientID, id, userAgent)
}

func (p *fakeProvider) RefreshUserTokens(ctx context.Context, clientID, refresh, userAgent string) (*provider.TokenResponse, error) {
	p.log("RefreshUserTokens", clientID, refresh, userAgent)
	if p.RefreshUserTokensFn == nil {
		unexpected("RefreshUserTokens")
	}
	return p.RefreshUserTokensFn(ctx, clientID, refresh, userAgent)
}

func (p *fakeProvider) VerifyUserToken(ctx context.Context, clientID, raw string) error {
	p.log("VerifyUserToken", clientID, raw)
	if p.VerifyUserTokenFn == nil {
		unexpected("VerifyUserToken")
	}
	return p.VerifyUserTokenFn(ctx, clientID, raw)
}

func (p *fakeProvider) RevokeRefreshToken(ctx context.Context, clientID, raw string) error {
	p.log("RevokeRefreshToken", clientID, raw)
	if p.RevokeRefreshTokenFn == nil {
		unexpected("RevokeRefreshToken")
	}
	return p.RevokeRefreshTokenFn(ctx, clientID, raw)
}

func (p *fakeProvider) RevokeSubjectAccessTokens(ctx context.Context, subject string) error {
	p.log("RevokeSubjectAccessTokens", subject)
	if p.RevokeSubjectAccessTokensFn == nil {
		return nil
	}
	return p.RevokeSubjectAccessTokensFn(ctx, subject)
}

func (p *fakeProvider) ForgetUser(userID int64) { p.log("ForgetUser", userID) }

func (p *fakeProvider) CountMail(ctx context.Context, recipient string) error {
	p.log("CountMail", recipient)
	if p.CountMailFn == nil {
		return nil
	}
	return p.CountMailFn(ctx, recipient)
}

// The provider's answers, as its callers see them.
var (
	// errBadLogin is AuthenticatePassword's answer to wrong credentials.
	errBadLogin = provider.ErrInvalidGrant.WithDescription("invalid username or password")
	// errStoreDown is a provider call failing on its store.
	errStoreDown = fmt.Errorf("sqlstore: get user: %w", errors.Join(storage.ErrUnavailable, errors.New("dial tcp: connection refused")))
)

func throttled(seconds int) error {
	e := provider.ErrRateLimited.WithDescription("too many requests")
	e.RetryAfter = seconds
	return e
}

// faults makes methods of a fake fail: method name → the error it returns.
type faults map[string]error

// memStore is Store in memory: users and personal tokens. Users have no
// groups. The embedded Store is nil, so a method not written here panics.
type memStore struct {
	Store
	fail faults

	mu     sync.Mutex
	users  map[int64]storage.User
	tokens map[string]storage.PersonalToken // by ID
	nextID int64
}

func newMemStore(users ...storage.User) *memStore {
	s := &memStore{fail: faults{}, users: map[int64]storage.User{}, tokens: map[string]storage.PersonalToken{}, nextID: 100}
	for _, u := range users {
		s.users[u.ID] = u
	}
	return s
}

func (s *memStore) CreateUser(_ context.Context, u *storage.User) error {
	if err := s.fail["CreateUser"]; err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.users {
		if strings.EqualFold(o.Username, u.Username) || u.Email != "" && strings.EqualFold(o.Email, u.Email) {
			return storage.ErrConflict
		}
	}
	s.nextID++
	u.ID = s.nextID
	s.users[u.ID] = *u
	return nil
}

func (s *memStore) GetUser(_ context.Context, id int64) (storage.User, error) {
	if err := s.fail["GetUser"]; err != nil {
		return storage.User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return storage.User{}, storage.ErrNotFound
	}
	return u, nil
}

func (s *memStore) find(method string, match func(storage.User) bool) (storage.User, error) {
	if err := s.fail[method]; err != nil {
		return storage.User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if match(u) {
			return u, nil
		}
	}
	return storage.User{}, storage.ErrNotFound
}

func (s *memStore) UserByUsername(_ context.Context, username string) (storage.User, error) {
	return s.find("UserByUsername", func(u storage.User) bool { return strings.EqualFold(u.Username, username) })
}

func (s *memStore) UserByEmail(_ context.Context, email string) (storage.User, error) {
	return s.find("UserByEmail", func(u storage.User) bool { return u.Email != "" && strings.EqualFold(u.Email, email) })
}

func (s *memStore) UpdateUser(_ context.Context, id int64, fn func(*storage.User) error) (storage.User, error) {
	if err := s.fail["UpdateUser"]; err != nil {
		return storage.User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return storage.User{}, storage.ErrNotFound
	}
	if err := fn(&u); err != nil {
		return storage.User{}, err
	}
	s.users[id] = u
	return u, nil
}

func (s *memStore) DeleteUser(_ context.Context, id int64) error {
	if err := s.fail["DeleteUser"]; err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.users, id)
	return nil
}

func (s *memStore) UserGroups(context.Context, int64) ([]storage.Group, error) { return nil, nil }

func (s *memStore) CreatePersonalToken(_ context.Context, t storage.PersonalToken) error {
	if err := s.fail["CreatePersonalToken"]; err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[t.ID] = t
	return nil
}

func (s *memStore) PersonalToken(_ context.Context, hash string, now time.Time) (storage.PersonalToken, error) {
	if err := s.fail["PersonalToken"]; err != nil {
		return storage.PersonalToken{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.Hash == hash && now.Before(t.ExpiresAt) {
			return t, nil
		}
	}
	return storage.PersonalToken{}, storage.ErrNotFound
}

func (s *memStore) ListPersonalTokens(_ context.Context, userID int64, now time.Time) ([]storage.PersonalToken, error) {
	if err := s.fail["ListPersonalTokens"]; err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.PersonalToken
	for _, t := range s.tokens {
		if t.UserID == userID && now.Before(t.ExpiresAt) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *memStore) DeletePersonalToken(_ context.Context, userID int64, id string) error {
	if err := s.fail["DeletePersonalToken"]; err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[id]; !ok || t.UserID != userID {
		return storage.ErrNotFound
	}
	delete(s.tokens, id)
	return nil
}

func (s *memStore) DeleteUserPersonalTokens(_ context.Context, userID int64, kind string) (int, error) {
	if err := s.fail["DeleteUserPersonalTokens"]; err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, t := range s.tokens {
		if t.UserID == userID && (kind == "" || t.Kind == kind) {
			delete(s.tokens, id)
			n++
		}
	}
	return n, nil
}

// user returns a stored user, or false.
func (s *memStore) user(id int64) (storage.User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	return u, ok
}

// tokenIDs returns the IDs of the stored personal tokens, sorted.
func (s *memStore) tokenIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.tokens {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// memSessions is Sessions in memory: refresh families by ID.
type memSessions struct {
	fail faults

	mu       sync.Mutex
	families map[string]storage.Family
}

func newMemSessions(fams ...storage.Family) *memSessions {
	s := &memSessions{fail: faults{}, families: map[string]storage.Family{}}
	for _, f := range fams {
		s.families[f.ID] = f
	}
	return s
}

func (s *memSessions) GetFamily(_ context.Context, id string) (storage.Family, error) {
	if err := s.fail["GetFamily"]; err != nil {
		return storage.Family{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok {
		return storage.Family{}, storage.ErrNotFound
	}
	return f, nil
}

func (s *memSessions) ListFamilies(_ context.Context, subject string, now time.Time) ([]storage.Family, error) {
	if err := s.fail["ListFamilies"]; err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Family
	for _, f := range s.families {
		if f.Subject == subject && f.RevokedAt.IsZero() && now.Before(f.ExpiresAt) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (s *memSessions) RevokeFamily(_ context.Context, id string, now time.Time) error {
	if err := s.fail["RevokeFamily"]; err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok {
		return storage.ErrNotFound
	}
	if f.RevokedAt.IsZero() {
		f.RevokedAt = now
		s.families[id] = f
	}
	return nil
}

func (s *memSessions) RevokeSubject(_ context.Context, subject string, now time.Time) (int, error) {
	if err := s.fail["RevokeSubject"]; err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, f := range s.families {
		if f.Subject == subject && f.RevokedAt.IsZero() {
			f.RevokedAt = now
			s.families[id] = f
			n++
		}
	}
	return n, nil
}

// live returns the IDs of the families not revoked, sorted.
func (s *memSessions) live() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, f := range s.families {
		if f.RevokedAt.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// fakeMailer keeps what it is asked to send.
type fakeMailer struct {
	mu   sync.Mutex
	sent []Mail
}

func (m *fakeMailer) SendMail(_ context.Context, mail Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, mail)
	return nil
}

func (m *fakeMailer) kinds() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, mail := range m.sent {
		out = append(out, mail.Kind+" to "+mail.To)
	}
	return out
}

// fakeUserTokens makes link tokens anyone can read: purpose, user and
// password hash, so a token dies when the password changes.
type fakeUserTokens struct{}

func (fakeUserTokens) Make(purpose string, u storage.User) string {
	return fmt.Sprintf("%s.%d.%s", purpose, u.ID, u.PasswordHash)
}

func (t fakeUserTokens) Check(purpose string, u storage.User, token string) bool {
	return token == t.Make(purpose, u)
}

// passwordRule is a PasswordValidator from a function.
type passwordRule func(password string, u storage.User) []string

func (f passwordRule) Validate(password string, u storage.User) []string { return f(password, u) }

const msgTooShort = "This password is too short."

// The users every test starts with.
var (
	testNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	alice   = storage.User{ID: 1, Username: "alice", Email: "alice@example.com", PasswordHash: "hashed:old-password", IsActive: true, EmailVerified: true}
	bob     = storage.User{ID: 2, Username: "bob", Email: "bob@example.com", PasswordHash: "hashed:bobs-password", IsActive: true, IsStaff: true}
	carol   = storage.User{ID: 3, Username: "carol", Email: "carol@example.com", PasswordHash: "hashed:carols-password", IsActive: false, EmailVerified: true}
)

// testEnv is a Service on fakes.
type testEnv struct {
	svc      *Service
	provider *fakeProvider
	store    *memStore
	sessions *memSessions
	mailer   *fakeMailer
}

// newEnv returns a Service whose first-party client is "app-web", over a
// store holding alice, bob (staff) and carol (inactive). edit changes the
// options before New.
func newEnv(t *testing.T, edit ...func(*Options)) *testEnv {
	t.Helper()
	e := &testEnv{
		provider: &fakeProvider{},
		store:    newMemStore(alice, bob, carol),
		sessions: newMemSessions(),
		mailer:   &fakeMailer{},
	}
	opts := Options{
		Store: e.store, Sessions: e.sessions,
		Authenticator: e.provider, Tokens: e.provider, MailLimiter: e.provider,
		HashPassword: func(pw string) (string, error) { return "hashed:" + pw, nil },
		Passwords: passwordRule(func(pw string, _ storage.User) []string {
			if len(pw) < 8 {
				return []string{msgTooShort}
			}
			return nil
		}),
		FirstPartyClient: "app-web",
		Mailer:           e.mailer,
		Links:            Links{PasswordResetURL: "https://app.example/reset/{uid}/{token}", SiteName: "Example", Domain: "app.example", Protocol: "https"},
		UserTokens:       fakeUserTokens{},
		SyncMail:         true,
		Now:              func() time.Time { return testNow },
	}
	for _, f := range edit {
		f(&opts)
	}
	e.svc = New(opts)
	return e
}

// login is an AuthenticatePasswordFn that knows one login and password.
func login(name, password string, as storage.User) func(context.Context, string, string) (backends.Identity, error) {
	return func(_ context.Context, l, p string) (backends.Identity, error) {
		if l == name && p == password {
			return backends.Identity{UserID: as.ID, Subject: subjectOf(as.ID), Backend: "local"}, nil
		}
		return backends.Identity{}, errBadLogin
	}
}

func body(kv ...string) Input {
	v := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		v[kv[i]] = kv[i+1]
	}
	return Input{Values: v}
}

// checkErr fails unless got is the answer want: nil, the same *Error
// (status, detail, code, Retry-After, challenge) or the same FieldErrors.
func checkErr(t *testing.T, got, want error) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if got != nil {
			t.Fatalf("error %v, want none", got)
		}
	case *Error:
		var g *Error
		if !errors.As(got, &g) {
			t.Fatalf("error %#v, want %d %q", got, w.Status, w.Detail)
		}
		if g.Status != w.Status || g.Detail != w.Detail || g.Code != w.Code || g.RetryAfter != w.RetryAfter || g.Challenge != w.Challenge {
			t.Fatalf("answer %d %q code %q Retry-After %d challenge %q,\nwant   %d %q code %q Retry-After %d challenge %q",
				g.Status, g.Detail, g.Code, g.RetryAfter, g.Challenge, w.Status, w.Detail, w.Code, w.RetryAfter, w.Challenge)
		}
	case FieldErrors:
		var g FieldErrors
		if !errors.As(got, &g) || !reflect.DeepEqual(g, w) {
			t.Fatalf("error %#v, want %v", got, w)
		}
	default:
		t.Fatalf("checkErr cannot compare %T", want)
	}
}

// throttledAfter is the user API's answer to a rate limit.
func throttledAfter(detail string, seconds int) *Error {
	return &Error{Status: 429, Detail: detail, Code: "throttled", RetryAfter: seconds}
}

func TestTheFakesBadLoginIsTheProvidersBadLogin(t *testing.T) {
	if !provider.IsBadLogin(errBadLogin) {
		t.Fatal("provider.IsBadLogin does not recognise the fake's wrong-credentials error")
	}
	if e := provider.AsError(errStoreDown); e.Status != 503 {
		t.Fatalf("a store failure maps to %d, want 503", e.Status)
	}
}
