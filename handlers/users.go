package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/audit"
)

// This file is the DRF side of the user API: bodies in, DRF answers out.
// The logic is in package accounts.

// UserRoutes configures where the user API and its compatibility route
// sets are mounted.
type UserRoutes struct {
	// Prefix of the djoser / SimpleJWT / knox API, e.g. "/auth".
	Prefix string
	// RestAuth is the dj-rest-auth prefix; empty turns the set off.
	RestAuth string
	// DRFJWT turns the legacy django-rest-framework-jwt routes on, under
	// DRFJWTPrefix ("" for /api-token-auth/ at the root).
	DRFJWT       bool
	DRFJWTPrefix string
	// PageSize is the default page size of lists.
	PageSize int
}

const principalKey = "latchkey.principal"

// principal returns the authenticated caller.
func principal(c *gin.Context) *accounts.Principal {
	p, _ := c.Get(principalKey)
	pr, _ := p.(*accounts.Principal)
	return pr
}

// authenticate sets the caller from the Authorization header, or without
// one from the hosted pages' login session cookie (as DRF's
// SessionAuthentication: unsafe methods then need the X-CSRFToken
// header). With required, an unauthenticated request is answered 401 here.
func (a *api) authenticate(required bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		if h == "" {
			if p, done := a.sessionPrincipal(c); done {
				return
			} else if p != nil {
				a.admit(c, p)
				return
			}
		}
		if h == "" && !required {
			c.Next()
			return
		}
		p, err := a.Accounts.Authenticate(c.Request.Context(), h)
		if err != nil {
			if !required && errors.Is(err, accounts.ErrNotAuthenticated) {
				c.Next()
				return
			}
			a.writeDRF(c, err)
			return
		}
		a.admit(c, p)
	}
}

// admit lets the request go on as p.
func (a *api) admit(c *gin.Context, p *accounts.Principal) {
	c.Set(principalKey, p)
	c.Request = c.Request.WithContext(audit.WithActor(c.Request.Context(), p.Actor()))
	c.Next()
}

// sessionPrincipal authenticates a request by the login session cookie.
// done means the request was answered (a store fault, a missing CSRF
// header); a nil principal without done means no session.
func (a *api) sessionPrincipal(c *gin.Context) (p *accounts.Principal, done bool) {
	if a.Pages == nil {
		return nil, false
	}
	s, err := a.Pages.Session(c.Request)
	if err != nil {
		a.Logger.WarnContext(c.Request.Context(), "login session unavailable", "err", err)
		a.writeDRF(c, accounts.ErrUnavailable)
		return nil, true
	}
	if s == nil {
		return nil, false
	}
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !a.Pages.CheckCSRFHeader(c.Request, s) {
			a.writeDRF(c, accounts.ErrCSRFFailed)
			return nil, true
		}
	}
	p, err = a.Accounts.AuthenticateSession(c.Request.Context(), s.Subject, s.ID)
	if errors.Is(err, accounts.ErrNotAuthenticated) {
		return nil, false
	}
	if err != nil {
		a.writeDRF(c, err)
		return nil, true
	}
	return p, false
}

// requireStaff admits staff and superusers, authenticated as on /auth/,
// and admin API keys (accounts.Service.AuthenticateAdmin).
func (a *api) requireStaff(c *gin.Context) {
	if c.GetHeader("Authorization") == "" {
		p, done := a.sessionPrincipal(c)
		if done {
			return
		}
		if p != nil {
			if !p.Staff() {
				a.writeDRF(c, accounts.ErrForbidden)
				return
			}
			a.admit(c, p)
			return
		}
	}
	p, err := a.Accounts.AuthenticateAdmin(c.Request.Context(), c.GetHeader("Authorization"))
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Request = c.Request.WithContext(audit.WithActor(c.Request.Context(), p.Actor()))
	c.Next()
}

// writeDRF writes an error as DRF does: a field map with 400, or
// {"detail": ..., "code": ...} with the error's status.
func (a *api) writeDRF(c *gin.Context, err error) {
	var fe accounts.FieldErrors
	if errors.As(err, &fe) {
		c.AbortWithStatusJSON(http.StatusBadRequest, fe)
		return
	}
	var e *accounts.Error
	if !errors.As(err, &e) {
		e = &accounts.Error{Status: http.StatusInternalServerError, Detail: "A server error occurred."}
	}
	if e.Status >= 500 && clientGone(c, a.Logger, err) {
		return
	}
	if e.Status >= 500 {
		a.Logger.ErrorContext(c.Request.Context(), "request failed",
			"request_id", requestID(c.Request.Context()), "route", c.FullPath(), "status", e.Status, "cause", errorText(err))
	}
	if e.Status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Challenge != "" && e.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", e.Challenge)
	}
	body := gin.H{"detail": e.Detail}
	if e.Code != "" {
		body["code"] = e.Code
	}
	c.AbortWithStatusJSON(e.Status, body)
}

