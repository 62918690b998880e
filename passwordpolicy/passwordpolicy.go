// Package passwordpolicy checks new passwords the way Django's
// AUTH_PASSWORD_VALIDATORS do, with Django's exact messages, so front-ends
// written against djoser show the same errors: similarity to the user's
// attributes, minimum length, the common-password list and all digits.
package passwordpolicy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Options selects the validators. The zero value checks nothing; Default()
// is Django's startproject set.
type Options struct {
	// MinLength is MinimumLengthValidator's min_length; 0 turns it off.
	MinLength int
	// MaxLength refuses longer passwords (counted in characters); 0 means
	// no limit. Django has no such validator; it protects the password
	// hasher from huge inputs.
	MaxLength int
	// Common is CommonPasswordValidator with Django's list of 20,000
	// common passwords, plus CommonPasswords.
	Common bool
	// CommonPasswords are refused as well when Common is set (compared
	// lower-cased and trimmed, as Django does).
	CommonPasswords []string
	// Numeric is NumericPasswordValidator.
	Numeric bool
	// Similarity is UserAttributeSimilarityValidator.
	Similarity bool
	// UserAttributes are the attributes compared; nil means Django's
	// username, first_name, last_name and email.
	UserAttributes []string
	// MaxSimilarity is max_similarity; 0 means Django's 0.7. Values below
	// 0.1 are raised to 0.1, as Django refuses them.
	MaxSimilarity float64
	// VerboseNames name the attributes in messages ("The password is too
	// similar to the email address."); missing ones use Django's
	// AbstractUser names, then the attribute name.
	VerboseNames map[string]string
}

// Default returns Django's default validators: similarity (0.7 over
// username, first name, last name and e-mail), at least 8 characters, the
// common-password list and not all digits.
func Default() Options {
	return Options{MinLength: 8, Common: true, Numeric: true, Similarity: true}
}

// DefaultUserAttributes are Django's UserAttributeSimilarityValidator
// DEFAULT_USER_ATTRIBUTES.
var DefaultUserAttributes = []string{"username", "first_name", "last_name", "email"}

// defaultVerboseNames are the verbose_name of Django's AbstractUser fields.
var defaultVerboseNames = map[string]string{
	"username":   "username",
	"first_name": "first name",
	"last_name":  "last name",
	"email":      "email address",
}

// Policy validates passwords. It is safe for concurrent use.
type Policy struct {
	o      Options
	extra  map[string]struct{}
	attrs  []string
	maxSim float64
}

// New returns a policy for o.
func New(o Options) *Policy {
	p := &Policy{o: o, attrs: o.UserAttributes, maxSim: o.MaxSimilarity}
	if p.attrs == nil {
		p.attrs = DefaultUserAttributes
	}
	if p.maxSim == 0 {
		p.maxSim = 0.7
	}
	if p.maxSim < 0.1 {
		p.maxSim = 0.1
	}
	if len(o.CommonPasswords) > 0 {
		p.extra = make(map[string]struct{}, len(o.CommonPasswords))
		for _, pw := range o.CommonPasswords {
			p.extra[normalizeCommon(pw)] = struct{}{}
		}
	}
	return p
}

// Validate returns every problem with password, in the order of Django's
// default AUTH_PASSWORD_VALIDATORS (similarity, length, common, numeric),
// with Django's messages; nil means the password is acceptable. attrs holds
// the user's attributes by name (username, first_name, last_name, email);
// missing or empty ones are skipped.
func (p *Policy) Validate(password string, attrs map[string]string) []string {
	var msgs []string
	if p.o.Similarity {
		if attr, ok := p.tooSimilar(password, attrs); ok {
			msgs = append(msgs, fmt.Sprintf("The password is too similar to the %s.", p.verboseName(attr)))
		}
	}
	n := utf8.RuneCountInString(password)
	if p.o.MinLength > 0 && n < p.o.MinLength {
		msgs = append(msgs, plural(p.o.MinLength,
			"This password is too short. It must contain at least %d character.",
			"This password is too short. It must contain at least %d characters."))
	}
	if p.o.MaxLength > 0 && n > p.o.MaxLength {
		msgs = append(msgs, plural(p.o.MaxLength,
			"This password is too long. It must contain at most %d character.",
			"This password is too long. It must contain at most %d characters."))
	}
	if p.o.Common && p.isCommon(password) {
		msgs = append(msgs, "This password is too common.")
	}
	if p.o.Numeric && isDigits(password) {
		msgs = append(msgs, "This password is entirely numeric.")
	}
	return msgs
}

