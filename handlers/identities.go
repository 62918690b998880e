package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/accounts"
	"github.com/latchkey-auth/latchkey/identities"
	"github.com/latchkey-auth/latchkey/storage"
)

// Identities lists and unlinks a user's social identities
// (*identities.Service).
type Identities interface {
	List(ctx context.Context, userID int64) ([]storage.LinkedIdentity, error)
	Unlink(ctx context.Context, userID int64, backend string) error
}

// identityJSON is one linked identity in the user API.
type identityJSON struct {
	Backend   string    `json:"backend"`
	Subject   string    `json:"subject"`
	Email     string    `json:"email"`
	Created   time.Time `json:"created"`
	LastLogin time.Time `json:"last_login"`
}

var errLastSignIn = &accounts.Error{Status: http.StatusBadRequest, Detail: "This is your only way to sign in: set a password before you unlink it.", Code: "last_sign_in_method"}

// listIdentities is GET /auth/users/me/identities/.
func (a *api) listIdentities(c *gin.Context) {
	if a.Identities == nil {
		pageOf(c, a, []identityJSON{}, a.UserRoutes.PageSize)
		return
	}
	list, err := a.Identities.List(c.Request.Context(), principal(c).User.ID)
	if err != nil {
		a.Logger.WarnContext(c.Request.Context(), "list identities", "err", err)
		a.writeDRF(c, accounts.ErrUnavailable)
		return
	}
	out := make([]identityJSON, 0, len(list))
	for _, l := range list {
		out = append(out, identityJSON{Backend: l.Backend, Subject: l.Subject, Email: l.Email, Created: l.CreatedAt.UTC(), LastLogin: l.LastLoginAt.UTC()})
	}
	pageOf(c, a, out, a.UserRoutes.PageSize)
}

// startLink is POST /auth/users/me/identities/{backend}/: it answers
// {"authorization_url": ...}, where the browser signs in upstream; the
// identity is linked to the caller when it comes back.
func (a *api) startLink(c *gin.Context) {
	if a.Pages == nil {
		a.writeDRF(c, accounts.ErrNotFound)
		return
	}
	to, ok, err := a.Pages.StartLink(c, principal(c).User.ID, c.Param("backend"))
	switch {
	case !ok:
		a.writeDRF(c, accounts.ErrNotFound)
	case err != nil:
		a.Logger.WarnContext(c.Request.Context(), "start identity link", "backend", c.Param("backend"), "err", err)
		a.writeDRF(c, accounts.ErrUnavailable)
	default:
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"authorization_url": to})
	}
}

// unlinkIdentity is DELETE /auth/users/me/identities/{backend}/.
func (a *api) unlinkIdentity(c *gin.Context) {
	if a.Identities == nil {
		a.writeDRF(c, accounts.ErrNotFound)
		return
	}
	err := a.Identities.Unlink(c.Request.Context(), principal(c).User.ID, c.Param("backend"))
	switch {
	case err == nil:
		c.Status(http.StatusNoContent)
	case errors.Is(err, storage.ErrNotFound):
		a.writeDRF(c, accounts.ErrNotFound)
	case errors.Is(err, identities.ErrLastSignIn):
		a.writeDRF(c, errLastSignIn)
	default:
		a.Logger.WarnContext(c.Request.Context(), "unlink identity", "err", err)
		a.writeDRF(c, accounts.ErrUnavailable)
	}
}
