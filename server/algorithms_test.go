package server_test

import (
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/latchkey-auth/latchkey/config"
)

// Every configurable signing algorithm signs access tokens that verify
// against the JWKS and introspect active, and ID tokens go-oidc accepts.
func TestEverySigningAlgorithmWorks(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			ts := startServer(t, func(c *config.Config) { c.Keys.Algorithm = alg })
			tok := ts.passwordToken(adminUser, adminPass, "openid")
			h, _ := mustVerifyJWT(t, tok.AccessToken, ts.jwks())
			if h.Algorithm != alg {
				t.Fatalf("alg = %s, want %s", h.Algorithm, alg)
			}
			if active, _ := ts.introspectActive(tok.AccessToken); !active {
				t.Fatal("the token does not introspect active")
			}
			p, err := oidc.NewProvider(ts.ctx(), ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := tok.Extra("id_token").(string)
			v := p.Verifier(&oidc.Config{ClientID: demoClient, SupportedSigningAlgs: []string{alg}, Now: ts.Clock.Now})
			if _, err := v.Verify(ts.ctx(), raw); err != nil {
				t.Fatalf("go-oidc rejects the %s ID token: %v", alg, err)
			}
		})
	}
}
