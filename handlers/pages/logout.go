package pages

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/sessions"
)

// logout is GET and POST /oauth2/logout (OpenID Connect RP-Initiated
// Logout 1.0). A relying party's request (id_token_hint,
// post_logout_redirect_uri, state, client_id) is checked by the provider;
// one it cannot trust is an error page, never a redirect. The session ends
// at once when the hint names the signed-in user; otherwise the user is
// asked to confirm (decision=logout, with a CSRF token bound to the
// session), so that a link on another site cannot sign anybody out.
func (p *Pages) logout(c *gin.Context) {
	ctx := c.Request.Context()
	params := url.Values{}
	src := c.Request.URL.Query()
	if c.Request.Method == http.MethodPost {
		src = c.Request.PostForm
	}
	for k, v := range src {
		if k != CSRFField && k != "decision" {
			params[k] = v
		}
	}
	lr, err := p.signIn.Provider.ParseLogout(ctx, params)
	if err != nil {
		if provider.AsError(err).Status >= 500 {
			p.unavailable(c, err)
			return
		}
		v := errBadLogout
		p.Render(c, http.StatusBadRequest, "error.html", v)
		return
	}
	s, err := p.signIn.Sessions.Current(ctx, c.Request)
	if err != nil {
		p.unavailable(c, err)
		return
	}
	if s == nil {
		p.signedOut(c, lr)
		return
	}
	confirmed := c.Request.Method == http.MethodPost && src.Get("decision") == "logout"
	if confirmed && !p.opts.CSRF.Verify(formBinding(s), src.Get(CSRFField)) {
		p.Render(c, http.StatusForbidden, "error.html", errCSRF)
		return
	}
	if !confirmed && (lr.Hint == nil || lr.Hint.Subject != s.Subject) {
		p.confirmLogout(c, s, lr)
		return
	}
	if err := p.signIn.Sessions.End(ctx, c.Writer, s, p.signIn.LogoutRevokesTokens); err != nil {
		p.unavailable(c, err)
		return
	}
	e := audit.Event{Type: audit.TypeLogout, Subject: s.Subject, Detail: map[string]string{"sid": s.ID}}
	if lr.Client != nil {
		ctx = audit.WithClient(ctx, lr.Client.ID)
	}
	p.signIn.Audit.Record(ctx, e)
	p.signedOut(c, lr)
}

// confirmLogout asks the user to confirm the logout; the form carries the
// request's parameters (checked again when it comes back).
func (p *Pages) confirmLogout(c *gin.Context, s *sessions.Session, lr *provider.LogoutRequest) {
	v := p.view()
	v.Action, v.CSRFToken, v.Username = LogoutPath, p.opts.CSRF.Sign(formBinding(s)), s.Username
	v.Hidden = map[string]string{}
	if lr.Client != nil {
		v.ClientName = clientName(lr.Client)
		v.Hidden["client_id"] = lr.Client.ID
	}
	if lr.RedirectURI != "" {
		v.Hidden["post_logout_redirect_uri"] = lr.RedirectURI
	}
	if lr.State != "" {
		v.Hidden["state"] = lr.State
	}
	p.Render(c, http.StatusOK, "logout.html", v)
}

// signedOut sends the browser to the relying party's registered address,
// or shows that the user is signed out.
func (p *Pages) signedOut(c *gin.Context, lr *provider.LogoutRequest) {
	if to := lr.RedirectURL(); to != "" {
		p.redirect(c, to)
		return
	}
	p.Render(c, http.StatusOK, "signed_out.html", p.view())
}
