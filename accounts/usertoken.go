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

// EncodeUID is Django's urlsafe_base64_encode(force_bytes(pk)).
func EncodeUID(id int64) string { return usertokens.EncodeUID(id) }

// DecodeUID reverses EncodeUID; false for anything else.
func DecodeUID(uid string) (int64, bool) {
	id, err := usertokens.DecodeUID(uid)
	return id, err == nil
}

// ephemeralUserTokens is the fallback when no generator is configured: a
// random key, so links do not survive a restart.
func ephemeralUserTokens(opts Options) UserTokens {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return usertokens.New(secret, opts.Links.TokenTTL, opts.Now)
}
