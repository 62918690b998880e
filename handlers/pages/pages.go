// Package pages serves latchkey's hosted pages, the only HTML the server
// renders: browser sign-in (GET/POST /oauth2/authorize, /login, /consent,
// /oauth2/logout; see signin.go) and the pages the e-mailed links open
// (GET/POST /activate/{uid}/{token}, GET/POST
// /password/reset/confirm/{uid}/{token}).
//
// Templates are html/template files embedded in the binary
// (templates/*.html): layout.html is the frame of every page and each page
// file defines its "title" and "content". A folder (ui.templates) overrides
// any of them file by file; every template is parsed at start, so a broken
// override is a configuration error, never a broken page. Templates get a
// View, a plain struct, never a storage record.
//
// Every page response carries the contract's security headers
// (Content-Security-Policy, X-Content-Type-Options, Referrer-Policy,
// X-Frame-Options, Cache-Control: no-store). The one stylesheet is served
// from StylePath with a year-long cache; its URL carries a hash of its
// content, so a new version is fetched at once.
//
// Every form is protected against cross-site request forgery by a signed
// double-submit token (see CSRF): a POST without a valid token is answered
// 403 and changes nothing. GETs never change anything (mail scanners
// follow links): the activation link shows a button, and only its POST
// activates.
package pages

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/accounts"
)

// Paths of the pages. ActivatePath and ResetPath are the link patterns of
// the e-mails ({uid} and {token} filled in), under the issuer.
const (
	ActivatePath = "/activate/{uid}/{token}"
	ResetPath    = "/password/reset/confirm/{uid}/{token}"
	StylePath    = "/static/latchkey.css"
)

// Headers every page response sends (the contract's section 3), beside
// Content-Security-Policy.
var securityHeaders = map[string]string{
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"X-Frame-Options":        "DENY",
	"Cache-Control":          "no-store",
}

// baseCSP is the contract's Content-Security-Policy.
const baseCSP = "default-src 'self'; frame-ancestors 'none'"

// maxFormBytes bounds a page's form body.
const maxFormBytes = 16 << 10

//go:embed templates
var builtin embed.FS

// pageNames are the page templates; each is parsed together with
// layout.html.
var pageNames = []string{
	"activate.html", "activated.html", "reset.html", "reset_done.html", "error.html",
	"login.html", "consent.html", "logout.html", "signed_in.html", "signed_out.html",
	"device.html", "device_confirm.html", "device_done.html",
}

const (
	layoutName = "layout.html"
	styleName  = "style.css"
)

// Accounts is what the pages need of the user API: the same code djoser's
// /auth/users/activation/ and /auth/users/reset_password_confirm/ run
// (*accounts.Service).
type Accounts interface {
	Activate(ctx context.Context, in accounts.Input) error
	ResetPasswordConfirm(ctx context.Context, in accounts.Input, newField, retypeField string, retypeRequired bool) error
}

// Options configure the pages.
type Options struct {
	// Accounts activates accounts and resets passwords.
	Accounts Accounts
	// CSRF protects the forms (NewCSRF).
	CSRF *CSRF
	// ProductName and LogoURL brand every page (ui.product_name,
	// ui.logo_url); Templates is the folder of overrides (ui.templates).
	ProductName, LogoURL, Templates string
	Logger                          *slog.Logger
	// SignIn serves browser sign-in (/oauth2/authorize, /login, /consent,
	// /oauth2/logout); nil serves none of it.
	SignIn *SignIn
}

// Pages serves the hosted pages.
type Pages struct {
	opts     Options
	signIn   *SignIn
	pages    map[string]*template.Template
	style    []byte
	styleURL string
	csp      string
}

