package resourceserver

import (
	"context"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkVerifyJWT verifies a JWT access token whose key is cached: the
// signature, typ, iss, aud, exp and the claims decoded into a Principal.
func BenchmarkVerifyJWT(b *testing.B) {
	is := newTestIssuer(b)
	v := is.verifier(nil)
	tok := is.sign(is.claims(), "at+jwt")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJoseVerify is the floor: go-jose parsing and verifying the same
// token with the key in hand, claims not decoded.
func BenchmarkJoseVerify(b *testing.B) {
	is := newTestIssuer(b)
	tok := is.sign(is.claims(), "at+jwt")
	key := &is.keys[0].PublicKey
	b.ReportAllocs()
	for b.Loop() {
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.Verify(key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIntrospectionCached verifies an opaque token whose
// introspection answer is cached.
func BenchmarkIntrospectionCached(b *testing.B) {
	is := newTestIssuer(b)
	v := is.verifier(introspecting)
	active(is, "lk_at_bench", is.claims())
	ctx := context.Background()
	if _, err := v.Verify(ctx, "lk_at_bench"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, "lk_at_bench"); err != nil {
			b.Fatal(err)
		}
	}
}
