package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/provider"
)

// userRoutes mounts the user API and its compatibility route sets.
func (a *api) userRoutes(r *gin.Engine) {
	if a.Accounts == nil {
		return
	}
	rt := a.UserRoutes
	if rt.Prefix == "" {
		rt.Prefix = "/auth"
	}
	if rt.PageSize <= 0 {
		rt.PageSize = 20
	}
	a.UserRoutes = rt
	anyone, authed := a.authenticate(false), a.authenticate(true)
	g := r.Group(rt.Prefix)

	both(g, http.MethodPost, "/jwt/create", a.jwtCreate)
	both(g, http.MethodPost, "/jwt/refresh", a.jwtRefresh("refresh"))
	both(g, http.MethodPost, "/jwt/verify", a.jwtVerify("token"))
	both(g, http.MethodPost, "/jwt/blacklist", a.jwtBlacklist)
	both(g, http.MethodPost, "/token/login", a.tokenLogin)
	both(g, http.MethodPost, "/token/logout", authed, a.tokenLogout)
	both(g, http.MethodPost, "/token/logoutall", authed, a.logoutAll)

	both(g, http.MethodPost, "/users", anyone, a.register("password", "re_password", false))
	both(g, http.MethodGet, "/users", authed, a.listUsers)
	both(g, http.MethodGet, "/users/me", authed, a.getUser(true))
	both(g, http.MethodPut, "/users/me", authed, a.updateUser(true, false))
	both(g, http.MethodPatch, "/users/me", authed, a.updateUser(true, true))
	both(g, http.MethodDelete, "/users/me", authed, a.deleteUser(true))
	both(g, http.MethodGet, "/users/:id", authed, a.getUser(false))
	both(g, http.MethodPut, "/users/:id", authed, a.updateUser(false, false))
	both(g, http.MethodPatch, "/users/:id", authed, a.updateUser(false, true))
	both(g, http.MethodDelete, "/users/:id", authed, a.deleteUser(false))
	both(g, http.MethodPost, "/users/:id/set_password", authed, a.adminSetPassword)
	both(g, http.MethodPost, "/users/set_password", authed, a.setPassword("new_password", "re_new_password", true))
	both(g, http.MethodPost, "/users/set_username", authed, a.setUsername)
	both(g, http.MethodPost, "/users/set_email", authed, a.setEmail)
	both(g, http.MethodPost, "/users/activation", a.inputOnly(a.Accounts.Activate, nil))
	both(g, http.MethodPost, "/users/resend_activation", a.inputOnly(a.Accounts.ResendActivation, nil))
	both(g, http.MethodPost, "/users/reset_password", a.inputOnly(a.Accounts.ResetPassword, nil))
	both(g, http.MethodPost, "/users/reset_password_confirm", a.resetPasswordConfirm("new_password", "re_new_password", false))
	both(g, http.MethodPost, "/users/reset_username", a.inputOnly(a.Accounts.ResetUsername, nil))
	both(g, http.MethodPost, "/users/reset_username_confirm", a.inputOnly(a.Accounts.ResetUsernameConfirm, nil))
	both(g, http.MethodPost, "/users/:id/reset_password", authed, a.adminSendReset)

	both(g, http.MethodGet, "/users/me/sessions", authed, a.listSessions)
	both(g, http.MethodDelete, "/users/me/sessions/:sid", authed, a.revokeSession)
	both(g, http.MethodGet, "/users/me/identities", authed, a.listIdentities)
	both(g, http.MethodPost, "/users/me/identities/:backend", authed, a.startLink)
	both(g, http.MethodDelete, "/users/me/identities/:backend", authed, a.unlinkIdentity)
	both(g, http.MethodGet, "/users/me/consents", authed, a.listConsents)
	both(g, http.MethodDelete, "/users/me/consents/:client_id", authed, a.revokeConsent)
	both(g, http.MethodGet, "/users/me/tokens", authed, a.listTokens)
	both(g, http.MethodPost, "/users/me/tokens", authed, a.createToken)
	both(g, http.MethodDelete, "/users/me/tokens/:tid", authed, a.deleteToken)

	if rt.RestAuth != "" {
		ra := r.Group(rt.RestAuth)
		both(ra, http.MethodPost, "/login", a.restAuthLogin)
		both(ra, http.MethodPost, "/logout", anyone, a.restAuthLogout)
		both(ra, http.MethodGet, "/user", authed, a.getUser(true))
		both(ra, http.MethodPut, "/user", authed, a.updateUser(true, false))
		both(ra, http.MethodPatch, "/user", authed, a.updateUser(true, true))
		both(ra, http.MethodPost, "/password/change", authed, a.setPassword("new_password1", "new_password2", false))
		both(ra, http.MethodPost, "/registration", anyone, a.register("password1", "password2", true))
		both(ra, http.MethodPost, "/registration/verify-email", a.inputOnly(a.Accounts.VerifyEmailKey, gin.H{"detail": "ok"}))
		both(ra, http.MethodPost, "/password/reset", a.inputOnly(a.Accounts.ResetPassword, gin.H{"detail": "Password reset e-mail has been sent."}))
		both(ra, http.MethodPost, "/password/reset/confirm", a.resetPasswordConfirm("new_password1", "new_password2", true))
		both(ra, http.MethodPost, "/token/refresh", a.jwtRefresh("refresh"))
		both(ra, http.MethodPost, "/token/verify", a.jwtVerify("token"))
	}
	if rt.DRFJWT {
		dj := r.Group(rt.DRFJWTPrefix + "/")
		both(dj, http.MethodPost, "/api-token-auth", a.drfJWTAuth)
		both(dj, http.MethodPost, "/api-token-refresh", a.drfJWTRefresh)
		both(dj, http.MethodPost, "/api-token-verify", a.drfJWTVerify)
	}
}

