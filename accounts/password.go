package accounts

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/latchkey-auth/latchkey/storage"
)

// PasswordPolicy is Django's default AUTH_PASSWORD_VALIDATORS: minimum
// length, common passwords, entirely numeric, similarity to the user's
// attributes, with Django's messages.
type PasswordPolicy struct {
	MinLength int
	Common    bool
	Numeric   bool
	// Similarity is UserAttributeSimilarityValidator's max_similarity; 0
	// turns the check off.
	Similarity float64
}

// DefaultPasswordPolicy is Django's defaults.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{MinLength: 8, Common: true, Numeric: true, Similarity: 0.7}
}

// Validate implements PasswordValidator.
func (p PasswordPolicy) Validate(password string, u storage.User) []string {
	var msgs []string
	if p.Similarity > 0 {
		for _, attr := range []struct{ name, value string }{
			{"username", u.Username}, {"first name", u.FirstName}, {"last name", u.LastName}, {"email address", u.Email},
		} {
			if tooSimilar(password, attr.value, p.Similarity) {
				msgs = append(msgs, fmt.Sprintf("The password is too similar to the %s.", attr.name))
				break
			}
		}
	}
	if n := len([]rune(password)); n < p.MinLength {
		noun := "characters"
		if p.MinLength == 1 {
			noun = "character"
		}
		msgs = append(msgs, fmt.Sprintf("This password is too short. It must contain at least %d %s.", p.MinLength, noun))
	}
	if p.Common && commonPasswords[strings.ToLower(strings.TrimSpace(password))] {
		msgs = append(msgs, "This password is too common.")
	}
	if p.Numeric && password != "" && strings.IndexFunc(password, func(r rune) bool { return !unicode.IsDigit(r) }) < 0 {
		msgs = append(msgs, "This password is entirely numeric.")
	}
	return msgs
}

// tooSimilar is Django's check: the password against the attribute and
// each of its parts (split on non-word characters), by SequenceMatcher's
// ratio, which quickRatio bounds from above exactly as Django does first.
func tooSimilar(password, value string, max float64) bool {
	if value == "" {
		return false
	}
	pw := strings.ToLower(password)
	parts := strings.FieldsFunc(strings.ToLower(value), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_')
	})
	parts = append(parts, strings.ToLower(value))
	for _, part := range parts {
		if part != "" && ratio(pw, part) >= max {
			return true
		}
	}
	return false
}

// ratio is difflib.SequenceMatcher(a, b).ratio(): 2*M/T with M the
// matching characters of the longest-common-block recursion.
func ratio(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra)+len(rb) == 0 {
		return 1
	}
	return 2 * float64(matches(ra, rb)) / float64(len(ra)+len(rb))
}

func matches(a, b []rune) int {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	// Longest common substring, first in a then b (difflib's tie rule).
	bestI, bestJ, bestN := 0, 0, 0
	prev := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
				if cur[j] > bestN {
					bestI, bestJ, bestN = i-cur[j], j-cur[j], cur[j]
				}
			}
		}
		prev = cur
	}
	if bestN == 0 {
		return 0
	}
	return bestN + matches(a[:bestI], b[:bestJ]) + matches(a[bestI+bestN:], b[bestJ+bestN:])
}

// commonPasswords are the most common passwords of Django's list.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range strings.Fields(commonPasswordList) {
		m[p] = true
	}
	return m
}()

const commonPasswordList = `
123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon
123123 baseball abc123 football monkey letmein 696969 shadow master 666666
qwertyuiop 123321 mustang 1234567890 michael 654321 superman 1qaz2wsx 7777777
121212 000000 qazwsx 123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh
hunter buster soccer harley batman andrew tigger sunshine iloveyou 2000
charlie robert thomas hockey ranger daniel starwars klaster 112233 george
computer michelle jessica pepper 1111 zxcvbn 555555 11111111 131313 freedom
777777 pass maggie 159753 aaaaaa ginger princess joshua cheese amanda summer
love ashley nicole chelsea biteme matthew access yankees 987654321 dallas
austin thunder taylor matrix mobilemail mom monitor monitoring montana moon
moscow welcome welcome1 password1 password123 admin admin123 administrator
passw0rd p@ssw0rd qwerty123 qwerty1 abcd1234 1q2w3e4r 1q2w3e4r5t changeme
secret letmein1 iloveyou1 football1 baseball1 default guest root toor test
test123 testing demo demo123 hello hello123 whatever trustme
`
