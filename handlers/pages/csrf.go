package pages

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
)

// CSRF names: the cookie of the double-submit scheme and the hidden form
// field every form carries.
const (
	CSRFCookie = "latchkey_csrf"
	CSRFField  = "csrf_token"
	// csrfCookieBytes is the length of the cookie's random value.
	csrfCookieBytes = 32
)

// DeriveCSRFKey derives the key of the CSRF tokens from the master key, as
// the other keys are (provider.NewSecrets, usertokens.DeriveSecret): HKDF-
// SHA256 with a label of its own, so it is independent of every other key.
func DeriveCSRFKey(master []byte) ([]byte, error) {
	if len(master) < 16 {
		return nil, fmt.Errorf("pages: master key too short (%d bytes)", len(master))
	}
	key, err := hkdf.Key(sha256.New, master, nil, "latchkey csrf v1", 32)
	if err != nil {
		return nil, fmt.Errorf("pages: derive csrf key: %w", err)
	}
	return key, nil
}

// CSRF issues and checks the tokens of the hosted pages' forms: a signed
// double-submit token. The browser holds a random value in a cookie
// (CSRFCookie, HttpOnly, SameSite=Lax); every form carries
// HMAC-SHA256(key, value) in CSRFField. Another site can make the browser
// send the cookie but can neither read it nor compute the HMAC without the
// server's key, and a cookie it plants (from a sibling subdomain) comes
// with no valid token for it. Nothing is stored on the server.
//
// The login session reuses the same key through Sign and Verify with the
// session ID as binding (a synchronizer token that needs no storage): the
// token then dies with the session, and a rotated session ID (at login)
// invalidates the forms rendered before it.
type CSRF struct {
	key    []byte
	secure bool
}

// NewCSRF returns the token issuer of key (DeriveCSRFKey). secure sets the
// cookie's Secure flag (an https issuer).
func NewCSRF(key []byte, secure bool) *CSRF {
	return &CSRF{key: append([]byte(nil), key...), secure: secure}
}

// Sign returns the token of binding: a value only this server can make.
func (c *CSRF) Sign(binding string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("latchkey csrf\x00"))
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify reports, in constant time, whether token is Sign(binding).
func (c *CSRF) Verify(binding, token string) bool {
	if binding == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(c.Sign(binding)), []byte(token))
}

// Token returns the form token of this browser. A browser without a usable
// cookie gets a new one on w (so call Token before writing the body).
func (c *CSRF) Token(w http.ResponseWriter, r *http.Request) string {
	v := cookieValue(r)
	if v == "" {
		var b [csrfCookieBytes]byte
		_, _ = rand.Read(b[:])
		v = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{
			Name: CSRFCookie, Value: v, Path: "/",
			HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
		})
	}
	return c.Sign(v)
}

// Check reports whether r, a POST whose form the caller parsed, carries the
// token of its cookie.
func (c *CSRF) Check(r *http.Request) bool {
	v := cookieValue(r)
	return v != "" && c.Verify(v, r.PostFormValue(CSRFField))
}

// cookieValue is the browser's CSRF cookie when it is well formed, else "".
func cookieValue(r *http.Request) string {
	ck, err := r.Cookie(CSRFCookie)
	if err != nil {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) != csrfCookieBytes {
		return ""
	}
	return ck.Value
}
