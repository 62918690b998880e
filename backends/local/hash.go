package local

import (
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// MaxPasswordLength bounds the passwords HashPassword accepts and the backend
// checks, in bytes. Django used the same bound after its long-password DoS
// advisory; nobody types more, and refusing early keeps hostile requests cheap.
const MaxPasswordLength = 4096

var (
	// ErrMalformedHash is returned for a stored hash that cannot be parsed.
	ErrMalformedHash = errors.New("local: malformed password hash")
	// ErrUnsupportedHash is returned for a well-formed hash of an algorithm,
	// variant or version this package does not verify.
	ErrUnsupportedHash = errors.New("local: unsupported password hash")
	// ErrEmptyPassword is returned by HashPassword for an empty password,
	// which the backend never accepts at login.
	ErrEmptyPassword = errors.New("local: empty password")
	// ErrPasswordTooLong is returned by HashPassword for a password longer
	// than MaxPasswordLength, which the backend would refuse at login.
	ErrPasswordTooLong = errors.New("local: password too long")
)

// Params are the argon2id parameters of new hashes. A zero field takes its
// value from DefaultParams, so the zero Params means "the defaults".
type Params struct {
	// MemoryKiB is the memory cost m, in KiB.
	MemoryKiB uint32 `yaml:"memory_kib"`
	// Iterations is the time cost t.
	Iterations uint32 `yaml:"iterations"`
	// Parallelism is the lane count p.
	Parallelism uint8 `yaml:"parallelism"`
	// SaltLength is the random salt length in bytes.
	SaltLength uint32 `yaml:"salt_length"`
	// KeyLength is the derived key length in bytes.
	KeyLength uint32 `yaml:"key_length"`
}

// DefaultParams returns OWASP's recommended argon2id configuration
// (m=19 MiB, t=2, p=1) with a 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Bounds on argon2 parameters, for configured ones and for stored hashes
// alike: a corrupt or hostile row must not make one login allocate without
// limit or run for hours.
const (
	maxArgon2MemoryKiB  = 1 << 21 // 2 GiB
	maxArgon2Iterations = 1 << 10
	minArgon2Salt       = 8 // RFC 9106 §3.1
	maxArgon2Salt       = 1 << 10
	minArgon2Key        = 4 // RFC 9106 §3.1
	maxArgon2Key        = 1 << 10
	maxPBKDF2Iterations = 1 << 27 // about 100x Django's current default
	// scrypt needs 128*n*r bytes; 1 GiB is 64 times Django's default.
	maxScryptMemory = 1 << 30
	maxScryptP      = 1 << 8
)

func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.MemoryKiB == 0 {
		p.MemoryKiB = d.MemoryKiB
	}
	if p.Iterations == 0 {
		p.Iterations = d.Iterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = d.Parallelism
	}
	if p.SaltLength == 0 {
		p.SaltLength = d.SaltLength
	}
	if p.KeyLength == 0 {
		p.KeyLength = d.KeyLength
	}
	return p
}

// Validate reports whether p, with its zero fields defaulted, is usable for
// new hashes. The floors are stricter than what stored hashes may use, since
// they set the strength of every hash written from now on.
func (p Params) Validate() error {
	p = p.withDefaults()
	switch {
	case p.MemoryKiB < 8*uint32(p.Parallelism):
		return fmt.Errorf("local: argon2 memory_kib %d is below 8*parallelism (%d)", p.MemoryKiB, 8*uint32(p.Parallelism))
	case p.MemoryKiB > maxArgon2MemoryKiB:
		return fmt.Errorf("local: argon2 memory_kib %d is above %d", p.MemoryKiB, maxArgon2MemoryKiB)
	case p.Iterations > maxArgon2Iterations:
		return fmt.Errorf("local: argon2 iterations %d is above %d", p.Iterations, maxArgon2Iterations)
	case p.SaltLength < 16 || p.SaltLength > 64:
		return fmt.Errorf("local: argon2 salt_length %d is outside [16, 64]", p.SaltLength)
	case p.KeyLength < 16 || p.KeyLength > 64:
		return fmt.Errorf("local: argon2 key_length %d is outside [16, 64]", p.KeyLength)
	}
	return nil
}

