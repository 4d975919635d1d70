package passwdqc_test

import (
	"fmt"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
)

func ExamplePolicy_Check() {
	esxi, err := passwdqc.ParseESXi(passwdqc.ESXiDefault)
	if err != nil {
		panic(err)
	}
	user := &passwdqc.Account{User: "alice", Gecos: "Alice Example", Home: "/"}
	for _, pw := range []string{"xQaT3#A", "Xqat3hi", "alice123!", "Secret#42", "S3cr3tP455!"} {
		reason := esxi.Check(pw, user)
		if reason == "" {
			reason = "OK"
		}
		fmt.Println(reason)
	}
	// Output:
	// OK
	// not enough different characters or classes
	// based on personal login information
	// based on a dictionary word and not a passphrase
	// OK
}
