package provider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

// errBadLogin is the one answer to every failed password login: unknown
// user, wrong password and inactive account look the same (no enumeration).
var errBadLogin = ErrInvalidGrant.WithDescription("invalid username or password")

// passwordGrant is the resource owner password credentials grant
// (RFC 6749 §4.3): the client sends the user's login and password. The
// login is checked before the scope, so a wrong password always looks the
// same whatever scope was asked for.
type passwordGrant struct{ p *Provider }

func (passwordGrant) Type() string { return GrantPassword }

func (g passwordGrant) Token(ctx context.Context, req *TokenRequest) (*TokenResponse, error) {
	login, password := req.Form.Get("username"), req.Form.Get("password")
	if login == "" || password == "" {
		return nil, ErrInvalidRequest.WithDescription("username and password are required")
	}
	ctx = audit.WithClient(ctx, req.Client.ID)
	ctx = backends.WithClientID(ctx, req.Client.ID)
	id, err := g.p.AuthenticatePassword(ctx, login, password)
	if err != nil {
		return nil, err
	}
	scope, err := grantScope(req.Client, req.Form.Get("scope"))
	if err != nil {
		return nil, err
	}
	return g.issue(ctx, req, id, scope)
}

// AuthenticatePassword checks a login and password against the password
// backends in configured order. It is the one path every password check
// takes (the password grant, the user API's logins), so limits and
// metrics apply to all of them. The caller's address comes from the
// context (WithClientIP). Every failure that is not a store fault is
// errBadLogin (ErrInvalidGrant): unknown user, wrong password and inactive
// account look the same.
func (p *Provider) AuthenticatePassword(ctx context.Context, login, password string) (backends.Identity, error) {
	if len(login) > 320 || len(password) > 1024 {
		return backends.Identity{}, errBadLogin
	}
	// Before the password check, so a blocked login costs no argon2 run and
	// looks the same whether or not the account exists (the limiter
	// resolves the login to its account with the same lookups either way).
	// The device cookie of a user-API login (WithDevice) makes a known
	// device pass the account-wide block, and a success earns a new one.
	dev := deviceFrom(ctx)
	var devIn string
	if dev != nil {
		devIn = dev.In
	}
	att, err := p.limiter.BeginLogin(ctx, login, ClientIP(ctx), devIn)
	if err != nil {
		err = throttleErr(err)
		if errors.Is(err, ErrRateLimited) {
			p.auditLogin(ctx, audit.TypeLoginLocked, login, backends.Identity{})
		}
		return backends.Identity{}, err
	}
	// The chain (contract §7): the first backend that accepts wins; an
	// unknown login falls through to the next; a wrong password stops the
	// chain unless the backend lets it through (on_wrong_password: next);
	// a backend that fails is skipped, and if nobody accepts after a
	// failure the answer is 503: latchkey cannot say the password is wrong.
	var broken error
	for _, b := range p.passwords {
		id, res, err := p.checkPassword(ctx, b, login, password)
		if err != nil {
			p.log.WarnContext(ctx, "password backend failed", "backend", b.ID, "err", err)
			broken = errors.Join(broken, fmt.Errorf("backend %s: %w", b.ID, err))
			continue
		}
		if res == backends.Accepted {
			if id.Backend == "" {
				id.Backend = b.ID
			}
			att.Succeeded(ctx)
			if dev != nil {
				var exp time.Time
				dev.Out, exp = att.DeviceToken()
				dev.MaxAge = exp.Sub(p.now())
			}
			p.auditLogin(ctx, audit.TypeLoginSucceeded, login, id)
			return id, nil
		}
		p.obs.LoginFailed(b.ID)
		if res == backends.WrongPassword && !b.NextOnWrongPassword {
			break
		}
	}
	if broken != nil {
		return backends.Identity{}, ErrTemporarilyUnavailable.WithCause(broken)
	}
	p.auditLogin(ctx, audit.TypeLoginFailed, login, backends.Identity{})
	if err := att.Failed(ctx); err != nil {
		return backends.Identity{}, throttleErr(err)
	}
	return backends.Identity{}, errBadLogin
}

