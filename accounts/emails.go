package accounts

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/usertokens"
)

// E-mails the user API sends (djoser's EMAIL settings).
const (
	MailActivation              = "activation"
	MailConfirmation            = "confirmation"
	MailPasswordReset           = "password_reset"
	MailPasswordChanged         = "password_changed_confirmation"
	MailUsernameReset           = "username_reset"
	MailUsernameChanged         = "username_changed_confirmation"
	msgInvalidUID               = "Invalid user id or user doesn't exist."
	msgInvalidToken             = "Invalid token for given user."
	msgStaleToken               = "Stale token for given user."
	mailTimeout                 = 30 * time.Second
	maxMailLinkTokenFieldLength = 64
)

// Mail is one e-mail to a user: which kind, and the values of its
// template (djoser's context: uid, token, url, site name, domain,
// protocol, user).
type Mail struct {
	Kind string
	To   string
	User User
	UID  string
	// Token and URL are empty for confirmations.
	Token    string
	URL      string
	SiteName string
	Domain   string
	Protocol string
}

// Mailer sends the user API's e-mails.
type Mailer interface {
	SendMail(ctx context.Context, m Mail) error
}

// Links configures the e-mails' links and names.
type Links struct {
	ActivationURL, PasswordResetURL, UsernameResetURL string
	SiteName, Domain, Protocol                        string
	// TokenTTL is how long activation and reset links work.
	TokenTTL time.Duration
}

// send builds and sends one e-mail. It runs detached from the request (so
// an answer never waits for, or reveals, an SMTP exchange) unless wait is
// set; failures are logged.
func (s *Service) send(ctx context.Context, kind string, u storage.User, purpose, pattern string) {
	if s.opts.Mailer == nil || u.Email == "" {
		return
	}
	view, err := s.view(ctx, u)
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "mail not sent", "kind", kind, "user_id", u.ID, "err", err)
		return
	}
	l := s.opts.Links
	m := Mail{Kind: kind, To: u.Email, User: view, UID: usertokens.EncodeUID(u.ID), SiteName: l.SiteName, Domain: l.Domain, Protocol: l.Protocol}
	if purpose != "" {
		m.Token = s.opts.UserTokens.Make(purpose, u)
		m.URL = strings.NewReplacer("{uid}", m.UID, "{token}", m.Token).Replace(pattern)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailTimeout)
	done := func() {
		defer cancel()
		if err := s.opts.Mailer.SendMail(ctx, m); err != nil {
			s.opts.Logger.WarnContext(ctx, "mail not sent", "kind", kind, "user_id", u.ID, "err", err)
		}
	}
	if s.opts.SyncMail {
		done()
		return
	}
	go done()
}

// userByUID reads uid and token and loads the user; the errors are
// djoser's field messages.
func (s *Service) userByUID(ctx context.Context, r *reader) (storage.User, string, error) {
	uid, okU := r.str("uid", true, false, maxMailLinkTokenFieldLength)
	token, okT := r.str("token", true, false, maxMailLinkTokenFieldLength)
	if !okU || !okT {
		return storage.User{}, "", nil // reported by r
	}
	id, err := usertokens.DecodeUID(uid)
	if err != nil {
		r.errs.add("uid", msgInvalidUID)
		return storage.User{}, "", nil
	}
	u, err := s.opts.Store.GetUser(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		r.errs.add("uid", msgInvalidUID)
		return storage.User{}, "", nil
	}
	if err != nil {
		return storage.User{}, "", storeErr("get user", err)
	}
	return u, token, nil
}

// Activate is djoser's users/activation/: uid and token from the
// activation e-mail; the account becomes active and its e-mail verified.
func (s *Service) Activate(ctx context.Context, in Input) error {
	r := newReader(in)
	u, token, err := s.userByUID(ctx, r)
	if err != nil {
		return err
	}
	if err := r.done(); err != nil {
		return err
	}
	if u.IsActive {
		return &Error{Status: 403, Detail: msgStaleToken}
	}
	if !s.pendingActivation(u) || !s.opts.UserTokens.Check(purposeActivation, u, token) {
		return fieldError("token", msgInvalidToken)
	}
	saved, err := s.opts.Store.UpdateUser(ctx, u.ID, func(x *storage.User) error {
		x.IsActive, x.EmailVerified = true, true
		return nil
	})
	if err != nil {
		return storeErr("activate user", err)
	}
	s.opts.Tokens.ForgetUser(u.ID)
	s.send(ctx, MailConfirmation, saved, "", "")
	return nil
}

// userByEmail reads "email" and finds an account for it; no account is
// not an error (the answer must not say whether one exists).
func (s *Service) userByEmail(ctx context.Context, in Input) (storage.User, bool, error) {
	r := newReader(in)
	email, ok := r.str("email", true, false, 254)
	if ok && !validEmail(email) {
		r.errs.add("email", msgEmail)
	}
	if err := r.done(); err != nil {
		return storage.User{}, false, err
	}
	// Every request for a mail counts, whether or not an account has the
	// address (rate_limit.mail): nobody floods a mailbox.
	if err := s.opts.MailLimiter.CountMail(ctx, email); err != nil {
		return storage.User{}, false, providerErr(err, ErrUnavailable)
	}
	u, err := s.opts.Store.UserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, false, nil
	}
	if err != nil {
		return storage.User{}, false, storeErr("user by email", err)
	}
	return u, true, nil
}

// ResendActivation is users/resend_activation/: an inactive account gets
// the activation e-mail again; the answer is the same either way.
func (s *Service) ResendActivation(ctx context.Context, in Input) error {
	u, found, err := s.userByEmail(ctx, in)
	if err != nil || !found || !s.pendingActivation(u) {
		return err
	}
	s.send(ctx, MailActivation, u, purposeActivation, s.opts.Links.ActivationURL)
	return nil
}

