package accounts

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

func TestStartCreatesTheFirstPartyClient(t *testing.T) {
	e := newEnv(t)
	if err := e.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.provider.callsTo("EnsureFirstPartyClient"); !slices.Equal(got, []string{"app-web"}) {
		t.Errorf("EnsureFirstPartyClient calls %q, want [app-web]", got)
	}
}

func TestCreateJWTIssuesTheFirstPartyClientsTokensForTheUserAgent(t *testing.T) {
	e := newEnv(t)
	e.provider.AuthenticatePasswordFn = login("alice", "old-password", alice)
	var gotClient, gotAgent string
	var gotID backends.Identity
	e.provider.IssueUserTokensFn = func(_ context.Context, clientID string, id backends.Identity, userAgent string) (*provider.TokenResponse, error) {
		gotClient, gotID, gotAgent = clientID, id, userAgent
		return &provider.TokenResponse{AccessToken: "access-1", RefreshToken: "refresh-1", TokenType: "Bearer"}, nil
	}
	pair, err := e.svc.CreateJWT(context.Background(), body("username", "alice", "password", "old-password"), "curl/8.0")
	if err != nil {
		t.Fatal(err)
	}
	if pair != (JWTPair{Access: "access-1", Refresh: "refresh-1"}) {
		t.Errorf("pair %+v", pair)
	}
	if gotClient != "app-web" || gotAgent != "curl/8.0" || gotID.UserID != alice.ID || gotID.Backend != "local" {
		t.Errorf("IssueUserTokens(%q, %+v, %q), want the first-party client, alice's identity and the user agent", gotClient, gotID, gotAgent)
	}
}

func TestCreateJWTAcceptsTheEmailAsLogin(t *testing.T) {
	e := newEnv(t)
	e.provider.AuthenticatePasswordFn = login("alice@example.com", "old-password", alice)
	e.provider.IssueUserTokensFn = func(context.Context, string, backends.Identity, string) (*provider.TokenResponse, error) {
		return &provider.TokenResponse{AccessToken: "a"}, nil
	}
	if _, err := e.svc.CreateJWT(context.Background(), body("email", "alice@example.com", "password", "old-password"), ""); err != nil {
		t.Fatal(err)
	}
}

func TestCreateJWTAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       Input
		authErr  error // AuthenticatePassword's answer; nil is alice
		issueErr error // IssueUserTokens' answer
		want     error
	}{
		{
			name:    "a wrong password is SimpleJWT's no active account",
			authErr: errBadLogin,
			want:    ErrNoActiveAccount,
		},
		{
			name:    "a throttled login is 429 with the wait in seconds",
			authErr: throttled(7),
			want:    throttledAfter("Request was throttled. Expected available in 7 seconds.", 7),
		},
		{
			name:    "a login throttled for one second says second",
			authErr: throttled(1),
			want:    throttledAfter("Request was throttled. Expected available in 1 second.", 1),
		},
		{
			name:    "a throttled login without a wait still sends Retry-After",
			authErr: throttled(0),
			want:    throttledAfter("Request was throttled.", 1),
		},
		{
			name:    "a store outage while checking the password is 503",
			authErr: errStoreDown,
			want:    ErrUnavailable,
		},
		{
			name:    "a password backend outage is 503",
			authErr: provider.ErrTemporarilyUnavailable.WithCause(errors.New("ldap down")),
			want:    ErrUnavailable,
		},
		{
			name:    "an unexpected provider error is a server error",
			authErr: errors.New("boom"),
			want:    &Error{Status: 500, Detail: "A server error occurred."},
		},
		{
			name:     "a first-party client without the password grant is forbidden",
			issueErr: provider.ErrUnauthorizedClient.WithDescription("not registered for the password grant"),
			want:     ErrForbidden,
		},
		{
			name:     "a store outage while issuing is 503",
			issueErr: errStoreDown,
			want:     ErrUnavailable,
		},
		{
			name:     "a user the provider will not issue for is no active account",
			issueErr: provider.ErrInvalidGrant.WithDescription("the user is not active"),
			want:     ErrNoActiveAccount,
		},
		{
			name: "a missing password is a field error",
			in:   body("username", "alice"),
			want: FieldErrors{"password": {"This field is required."}},
		},
		{
			name: "a missing login asks for the first login field",
			in:   body("password", "old-password"),
			want: FieldErrors{"username": {"This field is required."}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.provider.AuthenticatePasswordFn = func(context.Context, string, string) (backends.Identity, error) {
				if tc.authErr != nil {
					return backends.Identity{}, tc.authErr
				}
				return backends.Identity{UserID: alice.ID}, nil
			}
			e.provider.IssueUserTokensFn = func(context.Context, string, backends.Identity, string) (*provider.TokenResponse, error) {
				if tc.issueErr != nil {
					return nil, tc.issueErr
				}
				return &provider.TokenResponse{AccessToken: "a", RefreshToken: "r"}, nil
			}
			in := tc.in
			if in.Values == nil {
				in = body("username", "alice", "password", "old-password")
			}
			_, err := e.svc.CreateJWT(context.Background(), in, "ua")
			checkErr(t, err, tc.want)
			if tc.authErr != nil && len(e.provider.callsTo("IssueUserTokens")) > 0 {
				t.Error("tokens were issued for a failed login")
			}
		})
	}
}

