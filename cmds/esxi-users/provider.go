package main

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/digitalrebar/logger"
	"github.com/digitalrebar/provision/v4/api"
	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/drp"
	"github.com/esxi-users/esxi-users/internal/pack"
	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// Arches are the Linux architectures the task binary is built for.
var Arches = content.TaskArches

// BinaryName is the file name of the task binary for an architecture, as
// the Go-agent template downloads it.
func BinaryName(arch string) string { return content.TaskBinaryFile(arch) }

//go:embed embedded
var embedded embed.FS

// Definition is the PluginProvider printed by define.
func Definition() (*models.PluginProvider, error) {
	meta, err := pack.Meta()
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
	bundle, err := pack.BundleJSONWithDigests(v, digests)
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
		}, {
			// The task binary's destination check (drp.DestinationAction):
			// it reads the machine's Params itself, so it takes none.
			Model:   "machines",
			Command: content.DestinationActionName,
		}},
		// The plugin's own settings: DRP passes them to Config (the
		// plugin's value, the global profile's, or the Schema default).
		OptionalParams: content.PluginParams,
		Documentation:  meta.Documentation,
		Content:        string(bundle),
	}
	def.Fill()
	return def, nil
}

// EmbeddedDigests returns the SHA-256 (lower-case hex) of each embedded task
// binary (decompressed: what unpack publishes and the agent downloads) by
// architecture; architectures whose binary was not embedded are left out
// (their download is then refused: nothing is pinned). A blob that does not
// decompress to its recorded digest is an error naming the file.
func EmbeddedDigests() (map[string]string, error) {
	return embeddedDigests(embedded)
}

func embeddedDigests(fsys fs.FS) (map[string]string, error) {
	out := map[string]string{}
	for _, arch := range Arches {
		sum, err := extract(fsys, arch, io.Discard)
		if errors.Is(err, errNotEmbedded) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[arch] = sum
	}
	return out, nil
}

// errNotEmbedded ends the error for a plugin built without a task binary.
var errNotEmbedded = errors.New("build the plugin with `make plugin`")

// compressedName is the embedded (gzip) file of a task binary; its digest
// file, BinaryName(arch)+".sha256", holds the SHA-256 of the decompressed
// binary (written by `make plugin`).
func compressedName(arch string) string { return BinaryName(arch) + ".gz" }

