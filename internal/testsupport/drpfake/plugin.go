package drpfake

// The dr-provision side of the plugin protocol, after backend/plugin.go
// (start, config, stop, restartPlugin), backend/plugin_actions.go and
// backend/plugin_messaging_client.go of github.com/hartsock/provision at
// 69af34ab; the socket paths are v4's (/api-plugin/v4/...), as the plugin
// speaks them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/digitalrebar/provision/v4/models"
)

// LogLine is what a plugin posts to /api-server-plugin/v4/log.
type LogLine struct {
	Time    string
	Service string
	Level   string
	Message string
	Data    []any
}

// Plugin is a plugin instance whose provider process runs as dr-provision
// runs it. Its Params are the plugin object's (GET /api/v3/plugins/<Name>);
// a change of them through the API restarts the process.
type Plugin struct {
	Def    models.PluginProvider
	Name   string
	ToSock string // the plugin listens here
	From   string // dr-provision listens here

	s        *Server
	bin, dir string

	mu      sync.Mutex
	proc    *process
	starts  int
	stopped bool
	out     bytes.Buffer // stdout and stderr of every process so far
	logs    []LogLine
	unknown []string
}

// process is one run of the provider's "listen".
type process struct {
	cmd     *exec.Cmd
	fromSrv *http.Server
	client  *http.Client
	done    chan error
}

// Define runs `<bin> define` with env and parses the PluginProvider.
func Define(ctx context.Context, bin string, env []string) (*models.PluginProvider, []byte, error) {
	cmd := exec.CommandContext(ctx, bin, "define")
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, out, fmt.Errorf("%s define: %w: %s", bin, err, stderr.String())
	}
	var def models.PluginProvider
	if err := json.Unmarshal(out, &def); err != nil {
		return nil, out, fmt.Errorf("define output is not a PluginProvider: %w", err)
	}
	return &def, out, nil
}

// StartPlugin does what dr-provision does with a plugin provider binary
// uploaded with AutoStart: define, unpack into <file root>/<Name>, create
// the plugin instance <Name> (its Params: params, stored as the API would,
// Secure ones sealed with the plugin's key), check the provider's
// RequiredParams (backend/plugin.go validateParameters), listen (waiting
// for READY!) and config. dir is a scratch directory (sockets; the first
// plugin's dir also holds the unpack root, files/plugin_providers). Each
// start gets a new SuperuserToken (backend/plugin.go startPlugin).
func (s *Server) StartPlugin(ctx context.Context, bin, dir string, params map[string]any) (*Plugin, error) {
	env := s.pluginEnv(dir)
	def, _, err := Define(ctx, bin, env)
	if err != nil {
		return nil, err
	}
	if def.PluginVersion != 4 {
		return nil, fmt.Errorf("PluginVersion %d, want 4", def.PluginVersion)
	}
	s.mu.Lock()
	root := s.fileRoot
	if root == "" {
		root = filepath.Join(dir, "files", "plugin_providers")
		s.fileRoot = root
	}
	s.mu.Unlock()
	unpack := exec.CommandContext(ctx, bin, "unpack", filepath.Join(root, def.Name))
	unpack.Env = env
	if out, err := unpack.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s unpack: %w: %s", bin, err, out)
	}
	// models.PluginProvider.AutoPlugin: a plugin named after the provider.
	inst := &models.Plugin{Name: def.Name, Provider: def.Name}
	inst.Fill()
	inst.Validated, inst.Available = true, true
	s.mu.Lock()
	err = s.newObject("plugins", inst)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for k, v := range params {
		if err := s.setStored("plugins", def.Name, k, v); err != nil {
			return nil, err
		}
	}
	p := &Plugin{Def: *def, Name: def.Name, s: s, bin: bin, dir: dir,
		ToSock: filepath.Join(dir, "to.sock"), From: filepath.Join(dir, "from.sock")}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.plugins[def.Name] = p
	s.mu.Unlock()
	return p, nil
}

func (s *Server) pluginEnv(dir string) []string {
	return append(os.Environ(),
		"RS_ENDPOINT="+s.Endpoint(), "RS_TOKEN="+s.SuperuserToken(),
		"RS_FILESERVER="+s.ProvisionerURL(), "RS_WEBROOT="+dir)
}

