package pages

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/sessions"
	"github.com/latchkey-auth/latchkey/storage"
)

// This file is browser sign-in: the authorization endpoint and the pages it
// sends the browser through. The flow (RFC 6749 §4.1, OIDC Core §3.1):
//
//	GET /oauth2/authorize  → checked by the provider; an untrustworthy
//	                          client or redirect URI is an error page,
//	                          every other error goes back to the client
//	  no session, or too old  → the request is kept (sessions.Request) and
//	                          the browser goes to /login?request=ID
//	  no consent yet          → /consent?request=ID
//	  otherwise               → a code, back to the client
//
// A kept request is checked again in full when it resumes, and answered
// once: finishing it deletes it, so a second answer finds nothing.

// Paths of browser sign-in.
const (
	AuthorizePath = "/oauth2/authorize"
	LoginPath     = "/login"
	ConsentPath   = "/consent"
	LogoutPath    = "/oauth2/logout"
)

// CSRFHeaderCookie is the cookie a same-site front-end reads to send the
// X-CSRFToken header with unsafe requests it authenticates with the login
// session (as Django's csrftoken; axios and Angular send it by default
// when configured for Django). It is not HttpOnly, by design: it is worth
// nothing without the session cookie, which is.
const CSRFHeaderCookie = "csrftoken"

// SignInProvider is what browser sign-in needs of the protocol core
// (*provider.Provider).
type SignInProvider interface {
	ParseAuthorize(ctx context.Context, r *http.Request) (*provider.AuthorizeRequest, error)
	ParseAuthorizeParams(ctx context.Context, params url.Values) (*provider.AuthorizeRequest, error)
	AuthorizeErrorURL(req *provider.AuthorizeRequest, err error) string
	IssueCode(ctx context.Context, req *provider.AuthorizeRequest, login provider.Login) (string, error)
	AuthenticatePassword(ctx context.Context, login, password string) (backends.Identity, error)
	LoginSubject(ctx context.Context, id backends.Identity) (string, error)
	ParseLogout(ctx context.Context, q url.Values) (*provider.LogoutRequest, error)
}

// Consents is what the consent page needs of storage.Consents.
type Consents interface {
	GrantConsent(ctx context.Context, subject, clientID string, scopes []string, now time.Time) (storage.Consent, error)
	GetConsent(ctx context.Context, subject, clientID string) (storage.Consent, error)
}

// SignInObserver counts sign-in events (*metrics.Registry).
type SignInObserver interface {
	Authorize(outcome string)
	BrowserLogin(backend, result string)
}

// Auditor records audit events (*audit.Recorder).
type Auditor interface {
	Record(ctx context.Context, e audit.Event)
}

// SignIn configures browser sign-in.
type SignIn struct {
	Provider SignInProvider
	Sessions *sessions.Manager
	Consents Consents
	// Social are the sign-in methods at other identity providers, in the
	// login page's order; Identities links their identities to accounts.
	// Issuer is the server's issuer URL (the upstreams' redirect URIs).
	Social     []SocialBackend
	Identities IdentityLinker
	Issuer     string
	// Device serves the device flow's verification page (/device); nil
	// leaves the page out.
	Device DeviceVerifier
	// Backends are the login page's other sign-in methods (social
	// backends), in order; by default one per Social backend.
	Backends []BackendLink
	// Observer and Audit may be nil.
	Observer SignInObserver
	Audit    Auditor
	// LogoutRevokesTokens: a logout also revokes the refresh tokens issued
	// from the session (sessions.logout_revokes_tokens).
	LogoutRevokesTokens bool
	// Secure sets the Secure flag of cookies (an https issuer).
	Secure bool
	Now    func() time.Time
}

type nopSignInObserver struct{}

func (nopSignInObserver) Authorize(string)            {}
func (nopSignInObserver) BrowserLogin(string, string) {}

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, audit.Event) {}

