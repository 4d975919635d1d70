// Package params holds the esxi/manage-users Param model: the entries an
// operator writes, how they are decoded from YAML or JSON, and how they are
// validated. It has no vSphere or DRP dependencies.
package params

// Operation is what an entry asks for.
type Operation string

// The operations of esxi/manage-users.
const (
	OpAdd    Operation = "add"    // create; update if the user exists
	OpSet    Operation = "set"    // update; create if the user is missing
	OpRemove Operation = "remove" // delete if present; no error when absent
)

// Role is one of the three ESXi system roles a user may be given.
type Role string

// The only roles esxi/manage-users may grant (the seed: "These are specified
// by VMware and no other roles can be set via the command line").
const (
	RoleAdmin    Role = "Admin"
	RoleReadOnly Role = "ReadOnly"
	RoleNoAccess Role = "NoAccess"
)

// DefaultDescription is what ESXi shows for a user created without one; an
// empty description becomes this on add and set.
const DefaultDescription = "ESXi User"

// Entry is one element of the esxi/manage-users array.
type Entry struct {
	// Index is the 0-based position in the list. Messages say "entry
	// Index+1"; the JSON report uses Index.
	Index int `json:"index" yaml:"-"`
	// Line is the 1-based line of the entry in the input (0 if unknown).
	Line int `json:"-" yaml:"-"`

	ID          string    `json:"id" yaml:"id"`
	Operation   Operation `json:"operation" yaml:"operation"`
	Description string    `json:"description,omitempty" yaml:"description,omitempty"`
	Password    Password  `json:"password,omitempty" yaml:"password,omitempty"`
	Role        Role      `json:"role,omitempty" yaml:"role,omitempty"`
}

// EffectiveDescription is the description written to the host: the entry's,
// or DefaultDescription when empty.
func (e Entry) EffectiveDescription() string {
	if e.Description == "" {
		return DefaultDescription
	}
	return e.Description
}

// Writes reports whether the entry creates or updates an account (add, set).
func (e Entry) Writes() bool { return e.Operation == OpAdd || e.Operation == OpSet }
