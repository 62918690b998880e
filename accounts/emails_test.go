package accounts

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/latchkey-auth/latchkey/usertokens"
)

func TestResetPasswordMail(t *testing.T) {
	for _, tc := range []struct {
		name      string
		email     string
		countErr  error // CountMail's answer
		want      error
		wantCount bool
		wantMail  bool
	}{
		{name: "an active account gets a reset link", email: "alice@example.com", wantCount: true, wantMail: true},
		{name: "the address is matched whatever its case", email: "Alice@Example.com", wantCount: true, wantMail: true},
		{name: "an address without an account gets no mail and the same answer", email: "nobody@example.com", wantCount: true},
		{name: "an inactive account gets no reset link", email: "carol@example.com", wantCount: true},
		{
			name: "past the mail limit it is 429 and no mail", email: "alice@example.com", countErr: throttled(30), wantCount: true,
			want: throttledAfter("Request was throttled. Expected available in 30 seconds.", 30),
		},
		{name: "a limiter outage is 503 and no mail", email: "alice@example.com", countErr: errStoreDown, wantCount: true, want: ErrUnavailable},
		{name: "an unexpected limiter error is a server error", email: "alice@example.com", countErr: errors.New("redis: nil pointer"), wantCount: true, want: &Error{Status: 500, Detail: "A server error occurred."}},
		{name: "an invalid address is refused and not counted", email: "not-an-address", want: FieldErrors{"email": {msgEmail}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.provider.CountMailFn = func(context.Context, string) error { return tc.countErr }
			err := e.svc.ResetPassword(context.Background(), body("email", tc.email))
			checkErr(t, err, tc.want)
			var wantCounted []string
			if tc.wantCount {
				wantCounted = []string{tc.email}
			}
			if got := e.provider.callsTo("CountMail"); !slices.Equal(got, wantCounted) {
				t.Errorf("CountMail calls %q, want %q", got, wantCounted)
			}
			e.mailer.mu.Lock()
			defer e.mailer.mu.Unlock()
			if !tc.wantMail {
				if len(e.mailer.sent) > 0 {
					t.Errorf("sent %+v", e.mailer.sent)
				}
				return
			}
			if len(e.mailer.sent) != 1 {
				t.Fatalf("sent %d mails, want 1", len(e.mailer.sent))
			}
			m := e.mailer.sent[0]
			token := fakeUserTokens{}.Make(purposePasswordReset, alice)
			wantURL := "https://app.example/reset/" + usertokens.EncodeUID(alice.ID) + "/" + token
			if m.Kind != MailPasswordReset || m.To != "alice@example.com" || m.Token != token || m.URL != wantURL || m.User.Username != "alice" {
				t.Errorf("mail %+v, want alice's reset link %s", m, wantURL)
			}
		})
	}
}

func TestEveryMailRequestIsCountedAndThrottled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request func(*Service, context.Context, Input) error
	}{
		{"a password reset", (*Service).ResetPassword},
		{"a username reset", (*Service).ResetUsername},
		{"an activation resend", (*Service).ResendActivation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Registration = RegistrationActivation })
			e.provider.CountMailFn = func(context.Context, string) error { return throttled(2) }
			err := tc.request(e.svc, context.Background(), body("email", "carol@example.com"))
			checkErr(t, err, throttledAfter("Request was throttled. Expected available in 2 seconds.", 2))
			if got := e.provider.callsTo("CountMail"); !slices.Equal(got, []string{"carol@example.com"}) {
				t.Errorf("CountMail calls %q", got)
			}
			if got := e.mailer.kinds(); len(got) > 0 {
				t.Errorf("sent %q past the limit", got)
			}
		})
	}
}