// Outcomes of an authorization request (metrics).
const (
	outcomeCode    = "code"
	outcomeLogin   = "login"
	outcomeConsent = "consent"
	outcomeError   = "error"
	outcomeRefused = "refused"
)

// ScopeView is one requested scope on the consent page.
type ScopeView struct {
	Name, Description string
}

// scopeWords are the standard scopes in words a user understands.
var scopeWords = map[string]string{
	"openid":         "Know who you are (your user ID)",
	"profile":        "See your name and username",
	"email":          "See your e-mail address",
	"offline_access": "Stay signed in and act for you while you are away",
	"groups":         "See which groups you belong to",
}

func scopeViews(scope string) []ScopeView {
	var out []ScopeView
	for _, s := range strings.Fields(scope) {
		d, ok := scopeWords[s]
		if !ok {
			d = "Use the permission “" + s + "”"
		}
		out = append(out, ScopeView{Name: s, Description: d})
	}
	return out
}

// Error pages of sign-in.
var (
	errBadAuthorize = View{Title: "This sign-in link does not work",
		Message: "The application that sent you here is not registered with us, or asked to send you back to an address it has not registered. Nothing was shared with it. Go back to the application and try again, or tell its owner."}
	errNoRequest = View{Title: "This sign-in has expired",
		Message: "This sign-in page was open for too long, or it was already used. Go back to the application and start again."}
	errSessionEnded = View{Title: "You are signed out",
		Message: "Your session has ended, so nothing was changed. Go back to the application and start again."}
	errBadLogout = View{Title: "This sign-out link does not work",
		Message: "The application that sent you here gave us a sign-out request we cannot trust, so you were not sent anywhere. You can close this page or sign out below."}
)

// registerSignIn adds the routes of browser sign-in.
func (p *Pages) registerSignIn(g gin.IRoutes) {
	g.GET(AuthorizePath, p.authorize)
	g.POST(AuthorizePath, p.limitBody, p.authorize)
	g.GET(LoginPath, p.loginForm)
	g.POST(LoginPath, p.readForm, p.login)
	g.GET(ConsentPath, p.consentForm)
	g.POST(ConsentPath, p.readBody, p.consent)
	g.GET("/login/:backend", p.socialStart)
	g.GET("/login/:backend/callback", p.socialCallback)
	g.GET(LogoutPath, p.logout)
	g.POST(LogoutPath, p.readBody, p.logout)
	if p.signIn.Device != nil {
		g.GET(DevicePath, p.deviceForm)
		g.POST(DevicePath, p.readBody, p.device)
	}
}

func (p *Pages) now() time.Time { return p.signIn.Now() }

// Session returns the browser's login session (nil when it has none): the
// user API authenticates requests with it.
func (p *Pages) Session(r *http.Request) (*sessions.Session, error) {
	if p.signIn == nil {
		return nil, nil
	}
	return p.signIn.Sessions.Current(r.Context(), r)
}

// CheckCSRFHeader reports whether an unsafe request authenticated by the
// session s carries its CSRF token in X-CSRFToken (the value of the
// CSRFHeaderCookie cookie), as Django's SessionAuthentication asks.
func (p *Pages) CheckCSRFHeader(r *http.Request, s *sessions.Session) bool {
	return p.opts.CSRF.Verify(headerBinding(s), r.Header.Get("X-CSRFToken"))
}

func headerBinding(s *sessions.Session) string { return "session-header:" + s.Key }
func formBinding(s *sessions.Session) string   { return "session-form:" + s.Key }

// authorize is GET and POST /oauth2/authorize.
func (p *Pages) authorize(c *gin.Context) {
	ctx := c.Request.Context()
	req, err := p.signIn.Provider.ParseAuthorize(ctx, c.Request)
	if err != nil {
		p.authorizeFailed(c, req, err)
		return
	}
	// ParseAuthorize left the checked parameters in r.Form.
	params := url.Values{}
	for k, v := range c.Request.Form {
		params[k] = v
	}
	s, err := p.signIn.Sessions.Current(ctx, c.Request)
	if err != nil {
		p.authorizeFailed(c, req, provider.ErrTemporarilyUnavailable.WithCause(err))
		return
	}
	p.proceed(c, req, params, nil, s)
}

