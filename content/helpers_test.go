package content

import (
	"fmt"
	"sort"

	"github.com/digitalrebar/provision/v4/models"
)

// Accessors over the loaded pack that only tests use; what the shipped code
// uses stays in content.go.

// Bundle returns the content bundle (meta and sections), as
// `drpcli contents bundle` would build it from this folder.
func Bundle() (*models.Content, error) { return load() }

// ParamNames lists the names of the Params in the pack, sorted.
func ParamNames() []string {
	c, err := load()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(c.Sections["params"]))
	for k := range c.Sections["params"] {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

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

// Template returns the contents of a template file of the pack by ID.
func Template(id string) (string, error) {
	c, err := load()
	if err != nil {
		return "", err
	}
	t, ok := c.Sections["templates"][id].(*models.Template)
	if !ok {
		return "", fmt.Errorf("content: no template %q in the %s pack", id, PackName)
	}
	return t.Contents, nil
}
