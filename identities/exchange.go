package identities

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/provider"
)

// IDTokenBackend is a social backend whose ID tokens token exchange
// accepts (*backends/oidc.Backend).
type IDTokenBackend interface {
	Issuer() string
	VerifyIDToken(ctx context.Context, raw string) (backends.Identity, error)
	Policy() backends.LinkPolicy
}

// IDTokens resolves token exchange's subject_token_type
// urn:ietf:params:oauth:token-type:id_token: an ID token a native app got
// from a configured social provider. The backend is found by the token's
// iss, the token verified by it (signature, expiry, audience: the
// backend's client_id or accepted_audiences), and the identity linked or
// provisioned exactly as a browser sign-in would. A token no backend
// accepts, or whose identity has no account here, is
// provider.ErrInvalidSubjectToken; an upstream that cannot be reached is
// an error (503).
func (s *Service) IDTokens(bs []IDTokenBackend) provider.SubjectTokenResolver {
	return provider.SubjectTokenResolverFunc(func(ctx context.Context, raw string) (provider.SubjectToken, error) {
		iss, ok := unverifiedIssuer(raw)
		if !ok {
			return provider.SubjectToken{}, provider.ErrInvalidSubjectToken
		}
		var b IDTokenBackend
		for _, c := range bs {
			if c.Issuer() == iss {
				b = c
				break
			}
		}
		if b == nil {
			return provider.SubjectToken{}, fmt.Errorf("no oidc backend has issuer %q: %w", iss, provider.ErrInvalidSubjectToken)
		}
		id, err := b.VerifyIDToken(ctx, raw)
		if errors.Is(err, backends.ErrUnavailable) {
			return provider.SubjectToken{}, err
		}
		if err != nil {
			return provider.SubjectToken{}, fmt.Errorf("%w: %w", provider.ErrInvalidSubjectToken, err)
		}
		acct, err := s.SignIn(ctx, id, b.Policy())
		if errors.Is(err, ErrNotLinked) || errors.Is(err, ErrInactive) {
			return provider.SubjectToken{}, fmt.Errorf("%w: %w", provider.ErrInvalidSubjectToken, err)
		}
		if err != nil {
			return provider.SubjectToken{}, err
		}
		// An ID token carries no scope: what the client and the user may
		// have bounds the exchanged token.
		return provider.SubjectToken{Identity: acct, AnyScope: true, SignIn: true}, nil
	})
}

// unverifiedIssuer reads a JWT's iss without verifying it, only to pick
// the backend that will verify it.
func unverifiedIssuer(raw string) (string, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(raw) > 16<<10 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Issuer == "" {
		return "", false
	}
	return c.Issuer, true
}
