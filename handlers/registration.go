package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/clients"
)

// Dynamic client registration (RFC 7591) at /oauth2/register and its
// management (RFC 7592) at /oauth2/register/{client_id}; the admin API's
// initial access tokens at /admin/registration-tokens/.

func (a *api) registrationRoutes(r *gin.Engine) {
	r.POST("/oauth2/register", a.limitBody, a.registerClient)
	r.GET("/oauth2/register/:id", a.readRegistration)
	r.PUT("/oauth2/register/:id", a.limitBody, a.updateRegistration)
	r.DELETE("/oauth2/register/:id", a.deleteRegistration)
}

func (a *api) adminRegistrationRoutes(admin *gin.RouterGroup) {
	if a.Registrar == nil {
		return
	}
	both(admin, http.MethodGet, "/registration-tokens", a.listRegistrationTokens)
	both(admin, http.MethodPost, "/registration-tokens", a.createRegistrationToken)
	both(admin, http.MethodDelete, "/registration-tokens/:id", a.deleteRegistrationToken)
}

// bindMetadata decodes a registration request: a JSON object (RFC 7591
// §3.1); fields the server does not know are ignored (§2).
func bindMetadata(c *gin.Context, v *clients.RegistrationRequest) error {
	return decodeJSON(c, v, false)
}

// registrationError writes an error of the registration endpoints: RFC
// 7591 §3.2.2 JSON; 401 with a Bearer challenge for a bad token.
func (a *api) registrationError(c *gin.Context, err error) {
	writeOAuthError(c, a.Logger, err)
}

// registrationOn answers 404 when registration is off (the endpoint does
// not exist and discovery does not list it).
func (a *api) registrationOn(c *gin.Context) bool {
	if !a.Registrar.Enabled() {
		a.registrationError(c, clients.ErrRegistrationOff)
		return false
	}
	return true
}

func (a *api) registerClient(c *gin.Context) {
	if !a.registrationOn(c) {
		return
	}
	var req clients.RegistrationRequest
	if err := bindMetadata(c, &req); err != nil {
		a.registrationError(c, err)
		return
	}
	bearer, _ := bearerToken(c.GetHeader("Authorization"))
	reg, err := a.Registrar.Register(c.Request.Context(), req, bearer, c.ClientIP())
	if err != nil {
		a.registrationError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusCreated, reg)
}

// registrationToken is the registration access token of the request
// (RFC 7592 §2: Authorization: Bearer); "" answers 401 in the Registrar.
func registrationToken(c *gin.Context) string {
	t, _ := bearerToken(c.GetHeader("Authorization"))
	return t
}

func (a *api) readRegistration(c *gin.Context) {
	if !a.registrationOn(c) {
		return
	}
	reg, err := a.Registrar.Read(c.Request.Context(), c.Param("id"), registrationToken(c))
	if err != nil {
		a.registrationError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, reg)
}

func (a *api) updateRegistration(c *gin.Context) {
	if !a.registrationOn(c) {
		return
	}
	var req clients.RegistrationRequest
	if err := bindMetadata(c, &req); err != nil {
		a.registrationError(c, err)
		return
	}
	reg, err := a.Registrar.Update(c.Request.Context(), c.Param("id"), registrationToken(c), req)
	if err != nil {
		a.registrationError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, reg)
}

func (a *api) deleteRegistration(c *gin.Context) {
	if !a.registrationOn(c) {
		return
	}
	if err := a.Registrar.Delete(c.Request.Context(), c.Param("id"), registrationToken(c)); err != nil {
		a.registrationError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) listRegistrationTokens(c *gin.Context) {
	list, err := a.Registrar.ListInitialAccessTokens(c.Request.Context())
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	writeAdminList(c, list)
}

// createRegistrationToken is POST /admin/registration-tokens/ {"name",
// "expires_in", "max_uses"}: 201 with the token, shown this once.
func (a *api) createRegistrationToken(c *gin.Context) {
	var in clients.NewInitialAccessToken
	if err := bindJSON(c, &in); err != nil {
		a.writeAdminError(c, err)
		return
	}
	out, err := a.Registrar.CreateInitialAccessToken(c.Request.Context(), in)
	if err != nil {
		a.writeAdminError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusCreated, out)
}

func (a *api) deleteRegistrationToken(c *gin.Context) {
	if err := a.Registrar.DeleteInitialAccessToken(c.Request.Context(), c.Param("id")); err != nil {
		a.writeAdminError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
