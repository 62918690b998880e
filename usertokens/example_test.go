package usertokens_test

import (
	"fmt"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/usertokens"
)

func Example() {
	master := make([]byte, 32) // keys.master_key, decoded
	secret, _ := usertokens.DeriveSecret(master)
	gen := usertokens.New(secret, 72*time.Hour, nil)

	u := storage.User{ID: 1, Username: "alice", Email: "alice@example.com", PasswordHash: "argon2id$…", IsActive: true}
	uid, token := usertokens.EncodeUID(u.ID), gen.Make(usertokens.PasswordReset, u)
	fmt.Println("link: #/password/reset/confirm/" + uid + "/<token>")

	// reset_password_confirm: find the user by uid, check the token.
	id, _ := usertokens.DecodeUID(uid)
	fmt.Println(id, gen.Check(usertokens.PasswordReset, u, token))

	u.PasswordHash = "argon2id$new…" // the password was reset
	fmt.Println(gen.Check(usertokens.PasswordReset, u, token))
	// Output:
	// link: #/password/reset/confirm/MQ/<token>
	// 1 true
	// false
}
