package accounts

import (
	"context"
	"slices"
	"testing"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/usertokens"
)

func TestSetPassword(t *testing.T) {
	anyLoginIsBob := func(context.Context, string, string) (backends.Identity, error) {
		return backends.Identity{UserID: bob.ID}, nil
	}
	for _, tc := range []struct {
		name     string
		edit     func(*Options)
		auth     func(context.Context, string, string) (backends.Identity, error)
		in       Input
		want     error
		wantHash string
	}{
		{
			name:     "the right current password sets the new one",
			in:       body("current_password", "old-password", "new_password", "new-password-1"),
			wantHash: "hashed:new-password-1",
		},
		{
			name: "a wrong current password is refused and nothing changes",
			in:   body("current_password", "guess", "new_password", "new-password-1"),
			want: FieldErrors{"current_password": {msgInvalidPass}},
		},
		{
			name: "another account's password is not the current password",
			auth: anyLoginIsBob,
			in:   body("current_password", "bobs-password", "new_password", "new-password-1"),
			want: FieldErrors{"current_password": {msgInvalidPass}},
		},
		{
			name: "a throttled current password check is 429 and nothing changes",
			auth: func(context.Context, string, string) (backends.Identity, error) {
				return backends.Identity{}, throttled(5)
			},
			in:   body("current_password", "old-password", "new_password", "new-password-1"),
			want: throttledAfter("Request was throttled. Expected available in 5 seconds.", 5),
		},
		{
			name: "a backend outage during the check is 503 and nothing changes",
			auth: func(context.Context, string, string) (backends.Identity, error) {
				return backends.Identity{}, errStoreDown
			},
			in:   body("current_password", "old-password", "new_password", "new-password-1"),
			want: ErrUnavailable,
		},
		{
			name: "a missing current password is required",
			in:   body("new_password", "new-password-1"),
			want: FieldErrors{"current_password": {"This field is required."}},
		},
		{
			name: "a new password the policy refuses is a field error",
			in:   body("current_password", "old-password", "new_password", "short"),
			want: FieldErrors{"new_password": {msgTooShort}},
		},
		{
			name: "a retyped password that differs is refused when retyping is on",
			edit: func(o *Options) { o.Retype.SetPassword = true },
			in:   body("current_password", "old-password", "new_password", "new-password-1", "re_new_password", "new-password-2"),
			want: fieldError(NonField, msgPasswordMatch),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edit := []func(*Options){}
			if tc.edit != nil {
				edit = append(edit, tc.edit)
			}
			e := newSessionEnv(t, edit...)
			e.provider.AuthenticatePasswordFn = login("alice", "old-password", alice)
			if tc.auth != nil {
				e.provider.AuthenticatePasswordFn = tc.auth
			}
			err := e.svc.SetPassword(context.Background(), &Principal{User: alice, Method: "jwt", SessionID: "fam-a1"}, tc.in, "new_password", "re_new_password", true)
			checkErr(t, err, tc.want)
			wantHash := tc.wantHash
			if wantHash == "" {
				wantHash = alice.PasswordHash
			}
			if u, _ := e.store.user(alice.ID); u.PasswordHash != wantHash {
				t.Errorf("password hash %q, want %q", u.PasswordHash, wantHash)
			}
			// Without revoke_sessions_on_password_change nothing ends, and
			// set_password never sets a mark on every access token: it
			// would end the caller's own.
			if got := e.sessions.live(); !slices.Equal(got, []string{"fam-a1", "fam-a2", "fam-b"}) {
				t.Errorf("live sessions %v", got)
			}
			if got := e.provider.callsTo("RevokeSubjectAccessTokens"); len(got) > 0 {
				t.Errorf("set_password revoked the access tokens of %v", got)
			}
		})
	}
}

