package accounts

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// User is the user object of the API (contract section 4).
type User struct {
	ID            int64          `json:"id"`
	Username      string         `json:"username"`
	Email         string         `json:"email"`
	FirstName     string         `json:"first_name"`
	LastName      string         `json:"last_name"`
	IsActive      bool           `json:"is_active"`
	IsStaff       bool           `json:"is_staff"`
	IsSuperuser   bool           `json:"is_superuser"`
	EmailVerified bool           `json:"email_verified"`
	DateJoined    time.Time      `json:"date_joined"`
	LastLogin     *time.Time     `json:"last_login"`
	Groups        []string       `json:"groups"`
	Profile       map[string]any `json:"profile"`
}

func (s *Service) view(ctx context.Context, u storage.User) (User, error) {
	gs, err := s.opts.Store.UserGroups(ctx, u.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return User{}, storeErr("load groups", err)
	}
	names := make([]string, 0, len(gs))
	for _, g := range gs {
		names = append(names, g.Name)
	}
	sort.Strings(names)
	v := User{
		ID: u.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
		IsActive: u.IsActive, IsStaff: u.IsStaff, IsSuperuser: u.IsSuperuser, EmailVerified: u.EmailVerified,
		DateJoined: apiTime(u.DateJoined), Groups: names, Profile: u.Profile,
	}
	if !u.LastLogin.IsZero() {
		t := apiTime(u.LastLogin)
		v.LastLogin = &t
	}
	if v.Profile == nil {
		v.Profile = map[string]any{}
	}
	return v, nil
}

// apiTime is a time as the API shows it: UTC, to the millisecond, the
// precision every store keeps, so an answer does not change on a re-read.
func apiTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

const (
	msgUsernameTaken = "A user with that username already exists."
	msgEmailTaken    = "user with this email address already exists."
	msgPasswordMatch = "The two password fields didn't match."
	msgInvalidPass   = "Invalid password."
)

// Register is djoser's POST /users/: a new account, active unless
// registration needs activation (then the activation e-mail goes out).
// Staff may register users when registration is closed. The password and
// its retyped copy come in the named fields (dj-rest-auth's route uses
// password1/password2 and always requires the copy).
func (s *Service) Register(ctx context.Context, caller *Principal, in Input, passwordField, retypeField string, retypeRequired bool) (User, error) {
	staff := caller != nil && caller.Staff()
	if s.opts.Registration == RegistrationClosed && !staff {
		return User{}, ErrForbidden
	}
	r := newReader(in)
	u := storage.User{IsActive: s.opts.Registration != RegistrationActivation || staff}
	emailRequired := s.loginField("email")
	usernameRequired := s.loginField("username") || !r.has("email")
	u.Username, _ = r.str("username", usernameRequired, false, 150)
	u.Email, _ = r.str("email", emailRequired, !emailRequired, 254)
	if u.Username == "" && !usernameRequired {
		u.Username = u.Email
	}
	u.FirstName, _ = r.str("first_name", false, true, 150)
	u.LastName, _ = r.str("last_name", false, true, 150)
	password, _ := r.str(passwordField, true, false, 1024)
	retype, hasRetype := r.str(retypeField, s.opts.Retype.UserCreatePassword || retypeRequired, false, 1024)
	profile, hasProfile := r.object("profile")
	if err := s.checkIdentity(ctx, r, &u, 0, ""); err != nil {
		return User{}, err
	}
	if hasProfile {
		s.checkProfile(r, profile)
		u.Profile = profile
	}
	if err := r.done(); err != nil {
		return User{}, err
	}
	if hasRetype && retype != password {
		return User{}, fieldError(NonField, msgPasswordMatch)
	}
	if msgs := s.opts.Passwords.Validate(password, u); len(msgs) > 0 {
		return User{}, FieldErrors{passwordField: msgs}
	}
	hash, err := s.opts.HashPassword(password)
	if err != nil {
		return User{}, fieldError(passwordField, "This password cannot be used.")
	}
	now := s.now()
	u.PasswordHash, u.DateJoined, u.PasswordChangedAt = hash, now, now
	if err := s.opts.Store.CreateUser(ctx, &u); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return User{}, fieldError(NonField, "A user with that username or email address already exists.")
		}
		return User{}, storeErr("create user", err)
	}
	if !u.IsActive {
		stored, err := s.opts.Store.GetUser(ctx, u.ID)
		if err != nil {
			return User{}, storeErr("get user", err)
		}
		s.send(ctx, MailActivation, stored, purposeActivation, s.opts.Links.ActivationURL)
	}
	s.auditUser(ctx, audit.TypeUserCreated, u.ID, map[string]string{"username": u.Username})
	return s.view(ctx, u)
}

