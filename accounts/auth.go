package accounts

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// Principal is who made a request, and with what.
type Principal struct {
	User storage.User
	// Method is "jwt" (an access token), "token" (a personal or login
	// token) or "basic".
	Method string
	// SessionID is the refresh family of the access token, if any.
	SessionID string
	// TokenID and TokenKind name the personal token used, if any.
	TokenID   string
	TokenKind string
	// TokenScope and TokenExpiry are the personal token's, if any: a
	// token never makes another that can do more or live longer.
	TokenScope  string
	TokenExpiry time.Time
	// AdminKey is the admin API key used (Method "admin_key"); User is then
	// a stand-in superuser with ID 0.
	AdminKey *storage.AdminKey
}

// Actor names the principal in audit events: the user or the admin key.
func (p *Principal) Actor() string {
	if p.AdminKey != nil {
		return audit.KeyActor(p.AdminKey.ID)
	}
	return audit.UserActor(p.User.ID)
}

// Staff reports whether the principal may use the admin API.
func (p *Principal) Staff() bool { return p.User.IsStaff || p.User.IsSuperuser }

// Authenticate checks an Authorization header: "Bearer <jwt|opaque|lk_pat_>",
// "JWT <jwt>", "Token <lk_pat_>", or "Basic" when enabled. An empty or
// unknown scheme is ErrNotAuthenticated, as DRF answers.
func (s *Service) Authenticate(ctx context.Context, header string) (*Principal, error) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(header), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Bearer") && cred != "":
		if provider.IsAdminKey(cred) {
			// Admin API keys authorize /admin/ (AuthenticateAdmin) only.
			return nil, ErrTokenNotValid
		}
		if provider.IsPersonalToken(cred) {
			return s.authPersonal(ctx, cred, ErrTokenNotValid)
		}
		return s.authAccess(ctx, cred)
	case strings.EqualFold(scheme, "JWT") && cred != "":
		return s.authAccess(ctx, cred)
	case strings.EqualFold(scheme, "Token") && cred != "":
		return s.authPersonal(ctx, cred, ErrInvalidKnoxToken)
	case strings.EqualFold(scheme, "Basic") && cred != "" && s.opts.BasicAuth:
		return s.authBasic(ctx, cred)
	}
	return nil, ErrNotAuthenticated
}

func (s *Service) authAccess(ctx context.Context, raw string) (*Principal, error) {
	if len(raw) > 8192 {
		return nil, ErrTokenNotValid
	}
	info, err := s.opts.Authenticator.VerifyAccessToken(ctx, raw)
	if err != nil {
		return nil, providerErr(err, ErrTokenNotValid)
	}
	uid, ok := info.UserID()
	if !ok {
		// A valid token a client got for itself: authenticated, but no
		// user may act with it.
		return nil, ErrForbidden
	}
	if info.ClientID != s.opts.FirstPartyClient && !hasScope(info.Scope, provider.ScopeAPI) {
		// Another client's token: valid, but not for latchkey's own API
		// unless that client was granted provider.ScopeAPI.
		return nil, ErrForbidden
	}
	u, err := s.activeUser(ctx, uid)
	if err != nil {
		return nil, err
	}
	return &Principal{User: u, Method: "jwt", SessionID: info.SessionID}, nil
}

func (s *Service) authPersonal(ctx context.Context, raw string, bad *Error) (*Principal, error) {
	if !provider.IsPersonalToken(raw) || len(raw) > 512 {
		return nil, bad
	}
	hash := s.opts.Authenticator.HashSecret(raw)
	tok, err := s.opts.Store.PersonalToken(ctx, hash, s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, storeErr("look up personal token", err)
	}
	// The store found it by hash; compare again in constant time so no
	// index behaviour decides alone.
	if subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(hash)) != 1 {
		return nil, bad
	}
	u, err := s.activeUser(ctx, tok.UserID)
	if err != nil {
		if errors.Is(err, ErrUserInactive) {
			return nil, bad
		}
		return nil, err
	}
	if tok.Scope != "" && !hasScope(tok.Scope, provider.ScopeAPI) {
		// A personal token narrowed to other scopes is for resource
		// servers, not for managing the account.
		return nil, ErrForbidden
	}
	return &Principal{
		User: u, Method: "token", TokenID: tok.ID, TokenKind: tok.Kind,
		TokenScope: tok.Scope, TokenExpiry: tok.ExpiresAt,
	}, nil
}

