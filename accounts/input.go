package accounts

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Input is a decoded request body: a JSON object, or a form whose values
// are strings (lists for repeated keys).
type Input struct {
	Values map[string]any
	// Form is true when the body was a form: booleans and objects then
	// arrive as text.
	Form bool
}

// maxField bounds any text field; longer is a 400, never stored.
const maxField = 4096

// reader takes fields out of an Input and collects DRF's messages.
type reader struct {
	in   Input
	errs FieldErrors
	used map[string]bool
}

func newReader(in Input) *reader {
	if in.Values == nil {
		in.Values = map[string]any{}
	}
	return &reader{in: in, errs: FieldErrors{}, used: map[string]bool{}}
}

func (r *reader) get(key string) (any, bool) {
	r.used[key] = true
	v, ok := r.in.Values[key]
	return v, ok
}

// ignore marks read-only keys DRF silently ignores.
func (r *reader) ignore(keys ...string) {
	for _, k := range keys {
		r.used[k] = true
	}
}

func (r *reader) has(key string) bool {
	_, ok := r.in.Values[key]
	return ok
}

// str reads a string field. A missing required field, a blank one (unless
// allowBlank), a non-string or one over max runes is an error.
func (r *reader) str(key string, required, allowBlank bool, max int) (string, bool) {
	v, ok := r.get(key)
	if !ok || v == nil {
		if required {
			r.errs.add(key, "This field is required.")
		} else if ok {
			r.errs.add(key, "This field may not be null.")
		}
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		// DRF's CharField would take a number as its text; we are strict.
		r.errs.add(key, "Not a valid string.")
		return "", false
	}
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		r.errs.add(key, "Null characters are not allowed.")
		return "", false
	}
	if !allowBlank && strings.TrimSpace(s) == "" {
		r.errs.add(key, "This field may not be blank.")
		return "", false
	}
	if max <= 0 {
		max = maxField
	}
	if utf8.RuneCountInString(s) > max {
		r.errs.add(key, fmt.Sprintf("Ensure this field has no more than %d characters.", max))
		return "", false
	}
	return s, true
}

// boolean reads a boolean (true/false; "true"/"false"/"1"/"0" in forms).
func (r *reader) boolean(key string) (bool, bool) {
	v, ok := r.get(key)
	if !ok {
		return false, false
	}
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		if r.in.Form {
			switch strings.ToLower(b) {
			case "true", "1", "on", "yes":
				return true, true
			case "false", "0", "off", "no", "":
				return false, true
			}
		}
	}
	r.errs.add(key, "Must be a valid boolean.")
	return false, false
}

// strList reads a list of strings, each at most max runes.
func (r *reader) strList(key string, max int) ([]string, bool) {
	v, ok := r.get(key)
	if !ok {
		return nil, false
	}
	var items []any
	switch l := v.(type) {
	case []any:
		items = l
	case []string:
		for _, x := range l {
			items = append(items, x)
		}
	case string:
		if !r.in.Form {
			r.errs.add(key, `Expected a list of items but got type "str".`)
			return nil, false
		}
		items = []any{l}
	default:
		r.errs.add(key, fmt.Sprintf(`Expected a list of items but got type "%s".`, jsonType(v)))
		return nil, false
	}
	if len(items) > 1000 {
		r.errs.add(key, "Ensure this field has no more than 1000 elements.")
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, isStr := it.(string)
		if !isStr || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 || s == "" || utf8.RuneCountInString(s) > max {
			r.errs.add(key, fmt.Sprintf("Every item must be a non-empty string of at most %d characters.", max))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// object reads a JSON object (a JSON text in forms), at most 16 KiB encoded.
func (r *reader) object(key string) (map[string]any, bool) {
	v, ok := r.get(key)
	if !ok {
		return nil, false
	}
	if s, isStr := v.(string); isStr && r.in.Form {
		var m map[string]any
		if len(s) > 16<<10 || json.Unmarshal([]byte(s), &m) != nil || m == nil {
			r.errs.add(key, "Value must be valid JSON.")
			return nil, false
		}
		v = m
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		r.errs.add(key, fmt.Sprintf(`Expected a dictionary of items but got type "%s".`, jsonType(v)))
		return nil, false
	}
	b, err := json.Marshal(m)
	if err != nil || len(b) > 16<<10 {
		r.errs.add(key, "Ensure this field has no more than 16384 bytes.")
		return nil, false
	}
	// Decoded again as plain JSON: a number the body carried as text
	// (json.Number) must be one every reader of the stored record can
	// decode, so 1e400 is refused here rather than stored for good.
	var plain map[string]any
	if err := json.Unmarshal(b, &plain); err != nil {
		r.errs.add(key, "A valid number is required.")
		return nil, false
	}
	return plain, true
}

// integer reads a whole number (text in forms).
func (r *reader) integer(key string, min, max int64) (int64, bool) {
	v, ok := r.get(key)
	if !ok {
		return 0, false
	}
	var n int64
	switch x := v.(type) {
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			r.errs.add(key, "A valid integer is required.")
			return 0, false
		}
		n = i
	case float64:
		if x != float64(int64(x)) {
			r.errs.add(key, "A valid integer is required.")
			return 0, false
		}
		n = int64(x)
	case string:
		if _, err := fmt.Sscanf(x, "%d", &n); err != nil || fmt.Sprint(n) != x {
			r.errs.add(key, "A valid integer is required.")
			return 0, false
		}
	default:
		r.errs.add(key, "A valid integer is required.")
		return 0, false
	}
	if n < min {
		r.errs.add(key, fmt.Sprintf("Ensure this value is greater than or equal to %d.", min))
		return 0, false
	}
	if n > max {
		r.errs.add(key, fmt.Sprintf("Ensure this value is less than or equal to %d.", max))
		return 0, false
	}
	return n, true
}

// done reports unknown fields and returns the collected errors, if any.
func (r *reader) done() error {
	var unknown []string
	for k := range r.in.Values {
		if !r.used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		key := k
		if len(key) > 64 || !utf8.ValidString(key) {
			key = NonField
		}
		r.errs.add(key, "Unknown field.")
	}
	if len(r.errs) > 0 {
		return r.errs
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "str"
	case bool:
		return "bool"
	case float64, json.Number:
		return "int"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	case nil:
		return "NoneType"
	}
	return fmt.Sprintf("%T", v)
}

// Django's UnicodeUsernameValidator.
var usernamePattern = regexp.MustCompile(`^[\pL\pN_.@+-]+$`)

const (
	msgUsername = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
	msgEmail    = "Enter a valid email address."
)

func validUsername(s string) bool { return usernamePattern.MatchString(s) }

// validEmail accepts a bare address with a local part and a domain.
func validEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " <>\"(),;:\\[]") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && domain != "" && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
}
