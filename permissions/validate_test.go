package permissions

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// ValidGroupName and ValidPermission are the admin API's regular
// expressions written out; they must accept exactly the same strings.
func TestValidatorsMatchTheirRegularExpressions(t *testing.T) {
	groupRE := regexp.MustCompile(`^[\pL\pN _.@+-]{1,150}$`)
	permRE := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,254}$`)
	cases := []string{
		"", " ", "admins", "Équipe 1", "støtte_α.β@x+y-z", "日本語", "١٢٣", "Ⅻ", "a\tb", "a/b", "a\x00",
		"\xff", "a\xffb", "\uFFFD", "emoji😀", strings.Repeat("é", 150), strings.Repeat("é", 151),
		"auth.view_user", "_x", ".x", ":x", "-x", "x:y-z.w", "x y", "x/y", "ü.view",
		strings.Repeat("a", 255), strings.Repeat("a", 256), "a" + strings.Repeat(".", 254),
	}
	alphabet := []rune("aZ09 _.@+-:/é日١Ⅻ\t😀\uFFFD")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		n := rng.IntN(12)
		if rng.IntN(20) == 0 {
			n = 140 + rng.IntN(130)
		}
		var b strings.Builder
		for range n {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		if got, want := ValidGroupName(s), groupRE.MatchString(s); got != want {
			t.Errorf("ValidGroupName(%q) = %v, the expression says %v", s, got, want)
		}
		if got, want := ValidPermission(s), permRE.MatchString(s); got != want {
			t.Errorf("ValidPermission(%q) = %v, the expression says %v", s, got, want)
		}
	}
}
