package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// dumpObject is one element of dumpdata's array.
type dumpObject struct {
	Model  string                     `json:"model"`
	PK     json.RawMessage            `json:"pk"`
	Fields map[string]json.RawMessage `json:"fields"`
}

// dumpReader walks the array of a dumpdata file one object at a time, so
// that memory does not grow with the file.
type dumpReader struct {
	dec   *json.Decoder
	index int // 1-based number of the object last read
}

// errNotDump is a file that is not a JSON array of objects.
var errNotDump = errors.New("not a dumpdata file (want a JSON array of objects)")

func newDumpReader(r io.Reader) (*dumpReader, error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotDump, syntaxDetail(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, errNotDump
	}
	return &dumpReader{dec: dec}, nil
}

// next returns the next object; io.EOF after the closing bracket. A syntax
// error or a truncated file is an error naming the object.
func (r *dumpReader) next() (dumpObject, error) {
	if !r.dec.More() {
		if _, err := r.dec.Token(); err != nil {
			return dumpObject{}, fmt.Errorf("after record %d: %s", r.index, syntaxDetail(err))
		}
		return dumpObject{}, io.EOF
	}
	r.index++
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return dumpObject{}, fmt.Errorf("record %d: %s", r.index, syntaxDetail(err))
	}
	var obj dumpObject
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Model == "" {
		// A well-formed value that is no dumpdata object: this record
		// alone is broken.
		return dumpObject{Model: "?"}, nil
	}
	obj.Model = strings.ToLower(obj.Model)
	return obj, nil
}

func syntaxDetail(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the file ends too early (truncated?)"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return err.Error()
}

// Readers of dumpdata field values.

func fieldString(f map[string]json.RawMessage, name string) (string, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("field %s: want a string", name)
	}
	return s, nil
}

func fieldBool(f map[string]json.RawMessage, name string, def bool) (bool, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, fmt.Errorf("field %s: want true or false", name)
	}
	return b, nil
}

func fieldTime(f map[string]json.RawMessage, name string) (time.Time, error) {
	s, err := fieldString(f, name)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	return parseDjangoTime(s)
}

// parseDjangoTime reads Django's serialized datetimes: ISO 8601 with "Z" or
// an offset, or naive (USE_TZ = False), taken as UTC.
func parseDjangoTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time", s)
}

// ref is a foreign key as dumpdata writes it: a primary key, or with
// --natural-foreign a list (a group's [name], a permission's
// [codename, app_label, model]).
type ref struct {
	pk      string
	natural []string
}

func parseRefs(f map[string]json.RawMessage, name string) ([]ref, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("field %s: want a list", name)
	}
	out := make([]ref, 0, len(items))
	for _, it := range items {
		r, err := parseRef(it)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseRef(raw json.RawMessage) (ref, error) {
	var nat []string
	if err := json.Unmarshal(raw, &nat); err == nil {
		return ref{natural: nat}, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return ref{pk: n.String()}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return ref{pk: s}, nil
	}
	return ref{}, errors.New("a reference that is neither a key nor a natural key")
}

func pkString(raw json.RawMessage) string {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}