func (s *Service) authBasic(ctx context.Context, cred string) (*Principal, error) {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return nil, ErrBadBasic
	}
	login, password, ok := strings.Cut(string(raw), ":")
	if !ok {
		return nil, ErrBadBasic
	}
	id, err := s.opts.Authenticator.AuthenticatePassword(ctx, login, password)
	if err != nil {
		return nil, providerErr(err, ErrBadBasic)
	}
	if id.UserID == 0 {
		return nil, ErrBadBasic
	}
	u, err := s.activeUser(ctx, id.UserID)
	if err != nil {
		return nil, ErrBadBasic
	}
	return &Principal{User: u, Method: "basic"}, nil
}

// activeUser loads a user who may act: deleted is the token's fault,
// inactive is ErrUserInactive.
func (s *Service) activeUser(ctx context.Context, id int64) (storage.User, error) {
	u, err := s.opts.Store.GetUser(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, ErrTokenNotValid
	}
	if err != nil {
		return storage.User{}, storeErr("load user", err)
	}
	if !u.IsActive {
		return storage.User{}, ErrUserInactive
	}
	return u, nil
}

// loginFrom reads the login of a credentials body: the login fields
// ("username" and/or "email"), any one of them.
func (s *Service) loginFrom(r *reader) (string, bool) {
	var present []string
	for _, f := range s.opts.LoginFields {
		if r.has(f) {
			present = append(present, f)
		}
	}
	if len(present) == 0 {
		r.str(s.opts.LoginFields[0], true, false, 320) // "This field is required."
		for _, f := range s.opts.LoginFields[1:] {
			r.ignore(f)
		}
		return "", false
	}
	for _, f := range s.opts.LoginFields {
		r.ignore(f)
	}
	return r.str(present[0], true, false, 320)
}

// checkCredentials reads login and password from a body and checks them.
// bad is the answer to wrong ones.
func (s *Service) checkCredentials(ctx context.Context, in Input, bad error) (backends.Identity, error) {
	r := newReader(in)
	login, _ := s.loginFrom(r)
	password, _ := r.str("password", true, false, 1024)
	if err := r.done(); err != nil {
		return backends.Identity{}, err
	}
	id, err := s.opts.Authenticator.AuthenticatePassword(ctx, login, password)
	if err != nil {
		if provider.IsBadLogin(err) {
			return backends.Identity{}, bad
		}
		return backends.Identity{}, providerErr(err, ErrNoActiveAccount)
	}
	return id, nil
}

// JWTPair is SimpleJWT's token pair.
type JWTPair struct {
	Access  string `json:"access"`
	Refresh string `json:"refresh,omitempty"`
}

// CreateJWT is SimpleJWT's TokenObtainPairView: a login gets an access and
// a refresh token of the first-party client.
func (s *Service) CreateJWT(ctx context.Context, in Input, userAgent string) (JWTPair, error) {
	id, err := s.checkCredentials(ctx, in, ErrNoActiveAccount)
	if err != nil {
		return JWTPair{}, err
	}
	resp, err := s.opts.Tokens.IssueUserTokens(ctx, s.opts.FirstPartyClient, id, userAgent)
	if err != nil {
		return JWTPair{}, providerErr(err, ErrNoActiveAccount)
	}
	return JWTPair{Access: resp.AccessToken, Refresh: resp.RefreshToken}, nil
}

// RefreshJWT is SimpleJWT's TokenRefreshView with ROTATE_REFRESH_TOKENS:
// the refresh token is rotated as at /oauth2/token.
func (s *Service) RefreshJWT(ctx context.Context, in Input, field, userAgent string) (JWTPair, error) {
	r := newReader(in)
	raw, _ := r.str(field, true, false, 512)
	if err := r.done(); err != nil {
		return JWTPair{}, err
	}
	resp, err := s.opts.Tokens.RefreshUserTokens(ctx, s.opts.FirstPartyClient, raw, userAgent)
	if err != nil {
		return JWTPair{}, providerErr(err, ErrTokenInvalid)
	}
	return JWTPair{Access: resp.AccessToken, Refresh: resp.RefreshToken}, nil
}

// VerifyJWT is SimpleJWT's TokenVerifyView: any valid token of ours issued
// to the first-party client (SimpleJWT knows no other).
func (s *Service) VerifyJWT(ctx context.Context, in Input, field string) error {
	r := newReader(in)
	raw, _ := r.str(field, true, false, 8192)
	if err := r.done(); err != nil {
		return err
	}
	return providerErr(s.opts.Tokens.VerifyUserToken(ctx, s.opts.FirstPartyClient, raw), ErrTokenInvalid)
}