// HashPassword hashes password with argon2id and a fresh random salt, as a
// PHC string: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func HashPassword(password string, p Params) (string, error) {
	if password == "" {
		return "", ErrEmptyPassword
	}
	if len(password) > MaxPasswordLength {
		return "", ErrPasswordTooLong
	}
	p = p.withDefaults()
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("local: read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLength)
	return encodeArgon2id(p, salt, key), nil
}

func encodeArgon2id(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// VerifyPassword checks password against an encoded hash: latchkey's own
// argon2id PHC strings and the Django formats pbkdf2_sha256, pbkdf2_sha1,
// bcrypt_sha256, bcrypt and argon2 (argon2id or argon2i, version 19).
//
// needsRehash is true when the password matched but the hash should be
// replaced by HashPassword(password, p): it is in a Django format, another
// argon2 variant, or argon2id with parameters other than p (zero fields of p
// are the defaults). A hash that cannot be parsed is an error wrapping
// ErrMalformedHash or ErrUnsupportedHash; errors never quote the hash.
func VerifyPassword(encoded, password string, p Params) (ok, needsRehash bool, err error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	ok, err = h.verify(password)
	if err != nil || !ok {
		return false, false, err
	}
	return true, h.needsRehash(p.withDefaults()), nil
}

type hashKind int

const (
	kindArgon2id hashKind = iota
	kindArgon2i
	kindPBKDF2SHA256
	kindPBKDF2SHA1
	kindBcrypt
	kindBcryptSHA256
	kindScrypt
	kindSaltedSHA1 // also unsalted_sha1: "sha1$$<hex>"
	kindSaltedMD5  // also unsalted_md5: "md5$$<hex>" or 32 bare hex digits
)

// parsedHash is a stored hash taken apart, so that parsing (which must never
// panic on bad input) is separate from the expensive verification.
type parsedHash struct {
	kind   hashKind
	django bool // stored in a Django format: always re-encoded as our own

	argon Params // argon2: m, t, p and the lengths of salt and key
	salt  []byte // argon2 and pbkdf2
	key   []byte // argon2 and pbkdf2

	iterations int    // pbkdf2; scrypt's n
	blockSize  int    // scrypt's r
	parallel   int    // scrypt's p
	bcrypt     []byte // bcrypt: the whole $2b$... string
}

// The Django prefixes. Django's own argon2 format is "argon2" followed by the
// PHC string of argon2-cffi.
const (
	prefixDjangoArgon2       = "argon2"
	prefixDjangoPBKDF2SHA256 = "pbkdf2_sha256$"
	prefixDjangoPBKDF2SHA1   = "pbkdf2_sha1$"
	prefixDjangoBcryptSHA256 = "bcrypt_sha256$"
	prefixDjangoBcrypt       = "bcrypt$"
	prefixDjangoScrypt       = "scrypt$"
	prefixDjangoSHA1         = "sha1$"
	prefixDjangoMD5          = "md5$"
)

func parseHash(encoded string) (parsedHash, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2"):
		return parseArgon2(encoded, false)
	case strings.HasPrefix(encoded, prefixDjangoArgon2+"$argon2"):
		return parseArgon2(encoded[len(prefixDjangoArgon2):], true)
	case strings.HasPrefix(encoded, prefixDjangoPBKDF2SHA256):
		return parsePBKDF2(encoded[len(prefixDjangoPBKDF2SHA256):], kindPBKDF2SHA256, sha256.Size)
	case strings.HasPrefix(encoded, prefixDjangoPBKDF2SHA1):
		return parsePBKDF2(encoded[len(prefixDjangoPBKDF2SHA1):], kindPBKDF2SHA1, sha1.Size)
	case strings.HasPrefix(encoded, prefixDjangoBcryptSHA256):
		return parseBcrypt(encoded[len(prefixDjangoBcryptSHA256):], kindBcryptSHA256)
	case strings.HasPrefix(encoded, prefixDjangoBcrypt):
		return parseBcrypt(encoded[len(prefixDjangoBcrypt):], kindBcrypt)
	case strings.HasPrefix(encoded, prefixDjangoScrypt):
		return parseScrypt(encoded[len(prefixDjangoScrypt):])
	case strings.HasPrefix(encoded, prefixDjangoSHA1):
		return parseSaltedDigest(encoded[len(prefixDjangoSHA1):], kindSaltedSHA1, sha1.Size)
	case strings.HasPrefix(encoded, prefixDjangoMD5):
		return parseSaltedDigest(encoded[len(prefixDjangoMD5):], kindSaltedMD5, md5.Size)
	case len(encoded) == 2*md5.Size && isLowerHex(encoded):
		// Django's UnsaltedMD5PasswordHasher writes the bare hex digest.
		return parseSaltedDigest("$"+encoded, kindSaltedMD5, md5.Size)
	}
	// Not even the algorithm is quoted: a password stored in the clear by
	// mistake would otherwise end up in a log.
	return parsedHash{}, fmt.Errorf("%w: unrecognised format", ErrUnsupportedHash)
}

