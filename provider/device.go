package provider

import (
	"context"
	"net/http"
	"time"
)

// DeviceContext reads a browser's device cookie (DeviceCookieName) into a
// Device carried by the returned context, for AuthenticatePassword. Every
// browser login (the user API's, the hosted login page's) goes through it,
// and sets the cookie a success earned with Device.SetCookie.
func DeviceContext(r *http.Request) (context.Context, *Device) {
	dev := &Device{}
	if ck, err := r.Cookie(DeviceCookieName); err == nil && len(ck.Value) <= 256 {
		dev.In = ck.Value
	}
	return WithDevice(r.Context(), dev), dev
}

// SetCookie sets the device cookie a successful login earned, if any: a
// browser that holds it is a known device of the account, which the
// account-wide lockout does not refuse (docs/rate-limits.md). HttpOnly,
// SameSite=Lax, Secure when secure (an https issuer); Path "/", as the
// login routes live under several prefixes.
func (d *Device) SetCookie(w http.ResponseWriter, secure bool) {
	if d == nil || d.Out == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: DeviceCookieName, Value: d.Out, Path: "/",
		MaxAge:   int(d.MaxAge / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}
