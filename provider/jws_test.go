package provider

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"math/big"
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

// ES256 signatures are deterministic (RFC 6979), and their R and S come out
// of the ASN.1 encoding as 32-byte big-endian integers whatever their
// leading zero bytes: thousands of signatures make short R and S certain.
func TestECDSASignaturesAreDeterministicAndRawEncodedRight(t *testing.T) {
	priv, _, err := generateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	key := priv.(*ecdsa.PrivateKey)
	s, err := newCompactSigner("ES256", "kid-1", "at+jwt", key)
	if err != nil {
		t.Fatal(err)
	}
	short := 0
	for i := range 3000 {
		input := []byte(fmt.Sprintf("header.payload-%d", i))
		sig, err := s.signature(input)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.signature(input)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sig, again) {
			t.Fatalf("two signatures of one input differ")
		}
		if len(sig) != 64 {
			t.Fatalf("signature of %d bytes", len(sig))
		}
		if sig[0] == 0 || sig[32] == 0 {
			short++
		}
		r, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		digest := sha256.Sum256(input)
		if !ecdsa.Verify(&key.PublicKey, digest[:], r, ss) {
			t.Fatalf("signature %d does not verify", i)
		}
	}
	if short == 0 {
		t.Fatal("no signature had a short R or S: the padding went untested")
	}
	for _, der := range [][]byte{nil, {0x30, 0x00}, {0x30, 0x03, 0x02, 0x01, 0x01}, append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, make([]byte, 32+3)...)} {
		if _, err := ecdsaRawSignature(der); err == nil {
			t.Errorf("malformed signature %x accepted", der)
		}
	}
}
