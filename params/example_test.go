package params_test

import (
	"fmt"

	"github.com/esxi-users/esxi-users/params"
)

func ExampleParse() {
	entries, err := params.Parse([]byte(`
- id: user1
  operation: add
  description: User One
  password: S3cr3tP455!
  role: Admin
- id: user1
  operation: remove
`))
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Println(e.Index, e.ID, e.Operation, e.Role, e.Password, e.EffectiveDescription())
	}
	// Output:
	// 0 user1 add Admin ******** User One
	// 1 user1 remove   ESXi User
}

func ExampleParse_invalid() {
	_, err := params.Parse([]byte(`[
  {"id": "user1", "operation": "add", "password": "S3cr3tP455!", "role": "Admin"},
  {"id": "user2", "operation": "add", "password": "S3cr3tP455!", "role": "Admin"},
  {"id": "user1", "operation": "set", "password": "S3cr3tP455!", "role": "Owner"},
  {"id": "user3", "operation": "add", "passwrod": "S3cr3tP455!", "role": "admin"}
]`))
	fmt.Println(err)
	// Output:
	// entry 3 (id "user1", set): role "Owner" is not one of Admin, ReadOnly, NoAccess
	// entry 4 (id "user3", add): line 5: unknown field "passwrod" (did you mean "password"?); fields are id, operation, description, password, role
	// entry 4 (id "user3", add): password is required for add
	// entry 4 (id "user3", add): role "admin" is not one of Admin, ReadOnly, NoAccess (did you mean "Admin"?)
}

// JSON is read per RFC 8259: escapes decode as encoding/json decodes them,
// and an unpaired UTF-16 surrogate is refused rather than turned into U+FFFD.
func ExampleParse_json() {
	entries, err := params.Parse([]byte(`[{"id": "user1", "operation": "add", "description": "Caf\u00e9 \/ \ud83d\ude00", "password": "S3cr3tP455!", "role": "Admin"}]`))
	if err != nil {
		panic(err)
	}
	fmt.Println(entries[0].Description)
	_, err = params.Parse([]byte(`[{"id": "user1", "operation": "add", "description": "\ud83d", "password": "S3cr3tP455!", "role": "Admin"}]`))
	fmt.Println(err)
	_, err = params.Parse([]byte(`[
  {"id": "user1", "operation": "remove"},
  {"id": "user2", "operation": "remove",}
]`))
	fmt.Println(err)
	// Output:
	// Café / 😀
	// entry 1 (id "user1", add): line 1: description has an unpaired UTF-16 surrogate escape at column 54: a \uD800–\uDBFF escape must be followed by a \uDC00–\uDFFF escape (refused rather than decoded as U+FFFD, which would change the value)
	// esxi/manage-users: line 3, column 41: JSON syntax error: expected a field name after ',', found '}' (JSON allows no trailing comma)
}
