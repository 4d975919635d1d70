package tasks

import (
	"encoding/json"
	"fmt"
)

// Observation is what a host holds for one id, read afresh after the id's
// entry failed. In the report (Result.Observed) it is
// {"exists": true, "role": "Admin", "description": "…"} ("role" is "" when
// the user has no permission on the root folder), {"exists": false}, or
// null when the host could not be read.
type Observation struct {
	// Unreadable: the host could not be read (JSON null); the other fields
	// are then meaningless.
	Unreadable  bool
	Exists      bool
	Role        string // "" when the id holds no permission on the root folder
	Description string
	// Shell is the account's shell access as the host reports it; it
	// explains a failure (shellNote) and is not in the report (Result.
	// Observed leaves it unknown, as its JSON does).
	Shell ShellAccess
}

// observationJSON is the wire form of a readable Observation.
type observationJSON struct {
	Exists      bool    `json:"exists"`
	Role        *string `json:"role,omitempty"`
	Description *string `json:"description,omitempty"`
}

// MarshalJSON writes null, {"exists": false} or
// {"exists": true, "role": …, "description": …}.
func (o Observation) MarshalJSON() ([]byte, error) {
	switch {
	case o.Unreadable:
		return []byte("null"), nil
	case !o.Exists && o.Role == "":
		return json.Marshal(observationJSON{})
	case !o.Exists:
		// A permission without a user (a leftover) shows its role.
		return json.Marshal(observationJSON{Role: &o.Role})
	default:
		return json.Marshal(observationJSON{Exists: true, Role: &o.Role, Description: &o.Description})
	}
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Observation) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = Observation{Unreadable: true}
		return nil
	}
	var w observationJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*o = Observation{Exists: w.Exists}
	if w.Role != nil {
		o.Role = *w.Role
	}
	if w.Description != nil {
		o.Description = *w.Description
	}
	return nil
}

// Words says the observation for id in a sentence fragment, for logs and
// text output: "the host now has user1 with no role".
func (o Observation) Words(id string) string {
	switch {
	case o.Unreadable:
		return fmt.Sprintf("the host could not be read afterwards: what it holds for %s is unknown", id)
	case !o.Exists && o.Role != "":
		return fmt.Sprintf("the host now has no user %s, but a permission for it with role %s", id, o.Role)
	case !o.Exists:
		return fmt.Sprintf("the host now has no user %s", id)
	case o.Role == "":
		return fmt.Sprintf("the host now has %s with no role", id)
	default:
		return fmt.Sprintf("the host now has %s with role %s", id, o.Role)
	}
}

// Detail is a result's error, what the host held afterwards and any
// recovery note, in one line: what the text output and the DRP job log show
// in an entry's last column.
func (r Result) Detail() string {
	s := r.Error
	if r.Observed != nil {
		if s != "" {
			s += " — "
		}
		s += r.Observed.Words(r.ID)
	}
	if r.Note != "" {
		if s != "" {
			s += " — "
		}
		s += r.Note
	}
	return s
}
