package usertokens_test

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/usertokens"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newGen(t *testing.T) (*usertokens.Generator, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	return usertokens.New(bytes.Repeat([]byte{7}, 32), 3*24*time.Hour, c.now), c
}

func alice() storage.User {
	return storage.User{
		ID: 42, Username: "alice", Email: "alice@example.com",
		PasswordHash: "argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", IsActive: true,
		LastLogin: time.Date(2026, 11, 29, 8, 30, 15, 123456789, time.UTC),
	}
}

var tokenFormat = regexp.MustCompile(`^[0-9a-z]+-[0-9a-f]{32}$`)

func TestMakeThenCheck(t *testing.T) {
	g, _ := newGen(t)
	u := alice()
	tok := g.Make(usertokens.PasswordReset, u)
	if !tokenFormat.MatchString(tok) {
		t.Fatalf("token %q does not look like Django's", tok)
	}
	if !g.Check(usertokens.PasswordReset, u, tok) {
		t.Fatal("a fresh token does not check")
	}
	// 2026-11-30 12:00 UTC is 817,732,800 seconds after 2001-01-01 (Django's
	// epoch): "diuuo0" in base 36, as int_to_base36 writes it.
	if ts, _, _ := strings.Cut(tok, "-"); ts != "diuuo0" || strconv.FormatInt(817732800, 36) != "diuuo0" {
		t.Errorf("timestamp part %q", ts)
	}
	if g.Make(usertokens.PasswordReset, u) != tok {
		t.Error("the same state and second gave another token")
	}
}

func TestTokenDiesWhenStateChanges(t *testing.T) {
	g, _ := newGen(t)
	tests := []struct {
		name    string
		purpose string
		change  func(*storage.User)
	}{
		{"a reset token once the password changes", usertokens.PasswordReset, func(u *storage.User) { u.PasswordHash += "x" }},
		{"a reset token once the user logs in", usertokens.PasswordReset, func(u *storage.User) { u.LastLogin = u.LastLogin.Add(time.Second) }},
		{"a reset token of a user who never logged in once they do", usertokens.PasswordReset, func(u *storage.User) { u.LastLogin = time.Now() }},
		{"a token once the e-mail changes", usertokens.PasswordReset, func(u *storage.User) { u.Email = "alice@other.example" }},
		{"an activation token once the user is active", usertokens.Activation, func(u *storage.User) { u.IsActive = !u.IsActive }},
		{"a username-reset token once the username changes", usertokens.UsernameReset, func(u *storage.User) { u.Username = "alice2" }},
		{"a token for another user", usertokens.PasswordReset, func(u *storage.User) { u.ID = 43 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := alice()
			if tc.name == "a reset token of a user who never logged in once they do" {
				u.LastLogin = time.Time{}
			}
			tok := g.Make(tc.purpose, u)
			if !g.Check(tc.purpose, u, tok) {
				t.Fatal("token does not check before the change")
			}
			tc.change(&u)
			if g.Check(tc.purpose, u, tok) {
				t.Fatal("token still checks after the change")
			}
		})
	}
}

func TestSubSecondLoginPrecisionDoesNotMatter(t *testing.T) {
	g, _ := newGen(t)
	u := alice()
	tok := g.Make(usertokens.PasswordReset, u)
	u.LastLogin = u.LastLogin.Truncate(time.Second).In(time.FixedZone("CET", 3600)) // as a database may return it
	if !g.Check(usertokens.PasswordReset, u, tok) {
		t.Fatal("truncating last_login to the second broke the token")
	}
}

func TestPurposesAndSecretsDoNotMix(t *testing.T) {
	g, c := newGen(t)
	u := alice()
	tok := g.Make(usertokens.Activation, u)
	for _, p := range []string{usertokens.PasswordReset, usertokens.UsernameReset, usertokens.EmailChange, ""} {
		if g.Check(p, u, tok) {
			t.Errorf("an activation token checks as %q", p)
		}
	}
	other := usertokens.New(bytes.Repeat([]byte{8}, 32), 3*24*time.Hour, c.now)
	if other.Check(usertokens.Activation, u, tok) {
		t.Error("a token checks under another secret")
	}
}

