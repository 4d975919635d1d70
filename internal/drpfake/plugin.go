package drpfake

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
	"strings"
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

// Plugin is a running plugin provider, driven as dr-provision drives it.
type Plugin struct {
	Def    models.PluginProvider
	Name   string
	ToSock string // the plugin listens here
	From   string // dr-provision listens here

	cmd      *exec.Cmd
	fromSrv  *http.Server
	client   *http.Client
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	mu       sync.Mutex
	logs     []LogLine
	unknown  []string
	leaving  bool
	stopOnce sync.Once
	done     chan error
}

// Define runs `<bin> define` with env and parses the PluginProvider.
func Define(ctx context.Context, bin string, env []string) (*models.PluginProvider, []byte, error) {
	cmd := exec.CommandContext(ctx, bin, "define")
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, out, fmt.Errorf("%s define: %v: %s", bin, err, stderr.String())
	}
	var def models.PluginProvider
	if err := json.Unmarshal(out, &def); err != nil {
		return nil, out, fmt.Errorf("define output is not a PluginProvider: %v", err)
	}
	return &def, out, nil
}

// StartPlugin does what dr-provision does with a plugin provider binary:
// define, unpack into <file root>/<Name>, listen (waiting for READY!), and
// the first config call. dir is a scratch directory (sockets, unpack root
// when SetFileRoot was not called). The plugin gets a superuser token.
func (s *Server) StartPlugin(ctx context.Context, bin, dir string, config map[string]any) (*Plugin, error) {
	token := "plugin-" + newUUID()
	s.AddToken(token, Token{GetSecure: true, Superuser: true})
	env := append(os.Environ(),
		"RS_ENDPOINT="+s.Endpoint(), "RS_TOKEN="+token,
		"RS_FILESERVER="+s.ProvisionerURL(), "RS_WEBROOT="+dir)
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
		return nil, fmt.Errorf("%s unpack: %v: %s", bin, err, out)
	}

	p := &Plugin{Def: *def, Name: def.Name, done: make(chan error, 1),
		ToSock: filepath.Join(dir, "to.sock"), From: filepath.Join(dir, "from.sock")}
	ln, err := net.Listen("unix", p.From)
	if err != nil {
		return nil, err
	}
	p.fromSrv = &http.Server{Handler: http.HandlerFunc(p.serveFrom)}
	go p.fromSrv.Serve(ln)

	p.cmd = exec.Command(bin, "listen", p.ToSock, p.From)
	p.cmd.Env = env
	p.cmd.Dir = dir
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
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
			p.stdout.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		if first {
			close(ready)
		}
		p.done <- p.cmd.Wait()
	}()
	select {
	case line, ok := <-ready:
		if !ok || line != "READY!" {
			p.kill()
			return nil, fmt.Errorf("plugin's first stdout line is %q, want READY!; stderr: %s", line, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, errors.New("plugin did not print READY! in 30s")
	}
	p.client = unixClient(p.ToSock)
	if config == nil {
		config = map[string]any{}
	}
	code, body, err := p.Post(ctx, "/api-plugin/v4/config", config)
	if err != nil || code != http.StatusOK {
		p.kill()
		return nil, fmt.Errorf("config: %d %s %v", code, body, err)
	}
	s.mu.Lock()
	s.plugins[def.Name] = p
	s.mu.Unlock()
	return p, nil
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://unix"+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := p.client.Do(req)
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
	return append([]LogLine(nil), p.logs...)
}

// Output returns the plugin process's stdout and stderr so far.
func (p *Plugin) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String() + p.stderr.String()
}

// Stop posts /api-plugin/v4/stop and waits for the process to exit
// (killing it after 10s). It returns the exit error.
func (p *Plugin) Stop() error {
	var err error
	p.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Post(ctx, "/api-plugin/v4/stop", map[string]any{}) // the reply may be cut off
		select {
		case err = <-p.done:
		case <-ctx.Done():
			p.kill()
			err = errors.New("plugin did not exit after stop")
		}
		p.fromSrv.Close()
	})
	return err
}

func (p *Plugin) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	if p.fromSrv != nil {
		p.fromSrv.Close()
	}
}

func (p *Plugin) serveFrom(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusNotFound, "", "", "not found")
		return
	}
	switch r.URL.Path {
	case "/api-server-plugin/v4/log":
		var l LogLine
		if err := json.Unmarshal(body, &l); err != nil {
			writeErr(w, http.StatusBadRequest, "", "", "bad log line")
			return
		}
		p.mu.Lock()
		p.logs = append(p.logs, l)
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, &models.Error{Code: 200})
	case "/api-server-plugin/v4/publish":
		writeJSON(w, http.StatusOK, &models.Error{Code: 200})
	case "/api-server-plugin/v4/leaving":
		p.mu.Lock()
		p.leaving = true
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, &models.Error{Code: 200})
	default:
		p.mu.Lock()
		p.unknown = append(p.unknown, r.URL.Path)
		p.mu.Unlock()
		writeErr(w, http.StatusNotFound, "", "", "no such path %s", r.URL.Path)
	}
}

// runAction forwards POST /machines/<uuid>/actions/<cmd> to a plugin.
func (s *Server) runAction(w http.ResponseWriter, r *http.Request, m *machine, command string) {
	args := map[string]any{}
	if b, _ := io.ReadAll(r.Body); len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &args); err != nil {
			writeErr(w, http.StatusBadRequest, "machines", m.UUID, "action params must be a JSON object")
			return
		}
	}
	want := r.URL.Query().Get("plugin")
	s.mu.Lock()
	var p *Plugin
	var act *models.AvailableAction
	for name, pl := range s.plugins {
		if want != "" && name != want {
			continue
		}
		for i := range pl.Def.AvailableActions {
			a := &pl.Def.AvailableActions[i]
			if a.Command == command && (a.Model == "machines" || a.Model == "") {
				p, act = pl, a
			}
		}
	}
	if p == nil {
		s.mu.Unlock()
		writeErr(w, http.StatusNotFound, "machines", m.UUID, "no plugin action %s", command)
		return
	}
	params := map[string]any{}
	for _, n := range append(append([]string{}, act.RequiredParams...), act.OptionalParams...) {
		if v := s.aggregate(m, n, true); v != nil {
			dv, err := s.value(v, true)
			if err != nil {
				s.mu.Unlock()
				writeErr(w, http.StatusInternalServerError, "machines", m.UUID, "cannot decode %s", n)
				return
			}
			params[n] = dv
		}
	}
	for k, v := range args {
		params[k] = v
	}
	var missing []string
	for _, n := range act.RequiredParams {
		if _, ok := params[n]; !ok {
			if prm := s.params[n]; prm == nil {
				missing = append(missing, n)
			} else if _, hasDefault := prm.DefaultValue(); !hasDefault {
				missing = append(missing, n)
			}
		}
	}
	model := s.machineJSON(m)
	s.mu.Unlock()
	if len(missing) > 0 {
		writeErr(w, http.StatusBadRequest, "machines", m.UUID, "action %s: missing required params %s", command, strings.Join(missing, ","))
		return
	}
	action := models.Action{Model: model, Plugin: p.Name, Command: command, Params: params}
	code, body, err := p.Post(r.Context(), "/api-plugin/v4/action", action)
	if err != nil {
		writeErr(w, http.StatusBadGateway, "plugins", p.Name, "plugin call failed: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}
