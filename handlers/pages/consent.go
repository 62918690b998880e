package pages

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/sessions"
)

// consentForm is GET /consent?request=: the application's name, the
// scopes it asks for in words, and the allow and deny buttons. The form's
// CSRF token is bound to the login session.
func (p *Pages) consentForm(c *gin.Context) {
	s, ok := p.consentSession(c)
	if !ok {
		return
	}
	pending, req := p.resume(c, c.Query("request"))
	if pending == nil {
		return
	}
	p.renderConsent(c, s, pending, req)
}

func (p *Pages) renderConsent(c *gin.Context, s *sessions.Session, pending *sessions.Request, req *provider.AuthorizeRequest) {
	v := p.view()
	v.Action, v.CSRFToken = ConsentPath, p.opts.CSRF.Sign(formBinding(s))
	v.Request, v.ClientName, v.Username = pending.ID, clientName(req.Client), s.Username
	v.ClientHost = req.ClientHost
	v.Scopes = scopeViews(req.Scope)
	p.Render(c, http.StatusOK, "consent.html", v)
}

// consentSession is the session the consent page acts for. Without one,
// a request still kept goes back through the login page.
func (p *Pages) consentSession(c *gin.Context) (*sessions.Session, bool) {
	s, err := p.signIn.Sessions.Current(c.Request.Context(), c.Request)
	if err != nil {
		p.unavailable(c, err)
		return nil, false
	}
	if s == nil {
		id := c.Query("request")
		if c.Request.Method == http.MethodPost {
			id = c.Request.PostForm.Get("request")
		}
		if id == "" {
			p.Render(c, http.StatusBadRequest, "error.html", errNoRequest)
			return nil, false
		}
		p.redirect(c, LoginPath+"?"+url.Values{"request": {id}}.Encode())
		return nil, false
	}
	return s, true
}

// consent is POST /consent: decision=allow remembers the consent and
// answers the client with a code; decision=deny answers access_denied.
func (p *Pages) consent(c *gin.Context) {
	form := c.Request.PostForm
	s, err := p.signIn.Sessions.Current(c.Request.Context(), c.Request)
	if err != nil {
		p.unavailable(c, err)
		return
	}
	if s == nil {
		// A form of a session that ended changes nothing.
		p.Render(c, http.StatusForbidden, "error.html", errSessionEnded)
		return
	}
	if !p.opts.CSRF.Verify(formBinding(s), form.Get(CSRFField)) {
		p.Render(c, http.StatusForbidden, "error.html", errCSRF)
		return
	}
	decision := form.Get("decision")
	if decision != "allow" && decision != "deny" {
		p.Render(c, http.StatusBadRequest, "error.html", errBadForm)
		return
	}
	pending, req := p.resume(c, form.Get("request"))
	if pending == nil {
		return
	}
	ctx := c.Request.Context()
	if decision == "deny" {
		p.finishWithError(c, req, pending, provider.ErrAccessDenied.WithDescription("the user denied the request"))
		return
	}
	scopes := strings.Fields(req.Scope)
	// A metadata-document client is never stored, so its consent is not
	// remembered either: the user is asked each time (needsConsent).
	if req.ClientHost == "" {
		if _, err := p.signIn.Consents.GrantConsent(ctx, s.Subject, req.Client.ID, scopes, p.now()); err != nil {
			p.unavailable(c, err)
			return
		}
	}
	p.signIn.Audit.Record(audit.WithClient(ctx, req.Client.ID), audit.Event{
		Type: audit.TypeConsentGranted, Subject: s.Subject, Detail: map[string]string{"scope": req.Scope},
	})
	p.issue(c, req, pending, s)
}