// adminUserRoutes mounts the admin API's groups.
func (a *api) adminGroupRoutes(admin *gin.RouterGroup) {
	if a.Accounts == nil {
		return
	}
	both(admin, http.MethodGet, "/groups", a.listGroups)
	both(admin, http.MethodPost, "/groups", a.createGroup)
	both(admin, http.MethodGet, "/groups/:name", a.getGroup)
	both(admin, http.MethodPut, "/groups/:name", a.updateGroup(false))
	both(admin, http.MethodPatch, "/groups/:name", a.updateGroup(true))
	both(admin, http.MethodDelete, "/groups/:name", a.deleteGroup)
	both(admin, http.MethodPost, "/groups/:name/members/:user_id", a.groupMember(true))
	both(admin, http.MethodDelete, "/groups/:name/members/:user_id", a.groupMember(false))
	both(admin, http.MethodGet, "/users/:id/sessions", a.adminListSessions)
	both(admin, http.MethodDelete, "/users/:id/sessions/:sid", a.adminRevokeSession)
	both(admin, http.MethodGet, "/users/:id/consents", a.adminListConsents)
	both(admin, http.MethodDelete, "/users/:id/consents/:client_id", a.adminRevokeConsent)
}

func (a *api) listConsents(c *gin.Context) {
	list, err := a.Accounts.Consents(c.Request.Context(), principal(c))
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	pageOf(c, a, list, a.UserRoutes.PageSize)
}

func (a *api) revokeConsent(c *gin.Context) {
	if err := a.Accounts.RevokeConsent(c.Request.Context(), principal(c), c.Param("client_id")); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) adminListConsents(c *gin.Context) {
	id, ok := userID(c, false)
	if !ok {
		return
	}
	list, err := a.Accounts.UserConsents(c.Request.Context(), principal(c), id)
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	pageOf(c, a, list, 100)
}

func (a *api) adminRevokeConsent(c *gin.Context) {
	id, ok := userID(c, false)
	if !ok {
		return
	}
	if err := a.Accounts.RevokeUserConsent(c.Request.Context(), principal(c), id, c.Param("client_id")); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) adminListSessions(c *gin.Context) {
	id, ok := userID(c, false)
	if !ok {
		return
	}
	list, err := a.Accounts.UserSessions(c.Request.Context(), principal(c), id)
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	pageOf(c, a, list, 100)
}