func TestRefreshJWT(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Input
		err  error // RefreshUserTokens' answer
		want error
	}{
		{name: "a live refresh token is rotated for the first-party client"},
		{name: "an invalid refresh token is token_not_valid", err: provider.ErrBadRefreshToken, want: ErrTokenInvalid},
		{name: "a throttled refresh is 429", err: throttled(3), want: throttledAfter("Request was throttled. Expected available in 3 seconds.", 3)},
		{name: "a store outage is 503", err: errStoreDown, want: ErrUnavailable},
		{name: "a first-party client without the refresh grant is forbidden", err: provider.ErrUnauthorizedClient, want: ErrForbidden},
		{name: "a missing refresh token is a field error", in: body("token", "x"), want: FieldErrors{"refresh": {"This field is required."}, "token": {"Unknown field."}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.provider.RefreshUserTokensFn = func(context.Context, string, string, string) (*provider.TokenResponse, error) {
				if tc.err != nil {
					return nil, tc.err
				}
				return &provider.TokenResponse{AccessToken: "access-2", RefreshToken: "refresh-2"}, nil
			}
			in := tc.in
			if in.Values == nil {
				in = body("refresh", "refresh-1")
			}
			pair, err := e.svc.RefreshJWT(context.Background(), in, "refresh", "curl/8.0")
			checkErr(t, err, tc.want)
			if tc.want != nil {
				return
			}
			if pair != (JWTPair{Access: "access-2", Refresh: "refresh-2"}) {
				t.Errorf("pair %+v", pair)
			}
			if got := e.provider.callsTo("RefreshUserTokens"); !slices.Equal(got, []string{"app-web refresh-1 curl/8.0"}) {
				t.Errorf("RefreshUserTokens calls %q, want the first-party client, the token and the user agent", got)
			}
		})
	}
}

func TestVerifyJWT(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error // VerifyUserToken's answer
		want error
	}{
		{name: "a valid token verifies"},
		{name: "an invalid token is token_not_valid", err: provider.ErrInvalidToken, want: ErrTokenInvalid},
		{name: "a store outage is 503", err: errStoreDown, want: ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.provider.VerifyUserTokenFn = func(context.Context, string, string) error { return tc.err }
			checkErr(t, e.svc.VerifyJWT(context.Background(), body("token", "tok-1"), "token"), tc.want)
			if got := e.provider.callsTo("VerifyUserToken"); !slices.Equal(got, []string{"app-web tok-1"}) {
				t.Errorf("VerifyUserToken calls %q", got)
			}
		})
	}
}

