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
	ParamAllowSelfLockout  = "esxi/manage-users-allow-self-lockout"
	ParamReport            = "esxi/manage-users-report"
	// ParamDRPCertSHA256 pins the DRP API certificate for the ESXi template
	// (rendered there; not an input of a run).
	ParamDRPCertSHA256 = "esxi/manage-users-drp-cert-sha256"
)

// ParamInsecurePassword is RackN's ESXi root password Param (defined by the
// vmware content pack, not this one): the fallback for ParamPassword.
const ParamInsecurePassword = "esxi/insecure-password"

// Names of the other objects in the pack and of the plugin that ships it.
const (
	PackName   = "esxi-users" // ._Name.meta
	PluginName = "esxi-users" // plugin provider (and instance) name
	// TaskName is the default task (stage and workflow of the same name):
	// it runs the plugin's action, on ESXi and Go-agent machines alike, and
	// has no getSecure claim.
	TaskName     = "esxi-manage-users"
	StageName    = "esxi-manage-users"
	WorkflowName = "esxi-manage-users"
	// AgentTaskName runs the task binary on a Go-agent machine (stage and
	// workflow of the same name); it has the getSecure claim.
	AgentTaskName     = "esxi-manage-users-agent"
	AgentStageName    = "esxi-manage-users-agent"
	AgentWorkflowName = "esxi-manage-users-agent"
	ActionName        = "esxiManageUsers" // the plugin's machine action
	TaskBinary        = "esxi-manage-users"
)

// Template IDs of the pack.
const (
	// ESXiTemplate posts the action from an ESXi host (Python).
	ESXiTemplate = "esxi-manage-users-esxi.py.tmpl"
	// ActionTemplate posts the action from a Go-agent machine (curl).
	ActionTemplate = "esxi-manage-users-action.sh.tmpl"
	// AgentTemplate downloads, verifies and runs the task binary.
	AgentTemplate = "esxi-manage-users.sh.tmpl"
	// DigestTemplate holds the pinned SHA-256 digests of the task binaries,
	// included by AgentTemplate; the plugin's define writes it (Digests).
	DigestTemplate = "esxi-manage-users-sha256.tmpl"
)

// OwnParams lists the Params this pack defines, in documentation order.
var OwnParams = []string{
	ParamUsers, ParamIgnoreList, ParamServer, ParamUsername, ParamPassword,
	ParamThumbprint, ParamInsecure, ParamPasswordPolicy, ParamSkipPasswordCheck,
	ParamPassThrough, ParamPassThroughPkg, ParamSPN, ParamViHost, ParamAllowSelfLockout,
	ParamReport, ParamDRPCertSHA256,
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
			if section == "tasks" {
				item = &TaskSpec{}
			}
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

// TaskSpec is a Task as this pack writes it: models.Task of the DRP SDK in
// go.mod (v4.7.0) plus ExtraDuration, which newer DRP servers read and that
// SDK's Task lacks (decoding into models.Task alone would drop it, and with it
// the bound on the job token's lifetime).
type TaskSpec struct {
	models.Task
	// ExtraDuration is the lifetime in seconds of the job's token (DRP: 0
	// means 720 hours, -1 about three years).
	ExtraDuration int `json:"ExtraDuration,omitempty"`
}

// Task returns a task of the pack by name (TaskName, AgentTaskName).
func Task(name string) (*TaskSpec, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	t, ok := c.Sections["tasks"][name].(*TaskSpec)
	if !ok {
		return nil, fmt.Errorf("content: no task %q in the %s pack", name, PackName)
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

// RequiredParams are the inputs of a run that must be set: the agent task's
// (whose binary reads them) and the plugin action's RequiredParams.
func RequiredParams() []string {
	t, err := Task(AgentTaskName)
	if err != nil {
		return nil
	}
	return slices.Clone(t.RequiredParams)
}

// OptionalParams are the other inputs of a run: the agent task's and the
// plugin action's OptionalParams.
func OptionalParams() []string {
	t, err := Task(AgentTaskName)
	if err != nil {
		return nil
	}
	return slices.Clone(t.OptionalParams)
}

// Digests renders DigestTemplate for the SHA-256 digests (lower-case hex)
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
// too), with DigestTemplate replaced by Digests(version, sha256ByArch): what
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
	old, ok := c.Sections["templates"][DigestTemplate].(*models.Template)
	if !ok {
		return nil, fmt.Errorf("content: no template %q in the %s pack", DigestTemplate, PackName)
	}
	t := *old
	t.Contents = Digests(version, sha256ByArch)
	cp.Sections["templates"][DigestTemplate] = &t
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
