package passwordpolicy

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/storage"
)

// TestDjangoVectors compares every message with what Django 3.2's own
// validator code says (testdata/gen_vectors.py wrote the file).
func TestDjangoVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/django_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Password string
			User     map[string]string
			Messages []string
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 200 {
		t.Fatalf("only %d cases", len(file.Cases))
	}
	p := New(Default())
	for _, c := range file.Cases {
		got := p.Validate(c.Password, c.User)
		if !slices.Equal(got, c.Messages) {
			t.Errorf("Validate(%q, %v)\n got %q\nwant %q", c.Password, c.User, got, c.Messages)
		}
	}
}

// Examples of Django's own test suite (auth_tests/test_validators.py).
func TestDjangoExamples(t *testing.T) {
	user := map[string]string{"username": "testclient", "email": "testclient@example.com", "first_name": "Test", "last_name": "Client"}
	tests := []struct {
		name     string
		o        Options
		password string
		want     []string
	}{
		{"eight characters are enough", Options{MinLength: 8}, "12345678", nil},
		{"seven are not", Options{MinLength: 8}, "1234567", []string{"This password is too short. It must contain at least 8 characters."}},
		{"the singular form for one", Options{MinLength: 1}, "", []string{"This password is too short. It must contain at least 1 character."}},
		{"the username", Options{Similarity: true}, "testclient", []string{"The password is too similar to the username."}},
		{"part of the e-mail", Options{Similarity: true}, "example.com", []string{"The password is too similar to the email address."}},
		{"first name with max_similarity 0.3", Options{Similarity: true, UserAttributes: []string{"first_name"}, MaxSimilarity: 0.3}, "testclient", []string{"The password is too similar to the first name."}},
		{"max_similarity 1 only refuses the same value", Options{Similarity: true, MaxSimilarity: 1}, "testclient", []string{"The password is too similar to the username."}},
		{"max_similarity 1 lets a near value pass", Options{Similarity: true, MaxSimilarity: 1}, "testclien", nil},
		{"a different password passes", Options{Similarity: true}, "contentious", nil},
		{"a common password", Options{Common: true}, "godzilla", []string{"This password is too common."}},
		{"common is case-insensitive and trimmed", Options{Common: true}, "  PaSsWoRd ", []string{"This password is too common."}},
		{"an uncommon password", Options{Common: true}, "a-safe-password", nil},
		{"a custom common list", Options{Common: true, CommonPasswords: []string{"From-My-List"}}, "from-my-list", []string{"This password is too common."}},
		{"all digits", Options{Numeric: true}, "42424242", []string{"This password is entirely numeric."}},
		{"letters and digits", Options{Numeric: true}, "a-safe-password1", nil},
		{"the empty password is not numeric", Options{Numeric: true}, "", nil},
		{"an unknown attribute is named as is", Options{Similarity: true, UserAttributes: []string{"nickname"}}, "bigchief", []string{"The password is too similar to the nickname."}},
		{"a verbose name can be set", Options{Similarity: true, VerboseNames: map[string]string{"email": "e-mail"}}, "example.com", []string{"The password is too similar to the e-mail."}},
		{"max length", Options{MaxLength: 10}, strings.Repeat("x", 11), []string{"This password is too long. It must contain at most 10 characters."}},
		{"length counts characters, not bytes", Options{MinLength: 4, MaxLength: 4}, "ÿÿÿÿ", nil},
		{"every message in Django's order", Default(), "1234", []string{
			"This password is too short. It must contain at least 8 characters.",
			"This password is too common.",
			"This password is entirely numeric.",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := user
			if slices.Contains(tc.o.UserAttributes, "nickname") {
				attrs = map[string]string{"nickname": "BigChief"}
			}
			got := New(tc.o).Validate(tc.password, attrs)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNoAttributesNoSimilarityCheck(t *testing.T) {
	if got := New(Default()).Validate("ok-password-1", nil); got != nil {
		t.Errorf("got %q", got)
	}
}

func TestQuickRatio(t *testing.T) {
	// Values of difflib.SequenceMatcher(a=..., b=...).quick_ratio().
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"", "", 1},
		{"abc", "", 0},
		{"abcd", "bcde", 0.75},
		{"testclient", "testclient", 1},
		{"example.com", "example", 14.0 / 18},
		{"aab", "abb", 2.0 / 3},
		{"A", strings.Repeat("A", 10), 2.0 / 11},
	} {
		if got := quickRatio([]rune(tc.a), []rune(tc.b)); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("quickRatio(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSplitNonWord(t *testing.T) {
	for in, want := range map[string][]string{
		"a.b@c.d":  {"a", "b", "c", "d"},
		"@x":       {"", "x"},
		"x--":      {"x", ""},
		"jöhn_doe": {"jöhn_doe"},
		"":         {""},
	} {
		if got := splitNonWord(in); !slices.Equal(got, want) {
			t.Errorf("splitNonWord(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommonList(t *testing.T) {
	if n := CommonPasswordCount(); n < 19000 || n > 20000 {
		t.Errorf("the embedded list has %d passwords", n)
	}
}

func TestHelpTexts(t *testing.T) {
	got := New(Default()).HelpTexts()
	want := []string{
		"Your password can’t be too similar to your other personal information.",
		"Your password must contain at least 8 characters.",
		"Your password can’t be a commonly used password.",
		"Your password can’t be entirely numeric.",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestUserPolicy(t *testing.T) {
	p := ForUsers(New(Default()))
	u := storage.User{Username: "testclient", Email: "testclient@example.com", FirstName: "Test", LastName: "Client"}
	if got := p.Validate("example.com", u); !slices.Equal(got, []string{"The password is too similar to the email address."}) {
		t.Errorf("got %q", got)
	}
	if got := p.Validate("a-safe-password", u); got != nil {
		t.Errorf("got %q", got)
	}
}
