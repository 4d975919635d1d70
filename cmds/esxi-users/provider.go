package main

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/digitalrebar/logger"
	"github.com/digitalrebar/provision/v4/api"
	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/drp"
)

// Arches are the Linux architectures the task binary is built for.
var Arches = []string{"amd64", "arm64"}

// BinaryName is the file name of the task binary for an architecture, as
// the Go-agent template downloads it.
func BinaryName(arch string) string { return content.TaskBinary + "." + arch + ".linux" }

//go:embed embedded
var embedded embed.FS

// Definition is the PluginProvider printed by define.
func Definition() (*models.PluginProvider, error) {
	meta, err := content.Meta()
	if err != nil {
		return nil, err
	}
	v := version
	if v == "" {
		v = meta.Version
	}
	// Pin the digests of the binaries unpack publishes in the pack itself
	// (content.DigestTemplate): the Go-agent template compares its download
	// with them, not with a checksum file from the same file server.
	digests, err := EmbeddedDigests()
	if err != nil {
		return nil, err
	}
	bundle, err := content.BundleJSONWithDigests(v, digests)
	if err != nil {
		return nil, err
	}
	def := &models.PluginProvider{
		Name:          content.PluginName,
		Version:       v,
		PluginVersion: 4,
		AutoStart:     true,
		AvailableActions: []models.AvailableAction{{
			Model:          "machines",
			Command:        content.ActionName,
			RequiredParams: content.RequiredParams(),
			OptionalParams: content.OptionalParams(),
		}},
		Documentation: meta.Documentation,
		Content:       string(bundle),
	}
	def.Fill()
	return def, nil
}

// EmbeddedDigests returns the SHA-256 (lower-case hex) of each embedded task
// binary by architecture; architectures whose binary was not embedded are
// left out (their download is then refused: nothing is pinned).
func EmbeddedDigests() (map[string]string, error) {
	out := map[string]string{}
	for _, arch := range Arches {
		bin, err := fs.ReadFile(embedded, "embedded/"+BinaryName(arch))
		if errors.Is(err, fs.ErrNotExist) || (err == nil && len(bin) == 0) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("esxi-users: read embedded %s: %w", BinaryName(arch), err)
		}
		sum := sha256.Sum256(bin)
		out[arch] = hex.EncodeToString(sum[:])
	}
	return out, nil
}

// Plugin implements the SDK's PluginConfig, PluginActor and PluginUnpacker.
type Plugin struct {
	mu     sync.Mutex
	client *api.Client
	runs   drp.Runs // one run per machine at a time
}

// Config keeps the API session DRP gives the plugin (used to write the
// report Param). The plugin has no Params of its own.
func (p *Plugin) Config(l logger.Logger, c *api.Client, _ map[string]interface{}) *models.Error {
	p.mu.Lock()
	p.client = c
	p.mu.Unlock()
	l.Infof("esxi-users configured")
	return nil
}

// Action dispatches the plugin's actions; unknown commands are 404.
func (p *Plugin) Action(l logger.Logger, ma *models.Action) (interface{}, *models.Error) {
	switch ma.Command {
	case content.ActionName:
		return p.manageUsers(l, ma)
	default:
		return nil, &models.Error{Model: "plugin", Key: content.PluginName, Type: "plugin", Code: http.StatusNotFound,
			Messages: []string{fmt.Sprintf("unknown action %q; esxi-users has %s", ma.Command, content.ActionName)}}
	}
}

func (p *Plugin) manageUsers(l logger.Logger, ma *models.Action) (interface{}, *models.Error) {
	machine := &models.Machine{}
	if err := models.Remarshal(ma.Model, machine); err != nil || machine.UUID() == "" {
		return nil, &models.Error{Model: "plugin", Key: content.PluginName, Type: "plugin", Code: http.StatusBadRequest,
			Messages: []string{content.ActionName + " needs a machine (the action's Model)"}}
	}
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c == nil {
		return nil, &models.Error{Model: "machines", Key: machine.UUID(), Type: "plugin", Code: http.StatusServiceUnavailable,
			Messages: []string{content.ActionName + ": the plugin has no DRP API session yet (not configured); nothing was applied"}}
	}
	// Serialise per machine: a second call for a machine whose run is in
	// progress (a retried job, an operator's runaction) is refused at once,
	// never run alongside; other machines run in parallel.
	release, ok := p.runs.TryStart(machine.UUID())
	if !ok {
		l.Warnf("%s: machine %s: a run for this machine is in progress; refused", content.ActionName, machine.UUID())
		return nil, &models.Error{Model: "machines", Key: machine.UUID(), Type: "busy", Code: http.StatusConflict,
			Messages: []string{content.ActionName + ": a run for this machine is in progress; nothing was applied by this call (try again when it has finished; its report will be in " + content.ParamReport + ")"}}
	}
	defer release()
	log := func(level, msg string) {
		switch level {
		case "error":
			l.Errorf("%s", msg)
		case "warn":
			l.Warnf("%s", msg)
		default:
			l.Infof("%s", msg)
		}
	}
	report, merr := drp.RunAction(context.Background(), c, machine, ma.Params, log)
	if merr != nil {
		return nil, merr
	}
	return report, nil
}

// Unpack writes the task binaries and their .sha256 files into dir. It
// fails, naming the file, when the plugin was built without them.
func (p *Plugin) Unpack(l logger.Logger, dir string) error {
	for _, arch := range Arches {
		name := BinaryName(arch)
		bin, err := fs.ReadFile(embedded, "embedded/"+name)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && len(bin) == 0) {
			return fmt.Errorf("esxi-users: %s was not embedded in this plugin build (cmds/esxi-users/embedded/%s is missing); build the plugin with `make plugin`", name, name)
		}
		if err != nil {
			return fmt.Errorf("esxi-users: read embedded %s: %w", name, err)
		}
		sum := sha256.Sum256(bin)
		hexsum := hex.EncodeToString(sum[:])
		if want, err := fs.ReadFile(embedded, "embedded/"+name+".sha256"); err == nil {
			if f := strings.Fields(string(want)); len(f) == 0 || f[0] != hexsum {
				return fmt.Errorf("esxi-users: embedded %s does not match its .sha256; rebuild with `make plugin`", name)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), bin, 0o755); err != nil {
			return fmt.Errorf("esxi-users: unpack %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".sha256"), []byte(hexsum+"  "+name+"\n"), 0o644); err != nil {
			return fmt.Errorf("esxi-users: unpack %s.sha256: %w", name, err)
		}
		l.Infof("unpacked %s (sha256 %s)", name, hexsum)
	}
	return nil
}
