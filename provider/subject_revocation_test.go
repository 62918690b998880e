package provider

import (
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// A subject mark set at any instant of a second revokes every token whose
// iat is that second (issued before the call, or during it), and no token
// of the next second (issued after the call returned, see
// RevokeSubjectAccessTokens).
func TestSubjectMarkPrecision(t *testing.T) {
	sec := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	for _, now := range []time.Time{sec, sec.Add(time.Millisecond), sec.Add(500 * time.Millisecond), sec.Add(999 * time.Millisecond)} {
		before := subjectMark(now)
		if !before.After(now) {
			t.Errorf("mark at %v is %v, not after now", now, before)
		}
		if wait := before.Sub(now); wait > time.Second {
			t.Errorf("mark at %v waits %v", now, wait)
		}
		// What the store compares: the token's iat (whole seconds) < before.
		if iat := time.Unix(now.Unix(), 0); !iat.Before(before) {
			t.Errorf("mark at %v: a token of the same second (iat %v) is not revoked", now, iat)
		}
		if iat := time.Unix(before.Unix(), 0); iat.Before(before) {
			t.Errorf("mark at %v: a token issued once the wait is over (iat %v) is revoked", now, iat)
		}
	}
}

func TestRevocationCheck(t *testing.T) {
	iat := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	user := &Introspection{AccessClaims: AccessClaims{ID: "j1", Subject: "42", ClientID: "app", IssuedAt: iat.Unix()}}
	want := storage.RevocationCheck{JTI: "j1", Subject: "42", IssuedAt: iat}
	if got := revocationCheck(user); got != want {
		t.Errorf("a user's token without a session: %+v, want %+v", got, want)
	}
	withSession := *user
	withSession.SessionID = "fam"
	want = storage.RevocationCheck{JTI: "j1", FamilyID: "fam"}
	if got := revocationCheck(&withSession); got != want {
		t.Errorf("a user's token with a session: %+v, want %+v", got, want)
	}
	client := &Introspection{AccessClaims: AccessClaims{ID: "j2", Subject: "svc", ClientID: "svc", IssuedAt: iat.Unix()}}
	want = storage.RevocationCheck{JTI: "j2"}
	if got := revocationCheck(client); got != want {
		t.Errorf("a client's own token: %+v, want %+v", got, want)
	}
}
