// Package content is the esxi-users DRP content pack: the Params (names,
// schemas, defaults, documentation), the task with its templates, the stage
// and the workflow. The pack's files are the single source of truth; Go code
// reads names and defaults from here instead of repeating them.
//
// The files are laid out for `drpcli contents bundle` (see mk/drp.mk).
// This package reads only what a run needs (the run's Params and their
// Schema defaults) and links no DRP SDK, so the task binary does not;
// internal/pack reads the whole pack with the SDK's models for the plugin's
// define.
package content

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Names of the Params this pack defines. internal/pack's tests check them
// against the pack's files: TestConstantsNameParamsInThePack that OwnParams
// (these and the store's and plugin's Params below) are exactly the Params
// in params/, TestTaskParamListsAreTheConstants that the tasks list exactly
// the run's inputs among them.
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

// The destination store (internal/drp, destination.go): a profile that
// only admins and the plugin write (DRP gives machine, job and
// unknown-machine tokens no claim on profiles), holding one record per
// machine and the operator's policy for machines without one. The plugin
// reads it from the profile itself, never from a machine's Params.
const (
	// DestinationsProfile is the profile's name; the plugin creates it
	// when it writes the first record.
	DestinationsProfile = "esxi-users-destinations"
	// ParamDestinationPrefix + a machine's UUID is that machine's record.
	ParamDestinationPrefix = "esxi-users/destination/"
	// ParamKnownHosts pins servers for machines without a record (govc's
	// known-hosts lines).
	ParamKnownHosts = "esxi-users/known-hosts"
	// ParamTrustOnFirstUse lets a machine without a record record its
	// first destination (default true).
	ParamTrustOnFirstUse = "esxi-users/trust-on-first-use"
)

// ParamMaxParallelRuns is the plugin's own setting (PluginParams): how many
// host runs it does at once; the others wait in line.
const ParamMaxParallelRuns = "esxi-users/max-parallel-runs"

// ParamInsecurePassword is RackN's ESXi root password Param (defined by the
// vmware content pack, not this one): the fallback for ParamPassword.
const ParamInsecurePassword = "esxi/insecure-password"

// Names of the other objects in the pack and of the plugin that ships it.
const (
	PackName   = "esxi-users" // ._Name.meta
	PluginName = "esxi-users" // plugin provider (and instance) name
	// TaskName is the default task (stage and workflow of the same name):
	// it runs the plugin's action, on ESXi and Go-agent machines alike.
	TaskName     = "esxi-manage-users"
	StageName    = "esxi-manage-users"
	WorkflowName = "esxi-manage-users"
	// AgentTaskName runs the task binary on a Go-agent machine (stage and
	// workflow of the same name); it reads the Secure Params in clear.
	AgentTaskName     = "esxi-manage-users-agent"
	AgentStageName    = "esxi-manage-users-agent"
	AgentWorkflowName = "esxi-manage-users-agent"
	ActionName        = "esxiManageUsers" // the plugin's machine action
	// DestinationActionName is the plugin's machine action the task binary
	// asks where a run may log in (internal/drp: DestinationAction).
	DestinationActionName = "esxiManageUsersDestination"
	TaskBinary            = "esxi-manage-users"
)

// TaskArches are the Linux architectures the task binary is built for
// (mk/drp.mk's DRP_ARCHES): the plugin embeds and publishes one per arch.
var TaskArches = []string{"amd64", "arm64"}

// TaskBinaryFile is the file name of the task binary for a Linux arch, as
// the plugin publishes it and the Go-agent template downloads it.
func TaskBinaryFile(arch string) string { return TaskBinary + "." + arch + ".linux" }

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
	ParamReport, ParamDRPCertSHA256, ParamKnownHosts, ParamTrustOnFirstUse,
	ParamMaxParallelRuns,
}

// StoreParams are the Params of the destinations profile (not inputs of a
// run: the plugin reads them from DestinationsProfile only).
var StoreParams = []string{ParamKnownHosts, ParamTrustOnFirstUse}

// PluginParams are the plugin's own settings: DRP passes them to the
// plugin's config (the provider's OptionalParams: the plugin instance's
// value, else the global profile's, else the Schema default). They are not
// inputs of a run.
var PluginParams = []string{ParamMaxParallelRuns}

