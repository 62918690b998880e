package provider

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestEngineValidatesAuthorizeRequests(t *testing.T) {
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	good := url.Values{
		"client_id": {"app"}, "response_type": {"code"}, "redirect_uri": {"https://app.example/cb"},
		"state": {"s1"}, "scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	with := func(key, value string) url.Values {
		v := url.Values{}
		for k, vs := range good {
			v[k] = vs
		}
		if value == "" {
			v.Del(key)
		} else {
			v.Set(key, value)
		}
		return v
	}
	e := newEngine()
	tests := []struct {
		name     string
		query    url.Values
		wantCode string
	}{
		{"a complete S256 request is valid", good, ""},
		{"a missing client_id is invalid_request", with("client_id", ""), "invalid_request"},
		{"response_type token is unsupported", with("response_type", "token"), "unsupported_response_type"},
		{"an unknown response_type is unsupported", with("response_type", "id_token"), "unsupported_response_type"},
		{"a missing code_challenge is invalid_request (PKCE is forced)", with("code_challenge", ""), "invalid_request"},
		{"a short code_challenge is invalid_request", with("code_challenge", "abc"), "invalid_request"},
		{"the plain method is refused", with("code_challenge_method", "plain"), "invalid_request"},
		{"a missing method is refused (it would mean plain)", with("code_challenge_method", ""), "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/oauth2/authorize?"+tc.query.Encode(), nil)
			got, err := e.validateAuthorize(r, true)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.ClientID != "app" || got.State != "s1" || got.CodeChallenge != challenge || got.CodeChallengeMethod != "S256" || got.RedirectURI != "https://app.example/cb" {
					t.Fatalf("params %+v", got)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.wantCode || e.Status != 400 || e.Description == "" {
				t.Fatalf("got %v, want %s", err, tc.wantCode)
			}
		})
	}
	t.Run("an unknown engine error is server_error", func(t *testing.T) {
		if got := fromEngine(errors.New("new in the engine")); got.Code != "server_error" || got.Unwrap() == nil {
			t.Fatalf("got %v", got)
		}
	})
}

func TestVerifyPKCE(t *testing.T) {
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 Appendix B
	challenge := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	tests := []struct {
		name      string
		challenge string
		verifier  string
		ok        bool
	}{
		{"the RFC 7636 example verifies", challenge, verifier, true},
		{"another verifier does not", challenge, strings.Repeat("a", 43), false},
		{"a verifier shorter than 43 characters is refused", challenge, verifier[:42], false},
		{"a verifier longer than 128 characters is refused", challenge, strings.Repeat("a", 129), false},
		{"a verifier with characters outside the unreserved set is refused", challenge, verifier[:42] + "+", false},
		{"the challenge itself is not a verifier of itself", challenge, challenge, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyPKCE(tc.challenge, tc.verifier)
			if tc.ok != (err == nil) {
				t.Fatalf("got %v", err)
			}
			if err != nil && !errors.Is(err, ErrInvalidGrant) {
				t.Fatalf("got %v, want invalid_grant", err)
			}
		})
	}
}
