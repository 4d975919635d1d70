package drpfake

// The REST API's routes, each following its handler in the last public
// server code (github.com/hartsock/provision at 69af34ab): frontend/*.go
// for the order of checks and the answers, backend/*.go for what is stored.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/digitalrebar/provision/v4/models"
	"github.com/xeipuuv/gojsonschema"
)

// patchLine is one line of a JSON patch (RFC 6902) as models.GenPatch
// writes it (jsonpatch2.Operation's fields).
type patchLine struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	From string `json:"from"`
}

// genPatch is models.GenPatch (the server's diff of the stored object and
// the written one), as the lines assureAuthUpdate reads.
func genPatch(from, to any) ([]patchLine, error) {
	p, err := models.GenPatch(from, to, false)
	if err != nil {
		return nil, err
	}
	var lines []patchLine
	return lines, models.Remarshal(p, &lines)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	s.mu.Unlock()

	g, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, "/api/v3/")
	if !ok {
		notModeled(w, r, "only /api/v3 is served")
		return
	}
	parts := strings.Split(p, "/")
	switch prefix := parts[0]; {
	case prefix == "machines" || prefix == "profiles" || prefix == "plugins":
		s.serveParamer(w, r, g, prefix, parts[1:])
	case (prefix == "params" || prefix == "tasks") && len(parts) >= 2 && r.Method == http.MethodGet:
		// frontend/params.go: GET /params/*name (a name may hold "/").
		s.fetchDefinition(w, r, g, prefix, strings.TrimLeft(strings.Join(parts[1:], "/"), "/"))
	case prefix == "jobs" && len(parts) == 3 && parts[2] == "log" && r.Method == http.MethodPut:
		s.putJobLog(w, r, g, parts[1])
	case prefix == "jobs" && len(parts) == 2 && r.Method == http.MethodGet:
		s.getJob(w, r, g, parts[1])
	default:
		notModeled(w, r, "route not served")
	}
}

// serveParamer routes /machines, /profiles and /plugins (rest: the path
// after the prefix).
func (s *Server) serveParamer(w http.ResponseWriter, r *http.Request, g *grant, prefix string, rest []string) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet && prefix != "plugins":
		s.list(w, r, g, prefix)
	case len(rest) == 0 && r.Method == http.MethodPost && prefix == "profiles":
		s.createProfile(w, r, g)
	case len(rest) == 1 && r.Method == http.MethodGet:
		s.fetch(w, r, g, prefix, rest[0])
	case len(rest) == 1 && r.Method == http.MethodPut:
		s.update(w, r, g, prefix, rest[0])
	case len(rest) == 2 && rest[1] == "pubkey" && r.Method == http.MethodGet:
		s.pubkey(w, r, g, prefix, rest[0])
	case len(rest) == 2 && rest[1] == "params" && r.Method == http.MethodGet:
		s.getAllParams(w, r, g, prefix, rest[0])
	case len(rest) == 2 && rest[1] == "params" && r.Method == http.MethodPost:
		var repl map[string]any
		if !decodeBody(w, r, &repl) {
			return
		}
		if out := s.mutate(w, r, g, prefix, rest[0], "", func(map[string]any) (map[string]any, *models.Error) { return repl, nil }); out != nil {
			writeJSON(w, http.StatusOK, out)
		}
	case len(rest) >= 3 && rest[1] == "params":
		s.serveParam(w, r, g, prefix, rest[0], strings.TrimLeft(strings.Join(rest[2:], "/"), "/"))
	case len(rest) == 3 && rest[1] == "actions" && r.Method == http.MethodPost && prefix == "machines":
		s.runAction(w, r, g, rest[0], rest[2])
	default:
		notModeled(w, r, "route not served")
	}
}