// config is what configPlugin posts: the plugin's own Params as stored (a
// Secure one stays sealed: the real code copies plugin.Params as is), then
// each of the provider's Required and Optional Params it lacks from
// GetParam(plugin, aggregate, decode) — the global profile, then the Schema
// default — and "Name" (PluginClient.Config). The errors are
// validateParameters' for a RequiredParam set nowhere or an invalid value.
func (p *Plugin) config() (map[string]any, []string) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objs["plugins"][p.Name]
	params := map[string]any{}
	for k, v := range o.model.GetParams() {
		params[k] = v
	}
	var errs []string
	for i, list := range [][]string{p.Def.RequiredParams, p.Def.OptionalParams} {
		for _, n := range list {
			v, ok := s.getParam(o, n, true, true)
			if !ok {
				if i == 0 {
					errs = append(errs, "Missing required parameter: "+n)
				}
				continue
			}
			if prm := s.params[n]; prm != nil {
				if err := validateDecoded(prm, v); err != nil {
					errs = append(errs, err.Error())
				}
			}
			if _, set := params[n]; !set {
				params[n] = v
			}
		}
	}
	params["Name"] = p.Name
	return params, errs
}

// start runs listen, waits for READY! and configs the plugin
// (startPlugin, configPlugin); on success its actions are registered.
func (p *Plugin) start(ctx context.Context) error {
	params, errs := p.config()
	if len(errs) > 0 {
		p.setErrors(errs)
		return fmt.Errorf("plugin %s not started: %v", p.Name, errs)
	}
	os.Remove(p.ToSock)
	os.Remove(p.From)
	ln, err := net.Listen("unix", p.From)
	if err != nil {
		return err
	}
	pr := &process{done: make(chan error, 1)}
	pr.fromSrv = &http.Server{Handler: http.HandlerFunc(p.serveFrom)}
	go pr.fromSrv.Serve(ln)

	pr.cmd = exec.Command(p.bin, "listen", p.ToSock, p.From)
	pr.cmd.Env = p.s.pluginEnv(p.dir)
	pr.cmd.Dir = p.dir
	pr.cmd.Stderr = &lockedWriter{p: p}
	stdout, err := pr.cmd.StdoutPipe()
	if err != nil {
		pr.fromSrv.Close()
		return err
	}
	if err := pr.cmd.Start(); err != nil {
		pr.fromSrv.Close()
		return err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				ready <- sc.Text()
				first = false
			}
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		if first {
			close(ready)
		}
		pr.done <- pr.cmd.Wait()
	}()
	select {
	case line, ok := <-ready:
		if !ok || line != "READY!" {
			pr.kill()
			return fmt.Errorf("plugin's first stdout line is %q, want READY!; output: %s", line, p.Output())
		}
	case <-time.After(30 * time.Second):
		pr.kill()
		return errors.New("plugin did not print READY! in 30s")
	}
	pr.client = unixClient(p.ToSock)
	p.mu.Lock()
	p.proc = pr
	p.starts++
	p.stopped = false
	p.mu.Unlock()
	code, body, err := p.Post(ctx, "/api-plugin/v4/config", params)
	if err != nil || code != http.StatusOK {
		// configPlugin: a failed config stops the plugin.
		p.stop()
		p.setErrors([]string{fmt.Sprintf("config: %d %s %v", code, body, err)})
		return fmt.Errorf("config: %d %s %v", code, body, err)
	}
	p.setErrors(nil)
	p.s.mu.Lock()
	p.s.configured = append(p.s.configured, p)
	p.s.mu.Unlock()
	return nil
}

// setErrors records PluginErrors on the plugin object.
func (p *Plugin) setErrors(errs []string) {
	if errs == nil {
		errs = []string{}
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if o := p.s.objs["plugins"][p.Name]; o != nil {
		o.model.(*models.Plugin).PluginErrors = errs
	}
}

// lockedWriter appends a process's stderr to the plugin's output.
type lockedWriter struct{ p *Plugin }

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	return l.p.out.Write(b)
}

// offers reports whether the plugin's provider has action cmd for cmdSet
// (backend/plugin_actions.go add: an action's Model, or "system").
func (p *Plugin) offers(cmdSet, cmd string) bool { return p.action(cmdSet, cmd) != nil }

func (p *Plugin) action(cmdSet, cmd string) *models.AvailableAction {
	for i := range p.Def.AvailableActions {
		a := &p.Def.AvailableActions[i]
		set := a.Model
		if set == "" {
			set = "system"
		}
		if set == cmdSet && a.Command == cmd {
			return a
		}
	}
	return nil
}

// Pid returns the id of the plugin's current process (0 when none runs).
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil || p.proc.cmd.Process == nil {
		return 0
	}
	return p.proc.cmd.Process.Pid
}

// Starts counts the times the plugin's process was started (a restart
// adds one).
func (p *Plugin) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Post sends a JSON body to the plugin's to-socket and returns the status
// and body.
func (p *Plugin) Post(ctx context.Context, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	return p.PostRaw(ctx, path, "application/json", b)
}