// checkIdentity validates username and e-mail (already read) and their
// uniqueness against users other than self. A username other than the
// current one (cur) is normalised in u (NFKC) and must not mix scripts; the
// current one is left as it is, so existing users are unaffected.
func (s *Service) checkIdentity(ctx context.Context, r *reader, u *storage.User, self int64, cur string) error {
	if u.Username != "" && u.Username != cur && !(u.Username == u.Email && validEmail(u.Email)) {
		v, msg := s.usernameProblem(u.Username)
		u.Username = v
		if msg != "" && r.errs["username"] == nil {
			r.errs.add("username", msg)
		}
	}
	if u.Username != "" && r.errs["username"] == nil {
		if !validUsername(u.Username) && !(u.Username == u.Email && validEmail(u.Email)) {
			r.errs.add("username", msgUsername)
		} else if taken, err := s.taken(ctx, u.Username, self); err != nil {
			return err
		} else if taken {
			r.errs.add("username", msgUsernameTaken)
		}
	}
	if u.Email != "" && r.errs["email"] == nil {
		if !validEmail(u.Email) {
			r.errs.add("email", msgEmail)
		} else if taken, err := s.taken(ctx, u.Email, self); err != nil {
			return err
		} else if taken {
			r.errs.add("email", msgEmailTaken)
		}
	}
	return nil
}

func (s *Service) checkProfile(r *reader, profile map[string]any) {
	if s.opts.Profile == nil {
		return
	}
	for path, msgs := range s.opts.Profile.Validate(profile) {
		key := "profile"
		if path != "" {
			key = "profile." + path
		}
		for _, m := range msgs {
			r.errs.add(key, m)
		}
	}
}

