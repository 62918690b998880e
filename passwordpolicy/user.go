package passwordpolicy

import "github.com/latchkey-auth/latchkey/storage"

// UserAttributes are the attributes of u that the similarity check
// compares, by Django's names.
func UserAttributes(u storage.User) map[string]string {
	return map[string]string{
		"username":   u.Username,
		"first_name": u.FirstName,
		"last_name":  u.LastName,
		"email":      u.Email,
	}
}

// UserPolicy checks passwords for a storage.User: the shape of a validator
// that takes the user record rather than a map of attributes.
type UserPolicy struct{ *Policy }

// ForUsers wraps p for callers that hold a storage.User.
func ForUsers(p *Policy) UserPolicy { return UserPolicy{p} }

// Validate is Policy.Validate with u's attributes.
func (p UserPolicy) Validate(password string, u storage.User) []string {
	return p.Policy.Validate(password, UserAttributes(u))
}
