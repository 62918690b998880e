package accounts

import (
	"slices"
	"sort"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// NormalizeUsername is Django's AbstractBaseUser.normalize_username:
// Unicode NFKC, so compatibility forms (fullwidth "ａdmin", ligatures,
// superscripts) become their plain letters and name the same account.
// Every username that is created or changed is stored normalised, and a
// typed login is looked up normalised too.
func NormalizeUsername(s string) string { return norm.NFKC.String(s) }

// msgMixedScripts answers a username that mixes scripts.
const msgMixedScripts = "Enter a valid username. This value may not mix letters of different scripts (such as Latin with Cyrillic or Greek look-alikes)."

// MixedScripts reports whether the letters of s come from more than one
// script in a way Unicode TR39's "highly restrictive" level refuses: one
// script, or Latin with Han and Japanese kana, with Han and Bopomofo, or
// with Han and Hangul, is fine; Latin with Cyrillic ("аdmin" with a
// Cyrillic а) or Greek is not. Digits and @/./+/-/_ belong to no script.
func MixedScripts(s string) bool {
	seen := map[string]bool{}
	for _, r := range s {
		if name := scriptOf(r); name != "" {
			seen[name] = true
		}
	}
	if len(seen) <= 1 {
		return false
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, allowed := range [][]string{
		{"Han", "Hiragana", "Katakana", "Latin"},
		{"Bopomofo", "Han", "Latin"},
		{"Hangul", "Han", "Latin"},
	} {
		if subset(names, allowed) {
			return false
		}
	}
	return true
}

func subset(names, allowed []string) bool {
	for _, n := range names {
		if !slices.Contains(allowed, n) {
			return false
		}
	}
	return true
}

// scriptOf names the script of r, "" for Common and Inherited characters
// (digits, punctuation, combining marks) that go with any script.
func scriptOf(r rune) string {
	if r < 0x80 && !unicode.IsLetter(r) {
		return ""
	}
	for name, table := range unicode.Scripts {
		if name == "Common" || name == "Inherited" {
			continue
		}
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

// CheckNewUsername normalises a new username (NFKC) and returns it with
// the message refusing it, or "" when it is acceptable: Django's allowed
// characters, and one script unless allowMixed.
func CheckNewUsername(v string, allowMixed bool) (string, string) {
	v = NormalizeUsername(v)
	if !validUsername(v) {
		return v, msgUsername
	}
	if !allowMixed && MixedScripts(v) {
		return v, msgMixedScripts
	}
	return v, ""
}

func (s *Service) usernameProblem(v string) (string, string) {
	return CheckNewUsername(v, s.opts.AllowMixedScripts)
}
