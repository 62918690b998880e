package sqlstore

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
)

// A profile is a JSON object, and a JSON string may hold U+0000. Postgres
// refuses it in jsonb (and in text), and the stores refuse NUL in every
// plain text column, so the profile's strings (keys and values, at any
// depth) are escaped reversibly on the way in and restored on the way out:
// U+E000 (a private-use character) is the escape, written twice for
// itself, and followed by '0' for U+0000. A profile without either
// character is stored exactly as it is, so the column stays readable and
// searchable JSON.
const (
	profileEscape = "\ue000"
	escapedEscape = profileEscape + profileEscape
	escapedNUL    = profileEscape + "0"
)

func escapeProfile(p map[string]any) map[string]any {
	if p == nil {
		return nil
	}
	v, _ := mapProfile(p, escapeString).(map[string]any)
	return v
}

func unescapeProfile(p map[string]any) map[string]any {
	if p == nil {
		return nil
	}
	v, _ := mapProfile(p, unescapeString).(map[string]any)
	return v
}

// mapProfile applies f to every string of a decoded JSON value, map keys
// included, and returns a copy.
func mapProfile(v any, f func(string) string) any {
	switch v := v.(type) {
	case string:
		return f(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[f(k)] = mapProfile(x, f)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = mapProfile(x, f)
		}
		return out
	case []string:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = f(x)
		}
		return out
	}
	return v
}

// escapeString works on bytes, so text that is not UTF-8 stays as it is
// (and is refused by checkText).
func escapeString(s string) string {
	if !strings.Contains(s, profileEscape) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ReplaceAll(s, profileEscape, escapedEscape)
	return strings.ReplaceAll(s, "\x00", escapedNUL)
}

func unescapeString(s string) string {
	i := strings.Index(s, profileEscape)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		rest := s[i+len(profileEscape):]
		switch {
		case strings.HasPrefix(rest, profileEscape):
			b.WriteString(profileEscape)
			rest = rest[len(profileEscape):]
		case strings.HasPrefix(rest, "0"):
			b.WriteByte(0)
			rest = rest[1:]
		default: // not written by escapeString: keep it
			b.WriteString(profileEscape)
		}
		s = rest
		i = strings.Index(s, profileEscape)
	}
	b.WriteString(s)
	return b.String()
}

// profileColumn stores a profile as JSON text written and read by
// encoding/json, not by bun's JSON handling, which rewrites \u0000 escapes
// on the way in and out (so a literal "\u0000" in a value came back as a
// NUL byte). A nil profile is NULL.
type profileColumn map[string]any

// Value implements driver.Valuer.
func (p profileColumn) Value() (driver.Value, error) {
	if p == nil {
		return nil, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any(p)); err != nil {
		return nil, fmt.Errorf("encode profile: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// Scan implements sql.Scanner.
func (p *profileColumn) Scan(src any) error {
	var data []byte
	switch v := src.(type) {
	case nil:
		*p = nil
		return nil
	case string:
		data = []byte(v)
	case []byte:
		data = v
	default:
		return fmt.Errorf("profile: cannot scan %T", src)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("decode profile: %w", err)
	}
	*p = m
	return nil
}