func TestBlacklistJWT(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error // RevokeRefreshToken's answer
		want error
	}{
		{name: "a live refresh token's session ends"},
		{name: "a dead refresh token is token_not_valid", err: provider.ErrInvalidToken, want: ErrTokenInvalid},
		{name: "a store outage is 503", err: errStoreDown, want: ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.provider.RevokeRefreshTokenFn = func(context.Context, string, string) error { return tc.err }
			checkErr(t, e.svc.BlacklistJWT(context.Background(), body("refresh", "refresh-1")), tc.want)
			if got := e.provider.callsTo("RevokeRefreshToken"); !slices.Equal(got, []string{"app-web refresh-1"}) {
				t.Errorf("RevokeRefreshToken calls %q", got)
			}
		})
	}
}

func TestTokenLoginStoresALoginTokenUnderItsHash(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.LoginTokenTTL = 0 }) // the default, 10h
	e.provider.AuthenticatePasswordFn = login("alice", "old-password", alice)
	raw, err := e.svc.TokenLogin(context.Background(), body("username", "alice", "password", "old-password"))
	if err != nil {
		t.Fatal(err)
	}
	if !provider.IsPersonalToken(raw) {
		t.Errorf("token %q is not a personal token", raw)
	}
	tok, err := e.store.PersonalToken(context.Background(), "hash:"+raw, testNow)
	if err != nil {
		t.Fatalf("the token is not stored under its hash: %v", err)
	}
	if tok.UserID != alice.ID || tok.Kind != storage.TokenKindLogin || !tok.ExpiresAt.Equal(testNow.Add(10*time.Hour)) {
		t.Errorf("stored %+v, want alice's login token for 10h", tok)
	}
	if u, _ := e.store.user(alice.ID); !u.LastLogin.Equal(testNow) {
		t.Errorf("last login %v, want %v", u.LastLogin, testNow)
	}
}

