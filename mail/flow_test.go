package mail_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/mail/mailtest"
	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/usertokens"
)

// TestActivationFlowOverSMTP is the path of an activation mail from end to
// end: token and uid made for the user, the djoser link rendered and sent
// through a real SMTP session, the link read back from the received mail,
// checked, the user activated, and the same link refused afterwards.
func TestActivationFlowOverSMTP(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithStartTLS(), mailtest.WithAuth("lk", "pw"))
	cfg := smtpConfig(srv, "starttls", "lk", "pw")
	sender, err := mail.NewSMTPSender(cfg, srv.ClientTLSConfig(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	m := &mail.Mailer{Templates: mustTemplates(t, ""), Sender: sender}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tokens := usertokens.New(bytes.Repeat([]byte{1}, 32), 72*time.Hour, func() time.Time { return now })
	user := storage.User{ID: 7, Username: "alice", Email: "alice@acme.test", PasswordHash: "argon2id$x", IsActive: false}

	uid := usertokens.EncodeUID(user.ID)
	token := tokens.Make(usertokens.Activation, user)
	err = m.SendTemplate(context.Background(), mail.Activation, []string{user.Email}, mail.Data{
		SiteName: "Acme", Domain: "app.acme.test", Protocol: "https",
		URL: "#/activate/" + uid + "/" + token, UID: uid, Token: token,
		User: map[string]any{"id": user.ID, "username": user.Username, "email": user.Email},
	})
	if err != nil {
		t.Fatal(err)
	}

	got := waitFor(t, srv, "alice@acme.test")
	link := regexp.MustCompile(`https://app\.acme\.test/#/activate/([A-Za-z0-9_-]+)/([0-9a-z]+-[0-9a-f]+)`).FindStringSubmatch(got.Text)
	if link == nil {
		t.Fatalf("no activation link in:\n%s", got.Text)
	}
	id, err := usertokens.DecodeUID(link[1])
	if err != nil || id != user.ID {
		t.Fatalf("uid %q → %d, %v", link[1], id, err)
	}
	if !tokens.Check(usertokens.Activation, user, link[2]) {
		t.Fatal("the mailed token does not check")
	}
	user.IsActive = true // activated
	if tokens.Check(usertokens.Activation, user, link[2]) {
		t.Fatal("the activation link works twice")
	}
}