// checkPassword asks one backend, as a PasswordVerifier when it is one (a
// plain PasswordChecker's refusal is UnknownUser: the chain goes on), and
// reports the outcome and latency to the observer.
func (p *Provider) checkPassword(ctx context.Context, b PasswordBackend, login, password string) (backends.Identity, backends.Result, error) {
	if _, hashes := b.Checker.(backends.PasswordHasher); hashes {
		// A backend that hashes passwords here (local: ~19 MiB of argon2
		// memory a check) runs under a bound, so a burst of logins queues
		// instead of exhausting memory. One that asks another service (a
		// webhook) does not take a slot: it costs no CPU here, and a slow
		// service must not hold up local logins.
		select {
		case p.passwordSlots <- struct{}{}:
			defer func() { <-p.passwordSlots }()
		case <-ctx.Done():
			return backends.Identity{}, backends.UnknownUser, fmt.Errorf("wait for a password check slot: %w", ctx.Err())
		}
	}
	start := time.Now()
	var (
		id  backends.Identity
		res backends.Result
		err error
	)
	if v, ok := b.Checker.(backends.PasswordVerifier); ok {
		id, res, err = v.VerifyPassword(ctx, login, password)
	} else {
		var ok bool
		id, ok, err = b.Checker.CheckPassword(ctx, login, password)
		if ok {
			res = backends.Accepted
		}
	}
	outcome := res.String()
	if err != nil {
		outcome = "error"
	}
	if o, ok := p.obs.(BackendObserver); ok {
		o.PasswordChecked(b.ID, outcome, time.Since(start))
	}
	return id, res, err
}

// auditLogin records a password login. The login as typed is kept for
// failures (it names the account attacked); the password never is.
func (p *Provider) auditLogin(ctx context.Context, typ, login string, id backends.Identity) {
	e := audit.Event{Type: typ, Backend: id.Backend}
	if typ == audit.TypeLoginSucceeded {
		e.Subject = identitySubject(id)
	} else {
		e.Outcome = audit.OutcomeFailure
		e.Detail = map[string]string{"login": login}
	}
	p.audit.Record(ctx, e)
}

// IsBadLogin reports whether err is AuthenticatePassword's answer to wrong
// credentials (as opposed to a store fault or a rate limit).
func IsBadLogin(err error) bool { return errors.Is(err, errBadLogin) }

// identitySubject is the sub of a backend identity: the local user ID when
// the backend has an account for it.
func identitySubject(id backends.Identity) string {
	if id.UserID != 0 {
		return strconv.FormatInt(id.UserID, 10)
	}
	return id.Backend + ":" + id.Subject
}

// issue issues tokens for a checked login (RFC 6749 §4.3.3). A refresh
// token, and so a session, is issued when the client may refresh.
func (g passwordGrant) issue(ctx context.Context, req *TokenRequest, id backends.Identity, scope string) (*TokenResponse, error) {
	p := g.p
	sub, err := p.identityToSubject(ctx, id, req.Time)
	if err != nil {
		return nil, err
	}
	spec := grantSpec{
		client: req.Client, subject: sub, scope: scope, authTime: req.Time, now: req.Time,
		amr: []string{"pwd"}, idp: id.Backend,
	}
	if allowsGrant(req.Client, GrantRefreshToken) {
		if spec.family, spec.refresh, err = p.newFamily(ctx, req, sub, scope); err != nil {
			return nil, err
		}
	}
	return p.mint(ctx, spec)
}

// identityToSubject loads the local account behind an identity and records
// the login.
func (p *Provider) identityToSubject(ctx context.Context, id backends.Identity, now time.Time) (subject, error) {
	if id.UserID == 0 {
		sid := identitySubject(id)
		return subject{
			ID: sid, Username: id.Username, Email: id.Email,
			EmailVerified: id.EmailVerified, Groups: id.Groups,
			facts: groupFacts(sid, id.Username, id.Email, id.Groups),
		}, nil
	}
	sub, err := p.loadUser(ctx, id.UserID, true)
	if err != nil {
		return subject{}, err
	}
	if _, err := p.store.UpdateUser(ctx, id.UserID, func(u *storage.User) error {
		u.LastLogin = now
		return nil
	}); err != nil {
		p.log.WarnContext(ctx, "could not record last login", "user_id", id.UserID, "err", err)
	}
	return sub, nil
}