// serveParam serves /<prefix>/<id>/params/<key> (frontend/params.go
// getOne, setOne, deleteOne).
func (s *Server) serveParam(w http.ResponseWriter, r *http.Request, g *grant, prefix, id, key string) {
	switch r.Method {
	case http.MethodGet:
		s.readParams(w, r, g, prefix, id, func(o *object, aggregate, decode bool) any {
			v, _ := s.getParam(o, key, aggregate, decode)
			return v
		})
	case http.MethodPost:
		var v any
		if !decodeBody(w, r, &v) {
			return
		}
		if s.mutate(w, r, g, prefix, id, key, func(ps map[string]any) (map[string]any, *models.Error) {
			ps[key] = v
			return ps, nil
		}) != nil {
			writeJSON(w, http.StatusOK, v)
		}
	case http.MethodDelete:
		var old any
		if s.mutate(w, r, g, prefix, id, "", func(ps map[string]any) (map[string]any, *models.Error) {
			v, ok := ps[key]
			if !ok {
				return nil, &models.Error{Code: http.StatusNotFound, Type: "DELETE", Model: "params", Key: key, Messages: []string{"Not Found"}}
			}
			old = v
			delete(ps, key)
			return ps, nil
		}) != nil {
			writeJSON(w, http.StatusOK, old)
		}
	default:
		notModeled(w, r, "method not served")
	}
}

func notFound(w http.ResponseWriter, r *http.Request, prefix, key string) {
	// frontend/frontend.go Frontend.Find.
	writeErr(w, http.StatusNotFound, prefix, key, r.Method, "Not Found")
}

// decodeBody is frontend/frontend.go assureDecode: the Content-Type must
// contain application/json (400 otherwise, even for an empty body); an
// empty body leaves v as it is; a body that does not decode is 400.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.Contains(strings.ToUpper(ct), "APPLICATION/JSON") {
		writeErr(w, http.StatusBadRequest, "", "", r.Method, "Invalid content type: "+mediaType(ct))
		return false
	}
	if r.ContentLength == 0 {
		return true
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, "", "", r.Method, err.Error())
		return false
	}
	return true
}

// mediaType is gin's Context.ContentType: the header up to ";", trimmed.
func mediaType(ct string) string {
	ct, _, _ = strings.Cut(ct, ";")
	return strings.TrimSpace(ct)
}

// viewAuth is frontend/params.go viewAuth: "get" on the id as written in
// the URL (404), and for decode=true "getSecure" on it (403), both before
// the object is looked up.
func viewAuth(w http.ResponseWriter, r *http.Request, g *grant, prefix, id string) bool {
	if !assureSimple(w, r, g, prefix, "get", id) {
		return false
	}
	return r.URL.Query().Get("decode") != "true" || assureSimple(w, r, g, prefix, "getSecure", id)
}

// getAllParams is frontend/params.go getAll: ?params=a,b selects.
func (s *Server) getAllParams(w http.ResponseWriter, r *http.Request, g *grant, prefix, id string) {
	s.readParams(w, r, g, prefix, id, func(o *object, aggregate, decode bool) any {
		vals := s.getParams(o, aggregate, decode)
		f := r.URL.Query().Get("params")
		if f == "" {
			return vals
		}
		sel := map[string]any{}
		for _, k := range strings.Split(f, ",") {
			if v, ok := vals[k]; ok {
				sel[k] = v
			}
		}
		return sel
	})
}

// readParams is what frontend/params.go getAll and getOne share: viewAuth,
// the lookup (404), then read's answer, read with the server locked.
func (s *Server) readParams(w http.ResponseWriter, r *http.Request, g *grant, prefix, id string, read func(o *object, aggregate, decode bool) any) {
	if !viewAuth(w, r, g, prefix, id) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.find(prefix, id)
	if o == nil {
		notFound(w, r, prefix, id)
		return
	}
	q := r.URL.Query()
	writeJSON(w, http.StatusOK, read(o, q.Get("aggregate") == "true", q.Get("decode") == "true"))
}

// pubkey is frontend/params.go getPubKey: "updateSecure" on the id as
// written (403), then the lookup; the object's public key (JSON base64):
// what a client seals a Secure value with before writing it.
func (s *Server) pubkey(w http.ResponseWriter, r *http.Request, g *grant, prefix, id string) {
	if !assureSimple(w, r, g, prefix, "updateSecure", id) {
		return
	}
	s.mu.Lock()
	o := s.find(prefix, id)
	s.mu.Unlock()
	if o == nil {
		notFound(w, r, prefix, id)
		return
	}
	writeJSON(w, http.StatusOK, o.pub[:])
}

