// Package drpfake is a stand-in for dr-provision: its REST API (on
// httptest, TLS with a self-signed certificate like DRP), its static file
// server, and the dr-provision side of the plugin protocol. It is the
// project's only hand-written fake (no DRP server runs in tests), so it
// follows the real server's code, neither more forgiving nor stricter.
// Sources, cited again where each behaviour is built: the last public
// server code, github.com/hartsock/provision at 69af34ab (2019; files named
// below are in it), the DRP SDK v4.7.0 (models/), and RackN's docs.
//
// Tokens (auth.go). Tests get each kind from the constructor named after
// the real one: GenerateToken (a machine's template token; "" for an
// unknown machine), GenerateInfiniteToken, GenerateProfileToken, JobToken
// (a job's RS_TOKEN: the machine's claims plus its Task's ExtraRoles' and
// ExtraClaims' claims) and SuperuserToken ("* * *", what a plugin gets).
// Their claims and lifetimes are backend/renderData.go's and
// backend/plugin.go's; the clock moves with Advance, never by sleeping.
//
//   - No Authorization header: 401, no body; an unknown or expired Bearer
//     token: 403 "Invalid Token :…" (frontend/frontend.go userAuth).
//   - Claims are matched with the SDK's models.Role/ClaimsList
//     (models/role.go); a failed "get" answers 404 Not Found, any other
//     action 403 "Requires: <scope> <action> <specific>"
//     (frontend/frontend.go assureAuth).
//
// Objects: machines, profiles (the global profile included) and plugin
// instances, each with its own key pair for Secure Params
// (backend/requestTracker.go PrivateKeyFor); Params (definitions), Tasks
// (read through the SDK's models.Task, so fields it lacks, such as
// ExtraDuration, are dropped), Roles, jobs.
//
//   - GET /machines, /profiles: the list needs the "list" claim; without
//     it the answer is 200 [] (frontend/frontend.go list).
//   - GET /<prefix>/<id>: looked up first (404), then "get" on the
//     object's key (404), decode=true needs "getSecure" (403)
//     (frontend/frontend.go Fetch); /params/<name> and /tasks/<name> too.
//   - PUT /<prefix>/<id> (machines, profiles, plugins): the body replaces
//     the object; the claims wanted are "update:<path>" per changed path
//     (frontend/frontend.go Update, assureAuthUpdate); failed validation is
//     422.
//   - POST /profiles: "profiles create" (frontend/frontend.go create).
//   - Params of machines, profiles and plugins (frontend/params.go
//     makeParamEndpoints): reads check "get" then, for decode=true,
//     "getSecure" on the id as written in the URL before the lookup;
//     writes look the object up first, then want "update:/Params/…"; an
//     invalid value is 409. A Secure value must be written sealed with the
//     object's public key (GET …/pubkey, which needs "updateSecure"); a
//     plain value for a Secure Param is refused (backend/param.go
//     ValidateValue).
//   - aggregate=true: the object's Params, then (machines) each of its
//     Profiles in order, then the global profile; a single Param read
//     with aggregate=true falls back to the Param's Schema default, the
//     bulk read never does (backend/requestTracker.go getAggParams,
//     GetParams, GetParam). decode=true opens each value with the key of
//     the object it came from, checking the claim on the object asked for
//     only (decryptParam).
//   - POST /machines/<id>/actions/<cmd>[?plugin=]: "action:<cmd>" on the id
//     as written, before the lookup (403); the action's Params are the
//     body's (validated against their Schemas), then each Required and
//     Optional Param the body lacks from the machine's aggregated, decoded
//     Params, then the Schema default; a missing RequiredParam is 400
//     before the plugin is called (frontend/actions.go,
//     backend/requestTracker.go validateActionParameters).
//   - PUT /jobs/<id>/log: Content-Type application/octet-stream (415),
//     "jobs log <machine>" (frontend/jobs.go).
//   - GET /jobs/<id>: "jobs get <machine>" (404 without it); Uuid,
//     Machine, Task, State (frontend/jobs.go, Frontend.Fetch).
//
// Plugins (plugin.go): StartPlugin does define, unpack, listen and config
// as dr-provision does; the plugin instance's Params (plus the global
// profile and Schema defaults for the provider's Required/Optional Params)
// are its config (backend/plugin.go configPlugin), and a change of its
// Params, Description or Provider through the API restarts it: stop, then
// start and config again (restartPlugin) — here before the write is
// answered (the real server does it asynchronously just after).
//
// Admin-side helpers (AddMachine, AddProfile, SetParam, SetProfileParam,
// SetMachineProfiles, AddParam, AddTask, AddRole) set the stored state
// directly, without the API's checks: a test can build states the API would
// refuse (a value its Schema rejects, say).
//
// Answered 501 with a message naming the request, never with a made-up DRP
// answer: routes the fake does not serve, list filters and paging, a
// change of a machine field other than Name, Description, Address, Meta,
// Profiles and Params, a profile's Profiles. Not modeled at all: stages (a
// machine's Stage is "none", BootEnv "local"), users, roles and tenants
// over the API, token revocation by a machine's or user's Secret, the
// plugin's events.
package drpfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// GlobalProfile is the profile every object's aggregated Params end with
// (backend: dt.GlobalProfileName).
const GlobalProfile = "global"

