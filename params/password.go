package params

import "encoding/json"

// Masked is how a Password prints everywhere.
const Masked = "********"

// Password holds a secret. Every textual form (String, GoString, JSON, YAML,
// text) is Masked; the value is only reachable through Reveal, which is
// called in one place: where the vSphere request is built (and where the
// password policy inspects it).
type Password struct{ s string }

// NewPassword wraps a secret.
func NewPassword(s string) Password { return Password{s: s} }

// Reveal returns the secret. Call it only to hand the value to the host or
// to the password policy check; never to print it.
func (p Password) Reveal() string { return p.s }

// IsZero reports whether no password was given.
func (p Password) IsZero() bool { return p.s == "" }

// Len is the password's length in bytes (passwdqc counts bytes).
func (p Password) Len() int { return len(p.s) }

func (p Password) String() string   { return p.mask() }
func (p Password) GoString() string { return p.mask() }

// MarshalJSON never emits the secret.
func (p Password) MarshalJSON() ([]byte, error) { return json.Marshal(p.mask()) }

// MarshalYAML never emits the secret.
func (p Password) MarshalYAML() (any, error) { return p.mask(), nil }

// MarshalText never emits the secret.
func (p Password) MarshalText() ([]byte, error) { return []byte(p.mask()), nil }

func (p Password) mask() string {
	if p.s == "" {
		return ""
	}
	return Masked
}
