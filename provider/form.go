package provider

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxParamLength bounds any single form value: no legitimate parameter of
// the token endpoints comes near it.
const maxParamLength = 8 << 10

const formMediaType = "application/x-www-form-urlencoded"

// ParseForm reads a form-encoded POST body strictly, as RFC 6749 wants it:
// POST only, application/x-www-form-urlencoded only (a JSON body is a 400,
// never silently parsed), no parameter twice (§3.2), valid UTF-8, bounded
// sizes. Parameters in the URL query are ignored. The body must already be
// limited by the caller (http.MaxBytesReader); exceeding it is a 413.
func ParseForm(r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, ErrMethodNotAllowed
	}
	if ct := r.Header.Get("Content-Type"); ct != formMediaType { // the usual case, without parameters
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != formMediaType {
			return nil, ErrUnsupportedMediaType
		}
	}
	// The body alone, read here rather than by r.ParseForm, which would
	// also parse the query and merge both into r.Form.
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, ErrRequestTooLarge
			}
			return nil, ErrInvalidRequest.WithDescription("malformed form body")
		}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, ErrInvalidRequest.WithDescription("malformed form body")
	}
	// For anything that reads r.PostForm, r.Form or r.FormValue later: the
	// body's parameters only, as the query is ignored.
	r.PostForm, r.Form = form, form
	for key, values := range form {
		if len(values) > 1 && key != ParamResource {
			return nil, ErrInvalidRequest.WithDescription("parameter " + safeName(key) + " given more than once")
		}
		for _, v := range values {
			if len(v) > maxParamLength || !validText(v) || !validText(key) {
				return nil, ErrInvalidRequest.WithDescription("parameter " + safeName(key) + " is too long, not UTF-8 or holds a NUL")
			}
		}
	}
	return form, nil
}

// safeName returns a parameter name fit to echo in an error description.
func safeName(s string) string {
	if len(s) > 40 || !utf8.ValidString(s) {
		return "(invalid name)"
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "(invalid name)"
		}
	}
	return s
}

// validText reports whether s is UTF-8 without NUL bytes (no protocol
// parameter has one, and databases refuse them).
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