func TestExpiry(t *testing.T) {
	g, c := newGen(t)
	u := alice()
	tok := g.Make(usertokens.PasswordReset, u)
	start := c.t
	c.t = start.Add(g.TTL())
	if !g.Check(usertokens.PasswordReset, u, tok) {
		t.Error("a token expired at exactly its ttl")
	}
	c.t = start.Add(g.TTL() + time.Second)
	if g.Check(usertokens.PasswordReset, u, tok) {
		t.Error("a token checks after its ttl")
	}
	// A token made by an instance whose clock is ahead: a minute is fine.
	c.t = start
	ahead := usertokens.New(bytes.Repeat([]byte{7}, 32), 3*24*time.Hour, func() time.Time { return start.Add(time.Minute) })
	if !g.Check(usertokens.PasswordReset, u, ahead.Make(usertokens.PasswordReset, u)) {
		t.Error("a token a minute ahead does not check")
	}
	ahead = usertokens.New(bytes.Repeat([]byte{7}, 32), 3*24*time.Hour, func() time.Time { return start.Add(2 * time.Minute) })
	if g.Check(usertokens.PasswordReset, u, ahead.Make(usertokens.PasswordReset, u)) {
		t.Error("a token two minutes ahead checks")
	}
	c.t = start.Add(g.TTL() + time.Second)
	// Moving the timestamp forward to extend the token breaks the MAC.
	_, mac, _ := strings.Cut(tok, "-")
	forged := strconv.FormatInt(int64(c.t.Sub(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))/time.Second), 36) + "-" + mac
	if g.Check(usertokens.PasswordReset, u, forged) {
		t.Error("a token with a moved timestamp checks")
	}
}

func TestMalformedTokens(t *testing.T) {
	g, _ := newGen(t)
	u := alice()
	tok := g.Make(usertokens.PasswordReset, u)
	ts, mac, _ := strings.Cut(tok, "-")
	for _, bad := range []string{
		"", "-", "abc", ts, ts + "-", "-" + mac, ts + "-" + strings.ToUpper(mac), ts + "-" + mac[:31],
		ts + "-" + mac + "0", "0" + ts + "-" + mac, "+" + ts + "-" + mac, ts + "-" + mac + "-x",
		strings.Repeat("z", 13) + "-" + mac, strings.Repeat("a", 1000),
	} {
		if g.Check(usertokens.PasswordReset, u, bad) {
			t.Errorf("%q checks", bad)
		}
	}
}

func TestDeriveSecret(t *testing.T) {
	a, err := usertokens.DeriveSecret(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := usertokens.DeriveSecret(bytes.Repeat([]byte{2}, 32))
	if len(a) != 32 || bytes.Equal(a, b) || bytes.Equal(a, bytes.Repeat([]byte{1}, 32)) {
		t.Errorf("derived %x and %x", a, b)
	}
	if _, err := usertokens.DeriveSecret([]byte("short")); err == nil {
		t.Error("a short master key was accepted")
	}
}

func TestUID(t *testing.T) {
	// Django: urlsafe_base64_encode(force_bytes(pk)).
	for id, want := range map[int64]string{1: "MQ", 42: "NDI", 123: "MTIz", 1000: "MTAwMA", 9223372036854775807: "OTIyMzM3MjAzNjg1NDc3NTgwNw"} {
		if got := usertokens.EncodeUID(id); got != want {
			t.Errorf("EncodeUID(%d) = %q, want %q", id, got, want)
		}
		got, err := usertokens.DecodeUID(want)
		if err != nil || got != id {
			t.Errorf("DecodeUID(%q) = %d, %v", want, got, err)
		}
	}
	if got, err := usertokens.DecodeUID("MTAwMA=="); err != nil || got != 1000 {
		t.Errorf("padded: %d, %v", got, err)
	}
	for _, bad := range []string{"", "=", "!!", "M", "LTE" /* -1 */, "MDE" /* 01 */, "MA" /* 0 */, "YQ" /* a */, "MSA" /* "1 " */, "IDE" /* " 1" */, "OTIyMzM3MjAzNjg1NDc3NTgwOA" /* overflow */, "MQ+", "M Q"} {
		if id, err := usertokens.DecodeUID(bad); !errors.Is(err, usertokens.ErrInvalidUID) {
			t.Errorf("DecodeUID(%q) = %d, %v; want ErrInvalidUID", bad, id, err)
		}
	}
}