// authorizeFailed answers an authorization request that cannot go on:
// without a trustworthy request (nil req) an error page, else the error
// goes back to the client.
func (p *Pages) authorizeFailed(c *gin.Context, req *provider.AuthorizeRequest, err error) {
	if req == nil {
		p.signIn.Observer.Authorize(outcomeRefused)
		e := provider.AsError(err)
		if e.Status >= 500 {
			p.unavailable(c, err)
			return
		}
		v := errBadAuthorize
		var de *provider.MetadataDocumentError
		if errors.As(err, &de) {
			v = View{Title: errBadAuthorize.Title, ClientHost: de.Host,
				Message: "The application that sent you here describes itself in a document at " + de.Host + ", and that document cannot be used: " + de.Reason + ". Nothing was shared with it. Tell the application's owner."}
		}
		p.Render(c, http.StatusBadRequest, "error.html", v)
		return
	}
	if e := provider.AsError(err); e.Status >= 500 {
		p.opts.Logger.WarnContext(c.Request.Context(), "authorization request failed", "client_id", req.Client.ID, "err", err)
	}
	p.signIn.Observer.Authorize(outcomeError)
	p.redirect(c, p.signIn.Provider.AuthorizeErrorURL(req, err))
}

// proceed takes a checked authorization request as far as it can go with
// the session s (nil: none): to the login page, to the consent page, or
// back to the client with a code. pending is the kept request it resumes,
// nil on the first visit.
func (p *Pages) proceed(c *gin.Context, req *provider.AuthorizeRequest, params url.Values, pending *sessions.Request, s *sessions.Session) {
	ctx := c.Request.Context()
	if p.needsLogin(req, pending, s) {
		if req.HasPrompt(provider.PromptNone) {
			p.finishWithError(c, req, pending, provider.ErrLoginRequired)
			return
		}
		p.park(c, params, pending, LoginPath, outcomeLogin)
		return
	}
	consent, err := p.needsConsent(ctx, req, s)
	if err != nil {
		p.finishWithError(c, req, pending, provider.ErrTemporarilyUnavailable.WithCause(err))
		return
	}
	if consent {
		if req.HasPrompt(provider.PromptNone) {
			p.finishWithError(c, req, pending, provider.ErrConsentRequired)
			return
		}
		p.park(c, params, pending, ConsentPath, outcomeConsent)
		return
	}
	p.issue(c, req, pending, s)
}

// needsLogin decides whether the user must sign in (again): no session, a
// forced login (prompt=login) or one older than max_age — unless the
// session's login happened after this request was parked, i.e. for it.
func (p *Pages) needsLogin(req *provider.AuthorizeRequest, pending *sessions.Request, s *sessions.Session) bool {
	if s == nil {
		return true
	}
	if pending != nil && !s.AuthTime.Before(pending.CreatedAt) {
		return false
	}
	return req.NeedsLogin(s.AuthTime, p.now())
}