// parseArgon2 parses a PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$key.
func parseArgon2(s string, django bool) (parsedHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		// Five parts is the pre-1.3 format without v=, which x/crypto's
		// argon2 (version 0x13 only) cannot compute.
		return parsedHash{}, fmt.Errorf("%w: argon2: want 5 fields", ErrMalformedHash)
	}
	h := parsedHash{django: django}
	switch parts[1] {
	case "argon2id":
		h.kind = kindArgon2id
	case "argon2i":
		h.kind = kindArgon2i
	default:
		return parsedHash{}, fmt.Errorf("%w: argon2 variant", ErrUnsupportedHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return parsedHash{}, fmt.Errorf("%w: argon2 version", ErrUnsupportedHash)
	}
	m, t, p, err := parseArgon2Params(parts[3])
	if err != nil {
		return parsedHash{}, err
	}
	if m < 8*uint32(p) || m > maxArgon2MemoryKiB || t < 1 || t > maxArgon2Iterations || p < 1 {
		return parsedHash{}, fmt.Errorf("%w: argon2 parameters out of range", ErrMalformedHash)
	}
	// Strict decoding rejects non-canonical trailing bits, so one hash has
	// exactly one spelling.
	enc := base64.RawStdEncoding.Strict()
	if h.salt, err = enc.DecodeString(parts[4]); err != nil || len(h.salt) < minArgon2Salt || len(h.salt) > maxArgon2Salt {
		return parsedHash{}, fmt.Errorf("%w: argon2 salt", ErrMalformedHash)
	}
	if h.key, err = enc.DecodeString(parts[5]); err != nil || len(h.key) < minArgon2Key || len(h.key) > maxArgon2Key {
		return parsedHash{}, fmt.Errorf("%w: argon2 key", ErrMalformedHash)
	}
	h.argon = Params{MemoryKiB: m, Iterations: t, Parallelism: p, SaltLength: uint32(len(h.salt)), KeyLength: uint32(len(h.key))}
	return h, nil
}

// parseArgon2Params parses "m=19456,t=2,p=1", in that order, as every
// implementation writes it.
func parseArgon2Params(s string) (m, t uint32, p uint8, err error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return 0, 0, 0, fmt.Errorf("%w: argon2 parameters", ErrMalformedHash)
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, found := strings.CutPrefix(fields[i], name)
		bits := 32
		if name == "p=" {
			bits = 8
		}
		// strconv's error quotes its input, so it is replaced, not wrapped.
		v, perr := strconv.ParseUint(digits, 10, bits)
		if !found || perr != nil {
			return 0, 0, 0, fmt.Errorf("%w: argon2 parameter %s", ErrMalformedHash, strings.TrimSuffix(name, "="))
		}
		vals[i] = v
	}
	return uint32(vals[0]), uint32(vals[1]), uint8(vals[2]), nil
}

