package provider

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
)

// halfHash is the at_hash of an access token (OIDC Core §3.1.3.6): the
// left half of the hash the ID token's signing algorithm uses, base64url.
// ES256 and RS256 use SHA-256; EdDSA (Ed25519) uses SHA-512, as the OpenID
// Foundation's guidance for EdDSA says.
func halfHash(alg, token string) string {
	if alg == "EdDSA" {
		sum := sha512.Sum512([]byte(token))
		return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
	}
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
