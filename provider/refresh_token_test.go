package provider

import (
	"bytes"
	"strings"
	"testing"
)

func refreshSecrets(t *testing.T, fill byte) *Secrets {
	t.Helper()
	s, err := NewSecrets(bytes.Repeat([]byte{fill}, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRefreshTokenRoundTrip(t *testing.T) {
	s := refreshSecrets(t, 7)
	raw := s.NewRefreshToken("fam_ABC-123", 41)
	if !strings.HasPrefix(raw, PrefixRefreshToken+"fam_ABC-123.41.") {
		t.Fatalf("token %q does not name its family and generation", raw)
	}
	ref, ok := s.ParseRefreshToken(raw)
	if !ok {
		t.Fatal("a token we made does not parse")
	}
	if ref.FamilyID != "fam_ABC-123" || ref.Generation != 41 || ref.Hash != s.Hash(raw) {
		t.Fatalf("parsed %+v", ref)
	}
	if other := s.NewRefreshToken("fam_ABC-123", 41); other == raw {
		t.Fatal("two tokens of one generation are equal: the random part is missing")
	}
}

func TestRefreshTokenForgeries(t *testing.T) {
	s := refreshSecrets(t, 7)
	raw := s.NewRefreshToken("famX", 3)
	payload := raw[strings.LastIndexByte(raw, '.')+1:]
	flip := []byte(payload)
	if flip[10] == 'A' {
		flip[10] = 'B'
	} else {
		flip[10] = 'A'
	}
	cases := map[string]string{
		"older generation":   strings.Replace(raw, ".3.", ".2.", 1),
		"other family":       strings.Replace(raw, "famX.", "famY.", 1),
		"tampered payload":   strings.Replace(raw, payload, string(flip), 1),
		"leading zero":       strings.Replace(raw, ".3.", ".03.", 1),
		"negative":           strings.Replace(raw, ".3.", ".-3.", 1),
		"other master key":   refreshSecrets(t, 8).NewRefreshToken("famX", 3),
		"old opaque format":  NewSecret(PrefixRefreshToken),
		"no prefix":          strings.TrimPrefix(raw, PrefixRefreshToken),
		"truncated":          raw[:len(raw)-1],
		"extra part":         raw + ".x",
		"empty family":       strings.Replace(raw, "famX", "", 1),
		"huge generation":    strings.Replace(raw, ".3.", ".99999999999999999999.", 1),
		"access token shape": PrefixAccessToken + payload,
		"empty":              "",
	}
	for name, tok := range cases {
		if ref, ok := s.ParseRefreshToken(tok); ok {
			t.Errorf("%s: %q parsed as %+v", name, tok, ref)
		}
	}
}

func BenchmarkParseRefreshToken(b *testing.B) {
	s, _ := NewSecrets(bytes.Repeat([]byte{7}, MasterKeySize))
	raw := s.NewRefreshToken("famX", 3)
	for b.Loop() {
		if _, ok := s.ParseRefreshToken(raw); !ok {
			b.Fatal("no")
		}
	}
}

// A token's successor is the same every time it is made (a repeat within
// the reuse grace gets the same one), names the next generation, parses,
// differs between tokens of one generation and between master keys, and
// only tokens latchkey made have one.
func TestNextRefreshTokenIsDerivedFromThePresentedToken(t *testing.T) {
	s := refreshSecrets(t, 7)
	raw := s.NewRefreshToken("fam", 3)
	next, ok := s.NextRefreshToken(raw)
	if !ok || !strings.HasPrefix(next, PrefixRefreshToken+"fam.4.") {
		t.Fatalf("successor %q, %v", next, ok)
	}
	if again, _ := s.NextRefreshToken(raw); again != next {
		t.Fatal("the successor of one token differs between calls")
	}
	if ref, ok := s.ParseRefreshToken(next); !ok || ref.Generation != 4 {
		t.Fatalf("the successor parses as %+v, %v", ref, ok)
	}
	if other, _ := s.NextRefreshToken(s.NewRefreshToken("fam", 3)); other == next {
		t.Fatal("two tokens of one generation have the same successor")
	}
	if other, _ := refreshSecrets(t, 8).NextRefreshToken(raw); other != "" {
		t.Fatal("a token of another master key has a successor")
	}
	last := "A"
	if strings.HasSuffix(raw, "A") {
		last = "B"
	}
	forged := raw[:len(raw)-1] + last
	if _, ok := s.NextRefreshToken(forged); ok {
		t.Fatal("a forged token has a successor")
	}
}
