package accounts

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCutTextNeverSplitsACharacter(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short text is kept", "héllo", 150, "héllo"},
		{"ASCII is cut at n", strings.Repeat("a", 200), 150, strings.Repeat("a", 150)},
		{"a two-byte character across the cut is dropped", strings.Repeat("a", 149) + "é", 150, strings.Repeat("a", 149)},
		{"a four-byte character across the cut is dropped", "ab" + "😀", 4, "ab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cutText(tc.in, tc.n)
			if got != tc.want || !utf8.ValidString(got) {
				t.Fatalf("cutText(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}