// Sections are the pack's folders that are bundled (testdata/ is not).
var Sections = []string{"params", "tasks", "templates", "stages", "workflows"}

//go:embed ._*.meta params tasks templates stages workflows
var files embed.FS

// FS is the pack's files: the ._*.meta files and the Sections' folders.
func FS() fs.FS { return files }

// runSpec is what a run reads from the pack: the agent task's Param lists
// and the Params' Schemas.
type runSpec struct {
	required, optional []string
	schemas            map[string]any // Param name -> Schema
}

var (
	specOnce sync.Once
	spec     runSpec
	specErr  error
)

func loadSpec() (runSpec, error) {
	specOnce.Do(func() { spec, specErr = readSpec(files) })
	return spec, specErr
}

// readSpec reads the agent task's RequiredParams and OptionalParams and
// each Param's Schema from the pack's YAML files (as JSON values: the
// documents are decoded, then passed through encoding/json, as DRP's YAML
// codec does).
func readSpec(fsys fs.FS) (runSpec, error) {
	s := runSpec{schemas: map[string]any{}}
	decode := func(name string, v any) error {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("content: read %s: %w", name, err)
		}
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("content: parse %s: %w", name, err)
		}
		j, err := json.Marshal(doc)
		if err == nil {
			err = json.Unmarshal(j, v)
		}
		if err != nil {
			return fmt.Errorf("content: parse %s: %w", name, err)
		}
		return nil
	}
	entries, err := fs.ReadDir(fsys, "params")
	if err != nil {
		return s, fmt.Errorf("content: read params: %w", err)
	}
	for _, e := range entries {
		var p struct {
			Name   string
			Schema any
		}
		if err := decode(path.Join("params", e.Name()), &p); err != nil {
			return s, err
		}
		s.schemas[p.Name] = p.Schema
	}
	entries, err = fs.ReadDir(fsys, "tasks")
	if err != nil {
		return s, fmt.Errorf("content: read tasks: %w", err)
	}
	for _, e := range entries {
		var t struct {
			Name                           string
			RequiredParams, OptionalParams []string
		}
		if err := decode(path.Join("tasks", e.Name()), &t); err != nil {
			return s, err
		}
		if t.Name == AgentTaskName {
			s.required, s.optional = t.RequiredParams, t.OptionalParams
			return s, nil
		}
	}
	return s, fmt.Errorf("content: no task %q in the %s pack", AgentTaskName, PackName)
}

// RequiredParams are the inputs of a run that must be set: the agent task's
// (whose binary reads them) and the plugin action's RequiredParams.
func RequiredParams() []string {
	s, _ := loadSpec()
	return slices.Clone(s.required)
}

// OptionalParams are the other inputs of a run: the agent task's and the
// plugin action's OptionalParams.
func OptionalParams() []string {
	s, _ := loadSpec()
	return slices.Clone(s.optional)
}

// Default returns the Schema default of a Param of the pack (a deep copy,
// safe to modify), and whether it has one.
func Default(name string) (any, bool) {
	s, err := loadSpec()
	if err != nil {
		return nil, false
	}
	return SchemaDefault(s.schemas[name])
}

// Bounds returns the "minimum" and "maximum" of a Param's Schema (a
// number Param of the pack); a bound the Schema lacks is -Inf or +Inf.
func Bounds(name string) (lo, hi float64) {
	lo, hi = math.Inf(-1), math.Inf(1)
	s, err := loadSpec()
	if err != nil {
		return lo, hi
	}
	m, _ := s.schemas[name].(map[string]any)
	if v, ok := m["minimum"].(float64); ok {
		lo = v
	}
	if v, ok := m["maximum"].(float64); ok {
		hi = v
	}
	return lo, hi
}

// SchemaDefault returns the default of a Param's JSON Schema (its
// "default"; a deep copy, safe to modify), and whether it has one: what
// DRP's models.Param.DefaultValue reads, for a Param of this pack or one
// read from the DRP API.
func SchemaDefault(schema any) (any, bool) {
	m, ok := schema.(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := m["default"]
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