func TestSetPasswordEndsTheOtherSessionsWhenConfigured(t *testing.T) {
	for _, tc := range []struct {
		name         string
		principal    *Principal
		wantSessions []string
		wantTokens   []string
	}{
		{
			name:         "with an access token its session and the personal tokens stay",
			principal:    &Principal{User: alice, Method: "jwt", SessionID: "fam-a1"},
			wantSessions: []string{"fam-a1", "fam-b"},
			wantTokens:   []string{"login-b", "pat-a"},
		},
		{
			name:         "with a login token that token and the personal tokens stay",
			principal:    &Principal{User: alice, Method: "token", TokenID: "login-a1", TokenKind: storage.TokenKindLogin},
			wantSessions: []string{"fam-b"},
			wantTokens:   []string{"login-a1", "login-b", "pat-a"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSessionEnv(t, func(o *Options) { o.RevokeSessionsOnPasswordChange = true })
			e.provider.AuthenticatePasswordFn = login("alice", "old-password", alice)
			in := body("current_password", "old-password", "new_password", "new-password-1")
			if err := e.svc.SetPassword(context.Background(), tc.principal, in, "new_password", "re_new_password", true); err != nil {
				t.Fatal(err)
			}
			if got := e.sessions.live(); !slices.Equal(got, tc.wantSessions) {
				t.Errorf("live sessions %v, want %v", got, tc.wantSessions)
			}
			if got := e.store.tokenIDs(); !slices.Equal(got, tc.wantTokens) {
				t.Errorf("tokens %v, want %v", got, tc.wantTokens)
			}
			if got := e.provider.callsTo("RevokeSubjectAccessTokens"); len(got) > 0 {
				t.Errorf("set_password revoked the access tokens of %v, the caller's own included", got)
			}
		})
	}
}

// checkEnded fails unless every session and token of alice ended, and
// bob's did not.
func checkEnded(t *testing.T, e *testEnv) {
	t.Helper()
	if got := e.sessions.live(); !slices.Equal(got, []string{"fam-b"}) {
		t.Errorf("live sessions %v, want only bob's", got)
	}
	if got := e.store.tokenIDs(); !slices.Equal(got, []string{"login-b"}) {
		t.Errorf("tokens %v, want only bob's", got)
	}
	if got := e.provider.callsTo("RevokeSubjectAccessTokens"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("RevokeSubjectAccessTokens calls %q, want alice's", got)
	}
}

// checkUntouched fails if any session or token ended.
func checkUntouched(t *testing.T, e *testEnv) {
	t.Helper()
	if got := e.sessions.live(); !slices.Equal(got, []string{"fam-a1", "fam-a2", "fam-b"}) {
		t.Errorf("live sessions %v, want all", got)
	}
	if got := e.store.tokenIDs(); len(got) != len(everyTok) {
		t.Errorf("tokens %v, want all", got)
	}
	if got := e.provider.callsTo("RevokeSubjectAccessTokens"); len(got) > 0 {
		t.Errorf("RevokeSubjectAccessTokens calls %q, want none", got)
	}
}

func TestAdminSetPassword(t *testing.T) {
	t.Run("staff setting a user's password ends everything of the user", func(t *testing.T) {
		e := newSessionEnv(t)
		if err := e.svc.AdminSetPassword(context.Background(), &Principal{User: bob, Method: "jwt"}, alice.ID, body("new_password", "new-password-1")); err != nil {
			t.Fatal(err)
		}
		if u, _ := e.store.user(alice.ID); u.PasswordHash != "hashed:new-password-1" {
			t.Errorf("password hash %q", u.PasswordHash)
		}
		checkEnded(t, e)
	})
	t.Run("a user who is not staff is forbidden", func(t *testing.T) {
		e := newSessionEnv(t)
		err := e.svc.AdminSetPassword(context.Background(), &Principal{User: alice, Method: "jwt"}, bob.ID, body("new_password", "new-password-1"))
		checkErr(t, err, ErrForbidden)
		checkUntouched(t, e)
	})
}