// View is what every template gets: plain values, already safe to show.
type View struct {
	// ProductName, LogoURL and StyleURL are the same on every page.
	ProductName, LogoURL, StyleURL string
	// Title and Message are the heading and text of the error page.
	Title, Message string
	// Action is the form's URL (the page's own path); CSRFToken goes in
	// its hidden csrf_token input.
	Action, CSRFToken string
	// Errors are the form's messages by field name (non_field_errors for
	// the whole form), as the user API reports them.
	Errors map[string][]string

	// Browser sign-in. Request is the kept authorization request's ID (the
	// forms' hidden "request" field); ClientName names the application;
	// Username fills the login form (login_hint, or what was typed) or
	// names who is signed in; Scopes are what the consent page asks for;
	// Backends are the other sign-in methods; Hidden are a form's other
	// hidden fields.
	// Next is where the login page goes once signed in (a local path).
	Request, ClientName, Username, Next string
	// UserCode is the device flow's user code (the device pages).
	UserCode string
	// ClientHost is the host a client described by a Client ID Metadata
	// Document comes from (its name is the client's own claim; the host is
	// what the user can trust); "" for a registered client.
	ClientHost string
	Scopes     []ScopeView
	Backends   []BackendView
	Hidden     map[string]string
}

// New parses every template (built-in, or its override in opts.Templates)
// and fails when one does not parse or the folder holds a file that
// overrides nothing.
func New(opts Options) (*Pages, error) {
	if opts.Accounts == nil || opts.CSRF == nil {
		return nil, errors.New("pages: Accounts and CSRF are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ProductName == "" {
		opts.ProductName = "latchkey"
	}
	read, err := sources(opts.Templates)
	if err != nil {
		return nil, err
	}
	p := &Pages{opts: opts, pages: map[string]*template.Template{}, csp: csp(opts.LogoURL)}
	if opts.SignIn != nil {
		si := *opts.SignIn
		if si.Provider == nil || si.Sessions == nil || si.Consents == nil {
			return nil, errors.New("pages: sign-in needs Provider, Sessions and Consents")
		}
		if si.Observer == nil {
			si.Observer = nopSignInObserver{}
		}
		if si.Audit == nil {
			si.Audit = nopAuditor{}
		}
		if si.Now == nil {
			si.Now = time.Now
		}
		if len(si.Social) > 0 && si.Identities == nil {
			return nil, errors.New("pages: social sign-in needs Identities")
		}
		if si.Backends == nil {
			for _, b := range si.Social {
				link := BackendLink{ID: b.ID(), Name: b.DisplayName()}
				if ic, ok := b.(interface{ IconURL() string }); ok {
					link.IconURL = ic.IconURL()
				}
				si.Backends = append(si.Backends, link)
			}
		}
		images := []string{opts.LogoURL}
		for _, b := range si.Backends {
			images = append(images, b.IconURL)
		}
		p.csp = csp(images...)
		si.Issuer = strings.TrimSuffix(si.Issuer, "/")
		p.signIn = &si
	}
	layout, err := read(layoutName)
	if err != nil {
		return nil, err
	}
	for _, name := range pageNames {
		src, err := read(name)
		if err != nil {
			return nil, err
		}
		t, err := template.New(layoutName).Option("missingkey=error").Parse(layout)
		if err != nil {
			return nil, fmt.Errorf("ui.templates: %s: %w", layoutName, err)
		}
		if _, err := t.New(name).Parse(src); err != nil {
			return nil, fmt.Errorf("ui.templates: %s: %w", name, err)
		}
		// A template that parses but cannot run (an unknown field) fails
		// now, not in front of a user.
		if err := t.ExecuteTemplate(&bytes.Buffer{}, layoutName, View{Errors: map[string][]string{}}); err != nil {
			return nil, fmt.Errorf("ui.templates: %s: %w", name, err)
		}
		p.pages[name] = t
	}
	style, err := read(styleName)
	if err != nil {
		return nil, err
	}
	p.style = []byte(style)
	sum := sha256.Sum256(p.style)
	p.styleURL = StylePath + "?v=" + hex.EncodeToString(sum[:6])
	return p, nil
}

// sources returns a reader of templates: the override in dir when there is
// one, else the built-in file. Files in dir that override nothing are an
// error (a misspelt name would otherwise be silently ignored).
func sources(dir string) (func(name string) (string, error), error) {
	known := map[string]bool{layoutName: true, styleName: true}
	for _, n := range pageNames {
		known[n] = true
	}
	overrides := map[string]bool{}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("ui.templates: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if !known[e.Name()] {
				names := make([]string, 0, len(known))
				for n := range known {
					names = append(names, n)
				}
				sort.Strings(names)
				return nil, fmt.Errorf("ui.templates: %s overrides no template (the templates are %s)", filepath.Join(dir, e.Name()), strings.Join(names, ", "))
			}
			overrides[e.Name()] = true
		}
	}
	return func(name string) (string, error) {
		if overrides[name] {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return "", fmt.Errorf("ui.templates: %w", err)
			}
			return string(b), nil
		}
		b, err := fs.ReadFile(builtin, "templates/"+name)
		if err != nil {
			return "", fmt.Errorf("pages: built-in %s: %w", name, err)
		}
		return string(b), nil
	}, nil
}

