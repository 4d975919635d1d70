// Package drpfake is a test double for dr-provision: its REST API (on
// httptest, TLS with a self-signed certificate like DRP), its static file
// server, and the dr-provision side of the plugin protocol (a from-socket
// receiving log lines, and action calls forwarded to a plugin's to-socket).
// It speaks the wire facts the project relies on:
//
//   - Bearer tokens; error bodies are models.Error with Code = HTTP status;
//   - a "/" in a param name is not escaped in paths;
//   - GET .../params/<key>?aggregate=true[&decode=true] returns the bare
//     value or null; the bulk form returns an object; aggregate merges the
//     machine's and the global profile's Params but never applies Schema
//     defaults;
//   - Secure Param values are stored sealed and returned as the
//     {Key,Nonce,Payload} envelope unless decode=true, which needs the
//     getSecure claim;
//   - POST .../params/<key> stores a value and returns it;
//   - POST /machines/<uuid>/actions/<cmd>[?plugin=] forwards an Action to
//     the plugin (Params = the body merged with the machine's aggregated,
//     decoded values of the action's Required/OptionalParams); the token
//     needs the machines action:<cmd> claim (403 otherwise);
//   - a request without a known bearer token is 401; a machine token used
//     on another machine is 403;
//   - PUT /jobs/<uuid>/log appends raw bytes (204).
//
// It is the project's only hand-written fake: no DRP server is available in
// tests.
package drpfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalrebar/provision/v4/models"
	"golang.org/x/crypto/nacl/box"

	"github.com/esxi-users/esxi-users/internal/pack"
)

// Token is an API token and what it may do.
type Token struct {
	GetSecure bool // the machines getSecure claim
	// Machine, when set, limits the token to that machine (a machine's
	// default token: read and update itself).
	Machine string
	// Actions are the machine actions the token may post (the machines
	// "action:<command>" claims). A Superuser may post any.
	Actions []string
	// Superuser is a plugin's or an admin's token.
	Superuser bool
}

// Server is a fake dr-provision.
type Server struct {
	API   *httptest.Server // https, RS_ENDPOINT
	Files *httptest.Server // http, ProvisionerURL (/files/...)

	mu        sync.Mutex
	pub, priv *[32]byte
	tokens    map[string]Token
	machines  map[string]*machine
	global    map[string]any
	params    map[string]*models.Param
	fileRoot  string // served as /files/plugin_providers/<plugin>/...
	plugins   map[string]*Plugin
	jobLogs   map[string]*bytes.Buffer
	requests  []string
	// writeFaults makes POST .../params/<name> fail with a status.
	writeFaults map[string]int
}

type machine struct {
	UUID, Name, Address, CurrentJob string
	Params                          map[string]any // Secure ones sealed
}

// NewForPack is New with the Params of the esxi-users content pack
// (internal/pack), as DRP has them once the plugin is installed; it stops
// when the test ends.
func NewForPack(tb testing.TB) *Server {
	tb.Helper()
	ps, err := pack.Params()
	if err != nil {
		tb.Fatal(err)
	}
	s := New(ps)
	tb.Cleanup(s.Close)
	return s
}

// New starts a fake DRP. params are the Param definitions it knows (their
// Secure flag decides what is sealed). Close it when done.
func New(params []*models.Param) *Server {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	s := &Server{
		pub: pub, priv: priv,
		tokens:   map[string]Token{},
		machines: map[string]*machine{},
		global:   map[string]any{},
		params:   map[string]*models.Param{},
		plugins:  map[string]*Plugin{},
		jobLogs:  map[string]*bytes.Buffer{},

		writeFaults: map[string]int{},
	}
	for _, p := range params {
		s.params[p.Name] = p
	}
	s.API = httptest.NewTLSServer(http.HandlerFunc(s.serveAPI))
	s.Files = httptest.NewServer(http.HandlerFunc(s.serveFiles))
	return s
}

// Close stops the servers and any plugin started with StartPlugin.
func (s *Server) Close() {
	s.mu.Lock()
	plugins := make([]*Plugin, 0, len(s.plugins))
	for _, p := range s.plugins {
		plugins = append(plugins, p)
	}
	s.mu.Unlock()
	for _, p := range plugins {
		p.Stop()
	}
	s.API.Close()
	s.Files.Close()
}

// AddParam adds a Param definition (e.g. one of another content pack).
func (s *Server) AddParam(p *models.Param) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params[p.Name] = p
}

// SetWriteFault makes every later POST of the Param name on a machine fail
// with status (an Error body, as DRP answers); 0 removes the fault.
func (s *Server) SetWriteFault(name string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.writeFaults, name)
		return
	}
	s.writeFaults[name] = status
}