// needsConsent decides whether the consent page must be shown: always for
// prompt=consent, never for a first-party client (skip_consent), else
// unless the user already allowed every requested scope to the client.
func (p *Pages) needsConsent(ctx context.Context, req *provider.AuthorizeRequest, s *sessions.Session) (bool, error) {
	if req.HasPrompt(provider.PromptConsent) {
		return true, nil
	}
	if req.Client.SkipConsent && !req.Client.Registered { // a registered client is third-party, always
		return false, nil
	}
	if req.ClientHost != "" {
		return true, nil // a metadata-document client: consent is not remembered
	}
	got, err := p.signIn.Consents.GetConsent(ctx, s.Subject, req.Client.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, sc := range strings.Fields(req.Scope) {
		if !slices.Contains(got.Scopes, sc) {
			return true, nil
		}
	}
	return false, nil
}

// park keeps the request (once) and sends the browser to page.
func (p *Pages) park(c *gin.Context, params url.Values, pending *sessions.Request, page, outcome string) {
	if pending == nil {
		var err error
		if pending, err = p.signIn.Sessions.SaveRequest(c.Request.Context(), params); err != nil {
			p.unavailable(c, err)
			return
		}
	}
	p.signIn.Observer.Authorize(outcome)
	p.redirect(c, page+"?"+url.Values{"request": {pending.ID}}.Encode())
}

// issue answers the request with a code for the session's user.
func (p *Pages) issue(c *gin.Context, req *provider.AuthorizeRequest, pending *sessions.Request, s *sessions.Session) {
	ctx := c.Request.Context()
	if !p.finish(c, pending) {
		return
	}
	to, err := p.signIn.Provider.IssueCode(ctx, req, provider.Login{
		Subject: s.Subject, AuthTime: s.AuthTime, SessionKey: s.Key, SessionID: s.ID, AMR: s.AMR, IDP: s.IDP,
	})
	if err != nil {
		p.authorizeFailed(c, req, err)
		return
	}
	p.signIn.Observer.Authorize(outcomeCode)
	p.redirect(c, to)
}

// finishWithError answers the request with an error for the client.
func (p *Pages) finishWithError(c *gin.Context, req *provider.AuthorizeRequest, pending *sessions.Request, err error) {
	if !p.finish(c, pending) {
		return
	}
	p.authorizeFailed(c, req, err)
}

// finish forgets a kept request before it is answered; false (the page is
// written) when it was answered already: a request is answered once.
func (p *Pages) finish(c *gin.Context, pending *sessions.Request) bool {
	if pending == nil {
		return true
	}
	err := p.signIn.Sessions.FinishRequest(c.Request.Context(), pending.ID)
	switch {
	case errors.Is(err, sessions.ErrNoRequest):
		p.Render(c, http.StatusBadRequest, "error.html", errNoRequest)
		return false
	case err != nil:
		p.unavailable(c, err)
		return false
	}
	return true
}

// resume loads a kept request named by the "request" parameter and checks
// it again. It writes the answer and returns nil when it cannot go on.
func (p *Pages) resume(c *gin.Context, id string) (*sessions.Request, *provider.AuthorizeRequest) {
	ctx := c.Request.Context()
	pending, err := p.signIn.Sessions.Request(ctx, id)
	if errors.Is(err, sessions.ErrNoRequest) {
		p.Render(c, http.StatusBadRequest, "error.html", errNoRequest)
		return nil, nil
	}
	if err != nil {
		p.unavailable(c, err)
		return nil, nil
	}
	req, err := p.signIn.Provider.ParseAuthorizeParams(ctx, pending.Params)
	if err != nil {
		if req != nil {
			p.finishWithError(c, req, pending, err)
		} else {
			p.authorizeFailed(c, nil, err)
		}
		return nil, nil
	}
	return pending, req
}

// redirect sends the browser on: 302 after a GET, 303 after a POST (so the
// next request is a GET, RFC 9110 §15.4.4).
func (p *Pages) redirect(c *gin.Context, to string) {
	status := http.StatusFound
	if c.Request.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	c.Redirect(status, to)
	c.Abort()
}

// unavailable is the page of a store fault.
func (p *Pages) unavailable(c *gin.Context, err error) {
	c.Header("Retry-After", "1")
	p.opts.Logger.WarnContext(c.Request.Context(), "page unavailable", "route", c.FullPath(), "err", err)
	p.Render(c, http.StatusServiceUnavailable, "error.html", errUnavailable)
}

// clientName is how a client is named to users.
func clientName(cl *storage.Client) string {
	if cl.Name != "" {
		return cl.Name
	}
	return cl.ID
}
