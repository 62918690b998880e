package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"
)

// A token whose signature is the one the current key makes for it is taken
// without a verification (ownToken); every other signature still goes
// through the verification, and nothing it would refuse gets in.
func TestOwnTokenTakesOnlyOurOwnSignatureOfTheVeryToken(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			store := openTestStore(t)
			ring := NewKeyRing(store, refreshSecrets(t, 3), KeyRingOptions{
				Algorithm: alg, CacheTTL: time.Hour, MaxTokenTTL: time.Hour,
			}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err := ring.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			deterministic := alg != "RS256"
			sign := func(sub string) string {
				t.Helper()
				tok, err := ring.signAccess(t.Context(), map[string]string{"sub": sub, "jti": sub})
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			verify := func(tok string) (string, bool) {
				payload, _, err := ring.verifyCompactKID(t.Context(), tok, "at+jwt")
				return string(payload), err == nil
			}
			// fast reports whether ownToken takes the access token.
			fast := func(tok string) bool {
				_, _, ok := ring.ownToken(t.Context(), tok, "at+jwt")
				return ok
			}
			parts := func(tok string) []string { return strings.Split(tok, ".") }

			tok := sign("alice")
			if got := fast(tok); got != deterministic {
				t.Fatalf("ownToken of a fresh token = %v, want %v", got, deterministic)
			}
			if payload, ok := verify(tok); !ok || payload != `{"jti":"alice","sub":"alice"}` {
				t.Fatalf("the genuine token: %q %v", payload, ok)
			}
			// An ID token is taken as one (typ JWT), never as an access token.
			id, err := ring.signID(t.Context(), func(string) any { return map[string]string{"sub": "alice"} })
			if err != nil {
				t.Fatal(err)
			}
			if payload, _, ok := ring.ownToken(t.Context(), id, "jwt"); ok != deterministic || ok && string(payload) != `{"sub":"alice"}` {
				t.Fatalf("ownToken of an ID token as jwt: %q %v, want %v", payload, ok, deterministic)
			}
			if fast(id) {
				t.Fatal("ownToken took an ID token as an access token")
			}
			if _, ok := verify(id); ok {
				t.Fatal("an ID token verified as an access token")
			}

			p := parts(tok)
			sig := []byte(p[2])
			sig[len(sig)/2] = map[bool]byte{true: 'B', false: 'A'}[sig[len(sig)/2] == 'A'] // another base64url character
			flipped := p[0] + "." + p[1] + "." + string(sig)
			if fast(flipped) {
				t.Fatal("ownToken took an altered signature")
			}
			if _, ok := verify(flipped); ok {
				t.Fatal("an altered signature verified")
			}
			other := parts(sign("bob"))
			if _, ok := verify(p[0] + "." + other[1] + "." + p[2]); ok {
				t.Fatal("a signature verified over another token's payload")
			}
			if _, ok := verify(other[0] + "." + p[1] + "." + other[2]); ok {
				t.Fatal("a signature verified over another token's payload")
			}
			if _, ok := verify(p[0] + "." + p[1] + "." + p[2] + "AA"); ok {
				t.Fatal("a lengthened signature verified")
			}

			if alg == "ES256" {
				// Valid signatures this key did not make here: a hedged
				// one, and the malleated (r, n−s). The verification takes
				// them, as it always did; ownToken does not.
				key := ring.snap.Load().atSigner.key.(*ecdsa.PrivateKey)
				input := p[0] + "." + p[1]
				digest := sha256.Sum256([]byte(input))
				r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
				if err != nil {
					t.Fatal(err)
				}
				raw := func(r, s *big.Int) string {
					b := make([]byte, 64)
					r.FillBytes(b[:32])
					s.FillBytes(b[32:])
					return input + "." + base64.RawURLEncoding.EncodeToString(b)
				}
				for name, tok := range map[string]string{
					"hedged":    raw(r, s),
					"malleated": raw(r, new(big.Int).Sub(elliptic.P256().Params().N, s)),
				} {
					if tok == p[0]+"."+p[1]+"."+p[2] {
						continue // the hedged signature cannot equal ours but for a miracle
					}
					if fast(tok) {
						t.Errorf("ownToken took the %s signature", name)
					}
					if _, ok := verify(tok); !ok {
						t.Errorf("the %s signature no longer verifies", name)
					}
				}
			}

			// After a rotation the old key's tokens verify the slow way,
			// the new key's the fast way.
			if _, err := ring.Rotate(t.Context()); err != nil {
				t.Fatal(err)
			}
			if fast(tok) {
				t.Fatal("ownToken took a token of the retired key")
			}
			if _, ok := verify(tok); !ok {
				t.Fatal("a token of the retired key no longer verifies")
			}
			fresh := sign("carol")
			if got := fast(fresh); got != deterministic {
				t.Fatalf("ownToken of the new key's token = %v, want %v", got, deterministic)
			}
			if _, ok := verify(fresh); !ok {
				t.Fatal("the new key's token does not verify")
			}
		})
	}
}
