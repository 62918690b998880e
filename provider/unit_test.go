package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchkey-auth/latchkey/storage"
)

func formRequest(t *testing.T, method, contentType, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, "/oauth2/token?grant_type=from_query", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestParseForm(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		method, ct  string
		body        string
		limit       int64
		wantStatus  int
		wantGrant   string
		wantErrDesc string
	}{
		{name: "a plain form is parsed and the query is ignored", method: "POST", ct: form, body: "grant_type=password", wantGrant: "password"},
		{name: "a charset parameter is fine", method: "POST", ct: form + "; charset=utf-8", body: "grant_type=x", wantGrant: "x"},
		{name: "GET is not allowed", method: "GET", ct: form, body: "", wantStatus: 405},
		{name: "a JSON body is refused, not parsed", method: "POST", ct: "application/json", body: `{"grant_type":"password"}`, wantStatus: 415},
		{name: "a missing content type is refused", method: "POST", ct: "", body: "grant_type=password", wantStatus: 415},
		{name: "a repeated parameter is refused", method: "POST", ct: form, body: "grant_type=a&grant_type=b", wantStatus: 400, wantErrDesc: "grant_type"},
		{name: "bad percent-encoding is refused", method: "POST", ct: form, body: "grant_type=%zz", wantStatus: 400},
		{name: "non-UTF-8 values are refused", method: "POST", ct: form, body: "username=%ff%fe", wantStatus: 400},
		{name: "a very long value is refused", method: "POST", ct: form, body: "username=" + strings.Repeat("a", maxParamLength+1), wantStatus: 400},
		{name: "a body over the limit is 413", method: "POST", ct: form, body: "username=" + strings.Repeat("a", 2000), limit: 1000, wantStatus: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := formRequest(t, tc.method, tc.ct, tc.body)
			if tc.limit > 0 {
				r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, tc.limit)
			}
			got, err := ParseForm(r)
			if tc.wantStatus != 0 {
				e := AsError(err)
				if e == nil || e.Status != tc.wantStatus {
					t.Fatalf("err = %v, want status %d", err, tc.wantStatus)
				}
				if !strings.Contains(e.Description, tc.wantErrDesc) {
					t.Fatalf("description %q lacks %q", e.Description, tc.wantErrDesc)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Get("grant_type") != tc.wantGrant || r.Form.Get("grant_type") != tc.wantGrant {
				t.Fatalf("grant_type = %q / %q, want %q", got.Get("grant_type"), r.Form.Get("grant_type"), tc.wantGrant)
			}
		})
	}
}