func (a *api) adminRevokeSession(c *gin.Context) {
	id, ok := userID(c, false)
	if !ok {
		return
	}
	if err := a.Accounts.RevokeUserSession(c.Request.Context(), principal(c), id, c.Param("sid")); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// inputOnly serves an endpoint that takes a body and answers 204, or 200
// with ok when it is not nil (dj-rest-auth's {"detail": ...}).
func (a *api) inputOnly(fn func(context.Context, accounts.Input) error, ok gin.H) gin.HandlerFunc {
	return func(c *gin.Context) {
		a.withInput(c, func(in accounts.Input) {
			if err := fn(c.Request.Context(), in); err != nil {
				a.writeDRF(c, err)
				return
			}
			if ok != nil {
				c.JSON(http.StatusOK, ok)
				return
			}
			c.Status(http.StatusNoContent)
		})
	}
}

func (a *api) resetPasswordConfirm(newField, retypeField string, restAuth bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a.withInput(c, func(in accounts.Input) {
			if err := a.Accounts.ResetPasswordConfirm(c.Request.Context(), in, newField, retypeField, restAuth); err != nil {
				a.writeDRF(c, err)
				return
			}
			if restAuth {
				c.JSON(http.StatusOK, gin.H{"detail": "Password has been reset with the new password."})
				return
			}
			c.Status(http.StatusNoContent)
		})
	}
}

func (a *api) adminSendReset(c *gin.Context) {
	id, ok := userID(c, false)
	if !ok {
		return
	}
	if err := a.Accounts.SendPasswordReset(c.Request.Context(), principal(c), id); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// withInput reads the body and runs fn with it.
func (a *api) withInput(c *gin.Context, fn func(in accounts.Input)) {
	in, ok := a.readInput(c)
	if !ok {
		return
	}
	fn(in)
}

func (a *api) jwtCreate(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		ctx, dev := provider.DeviceContext(c.Request)
		pair, err := a.Accounts.CreateJWT(ctx, in, c.Request.UserAgent())
		if err != nil {
			a.writeDRF(c, err)
			return
		}
		dev.SetCookie(c.Writer, a.secureCookies())
		noStore(c)
		c.JSON(http.StatusOK, pair)
	})
}

func (a *api) jwtRefresh(field string) gin.HandlerFunc {
	return func(c *gin.Context) {
		a.withInput(c, func(in accounts.Input) {
			pair, err := a.Accounts.RefreshJWT(c.Request.Context(), in, field, c.Request.UserAgent())
			if err != nil {
				a.writeDRF(c, err)
				return
			}
			noStore(c)
			c.JSON(http.StatusOK, pair)
		})
	}
}

func (a *api) jwtVerify(field string) gin.HandlerFunc {
	return func(c *gin.Context) {
		a.withInput(c, func(in accounts.Input) {
			if err := a.Accounts.VerifyJWT(c.Request.Context(), in, field); err != nil {
				a.writeDRF(c, err)
				return
			}
			c.JSON(http.StatusOK, gin.H{})
		})
	}
}

func (a *api) jwtBlacklist(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		if err := a.Accounts.BlacklistJWT(c.Request.Context(), in); err != nil {
			a.writeDRF(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{})
	})
}

// restAuthLogin is dj-rest-auth's LoginView with USE_JWT: the pair and
// the user.
func (a *api) restAuthLogin(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		ctx, dev := provider.DeviceContext(c.Request)
		pair, err := a.Accounts.CreateJWT(ctx, in, c.Request.UserAgent())
		if err != nil {
			a.writeDRF(c, err)
			return
		}
		dev.SetCookie(c.Writer, a.secureCookies())
		body := gin.H{"access": pair.Access, "refresh": pair.Refresh}
		if p, err := a.Accounts.Authenticate(ctx, "Bearer "+pair.Access); err == nil {
			if u, err := a.Accounts.GetUser(ctx, p, p.User.ID); err == nil {
				body["user"] = u
			}
		}
		noStore(c)
		c.JSON(http.StatusOK, body)
	})
}

// restAuthLogout is dj-rest-auth's LogoutView: anyone may call it; a
// "refresh" in the body is blacklisted, and the request's own credential
// (if any) is revoked.
func (a *api) restAuthLogout(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		ctx := c.Request.Context()
		if _, ok := in.Values["refresh"]; ok {
			if err := a.Accounts.BlacklistJWT(ctx, in); err != nil {
				a.writeDRF(c, err)
				return
			}
		}
		if p := principal(c); p != nil {
			if err := a.Accounts.TokenLogout(ctx, p); err != nil {
				a.writeDRF(c, err)
				return
			}
		}
		c.JSON(http.StatusOK, gin.H{"detail": "Successfully logged out."})
	})
}

