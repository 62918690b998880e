package storage

import (
	"reflect"
	"strings"
	"unicode/utf8"
)

// ValidText reports whether every string in vs is text every store keeps
// as it is: valid UTF-8 without a NUL byte. Postgres refuses both, SQLite
// cannot take a NUL in a statement, and JSON encoding replaces invalid
// UTF-8, so a store would fail or change the value. It looks into records
// (exported fields), pointers, slices and maps (keys too); byte slices are
// binary and not checked.
//
// Stores check with it before they write (ErrInvalidInput) and before they
// look up by a key (ErrNotFound: nothing stored has such a key); see the
// package comment.
func ValidText(vs ...any) bool {
	for _, v := range vs {
		if !validAny(v) {
			return false
		}
	}
	return true
}

func validString(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// validAny takes the common types without reflection.
func validAny(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return validString(v)
	case []string:
		for _, s := range v {
			if !validString(s) {
				return false
			}
		}
		return true
	case map[string]string:
		for k, s := range v {
			if !validString(k) || !validString(s) {
				return false
			}
		}
		return true
	}
	return validValue(reflect.ValueOf(v))
}

func validValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return validString(v.String())
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || validValue(v.Elem())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return true
		}
		for i := range v.Len() {
			if !validValue(v.Index(i)) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !validValue(it.Key()) || !validValue(it.Value()) {
				return false
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if t.Field(i).IsExported() && !validValue(v.Field(i)) {
				return false
			}
		}
	}
	return true
}

// CutText makes s text every store accepts, at most n bytes long: invalid
// UTF-8 (a User-Agent may hold Latin-1 bytes) and NUL become U+FFFD, and
// the cut never splits a character. The one helper for free text from a
// request (user agents, logins kept in audit events).
func CutText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
