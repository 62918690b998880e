package throttle

import (
	"crypto/rand"
	"crypto/subtle"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/latchkey-auth/latchkey/storage"
)

// NormalizeLogin is the spelling of a typed login that the account counter
// of an unknown login keys on: NFKC (as usernames are stored) and lower
// case (as logins are compared), so "ＡLICE" and "alice" share a counter
// whether or not an account has them.
func NormalizeLogin(login string) string {
	return strings.ToLower(norm.NFKC.String(login))
}

// knownLimit is the policy of a known-address record: counted "failures"
// are successful logins, never blocked, forgotten KnownAddressTTL after the
// last one.
func (l *Limiter) knownLimit() storage.AttemptLimit {
	return storage.AttemptLimit{Failures: math.MaxInt32, Window: l.knownAddrTTL, Backoff: time.Second, MaxBackoff: time.Second}
}

// deviceVersion starts every device token.
const deviceVersion = "d1"

// DeviceToken returns a device token for the account a successful login
// (BeginLogin) signed in, and when it expires: the value of the browser's
// device cookie. It is "d1.<id>.<expiry>.<mac>": a random device ID, the
// expiry in Unix seconds, and the server's keyed hash (an HMAC under a key
// derived from the master key) of both with the account key, so a token
// is good only for its account and until its expiry. It returns "" when
// device tokens are off (DeviceTTL 0), rate limiting is off, or the check
// was not a login.
func (a *Attempt) DeviceToken() (string, time.Time) {
	if a == nil || a.account == "" || a.l.deviceTTL <= 0 {
		return "", time.Time{}
	}
	exp := a.l.now().Add(a.l.deviceTTL).Truncate(time.Second)
	id := rand.Text()
	expS := strconv.FormatInt(exp.Unix(), 10)
	return deviceVersion + "." + id + "." + expS + "." + a.l.deviceMAC(a.account, id, expS), exp
}

func (l *Limiter) deviceMAC(account, id, exp string) string {
	return l.hash.Hash("latchkey device v1 " + account + " " + id + " " + exp)
}

// verifyDevice reports whether token is an unexpired device token of
// account, and its device ID.
func (l *Limiter) verifyDevice(account, token string) (string, bool) {
	if token == "" || l.deviceTTL <= 0 || len(token) > 200 {
		return "", false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] != deviceVersion {
		return "", false
	}
	id, expS, mac := parts[1], parts[2], parts[3]
	want := l.deviceMAC(account, id, expS)
	if subtle.ConstantTimeCompare([]byte(mac), []byte(want)) != 1 {
		return "", false
	}
	exp, err := strconv.ParseInt(expS, 10, 64)
	if err != nil || !l.now().Before(time.Unix(exp, 0)) {
		return "", false
	}
	return id, true
}
