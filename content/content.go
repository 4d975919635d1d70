// Package content is the esxi-users DRP content pack: the Params (names,
// schemas, defaults, documentation), the task with its templates, the stage
// and the workflow. The pack's files are the single source of truth; Go code
// reads names and defaults from here instead of repeating them.
//
// The files are laid out for `drpcli contents bundle` (see mk/drp.mk); bundle
// builds the same bundle document in Go for the plugin's define.
package content

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/digitalrebar/provision/v4/models"
	"github.com/digitalrebar/provision/v4/store"
)

// Names of the Params this pack defines. content_test.go checks that each
// names a Param in params/ and that the task lists exactly these.
const (
	ParamUsers             = "esxi/manage-users"
	ParamIgnoreList        = "esxi/manage-users-ignore-list"
	ParamServer            = "esxi/manage-users-server"
	ParamUsername          = "esxi/manage-users-username"
	ParamPassword          = "esxi/manage-users-password"
	ParamThumbprint        = "esxi/manage-users-thumbprint"
	ParamInsecure          = "esxi/manage-users-insecure"
	ParamPasswordPolicy    = "esxi/manage-users-password-policy"
	ParamSkipPasswordCheck = "esxi/manage-users-skip-password-check"
	ParamPassThrough       = "esxi/manage-users-passthroughauth"
	ParamPassThroughPkg    = "esxi/manage-users-passthroughauthpackage"
	ParamSPN               = "esxi/manage-users-spn"
	ParamViHost            = "esxi/manage-users-vihost"
	ParamReport            = "esxi/manage-users-report"
)

// ParamInsecurePassword is RackN's ESXi root password Param (defined by the
// vmware content pack, not this one): the fallback for ParamPassword.
const ParamInsecurePassword = "esxi/insecure-password"

// Names of the other objects in the pack and of the plugin that ships it.
const (
	PackName     = "esxi-users"        // ._Name.meta
	PluginName   = "esxi-users"        // plugin provider (and instance) name
	TaskName     = "esxi-manage-users" // task, stage and workflow
	StageName    = "esxi-manage-users"
	WorkflowName = "esxi-manage-users"
	ActionName   = "esxiManageUsers" // the plugin's machine action
	TaskBinary   = "esxi-manage-users"
)

// OwnParams lists the Params this pack defines, in documentation order.
var OwnParams = []string{
	ParamUsers, ParamIgnoreList, ParamServer, ParamUsername, ParamPassword,
	ParamThumbprint, ParamInsecure, ParamPasswordPolicy, ParamSkipPasswordCheck,
	ParamPassThrough, ParamPassThroughPkg, ParamSPN, ParamViHost, ParamReport,
}

// Sections are the pack's folders that are bundled (testdata/ is not).
var Sections = []string{"params", "tasks", "templates", "stages", "workflows"}

//go:embed ._*.meta params tasks templates stages workflows
var files embed.FS

var (
	loadOnce sync.Once
	loaded   *models.Content
	loadErr  error
)

func load() (*models.Content, error) {
	loadOnce.Do(func() { loaded, loadErr = bundle(files) })
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
	for _, section := range Sections {
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

// BundleJSON returns the bundle document as JSON (valid YAML too), the form
// the plugin puts in PluginProvider.Content.
func BundleJSON() ([]byte, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
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
		return nil, fmt.Errorf("content: no Param %q in the %s pack", name, PackName)
	}
	return p, nil
}

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

// Default returns the Schema default of a Param (a deep copy, safe to
// modify), and whether it has one.
func Default(name string) (any, bool) {
	p, err := Param(name)
	if err != nil {
		return nil, false
	}
	v, ok := p.DefaultValue()
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	var cp any
	if json.Unmarshal(b, &cp) != nil {
		return nil, false
	}
	return cp, true
}

// Task returns the esxi-manage-users task.
func Task() (*models.Task, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	t, ok := c.Sections["tasks"][TaskName].(*models.Task)
	if !ok {
		return nil, fmt.Errorf("content: no task %q in the %s pack", TaskName, PackName)
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
		return "", fmt.Errorf("content: no template %q in the %s pack", id, PackName)
	}
	return t.Contents, nil
}

// RequiredParams are the task's (and the plugin action's) RequiredParams.
func RequiredParams() []string {
	t, err := Task()
	if err != nil {
		return nil
	}
	return slices.Clone(t.RequiredParams)
}

// OptionalParams are the task's (and the plugin action's) OptionalParams.
func OptionalParams() []string {
	t, err := Task()
	if err != nil {
		return nil
	}
	return slices.Clone(t.OptionalParams)
}
