package provider

import (
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// The hand-rolled compact signer must produce what go-jose (and so every
// other JOSE library) accepts, for every algorithm, with the header we mean.
func TestCompactSignerOutputVerifiesWithGoJose(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			priv, pub, err := generateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := newCompactSigner(alg, "kid-1", "at+jwt", priv)
			if err != nil {
				t.Fatal(err)
			}
			payload := []byte(`{"sub":"42","scope":"a b"}`)
			for range 20 { // ECDSA: R and S with leading zero bytes must pad right
				raw, err := s.sign(payload)
				if err != nil {
					t.Fatal(err)
				}
				jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
				if err != nil {
					t.Fatalf("go-jose cannot parse %q: %v", raw, err)
				}
				h := jws.Signatures[0].Protected
				if h.Algorithm != alg || h.KeyID != "kid-1" || h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
					t.Fatalf("header = %+v", h)
				}
				got, err := jws.Verify(pub)
				if err != nil {
					t.Fatalf("go-jose rejects the signature: %v", err)
				}
				if string(got) != string(payload) {
					t.Fatalf("payload = %s", got)
				}
			}
			raw, _ := s.sign(payload)
			tampered := raw[:strings.LastIndexByte(raw, '.')-2] + "xx" + raw[strings.LastIndexByte(raw, '.'):]
			if jws, err := jose.ParseSignedCompact(tampered, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}); err == nil {
				if _, err := jws.Verify(pub); err == nil {
					t.Fatal("a tampered payload verified")
				}
			}
		})
	}
	t.Run("a key that does not match the algorithm is refused", func(t *testing.T) {
		priv, _, err := generateKey("EdDSA")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newCompactSigner("ES256", "k", "JWT", priv); err == nil {
			t.Fatal("an Ed25519 key was accepted for ES256")
		}
	})
}