// csp is the contract's policy; a logo on another origin is allowed as an
// image and nothing more.
func csp(images ...string) string {
	var hosts []string
	for _, img := range images {
		u, err := url.Parse(img)
		if err != nil || u.Scheme != "https" || u.Host == "" || slices.Contains(hosts, "https://"+u.Host) {
			continue
		}
		hosts = append(hosts, "https://"+u.Host)
	}
	if len(hosts) == 0 {
		return baseCSP
	}
	return baseCSP + "; img-src 'self' " + strings.Join(hosts, " ")
}

// Register adds the pages' routes to r.
func (p *Pages) Register(r gin.IRouter) {
	r.GET(StylePath, p.serveStyle)
	g := r.Group("", p.headers)
	g.GET("/activate/:uid/:token", p.activateForm)
	g.POST("/activate/:uid/:token", p.readForm, p.activate)
	g.GET("/password/reset/confirm/:uid/:token", p.resetForm)
	g.POST("/password/reset/confirm/:uid/:token", p.readForm, p.reset)
	if p.signIn != nil {
		p.registerSignIn(g)
	}
}

// SetHeaders writes the security headers of a page.
func (p *Pages) SetHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", p.csp)
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
}

func (p *Pages) headers(c *gin.Context) {
	p.SetHeaders(c.Writer)
	c.Next()
}

func (p *Pages) serveStyle(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	c.Data(http.StatusOK, "text/css; charset=utf-8", p.style)
}

// view is a View with the branding filled in.
func (p *Pages) view() View {
	return View{ProductName: p.opts.ProductName, LogoURL: p.opts.LogoURL, StyleURL: p.styleURL, Errors: map[string][]string{}}
}

// Render writes page name with v (branding added) and status.
func (p *Pages) Render(c *gin.Context, status int, name string, v View) {
	v.ProductName, v.LogoURL, v.StyleURL = p.opts.ProductName, p.opts.LogoURL, p.styleURL
	if v.Errors == nil {
		v.Errors = map[string][]string{}
	}
	var buf bytes.Buffer
	t, ok := p.pages[name]
	if !ok {
		p.opts.Logger.ErrorContext(c.Request.Context(), "page not found", "page", name)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, layoutName, v); err != nil {
		p.opts.Logger.ErrorContext(c.Request.Context(), "page not rendered", "page", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("Something went wrong on our side. Please try again later.\n"))
		c.Abort()
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
	c.Abort()
}

// Error pages, in words a user understands.
var (
	errBadLink = View{Title: "This link does not work",
		Message: "The link is invalid or has expired, or it was already used. Ask for a new e-mail and use the newest link."}
	errCSRF = View{Title: "Please try again",
		Message: "This form has expired or was not sent from this site, so nothing was changed. Go back, reload the page and try again."}
	errBadForm = View{Title: "Please try again",
		Message: "The form could not be read, so nothing was changed. Go back, reload the page and try again."}
	errUnavailable = View{Title: "Please try again later",
		Message: "We cannot do this right now, so nothing was changed. Please try again in a few minutes."}
	errServer = View{Title: "Something went wrong",
		Message: "Something went wrong on our side. Please try again later."}
	errAlreadyActive = View{Title: "Your account is already active",
		Message: "This account was activated before. You can sign in."}
)

// readForm reads a form POST (bounded) and checks its CSRF token; a
// missing or wrong token is a 403 page and the handler does not run.
func (p *Pages) readForm(c *gin.Context) {
	if !p.parseBody(c) {
		return
	}
	if !p.opts.CSRF.Check(c.Request) {
		p.Render(c, http.StatusForbidden, "error.html", errCSRF)
		return
	}
	c.Next()
}

// readBody reads a form POST (bounded) whose CSRF token the handler checks
// itself (against the login session).
func (p *Pages) readBody(c *gin.Context) {
	if p.parseBody(c) {
		c.Next()
	}
}

func (p *Pages) parseBody(c *gin.Context) bool {
	r := c.Request
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxFormBytes)
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		p.Render(c, http.StatusUnsupportedMediaType, "error.html", errBadForm)
		return false
	}
	if err := r.ParseForm(); err != nil {
		p.Render(c, http.StatusBadRequest, "error.html", errBadForm)
		return false
	}
	return true
}

