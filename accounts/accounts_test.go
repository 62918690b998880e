package accounts

import (
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/storage"
)

func TestRatioIsDifflibs(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"abcd", "bcde", 0.75},          // difflib.SequenceMatcher(None, "abcd", "bcde").ratio()
		{"password", "passw0rd", 0.875}, // "passw" + "rd"
		{"", "", 1},
		{"abc", "xyz", 0},
		{"qabxcd", "abycdf", 2 * 4.0 / 12}, // "ab" + "cd"
	} {
		if got := ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("ratio(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPasswordPolicyGivesDjangosMessages(t *testing.T) {
	p := DefaultPasswordPolicy()
	u := storage.User{Username: "johnsmith", Email: "john.smith@example.com", FirstName: "John"}
	for _, tc := range []struct {
		password string
		want     []string
	}{
		{"correct-Horse-7", nil},
		{"short", []string{"This password is too short. It must contain at least 8 characters."}},
		{"password", []string{"This password is too common."}},
		{"8675309123", []string{"This password is entirely numeric."}},
		{"johnsmith1", []string{"The password is too similar to the username."}},
		{"1234", []string{"This password is too short. It must contain at least 8 characters.", "This password is too common.", "This password is entirely numeric."}},
	} {
		got := p.Validate(tc.password, u)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("Validate(%q) = %q, want %q", tc.password, got, tc.want)
		}
	}
	if got := (PasswordPolicy{MinLength: 1}).Validate("", u); len(got) != 1 || !strings.Contains(got[0], "1 character.") {
		t.Errorf("min length 1: %q", got)
	}
}

func TestUIDIsDjangos(t *testing.T) {
	if got := EncodeUID(1); got != "MQ" { // urlsafe_base64_encode(force_bytes(1))
		t.Errorf("EncodeUID(1) = %q", got)
	}
	if got := EncodeUID(12345); got != "MTIzNDU" {
		t.Errorf("EncodeUID(12345) = %q", got)
	}
	for _, bad := range []string{"", "!!", "MA", "LTE", strings.Repeat("M", 40), "YWJj"} {
		if id, ok := DecodeUID(bad); ok {
			t.Errorf("DecodeUID(%q) = %d, true", bad, id)
		}
	}
	if id, ok := DecodeUID("MTIzNDU"); !ok || id != 12345 {
		t.Errorf("DecodeUID: %d %v", id, ok)
	}
}

func TestValidEmail(t *testing.T) {
	for _, ok := range []string{"a@example.com", "first.last+tag@sub.example.org", "admin@localhost"} {
		if !validEmail(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "plain", "a@", "@b.c", "A <a@b.c>", "a@b..c", "a b@c.d", "a@.b", strings.Repeat("a", 250) + "@b.co"} {
		if validEmail(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReaderTypes(t *testing.T) {
	r := newReader(Input{Values: map[string]any{"s": "x", "n": 5.0, "b": "true", "o": map[string]any{"a": 1.0}}, Form: true})
	if v, ok := r.str("s", true, false, 10); !ok || v != "x" {
		t.Error("str")
	}
	if _, ok := r.str("n", true, false, 10); ok {
		t.Error("a number read as a string")
	}
	if v, ok := r.boolean("b"); !ok || !v {
		t.Error("a form boolean")
	}
	if _, ok := r.object("o"); !ok {
		t.Error("object")
	}
	r.str("missing", true, false, 10)
	err := r.done()
	fe, _ := err.(FieldErrors)
	if len(fe["n"]) != 1 || fe["missing"][0] != "This field is required." {
		t.Errorf("errors %v", fe)
	}
	r = newReader(Input{Values: map[string]any{"extra": 1.0}})
	if fe, _ := r.done().(FieldErrors); fe["extra"][0] != "Unknown field." {
		t.Errorf("unknown field: %v", fe)
	}
}

func TestUserTokenFormat(t *testing.T) {
	// The MAC needs the provider's keyed hash; the format checks do not.
	s := &Service{}
	for _, bad := range []string{"", "abc", "-", "zzzzzzzzzzzzzzzz-" + strings.Repeat("a", 32), "1-short"} {
		if s.checkUserTokenFormatOnly(bad) {
			t.Errorf("%q passes the format check", bad)
		}
	}
	if !s.checkUserTokenFormatOnly("cfd3x2-" + strings.Repeat("a", 32)) {
		t.Error("a well-formed token fails the format check")
	}
}
