package provider

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
)

const testSubjectType = "urn:latchkey:test:subject"

// A subject token type registers into the token exchange grant with one
// entry in Options.SubjectTokenTypes (what the social backends do for
// id_token): the grant validates the request, bounds scope and lifetime by
// the subject token and maps the resolver's answers to RFC 8693 errors.
func TestSubjectTokenTypesRegisterIntoTokenExchange(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	resolver := SubjectTokenResolverFunc(func(_ context.Context, raw string) (SubjectToken, error) {
		switch raw {
		case "good":
			return SubjectToken{
				Identity: backends.Identity{Backend: "corp", Subject: "e-7", Username: "erin"},
				Scope:    "read", ExpiresAt: now.Add(20 * time.Second),
			}, nil
		case "broken-upstream":
			return SubjectToken{}, errors.New("corp: connection refused")
		case "expired":
			return SubjectToken{Identity: backends.Identity{Backend: "corp", Subject: "e-7"}, Scope: "read", ExpiresAt: now}, nil
		}
		return SubjectToken{}, ErrInvalidSubjectToken
	})
	store := openTestStore(t)
	secrets := refreshSecrets(t, 3)
	p := New(Options{
		Issuer: "https://issuer.example", Store: store, Tokens: store, Codes: store, Secrets: secrets,
		Lifetimes:         Lifetimes{Access: time.Minute, Refresh: time.Hour, RefreshMax: 2 * time.Hour, IDToken: time.Minute},
		Now:               func() time.Time { return now },
		SubjectTokenTypes: map[string]SubjectTokenResolver{testSubjectType: resolver},
	})
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateClient(t.Context(), storage.Client{
		ID: "app", SecretHash: secrets.Hash("app-secret"), GrantTypes: []string{GrantTokenExchange},
		TokenEndpointAuthMethod: AuthSecretBasic, Scope: "read write", AccessTokenFormat: "jwt",
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	exchange := func(subject, typ string, extra url.Values) (*TokenResponse, error) {
		form := url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {typ}}
		for k, v := range extra {
			form[k] = v
		}
		return tokenRequest(t, p, form, "app-secret")
	}

	t.Run("a registered type exchanges, bounded by the subject token", func(t *testing.T) {
		resp, err := exchange("good", testSubjectType, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.IssuedTokenType != TokenTypeAccessToken || resp.Scope != "read" || resp.RefreshToken != "" || resp.IDToken != "" {
			t.Errorf("response %+v", resp)
		}
		if resp.ExpiresIn != 20 {
			t.Errorf("expires_in = %d; want 20 (the subject token's remaining life, not the 60 s default)", resp.ExpiresIn)
		}
		info, err := p.VerifyAccessToken(t.Context(), resp.AccessToken)
		if err != nil || info.Subject != "corp:e-7" || info.Scope != "read" || info.IdentityProvider != "corp" {
			t.Errorf("issued token %+v, %v", info, err)
		}
	})
	for _, tc := range []struct {
		name    string
		subject string
		typ     string
		extra   url.Values
		want    *Error
	}{
		{"more scope than the subject token is invalid_scope", "good", testSubjectType, url.Values{"scope": {"read write"}}, ErrInvalidScope},
		{"an unknown subject token is invalid_request", "bad", testSubjectType, nil, ErrInvalidRequest},
		{"an expired subject token is invalid_request", "expired", testSubjectType, nil, ErrInvalidRequest},
		{"an unregistered type is invalid_request", "good", "urn:latchkey:test:other", nil, ErrInvalidRequest},
		{"a missing subject token is invalid_request", "", testSubjectType, nil, ErrInvalidRequest},
		{"an actor token is invalid_request", "good", testSubjectType, url.Values{"actor_token": {"x"}}, ErrInvalidRequest},
		{"another requested token type is invalid_request", "good", testSubjectType, url.Values{"requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, ErrInvalidRequest},
		{"an audience is invalid_target", "good", testSubjectType, url.Values{"audience": {"https://api.example"}}, ErrInvalidTarget},
		{"a resolver that cannot answer is temporarily_unavailable", "broken-upstream", testSubjectType, nil, ErrTemporarilyUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := exchange(tc.subject, tc.typ, tc.extra)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v; want %s", err, tc.want.Code)
			}
		})
	}
	t.Run("the built-in access_token type stays registered", func(t *testing.T) {
		_, err := exchange("lk_pat_unknown", TokenTypeAccessToken, nil)
		if !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("err = %v; want invalid_request", err)
		}
	})
}