// mutate is frontend/params.go mutator: look the object up (404), change
// its Params with fn, want "update:<path>" on the id as written for each
// changed path (403), store if the object still validates (409 with the
// reasons otherwise). The server is locked throughout, as the real one
// applies the patch to the object under its lock. faultKey names the
// Param a SetWriteFault applies to. It returns the new Params, or nil when
// it answered.
func (s *Server) mutate(w http.ResponseWriter, r *http.Request, g *grant, prefix, id, faultKey string,
	fn func(map[string]any) (map[string]any, *models.Error)) map[string]any {
	s.mu.Lock()
	o := s.find(prefix, id)
	if o == nil {
		s.mu.Unlock()
		notFound(w, r, prefix, id)
		return nil
	}
	orig := models.Clone(o.model).(models.Paramer)
	changed := models.Clone(o.model).(models.Paramer)
	ps, merr := fn(orig.GetParams())
	if merr != nil {
		s.mu.Unlock()
		writeJSON(w, merr.Code, merr)
		return nil
	}
	if ps == nil {
		ps = map[string]any{}
	}
	changed.SetParams(ps)
	conflict := &models.Error{Code: http.StatusConflict, Type: r.Method, Model: prefix, Key: id}
	patch, err := genPatch(orig, changed)
	if err != nil {
		s.mu.Unlock()
		conflict.AddError(err)
		writeJSON(w, conflict.Code, conflict)
		return nil
	}
	if !assureUpdate(w, r, g, prefix, id, patch) {
		s.mu.Unlock()
		return nil
	}
	if fault := s.writeFaults[faultKey]; faultKey != "" && fault != 0 {
		s.mu.Unlock()
		writeErr(w, fault, prefix, id, r.Method, "drpfake: injected fault: cannot store "+faultKey)
		return nil
	}
	verr, restart := s.save(o, changed)
	s.mu.Unlock()
	if verr != nil {
		conflict.AddError(verr)
		writeJSON(w, conflict.Code, conflict)
		return nil
	}
	if restart != nil {
		restart.restart()
	}
	return ps
}

// save validates m as the new state of o (the backend's Validate and
// BeforeSave; 422 ValidationError when unusable) and stores it. For a
// plugin whose Params, Description or Provider changed it returns the
// plugin, which the caller restarts once the server is unlocked
// (backend/plugin.go restartPlugin). Caller locks.
func (s *Server) save(o *object, m models.Paramer) (*models.Error, *Plugin) {
	if err := s.validate(o, m); err != nil {
		return err, nil
	}
	old := o.model
	o.model = m
	if op, ok := old.(*models.Plugin); ok {
		np := m.(*models.Plugin)
		if op.Description != np.Description || op.Provider != np.Provider || !reflect.DeepEqual(op.Params, np.Params) {
			return nil, s.plugins[np.Name]
		}
	}
	return nil, nil
}

// validate checks m as the backend's Validate does for its type. Caller
// locks.
func (s *Server) validate(o *object, m models.Paramer) *models.Error {
	v, ok := m.(interface {
		models.Validator
		models.Filler
		Errorf(string, ...any)
		SetValid() bool
		SetAvailable() bool
		SetInvalid() bool
		MakeError(int, string, models.Model) error
	})
	if !ok {
		panic(fmt.Sprintf("drpfake: %T cannot be validated", m))
	}
	v.Fill()
	v.ClearValidation()
	v.Validate() // the SDK's own checks (names, arch, ...)
	// index.CheckUnique: keys and unique indexes (a machine's Name).
	if mm, ok := m.(*models.Machine); ok {
		for _, other := range s.objs["machines"] {
			om := other.model.(*models.Machine)
			if other != o && om.Name == mm.Name {
				v.Errorf("machines:%s violates unique index Name", mm.Key())
			}
			if other != o && len(mm.Address) > 0 && !mm.Address.IsUnspecified() && om.Address.Equal(mm.Address) {
				// backend/machines.go Validate: before SetValid, fatal.
				v.Errorf("Machine %s already has IP address %s", om.Key(), om.Address)
			}
		}
	}
	// backend/param.go ValidateParams with the object's key.
	for k, val := range m.GetParams() {
		if p := s.params[k]; p != nil {
			if err := validateValue(p, val, o.priv[:]); err != nil {
				v.Errorf("Key '%s': invalid val '%v': %v", k, val, err)
			}
		}
	}
	v.SetValid()
	if mm, ok := m.(*models.Machine); ok {
		// backend/machines.go Validate, after SetValid: errors here leave
		// the machine saved but not Available, except a duplicate profile.
		seen := map[string]int{}
		for i, pn := range mm.Profiles {
			if s.objs["profiles"][pn] == nil {
				v.Errorf("Profile %s (at %d) does not exist", pn, i)
			} else if at, dup := seen[pn]; dup {
				v.Errorf("Duplicate profile %s: at %d and %d", pn, at, i)
				v.SetInvalid()
			} else {
				seen[pn] = i
			}
		}
		if mm.Workflow != "" {
			v.Errorf("Workflow %s does not exist", mm.Workflow)
		}
		if mm.Stage != "none" {
			v.Errorf("Stage %s does not exist", mm.Stage)
		}
		if mm.BootEnv != "local" {
			v.Errorf("Bootenv %s does not exist", mm.BootEnv)
		}
	}
	v.SetAvailable()
	if !v.Useable() {
		return v.MakeError(http.StatusUnprocessableEntity, "ValidationError", m).(*models.Error)
	}
	return nil
}

