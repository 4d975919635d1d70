package pack

import "github.com/digitalrebar/provision/v4/models"

// Accessors over the loaded pack that only this package's tests use.

// Bundle returns the content bundle (meta and sections), as
// `drpcli contents bundle` would build it from this folder.
func Bundle() (*models.Content, error) { return load() }

// Schema returns the JSON Schema (draft 4) of a Param, as decoded from YAML
// into JSON-compatible Go values.
func Schema(name string) (any, bool) {
	p, err := Param(name)
	if err != nil || p.Schema == nil {
		return nil, false
	}
	return p.Schema, true
}

// IsSecure reports whether a Param of the pack is Secure.
func IsSecure(name string) bool {
	p, err := Param(name)
	return err == nil && p.Secure
}