func TestTokenLoginAnswers(t *testing.T) {
	badLogin := fieldError(NonField, msgBadLogin)
	for _, tc := range []struct {
		name    string
		auth    func(context.Context, string, string) (backends.Identity, error)
		storeUp error // CreatePersonalToken's answer
		want    error
	}{
		{
			name: "a wrong password is djoser's unable to log in",
			auth: login("alice", "other", alice),
			want: badLogin,
		},
		{
			name: "an identity without a local account is unable to log in",
			auth: func(context.Context, string, string) (backends.Identity, error) {
				return backends.Identity{Subject: "upstream-7", Backend: "ldap"}, nil
			},
			want: badLogin,
		},
		{
			name: "a throttled login is 429",
			auth: func(context.Context, string, string) (backends.Identity, error) {
				return backends.Identity{}, throttled(60)
			},
			want: throttledAfter("Request was throttled. Expected available in 60 seconds.", 60),
		},
		{
			name:    "a store outage while saving the token is 503",
			auth:    login("alice", "old-password", alice),
			storeUp: errors.New("disk I/O error"),
			want:    ErrUnavailable,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.provider.AuthenticatePasswordFn = tc.auth
			if tc.storeUp != nil {
				e.store.fail["CreatePersonalToken"] = tc.storeUp
			}
			raw, err := e.svc.TokenLogin(context.Background(), body("username", "alice", "password", "old-password"))
			checkErr(t, err, tc.want)
			if raw != "" || len(e.store.tokenIDs()) != 0 {
				t.Errorf("a failed login got token %q (stored %v)", raw, e.store.tokenIDs())
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	patAlice := storage.PersonalToken{ID: "pat-a", Hash: "hash:lk_pat_alice", UserID: alice.ID, Kind: storage.TokenKindPersonal, ExpiresAt: testNow.Add(time.Hour)}
	patNarrow := storage.PersonalToken{ID: "pat-n", Hash: "hash:lk_pat_narrow", UserID: alice.ID, Kind: storage.TokenKindPersonal, Scope: "files.read", ExpiresAt: testNow.Add(time.Hour)}
	patCarol := storage.PersonalToken{ID: "pat-c", Hash: "hash:lk_pat_carol", UserID: carol.ID, Kind: storage.TokenKindLogin, ExpiresAt: testNow.Add(time.Hour)}
	access := map[string]*provider.Introspection{
		"first-party":      {Active: true, AccessClaims: provider.AccessClaims{ClientID: "app-web", Subject: "1", SessionID: "fam-1"}},
		"other-client":     {Active: true, AccessClaims: provider.AccessClaims{ClientID: "crm", Subject: "1", Scope: "openid profile"}},
		"other-client-api": {Active: true, AccessClaims: provider.AccessClaims{ClientID: "crm", Subject: "1", Scope: "openid " + provider.ScopeAPI}},
		"client-only":      {Active: true, AccessClaims: provider.AccessClaims{ClientID: "svc", Subject: "svc", Scope: provider.ScopeAPI}},
		"deleted-user":     {Active: true, AccessClaims: provider.AccessClaims{ClientID: "app-web", Subject: "99"}},
		"inactive-user":    {Active: true, AccessClaims: provider.AccessClaims{ClientID: "app-web", Subject: "3"}},
		"store-outage":     {Active: true, AccessClaims: provider.AccessClaims{ClientID: "app-web", Subject: "1"}},
	}
	basic := func(cred string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred)) }
	for _, tc := range []struct {
		name      string
		header    string
		noBasic   bool
		storeDown bool
		want      *Principal // User by ID, Method, SessionID, TokenID
		wantErr   error
	}{
		{name: "no header is not authenticated", header: "", wantErr: ErrNotAuthenticated},
		{name: "an unknown scheme is not authenticated", header: "Digest abc", wantErr: ErrNotAuthenticated},
		{name: "a scheme without credentials is not authenticated", header: "Bearer ", wantErr: ErrNotAuthenticated},
		{name: "a first-party access token is its user, with its session", header: "Bearer first-party", want: &Principal{User: alice, Method: "jwt", SessionID: "fam-1"}},
		{name: "the JWT scheme is an access token too", header: "JWT first-party", want: &Principal{User: alice, Method: "jwt", SessionID: "fam-1"}},
		{name: "another client's access token without the API scope is forbidden", header: "Bearer other-client", wantErr: ErrForbidden},
		{name: "another client's access token with the API scope is its user", header: "Bearer other-client-api", want: &Principal{User: alice, Method: "jwt"}},
		{name: "a client's own access token has no user and is forbidden", header: "Bearer client-only", wantErr: ErrForbidden},
		{name: "an invalid access token is token_not_valid", header: "Bearer nonsense", wantErr: ErrTokenNotValid},
		{name: "an oversized access token is refused unchecked", header: "Bearer " + strings.Repeat("x", 8193), wantErr: ErrTokenNotValid},
		{name: "an access token of a deleted user is token_not_valid", header: "Bearer deleted-user", wantErr: ErrTokenNotValid},
		{name: "an access token of an inactive user is user_inactive", header: "Bearer inactive-user", wantErr: ErrUserInactive},
		{name: "a store outage while loading the user is 503", header: "Bearer store-outage", storeDown: true, wantErr: ErrUnavailable},
		{name: "a personal token as Bearer is found by its hash", header: "Bearer lk_pat_alice", want: &Principal{User: alice, Method: "token", TokenID: "pat-a"}},
		{name: "a personal token with the Token scheme is found by its hash", header: "Token lk_pat_alice", want: &Principal{User: alice, Method: "token", TokenID: "pat-a"}},
		{name: "an unknown Bearer personal token is token_not_valid", header: "Bearer lk_pat_unknown", wantErr: ErrTokenNotValid},
		{name: "an unknown Token is knox's invalid token", header: "Token lk_pat_unknown", wantErr: ErrInvalidKnoxToken},
		{name: "a Token that is not a personal token is knox's invalid token", header: "Token first-party", wantErr: ErrInvalidKnoxToken},
		{name: "a personal token of an inactive user is invalid", header: "Token lk_pat_carol", wantErr: ErrInvalidKnoxToken},
		{name: "a personal token narrowed to other scopes is forbidden", header: "Token lk_pat_narrow", wantErr: ErrForbidden},
		{name: "a store outage while looking up a personal token is 503", header: "Token lk_pat_alice", storeDown: true, wantErr: ErrUnavailable},
		{name: "Basic credentials are checked as a password login", header: basic("alice:old-password"), want: &Principal{User: alice, Method: "basic"}},
		{name: "wrong Basic credentials are invalid username/password", header: basic("alice:wrong"), wantErr: ErrBadBasic},
		{name: "Basic credentials without a colon are invalid username/password", header: basic("alice"), wantErr: ErrBadBasic},
		{name: "Basic credentials of an inactive user are invalid username/password", header: basic("carol:carols-password"), wantErr: ErrBadBasic},
		{name: "Basic is not authentication when switched off", header: basic("alice:old-password"), noBasic: true, wantErr: ErrNotAuthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.BasicAuth = !tc.noBasic })
			for _, pat := range []storage.PersonalToken{patAlice, patNarrow, patCarol} {
				_ = e.store.CreatePersonalToken(context.Background(), pat)
			}
			e.provider.VerifyAccessTokenFn = func(_ context.Context, raw string) (*provider.Introspection, error) {
				if info, ok := access[raw]; ok {
					return info, nil
				}
				return nil, provider.ErrInvalidToken.WithDescription("the access token is invalid, expired or revoked")
			}
			e.provider.AuthenticatePasswordFn = func(_ context.Context, l, p string) (backends.Identity, error) {
				switch {
				case l == "alice" && p == "old-password":
					return backends.Identity{UserID: alice.ID}, nil
				case l == "carol" && p == "carols-password":
					return backends.Identity{UserID: carol.ID}, nil
				}
				return backends.Identity{}, errBadLogin
			}
			if tc.storeDown {
				e.store.fail["GetUser"] = errors.New("connection reset")
				e.store.fail["PersonalToken"] = errors.New("connection reset")
			}
			p, err := e.svc.Authenticate(context.Background(), tc.header)
			if tc.wantErr != nil {
				checkErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.User.ID != tc.want.User.ID || p.Method != tc.want.Method || p.SessionID != tc.want.SessionID || p.TokenID != tc.want.TokenID {
				t.Errorf("principal user %d method %q session %q token %q, want user %d method %q session %q token %q",
					p.User.ID, p.Method, p.SessionID, p.TokenID, tc.want.User.ID, tc.want.Method, tc.want.SessionID, tc.want.TokenID)
			}
		})
	}
}

