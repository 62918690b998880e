package provider

import (
	"strings"
	"testing"
)

func TestNewUserCodeIsEightLettersOfTheAlphabet(t *testing.T) {
	seen := map[byte]bool{}
	for range 2000 {
		c := newUserCode()
		if len(c) != userCodeLength {
			t.Fatalf("user code %q has %d letters", c, len(c))
		}
		for i := range len(c) {
			if !strings.ContainsRune(UserCodeAlphabet, rune(c[i])) {
				t.Fatalf("user code %q has %q, not of the alphabet", c, c[i])
			}
			seen[c[i]] = true
		}
		if got, ok := NormalizeUserCode(FormatUserCode(c)); !ok || got != c {
			t.Fatalf("%q shown as %q normalizes to %q, %t", c, FormatUserCode(c), got, ok)
		}
	}
	if len(seen) != len(UserCodeAlphabet) {
		t.Errorf("2000 codes used %d of the %d letters", len(seen), len(UserCodeAlphabet))
	}
}

func TestNormalizeUserCode(t *testing.T) {
	for _, tc := range []struct {
		typed, want string
		ok          bool
	}{
		{"WDJB-MJHT", "WDJBMJHT", true},
		{"wdjb-mjht", "WDJBMJHT", true},
		{"wdjbmjht", "WDJBMJHT", true},
		{" WDJB MJHT ", "WDJBMJHT", true},
		{"WDJB-MJH", "", false},      // too short
		{"WDJB-MJHTX", "", false},    // too long
		{"WDJA-MJHT", "", false},     // a vowel
		{"WDJ0-MJHT", "", false},     // a digit
		{"WDJB-MJHŤ", "", false},     // not ASCII
		{"WDJB-MJHT\x00", "", false}, // NUL
		{strings.Repeat("-", 65), "", false},
	} {
		got, ok := NormalizeUserCode(tc.typed)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("NormalizeUserCode(%q) = %q, %t; want %q, %t", tc.typed, got, ok, tc.want, tc.ok)
		}
	}
}
