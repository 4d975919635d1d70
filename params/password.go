package params

import (
	"encoding/json"
	"fmt"
)

// Masked is how a Password prints everywhere.
const Masked = "********"

// Password holds a secret. Every textual form is Masked (or "" when no
// password was given): String, GoString, JSON, YAML, text, and every fmt verb
// (%v %+v %#v %s %q %x %X %d …, through Format), also inside structs, slices
// and maps. The secret sits behind a pointer to a string, so that a
// Password in an unexported struct field, which fmt prints by reflection
// without calling Format, shows an address, never the value (fmt follows a
// pointer to a struct, not one to a string).
//
// The value is only reachable through Reveal.
type Password struct{ v *string }

// NewPassword wraps a secret.
func NewPassword(s string) Password {
	if s == "" {
		return Password{}
	}
	return Password{v: &s}
}

// Reveal returns the secret. Never print it, and keep no copy beyond the
// call that needs it (the one exception: a SOAP trace's list of strings to
// scrub lives as long as the session). Its callers, and the only ones
// (TestRevealCallers keeps this list true):
//   - internal/esx: the Login request; the HostAccountSpec of CreateUser and
//     UpdateUser, direct and through vCenter alike (accounts.go); the
//     strings the SOAP trace scrubs (connect.go) and the retry log lines
//     scrub (recover.go);
//   - internal/job: the password-policy check with passwdqc; the strings the
//     SOAP trace scrubs, for one host and for a fleet alike (job.go);
//   - tasks: the HMAC digest that recognises an unchanged entry, and the
//     redaction of host errors that echo a password back;
//   - params: the validation of its characters (validate.go).
func (p Password) Reveal() string {
	if p.v == nil {
		return ""
	}
	return *p.v
}

// IsZero reports whether no password was given.
func (p Password) IsZero() bool { return p.Len() == 0 }

// Len is the password's length in bytes (passwdqc counts bytes).
func (p Password) Len() int {
	if p.v == nil {
		return 0
	}
	return len(*p.v)
}

func (p Password) String() string   { return p.mask() }
func (p Password) GoString() string { return p.mask() }

// Format implements fmt.Formatter: every verb prints the mask (%q quotes
// it), never the secret.
func (p Password) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", p.mask())
		return
	}
	fmt.Fprint(f, p.mask())
}

// MarshalJSON never emits the secret.
func (p Password) MarshalJSON() ([]byte, error) { return json.Marshal(p.mask()) }

// MarshalYAML never emits the secret.
func (p Password) MarshalYAML() (any, error) { return p.mask(), nil }

// MarshalText never emits the secret.
func (p Password) MarshalText() ([]byte, error) { return []byte(p.mask()), nil }

func (p Password) mask() string {
	if p.IsZero() {
		return ""
	}
	return Masked
}
