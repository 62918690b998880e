package pages

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/identities"
	"github.com/latchkey-auth/latchkey/sessions"
)

// This file is sign-in at another identity provider (social backends):
//
//	GET /login/{id}           → the upstream's authorization endpoint, with
//	                            state, nonce and PKCE S256; the state is
//	                            kept and bound to this browser
//	GET /login/{id}/callback  → the code is exchanged, the ID token
//	                            verified, the identity linked to an account
//	                            (identities), a session started, and the
//	                            kept authorization request resumed
//
// The same callback finishes an explicit link started from the user API
// (StartLink).

// SocialBackend is a sign-in method at another identity provider
// (*backends/oidc.Backend).
type SocialBackend interface {
	ID() string
	DisplayName() string
	AuthCodeURL(ctx context.Context, redirectURI, state, nonce, verifier string) (string, error)
	Exchange(ctx context.Context, redirectURI, code, nonce, verifier string) (backends.Identity, error)
	Policy() backends.LinkPolicy
}

// IdentityLinker turns upstream identities into accounts
// (*identities.Service).
type IdentityLinker interface {
	SignIn(ctx context.Context, id backends.Identity, pol backends.LinkPolicy) (backends.Identity, error)
	Link(ctx context.Context, userID int64, id backends.Identity) error
}

// Error pages of social sign-in.
var (
	errUpstreamDown = View{Title: "We cannot reach that sign-in service",
		Message: "The service you chose to sign in with does not answer right now. Please try again in a few minutes, or sign in another way."}
	errUpstreamRefused = View{Title: "We could not sign you in",
		Message: "The service you chose to sign in with did not confirm who you are. Go back and try again."}
	errUpstreamState = View{Title: "This sign-in has expired",
		Message: "This sign-in was started in another browser, took too long, or was already used, so nothing was changed. Go back to the application and start again."}
	errNotLinked = View{Title: "No account for you here yet",
		Message: "You signed in, but no account here is linked to that account. Sign in with your password and link it from your account settings, or ask an administrator."}
	errLinkedElsewhere = View{Title: "This account is linked to someone else",
		Message: "The account you signed in with is already linked to another user here, so nothing was changed."}
	errUnknownBackend = View{Title: "This sign-in method does not exist",
		Message: "The link you followed names a way to sign in that is not set up here. Go back and choose another."}
)

func (p *Pages) social(id string) (SocialBackend, bool) {
	for _, b := range p.signIn.Social {
		if b.ID() == id {
			return b, true
		}
	}
	return nil, false
}

// callbackURL is the redirect URI to register at the upstream.
func (p *Pages) callbackURL(id string) string {
	return p.signIn.Issuer + "/login/" + url.PathEscape(id) + "/callback"
}

// socialStart is GET /login/{id}: off to the upstream.
func (p *Pages) socialStart(c *gin.Context) {
	b, ok := p.social(c.Param("backend"))
	if !ok {
		p.Render(c, http.StatusNotFound, "error.html", errUnknownBackend)
		return
	}
	up := sessions.Upstream{Backend: b.ID(), Next: localPath(c.Query("next"))}
	if id := c.Query("request"); id != "" {
		pending, _ := p.resume(c, id)
		if pending == nil {
			return
		}
		up.Request = pending.ID
	}
	p.goUpstream(c, b, up)
}

// goUpstream keeps the sign-in and sends the browser to the upstream.
func (p *Pages) goUpstream(c *gin.Context, b SocialBackend, up sessions.Upstream) {
	ctx := c.Request.Context()
	kept, err := p.signIn.Sessions.StartUpstream(ctx, c.Writer, c.Request, up)
	if err != nil {
		p.unavailable(c, err)
		return
	}
	to, err := b.AuthCodeURL(ctx, p.callbackURL(b.ID()), kept.State, kept.Nonce, kept.Verifier)
	if err != nil {
		p.opts.Logger.WarnContext(ctx, "upstream sign-in cannot start", "backend", b.ID(), "err", err)
		c.Header("Retry-After", "30")
		p.Render(c, http.StatusServiceUnavailable, "error.html", errUpstreamDown)
		return
	}
	p.redirect(c, to)
}

// StartLink begins linking an upstream account to the user userID (the
// user API's POST /auth/users/me/identities/{backend}/) and returns where
// the browser must go; the callback links instead of signing in. ok is
// false for an unknown backend.
func (p *Pages) StartLink(c *gin.Context, userID int64, backend string) (to string, ok bool, err error) {
	if p.signIn == nil {
		return "", false, nil
	}
	b, ok := p.social(backend)
	if !ok {
		return "", false, nil
	}
	ctx := c.Request.Context()
	kept, err := p.signIn.Sessions.StartUpstream(ctx, c.Writer, c.Request, sessions.Upstream{Backend: b.ID(), LinkUser: userID})
	if err != nil {
		return "", true, err
	}
	to, err = b.AuthCodeURL(ctx, p.callbackURL(b.ID()), kept.State, kept.Nonce, kept.Verifier)
	return to, true, err
}