// HelpTexts are Django's help texts of the enabled validators, in order.
func (p *Policy) HelpTexts() []string {
	var out []string
	if p.o.Similarity {
		out = append(out, "Your password can’t be too similar to your other personal information.")
	}
	if p.o.MinLength > 0 {
		out = append(out, plural(p.o.MinLength,
			"Your password must contain at least %d character.",
			"Your password must contain at least %d characters."))
	}
	if p.o.MaxLength > 0 {
		out = append(out, plural(p.o.MaxLength,
			"Your password must contain at most %d character.",
			"Your password must contain at most %d characters."))
	}
	if p.o.Common {
		out = append(out, "Your password can’t be a commonly used password.")
	}
	if p.o.Numeric {
		out = append(out, "Your password can’t be entirely numeric.")
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf(one, n)
	}
	return fmt.Sprintf(many, n)
}

func (p *Policy) verboseName(attr string) string {
	if v, ok := p.o.VerboseNames[attr]; ok && v != "" {
		return v
	}
	if v, ok := defaultVerboseNames[attr]; ok {
		return v
	}
	return attr
}

// isDigits is Python's str.isdigit(): at least one character, all digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// tooSimilar is UserAttributeSimilarityValidator.validate: it returns the
// first attribute (in the configured order) that the password resembles.
func (p *Policy) tooSimilar(password string, attrs map[string]string) (string, bool) {
	if len(attrs) == 0 {
		return "", false
	}
	pw := []rune(strings.ToLower(password))
	for _, name := range p.attrs {
		value := attrs[name]
		if value == "" {
			continue
		}
		lower := strings.ToLower(value)
		parts := append(splitNonWord(lower), lower)
		for _, part := range parts {
			pr := []rune(part)
			if exceedsMaximumLengthRatio(len(pw), p.maxSim, len(pr)) {
				continue
			}
			if quickRatio(pw, pr) >= p.maxSim {
				return name, true
			}
		}
	}
	return "", false
}

// exceedsMaximumLengthRatio is Django's shortcut: a value far shorter than
// the password cannot reach max_similarity, so the ratio is not computed.
func exceedsMaximumLengthRatio(pwdLen int, maxSimilarity float64, valueLen int) bool {
	lengthBoundSimilarity := maxSimilarity / 2 * float64(pwdLen)
	return pwdLen >= 10*valueLen && float64(valueLen) < lengthBoundSimilarity
}

// splitNonWord is Python's re.split(r'\W+', s) on a str: the runs of word
// characters (letters, numbers, underscore) between runs of other
// characters, with an empty string at either end when s starts or ends
// with a separator.
func splitNonWord(s string) []string {
	var out []string
	var cur strings.Builder
	inSep := false
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_' {
			cur.WriteRune(r)
			inSep = false
			continue
		}
		if !inSep {
			out = append(out, cur.String())
			cur.Reset()
			inSep = true
		}
	}
	return append(out, cur.String())
}

// quickRatio is difflib.SequenceMatcher(a=a, b=b).quick_ratio(): twice the
// size of the multiset intersection over the total length (1.0 when both
// are empty).
func quickRatio(a, b []rune) float64 {
	if len(a)+len(b) == 0 {
		return 1.0
	}
	avail := make(map[rune]int, len(b))
	for _, r := range b {
		avail[r]++
	}
	matches := 0
	for _, r := range a {
		if avail[r] > 0 {
			matches++
		}
		avail[r]--
	}
	return 2.0 * float64(matches) / float64(len(a)+len(b))
}

//go:embed common-passwords.txt.gz
var commonGz []byte

var (
	commonOnce sync.Once
	commonSet  map[string]struct{}
)

// commonPasswords is Django's list, read once.
func commonPasswords() map[string]struct{} {
	commonOnce.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(commonGz))
		if err != nil {
			panic("passwordpolicy: embedded common-password list: " + err.Error()) // built into the binary
		}
		set := make(map[string]struct{}, 20000)
		sc := bufio.NewScanner(zr)
		for sc.Scan() {
			if pw := strings.TrimSpace(sc.Text()); pw != "" {
				set[pw] = struct{}{}
			}
		}
		if err := sc.Err(); err != nil {
			panic("passwordpolicy: embedded common-password list: " + err.Error())
		}
		commonSet = set
	})
	return commonSet
}

// CommonPasswordCount is the size of the embedded list.
func CommonPasswordCount() int { return len(commonPasswords()) }

func normalizeCommon(pw string) string { return strings.TrimSpace(strings.ToLower(pw)) }

func (p *Policy) isCommon(password string) bool {
	pw := normalizeCommon(password)
	if _, ok := commonPasswords()[pw]; ok {
		return true
	}
	_, ok := p.extra[pw]
	return ok
}