// Server is a fake dr-provision.
type Server struct {
	API   *httptest.Server // https, RS_ENDPOINT
	Files *httptest.Server // http, ProvisionerURL (/files/...)

	mu     sync.Mutex
	skew   time.Duration // Advance
	prefs  map[string]string
	tokens map[string]*grant
	// objs holds the objects with Params: "machines", "profiles",
	// "plugins", by key.
	objs     map[string]map[string]*object
	params   map[string]*models.Param
	tasks    map[string]*models.Task
	roles    map[string]*models.Role
	jobs     map[string]*jobRecord
	fileRoot string // served as /files/plugin_providers/<plugin>/... (DRP serves <webroot>/files/plugin_providers/<name>/ from unpack)
	plugins  map[string]*Plugin
	// configured are the running plugins whose actions are registered, in
	// the order they were configured (backend/plugin_actions.go add).
	configured []*Plugin
	jobLogs    map[string]*bytes.Buffer
	jobLogged  chan struct{} // closed at the next job log write (WaitJobLog)
	requests   []string
	// writeFaults makes POST .../params/<name> fail with a status.
	writeFaults map[string]int
}

// object is a machine, profile or plugin instance and its key for Secure
// Params (backend/requestTracker.go PrivateKeyFor: one per object).
type object struct {
	model      models.Paramer
	pub, priv  *[32]byte
	prefix, id string
}

type jobRecord struct{ machine, task, state string }