// limitBody bounds a POST body that another parser reads.
func (p *Pages) limitBody(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	c.Next()
}

// linkInput is the uid and token of a link's path.
func linkInput(c *gin.Context) map[string]any {
	return map[string]any{"uid": c.Param("uid"), "token": c.Param("token")}
}

func (p *Pages) activateForm(c *gin.Context) {
	v := p.view()
	v.Action, v.CSRFToken = c.Request.URL.EscapedPath(), p.opts.CSRF.Token(c.Writer, c.Request)
	p.Render(c, http.StatusOK, "activate.html", v)
}

func (p *Pages) activate(c *gin.Context) {
	err := p.opts.Accounts.Activate(c.Request.Context(), accounts.Input{Values: linkInput(c), Form: true})
	var fe accounts.FieldErrors
	var ae *accounts.Error
	switch {
	case err == nil:
		p.Render(c, http.StatusOK, "activated.html", p.view())
	case errors.As(err, &fe):
		p.Render(c, http.StatusBadRequest, "error.html", errBadLink)
	case errors.As(err, &ae) && ae.Status == http.StatusForbidden:
		p.Render(c, http.StatusConflict, "error.html", errAlreadyActive)
	default:
		p.fail(c, err)
	}
}

func (p *Pages) resetForm(c *gin.Context) {
	v := p.view()
	v.Action, v.CSRFToken = c.Request.URL.EscapedPath(), p.opts.CSRF.Token(c.Writer, c.Request)
	p.Render(c, http.StatusOK, "reset.html", v)
}

func (p *Pages) reset(c *gin.Context) {
	in := linkInput(c)
	for _, f := range []string{"new_password", "re_new_password"} {
		if vs, ok := c.Request.PostForm[f]; ok && len(vs) > 0 {
			in[f] = vs[0]
		}
	}
	err := p.opts.Accounts.ResetPasswordConfirm(c.Request.Context(), accounts.Input{Values: in, Form: true}, "new_password", "re_new_password", true)
	var fe accounts.FieldErrors
	switch {
	case err == nil:
		p.Render(c, http.StatusOK, "reset_done.html", p.view())
	case errors.As(err, &fe) && (fe["uid"] != nil || fe["token"] != nil):
		p.Render(c, http.StatusBadRequest, "error.html", errBadLink)
	case errors.As(err, &fe):
		v := p.view()
		v.Action, v.CSRFToken = c.Request.URL.EscapedPath(), p.opts.CSRF.Token(c.Writer, c.Request)
		for k, msgs := range fe {
			if k != "new_password" && k != "re_new_password" {
				k = accounts.NonField
			}
			v.Errors[k] = append(v.Errors[k], msgs...)
		}
		p.Render(c, http.StatusBadRequest, "reset.html", v)
	default:
		p.fail(c, err)
	}
}

// fail answers an error that is not the user's: the store is down (503),
// text the store refuses (400), anything else (500, logged).
func (p *Pages) fail(c *gin.Context, err error) {
	var ae *accounts.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusServiceUnavailable:
			c.Header("Retry-After", "1")
			p.opts.Logger.WarnContext(c.Request.Context(), "page unavailable", "route", c.FullPath(), "err", err)
			p.Render(c, http.StatusServiceUnavailable, "error.html", errUnavailable)
			return
		case ae.Status >= 400 && ae.Status < 500:
			p.Render(c, http.StatusBadRequest, "error.html", errBadForm)
			return
		}
	}
	p.opts.Logger.ErrorContext(c.Request.Context(), "page failed", "route", c.FullPath(), "err", err)
	p.Render(c, http.StatusInternalServerError, "error.html", errServer)
}
