package accounts

import (
	"strings"
	"testing"
)

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
