package drpfake

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
)

// bundle is the part of a content bundle the fake reads: what dr-provision
// holds once the plugin has defined the esxi-users pack, decoded from the
// document the plugin puts in PluginProvider.Content (content.BundleJSON).
type bundle struct {
	Sections struct {
		Params    map[string]*models.Param `json:"params"`
		Templates map[string]struct {
			Contents string
		} `json:"templates"`
	} `json:"sections"`
}

func pack() (*bundle, error) {
	doc, err := content.BundleJSON()
	if err != nil {
		return nil, err
	}
	var b bundle
	if err := json.Unmarshal(doc, &b); err != nil {
		return nil, fmt.Errorf("drpfake: decode the %s bundle: %w", content.PackName, err)
	}
	return &b, nil
}

// PackParams returns the Param definitions of the esxi-users content pack,
// sorted by name: the ones a dr-provision with the plugin installed knows
// (pass them to New).
func PackParams() ([]*models.Param, error) {
	b, err := pack()
	if err != nil {
		return nil, err
	}
	ps := make([]*models.Param, 0, len(b.Sections.Params))
	for _, p := range b.Sections.Params {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps, nil
}

// PackTemplate returns the contents of the pack's template id, the text
// dr-provision renders for a task.
func PackTemplate(id string) (string, error) {
	b, err := pack()
	if err != nil {
		return "", err
	}
	t, ok := b.Sections.Templates[id]
	if !ok {
		return "", fmt.Errorf("drpfake: no template %q in the %s pack", id, content.PackName)
	}
	return t.Contents, nil
}