func TestReadClientCredentials(t *testing.T) {
	basic := func(id, secret string) http.Header {
		r := httptest.NewRequest("POST", "/", nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return r.Header
	}
	tests := []struct {
		name       string
		header     http.Header
		form       url.Values
		want       clientCredentials
		wantErr    *Error
		wantDetail string
	}{
		{name: "basic credentials are form-decoded", header: basic("my client", "s3cr%t"), form: url.Values{},
			want: clientCredentials{id: "my client", secret: "s3cr%t", method: AuthSecretBasic}},
		{name: "post credentials", form: url.Values{"client_id": {"a"}, "client_secret": {"b"}},
			want: clientCredentials{id: "a", secret: "b", method: AuthSecretPost}},
		{name: "a client_id alone is a public client", form: url.Values{"client_id": {"a"}},
			want: clientCredentials{id: "a", method: AuthNone}},
		{name: "no credentials at all is invalid_client", form: url.Values{}, wantErr: ErrInvalidClient},
		{name: "two methods at once are refused", header: basic("a", "b"), form: url.Values{"client_secret": {"b"}}, wantErr: ErrInvalidRequest},
		{name: "a different client_id in the form is refused", header: basic("a", "b"), form: url.Values{"client_id": {"c"}}, wantErr: ErrInvalidRequest},
		{name: "a non-basic Authorization header is invalid_client", header: http.Header{"Authorization": {"Bearer x"}}, form: url.Values{}, wantErr: ErrInvalidClient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			if tc.header != nil {
				r.Header = tc.header
			}
			got, err := readClientCredentials(r, tc.form)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestGrantScope(t *testing.T) {
	cl := &storage.Client{Scope: "openid profile api:read"}
	tests := []struct {
		name, requested, want string
		wantErr               bool
	}{
		{name: "no requested scope gets every registered scope", requested: "", want: "openid profile api:read"},
		{name: "a subset is granted in request order", requested: "api:read openid", want: "api:read openid"},
		{name: "duplicates are granted once", requested: "openid openid", want: "openid"},
		{name: "an unregistered scope is dropped when others remain", requested: "openid admin", want: "openid"},
		{name: "only unregistered scopes are invalid_scope", requested: "admin write", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := grantScope(cl, tc.requested)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidScope) {
					t.Fatalf("err = %v, want invalid_scope", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestAsError(t *testing.T) {
	tests := []struct {
		name       string
		in         error
		wantCode   string
		wantStatus int
	}{
		{"our errors pass through", ErrInvalidScope, "invalid_scope", 400},
		{"a store that reports itself unavailable is 503", fmt.Errorf("get user: %w", errors.Join(storage.ErrUnavailable, errors.New("dial tcp: refused"))), "temporarily_unavailable", 503},
		{"input a store refuses is invalid_request", fmt.Errorf("get group: %w", storage.ErrInvalidInput), "invalid_request", 400},
		{"an error a store did not classify is not an outage", errors.New("connection refused"), "server_error", 500},
		{"the request's deadline spent waiting is 503", fmt.Errorf("get user: %w", context.DeadlineExceeded), "temporarily_unavailable", 503},
		{"anything else is server_error", errors.New("boom"), "server_error", 500},
		{"a wrapped error of ours keeps its code", errors.Join(errors.New("ctx"), ErrInvalidClient), "invalid_client", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := AsError(tc.in)
			if e.Code != tc.wantCode || e.Status != tc.wantStatus {
				t.Fatalf("got %s/%d, want %s/%d", e.Code, e.Status, tc.wantCode, tc.wantStatus)
			}
		})
	}
	for _, err := range []error{storage.ErrNotFound, storage.ErrConflict, storage.ErrReused} {
		if e := AsError(err); e.Status == 503 {
			t.Errorf("%v is a result, not an outage", err)
		}
	}
	down := AsError(fmt.Errorf("redisstore: rotate: %w", errors.Join(storage.ErrUnavailable, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused (redis)"))))
	if down.Status != 503 || strings.Contains(down.Description, "redis") || strings.Contains(down.Description, "127.0.0.1") {
		t.Errorf("an outage answers %d %q: 503 without internals wanted", down.Status, down.Description)
	}
	if down.Unwrap() == nil {
		t.Error("the outage's cause is lost for the log")
	}
	if e := ErrInvalidGrant.WithDescription("x"); ErrInvalidGrant.Description != "" || e.Description != "x" {
		t.Fatal("WithDescription must not mutate the sentinel")
	}
}

func TestSecrets(t *testing.T) {
	s, err := NewSecrets(bytes.Repeat([]byte{7}, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	secret := NewSecret(PrefixClientSecret)
	if !strings.HasPrefix(secret, PrefixClientSecret) || len(secret) != len(PrefixClientSecret)+43 {
		t.Fatalf("secret %q: want prefix and 256 bits of base64url", secret)
	}
	if a, b := NewSecret(""), NewSecret(""); a == b {
		t.Fatal("two secrets are equal")
	}
	h := s.Hash(secret)
	if h == secret || !s.Verify(secret, h) || s.Verify(secret+"x", h) || s.Verify(secret, "") {
		t.Fatal("hash/verify round trip is wrong")
	}
	other, _ := NewSecrets(bytes.Repeat([]byte{8}, MasterKeySize))
	if other.Hash(secret) == h {
		t.Fatal("the hash must depend on the master key")
	}
	sealed := s.Seal([]byte("private"), "kid1")
	if plain, err := s.Open(sealed, "kid1"); err != nil || string(plain) != "private" {
		t.Fatalf("open = %q, %v", plain, err)
	}
	if _, err := s.Open(sealed, "kid2"); err == nil {
		t.Fatal("a sealed key opened under another key ID")
	}
	if _, err := other.Open(sealed, "kid1"); err == nil {
		t.Fatal("a sealed key opened with another master key")
	}
	if _, err := NewSecrets([]byte("short")); err == nil {
		t.Fatal("a short master key was accepted")
	}
}

func TestAudienceJSON(t *testing.T) {
	one, _ := json.Marshal(Audience{"a"})
	two, _ := json.Marshal(Audience{"a", "b"})
	if string(one) != `"a"` || string(two) != `["a","b"]` {
		t.Fatalf("marshal: %s %s", one, two)
	}
	var a Audience
	if err := json.Unmarshal([]byte(`"x"`), &a); err != nil || !a.Contains("x") {
		t.Fatalf("unmarshal string: %v %v", a, err)
	}
	if err := json.Unmarshal([]byte(`1`), &a); err == nil {
		t.Fatal("a number was accepted as an audience")
	}
}

func TestTypeMatches(t *testing.T) {
	for _, tc := range []struct {
		got  string
		want bool
	}{{"at+jwt", true}, {"AT+JWT", true}, {"application/at+jwt", true}, {"JWT", false}, {"", false}} {
		if typeMatches(tc.got, "at+jwt") != tc.want {
			t.Errorf("typeMatches(%q) != %v", tc.got, tc.want)
		}
	}
}

func TestTruncateGivesValidUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"curl/8.5", 10, "curl/8.5"},
		{"Mozilla \xe9t\xe9", 20, "Mozilla \uFFFDt\uFFFD"},         // Latin-1 bytes are replaced
		{strings.Repeat("a", 9) + "é", 10, strings.Repeat("a", 9)}, // no half character at the cut
	} {
		if got := truncate(tc.in, tc.n); got != tc.want || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