// extract decompresses the embedded task binary for arch into w and checks
// it against its embedded .sha256; it returns the binary's SHA-256 (hex).
// It wraps errNotEmbedded when the blob is missing or empty, and otherwise
// fails naming the file: a missing or malformed .sha256, a corrupt or
// truncated blob, a digest mismatch.
func extract(fsys fs.FS, arch string, w io.Writer) (string, error) {
	name, gz := BinaryName(arch), compressedName(arch)
	f, err := fsys.Open(path.Join("embedded", gz))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("esxi-users: %s was not embedded in this plugin build (cmds/esxi-users/embedded/%s is missing); %w", name, gz, errNotEmbedded)
	}
	if err != nil {
		return "", fmt.Errorf("esxi-users: read embedded %s: %w", gz, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		return "", fmt.Errorf("esxi-users: %s was not embedded in this plugin build (cmds/esxi-users/embedded/%s is empty); %w", name, gz, errNotEmbedded)
	}
	want, err := fs.ReadFile(fsys, path.Join("embedded", name+".sha256"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("esxi-users: embedded %s has no digest (cmds/esxi-users/embedded/%s.sha256 is missing); rebuild with `make plugin`", gz, name)
	}
	if err != nil {
		return "", fmt.Errorf("esxi-users: read embedded %s.sha256: %w", name, err)
	}
	fields := strings.Fields(string(want))
	if len(fields) == 0 || len(fields[0]) != 2*sha256.Size {
		return "", fmt.Errorf("esxi-users: embedded %s.sha256 holds no SHA-256; rebuild with `make plugin`", name)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("esxi-users: embedded %s is corrupt: %w; rebuild with `make plugin`", gz, err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, destination{w}), zr); err != nil {
		var werr *writeError
		if errors.As(err, &werr) {
			return "", fmt.Errorf("esxi-users: unpack %s: %w", name, werr.err)
		}
		return "", fmt.Errorf("esxi-users: embedded %s is corrupt: %w; rebuild with `make plugin`", gz, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(fields[0], got) {
		return "", fmt.Errorf("esxi-users: embedded %s decompresses to a binary whose SHA-256 %s is not the %s of %s.sha256; rebuild with `make plugin`", gz, got, fields[0], name)
	}
	return got, nil
}

// writeError marks a failure of extract's destination (not of the blob).
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

// destination wraps extract's writer so that its errors are told apart
// from the blob's.
type destination struct{ w io.Writer }

func (d destination) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// Plugin implements the SDK's PluginConfig, PluginActor and PluginUnpacker.
type Plugin struct {
	mu     sync.Mutex
	client *drp.Client
	// queue admits host runs: one per machine, at most
	// esxi-users/max-parallel-runs at once, the others in line.
	queue *drp.Queue
}

// Config keeps the API session DRP gives the plugin (used to read the
// machine's Params and write the report Param): its endpoint and token, in
// the client runs use (drp.Client, the task binary's too); and applies the
// plugin's own Param, esxi-users/max-parallel-runs (an invalid value fails
// the config, naming the Param: DRP then shows it in PluginErrors).
func (p *Plugin) Config(l logger.Logger, c *api.Client, vals map[string]interface{}) *models.Error {
	limit, err := maxParallelRuns(vals)
	if err != nil {
		return &models.Error{Model: "plugin", Key: content.PluginName, Type: "plugin", Code: http.StatusBadRequest,
			Messages: []string{err.Error()}}
	}
	dc, err := drp.NewClient(c.Endpoint(), c.Token(), os.Getenv)
	if err != nil {
		return &models.Error{Model: "plugin", Key: content.PluginName, Type: "plugin", Code: http.StatusBadRequest,
			Messages: []string{"the DRP API session: " + err.Error()}}
	}
	p.mu.Lock()
	p.client = dc
	if p.queue == nil {
		p.queue = drp.NewQueue(limit)
	} else {
		p.queue.SetLimit(limit)
	}
	p.mu.Unlock()
	l.Infof("esxi-users configured: at most %d host runs at once (%s)", limit, content.ParamMaxParallelRuns)
	return nil
}

// maxParallelRuns reads esxi-users/max-parallel-runs from the plugin's
// config: an integer within its Schema's bounds; unset, the Schema
// default.
func maxParallelRuns(vals map[string]any) (int, error) {
	v, ok := vals[content.ParamMaxParallelRuns]
	if !ok || v == nil {
		v, _ = content.Default(content.ParamMaxParallelRuns)
	}
	lo, hi := content.Bounds(content.ParamMaxParallelRuns)
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < lo || f > hi {
		return 0, fmt.Errorf("%s: %s must be a whole number from %g to %g, not %s; the plugin was not configured",
			content.PluginName, content.ParamMaxParallelRuns, lo, hi, textsafe.Escape(fmt.Sprintf("%v", v)))
	}
	return int(f), nil
}

// Action dispatches the plugin's actions; unknown commands are 404.
func (p *Plugin) Action(l logger.Logger, ma *models.Action) (interface{}, *models.Error) {
	switch ma.Command {
	case content.ActionName:
		return p.manageUsers(l, ma)
	case content.DestinationActionName:
		return p.destination(l, ma)
	default:
		return nil, &models.Error{Model: "plugin", Key: content.PluginName, Type: "plugin", Code: http.StatusNotFound,
			Messages: []string{fmt.Sprintf("unknown action %q; esxi-users has %s and %s", ma.Command, content.ActionName, content.DestinationActionName)}}
	}
}

// session is the action's machine and the plugin's API client, or the
// error to answer: a Model that is not a machine with a UUID (400), no API
// session yet (503).
func (p *Plugin) session(ma *models.Action) (*models.Machine, *drp.Client, *models.Error) {
	machine := &models.Machine{}
	if err := models.Remarshal(ma.Model, machine); err != nil || !drp.IsUUID(machine.UUID()) {
		return nil, nil, &models.Error{Model: "plugin", Key: content.PluginName, Type: "plugin", Code: http.StatusBadRequest,
			Messages: []string{ma.Command + " needs a machine with a UUID (the action's Model)"}}
	}
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	if c == nil {
		return nil, nil, &models.Error{Model: "machines", Key: machine.UUID(), Type: "plugin", Code: http.StatusServiceUnavailable,
			Messages: []string{ma.Command + ": the plugin has no DRP API session yet (not configured); nothing was applied"}}
	}
	return machine, c, nil
}

// destination answers the task binary's destination check
// (drp.DestinationAction).
func (p *Plugin) destination(l logger.Logger, ma *models.Action) (interface{}, *models.Error) {
	machine, c, merr := p.session(ma)
	if merr != nil {
		return nil, merr
	}
	d, derr := drp.DestinationAction(context.Background(), c, machineOf(machine), ma.Params)
	if derr != nil {
		l.Warnf("%s: machine %s: %s", content.DestinationActionName, machine.UUID(), strings.Join(derr.Messages, "; "))
		return nil, &models.Error{Model: derr.Model, Key: derr.Key, Type: derr.Type, Code: derr.Code, Messages: derr.Messages}
	}
	return d, nil
}

func (p *Plugin) manageUsers(l logger.Logger, ma *models.Action) (interface{}, *models.Error) {
	machine, c, merr := p.session(ma)
	if merr != nil {
		return nil, merr
	}
	m := machineOf(machine)
	// A run may wait in line: it keeps the machine's identity and the
	// action's Params, not the whole machine object DRP sent.
	ma.Model = nil
	p.mu.Lock()
	q := p.queue
	p.mu.Unlock()
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
	// One run per machine (a second call for a machine whose run waits or
	// is in progress - a retried job, an operator's runaction - is refused
	// at once), at most esxi-users/max-parallel-runs at once, the others in
	// line.
	report, derr := q.RunAction(context.Background(), c, m, ma.Params, log)
	if derr != nil {
		return nil, &models.Error{Model: derr.Model, Key: derr.Key, Type: derr.Type, Code: derr.Code, Messages: derr.Messages}
	}
	return report, nil
}

// machineOf is what a run needs to know of the action's machine.
func machineOf(mc *models.Machine) drp.Machine {
	m := drp.Machine{UUID: mc.UUID(), Name: mc.Name, Job: mc.CurrentJob.String()}
	if ip := mc.Address; ip != nil && !ip.Equal(net.IPv4zero) && !ip.IsUnspecified() {
		m.Address = ip.String()
	}
	return m
}

// Unpack decompresses the task binaries into dir, each checked against the
// SHA-256 recorded at build time, and writes their .sha256 files. It fails,
// naming the file, when the plugin was built without them or a blob is
// corrupt or does not match its digest; a binary is only put in place
// (renamed from a temporary file) once it has been checked.
func (p *Plugin) Unpack(l logger.Logger, dir string) error {
	return unpack(embedded, l, dir)
}

func unpack(fsys fs.FS, l logger.Logger, dir string) error {
	for _, arch := range Arches {
		name := BinaryName(arch)
		sum, err := unpackOne(fsys, arch, dir)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".sha256"), []byte(sum+"  "+name+"\n"), 0o644); err != nil {
			return fmt.Errorf("esxi-users: unpack %s.sha256: %w", name, err)
		}
		l.Infof("unpacked %s (sha256 %s)", name, sum)
	}
	return nil
}

// unpackOne writes the checked task binary for arch to dir and returns its
// SHA-256.
func unpackOne(fsys fs.FS, arch, dir string) (string, error) {
	name := BinaryName(arch)
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return "", fmt.Errorf("esxi-users: unpack %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // after the rename: a no-op
	sum, err := extract(fsys, arch, tmp)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("esxi-users: unpack %s: %w", name, cerr)
	}
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", fmt.Errorf("esxi-users: unpack %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return "", fmt.Errorf("esxi-users: unpack %s: %w", name, err)
	}
	return sum, nil
}
