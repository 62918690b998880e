// Package usertokens makes and checks the one-time tokens of the links that
// the user API mails (activation, password reset, username reset), after
// Django's PasswordResetTokenGenerator: nothing is stored; a token is a
// timestamp and an HMAC over the user's current state, so it stops working
// as soon as that state changes (a reset token once the password changes, an
// activation token once the user is active, a username-reset token once the
// username changes) and when it expires.
package usertokens

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// Purposes of the tokens the user API makes. A token made for one purpose
// never checks for another.
const (
	Activation    = "activation"
	PasswordReset = "password_reset"
	UsernameReset = "username_reset"
	EmailChange   = "email_change"
)

// epoch is Django's: timestamps count seconds since 2001-01-01 UTC, which
// in base 36 stays six characters until 2069.
var epoch = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

// maxTimestampLen bounds the base-36 part we parse (13 characters hold any
// int64).
const maxTimestampLen = 12

// Generator makes and checks tokens. It is safe for concurrent use.
type Generator struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// New returns a generator whose tokens are keyed with secret (at least 32
// random bytes; see DeriveSecret) and expire after ttl. now is the clock
// (time.Now when nil).
func New(secret []byte, ttl time.Duration, now func() time.Time) *Generator {
	if now == nil {
		now = time.Now
	}
	// Like Django's salted_hmac: the HMAC key is bound to this use.
	sum := sha256.Sum256(append([]byte("latchkey.usertokens.v1"), secret...))
	return &Generator{key: sum[:], ttl: ttl, now: now}
}

// DeriveSecret derives the generator's secret from latchkey's master key,
// so every instance makes the same tokens without another setting.
func DeriveSecret(master []byte) ([]byte, error) {
	if len(master) < 16 {
		return nil, fmt.Errorf("usertokens: master key too short (%d bytes)", len(master))
	}
	key, err := hkdf.Key(sha256.New, master, nil, "latchkey user tokens v1", 32)
	if err != nil {
		return nil, fmt.Errorf("usertokens: derive secret: %w", err)
	}
	return key, nil
}

// TTL is how long a token stays valid.
func (g *Generator) TTL() time.Duration { return g.ttl }

// Make returns a token for purpose and u's current state:
// <timestamp in base 36>-<32 hex characters of HMAC-SHA256>.
func (g *Generator) Make(purpose string, u storage.User) string {
	return g.make(purpose, u, seconds(g.now()))
}

// Check reports whether token was made by Make for purpose and a user whose
// state is still that of u, and has not expired (nor is dated more than a
// minute ahead). The comparison takes constant time.
func (g *Generator) Check(purpose string, u storage.User, token string) bool {
	if token == "" || len(token) > 64 {
		return false
	}
	tsPart, _, ok := strings.Cut(token, "-")
	if !ok || tsPart == "" || len(tsPart) > maxTimestampLen {
		return false
	}
	ts, err := strconv.ParseInt(tsPart, 36, 64)
	if err != nil || ts < 0 || strconv.FormatInt(ts, 36) != tsPart {
		return false
	}
	want := g.make(purpose, u, ts)
	if subtle.ConstantTimeCompare([]byte(want), []byte(token)) != 1 {
		return false
	}
	// A token from the future was made by a clock that is ahead: accept a
	// minute of skew between instances, not more.
	age := seconds(g.now()) - ts
	return age >= -maxSkewSeconds && age <= int64(g.ttl/time.Second)
}

// maxSkewSeconds is how far ahead of this instance's clock a token's
// timestamp may be.
const maxSkewSeconds = 60

func seconds(t time.Time) int64 { return int64(t.Sub(epoch) / time.Second) }

func (g *Generator) make(purpose string, u storage.User, ts int64) string {
	mac := hmac.New(sha256.New, g.key)
	writeField(mac, purpose)
	writeField(mac, strconv.FormatInt(u.ID, 10))
	writeField(mac, u.PasswordHash)
	writeField(mac, loginStamp(u.LastLogin))
	writeField(mac, strconv.FormatInt(ts, 10))
	writeField(mac, u.Email)
	writeField(mac, strconv.FormatBool(u.IsActive))
	writeField(mac, u.Username)
	full := hex.EncodeToString(mac.Sum(nil))
	// Every other hex digit, as Django does, to keep links short: 128 bits.
	short := make([]byte, 0, len(full)/2)
	for i := 0; i < len(full); i += 2 {
		short = append(short, full[i])
	}
	return strconv.FormatInt(ts, 36) + "-" + string(short)
}

// writeField writes s with its length first, so no two field lists give
// the same bytes.
func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

// loginStamp is the last login to the second in UTC ("" for never), so a
// database that drops sub-second precision gives the same token.
func loginStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// ErrInvalidUID is returned by DecodeUID for anything EncodeUID cannot have
// made.
var ErrInvalidUID = errors.New("usertokens: invalid uid")

// EncodeUID is Django's urlsafe_base64_encode(force_bytes(pk)): the decimal
// ID in URL-safe base64 without padding (1 → "MQ", 42 → "NDI").
func EncodeUID(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

// DecodeUID reverses EncodeUID. Like Django it accepts the padded form too;
// anything else (not base64, not a positive decimal ID in canonical form)
// is ErrInvalidUID.
func DecodeUID(s string) (int64, error) {
	s = strings.TrimRight(s, "=")
	if s == "" || len(s) > 32 {
		return 0, ErrInvalidUID
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return 0, ErrInvalidUID
	}
	digits := string(raw)
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, ErrInvalidUID
		}
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != digits {
		return 0, ErrInvalidUID
	}
	return id, nil
}
