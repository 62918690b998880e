package provider

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"

	"github.com/latchkey-auth/latchkey/storage"
)

// A refresh token names the session (family) and the generation it belongs
// to, so the store finds it with one key lookup and a rotation is one
// conditional write of one row or hash:
//
//	lk_rt_<family>.<generation>.<base64url(256 random bits || 128-bit MAC)>
//
// The MAC (HMAC-SHA-256 under a key derived from the master key, truncated
// to 128 bits) covers the family, the generation and the random part. It is
// checked, in constant time, before the store is asked anything: a token
// naming an older generation revokes its family (reuse detection), so only
// tokens latchkey made may name a family and a generation. The random part
// makes each token unguessable on its own, and the store still compares the
// keyed hash of the whole token with the live one.
const (
	refreshRandomBytes = secretBytes
	refreshMACBytes    = 16
	maxFamilyIDLen     = 64
)

var refreshPayloadLen = base64.RawURLEncoding.EncodedLen(refreshRandomBytes + refreshMACBytes)

// refreshMAC computes the MAC of a refresh token's family, generation and
// random part into dst.
func (s *Secrets) refreshMAC(dst []byte, family, gen string, random []byte) []byte {
	h := s.refreshPool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(family))
	h.Write([]byte{'.'})
	h.Write([]byte(gen))
	h.Write([]byte{'.'})
	h.Write(random)
	var sum [sha256.Size]byte
	out := append(dst, h.Sum(sum[:0])[:refreshMACBytes]...)
	s.refreshPool.Put(h)
	return out
}

// NewRefreshToken makes the refresh token of a family's generation.
func (s *Secrets) NewRefreshToken(family string, generation int64) string {
	random := make([]byte, refreshRandomBytes)
	if _, err := rand.Read(random); err != nil {
		panic("provider: crypto/rand failed: " + err.Error()) // never on a supported OS
	}
	return s.refreshToken(family, generation, random)
}

// NextRefreshToken makes the successor of a refresh token: the same family,
// the next generation, and a random part derived from the token's own
// random part by HMAC under a key of its own. So a rotation and a repeat of
// the same token within the reuse grace give the same successor, and
// nothing about it is stored but its keyed hash; without the master key it
// is as unguessable as a random one. It reports false for anything
// latchkey did not make.
func (s *Secrets) NextRefreshToken(raw string) (string, bool) {
	ref, random, ok := s.parseRefreshToken(raw)
	if !ok {
		return "", false
	}
	gen := strconv.FormatInt(ref.Generation+1, 10)
	h := s.successorPool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(ref.FamilyID))
	h.Write([]byte{'.'})
	h.Write([]byte(gen))
	h.Write([]byte{'.'})
	h.Write(random)
	var sum [sha256.Size]byte
	next := h.Sum(sum[:0])[:refreshRandomBytes]
	s.successorPool.Put(h)
	return s.refreshToken(ref.FamilyID, ref.Generation+1, next), true
}

// refreshToken formats a refresh token with its MAC.
func (s *Secrets) refreshToken(family string, generation int64, random []byte) string {
	gen := strconv.FormatInt(generation, 10)
	buf := make([]byte, 0, refreshRandomBytes+refreshMACBytes)
	buf = append(buf, random...)
	buf = s.refreshMAC(buf, family, gen, random)
	var b strings.Builder
	b.Grow(len(PrefixRefreshToken) + len(family) + len(gen) + 2 + refreshPayloadLen)
	b.WriteString(PrefixRefreshToken)
	b.WriteString(family)
	b.WriteByte('.')
	b.WriteString(gen)
	b.WriteByte('.')
	b.WriteString(base64.RawURLEncoding.EncodeToString(buf))
	return b.String()
}

// ParseRefreshToken checks a presented refresh token's form and MAC and
// returns what it names, with the keyed hash of the whole token. It reports
// false for anything latchkey did not make.
func (s *Secrets) ParseRefreshToken(raw string) (storage.TokenRef, bool) {
	ref, _, ok := s.parseRefreshToken(raw)
	return ref, ok
}

// parseRefreshToken is ParseRefreshToken that also returns the token's
// random part.
func (s *Secrets) parseRefreshToken(raw string) (storage.TokenRef, []byte, bool) {
	rest, ok := strings.CutPrefix(raw, PrefixRefreshToken)
	if !ok {
		return storage.TokenRef{}, nil, false
	}
	family, rest, ok := strings.Cut(rest, ".")
	if !ok || family == "" || len(family) > maxFamilyIDLen {
		return storage.TokenRef{}, nil, false
	}
	gen, payload, ok := strings.Cut(rest, ".")
	if !ok || len(payload) != refreshPayloadLen || gen == "" || len(gen) > 18 || (len(gen) > 1 && gen[0] == '0') {
		return storage.TokenRef{}, nil, false
	}
	for i := 0; i < len(gen); i++ {
		if gen[i] < '0' || gen[i] > '9' {
			return storage.TokenRef{}, nil, false
		}
	}
	generation, err := strconv.ParseInt(gen, 10, 64)
	if err != nil {
		return storage.TokenRef{}, nil, false
	}
	var buf [refreshRandomBytes + refreshMACBytes]byte
	if n, err := base64.RawURLEncoding.Decode(buf[:], []byte(payload)); err != nil || n != len(buf) {
		return storage.TokenRef{}, nil, false
	}
	var mac [refreshMACBytes]byte
	want := s.refreshMAC(mac[:0], family, gen, buf[:refreshRandomBytes])
	if !hmac.Equal(want, buf[refreshRandomBytes:]) {
		return storage.TokenRef{}, nil, false
	}
	return storage.TokenRef{FamilyID: family, Generation: generation, Hash: s.Hash(raw)}, buf[:refreshRandomBytes], true
}