// CertSHA256 is the SHA-256 of the API's TLS certificate (DER), lower-case
// hex: what esxi/manage-users-drp-cert-sha256 pins.
func (s *Server) CertSHA256() string {
	sum := sha256.Sum256(s.API.Certificate().Raw)
	return hex.EncodeToString(sum[:])
}

// Endpoint is RS_ENDPOINT (no /api/v3).
func (s *Server) Endpoint() string { return s.API.URL }

// ProvisionerURL is the file server URL templates use.
func (s *Server) ProvisionerURL() string { return s.Files.URL }

// AddToken registers a bearer token.
func (s *Server) AddToken(tok string, t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = t
}

// AddMachine creates a machine and a job for it (CurrentJob).
func (s *Server) AddMachine(uuid, name, address string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.machines[uuid] = &machine{UUID: uuid, Name: name, Address: address, CurrentJob: newUUID(), Params: map[string]any{}}
}

// CurrentJob returns the machine's job UUID.
func (s *Server) CurrentJob(uuid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.machines[uuid]; m != nil {
		return m.CurrentJob
	}
	return ""
}

// SetParam stores a value on a machine as the API would (sealed if Secure).
func (s *Server) SetParam(uuid, name string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.machines[uuid]
	if m == nil {
		return fmt.Errorf("no machine %s", uuid)
	}
	return s.store(m.Params, name, v)
}

// SetGlobal stores a value on the global profile.
func (s *Server) SetGlobal(name string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store(s.global, name, v)
}

func (s *Server) store(dst map[string]any, name string, v any) error {
	if v == nil {
		delete(dst, name)
		return nil
	}
	if p := s.params[name]; p != nil && p.Secure {
		sd := &models.SecureData{}
		if err := sd.Marshal(s.pub[:], v); err != nil {
			return err
		}
		dst[name] = sd
		return nil
	}
	// Store a JSON round trip, as DRP stores JSON.
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var cp any
	if err := json.Unmarshal(b, &cp); err != nil {
		return err
	}
	dst[name] = cp
	return nil
}

// Param returns a machine's own stored value, decoded (nil if unset).
func (s *Server) Param(uuid, name string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.machines[uuid]
	if m == nil {
		return nil
	}
	v, _ := s.value(m.Params[name], true)
	return v
}

// RawParam returns a machine's stored value as the API returns it without
// decode=true (Secure values sealed).
func (s *Server) RawParam(uuid, name string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.machines[uuid]; m != nil {
		return m.Params[name]
	}
	return nil
}

// JobLog returns what was PUT to a job's log.
func (s *Server) JobLog(job string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.jobLogs[job]; b != nil {
		return b.String()
	}
	return ""
}

// Requests lists "METHOD path?query" of every API request received.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// SetFileRoot sets the directory served at /files/plugin_providers/.
// (DRP serves <webroot>/files/plugin_providers/<name>/ from unpack.)
func (s *Server) SetFileRoot(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fileRoot = dir
}

func (s *Server) value(v any, decode bool) (any, error) {
	sd, ok := v.(*models.SecureData)
	if !ok {
		return v, nil
	}
	if !decode {
		return sd, nil
	}
	var out any
	if err := sd.Unmarshal(s.priv[:], &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Server) aggregate(m *machine, name string, aggregate bool) any {
	if v, ok := m.Params[name]; ok {
		return v
	}
	if aggregate {
		if v, ok := s.global[name]; ok {
			return v
		}
	}
	return nil
}

// ---- HTTP ----

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, model, key, format string, args ...any) {
	writeJSON(w, code, &models.Error{Model: model, Key: key, Type: "API_ERROR", Code: code,
		Messages: []string{fmt.Sprintf(format, args...)}})
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	s.mu.Unlock()

	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	t, known := s.tokens[tok]
	s.mu.Unlock()
	if !ok || !known {
		writeErr(w, http.StatusUnauthorized, "", "", "Unauthorized")
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, "/api/v3/")
	if !ok {
		writeErr(w, http.StatusNotFound, "", "", "no such API path %s", r.URL.Path)
		return
	}
	parts := strings.SplitN(p, "/", 4)
	switch {
	case parts[0] == "params" && len(parts) >= 2 && r.Method == http.MethodGet:
		name := strings.TrimPrefix(p, "params/")
		s.mu.Lock()
		prm := s.params[name]
		s.mu.Unlock()
		if prm == nil {
			writeErr(w, http.StatusNotFound, "params", name, "Not Found")
			return
		}
		writeJSON(w, http.StatusOK, prm)
	case parts[0] == "machines" && len(parts) >= 2:
		s.serveMachine(w, r, t, parts)
	case parts[0] == "jobs" && len(parts) == 3 && parts[2] == "log" && r.Method == http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		if s.jobLogs[parts[1]] == nil {
			s.jobLogs[parts[1]] = &bytes.Buffer{}
		}
		s.jobLogs[parts[1]].Write(b)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErr(w, http.StatusNotFound, "", "", "no such API path %s", r.URL.Path)
	}
}