// parsePBKDF2 parses the part of Django's "pbkdf2_sha256$<iterations>$<salt>$<b64 key>"
// after the algorithm. Django uses the salt as text, not base64, and a key as
// long as the digest, base64 with padding.
func parsePBKDF2(s string, kind hashKind, size int) (parsedHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 3 {
		return parsedHash{}, fmt.Errorf("%w: pbkdf2: want 3 fields", ErrMalformedHash)
	}
	iter, err := strconv.ParseUint(parts[0], 10, 32)
	if err != nil || iter < 1 || iter > maxPBKDF2Iterations {
		return parsedHash{}, fmt.Errorf("%w: pbkdf2 iterations", ErrMalformedHash)
	}
	if parts[1] == "" {
		return parsedHash{}, fmt.Errorf("%w: pbkdf2 salt", ErrMalformedHash)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[2])
	// The length check matters: an empty key would match any password.
	if err != nil || len(key) != size {
		return parsedHash{}, fmt.Errorf("%w: pbkdf2 key", ErrMalformedHash)
	}
	return parsedHash{kind: kind, django: true, iterations: int(iter), salt: []byte(parts[1]), key: key}, nil
}

// parseBcrypt checks the modular-crypt bcrypt string after Django's prefix
// itself, since x/crypto's parser is lenient (it accepts "+5" as a cost, for
// one) and we want one spelling per hash.
func parseBcrypt(s string, kind hashKind) (parsedHash, error) {
	const size = 60 // $2b$12$ + 22 characters of salt + 31 of hash
	if len(s) != size || s[0] != '$' || s[1] != '2' || !strings.ContainsRune("aby", rune(s[2])) || s[3] != '$' ||
		!isDigit(s[4]) || !isDigit(s[5]) || s[6] != '$' {
		return parsedHash{}, fmt.Errorf("%w: bcrypt", ErrMalformedHash)
	}
	for i := 7; i < size; i++ {
		if !isBcryptBase64(s[i]) {
			return parsedHash{}, fmt.Errorf("%w: bcrypt", ErrMalformedHash)
		}
	}
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return parsedHash{}, fmt.Errorf("%w: bcrypt cost", ErrMalformedHash)
	}
	return parsedHash{kind: kind, django: true, bcrypt: []byte(s)}, nil
}

// parseScrypt parses the part of Django's "scrypt$<n>$<salt>$<r>$<p>$<b64 key>"
// after the algorithm (Django 4.0's ScryptPasswordHasher: a 64-byte key,
// base64 with padding, the salt used as text).
func parseScrypt(s string) (parsedHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 {
		return parsedHash{}, fmt.Errorf("%w: scrypt: want 5 fields", ErrMalformedHash)
	}
	n, errN := strconv.ParseUint(parts[0], 10, 32)
	r, errR := strconv.ParseUint(parts[2], 10, 32)
	p, errP := strconv.ParseUint(parts[3], 10, 32)
	if errN != nil || errR != nil || errP != nil || n < 2 || n&(n-1) != 0 || r < 1 || p < 1 ||
		p > maxScryptP || 128*n*r > maxScryptMemory {
		return parsedHash{}, fmt.Errorf("%w: scrypt parameters", ErrMalformedHash)
	}
	if parts[1] == "" {
		return parsedHash{}, fmt.Errorf("%w: scrypt salt", ErrMalformedHash)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return parsedHash{}, fmt.Errorf("%w: scrypt key", ErrMalformedHash)
	}
	return parsedHash{kind: kindScrypt, django: true, iterations: int(n), blockSize: int(r), parallel: int(p),
		salt: []byte(parts[1]), key: key}, nil
}

