package provider

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// Prefixes of the secrets latchkey makes, so secret scanners can spot them.
const (
	PrefixRefreshToken = "lk_rt_"
	PrefixAccessToken  = "lk_at_"
	PrefixPAT          = "lk_pat_"
	PrefixClientSecret = "lk_cs_"
	PrefixAdminKey     = "lk_ak_"
)

// secretBytes is the randomness of every secret: 256 bits.
const secretBytes = 32

// NewSecret returns prefix followed by 256 random bits, base64url.
func NewSecret(prefix string) string {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("provider: crypto/rand failed: " + err.Error()) // never on a supported OS
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Secrets derives latchkey's working keys from the master key: one keys the
// hashes of secrets and tokens, the other seals private signing keys.
//
// Every secret latchkey stores has 256 random bits, so a fast keyed hash
// (HMAC-SHA-256) is the right storage: a slow password hash adds nothing but
// CPU time on every request, and the key means a database dump alone cannot
// even test a guess.
type Secrets struct {
	hashKey     []byte
	aead        cipher.AEAD
	pool        sync.Pool // of hash.Hash keyed with hashKey
	refreshPool sync.Pool // of hash.Hash keyed with the refresh-token MAC key
	// successorPool: of hash.Hash keyed with the key that derives a refresh
	// token's successor (NextRefreshToken).
	successorPool sync.Pool
}

// MasterKeySize is the length of the master key in bytes.
const MasterKeySize = 32

// NewSecrets derives the working keys from a 32-byte master key.
func NewSecrets(master []byte) (*Secrets, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("master key: want %d bytes, got %d", MasterKeySize, len(master))
	}
	hashKey, err := hkdf.Key(sha256.New, master, nil, "latchkey secret hash v1", 32)
	if err != nil {
		return nil, fmt.Errorf("master key: derive hash key: %w", err)
	}
	sealKey, err := hkdf.Key(sha256.New, master, nil, "latchkey key seal v1", 32)
	if err != nil {
		return nil, fmt.Errorf("master key: derive seal key: %w", err)
	}
	refreshKey, err := hkdf.Key(sha256.New, master, nil, "latchkey refresh mac v1", 32)
	if err != nil {
		return nil, fmt.Errorf("master key: derive refresh key: %w", err)
	}
	successorKey, err := hkdf.Key(sha256.New, master, nil, "latchkey refresh successor v1", 32)
	if err != nil {
		return nil, fmt.Errorf("master key: derive refresh successor key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	s := &Secrets{hashKey: hashKey, aead: aead}
	s.pool.New = func() any { return hmac.New(sha256.New, s.hashKey) }
	s.refreshPool.New = func() any { return hmac.New(sha256.New, refreshKey) }
	s.successorPool.New = func() any { return hmac.New(sha256.New, successorKey) }
	return s, nil
}

// Hash returns the keyed hash under which a secret or token is stored.
func (s *Secrets) Hash(secret string) string {
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(secret))
	var sum [sha256.Size]byte
	out := base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0]))
	s.pool.Put(h)
	return out
}

// Verify compares a presented secret with a stored hash in constant time.
func (s *Secrets) Verify(secret, storedHash string) bool {
	got := s.Hash(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(storedHash)) == 1
}

// Seal encrypts a private key for storage; aad binds it to its key ID.
func (s *Secrets) Seal(plain []byte, aad string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("provider: crypto/rand failed: " + err.Error())
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(aad))
}

// Open decrypts what Seal produced.
func (s *Secrets) Open(sealed []byte, aad string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed key too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return nil, errors.New("sealed key does not open with this master key")
	}
	return plain, nil
}

// hasPrefix reports whether token is one of ours of the given kind.
func hasPrefix(token, prefix string) bool { return strings.HasPrefix(token, prefix) }
