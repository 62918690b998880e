// Package ginrs adapts resourceserver to Gin: the same verification,
// permissions and DRF-style refusals, as gin middleware.
package ginrs

import (
	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/resourceserver"
)

// Require returns Gin middleware that lets a request through when perm
// allows it, with the principal in c.Request's context (Principal), and
// aborts it with the refusal otherwise (see resourceserver.Verifier.Require).
func Require(v *resourceserver.Verifier, perm resourceserver.Permission) gin.HandlerFunc {
	return func(c *gin.Context) {
		r, ok := v.Authorize(c.Writer, c.Request, perm)
		if !ok {
			c.Abort()
			return
		}
		c.Request = r
		c.Next()
	}
}

// Principal returns the verified principal of the request, and false for
// an anonymous one.
func Principal(c *gin.Context) (*resourceserver.Principal, bool) {
	return resourceserver.PrincipalFrom(c.Request.Context())
}

// CheckObject checks an object permission and aborts with the refusal when
// it says no.
func CheckObject(c *gin.Context, perm resourceserver.ObjectPermission, obj any) bool {
	if !resourceserver.CheckObject(c.Writer, c.Request, perm, obj) {
		c.Abort()
		return false
	}
	return true
}