func (s *Server) serveMachine(w http.ResponseWriter, r *http.Request, t Token, parts []string) {
	uuid := parts[1]
	s.mu.Lock()
	m := s.machines[uuid]
	s.mu.Unlock()
	if m == nil {
		writeErr(w, http.StatusNotFound, "machines", uuid, "Not Found")
		return
	}
	if t.Machine != "" && t.Machine != uuid {
		writeErr(w, http.StatusForbidden, "machines", uuid, "Forbidden")
		return
	}
	q := r.URL.Query()
	aggregate, decode := q.Get("aggregate") == "true", q.Get("decode") == "true"
	if decode && !t.GetSecure {
		writeErr(w, http.StatusForbidden, "machines", uuid, "Forbidden: decode=true needs the getSecure claim")
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		s.mu.Lock()
		obj := s.machineJSON(m)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, obj)
	case len(parts) == 3 && parts[2] == "params" && r.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		out := map[string]any{}
		var names []string
		if f := q.Get("params"); f != "" {
			names = strings.Split(f, ",")
		} else {
			for k := range m.Params {
				names = append(names, k)
			}
			if aggregate {
				for k := range s.global {
					names = append(names, k)
				}
			}
		}
		for _, n := range names {
			v, err := s.value(s.aggregate(m, n, aggregate), decode)
			if err != nil {
				writeErr(w, http.StatusInternalServerError, "machines", uuid, "cannot decode %s", n)
				return
			}
			out[n] = v
		}
		writeJSON(w, http.StatusOK, out)
	case len(parts) == 4 && parts[2] == "params":
		name := parts[3]
		switch r.Method {
		case http.MethodGet:
			s.mu.Lock()
			v, err := s.value(s.aggregate(m, name, aggregate), decode)
			s.mu.Unlock()
			if err != nil {
				writeErr(w, http.StatusInternalServerError, "machines", uuid, "cannot decode %s", name)
				return
			}
			writeJSON(w, http.StatusOK, v)
		case http.MethodPost:
			s.mu.Lock()
			fault := s.writeFaults[name]
			s.mu.Unlock()
			if fault != 0 {
				writeErr(w, fault, "machines", uuid, "injected fault: cannot store %s", name)
				return
			}
			var v any
			if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
				writeErr(w, http.StatusBadRequest, "machines", uuid, "bad JSON for %s", name)
				return
			}
			s.mu.Lock()
			err := s.store(m.Params, name, v)
			stored := m.Params[name]
			s.mu.Unlock()
			if err != nil {
				writeErr(w, http.StatusInternalServerError, "machines", uuid, "cannot store %s", name)
				return
			}
			writeJSON(w, http.StatusOK, stored)
		default:
			writeErr(w, http.StatusMethodNotAllowed, "machines", uuid, "method not allowed")
		}
	case len(parts) == 4 && parts[2] == "actions" && r.Method == http.MethodPost:
		if !t.Superuser && !slices.Contains(t.Actions, parts[3]) {
			writeErr(w, http.StatusForbidden, "machines", uuid, "Forbidden: the token lacks the machines action:%s claim", parts[3])
			return
		}
		s.runAction(w, r, m, parts[3])
	default:
		writeErr(w, http.StatusNotFound, "machines", uuid, "no such API path %s", r.URL.Path)
	}
}

// machineJSON is the machine object (Secure params sealed). Caller locks.
func (s *Server) machineJSON(m *machine) map[string]any {
	return map[string]any{
		"Uuid": m.UUID, "Name": m.Name, "Address": m.Address, "CurrentJob": m.CurrentJob,
		"Params": m.Params, "Meta": map[string]string{}, "Validated": true, "Available": true,
	}
}

func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/files/plugin_providers/")
	s.mu.Lock()
	root := s.fileRoot
	s.mu.Unlock()
	if !ok || root == "" || r.Method != http.MethodGet || strings.Contains(rest, "..") {
		http.NotFound(w, r)
		return
	}
	http.ServeFile(w, r, filepath.Join(root, filepath.FromSlash(rest)))
}

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// unixClient is an HTTP client whose every connection goes to a socket.
func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}, Timeout: 15 * time.Minute}
}