// NewForPack is New with the Params and Tasks of the esxi-users content
// pack (internal/pack), as DRP has them once the plugin is installed; it
// stops when the test ends.
func NewForPack(tb testing.TB) *Server {
	tb.Helper()
	ps, err := pack.Params()
	if err != nil {
		tb.Fatal(err)
	}
	s := New(ps)
	tb.Cleanup(s.Close)
	for _, name := range pack.TaskNames() {
		t, err := pack.Task(name)
		if err != nil {
			tb.Fatal(err)
		}
		b, _ := json.Marshal(t)
		if err := s.AddTask(b); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// New starts a fake DRP with the global profile. params are the Param
// definitions it knows (their Secure flag decides what is sealed, their
// Schema what a write may store). Close it when done.
func New(params []*models.Param) *Server {
	s := &Server{
		prefs:    map[string]string{},
		tokens:   map[string]*grant{},
		objs:     map[string]map[string]*object{"machines": {}, "profiles": {}, "plugins": {}},
		params:   map[string]*models.Param{},
		tasks:    map[string]*models.Task{},
		roles:    map[string]*models.Role{},
		jobs:     map[string]*jobRecord{},
		plugins:  map[string]*Plugin{},
		jobLogs:  map[string]*bytes.Buffer{},
		requests: nil,

		writeFaults: map[string]int{},
	}
	for _, p := range params {
		s.params[p.Name] = p
	}
	if err := s.AddProfile(GlobalProfile); err != nil {
		panic(err)
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

// AddTask adds a Task from its JSON, read through the SDK's models.Task
// as a server that knows only those fields reads it: others (ExtraDuration,
// which v4.7.0's Task lacks) are dropped without a word.
func (s *Server) AddTask(taskJSON []byte) error {
	t := &models.Task{}
	if err := json.Unmarshal(taskJSON, t); err != nil {
		return fmt.Errorf("drpfake: task: %w", err)
	}
	t.Fill()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks[t.Name] = t
	return nil
}

// AddRole adds a Role (whose claims a Task's ExtraRoles give its jobs).
func (s *Server) AddRole(r *models.Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[r.Name] = r
}

// SetWriteFault makes every later POST of the Param name on an object
// fail with status (an Error body, as DRP answers) once the claims are
// checked; 0 removes the fault.
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

// newObject stores a new object under prefix with a fresh key pair.
// Caller locks.
func (s *Server) newObject(prefix string, m models.Paramer) error {
	key := m.Key()
	if _, ok := s.objs[prefix][key]; ok {
		return fmt.Errorf("drpfake: %s %s exists", prefix, key)
	}
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	s.objs[prefix][key] = &object{model: m, pub: pub, priv: priv, prefix: prefix, id: key}
	return nil
}

// AddMachine creates a machine as an admin would (Stage "none", BootEnv
// "local": the real server's defaults).
func (s *Server) AddMachine(uuid, name, address string) error {
	m := &models.Machine{}
	if err := models.Remarshal(map[string]any{"Uuid": uuid, "Name": name, "Address": address}, m); err != nil || m.Key() != uuid {
		return fmt.Errorf("drpfake: machine %q: not a UUID (%w)", uuid, err)
	}
	m.Stage, m.BootEnv = "none", "local"
	m.Fill()
	m.Validated, m.Available = true, true
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newObject("machines", m)
}

// AddProfile creates an empty profile as an admin would.
func (s *Server) AddProfile(name string) error {
	p := &models.Profile{Name: name}
	p.Fill()
	p.Validated, p.Available = true, true
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newObject("profiles", p)
}

// SetMachineProfiles sets a machine's Profiles (each must exist).
func (s *Server) SetMachineProfiles(uuid string, profiles ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objs["machines"][uuid]
	if o == nil {
		return fmt.Errorf("drpfake: no machine %s", uuid)
	}
	for _, p := range profiles {
		if s.objs["profiles"][p] == nil {
			return fmt.Errorf("drpfake: no profile %s", p)
		}
	}
	o.model.(*models.Machine).Profiles = slices.Clone(profiles)
	return nil
}

// CurrentJob returns the UUID of the machine's job (JobToken creates it),
// or "".
func (s *Server) CurrentJob(uuid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objs["machines"][uuid]; o != nil {
		if j := o.model.(*models.Machine).CurrentJob; j != nil {
			return j.String()
		}
	}
	return ""
}

// SetParam stores a value on a machine as it would sit in DRP's store
// (sealed with the machine's key if the Param is Secure; nil deletes). It
// does not apply the API's Schema validation: tests use it for states the
// API refuses to create, too.
func (s *Server) SetParam(uuid, name string, v any) error {
	return s.setStored("machines", uuid, name, v)
}

// SetProfileParam is SetParam for a profile (GlobalProfile included).
func (s *Server) SetProfileParam(profile, name string, v any) error {
	return s.setStored("profiles", profile, name, v)
}

func (s *Server) setStored(prefix, id, name string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objs[prefix][id]
	if o == nil {
		return fmt.Errorf("drpfake: no %s %s", prefix, id)
	}
	ps := o.model.GetParams() // a copy
	defer func() { o.model.SetParams(ps) }()
	if v == nil {
		delete(ps, name)
		return nil
	}
	if p := s.params[name]; p != nil && p.Secure {
		sd := &models.SecureData{}
		if err := sd.Marshal(o.pub[:], v); err != nil {
			return err
		}
		v = sd
	}
	// Store a JSON round trip, as DRP stores JSON.
	var cp any
	if err := models.Remarshal(v, &cp); err != nil {
		return err
	}
	ps[name] = cp
	return nil
}

// Param returns a machine's own stored value, decoded (nil if unset).
func (s *Server) Param(uuid, name string) any {
	return s.storedParam("machines", uuid, name, true)
}

// ProfileParam returns a profile's stored value, decoded (nil if unset).
func (s *Server) ProfileParam(profile, name string) any {
	return s.storedParam("profiles", profile, name, true)
}

// RawParam returns a machine's stored value as the API returns it without
// decode=true (Secure values sealed).
func (s *Server) RawParam(uuid, name string) any {
	return s.storedParam("machines", uuid, name, false)
}

func (s *Server) storedParam(prefix, id, name string, decode bool) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objs[prefix][id]
	if o == nil {
		return nil
	}
	v, ok := o.model.GetParams()[name]
	if !ok {
		return nil
	}
	return s.decrypt(o, name, v, decode)
}

// SetJobState sets a job's State (as the agent's PATCH does: "running"
// while its scripts run, then "finished" or "failed").
func (s *Server) SetJobState(job, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[job]
	if j == nil {
		return fmt.Errorf("drpfake: no job %s", job)
	}
	j.state = state
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

// WaitJobLog waits until job's log contains substr and returns the log;
// it fails when ctx ends first.
func (s *Server) WaitJobLog(ctx context.Context, job, substr string) (string, error) {
	for {
		s.mu.Lock()
		var log string
		if b := s.jobLogs[job]; b != nil {
			log = b.String()
		}
		if strings.Contains(log, substr) {
			s.mu.Unlock()
			return log, nil
		}
		if s.jobLogged == nil {
			s.jobLogged = make(chan struct{})
		}
		next := s.jobLogged
		s.mu.Unlock()
		select {
		case <-next:
		case <-ctx.Done():
			return log, fmt.Errorf("drpfake: job %s's log has no %q: %w", job, substr, ctx.Err())
		}
	}
}

// Requests lists "METHOD path?query" of every API request received.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// find looks an object up by key, or by a unique index as "Name:<name>"
// or "Uuid:<uuid>" (backend/requestTracker.go find; machines' Name and
// Uuid indexes are unique, a profile's or plugin's key is its Name).
// Caller locks.
func (s *Server) find(prefix, id string) *object {
	if idx, val, ok := strings.Cut(id, ":"); ok {
		switch {
		case prefix == "machines" && idx == "Uuid":
			return s.objs[prefix][val]
		case prefix == "machines" && idx == "Name":
			for _, o := range s.objs[prefix] {
				if o.model.(*models.Machine).Name == val {
					return o
				}
			}
			return nil
		case idx == "Name":
			return s.objs[prefix][val]
		}
	}
	return s.objs[prefix][id]
}

// decrypt is backend/requestTracker.go decryptParam: a Secure Param's
// value opened with the key of the object it is stored on (src); a value
// that does not open is returned as stored. Caller locks.
func (s *Server) decrypt(src *object, name string, v any, decode bool) any {
	p := s.params[name]
	if !decode || p == nil || !p.Secure {
		return v
	}
	sd := &models.SecureData{}
	if models.Remarshal(v, sd) != nil {
		return v
	}
	var out any
	if sd.Unmarshal(src.priv[:], &out) != nil {
		return v
	}
	return out
}

// aggregate is backend/requestTracker.go getAggParams: a copy of the
// object's Params and, with aggregate, what its Profiles (machines only,
// in order; missing ones skipped) and then the global profile add, with
// the object each value came from. A machine's Stage, whose Params and
// Profiles the real server adds between the two, is always "none" here
// (stages are not modeled). Caller locks.
func (s *Server) aggregate(o *object, aggregate bool) (map[string]any, map[string]*object) {
	vals, src := map[string]any{}, map[string]*object{}
	for k, v := range o.model.GetParams() {
		vals[k], src[k] = v, o
	}
	if !aggregate {
		return vals, src
	}
	var subs []*object
	if m, ok := o.model.(*models.Machine); ok {
		for _, pn := range m.Profiles {
			if p := s.objs["profiles"][pn]; p != nil {
				subs = append(subs, p)
			}
		}
	}
	if g := s.objs["profiles"][GlobalProfile]; g != nil {
		subs = append(subs, g)
	}
	for _, sub := range subs {
		for k, v := range sub.model.GetParams() {
			if _, ok := vals[k]; !ok {
				vals[k], src[k] = v, sub
			}
		}
	}
	return vals, src
}

// getParams is backend/requestTracker.go GetParams: no Schema defaults.
// Caller locks.
func (s *Server) getParams(o *object, aggregate, decode bool) map[string]any {
	vals, src := s.aggregate(o, aggregate)
	for k, v := range vals {
		vals[k] = s.decrypt(src[k], k, v, decode)
	}
	return vals
}

// getParam is backend/requestTracker.go GetParam: with aggregate, a Param
// set nowhere falls back to its Schema default. Caller locks.
func (s *Server) getParam(o *object, name string, aggregate, decode bool) (any, bool) {
	vals, src := s.aggregate(o, aggregate)
	if v, ok := vals[name]; ok {
		return s.decrypt(src[name], name, v, decode), true
	}
	if aggregate {
		if p := s.params[name]; p != nil {
			return p.DefaultValue()
		}
	}
	return nil, false
}

// ---- HTTP ----

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, model, key, typ string, msgs ...string) {
	writeJSON(w, code, &models.Error{Model: model, Key: key, Type: typ, Code: code, Messages: msgs})
}

// notModeled answers a request the fake does not model: 501, saying so
// (never a made-up DRP answer).
func notModeled(w http.ResponseWriter, r *http.Request, what string) {
	writeErr(w, http.StatusNotImplemented, "", "", "drpfake",
		fmt.Sprintf("drpfake does not model %s %s: %s", r.Method, r.URL.Path, what))
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