func TestResetPasswordConfirm(t *testing.T) {
	uid := usertokens.EncodeUID(alice.ID)
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{
			name:  "a valid link sets the password and ends everything",
			token: fakeUserTokens{}.Make(purposePasswordReset, alice),
		},
		{
			name:  "a link made for an older password is an invalid token",
			token: fakeUserTokens{}.Make(purposePasswordReset, storage.User{ID: alice.ID, PasswordHash: "hashed:older"}),
			want:  fieldError("token", msgInvalidToken),
		},
		{
			name:  "an activation link does not reset a password",
			token: fakeUserTokens{}.Make(purposeActivation, alice),
			want:  fieldError("token", msgInvalidToken),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSessionEnv(t)
			err := e.svc.ResetPasswordConfirm(context.Background(), body("uid", uid, "token", tc.token, "new_password", "new-password-1"), "new_password", "re_new_password", false)
			checkErr(t, err, tc.want)
			if tc.want != nil {
				checkUntouched(t, e)
				return
			}
			if u, _ := e.store.user(alice.ID); u.PasswordHash != "hashed:new-password-1" {
				t.Errorf("password hash %q", u.PasswordHash)
			}
			checkEnded(t, e)
			if got := e.mailer.kinds(); !slices.Equal(got, []string{MailPasswordChanged + " to alice@example.com"}) {
				t.Errorf("mails %q, want the confirmation", got)
			}
		})
	}
}

func TestDeleteUser(t *testing.T) {
	for _, tc := range []struct {
		name      string
		current   string
		revokeErr error // RevokeSubjectAccessTokens' answer
		want      error
	}{
		{name: "deleting oneself with the current password ends everything and forgets the user", current: "old-password"},
		{name: "a wrong current password deletes nothing", current: "guess", want: FieldErrors{"current_password": {msgInvalidPass}}},
		{name: "a failed revocation is 503 and the account stays", current: "old-password", revokeErr: errStoreDown, want: ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSessionEnv(t)
			e.provider.AuthenticatePasswordFn = login("alice", "old-password", alice)
			e.provider.RevokeSubjectAccessTokensFn = func(context.Context, string) error { return tc.revokeErr }
			err := e.svc.DeleteUser(context.Background(), &Principal{User: alice, Method: "jwt", SessionID: "fam-a1"}, alice.ID, body("current_password", tc.current))
			checkErr(t, err, tc.want)
			_, exists := e.store.user(alice.ID)
			if tc.want != nil {
				if !exists {
					t.Error("the account was deleted")
				}
				if got := e.provider.callsTo("ForgetUser"); len(got) > 0 {
					t.Errorf("ForgetUser calls %q, want none", got)
				}
				return
			}
			if exists {
				t.Error("the account still exists")
			}
			checkEnded(t, e)
			if got := e.provider.callsTo("ForgetUser"); !slices.Equal(got, []string{"1"}) {
				t.Errorf("ForgetUser calls %q, want alice", got)
			}
		})
	}
}

func TestUpdateUserByStaff(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         Input
		wantActive bool
		wantEnded  bool
	}{
		{
			name:      "deactivating a user ends everything and forgets the user",
			in:        Input{Values: map[string]any{"is_active": false}},
			wantEnded: true,
		},
		{
			name:       "a change that keeps the user active only forgets the user",
			in:         Input{Values: map[string]any{"first_name": "Alice"}},
			wantActive: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSessionEnv(t)
			v, err := e.svc.UpdateUser(context.Background(), &Principal{User: bob, Method: "jwt"}, alice.ID, tc.in, true)
			if err != nil {
				t.Fatal(err)
			}
			if u, _ := e.store.user(alice.ID); v.IsActive != tc.wantActive || u.IsActive != tc.wantActive {
				t.Errorf("answer active %v, stored active %v, want %v", v.IsActive, u.IsActive, tc.wantActive)
			}
			if tc.wantEnded {
				checkEnded(t, e)
			} else {
				checkUntouched(t, e)
			}
			if got := e.provider.callsTo("ForgetUser"); !slices.Equal(got, []string{"1"}) {
				t.Errorf("ForgetUser calls %q, want alice", got)
			}
		})
	}
}