// validateValue is backend/param.go ValidateValue: a Secure Param's value
// must be a SecureData envelope that opens with the object's key; the
// (opened) value must match the Param's Schema. (The real one also refuses
// a Param that is not Useable; every Param the fake knows is.)
func validateValue(p *models.Param, v any, key []byte) error {
	if p.Secure {
		sd := &models.SecureData{}
		if err := models.Remarshal(v, sd); err != nil {
			return err
		}
		if err := sd.Validate(); err != nil {
			return err
		}
		var real any
		if err := sd.Unmarshal(key, &real); err != nil {
			return err
		}
		v = real
	}
	return validateDecoded(p, v)
}

// validateDecoded is backend/param.go ValidateDecodedValue (gojsonschema,
// as the real server).
func validateDecoded(p *models.Param, v any) error {
	if p.Schema == nil {
		return nil
	}
	sch, err := gojsonschema.NewSchema(gojsonschema.NewGoLoader(p.Schema))
	if err != nil {
		return err
	}
	res, err := sch.Validate(gojsonschema.NewGoLoader(v))
	if err != nil {
		return err
	}
	if res.Valid() {
		return nil
	}
	e := &models.Error{}
	for _, re := range res.Errors() {
		e.Errorf("%s", re.String())
	}
	return e
}

// authKey is the key the claims of an object's "get" and "update" name:
// models' AuthKey, the object's key for all the fake serves. Caller locks.
func authKey(o *object) string { return o.model.Key() }

// fetch is frontend/frontend.go Fetch: lookup (404), "get" on the
// object's key (404), decode=true wants "getSecure" on the id as written
// (403); the object as processItem shapes it.
func (s *Server) fetch(w http.ResponseWriter, r *http.Request, g *grant, prefix, id string) {
	s.mu.Lock()
	o := s.find(prefix, id)
	var key string
	if o != nil {
		key = authKey(o)
	}
	s.mu.Unlock()
	if o == nil {
		notFound(w, r, prefix, id)
		return
	}
	if !assureSimple(w, r, g, prefix, "get", key) {
		return
	}
	if r.URL.Query().Get("decode") == "true" && !assureSimple(w, r, g, prefix, "getSecure", id) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.processItem(r, o))
}

// processItem is frontend/frontend.go processItem: decode=true opens the
// object's own Params; params=a,b keeps those (as stored: not decoded);
// slim=Params (any case) empties them, slim=Meta empties Meta. Caller
// locks.
func (s *Server) processItem(r *http.Request, o *object) models.Paramer {
	q := r.URL.Query()
	m := models.Clone(o.model).(models.Paramer)
	if q.Get("decode") == "true" {
		m.SetParams(s.getParams(o, false, true))
	}
	if f := q.Get("params"); f != "" {
		all := s.getParams(o, false, false)
		sel := map[string]any{}
		for _, k := range strings.Split(f, ",") {
			if v, ok := all[k]; ok {
				sel[k] = v
			}
		}
		m.SetParams(sel)
	}
	for _, e := range strings.Split(strings.ToLower(q.Get("slim")), ",") {
		switch strings.TrimSpace(e) {
		case "meta":
			if mh, ok := m.(interface{ SetMeta(models.Meta) }); ok {
				mh.SetMeta(models.Meta{})
			}
		case "params":
			if q.Get("params") == "" {
				m.SetParams(map[string]any{})
			}
		}
	}
	return m
}