// ListUsers is djoser's GET /users/: staff see everyone (with search),
// others only themselves. It returns one page and the total.
func (s *Service) ListUsers(ctx context.Context, p *Principal, search string, offset, limit int) ([]User, int, error) {
	if !p.Staff() {
		if offset > 0 {
			return []User{}, 1, nil
		}
		v, err := s.view(ctx, p.User)
		if err != nil {
			return nil, 0, err
		}
		return []User{v}, 1, nil
	}
	search = cutText(search, 150)
	list, total, err := s.opts.Store.ListUsers(ctx, storage.UserQuery{Search: search, Offset: offset, Limit: limit})
	if err != nil {
		return nil, 0, storeErr("list users", err)
	}
	out := make([]User, 0, len(list))
	for _, u := range list {
		v, err := s.view(ctx, u)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, nil
}

// target loads the user a request is about: the caller, or (for staff) any
// user. Another user is Not found for non-staff, so IDs are not probed.
func (s *Service) target(ctx context.Context, p *Principal, id int64) (storage.User, error) {
	if id == p.User.ID {
		return p.User, nil
	}
	if !p.Staff() {
		return storage.User{}, ErrNotFound
	}
	u, err := s.opts.Store.GetUser(ctx, id)
	if err != nil {
		return storage.User{}, storeErr("get user", err)
	}
	return u, nil
}

// writable loads a user the caller may change: the caller, or for staff
// another user — but only a superuser changes a superuser, so staff cannot
// take over a superuser's account.
func (s *Service) writable(ctx context.Context, p *Principal, id int64) (storage.User, error) {
	u, err := s.target(ctx, p, id)
	if err != nil {
		return storage.User{}, err
	}
	if u.ID != p.User.ID && u.IsSuperuser && !p.User.IsSuperuser {
		return storage.User{}, ErrForbidden
	}
	return u, nil
}

// GetUser is GET /users/{id}/ and /users/me/.
func (s *Service) GetUser(ctx context.Context, p *Principal, id int64) (User, error) {
	u, err := s.target(ctx, p, id)
	if err != nil {
		return User{}, err
	}
	return s.view(ctx, u)
}

// UpdateUser is PUT/PATCH /users/{id}/ and /users/me/. Owners change
// their names and profile; staff also e-mail, username, is_active and
// groups; superusers is_staff and is_superuser. The login fields change
// through set_username / set_email for owners, as djoser has them
// read-only. Read-only fields are ignored, unknown ones refused.
func (s *Service) UpdateUser(ctx context.Context, p *Principal, id int64, in Input, partial bool) (User, error) {
	cur, err := s.writable(ctx, p, id)
	if err != nil {
		return User{}, err
	}
	staff, super := p.Staff(), p.User.IsSuperuser
	r := newReader(in)
	r.ignore("id", "date_joined", "last_login", "email_verified")
	next := cur
	if v, ok := r.str("first_name", false, true, 150); ok {
		next.FirstName = v
	}
	if v, ok := r.str("last_name", false, true, 150); ok {
		next.LastName = v
	}
	if prof, ok := r.object("profile"); ok {
		s.checkProfile(r, prof)
		next.Profile = prof
	}
	var groups []string
	setGroups := false
	if staff {
		if v, ok := r.str("username", false, false, 150); ok {
			next.Username = v
		}
		if v, ok := r.str("email", false, true, 254); ok {
			if !strings.EqualFold(v, cur.Email) {
				next.EmailVerified = false
			}
			next.Email = v
		}
		if v, ok := r.boolean("is_active"); ok {
			next.IsActive = v
		}
		if v, ok := r.strList("groups", 150); ok {
			groups, setGroups = v, true
		}
	} else {
		r.ignore("username", "email", "is_active", "groups")
	}
	if super {
		if v, ok := r.boolean("is_staff"); ok {
			next.IsStaff = v
		}
		if v, ok := r.boolean("is_superuser"); ok {
			next.IsSuperuser = v
		}
	} else {
		r.ignore("is_staff", "is_superuser")
	}
	if !partial && staff && !r.has("username") {
		r.errs.add("username", "This field is required.")
	}
	if next.ID == p.User.ID && cur.IsActive && !next.IsActive {
		r.errs.add("is_active", "You cannot deactivate your own account here; delete it with current_password.")
	}
	if next.Username != cur.Username || !strings.EqualFold(next.Email, cur.Email) {
		if next.Email == "" && s.loginField("email") && !s.loginField("username") {
			r.errs.add("email", "This field may not be blank.")
		}
		if err := s.checkIdentity(ctx, r, &next, cur.ID, cur.Username); err != nil {
			return User{}, err
		}
	}
	if setGroups {
		for _, g := range groups {
			if _, err := s.opts.Store.GetGroup(ctx, g); errors.Is(err, storage.ErrNotFound) {
				r.errs.add("groups", `Object with name="`+g+`" does not exist.`)
			} else if err != nil {
				return User{}, storeErr("get group", err)
			}
		}
	}
	if err := r.done(); err != nil {
		return User{}, err
	}
	// Only what this request changed is written, over the stored record, so
	// a concurrent change to another field is not undone.
	saved, err := s.opts.Store.UpdateUser(ctx, cur.ID, func(u *storage.User) error {
		if next.Username != cur.Username {
			u.Username = next.Username
		}
		if next.Email != cur.Email {
			u.Email, u.EmailVerified = next.Email, next.EmailVerified
		}
		if next.FirstName != cur.FirstName {
			u.FirstName = next.FirstName
		}
		if next.LastName != cur.LastName {
			u.LastName = next.LastName
		}
		if r.has("profile") {
			u.Profile = next.Profile
		}
		if next.IsActive != cur.IsActive {
			u.IsActive = next.IsActive
		}
		if next.IsStaff != cur.IsStaff {
			u.IsStaff = next.IsStaff
		}
		if next.IsSuperuser != cur.IsSuperuser {
			u.IsSuperuser = next.IsSuperuser
		}
		return nil
	})
	if errors.Is(err, storage.ErrConflict) {
		return User{}, fieldError(NonField, "A user with that username or email address already exists.")
	}
	if err != nil {
		return User{}, storeErr("update user", err)
	}
	if setGroups {
		if err := s.opts.Store.SetUserGroups(ctx, cur.ID, groups); err != nil {
			return User{}, storeErr("set groups", err)
		}
	}
	s.opts.Tokens.ForgetUser(cur.ID)
	s.auditUser(ctx, audit.TypeUserUpdated, cur.ID, changedFields(cur, saved, setGroups))
	if cur.IsActive && !saved.IsActive {
		// A deactivated account keeps no session and no token.
		if err := s.endEverything(ctx, cur.ID); err != nil {
			return User{}, err
		}
	}
	return s.view(ctx, saved)
}

// endEverything ends every session and token of the user: on
// deactivation, deletion, a password reset and a password set by staff.
// Access tokens issued without a session end too (see
// Tokens.RevokeSubjectAccessTokens). set_password's "revoke other
// sessions" does not come here: such a mark cannot spare the caller's own
// token when it has no session.
func (s *Service) endEverything(ctx context.Context, userID int64) error {
	if _, err := s.opts.Sessions.RevokeSubject(ctx, subjectOf(userID), s.now()); err != nil {
		return storeErr("revoke sessions", err)
	}
	if _, err := s.opts.Store.DeleteUserPersonalTokens(ctx, userID, ""); err != nil {
		return storeErr("delete tokens", err)
	}
	if err := s.opts.Tokens.RevokeSubjectAccessTokens(ctx, subjectOf(userID)); err != nil {
		return storeErr("revoke access tokens", err)
	}
	return nil
}

// verifyCurrent checks the caller's current password through the password
// backends (and so their brute-force limits).
func (s *Service) verifyCurrent(ctx context.Context, p *Principal, r *reader) error {
	current, ok := r.str("current_password", true, false, 1024)
	if !ok {
		return nil // reported by r
	}
	login := p.User.Username
	if !s.loginField("username") {
		login = p.User.Email
	}
	id, err := s.opts.Authenticator.AuthenticatePassword(ctx, login, current)
	if err == nil && id.UserID == p.User.ID {
		return nil
	}
	if err != nil && !provider.IsBadLogin(err) {
		return providerErr(err, ErrUnavailable)
	}
	r.errs.add("current_password", msgInvalidPass)
	return nil
}

// DeleteUser is DELETE /users/{id}/ and /users/me/: current_password (the
// caller's) is required, as djoser has it.
func (s *Service) DeleteUser(ctx context.Context, p *Principal, id int64, in Input) error {
	u, err := s.writable(ctx, p, id)
	if err != nil {
		return err
	}
	r := newReader(in)
	if err := s.verifyCurrent(ctx, p, r); err != nil {
		return err
	}
	if err := r.done(); err != nil {
		return err
	}
	if err := s.endEverything(ctx, u.ID); err != nil {
		return err
	}
	if err := s.opts.Store.DeleteUser(ctx, u.ID); err != nil {
		return storeErr("delete user", err)
	}
	s.opts.Tokens.ForgetUser(u.ID)
	s.auditUser(ctx, audit.TypeUserDeleted, u.ID, map[string]string{"username": u.Username})
	return nil
}

// SetPassword is djoser's set_password (new_password1/2 names are passed
// by dj-rest-auth's route): the current password must match, the new one
// pass the policy; other sessions end when configured.
func (s *Service) SetPassword(ctx context.Context, p *Principal, in Input, newField, retypeField string, needCurrent bool) error {
	r := newReader(in)
	if needCurrent {
		if err := s.verifyCurrent(ctx, p, r); err != nil {
			return err
		}
	}
	pw, _ := r.str(newField, true, false, 1024)
	retype, hasRetype := r.str(retypeField, s.opts.Retype.SetPassword || !needCurrent, false, 1024)
	if err := r.done(); err != nil {
		return err
	}
	if hasRetype && retype != pw {
		return fieldError(NonField, msgPasswordMatch)
	}
	if err := s.setPassword(ctx, p.User, pw, newField); err != nil {
		return err
	}
	s.auditUser(ctx, audit.TypeUserPasswordChanged, p.User.ID, nil)
	if s.opts.RevokeSessionsOnPasswordChange {
		return s.revokeOtherSessions(ctx, p)
	}
	return nil
}

// setPassword validates and stores a new password.
func (s *Service) setPassword(ctx context.Context, u storage.User, pw, field string) error {
	return s.setPasswordIf(ctx, u, pw, field, nil)
}

// errStale aborts an update whose precondition no longer holds.
var errStale = errors.New("the record changed meanwhile")

// setPasswordIf is setPassword that saves only if unchanged(stored) holds
// for the record as it is in the transaction; otherwise the answer is an
// invalid token. A reset link checks the password hash it was made for
// there, so of concurrent uses of one link exactly one sets a password.
func (s *Service) setPasswordIf(ctx context.Context, u storage.User, pw, field string, unchanged func(storage.User) bool) error {
	if msgs := s.opts.Passwords.Validate(pw, u); len(msgs) > 0 {
		return FieldErrors{field: msgs}
	}
	hash, err := s.opts.HashPassword(pw)
	if err != nil {
		return fieldError(field, "This password cannot be used.")
	}
	_, err = s.opts.Store.UpdateUser(ctx, u.ID, func(x *storage.User) error {
		if unchanged != nil && !unchanged(*x) {
			return errStale
		}
		x.PasswordHash, x.PasswordChangedAt = hash, s.now()
		return nil
	})
	if errors.Is(err, errStale) {
		return fieldError("token", msgInvalidToken)
	}
	if err != nil {
		return storeErr("set password", err)
	}
	return nil
}

// AdminSetPassword is staff setting a user's password
// (POST /auth/users/{id}/set_password/ by staff): new_password only; the
// user's sessions and tokens end.
func (s *Service) AdminSetPassword(ctx context.Context, p *Principal, id int64, in Input) error {
	if !p.Staff() {
		return ErrForbidden
	}
	u, err := s.writable(ctx, p, id)
	if err != nil {
		return err
	}
	r := newReader(in)
	pw, _ := r.str("new_password", true, false, 1024)
	if err := r.done(); err != nil {
		return err
	}
	if err := s.setPassword(ctx, u, pw, "new_password"); err != nil {
		return err
	}
	s.auditUser(ctx, audit.TypeUserPasswordChanged, u.ID, map[string]string{"by": "staff"})
	if u.ID == p.User.ID {
		return s.revokeOtherSessions(ctx, p)
	}
	return s.endEverything(ctx, u.ID)
}

// SetUsername is djoser's set_username: current_password and new_username
// (re_new_username when configured).
func (s *Service) SetUsername(ctx context.Context, p *Principal, in Input) error {
	r := newReader(in)
	if err := s.verifyCurrent(ctx, p, r); err != nil {
		return err
	}
	v, _ := r.str("new_username", true, false, 150)
	retype, hasRetype := r.str("re_new_username", s.opts.Retype.SetUsername, false, 150)
	typed := v
	if v != "" && r.errs["new_username"] == nil {
		var msg string
		if v, msg = s.usernameProblem(v); msg != "" {
			r.errs.add("new_username", msg)
		} else if taken, err := s.taken(ctx, v, p.User.ID); err != nil {
			return err
		} else if taken {
			r.errs.add("new_username", msgUsernameTaken)
		}
	}
	if err := r.done(); err != nil {
		return err
	}
	if hasRetype && retype != typed && NormalizeUsername(retype) != v {
		return fieldError(NonField, "The two username fields didn't match.")
	}
	if err := s.saveField(ctx, p.User.ID, func(u *storage.User) { u.Username = v }); err != nil {
		return err
	}
	s.auditUser(ctx, audit.TypeUserUpdated, p.User.ID, map[string]string{"fields": "username"})
	return nil
}

// SetEmail is set_email: current_password and new_email. The new address
// is not verified yet.
func (s *Service) SetEmail(ctx context.Context, p *Principal, in Input) error {
	r := newReader(in)
	if err := s.verifyCurrent(ctx, p, r); err != nil {
		return err
	}
	v, _ := r.str("new_email", true, false, 254)
	retype, hasRetype := r.str("re_new_email", false, false, 254)
	if v != "" && r.errs["new_email"] == nil {
		if !validEmail(v) {
			r.errs.add("new_email", msgEmail)
		} else if taken, err := s.taken(ctx, v, p.User.ID); err != nil {
			return err
		} else if taken {
			r.errs.add("new_email", msgEmailTaken)
		}
	}
	if err := r.done(); err != nil {
		return err
	}
	if hasRetype && retype != v {
		return fieldError(NonField, "The two email fields didn't match.")
	}
	err := s.saveField(ctx, p.User.ID, func(u *storage.User) {
		if !strings.EqualFold(u.Email, v) {
			u.EmailVerified = false
		}
		u.Email = v
	})
	if err != nil {
		return err
	}
	s.auditUser(ctx, audit.TypeUserUpdated, p.User.ID, map[string]string{"fields": "email"})
	return nil
}

func (s *Service) saveField(ctx context.Context, id int64, fn func(*storage.User)) error {
	_, err := s.opts.Store.UpdateUser(ctx, id, func(u *storage.User) error { fn(u); return nil })
	if errors.Is(err, storage.ErrConflict) {
		return fieldError(NonField, "A user with that username or email address already exists.")
	}
	if err != nil {
		return storeErr("update user", err)
	}
	s.opts.Tokens.ForgetUser(id)
	return nil
}

// taken reports whether a user other than self logs in with value, as a
// username or as an e-mail address. Both are checked for a new username
// and for a new address alike, so one string never names two accounts:
// otherwise a username equal to someone's address would take over their
// e-mail login (logins try usernames first).
func (s *Service) taken(ctx context.Context, value string, self int64) (bool, error) {
	for _, find := range []func(context.Context, string) (storage.User, error){
		s.opts.Store.UserByUsername, s.opts.Store.UserByEmail,
	} {
		other, err := find(ctx, value)
		switch {
		case err == nil && other.ID != self:
			return true, nil
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return false, storeErr("look up login", err)
		}
	}
	return false, nil
}

// changedFields names, for the audit event, the fields an update changed
// (never their values: a profile may hold anything).
func changedFields(cur, next storage.User, groups bool) map[string]string {
	var f []string
	for _, c := range []struct {
		name    string
		changed bool
	}{
		{"username", cur.Username != next.Username}, {"email", cur.Email != next.Email},
		{"first_name", cur.FirstName != next.FirstName}, {"last_name", cur.LastName != next.LastName},
		{"is_active", cur.IsActive != next.IsActive}, {"is_staff", cur.IsStaff != next.IsStaff},
		{"is_superuser", cur.IsSuperuser != next.IsSuperuser}, {"profile", !reflect.DeepEqual(cur.Profile, next.Profile)},
		{"groups", groups},
	} {
		if c.changed {
			f = append(f, c.name)
		}
	}
	return map[string]string{"fields": strings.Join(f, ",")}
}
