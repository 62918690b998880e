package accounts

import "testing"

func TestNormalizeUsernameIsNFKC(t *testing.T) {
	for in, want := range map[string]string{
		"ａdmin": "admin",     // fullwidth a
		"ＡＤＭＩＮ": "ADMIN",     // fullwidth capitals (case is kept, as Django does)
		"ﬁle":   "file",      // ligature
		"x²":    "x2",        // superscript
		"Ω":     "Ω",         // ohm sign to Greek omega
		"admin": "admin",     // unchanged
		"José":  "Jos\u00e9", // decomposed é composed
	} {
		if got := NormalizeUsername(in); got != want {
			t.Errorf("NormalizeUsername(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMixedScripts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mixed bool
	}{
		{"admin", false},
		{"admin_2024.x@y+z-w", false},
		{"иван", false},           // Cyrillic alone
		{"σοφία", false},          // Greek alone
		{"山田太郎", false},           // Han
		{"yamada山田たろうタロウ", false}, // Latin with Han and kana (TR39 highly restrictive)
		{"kim김철수", false},         // Latin, Hangul
		{"\u0430dmin", true},      // Cyrillic а in Latin
		{"p\u0430ypal", true},     // Cyrillic а in Latin
		{"\u03bfmega", true},      // Greek ο in Latin
		{"иван\u03b1", true},      // Cyrillic with Greek
		{"김철수たろう", true},          // Hangul with kana
	} {
		if got := MixedScripts(tc.name); got != tc.mixed {
			t.Errorf("MixedScripts(%q) = %v, want %v", tc.name, got, tc.mixed)
		}
	}
	if v, msg := CheckNewUsername("ａdmin", false); v != "admin" || msg != "" {
		t.Errorf("CheckNewUsername(ａdmin) = %q, %q", v, msg)
	}
	if _, msg := CheckNewUsername("\u0430dmin", false); msg != msgMixedScripts {
		t.Errorf("a Cyrillic а in a Latin username was accepted: %q", msg)
	}
	if _, msg := CheckNewUsername("\u0430dmin", true); msg != "" {
		t.Errorf("mixed scripts allowed but refused: %q", msg)
	}
}