func TestAuthenticateMapsAProviderOutageTo503(t *testing.T) {
	e := newEnv(t)
	e.provider.VerifyAccessTokenFn = func(context.Context, string) (*provider.Introspection, error) { return nil, errStoreDown }
	_, err := e.svc.Authenticate(context.Background(), "Bearer some-token")
	checkErr(t, err, ErrUnavailable)
}

// Alice's sessions and tokens, for the logout tests.
var (
	famA1    = storage.Family{ID: "fam-a1", ClientID: "app-web", Subject: "1", ExpiresAt: testNow.Add(time.Hour)}
	famA2    = storage.Family{ID: "fam-a2", ClientID: "crm", Subject: "1", ExpiresAt: testNow.Add(time.Hour)}
	famB     = storage.Family{ID: "fam-b", ClientID: "app-web", Subject: "2", ExpiresAt: testNow.Add(time.Hour)}
	loginA1  = storage.PersonalToken{ID: "login-a1", Hash: "hash:lk_pat_la1", UserID: alice.ID, Kind: storage.TokenKindLogin, ExpiresAt: testNow.Add(time.Hour)}
	loginA2  = storage.PersonalToken{ID: "login-a2", Hash: "hash:lk_pat_la2", UserID: alice.ID, Kind: storage.TokenKindLogin, ExpiresAt: testNow.Add(time.Hour)}
	patA     = storage.PersonalToken{ID: "pat-a", Hash: "hash:lk_pat_pa", UserID: alice.ID, Kind: storage.TokenKindPersonal, ExpiresAt: testNow.Add(time.Hour)}
	loginB   = storage.PersonalToken{ID: "login-b", Hash: "hash:lk_pat_lb", UserID: bob.ID, Kind: storage.TokenKindLogin, ExpiresAt: testNow.Add(time.Hour)}
	everyFam = []storage.Family{famA1, famA2, famB}
	everyTok = []storage.PersonalToken{loginA1, loginA2, patA, loginB}
)