// drfJWTAuth is django-rest-framework-jwt's obtain view: {"token": access}.
func (a *api) drfJWTAuth(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		ctx, dev := provider.DeviceContext(c.Request)
		pair, err := a.Accounts.CreateJWT(ctx, in, c.Request.UserAgent())
		if err != nil {
			a.writeDRF(c, drfJWTError(err))
			return
		}
		dev.SetCookie(c.Writer, a.secureCookies())
		noStore(c)
		c.JSON(http.StatusOK, gin.H{"token": pair.Access, "refresh": pair.Refresh})
	})
}

// drfJWTRefresh takes {"token": refresh} and returns {"token": access}
// with the rotated refresh token beside it.
func (a *api) drfJWTRefresh(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		pair, err := a.Accounts.RefreshJWT(c.Request.Context(), in, "token", c.Request.UserAgent())
		if err != nil {
			a.writeDRF(c, drfJWTError(err))
			return
		}
		noStore(c)
		c.JSON(http.StatusOK, gin.H{"token": pair.Access, "refresh": pair.Refresh})
	})
}

func (a *api) drfJWTVerify(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		token, _ := in.Values["token"].(string)
		if err := a.Accounts.VerifyJWT(c.Request.Context(), in, "token"); err != nil {
			a.writeDRF(c, drfJWTError(err))
			return
		}
		c.JSON(http.StatusOK, gin.H{"token": token})
	})
}

// drfJWTError answers as django-rest-framework-jwt: bad credentials and
// bad tokens are 400 with non_field_errors.
func drfJWTError(err error) error {
	switch {
	case err == accounts.ErrNoActiveAccount:
		return accounts.FieldErrors{accounts.NonField: {"Unable to log in with provided credentials."}}
	case err == accounts.ErrTokenInvalid:
		return accounts.FieldErrors{accounts.NonField: {"Error decoding signature."}}
	}
	return err
}

func (a *api) tokenLogin(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		ctx, dev := provider.DeviceContext(c.Request)
		tok, err := a.Accounts.TokenLogin(ctx, in)
		if err != nil {
			a.writeDRF(c, err)
			return
		}
		dev.SetCookie(c.Writer, a.secureCookies())
		noStore(c)
		c.JSON(http.StatusOK, gin.H{"auth_token": tok})
	})
}

func (a *api) tokenLogout(c *gin.Context) {
	if err := a.Accounts.TokenLogout(c.Request.Context(), principal(c)); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) logoutAll(c *gin.Context) {
	if err := a.Accounts.LogoutAll(c.Request.Context(), principal(c)); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) register(passwordField, retypeField string, retypeRequired bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a.withInput(c, func(in accounts.Input) {
			u, err := a.Accounts.Register(c.Request.Context(), principal(c), in, passwordField, retypeField, retypeRequired)
			if err != nil {
				a.writeDRF(c, err)
				return
			}
			c.JSON(http.StatusCreated, u)
		})
	}
}

func (a *api) listUsers(c *gin.Context) {
	n, size, ok := a.pageParams(c, a.UserRoutes.PageSize)
	if !ok {
		return
	}
	list, total, err := a.Accounts.ListUsers(c.Request.Context(), principal(c), c.Query("search"), (n-1)*size, size)
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	writePage(c, list, total, n, size)
}

// userID is the caller for /users/me/, else the {id} of the path; an ID
// that is not a number is Not found.
func userID(c *gin.Context, me bool) (int64, bool) {
	if me {
		return principal(c).User.ID, true
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"detail": "Not found."})
		return 0, false
	}
	return id, true
}

func (a *api) getUser(me bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := userID(c, me)
		if !ok {
			return
		}
		u, err := a.Accounts.GetUser(c.Request.Context(), principal(c), id)
		if err != nil {
			a.writeDRF(c, err)
			return
		}
		c.JSON(http.StatusOK, u)
	}
}

func (a *api) updateUser(me, partial bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := userID(c, me)
		if !ok {
			return
		}
		a.withInput(c, func(in accounts.Input) {
			u, err := a.Accounts.UpdateUser(c.Request.Context(), principal(c), id, in, partial)
			if err != nil {
				a.writeDRF(c, err)
				return
			}
			c.JSON(http.StatusOK, u)
		})
	}
}

func (a *api) deleteUser(me bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := userID(c, me)
		if !ok {
			return
		}
		a.withInput(c, func(in accounts.Input) {
			if err := a.Accounts.DeleteUser(c.Request.Context(), principal(c), id, in); err != nil {
				a.writeDRF(c, err)
				return
			}
			c.Status(http.StatusNoContent)
		})
	}
}

