// Package pluginbuild builds the esxi-users plugin as `make plugin` ships
// it, for the tests and benchmarks that drive the real binary
// (cmds/esxi-users, test/bench): the task binary cross-built for every
// arch of content.TaskArches with mk/drp.mk's DRP_TASK_TAGS (stripped),
// each gzip-compressed beside its SHA-256, and the plugin built with them
// embedded through `go build -overlay`, so the source tree is not touched
// (whatever a previous `make plugin` left in cmds/esxi-users/embedded/ is
// left out). The go build cache keeps repeated builds cheap.
//
// It runs the go command and is linked by tests only.
package pluginbuild

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/esxi-users/esxi-users/content"
)

// Build is a plugin built with its task binaries, all in Dir.
type Build struct {
	Dir    string
	Plugin string            // the plugin binary (this machine's OS and arch)
	Task   map[string]string // arch -> task binary (linux)
	// Embeds is what the plugin embeds: name in embedded/ -> file.
	Embeds map[string]string
}

// Root returns the module's directory (where go.mod is).
func Root() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("pluginbuild: not inside the esxi-users module")
	}
	return filepath.Dir(mod), nil
}

// TaskTags returns the build tags mk/drp.mk builds the embedded task
// binaries with (DRP_TASK_TAGS), read from root/mk/drp.mk.
func TaskTags(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "mk", "drp.mk"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^DRP_TASK_TAGS\s*:?=\s*(\S+)\s*$`).FindSubmatch(b)
	if m == nil {
		return "", errors.New("mk/drp.mk sets no DRP_TASK_TAGS")
	}
	return string(m[1]), nil
}

// All builds the task binaries and the plugin with them embedded into dir.
func All(dir string) (*Build, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	tags, err := TaskTags(root)
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	b := &Build{Dir: dir, Plugin: filepath.Join(dir, content.PluginName), Task: map[string]string{}, Embeds: map[string]string{}}
	for _, arch := range content.TaskArches {
		out := filepath.Join(dir, content.TaskBinaryFile(arch))
		cmd := exec.Command("go", "build", "-trimpath", "-tags", tags, "-ldflags", "-s -w", "-o", out, "./cmds/esxi-manage-users")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build task binary %s: %w\n%s", arch, err, o)
		}
		if err := compressInto(out, b.Embeds); err != nil {
			return nil, err
		}
		b.Task[arch] = out
	}
	if err := Plugin(dir, b.Plugin, b.Embeds); err != nil {
		return nil, err
	}
	return b, nil
}

// compressInto writes bin.gz and bin.sha256 (of bin) beside bin, as
// mk/drp.mk does (it uses gzip -9; the default level is faster and unpack
// reads either), and records them in embed under their names in embedded/.
func compressInto(bin string, embed map[string]string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	name := filepath.Base(bin)
	if err := os.WriteFile(bin+".gz", gz.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(bin+".sha256", []byte(hex.EncodeToString(sum[:])+"  "+name+"\n"), 0o644); err != nil {
		return err
	}
	embed[name+".gz"], embed[name+".sha256"] = bin+".gz", bin+".sha256"
	return nil
}

// Plugin builds the plugin into out with embed (name in embedded/ -> file;
// a name missing is left out) overlaid on cmds/esxi-users/embedded/; dir
// holds the overlay file.
func Plugin(dir, out string, embed map[string]string) error {
	root, err := Root()
	if err != nil {
		return err
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	embedDir := filepath.Join(root, "cmds", "esxi-users", "embedded")
	overlay := map[string]map[string]string{"Replace": {}}
	for _, arch := range content.TaskArches {
		name := content.TaskBinaryFile(arch)
		for _, f := range []string{name, name + ".gz", name + ".sha256"} {
			overlay["Replace"][filepath.Join(embedDir, f)] = embed[f]
		}
	}
	ov := filepath.Join(dir, "overlay.json")
	b, _ := json.Marshal(overlay)
	if err := os.WriteFile(ov, b, 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-overlay", ov, "-o", out, "./cmds/esxi-users")
	cmd.Dir = root
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build plugin: %w\n%s", err, o)
	}
	return nil
}
