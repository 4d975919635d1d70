// Package pack is the esxi-users content pack as DRP's SDK sees it: the
// bundle `drpcli contents bundle` builds from content/'s files, its objects
// as the SDK's models, and the bundle the plugin's define publishes. The
// plugin links it; the task binary does not (package content has what a
// run reads, without the SDK).
package pack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/digitalrebar/provision/v4/models"
	"github.com/digitalrebar/provision/v4/store"

	"github.com/esxi-users/esxi-users/content"
)

var (
	loadOnce sync.Once
	loaded   *models.Content
	loadErr  error
)

func load() (*models.Content, error) {
	loadOnce.Do(func() { loaded, loadErr = bundle(content.FS()) })
	return loaded, loadErr
}

// bundle reads a pack the way `drpcli contents bundle` does
// (api.Client.BundleContent): meta from ._<Field>.meta (trimmed), one object
// per .yaml/.yml/.json file decoded with DRP's codecs, other files in
// templates/ as raw template contents keyed by file name.
func bundle(fsys fs.FS) (*models.Content, error) {
	c := &models.Content{}
	c.Fill()
	meta := func(field string) string {
		b, err := fs.ReadFile(fsys, "._"+field+".meta")
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	c.Meta = models.ContentMetaData{
		Name: meta("Name"), Version: meta("Version"), Description: meta("Description"),
		Source: meta("Source"), Documentation: meta("Documentation"),
		RequiredFeatures: meta("RequiredFeatures"), Prerequisites: meta("Prerequisites"),
		Color: meta("Color"), Icon: meta("Icon"), Author: meta("Author"),
		DisplayName: meta("DisplayName"), License: meta("License"), Copyright: meta("Copyright"),
		CodeSource: meta("CodeSource"), Order: meta("Order"), Tags: meta("Tags"),
		DocUrl: meta("DocUrl"), Type: meta("Type"),
	}
	if c.Meta.Type == "" {
		c.Meta.Type = "dynamic"
	}
	for _, section := range content.Sections {
		entries, err := fs.ReadDir(fsys, section)
		if err != nil {
			return nil, fmt.Errorf("content: read %s: %w", section, err)
		}
		for _, ent := range entries {
			if ent.IsDir() {
				continue
			}
			name := path.Join(section, ent.Name())
			buf, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, fmt.Errorf("content: read %s: %w", name, err)
			}
			item, _ := models.New(section)
			switch path.Ext(name) {
			case ".yaml", ".yml":
				err = store.YamlCodec.Decode(buf, item)
			case ".json":
				err = store.JsonCodec.Decode(buf, item)
			default:
				tmpl, ok := item.(*models.Template)
				if !ok {
					return nil, fmt.Errorf("content: %s: no idea how to decode a %s file in %s", name, path.Ext(name), section)
				}
				tmpl.ID, tmpl.Contents = ent.Name(), string(buf)
			}
			if err != nil {
				return nil, fmt.Errorf("content: parse %s: %w", name, err)
			}
			if c.Sections[section] == nil {
				c.Sections[section] = models.Section{}
			}
			key := item.Key()
			if _, dup := c.Sections[section][key]; dup {
				return nil, fmt.Errorf("content: %s: %s %q is defined twice", name, section, key)
			}
			c.Sections[section][key] = item
		}
	}
	return c, nil
}

func encodeBundle(c *models.Content) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("content: encode bundle: %w", err)
	}
	return buf.Bytes(), nil
}

// Meta returns the pack's metadata.
func Meta() (models.ContentMetaData, error) {
	c, err := load()
	if err != nil {
		return models.ContentMetaData{}, err
	}
	return c.Meta, nil
}

// Param returns the Param named name from the pack.
func Param(name string) (*models.Param, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	p, ok := c.Sections["params"][name].(*models.Param)
	if !ok {
		return nil, fmt.Errorf("content: no Param %q in the %s pack", name, content.PackName)
	}
	return p, nil
}

// ParamNames lists the names of the Params in the pack, sorted.
func ParamNames() []string { return sectionNames("params") }

// TaskNames lists the names of the Tasks in the pack, sorted.
func TaskNames() []string { return sectionNames("tasks") }

func sectionNames(section string) []string {
	c, err := load()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(c.Sections[section]))
	for k := range c.Sections[section] {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Params returns every Param of the pack, sorted by name (e.g. to load
// them into a DRP server or a test double).
func Params() ([]*models.Param, error) {
	var ps []*models.Param
	for _, n := range ParamNames() {
		p, err := Param(n)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// Task returns a task of the pack by name (TaskName, AgentTaskName).
func Task(name string) (*models.Task, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	t, ok := c.Sections["tasks"][name].(*models.Task)
	if !ok {
		return nil, fmt.Errorf("content: no task %q in the %s pack", name, content.PackName)
	}
	return t, nil
}

// Template returns the contents of a template file of the pack by ID.
func Template(id string) (string, error) {
	c, err := load()
	if err != nil {
		return "", err
	}
	t, ok := c.Sections["templates"][id].(*models.Template)
	if !ok {
		return "", fmt.Errorf("content: no template %q in the %s pack", id, content.PackName)
	}
	return t.Contents, nil
}

// Digests renders content.DigestTemplate for the SHA-256 digests (lower-case hex)
// of the task binaries by architecture, for the shell variables
// sha256_<arch> that AgentTemplate compares a download with.
func Digests(version string, sha256ByArch map[string]string) string {
	arches := make([]string, 0, len(sha256ByArch))
	for a := range sha256ByArch {
		arches = append(arches, a)
	}
	sort.Strings(arches)
	var b strings.Builder
	fmt.Fprintf(&b, "# Pinned by the esxi-users plugin %s (define): SHA-256 of the task binaries it unpacks.\n", version)
	for _, a := range arches {
		fmt.Fprintf(&b, "sha256_%s=%q\n", a, sha256ByArch[a])
	}
	return b.String()
}

// BundleJSONWithDigests returns the bundle document as JSON (valid YAML
// too), with content.DigestTemplate replaced by Digests(version, sha256ByArch): what
// the plugin's define puts in PluginProvider.Content.
func BundleJSONWithDigests(version string, sha256ByArch map[string]string) ([]byte, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	for a, d := range sha256ByArch {
		if !validArch(a) || !validDigest(d) {
			return nil, fmt.Errorf("content: bad digest for %q", a)
		}
	}
	cp := *c
	cp.Sections = models.Sections{}
	for name, sec := range c.Sections {
		cp.Sections[name] = models.Section{}
		for k, v := range sec {
			cp.Sections[name][k] = v
		}
	}
	old, ok := c.Sections["templates"][content.DigestTemplate].(*models.Template)
	if !ok {
		return nil, fmt.Errorf("content: no template %q in the %s pack", content.DigestTemplate, content.PackName)
	}
	t := *old
	t.Contents = Digests(version, sha256ByArch)
	cp.Sections["templates"][content.DigestTemplate] = &t
	return encodeBundle(&cp)
}

func validArch(a string) bool {
	if a == "" {
		return false
	}
	for _, r := range a {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func validDigest(d string) bool {
	if len(d) != 64 {
		return false
	}
	for _, r := range d {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}