// newSessionEnv is newEnv with alice's and bob's sessions and tokens.
func newSessionEnv(t *testing.T, edit ...func(*Options)) *testEnv {
	e := newEnv(t, edit...)
	for _, f := range everyFam {
		e.sessions.families[f.ID] = f
	}
	for _, tok := range everyTok {
		e.store.tokens[tok.ID] = tok
	}
	return e
}

func TestTokenLogout(t *testing.T) {
	for _, tc := range []struct {
		name         string
		principal    *Principal
		wantSessions []string
		wantTokens   []string
	}{
		{
			name:         "logging out with a login token deletes that token only",
			principal:    &Principal{User: alice, Method: "token", TokenID: "login-a1", TokenKind: storage.TokenKindLogin},
			wantSessions: []string{"fam-a1", "fam-a2", "fam-b"},
			wantTokens:   []string{"login-a2", "login-b", "pat-a"},
		},
		{
			name:         "logging out with an access token ends its session only",
			principal:    &Principal{User: alice, Method: "jwt", SessionID: "fam-a1"},
			wantSessions: []string{"fam-a2", "fam-b"},
			wantTokens:   []string{"login-a1", "login-a2", "login-b", "pat-a"},
		},
		{
			name:         "logging out with Basic credentials ends nothing",
			principal:    &Principal{User: alice, Method: "basic"},
			wantSessions: []string{"fam-a1", "fam-a2", "fam-b"},
			wantTokens:   []string{"login-a1", "login-a2", "login-b", "pat-a"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSessionEnv(t)
			if err := e.svc.TokenLogout(context.Background(), tc.principal); err != nil {
				t.Fatal(err)
			}
			if got := e.sessions.live(); !slices.Equal(got, tc.wantSessions) {
				t.Errorf("live sessions %v, want %v", got, tc.wantSessions)
			}
			if got := e.store.tokenIDs(); !slices.Equal(got, tc.wantTokens) {
				t.Errorf("tokens %v, want %v", got, tc.wantTokens)
			}
			if got := e.provider.callsTo("RevokeSubjectAccessTokens"); len(got) > 0 {
				t.Errorf("a single logout revoked every access token of %v", got)
			}
		})
	}
}

func TestLogoutAll(t *testing.T) {
	for _, tc := range []struct {
		name          string
		revokeErr     error // RevokeSubjectAccessTokens' answer
		sessionsFault error // RevokeSubject's answer
		want          error
	}{
		{name: "every session, token and access token of the caller ends"},
		{name: "a provider outage while revoking access tokens is 503", revokeErr: errStoreDown, want: ErrUnavailable},
		{name: "a token store outage is 503", sessionsFault: errors.New("redis: connection refused"), want: ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSessionEnv(t)
			e.provider.RevokeSubjectAccessTokensFn = func(context.Context, string) error { return tc.revokeErr }
			if tc.sessionsFault != nil {
				e.sessions.fail["RevokeSubject"] = tc.sessionsFault
			}
			err := e.svc.LogoutAll(context.Background(), &Principal{User: alice, Method: "jwt", SessionID: "fam-a1"})
			checkErr(t, err, tc.want)
			if tc.want != nil {
				return
			}
			if got := e.sessions.live(); !slices.Equal(got, []string{"fam-b"}) {
				t.Errorf("live sessions %v, want only bob's", got)
			}
			if got := e.store.tokenIDs(); !slices.Equal(got, []string{"login-b"}) {
				t.Errorf("tokens %v, want only bob's", got)
			}
			if got := e.provider.callsTo("RevokeSubjectAccessTokens"); !slices.Equal(got, []string{"1"}) {
				t.Errorf("RevokeSubjectAccessTokens calls %q, want alice's", got)
			}
		})
	}
}
