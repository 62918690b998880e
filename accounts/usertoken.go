package accounts

import (
	"crypto/rand"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/usertokens"
)

// UserTokens makes and checks the one-time tokens of the activation and
// reset links (Django's PasswordResetTokenGenerator; usertokens.Generator):
// a token works once, expires, and dies when the password changes.
type UserTokens interface {
	Make(purpose string, u storage.User) string
	Check(purpose string, u storage.User, token string) bool
}

// Purposes of the link tokens.
const (
	purposeActivation    = usertokens.Activation
	purposePasswordReset = usertokens.PasswordReset
	purposeUsernameReset = usertokens.UsernameReset
)

// ephemeralUserTokens is the fallback when no generator is configured: a
// random key, so links do not survive a restart.
func ephemeralUserTokens(opts Options) UserTokens {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return usertokens.New(secret, opts.Links.TokenTTL, opts.Now)
}
