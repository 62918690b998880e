package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/provider"
)

// DRF's texts, which djoser front-ends show or match on.
const (
	detailNoCredentials = "Authentication credentials were not provided."
	detailInvalidToken  = "Given token not valid for any token type"
	detailForbidden     = "You do not have permission to perform this action."
)

// requireStaff admits a staff or superuser account that presents a valid
// access token ("Bearer" or SimpleJWT's "JWT" scheme).
func (a *api) requireStaff(c *gin.Context) {
	scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	token = strings.TrimSpace(token)
	if token == "" || !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "JWT") {
		c.Header("WWW-Authenticate", `Bearer realm="latchkey"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"detail": detailNoCredentials})
		return
	}
	info, err := a.Provider.VerifyAccessToken(c.Request.Context(), token)
	if err != nil {
		if errors.Is(err, provider.ErrInvalidToken) {
			c.Header("WWW-Authenticate", `Bearer realm="latchkey", error="invalid_token"`)
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"detail": detailInvalidToken, "code": "token_not_valid"})
			return
		}
		writeOAuthError(c, a.Logger, err)
		return
	}
	uid, ok := info.UserID()
	if !ok {
		c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"detail": detailForbidden})
		return
	}
	u, err := a.Users.GetUser(c.Request.Context(), uid)
	if err != nil && provider.IsUnavailable(err) {
		writeOAuthError(c, a.Logger, err) // the database is down: 503, not a 403
		return
	}
	if err != nil || !u.IsActive || !(u.IsStaff || u.IsSuperuser) {
		c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"detail": detailForbidden})
		return
	}
	c.Next()
}

// writeAdminError writes registration errors in RFC 7591 §3.2.2 form and
// a missing resource as DRF's 404.
func (a *api) writeAdminError(c *gin.Context, err error) {
	e := provider.AsError(err)
	if e.Status == http.StatusNotFound {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"detail": "Not found."})
		return
	}
	writeOAuthError(c, a.Logger, e)
}

// bindJSON decodes a JSON body strictly: JSON content type, one object, no
// unknown fields.
func bindJSON(c *gin.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return provider.ErrUnsupportedMediaType.WithDescription("content type must be application/json")
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return provider.ErrRequestTooLarge
		}
		return provider.ErrInvalidRequest.WithDescription("could not read the body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return provider.ErrInvalidClientMetadata.WithDescription("malformed JSON: " + jsonProblem(err))
	}
	if dec.More() {
		return provider.ErrInvalidClientMetadata.WithDescription("malformed JSON: trailing data")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing input.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return "field " + typeErr.Field + " has the wrong type, want " + typeErr.Type.String()
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "not a valid JSON object"
}

// page is DRF's pagination envelope.
type page struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  any     `json:"results"`
}

// paginate slices list by ?page= and ?page_size= (at most 100).
func paginate[T any](c *gin.Context, list []T) (page, bool) {
	size, err := strconv.Atoi(c.DefaultQuery("page_size", "100"))
	if err != nil || size < 1 {
		size = 100
	}
	size = min(size, 100)
	n, err := strconv.Atoi(c.DefaultQuery("page", "1"))
	if err != nil || n < 1 || (n-1)*size > len(list) && n > 1 {
		return page{}, false
	}
	start := (n - 1) * size
	end := min(start+size, len(list))
	out := page{Count: len(list), Results: list[start:end]}
	link := func(p int) *string {
		u := *c.Request.URL
		q := u.Query()
		q.Set("page", strconv.Itoa(p))
		u.RawQuery = q.Encode()
		s := (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).String()
		return &s
	}
	if end < len(list) {
		out.Next = link(n + 1)
	}
	if n > 1 {
		out.Previous = link(n - 1)
	}
	return out, true
}

func (a *api) listClients(c *gin.Context) {
	list, err := a.Provider.ListClients(c.Request.Context())
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	p, ok := paginate(c, list)
	if !ok {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"detail": "Invalid page."})
		return
	}
	c.JSON(http.StatusOK, p)
}

func (a *api) createClient(c *gin.Context) {
	var m provider.ClientMetadata
	if err := bindJSON(c, &m); err != nil {
		a.writeAdminError(c, err)
		return
	}
	if m.ClientSecret != "" {
		a.writeAdminError(c, provider.ErrInvalidClientMetadata.WithDescription("client_secret is generated by the server"))
		return
	}
	out, err := a.Provider.CreateClient(c.Request.Context(), m, "")
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusCreated, out)
}

func (a *api) getClient(c *gin.Context) {
	out, err := a.Provider.GetClient(c.Request.Context(), c.Param("id"))
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) updateClient(c *gin.Context) {
	var m provider.ClientMetadata
	if err := bindJSON(c, &m); err != nil {
		a.writeAdminError(c, err)
		return
	}
	if m.ClientID != "" && m.ClientID != c.Param("id") {
		a.writeAdminError(c, provider.ErrInvalidClientMetadata.WithDescription("client_id cannot change"))
		return
	}
	out, err := a.Provider.UpdateClient(c.Request.Context(), c.Param("id"), m)
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (a *api) deleteClient(c *gin.Context) {
	if err := a.Provider.DeleteClient(c.Request.Context(), c.Param("id")); err != nil {
		a.writeAdminError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) rotateClientSecret(c *gin.Context) {
	out, err := a.Provider.RotateClientSecret(c.Request.Context(), c.Param("id"))
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, out)
}

func (a *api) listKeys(c *gin.Context) {
	keys, err := a.Provider.Keys().List(c.Request.Context())
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"count": len(keys), "next": nil, "previous": nil, "results": keys})
}

func (a *api) rotateKey(c *gin.Context) {
	k, err := a.Provider.Keys().Rotate(c.Request.Context())
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	c.JSON(http.StatusCreated, k)
}