// pendingActivation reports whether an account is waiting for its
// activation link: registration by activation, and the account neither
// active nor verified. A user staff deactivated has a verified address
// (activating verified it), so no link brings the account back: only
// staff can.
func (s *Service) pendingActivation(u storage.User) bool {
	return s.opts.Registration == RegistrationActivation && !u.IsActive && !u.EmailVerified
}

// ResetPassword is users/reset_password/: an active account gets a reset
// link; the answer is the same whether or not one exists.
func (s *Service) ResetPassword(ctx context.Context, in Input) error {
	u, found, err := s.userByEmail(ctx, in)
	if err != nil || !found || !u.IsActive {
		return err
	}
	s.send(ctx, MailPasswordReset, u, purposePasswordReset, s.opts.Links.PasswordResetURL)
	return nil
}

// SendPasswordReset is staff sending a user the reset e-mail.
func (s *Service) SendPasswordReset(ctx context.Context, p *Principal, id int64) error {
	if !p.Staff() {
		return ErrForbidden
	}
	u, err := s.writable(ctx, p, id)
	if err != nil {
		return err
	}
	if u.Email == "" {
		return fieldError(NonField, "The user has no e-mail address.")
	}
	s.send(ctx, MailPasswordReset, u, purposePasswordReset, s.opts.Links.PasswordResetURL)
	return nil
}

// ResetPasswordConfirm is users/reset_password_confirm/: uid, token and
// the new password. The token works once (the new password kills it) and
// expires; every session and token of the user ends.
func (s *Service) ResetPasswordConfirm(ctx context.Context, in Input, newField, retypeField string, retypeRequired bool) error {
	r := newReader(in)
	u, token, err := s.userByUID(ctx, r)
	if err != nil {
		return err
	}
	pw, _ := r.str(newField, true, false, 1024)
	retype, hasRetype := r.str(retypeField, s.opts.Retype.PasswordResetConfirm || retypeRequired, false, 1024)
	if err := r.done(); err != nil {
		return err
	}
	if !s.opts.UserTokens.Check(purposePasswordReset, u, token) {
		return fieldError("token", msgInvalidToken)
	}
	if hasRetype && retype != pw {
		return fieldError(NonField, msgPasswordMatch)
	}
	// The link was checked against u's password hash: it is spent if the
	// hash changed since (a concurrent use of the same link).
	if err := s.setPasswordIf(ctx, u, pw, newField, func(x storage.User) bool { return x.PasswordHash == u.PasswordHash }); err != nil {
		return err
	}
	s.auditUser(ctx, audit.TypeUserPasswordReset, u.ID, nil)
	if err := s.endEverything(ctx, u.ID); err != nil {
		return err
	}
	if saved, err := s.opts.Store.GetUser(ctx, u.ID); err == nil {
		s.send(ctx, MailPasswordChanged, saved, "", "")
	}
	return nil
}

// ResetUsername is users/reset_username/: a reset link by e-mail.
func (s *Service) ResetUsername(ctx context.Context, in Input) error {
	u, found, err := s.userByEmail(ctx, in)
	if err != nil || !found || !u.IsActive {
		return err
	}
	s.send(ctx, MailUsernameReset, u, purposeUsernameReset, s.opts.Links.UsernameResetURL)
	return nil
}

// ResetUsernameConfirm is users/reset_username_confirm/: uid, token and
// new_username.
func (s *Service) ResetUsernameConfirm(ctx context.Context, in Input) error {
	r := newReader(in)
	u, token, err := s.userByUID(ctx, r)
	if err != nil {
		return err
	}
	v, _ := r.str("new_username", true, false, 150)
	retype, hasRetype := r.str("re_new_username", s.opts.Retype.UsernameResetConfirm, false, 150)
	typed := v
	if v != "" && r.errs["new_username"] == nil {
		var msg string
		if v, msg = s.usernameProblem(v); msg != "" {
			r.errs.add("new_username", msg)
		} else if taken, err := s.taken(ctx, v, u.ID); err != nil {
			return err
		} else if taken {
			r.errs.add("new_username", msgUsernameTaken)
		}
	}
	if err := r.done(); err != nil {
		return err
	}
	if !s.opts.UserTokens.Check(purposeUsernameReset, u, token) {
		return fieldError("token", msgInvalidToken)
	}
	if hasRetype && retype != typed && NormalizeUsername(retype) != v {
		return fieldError(NonField, "The two username fields didn't match.")
	}
	if err := s.saveField(ctx, u.ID, func(x *storage.User) { x.Username = v }); err != nil {
		return err
	}
	if saved, err := s.opts.Store.GetUser(ctx, u.ID); err == nil {
		s.send(ctx, MailUsernameChanged, saved, "", "")
	}
	return nil
}

// VerifyEmailKey is dj-rest-auth's registration/verify-email/: the key is
// "<uid>:<token>" of the activation e-mail.
func (s *Service) VerifyEmailKey(ctx context.Context, in Input) error {
	r := newReader(in)
	key, _ := r.str("key", true, false, 2*maxMailLinkTokenFieldLength+1)
	if err := r.done(); err != nil {
		return err
	}
	uid, token, ok := strings.Cut(key, ":")
	if !ok {
		return fieldError("key", "Invalid key.")
	}
	err := s.Activate(ctx, Input{Values: map[string]any{"uid": uid, "token": token}})
	var fe FieldErrors
	if errors.As(err, &fe) {
		return fieldError("key", "Invalid key.")
	}
	return err
}