// socialCallback is GET /login/{id}/callback.
func (p *Pages) socialCallback(c *gin.Context) {
	ctx := c.Request.Context()
	b, ok := p.social(c.Param("backend"))
	if !ok {
		p.Render(c, http.StatusNotFound, "error.html", errUnknownBackend)
		return
	}
	q := c.Request.URL.Query()
	up, err := p.signIn.Sessions.TakeUpstream(ctx, c.Request, b.ID(), q.Get("state"))
	if errors.Is(err, sessions.ErrNoUpstream) {
		p.opts.Logger.WarnContext(ctx, "upstream callback refused: unknown, used, expired or foreign state", "backend", b.ID())
		p.Render(c, http.StatusBadRequest, "error.html", errUpstreamState)
		return
	}
	if err != nil {
		p.unavailable(c, err)
		return
	}
	if e := q.Get("error"); e != "" {
		p.opts.Logger.InfoContext(ctx, "upstream sign-in failed or was cancelled", "backend", b.ID(), "error", safeParam(e))
		p.socialFailed(c, up, "Signing in with "+b.DisplayName()+" was cancelled or failed. Try again, or sign in another way.")
		return
	}
	id, err := b.Exchange(ctx, p.callbackURL(b.ID()), q.Get("code"), up.Nonce, up.Verifier)
	if err != nil {
		p.upstreamFailed(c, b, err)
		return
	}
	if up.LinkUser != 0 {
		p.finishLink(c, b, up, id)
		return
	}
	acct, err := p.signIn.Identities.SignIn(ctx, id, b.Policy())
	switch {
	case err == nil:
	case errors.Is(err, identities.ErrNotLinked) || errors.Is(err, identities.ErrInactive):
		p.signIn.Observer.BrowserLogin(b.ID(), "failed")
		p.Render(c, http.StatusForbidden, "error.html", errNotLinked)
		return
	default:
		p.unavailable(c, err)
		return
	}
	amr := upstreamAMR(id.Claims)
	s, err := p.signIn.Sessions.Start(ctx, c.Writer, c.Request, sessions.Login{
		Subject: strconv.FormatInt(acct.UserID, 10), Username: acct.Username, Backend: b.ID(), IDP: b.ID(), AMR: amr,
		UserAgent: c.Request.UserAgent(), IP: c.ClientIP(),
	})
	if err != nil {
		p.unavailable(c, err)
		return
	}
	p.signIn.Observer.BrowserLogin(b.ID(), "succeeded")
	p.signIn.Audit.Record(ctx, audit.Event{Type: audit.TypeLoginSucceeded, Subject: s.Subject, Backend: b.ID()})
	p.setHeaderCSRF(c, s)
	p.afterLogin(c, s, up.Request, up.Next)
}

// afterLogin resumes the kept authorization request, or goes on to next.
func (p *Pages) afterLogin(c *gin.Context, s *sessions.Session, request, next string) {
	if request == "" {
		if next == "" {
			next = LoginPath
		}
		p.redirect(c, next)
		return
	}
	pending, req := p.resume(c, request)
	if pending == nil {
		return
	}
	p.proceed(c, req, pending.Params, pending, s)
}

// finishLink links the upstream identity to the user who started the
// link (the browser binding proved it is their browser).
func (p *Pages) finishLink(c *gin.Context, b SocialBackend, up *sessions.Upstream, id backends.Identity) {
	err := p.signIn.Identities.Link(c.Request.Context(), up.LinkUser, id)
	switch {
	case err == nil:
		v := p.view()
		v.Title, v.Message = "Account linked", "You can now sign in with "+b.DisplayName()+". You can close this page."
		p.Render(c, http.StatusOK, "error.html", v)
	case errors.Is(err, identities.ErrLinkedElsewhere) || errors.Is(err, identities.ErrAlreadyLinked):
		p.Render(c, http.StatusConflict, "error.html", errLinkedElsewhere)
	default:
		p.unavailable(c, err)
	}
}

// upstreamFailed answers an exchange or verification that failed: the
// upstream's fault (503) or the answer's (400). Logged without secrets.
func (p *Pages) upstreamFailed(c *gin.Context, b SocialBackend, err error) {
	p.signIn.Observer.BrowserLogin(b.ID(), "failed")
	if errors.Is(err, backends.ErrUnavailable) {
		p.opts.Logger.WarnContext(c.Request.Context(), "upstream unavailable during sign-in", "backend", b.ID(), "err", err)
		c.Header("Retry-After", "30")
		p.Render(c, http.StatusServiceUnavailable, "error.html", errUpstreamDown)
		return
	}
	p.opts.Logger.WarnContext(c.Request.Context(), "upstream sign-in refused", "backend", b.ID(), "err", err)
	p.signIn.Audit.Record(c.Request.Context(), audit.Event{Type: audit.TypeLoginFailed, Backend: b.ID(), Detail: map[string]string{"reason": "upstream answer not valid"}})
	p.Render(c, http.StatusBadRequest, "error.html", errUpstreamRefused)
}

// socialFailed shows the login page again with a message (the kept
// request, if any, stays).
func (p *Pages) socialFailed(c *gin.Context, up *sessions.Upstream, msg string) {
	v := p.view()
	v.Request, v.Next = up.Request, up.Next
	if up.Request != "" {
		pending, req := p.resume(c, up.Request)
		if pending == nil {
			return
		}
		v.ClientName = clientName(req.Client)
	}
	v.Errors["non_field_errors"] = []string{msg}
	p.renderLogin(c, http.StatusOK, v)
}

// upstreamAMR is the upstream's amr claim, when it sent one.
func upstreamAMR(claims map[string]any) []string {
	list, _ := claims["amr"].([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok && len(s) <= 32 && len(out) < 8 {
			out = append(out, s)
		}
	}
	return out
}

// safeParam shortens a parameter an outside party chose before it is
// logged.
func safeParam(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strconv.Quote(s)
}