func (a *api) adminSetPassword(c *gin.Context) {
	id, ok := userID(c, false)
	if !ok {
		return
	}
	a.withInput(c, func(in accounts.Input) {
		if err := a.Accounts.AdminSetPassword(c.Request.Context(), principal(c), id, in); err != nil {
			a.writeDRF(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}

func (a *api) setPassword(newField, retypeField string, needCurrent bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a.withInput(c, func(in accounts.Input) {
			need := needCurrent // per request: the closure is shared by every request
			if !need {
				// dj-rest-auth's OLD_PASSWORD_FIELD_ENABLED: old_password is
				// checked when sent.
				if v, ok := in.Values["old_password"]; ok {
					delete(in.Values, "old_password")
					in.Values["current_password"] = v
					need = true
				}
			}
			if err := a.Accounts.SetPassword(c.Request.Context(), principal(c), in, newField, retypeField, need); err != nil {
				a.writeDRF(c, err)
				return
			}
			if newField == "new_password1" {
				c.JSON(http.StatusOK, gin.H{"detail": "New password has been saved."})
				return
			}
			c.Status(http.StatusNoContent)
		})
	}
}

func (a *api) setUsername(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		if err := a.Accounts.SetUsername(c.Request.Context(), principal(c), in); err != nil {
			a.writeDRF(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}

func (a *api) setEmail(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		if err := a.Accounts.SetEmail(c.Request.Context(), principal(c), in); err != nil {
			a.writeDRF(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}

func (a *api) listSessions(c *gin.Context) {
	list, err := a.Accounts.Sessions(c.Request.Context(), principal(c))
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	pageOf(c, a, list, a.UserRoutes.PageSize)
}

func (a *api) revokeSession(c *gin.Context) {
	if err := a.Accounts.RevokeSession(c.Request.Context(), principal(c), c.Param("sid")); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) listTokens(c *gin.Context) {
	list, err := a.Accounts.PersonalTokens(c.Request.Context(), principal(c))
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	pageOf(c, a, list, a.UserRoutes.PageSize)
}

func (a *api) createToken(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		tok, err := a.Accounts.CreatePersonalToken(c.Request.Context(), principal(c), in)
		if err != nil {
			a.writeDRF(c, err)
			return
		}
		noStore(c)
		c.JSON(http.StatusCreated, tok)
	})
}

func (a *api) deleteToken(c *gin.Context) {
	if err := a.Accounts.DeletePersonalToken(c.Request.Context(), principal(c), c.Param("tid")); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) listGroups(c *gin.Context) {
	list, err := a.Accounts.ListGroups(c.Request.Context())
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	pageOf(c, a, list, 100)
}

func (a *api) createGroup(c *gin.Context) {
	a.withInput(c, func(in accounts.Input) {
		g, err := a.Accounts.CreateGroup(c.Request.Context(), in)
		if err != nil {
			a.writeDRF(c, err)
			return
		}
		c.JSON(http.StatusCreated, g)
	})
}

func (a *api) getGroup(c *gin.Context) {
	g, err := a.Accounts.GetGroup(c.Request.Context(), c.Param("name"))
	if err != nil {
		a.writeDRF(c, err)
		return
	}
	c.JSON(http.StatusOK, g)
}

func (a *api) updateGroup(partial bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		a.withInput(c, func(in accounts.Input) {
			g, err := a.Accounts.UpdateGroup(c.Request.Context(), c.Param("name"), in, partial)
			if err != nil {
				a.writeDRF(c, err)
				return
			}
			c.JSON(http.StatusOK, g)
		})
	}
}

func (a *api) deleteGroup(c *gin.Context) {
	if err := a.Accounts.DeleteGroup(c.Request.Context(), c.Param("name")); err != nil {
		a.writeDRF(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *api) groupMember(add bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := strconv.ParseInt(c.Param("user_id"), 10, 64)
		if err != nil || id <= 0 {
			c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"detail": "Not found."})
			return
		}
		if add {
			err = a.Accounts.AddMember(c.Request.Context(), c.Param("name"), id)
		} else {
			err = a.Accounts.RemoveMember(c.Request.Context(), c.Param("name"), id)
		}
		if err != nil {
			a.writeDRF(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// secureCookies reports whether cookies get the Secure flag: an https
// issuer.
func (a *api) secureCookies() bool {
	return a.Provider != nil && strings.HasPrefix(a.Provider.Issuer(), "https://")
}
