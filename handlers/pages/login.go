package pages

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/sessions"
)

// BackendLink is a sign-in method of the login page besides the password
// form: a social backend's button ([data-backend=ID]) that starts its flow
// at /login/{ID}.
type BackendLink struct {
	ID, Name string
	// IconURL is an optional https image shown on the button.
	IconURL string
}

// BackendView is a BackendLink on the page, with its URL.
type BackendView struct {
	ID, Name, URL, IconURL string
}

// The login page's messages. One message for every wrong login: unknown
// user, wrong password and inactive account look the same.
const (
	msgBadLogin    = "The username or password is incorrect."
	msgEmptyLogin  = "Enter your username and password."
	msgRateLimited = "Too many sign-in attempts. Wait a few minutes, then try again."
)

// loginForm is GET /login: the login form, for a kept authorization
// request (?request=), for another page of this server (?next=, a local
// path such as /device), or to sign in to the server itself. A browser
// already signed in and without a request sees who it is signed in as (or
// goes on to next).
func (p *Pages) loginForm(c *gin.Context) {
	v := p.view()
	v.Next = localPath(c.Query("next"))
	if id := c.Query("request"); id != "" {
		pending, req := p.resume(c, id)
		if pending == nil {
			return
		}
		v.Request, v.ClientName, v.Username = pending.ID, clientName(req.Client), req.LoginHint
		v.ClientHost = req.ClientHost
	} else if s, err := p.signIn.Sessions.Current(c.Request.Context(), c.Request); err != nil {
		p.unavailable(c, err)
		return
	} else if s != nil && v.Next != "" {
		p.redirect(c, v.Next)
		return
	} else if s != nil {
		p.signedIn(c, s)
		return
	}
	p.renderLogin(c, http.StatusOK, v)
}

// localPath returns next when it is a path on this server ("/device?…"),
// else "": never another origin ("//evil.example", "https://…", "/\evil"),
// so the login page cannot be made an open redirect.
func localPath(next string) string {
	if len(next) > 1024 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\x00\r\n") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return u.String()
}

func (p *Pages) renderLogin(c *gin.Context, status int, v View) {
	v.Action, v.CSRFToken = LoginPath, p.opts.CSRF.Token(c.Writer, c.Request)
	for _, b := range p.signIn.Backends {
		u := "/login/" + url.PathEscape(b.ID)
		if v.Request != "" {
			u += "?" + url.Values{"request": {v.Request}}.Encode()
		}
		v.Backends = append(v.Backends, BackendView{ID: b.ID, Name: b.Name, URL: u, IconURL: b.IconURL})
	}
	p.Render(c, status, "login.html", v)
}

// signedIn is the page of a browser that is signed in.
func (p *Pages) signedIn(c *gin.Context, s *sessions.Session) {
	v := p.view()
	v.Username = s.Username
	v.Action, v.CSRFToken = LogoutPath, p.opts.CSRF.Sign(formBinding(s))
	p.Render(c, http.StatusOK, "signed_in.html", v)
}

// login is POST /login: the password form. It checks the password exactly
// as the password grant does (provider.AuthenticatePassword: the same
// backends, rate limits, timing and one generic error), then starts a new
// session and resumes the authorization request, if any.
func (p *Pages) login(c *gin.Context) {
	form := c.Request.PostForm
	v := p.view()
	v.Next = localPath(form.Get("next"))
	var pending *sessions.Request
	var req *provider.AuthorizeRequest
	if id := form.Get("request"); id != "" {
		if pending, req = p.resume(c, id); pending == nil {
			return
		}
		v.Request, v.ClientName, v.ClientHost = pending.ID, clientName(req.Client), req.ClientHost
	}
	login, password := form.Get("username"), form.Get("password")
	v.Username = login
	if len(v.Username) > 320 {
		v.Username = ""
	}
	if login == "" || password == "" {
		v.Errors["non_field_errors"] = []string{msgEmptyLogin}
		p.renderLogin(c, http.StatusBadRequest, v)
		return
	}
	ctx, dev := provider.DeviceContext(c.Request)
	id, err := p.signIn.Provider.AuthenticatePassword(ctx, login, password)
	var sub string
	if err == nil {
		sub, err = p.signIn.Provider.LoginSubject(ctx, id)
	}
	switch {
	case err == nil:
	case provider.IsBadLogin(err):
		p.signIn.Observer.BrowserLogin("password", "failed")
		v.Errors["non_field_errors"] = []string{msgBadLogin}
		p.renderLogin(c, http.StatusBadRequest, v)
		return
	case errors.Is(err, provider.ErrRateLimited):
		if e := provider.AsError(err); e.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		v.Errors["non_field_errors"] = []string{msgRateLimited}
		p.renderLogin(c, http.StatusTooManyRequests, v)
		return
	default:
		p.unavailable(c, err)
		return
	}
	dev.SetCookie(c.Writer, p.signIn.Secure)
	s, err := p.signIn.Sessions.Start(ctx, c.Writer, c.Request, sessions.Login{
		Subject: sub, Username: id.Username, Backend: id.Backend, AMR: []string{"pwd"},
		UserAgent: c.Request.UserAgent(), IP: c.ClientIP(),
	})
	if err != nil {
		p.unavailable(c, err)
		return
	}
	p.signIn.Observer.BrowserLogin(id.Backend, "succeeded")
	p.setHeaderCSRF(c, s)
	if pending == nil {
		next := v.Next
		if next == "" {
			next = LoginPath
		}
		p.redirect(c, next)
		return
	}
	p.proceed(c, req, pending.Params, pending, s)
}

// setHeaderCSRF sets the cookie a same-site front-end reads for the
// X-CSRFToken header of the user API (CSRFHeaderCookie).
func (p *Pages) setHeaderCSRF(c *gin.Context, s *sessions.Session) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: CSRFHeaderCookie, Value: p.opts.CSRF.Sign(headerBinding(s)), Path: "/",
		Secure: p.signIn.Secure, SameSite: http.SameSiteLaxMode,
	})
}
