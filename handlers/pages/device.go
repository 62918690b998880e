package pages

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/sessions"
)

// DevicePath is the device flow's verification page (RFC 8628 §3.3).
const DevicePath = "/device"

// DeviceVerifier is what the device page needs of the protocol core
// (*provider.Provider).
type DeviceVerifier interface {
	LookupUserCode(ctx context.Context, subject, userCode string) (*provider.PendingDevice, error)
	DecideUserCode(ctx context.Context, userCode string, approve bool, login provider.Login) error
}

// Messages of the device page.
const (
	msgBadUserCode   = "That code is not right, or it has expired. Check the code your device shows and try again."
	msgUsedUserCode  = "That code was already used. Start again on your device to get a new code."
	msgUserCodeLimit = "Too many wrong codes. Wait a few minutes, then try again."
)

// deviceForm is GET /device: the form where the signed-in user types the
// code their device shows (prefilled from verification_uri_complete's
// user_code, never looked up on a GET: the user confirms it by sending
// the form). Without a login session it goes to the login page first and
// comes back.
func (p *Pages) deviceForm(c *gin.Context) {
	s, err := p.signIn.Sessions.Current(c.Request.Context(), c.Request)
	if err != nil {
		p.unavailable(c, err)
		return
	}
	code := c.Query("user_code")
	if len(code) > 64 {
		code = ""
	}
	if s == nil {
		next := DevicePath
		if code != "" {
			next += "?" + url.Values{"user_code": {code}}.Encode()
		}
		p.redirect(c, LoginPath+"?"+url.Values{"next": {next}}.Encode())
		return
	}
	v := p.view()
	v.UserCode = code
	p.renderDevice(c, http.StatusOK, s, "device.html", v)
}

func (p *Pages) renderDevice(c *gin.Context, status int, s *sessions.Session, page string, v View) {
	v.Action, v.CSRFToken, v.Username = DevicePath, p.opts.CSRF.Sign(formBinding(s)), s.Username
	p.Render(c, status, page, v)
}

// device is POST /device. Without a decision it looks the typed code up
// and shows what the user would allow: the application's name and the
// scopes in words. With decision=allow or deny it records the decision,
// once. Every wrong code counts against the user's and the address's
// attempt limits (a 429 page past them), whichever step sent it.
func (p *Pages) device(c *gin.Context) {
	form := c.Request.PostForm
	ctx := c.Request.Context()
	s, err := p.signIn.Sessions.Current(ctx, c.Request)
	if err != nil {
		p.unavailable(c, err)
		return
	}
	if s == nil {
		p.Render(c, http.StatusForbidden, "error.html", errSessionEnded)
		return
	}
	if !p.opts.CSRF.Verify(formBinding(s), form.Get(CSRFField)) {
		p.Render(c, http.StatusForbidden, "error.html", errCSRF)
		return
	}
	decision, code := form.Get("decision"), form.Get("user_code")
	if decision != "" && decision != "allow" && decision != "deny" {
		p.Render(c, http.StatusBadRequest, "error.html", errBadForm)
		return
	}
	v := p.view()
	if len(code) <= 64 {
		v.UserCode = code
	}
	pending, err := p.signIn.Device.LookupUserCode(ctx, s.Subject, code)
	if err != nil {
		p.deviceFailed(c, s, v, err)
		return
	}
	if decision == "" {
		v.UserCode, v.ClientName, v.Scopes = pending.UserCode, clientName(pending.Client), scopeViews(pending.Scope)
		p.renderDevice(c, http.StatusOK, s, "device_confirm.html", v)
		return
	}
	approve := decision == "allow"
	err = p.signIn.Device.DecideUserCode(ctx, code, approve, provider.Login{
		Subject: s.Subject, AuthTime: s.AuthTime, SessionKey: s.Key, SessionID: s.ID, AMR: s.AMR,
	})
	if err != nil {
		p.deviceFailed(c, s, v, err)
		return
	}
	if approve {
		p.signIn.Audit.Record(audit.WithClient(ctx, pending.Client.ID), audit.Event{
			Type: audit.TypeConsentGranted, Subject: s.Subject,
			Detail: map[string]string{"scope": pending.Scope, "flow": "device"},
		})
	}
	v = p.view()
	v.ClientName = clientName(pending.Client)
	v.Title = "Device connected"
	v.Message = v.ClientName + " can now use your account. You can return to your device."
	if !approve {
		v.Title = "Request denied"
		v.Message = v.ClientName + " was not given access. You can close this page."
	}
	p.Render(c, http.StatusOK, "device_done.html", v)
}

// deviceFailed re-shows the code form with what went wrong.
func (p *Pages) deviceFailed(c *gin.Context, s *sessions.Session, v View, err error) {
	status, msg := http.StatusBadRequest, msgBadUserCode
	switch {
	case errors.Is(err, provider.ErrUnknownUserCode):
	case errors.Is(err, provider.ErrUserCodeDecided):
		msg = msgUsedUserCode
	case errors.Is(err, provider.ErrRateLimited):
		if e := provider.AsError(err); e.RetryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		status, msg = http.StatusTooManyRequests, msgUserCodeLimit
	default:
		p.unavailable(c, err)
		return
	}
	v.Errors["user_code"] = []string{msg}
	p.renderDevice(c, status, s, "device.html", v)
}
