package resourceserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Require returns net/http middleware that lets a request through when
// perm allows it, with the verified principal in its context
// (PrincipalFrom), and answers it otherwise:
//
//   - a token that does not verify: 401 {"detail": "Incorrect authentication
//     credentials."}, WWW-Authenticate: Bearer error="invalid_token" — even
//     under AllowAny, as DRF does;
//   - no token and perm refuses: 401 {"detail": "Authentication credentials
//     were not provided."}, WWW-Authenticate: Bearer realm="api";
//   - a token and perm refuses: 403 {"detail": "You do not have permission
//     to perform this action."}, with WWW-Authenticate: Bearer
//     error="insufficient_scope", scope="..." when scopes would allow it;
//   - the issuer does not answer (JWKS or introspection): 503.
//
// An Authorization header of another scheme (Basic, Token) is ignored: the
// request is anonymous.
func (v *Verifier) Require(perm Permission) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r, ok := v.Authorize(w, r, perm); ok {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// Authorize is Require for one request: it verifies the bearer token and
// checks perm, and returns the request with the principal in its context
// and true, or writes the refusal and returns false. Framework adapters
// (ginrs) are built on it.
func (v *Verifier) Authorize(w http.ResponseWriter, r *http.Request, perm Permission) (*http.Request, bool) {
	token, present := BearerToken(r)
	var p *Principal
	if present {
		var err error
		if p, err = v.Verify(r.Context(), token); err != nil {
			writeError(w, err, v.challenge())
			return r, false
		}
		r = r.WithContext(WithPrincipal(r.Context(), p))
	}
	if d := perm.Check(r, p); d != nil {
		writeDenial(w, p, d, v.challenge())
		return r, false
	}
	return r, true
}

// challenge is the WWW-Authenticate challenge of the Verifier's refusals:
// with the resource metadata URL when configured (RFC 9728 §5.1).
func (v *Verifier) challenge() string {
	if v.cfg.ResourceMetadata == "" {
		return challenge
	}
	return challenge + `, resource_metadata="` + v.cfg.ResourceMetadata + `"`
}

// CheckObject checks an object permission for the request's principal and
// writes the 401/403 when it refuses (DRF's check_object_permissions).
func CheckObject(w http.ResponseWriter, r *http.Request, perm ObjectPermission, obj any) bool {
	p, _ := PrincipalFrom(r.Context())
	if d := perm.CheckObject(r, p, obj); d != nil {
		writeDenial(w, p, d, challenge)
		return false
	}
	return true
}

// BearerToken returns the token of an "Authorization: Bearer" header
// (RFC 6750 §2.1; the scheme in any case), and whether there was one. A
// bearer header with no token, or a token with a space, is ("", true).
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if strings.ContainsAny(token, " \t") {
		return "", true
	}
	return token, true
}

const challenge = `Bearer realm="api"`

// WriteError answers an error of Verify: 503 for ErrUnavailable, else 401
// invalid_token.
func WriteError(w http.ResponseWriter, err error) {
	writeError(w, err, challenge)
}

func writeError(w http.ResponseWriter, err error, challenge string) {
	if errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrInvalidToken) {
		w.Header().Set("Retry-After", "5")
		writeDetail(w, http.StatusServiceUnavailable, "Service temporarily unavailable, try again later.")
		return
	}
	desc := quotable(strings.TrimPrefix(err.Error(), ErrInvalidToken.Error()+": "))
	if len(desc) > 200 { // it may quote the token's own claims
		desc = desc[:200]
	}
	w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_token", error_description="`+desc+`"`)
	writeDetail(w, http.StatusUnauthorized, MsgAuthenticationFailed)
}

func writeDenial(w http.ResponseWriter, p *Principal, d *Denial, challenge string) {
	if p == nil {
		// RFC 6750 §3.1: no error code when the request had no token.
		w.Header().Set("WWW-Authenticate", challenge)
		writeDetail(w, http.StatusUnauthorized, MsgNotAuthenticated)
		return
	}
	if len(d.Scopes) > 0 {
		w.Header().Set("WWW-Authenticate", challenge+`, error="insufficient_scope", scope="`+quotable(scopeList(d.Scopes))+`"`)
	}
	msg := d.Message
	if msg == "" {
		msg = MsgPermissionDenied
	}
	writeDetail(w, http.StatusForbidden, msg)
}

// writeDetail writes DRF's error body {"detail": "..."}.
func writeDetail(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"detail": detail})
}

// quotable keeps the characters RFC 6750 §3 allows in a quoted attribute
// value (%x20-21 / %x23-5B / %x5D-7E).
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