// list is frontend/frontend.go list: without the "list" claim the answer
// is an empty list (200); decode=true wants "getSecure" (on ""); then
// every object, shaped by processItem.
func (s *Server) list(w http.ResponseWriter, r *http.Request, g *grant, prefix string) {
	for k := range r.URL.Query() {
		if k != "slim" && k != "params" && k != "decode" {
			notModeled(w, r, "list filters and paging")
			return
		}
	}
	if !g.match(models.MakeRole("", prefix, "list", "").Compile()) {
		w.Header().Set("X-DRP-LIST-TOTAL-COUNT", "0")
		w.Header().Set("X-DRP-LIST-COUNT", "0")
		writeJSON(w, http.StatusOK, []any{})
		return
	}
	if r.URL.Query().Get("decode") == "true" && !assureSimple(w, r, g, prefix, "getSecure", "") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.objs[prefix]))
	for k := range s.objs[prefix] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := []any{}
	for _, k := range keys {
		out = append(out, s.processItem(r, s.objs[prefix][k]))
	}
	n := fmt.Sprint(len(out))
	w.Header().Set("X-DRP-LIST-TOTAL-COUNT", n)
	w.Header().Set("X-DRP-LIST-COUNT", n)
	writeJSON(w, http.StatusOK, out)
}

// modeled lists, by prefix, the top-level fields whose change the fake
// models; the Validation fields are recomputed on every save.
var modeled = map[string][]string{
	"machines": {"Name", "Description", "Address", "Meta", "Profiles", "Params"},
	"profiles": {"Name", "Description", "Documentation", "Meta", "Params"},
	"plugins":  {"Description", "Documentation", "Meta", "Params", "PluginErrors"},
}

// unmodeledChange names the first changed field the fake does not model.
func unmodeledChange(prefix string, patch []patchLine) string {
	for _, l := range patch {
		if l.Op == "test" {
			continue
		}
		for _, p := range []string{l.Path, l.From} {
			field, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
			switch {
			case p == "":
			case field == "Validated" || field == "Available" || field == "Errors" || field == "ReadOnly":
			case !slices.Contains(modeled[prefix], field):
				return field
			}
		}
	}
	return ""
}

// newModel is an empty object of prefix, filled (backend.Fill).
func newModel(prefix string) models.Paramer {
	var m models.Paramer
	switch prefix {
	case "machines":
		m = &models.Machine{}
	case "profiles":
		m = &models.Profile{}
	default:
		m = &models.Plugin{}
	}
	m.(models.Filler).Fill()
	return m
}

// update is frontend/frontend.go Update (PUT): the body (Content-Type
// JSON) is the new object; a key change is 400; lookup (404); "update:
// <path>" on the object's key for each path that changes (403); then the
// backend's validation (422).
func (s *Server) update(w http.ResponseWriter, r *http.Request, g *grant, prefix, id string) {
	ref := newModel(prefix)
	if !decodeBody(w, r, ref) {
		return
	}
	if ref.Key() != id {
		writeErr(w, http.StatusBadRequest, prefix, id, r.Method, fmt.Sprintf("Key change from %s to %s not allowed", id, ref.Key()))
		return
	}
	s.mu.Lock()
	o := s.find(prefix, ref.Key())
	if o == nil {
		s.mu.Unlock()
		notFound(w, r, prefix, ref.Key())
		return
	}
	patch, err := genPatch(o.model, ref)
	if err != nil {
		s.mu.Unlock()
		writeErr(w, http.StatusBadRequest, prefix, id, r.Method, err.Error())
		return
	}
	if !assureUpdate(w, r, g, prefix, authKey(o), patch) {
		s.mu.Unlock()
		return
	}
	if f := unmodeledChange(prefix, patch); f != "" {
		s.mu.Unlock()
		notModeled(w, r, "a change of "+f)
		return
	}
	verr, restart := s.save(o, ref)
	s.mu.Unlock()
	if verr != nil {
		writeJSON(w, verr.Code, verr)
		return
	}
	if restart != nil {
		restart.restart()
	}
	writeJSON(w, http.StatusOK, ref)
}