// parseSaltedDigest parses "<salt>$<hex digest>" of Django's SHA1 and MD5
// hashers; an empty salt is the unsalted variant ("sha1$$<hex>"). The
// digest is of salt followed by password.
func parseSaltedDigest(s string, kind hashKind, size int) (parsedHash, error) {
	salt, digest, ok := strings.Cut(s, "$")
	if !ok || strings.Contains(digest, "$") || len(digest) != 2*size || !isLowerHex(digest) {
		return parsedHash{}, fmt.Errorf("%w: salted digest", ErrMalformedHash)
	}
	key, err := hex.DecodeString(digest)
	if err != nil {
		return parsedHash{}, fmt.Errorf("%w: salted digest", ErrMalformedHash)
	}
	return parsedHash{kind: kind, django: true, salt: []byte(salt), key: key}, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isBcryptBase64(c byte) bool {
	return c == '.' || c == '/' || isDigit(c) || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// bcryptMaxPassword is how much of a password bcrypt reads. Python's bcrypt
// silently ignored the rest when Django hashed it, so we do the same to verify
// those hashes; x/crypto refuses longer passwords instead.
const bcryptMaxPassword = 72

func (h parsedHash) verify(password string) (bool, error) {
	switch h.kind {
	case kindArgon2id:
		a := h.argon
		return equal(argon2.IDKey([]byte(password), h.salt, a.Iterations, a.MemoryKiB, a.Parallelism, a.KeyLength), h.key), nil
	case kindArgon2i:
		a := h.argon
		return equal(argon2.Key([]byte(password), h.salt, a.Iterations, a.MemoryKiB, a.Parallelism, a.KeyLength), h.key), nil
	case kindPBKDF2SHA256:
		return verifyPBKDF2(sha256.New, password, h)
	case kindPBKDF2SHA1:
		return verifyPBKDF2(sha1.New, password, h)
	case kindBcrypt:
		pw := []byte(password)
		if len(pw) > bcryptMaxPassword {
			pw = pw[:bcryptMaxPassword]
		}
		return verifyBcrypt(h.bcrypt, pw)
	case kindBcryptSHA256:
		// Django's BCryptSHA256PasswordHasher feeds bcrypt the hex SHA-256
		// of the password, so that long passwords are not truncated.
		sum := sha256.Sum256([]byte(password))
		return verifyBcrypt(h.bcrypt, []byte(hex.EncodeToString(sum[:])))
	case kindScrypt:
		key, err := scrypt.Key([]byte(password), h.salt, h.iterations, h.blockSize, h.parallel, len(h.key))
		if err != nil {
			return false, fmt.Errorf("%w: scrypt: %v", ErrMalformedHash, err)
		}
		return equal(key, h.key), nil
	case kindSaltedSHA1:
		sum := sha1.Sum(append(slices.Clip(h.salt), password...))
		return equal(sum[:], h.key), nil
	case kindSaltedMD5:
		sum := md5.Sum(append(slices.Clip(h.salt), password...))
		return equal(sum[:], h.key), nil
	}
	return false, fmt.Errorf("%w: kind %d", ErrUnsupportedHash, h.kind)
}

func verifyPBKDF2[H hash.Hash](newHash func() H, password string, h parsedHash) (bool, error) {
	key, err := pbkdf2.Key(newHash, password, h.salt, h.iterations, len(h.key))
	if err != nil {
		return false, fmt.Errorf("local: pbkdf2: %w", err)
	}
	return equal(key, h.key), nil
}

func verifyBcrypt(encoded, password []byte) (bool, error) {
	err := bcrypt.CompareHashAndPassword(encoded, password)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return false, fmt.Errorf("%w: bcrypt: %v", ErrMalformedHash, err)
}

// equal compares in constant time, so the time taken says nothing about how
// much of a guessed key was right.
func equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

func (h parsedHash) needsRehash(p Params) bool {
	return h.django || h.kind != kindArgon2id || h.argon != p
}
