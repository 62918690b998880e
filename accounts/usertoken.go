package accounts

import (
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// This file is Django's PasswordResetTokenGenerator, the one djoser uses
// for activation, password reset and username reset links: uid is the
// user's ID, base64url; token is "<base-36 timestamp>-<MAC>", where the
// MAC covers the user's ID, password hash, last login, e-mail, username and
// active flag. So a token works once (what it covers changes when it is
// used), dies when the password changes, and expires.

// tokenEpoch is Django's: seconds counted from 2001-01-01.
var tokenEpoch = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

// EncodeUID is Django's urlsafe_base64_encode(force_bytes(pk)).
func EncodeUID(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

// DecodeUID reverses EncodeUID; false for anything else.
func DecodeUID(uid string) (int64, bool) {
	if len(uid) > 32 {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(uid, "="))
	if err != nil {
		return 0, false
	}
	id, err := strconv.ParseInt(string(b), 10, 64)
	return id, err == nil && id > 0
}

// makeUserToken returns a token for the user and purpose at now.
func (s *Service) makeUserToken(u storage.User, purpose string, now time.Time) string {
	ts := int64(now.Sub(tokenEpoch) / time.Second)
	return strconv.FormatInt(ts, 36) + "-" + s.userTokenMAC(u, purpose, ts)
}

// checkUserToken reports whether token is valid for the user and purpose
// now: its MAC matches the user's current state and it is not older than
// ttl.
func (s *Service) checkUserToken(u storage.User, purpose, token string, now time.Time, ttl time.Duration) bool {
	if !s.checkUserTokenFormatOnly(token) {
		return false
	}
	tsPart, mac, _ := strings.Cut(token, "-")
	ts, err := strconv.ParseInt(tsPart, 36, 64)
	if err != nil || ts < 0 {
		return false
	}
	want := s.userTokenMAC(u, purpose, ts)
	if subtle.ConstantTimeCompare([]byte(mac), []byte(want)) != 1 {
		return false
	}
	age := now.Sub(tokenEpoch.Add(time.Duration(ts) * time.Second))
	return age >= -time.Minute && age <= ttl
}

const userTokenMACLen = 32

func (s *Service) userTokenMAC(u storage.User, purpose string, ts int64) string {
	lastLogin := ""
	if !u.LastLogin.IsZero() {
		lastLogin = strconv.FormatInt(u.LastLogin.UTC().UnixMilli(), 10)
	}
	parts := []string{
		"latchkey user token v1", purpose, strconv.FormatInt(u.ID, 10), u.PasswordHash,
		strconv.FormatInt(u.PasswordChangedAt.UTC().UnixMilli(), 10), lastLogin,
		strings.ToLower(u.Email), u.Username, strconv.FormatBool(u.IsActive), strconv.FormatInt(ts, 10),
	}
	return s.opts.Provider.HashSecret(strings.Join(parts, "\x00"))[:userTokenMACLen]
}

// checkUserTokenFormatOnly reports whether token has the form of one (a
// cheap check before any MAC is computed).
func (s *Service) checkUserTokenFormatOnly(token string) bool {
	tsPart, mac, ok := strings.Cut(token, "-")
	if !ok || tsPart == "" || len(tsPart) > 13 || len(mac) != userTokenMACLen {
		return false
	}
	_, err := strconv.ParseInt(tsPart, 36, 64)
	return err == nil
}