func errorText(err error) string {
	if u := errors.Unwrap(err); u != nil {
		return u.Error()
	}
	return err.Error()
}

// readInput decodes a JSON or form body into an accounts.Input. An empty
// body is an empty input; another content type is 415; malformed JSON is
// 400 with DRF's detail; a body over the limit is 413.
func (a *api) readInput(c *gin.Context) (accounts.Input, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, a.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{"detail": "Request body too large."})
			return accounts.Input{}, false
		}
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"detail": "Could not read the request body."})
		return accounts.Input{}, false
	}
	ct := c.GetHeader("Content-Type")
	if len(bytes.TrimSpace(body)) == 0 {
		return accounts.Input{Values: map[string]any{}}, true
	}
	mt, params, err := mime.ParseMediaType(ct)
	switch {
	case err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")):
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var m map[string]any
		err := dec.Decode(&m)
		// One object and nothing after it (More misses a stray ']' or '}'),
		// and valid UTF-8 (the decoder would silently replace bad bytes).
		if err == nil {
			if _, next := dec.Token(); next != io.EOF {
				err = errors.New("data after the object")
			}
		}
		if err != nil || m == nil || !utf8.Valid(body) {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"detail": "JSON parse error - the body must be one JSON object."})
			return accounts.Input{}, false
		}
		return accounts.Input{Values: m}, true
	case err == nil && mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"detail": "Malformed form body."})
			return accounts.Input{}, false
		}
		return formInput(form), true
	case err == nil && mt == "multipart/form-data":
		// What a browser's FormData sends; DRF's MultiPartParser. The whole
		// body is already in memory and bounded; files are refused.
		f, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(a.MaxBodyBytes)
		if err != nil || len(f.File) > 0 {
			if f != nil {
				_ = f.RemoveAll()
			}
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"detail": "Multipart form parse error - the body must be form fields without files."})
			return accounts.Input{}, false
		}
		_ = f.RemoveAll()
		return formInput(f.Value), true
	}
	if len(ct) > 100 {
		ct = ct[:100]
	}
	c.AbortWithStatusJSON(http.StatusUnsupportedMediaType, gin.H{"detail": fmt.Sprintf("Unsupported media type %q in request.", strings.ToValidUTF8(ct, ""))})
	return accounts.Input{}, false
}

// formInput turns form values into an Input: one value is a string, a
// repeated key a list.
func formInput(form map[string][]string) accounts.Input {
	values := make(map[string]any, len(form))
	for k, vs := range form {
		if len(vs) == 1 {
			values[k] = vs[0]
		} else {
			values[k] = vs
		}
	}
	return accounts.Input{Values: values, Form: true}
}

// pageParams reads ?page= and ?page_size= (at most 100) as offset and
// limit; a bad page is 404 "Invalid page.", as DRF answers.
func (a *api) pageParams(c *gin.Context, def int) (n, size int, ok bool) {
	size = def
	if v := c.Query("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil && n > 0 {
			size = min(n, 100)
		}
	}
	n = 1
	if v := c.Query("page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 1_000_000 {
			c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"detail": "Invalid page."})
			return 0, 0, false
		}
		n = p
	}
	return n, size, true
}

// writePage writes DRF's envelope for one page out of count.
func writePage[T any](c *gin.Context, results []T, count, n, size int) {
	if n > 1 && (n-1)*size >= count {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"detail": "Invalid page."})
		return
	}
	link := func(p int) *string {
		q := c.Request.URL.Query()
		q.Set("page", strconv.Itoa(p))
		s := (&url.URL{Path: c.Request.URL.Path, RawQuery: q.Encode()}).String()
		return &s
	}
	out := page{Count: count, Results: results}
	if n*size < count {
		out.Next = link(n + 1)
	}
	if n > 1 {
		out.Previous = link(n - 1)
	}
	c.JSON(http.StatusOK, out)
}

// pageOf slices a whole list into the requested page.
func pageOf[T any](c *gin.Context, a *api, list []T, def int) {
	p, size, ok := a.pageParams(c, def)
	if !ok {
		return
	}
	start := min((p-1)*size, len(list))
	end := min(start+size, len(list))
	writePage(c, list[start:end], len(list), p, size)
}
