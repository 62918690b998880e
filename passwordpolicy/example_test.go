package passwordpolicy_test

import (
	"fmt"

	"github.com/latchkey-auth/latchkey/passwordpolicy"
)

func ExamplePolicy_Validate() {
	p := passwordpolicy.New(passwordpolicy.Default())
	user := map[string]string{"username": "alice", "email": "alice@example.com"}
	for _, msg := range p.Validate("alice12", user) {
		fmt.Println(msg)
	}
	fmt.Println(p.Validate("correct horse battery staple", user) == nil)
	// Output:
	// The password is too similar to the username.
	// This password is too short. It must contain at least 8 characters.
	// true
}