// createProfile is frontend/frontend.go Create and create for profiles:
// the body; "profiles create" (403); an empty name 400, an existing one 409;
// the backend's validation (422); 201 with the profile.
func (s *Server) createProfile(w http.ResponseWriter, r *http.Request, g *grant) {
	p := newModel("profiles").(*models.Profile)
	if !decodeBody(w, r, p) {
		return
	}
	if !assureSimple(w, r, g, "profiles", "create", "") {
		return
	}
	if len(p.Profiles) > 0 {
		notModeled(w, r, "a profile's Profiles")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case p.Name == "":
		writeErr(w, http.StatusBadRequest, "profiles", "", "CREATE", "Empty key not allowed")
		return
	case s.objs["profiles"][p.Name] != nil:
		writeErr(w, http.StatusConflict, "profiles", p.Name, "CREATE", "already exists")
		return
	}
	if err := s.newObject("profiles", p); err != nil {
		writeErr(w, http.StatusInternalServerError, "profiles", p.Name, "CREATE", err.Error())
		return
	}
	o := s.objs["profiles"][p.Name]
	if verr := s.validate(o, p); verr != nil {
		delete(s.objs["profiles"], p.Name)
		writeJSON(w, verr.Code, verr)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

// fetchDefinition serves GET /params/<name> and /tasks/<name> (Fetch:
// lookup 404, then "get" on the name, 404).
func (s *Server) fetchDefinition(w http.ResponseWriter, r *http.Request, g *grant, prefix, name string) {
	s.mu.Lock()
	var obj models.Model
	switch prefix {
	case "params":
		if p := s.params[name]; p != nil {
			obj = p
		}
	case "tasks":
		if t := s.tasks[name]; t != nil {
			obj = t
		}
	}
	s.mu.Unlock()
	if obj == nil {
		notFound(w, r, prefix, name)
		return
	}
	if !assureSimple(w, r, g, prefix, "get", name) {
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// getJob is frontend/jobs.go GET /jobs/:uuid (Frontend.Fetch): the job
// (404), "get" on its AuthKey, the machine's UUID (models/job.go; 404 when
// the token lacks it); the Job with Uuid, Machine, Task and State.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request, g *grant, id string) {
	s.mu.Lock()
	j := s.jobs[id]
	var rec jobRecord
	if j != nil {
		rec = *j
	}
	s.mu.Unlock()
	if j == nil {
		notFound(w, r, "jobs", id)
		return
	}
	if !assureSimple(w, r, g, "jobs", "get", rec.machine) {
		return
	}
	job := &models.Job{}
	models.Remarshal(map[string]any{"Uuid": id, "Machine": rec.machine, "Task": rec.task, "State": rec.state}, job)
	job.Fill()
	writeJSON(w, http.StatusOK, job)
}

// putJobLog is frontend/jobs.go PUT /jobs/:uuid/log: Content-Type exactly
// application/octet-stream (415), the job (404), "jobs log <the job's
// machine>" (403); 204.
func (s *Server) putJobLog(w http.ResponseWriter, r *http.Request, g *grant, id string) {
	if r.Header.Get("Content-Type") != "application/octet-stream" {
		writeJSON(w, http.StatusUnsupportedMediaType, models.NewError("API ERROR", http.StatusUnsupportedMediaType,
			"job log put must have content-type application/octet-stream"))
		return
	}
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j == nil {
		writeErr(w, http.StatusNotFound, "", "", "ValidationError", fmt.Sprintf("Job %s does not exist", id))
		return
	}
	if !assureSimple(w, r, g, "jobs", "log", j.machine) {
		return
	}
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.jobLogs[id] == nil {
		s.jobLogs[id] = &bytes.Buffer{}
	}
	s.jobLogs[id].Write(b)
	if s.jobLogged != nil {
		close(s.jobLogged)
		s.jobLogged = nil
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNoContent)
}

// runAction is frontend/actions.go runAction for machines: the body
// (Content-Type JSON, 400); "action:<cmd>" on the id as written in the URL
// (403 "Requires: machines action:<cmd> <id>"), before the machine is
// looked up (404); the action's Params built and checked
// (backend/requestTracker.go BuildAction: 400 "Action … Missing Parameter
// …" before any plugin is called); then the plugin's answer (plugin.go).
func (s *Server) runAction(w http.ResponseWriter, r *http.Request, g *grant, id, cmd string) {
	var body map[string]any
	if !decodeBody(w, r, &body) {
		return
	}
	if !assureSimple(w, r, g, "machines", "action:"+cmd, id) {
		return
	}
	s.mu.Lock()
	o := s.find("machines", id)
	if o == nil {
		s.mu.Unlock()
		notFound(w, r, "machines", id)
		return
	}
	ma, merr := s.buildAction(o, cmd, r.URL.Query().Get("plugin"), body)
	s.mu.Unlock()
	if merr != nil {
		merr.Type = "INVOKE"
		writeJSON(w, merr.Code, merr)
		return
	}
	s.invoke(w, r, ma)
}

// buildAction is backend/requestTracker.go BuildAction and validateAction:
// the plugins that offer cmd on machines (registered when configured;
// with ?plugin= only that one), and for the first whose parameters check
// out, the action with its Params. Caller locks.
func (s *Server) buildAction(o *object, cmd, plugin string, body map[string]any) (*models.Action, *models.Error) {
	e := &models.Error{Code: http.StatusBadRequest, Type: "GET", Model: "machines", Key: o.model.Key()}
	var cands []*Plugin
	for _, p := range s.configured {
		if (plugin == "" || p.Name == plugin) && p.offers("machines", cmd) {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		if plugin != "" {
			e.Errorf("Action %s on %s for plugin %s not found", cmd, "machines", plugin)
		} else {
			e.Errorf("Action %s on %s: Not Found", cmd, "machines")
		}
		return nil, e
	}
	for _, p := range cands {
		e = &models.Error{Code: http.StatusBadRequest, Type: "INVOKE", Model: "machines", Key: o.model.Key()}
		params := s.actionParams(o, p.action("machines", cmd), body, e)
		if !e.ContainsError() {
			return &models.Action{Model: models.Clone(o.model), CommandSet: "machines", Command: cmd, Plugin: p.Name, Params: params}, nil
		}
	}
	return nil, e
}

// actionParams is backend/requestTracker.go validateActionParameters:
// the body's Params, each checked against its Param (a Secure one sealed
// with the machine's key first, as the server does to validate it); then
// every Required and Optional Param of the action the body lacks: the
// machine's aggregated, decoded value, else the Param's Schema default; a
// RequiredParam with neither is an error. Caller locks.
func (s *Server) actionParams(o *object, aa *models.AvailableAction, body map[string]any, e *models.Error) map[string]any {
	res := map[string]any{}
	for k, v := range body {
		res[k] = v
		p := s.params[k]
		if p == nil {
			continue
		}
		var key []byte
		if p.Secure {
			sd := &models.SecureData{}
			if err := sd.Marshal(o.pub[:], v); err != nil {
				e.AddError(err)
			} else {
				key, v = o.priv[:], sd
			}
		}
		if verr := validateValue(p, v, key); verr != nil {
			e.Errorf("Action %s: Invalid Parameter: %s: %s", aa.Command, k, verr.Error())
		}
	}
	stored := s.getParams(o, true, true)
	for i, list := range [][]string{aa.RequiredParams, aa.OptionalParams} {
		for _, n := range list {
			if _, ok := body[n]; ok {
				continue
			}
			if v, ok := stored[n]; ok {
				res[n] = v
				continue
			}
			if p := s.params[n]; p != nil {
				if d, ok := p.DefaultValue(); ok {
					res[n] = d
					continue
				}
			}
			if i == 0 {
				e.Errorf("Action %s Missing Parameter %s", aa.Command, n)
			}
		}
	}
	return res
}