// BlacklistJWT is SimpleJWT's TokenBlacklistView: the session of the
// first-party client's refresh token is revoked; another client's token is
// answered as an invalid one and nothing is revoked.
func (s *Service) BlacklistJWT(ctx context.Context, in Input) error {
	r := newReader(in)
	raw, _ := r.str("refresh", true, false, 512)
	if err := r.done(); err != nil {
		return err
	}
	return providerErr(s.opts.Tokens.RevokeRefreshToken(ctx, s.opts.FirstPartyClient, raw), ErrTokenInvalid)
}

// msgBadLogin is djoser's TokenCreateSerializer answer.
const msgBadLogin = "Unable to log in with provided credentials."

// TokenLogin is djoser's /token/login/ (knox's LoginView): a login gets an
// opaque, expiring login token.
func (s *Service) TokenLogin(ctx context.Context, in Input) (string, error) {
	id, err := s.checkCredentials(ctx, in, fieldError(NonField, msgBadLogin))
	if err != nil {
		return "", err
	}
	if id.UserID == 0 {
		return "", fieldError(NonField, msgBadLogin)
	}
	raw, _, err := s.newPersonalToken(ctx, id.UserID, storage.TokenKindLogin, "login", "", s.opts.LoginTokenTTL)
	if err != nil {
		return "", err
	}
	if _, err := s.opts.Store.UpdateUser(ctx, id.UserID, func(u *storage.User) error {
		u.LastLogin = s.now()
		return nil
	}); err != nil {
		s.opts.Logger.WarnContext(ctx, "could not record last login", "user_id", id.UserID, "err", err)
	}
	return raw, nil
}

// TokenLogout is /token/logout/: the credential of the request is revoked
// (the login or personal token, or the access token's session).
func (s *Service) TokenLogout(ctx context.Context, p *Principal) error {
	switch {
	case p.TokenID != "":
		err := s.opts.Store.DeletePersonalToken(ctx, p.User.ID, p.TokenID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return storeErr("delete token", err)
		}
	case p.SessionID != "":
		if err := s.opts.Sessions.RevokeFamily(ctx, p.SessionID, s.now()); err != nil {
			return storeErr("revoke session", err)
		}
	}
	return nil
}

// LogoutAll is /token/logoutall/: every token and session of the caller
// is revoked, and so are the access tokens issued without a session.
func (s *Service) LogoutAll(ctx context.Context, p *Principal) error {
	if _, err := s.opts.Store.DeleteUserPersonalTokens(ctx, p.User.ID, ""); err != nil {
		return storeErr("delete tokens", err)
	}
	if _, err := s.opts.Sessions.RevokeSubject(ctx, subjectOf(p.User.ID), s.now()); err != nil {
		return storeErr("revoke sessions", err)
	}
	if err := s.opts.Tokens.RevokeSubjectAccessTokens(ctx, subjectOf(p.User.ID)); err != nil {
		return storeErr("revoke access tokens", err)
	}
	s.opts.Audit.Record(ctx, audit.Event{
		Type: audit.TypeSessionRevoked, Subject: subjectOf(p.User.ID), Detail: map[string]string{"session": "all"},
	})
	return nil
}

// hasScope reports whether a space-separated scope list holds want.
func hasScope(scope, want string) bool { return slices.Contains(strings.Fields(scope), want) }

// ErrCSRFFailed answers an unsafe request authenticated by the login
// session without its X-CSRFToken header, as Django's
// SessionAuthentication does.
var ErrCSRFFailed = &Error{Status: http.StatusForbidden, Detail: "CSRF Failed: CSRF token missing or incorrect."}

// AuthenticateSession admits the user of a browser's login session (the
// hosted pages' cookie): subject is the session's user, sessionID its
// public ID. An inactive or deleted user is not authenticated.
func (s *Service) AuthenticateSession(ctx context.Context, subject, sessionID string) (*Principal, error) {
	uid, err := strconv.ParseInt(subject, 10, 64)
	if err != nil || uid <= 0 {
		return nil, ErrNotAuthenticated
	}
	u, err := s.activeUser(ctx, uid)
	if err != nil {
		if errors.Is(err, ErrUserInactive) || errors.Is(err, ErrTokenNotValid) {
			return nil, ErrNotAuthenticated
		}
		return nil, err
	}
	return &Principal{User: u, Method: "session", SessionID: sessionID}, nil
}
