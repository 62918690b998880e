package storage

import "testing"

func TestValidText(t *testing.T) {
	type rec struct {
		Name    string
		Tags    []string
		Data    map[string]string
		Claims  map[string]any
		Key     []byte // binary: not checked
		private string
	}
	for _, tc := range []struct {
		name string
		v    any
		want bool
	}{
		{"plain text", "Ada Lovelace ✓", true},
		{"the empty string", "", true},
		{"nil", nil, true},
		{"a number", 42, true},
		{"a NUL byte", "a\x00b", false},
		{"invalid UTF-8", "a\xffb", false},
		{"a truncated rune", "\xe2\x9c", false},
		{"a NUL in a list", []string{"a", "\x00"}, false},
		{"a NUL in a map key", map[string]string{"\x00": "a"}, false},
		{"invalid UTF-8 in a map value", map[string]string{"a": "\xff"}, false},
		{"a valid record", rec{Name: "a", Tags: []string{"b"}, Data: map[string]string{"c": "d"}, Key: []byte{0, 0xff}}, true},
		{"a NUL in a field", rec{Name: "a\x00"}, false},
		{"a NUL deep in JSON", rec{Claims: map[string]any{"amr": []any{"pwd", map[string]any{"x": "\x00"}}}}, false},
		{"a pointer to a bad record", &rec{Tags: []string{"\xff"}}, false},
		{"a nil pointer", (*rec)(nil), true},
		{"an unexported field is not looked at", rec{private: "\x00"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidText(tc.v); got != tc.want {
				t.Errorf("ValidText(%#v) = %v, want %v", tc.v, got, tc.want)
			}
		})
	}
	if ValidText("a", "b\x00") {
		t.Error("ValidText checks only its first argument")
	}
}