// PostRaw sends raw bytes with a content type.
func (p *Plugin) PostRaw(ctx context.Context, path, ctype string, b []byte) (int, []byte, error) {
	p.mu.Lock()
	pr := p.proc
	p.mu.Unlock()
	if pr == nil {
		return 0, nil, errors.New("drpfake: the plugin is not running")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://unix"+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := pr.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// Logs returns the log lines the plugin posted on the from-socket.
func (p *Plugin) Logs() []LogLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.logs)
}

// Output returns the plugin processes' stdout and stderr so far.
func (p *Plugin) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Stop stops the plugin for good (stopPlugin: its actions are removed,
// then /api-plugin/v4/stop, then the process is waited for, killed after
// 10s). It returns the exit error.
func (p *Plugin) Stop() error {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	return p.stop()
}

func (p *Plugin) stop() error {
	p.s.mu.Lock()
	p.s.configured = slices.DeleteFunc(p.s.configured, func(q *Plugin) bool { return q == p })
	p.s.mu.Unlock()
	p.mu.Lock()
	pr := p.proc
	p.mu.Unlock()
	if pr == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.Post(ctx, "/api-plugin/v4/stop", map[string]any{}) // the reply may be cut off
	var err error
	select {
	case err = <-pr.done:
	case <-ctx.Done():
		pr.kill()
		err = errors.New("plugin did not exit after stop")
	}
	pr.fromSrv.Close()
	p.mu.Lock()
	p.proc = nil
	p.mu.Unlock()
	return err
}

// restart is backend/plugin.go restartPlugin's stop and start events,
// run before the write that caused it is answered. A plugin stopped with
// Stop stays stopped.
func (p *Plugin) restart() {
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		return
	}
	p.stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.start(ctx); err != nil {
		p.mu.Lock()
		fmt.Fprintf(&p.out, "drpfake: restart of %s failed: %v\n", p.Name, err)
		p.mu.Unlock()
	}
}

func (pr *process) kill() {
	if pr.cmd != nil && pr.cmd.Process != nil {
		pr.cmd.Process.Kill()
	}
	if pr.fromSrv != nil {
		pr.fromSrv.Close()
	}
}

func (p *Plugin) serveFrom(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusNotFound, "", "", "", "not found")
		return
	}
	switch r.URL.Path {
	case "/api-server-plugin/v4/log":
		var l LogLine
		if err := json.Unmarshal(body, &l); err != nil {
			writeErr(w, http.StatusBadRequest, "", "", "", "bad log line")
			return
		}
		p.mu.Lock()
		p.logs = append(p.logs, l)
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, &models.Error{Code: 200})
	case "/api-server-plugin/v4/publish", "/api-server-plugin/v4/leaving":
		writeJSON(w, http.StatusOK, &models.Error{Code: 200})
	default:
		p.mu.Lock()
		p.unknown = append(p.unknown, r.URL.Path)
		p.mu.Unlock()
		writeErr(w, http.StatusNotFound, "", "", "", "no such path "+r.URL.Path)
	}
}

// invoke calls the plugin with the action and answers as frontend/actions.go
// runAction does with backend/plugin_actions.go run and
// backend/plugin_messaging_client.go Action: the plugin's 2xx JSON is
// re-encoded (200); its error body (models.Error) is answered with that
// body's Code and Type "INVOKE"; any other failure (the plugin gone, an
// answer that is not JSON) is 409 with the Go error as JSON.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request, ma *models.Action) {
	s.mu.Lock()
	var p *Plugin
	for _, q := range s.configured {
		if q.Name == ma.Plugin {
			p = q
		}
	}
	s.mu.Unlock()
	if p == nil {
		// run's fmt.Errorf("Action no longer available: ..."), which
		// encodes as {}.
		writeJSON(w, http.StatusConflict, struct{}{})
		return
	}
	code, body, err := p.Post(r.Context(), "/api-plugin/v4/action", ma)
	if err != nil {
		writeJSON(w, http.StatusConflict, err)
		return
	}
	if code >= 400 {
		be := &models.Error{}
		if json.Unmarshal(body, be) != nil {
			// post returns (nil, nil); Action then fails to decode nothing.
			var v any
			writeJSON(w, http.StatusConflict, json.Unmarshal(nil, &v))
			return
		}
		be.Type = "INVOKE"
		if be.Code < 100 || be.Code > 999 {
			// gin's c.JSON with an invalid code panics; its recovery is 500.
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		writeJSON(w, be.Code, be)
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		writeJSON(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
