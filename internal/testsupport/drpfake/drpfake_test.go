package drpfake

// Each behaviour of the fake, table-tested with the place in the real
// server's code it follows (github.com/hartsock/provision at 69af34ab
// unless an SDK v4.7.0 file is named).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalrebar/provision/v4/models"
)

const (
	m1 = "0f6ee3a4-7a38-4a8e-9d1a-5d7c6b1f2e3a"
	m2 = "5b1c7d3e-2a4f-4c6b-8e9d-0a1b2c3d4e5f"
	// Param names of the test's own Params.
	pSecret = "test/secret" // Secure string
	pPlain  = "test/plain"  // string
	pDflt   = "test/dflt"   // string, Schema default "the-default"
	pReq    = "test/req"    // string, required by the test action
)

func testParams() []*models.Param {
	str := func() map[string]any { return map[string]any{"type": "string"} }
	d := str()
	d["default"] = "the-default"
	return []*models.Param{
		{Name: pSecret, Secure: true, Schema: str()},
		{Name: pPlain, Schema: str()},
		{Name: pDflt, Schema: d},
		{Name: pReq, Schema: str()},
	}
}

// newTest is a fake with machines m1 (esx01) and m2 (esx02), each with its
// own secret, and profile p1.
func newTest(t *testing.T) *Server {
	t.Helper()
	s := New(testParams())
	t.Cleanup(s.Close)
	for _, m := range []struct{ uuid, name, addr, secret string }{
		{m1, "esx01", "192.0.2.1", "secret-of-m1"}, {m2, "esx02", "192.0.2.2", "secret-of-m2"},
	} {
		must(t, s.AddMachine(m.uuid, m.name, m.addr))
		must(t, s.SetParam(m.uuid, pSecret, m.secret))
	}
	must(t, s.AddProfile("p1"))
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type answer struct {
	code int
	body []byte
	hdr  http.Header
}

func (a answer) err() models.Error {
	var e models.Error
	json.Unmarshal(a.body, &e)
	return e
}

// call sends a request; a non-nil body is sent as JSON with its
// Content-Type.
func call(t *testing.T, s *Server, method, path, token string, body any) answer {
	t.Helper()
	var rd *bytes.Reader
	ctype := ""
	if body != nil {
		b, _ := json.Marshal(body)
		rd, ctype = bytes.NewReader(b), "application/json"
	} else {
		rd = bytes.NewReader(nil)
	}
	return callRaw(t, s, method, path, token, ctype, rd)
}

func callRaw(t *testing.T, s *Server, method, path, token, ctype string, body *bytes.Reader) answer {
	t.Helper()
	req, _ := http.NewRequest(method, s.Endpoint()+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := s.API.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return answer{code: resp.StatusCode, body: b.Bytes(), hdr: resp.Header}
}

type row struct {
	name, method, path, token string
	body                      any
	want                      int
	contains                  string // in the answer's body
}

func runRows(t *testing.T, s *Server, rows []row) {
	t.Helper()
	for _, r := range rows {
		a := call(t, s, r.method, r.path, r.token, r.body)
		if a.code != r.want || !bytes.Contains(a.body, []byte(r.contains)) {
			t.Errorf("%s: %s %s: %d %s, want %d with %q", r.name, r.method, r.path, a.code, a.body, r.want, r.contains)
		}
		if a.code >= 400 && len(a.body) > 0 && a.err().Code != a.code && a.code != http.StatusConflict {
			t.Errorf("%s: error body Code %d, status %d", r.name, a.err().Code, a.code)
		}
	}
}

// TestAuthentication: frontend/frontend.go userAuth and jwt-go's expiry.
func TestAuthentication(t *testing.T) {
	s := newTest(t)
	s.SetPref("knownTokenTimeout", "60")
	tok := s.GenerateToken(m1)
	path := "/api/v3/machines/" + m1
	for _, tc := range []struct {
		name, token string
		want        int
		contains    string
	}{
		{"no Authorization header: 401, no body", "", 401, ""},
		{"not a token it issued: 403 Invalid Token, echoing it", "garbage-token", 403, `"Invalid Token :drpfake: not a token this server issued","garbage-token"`},
		{"a valid machine token", tok, 200, m1},
	} {
		a := call(t, s, http.MethodGet, path, tc.token, nil)
		if a.code != tc.want || !bytes.Contains(a.body, []byte(tc.contains)) {
			t.Errorf("%s: %d %s", tc.name, a.code, a.body)
		}
	}
	if a := call(t, s, http.MethodGet, path, "", nil); len(a.body) != 0 || a.hdr.Get("WWW-Authenticate") != "dr-provision" {
		t.Errorf("401: body %q, WWW-Authenticate %q", a.body, a.hdr.Get("WWW-Authenticate"))
	}
	// ?token= stands for the header; Basic auth needs a user (none here).
	if a := call(t, s, http.MethodGet, path+"?token="+tok, "", nil); a.code != 200 {
		t.Errorf("?token=: %d", a.code)
	}
	if a := call(t, s, http.MethodGet, path+"?token=root:pw", "", nil); a.code != 403 || !strings.Contains(string(a.body), "Access Denied") {
		t.Errorf("Basic: %d %s", a.code, a.body)
	}
	// knownTokenTimeout 60 s: valid at 60 s, expired after.
	s.Advance(60 * time.Second)
	if a := call(t, s, http.MethodGet, path, tok, nil); a.code != 200 {
		t.Errorf("at its expiry second: %d", a.code)
	}
	s.Advance(time.Second)
	if a := call(t, s, http.MethodGet, path, tok, nil); a.code != 403 || !strings.Contains(string(a.body), "Invalid Token :token is expired by 1s") {
		t.Errorf("expired: %d %s", a.code, a.body)
	}
}

// TestTokenLifetimes: backend/renderData.go GenerateToken (knownTokenTimeout
// 3600 s, unknownTokenTimeout 600 s), GenerateInfiniteToken (3 years),
// GenerateProfileToken (the seconds given); a job token's 720 hours (RackN's
// Task reference for ExtraDuration 0); the plugin's 1,000,000 hours
// (backend/plugin.go startPlugin).
func TestTokenLifetimes(t *testing.T) {
	s := newTest(t)
	must(t, s.SetMachineProfiles(m1, "p1"))
	must(t, s.AddTask([]byte(`{"Name":"t"}`)))
	job, err := s.JobToken(m1, "t")
	must(t, err)
	toks := map[string]string{
		"known": s.GenerateToken(m1), "unknown": s.GenerateToken(""), "infinite": s.GenerateInfiniteToken(m1),
		"profile 100 s": s.GenerateProfileToken(m1, "p1", 100), "job": job, "superuser": s.SuperuserToken(),
	}
	valid := func(tok string) bool {
		return call(t, s, http.MethodGet, "/api/v3/params/"+pPlain, tok, nil).code != http.StatusForbidden
	}
	for _, step := range []struct {
		after time.Duration
		alive []string
	}{
		{0, []string{"known", "unknown", "infinite", "profile 100 s", "job", "superuser"}},
		{101 * time.Second, []string{"known", "unknown", "infinite", "job", "superuser"}},
		{601 * time.Second, []string{"known", "infinite", "job", "superuser"}},
		{3601 * time.Second, []string{"infinite", "job", "superuser"}},
		{720*time.Hour + time.Second, []string{"infinite", "superuser"}},
		{3*52*7*24*time.Hour + time.Second, []string{"superuser"}},
	} {
		s.mu.Lock()
		s.skew = step.after
		s.mu.Unlock()
		for name, tok := range toks {
			want := false
			for _, a := range step.alive {
				want = want || a == name
			}
			// The unknown-machine token has no params claim: it reads a
			// machine instead.
			if name == "unknown" {
				if got := call(t, s, http.MethodGet, "/api/v3/machines/"+m1, tok, nil).code == 200; got != want {
					t.Errorf("after %v: %s token valid = %v", step.after, name, got)
				}
				continue
			}
			if got := valid(tok); got != want {
				t.Errorf("after %v: %s token valid = %v", step.after, name, got)
			}
		}
	}
	// The refusals GenerateProfileToken renders instead of a token.
	for _, tc := range []struct{ uuid, profile, want string }{
		{"", "p1", "UnknownMachineTokenNotAllowed"},
		{m2, "p1", "InvalidTokenNotAllowedNotOnMachine"},
	} {
		if got := s.GenerateProfileToken(tc.uuid, tc.profile, 0); got != tc.want {
			t.Errorf("GenerateProfileToken(%q, %q) = %q", tc.uuid, tc.profile, got)
		}
	}
	if s.GenerateInfiniteToken("") != "" {
		t.Error("an infinite token for an unknown machine")
	}
}

// TestTokenReach: what each token may do, as the claims of
// backend/renderData.go meet frontend/frontend.go (Fetch, list, Update),
// frontend/params.go and frontend/actions.go.
func TestTokenReach(t *testing.T) {
	s := newTest(t)
	must(t, s.SetMachineProfiles(m1, "p1"))
	own, unknown, su := s.GenerateToken(m1), s.GenerateToken(""), s.SuperuserToken()
	inf := s.GenerateInfiniteToken(m1)
	prof := s.GenerateProfileToken(m1, "p1", 0)
	must(t, s.AddTask([]byte(`{"Name":"t"}`)))
	job, err := s.JobToken(m1, "t")
	must(t, err)
	M := "/api/v3/machines/"
	runRows(t, s, []row{
		// Its own machine: read, read decoded, write, post an action.
		{"own machine", "GET", M + m1, own, nil, 200, `"Uuid":"` + m1},
		{"own Params decoded (machines getSecure <own>)", "GET", M + m1 + "/params?aggregate=true&decode=true", own, nil, 200, "secret-of-m1"},
		{"own Param decoded", "GET", M + m1 + "/params/" + pSecret + "?decode=true", own, nil, 200, "secret-of-m1"},
		{"own Param written (machines update <own>)", "POST", M + m1 + "/params/" + pPlain, own, "x", 200, `"x"`},
		{"own public key (machines updateSecure <own>)", "GET", M + m1 + "/pubkey", own, nil, 200, ""},
		{"own action: past the claim (action <own>), no plugin offers it: 400", "POST", M + m1 + "/actions/anyAction", own, map[string]any{}, 400, "Action anyAction on machines: Not Found"},
		{"infinite token: the same claims", "GET", M + m1 + "/params?decode=true", inf, nil, 200, "secret-of-m1"},
		{"job token: the same claims", "POST", M + m1 + "/params/" + pPlain, job, "y", 200, `"y"`},
		// Another machine: a failed get is 404, anything else 403.
		{"another machine: 404", "GET", M + m2, own, nil, 404, "Not Found"},
		{"another machine's Params: 404 (get before lookup)", "GET", M + m2 + "/params", own, nil, 404, "Not Found"},
		{"another machine's Param write: 403", "POST", M + m2 + "/params/" + pPlain, own, "x", 403, "Requires: machines update " + m2},
		{"another machine's public key: 403", "GET", M + m2 + "/pubkey", own, nil, 403, "Requires: machines updateSecure " + m2},
		{"another machine's action: 403", "POST", M + m2 + "/actions/anyAction", own, map[string]any{}, 403, "Requires: machines action:anyAction " + m2},
		{"job token, another machine: 403", "POST", M + m2 + "/actions/anyAction", job, map[string]any{}, 403, "Requires: machines action:anyAction " + m2},
		// Lists need the list claim: a machine token sees none.
		{"GET /machines without list: []", "GET", "/api/v3/machines", own, nil, 200, "[]"},
		{"GET /profiles without list: []", "GET", "/api/v3/profiles", own, nil, 200, "[]"},
		{"GET /machines, superuser: both", "GET", "/api/v3/machines", su, nil, 200, m2},
		// Read access to definitions.
		{"params get *", "GET", "/api/v3/params/" + pPlain, own, nil, 200, pPlain},
		{"tasks get *", "GET", "/api/v3/tasks/t", own, nil, 200, `"Name":"t"`},
		{"no profiles claim: 404", "GET", "/api/v3/profiles/p1", own, nil, 404, "Not Found"},
		// Unknown machine: machines create, get *.
		{"unknown: any machine", "GET", M + m2, unknown, nil, 200, m2},
		{"unknown: Params sealed", "GET", M + m2 + "/params/" + pSecret, unknown, nil, 200, `"Nonce"`},
		{"unknown: no decode", "GET", M + m2 + "/params?decode=true", unknown, nil, 403, "Requires: machines getSecure " + m2},
		{"unknown: no write", "POST", M + m2 + "/params/" + pPlain, unknown, "x", 403, "Requires: machines update " + m2},
		// Profile token: its profile only.
		{"profile token: its profile", "GET", "/api/v3/profiles/p1?decode=true", prof, nil, 200, `"Name":"p1"`},
		{"profile token: write its profile", "POST", "/api/v3/profiles/p1/params/" + pPlain, prof, "z", 200, `"z"`},
		{"profile token: not the machine", "GET", M + m1, prof, nil, 404, "Not Found"},
		// Superuser (* * *): everything.
		{"superuser: another machine decoded", "GET", M + m2 + "/params?decode=true", su, nil, 200, "secret-of-m2"},
	})
}

// TestClaimCheckedBeforeLookup: frontend/actions.go idrtkeyok and
// frontend/params.go viewAuth check the claim on the id as written in the
// URL before the object is looked up; frontend/frontend.go Fetch looks up
// first and checks the object's key (backend/requestTracker.go find
// resolves "Name:<name>").
func TestClaimCheckedBeforeLookup(t *testing.T) {
	s := newTest(t)
	own, su := s.GenerateToken(m1), s.SuperuserToken()
	const absent = "9e9e9e9e-1111-4222-8333-444455556666"
	M := "/api/v3/machines/"
	runRows(t, s, []row{
		{"action on an absent machine: 403, not 404", "POST", M + absent + "/actions/doIt", own, map[string]any{}, 403, "Requires: machines action:doIt " + absent},
		{"the same as superuser: 404", "POST", M + absent + "/actions/doIt", su, map[string]any{}, 404, "Not Found"},
		{"own machine by Name: the claim names the uuid, 403", "POST", M + "Name:esx01/actions/doIt", own, map[string]any{}, 403, "Requires: machines action:doIt Name:esx01"},
		{"by Name as superuser: found, no plugin offers it", "POST", M + "Name:esx01/actions/doIt", su, map[string]any{}, 400, "Not Found"},
		{"own Params by Name: 404", "GET", M + "Name:esx01/params", own, nil, 404, "Not Found"},
		{"own Params by Name as superuser", "GET", M + "Name:esx01/params", su, nil, 200, pSecret},
		{"Fetch by Name: lookup first, then get on the uuid: 200", "GET", M + "Name:esx01", own, nil, 200, m1},
		{"a write to an absent machine: lookup first, 404", "POST", M + absent + "/params/" + pPlain, own, "x", 404, "Not Found"},
	})
}

// TestJobTokenExtraClaims: a job's token is the machine's claims plus its
// Task's ExtraRoles' and ExtraClaims' (models/task.go, models/job.go); a
// rendered GenerateToken does not read the Task (backend/renderData.go). A
// Task is read through models.Task: ExtraDuration is dropped.
func TestJobTokenExtraClaims(t *testing.T) {
	s := newTest(t)
	s.AddRole(&models.Role{Name: "reader", Claims: []*models.Claim{{Scope: "profiles", Action: "get", Specific: "*"}}})
	must(t, s.AddTask([]byte(`{"Name":"wide","ExtraDuration":2700,"ExtraRoles":["reader"],
		"ExtraClaims":[{"scope":"machines","action":"action:doIt","specific":"*"},{"scope":"machines","action":"getSecure","specific":"*"}]}`)))
	job, err := s.JobToken(m1, "wide")
	must(t, err)
	rendered := s.GenerateToken(m1)
	if s.CurrentJob(m1) == "" {
		t.Fatal("JobToken made no job")
	}
	M := "/api/v3/machines/"
	runRows(t, s, []row{
		{"job: action on another machine past the claim", "POST", M + m2 + "/actions/doIt", job, map[string]any{}, 400, "Action doIt on machines: Not Found"},
		{"rendered: the same is 403", "POST", M + m2 + "/actions/doIt", rendered, map[string]any{}, 403, "Requires: machines action:doIt " + m2},
		{"job: the role's profiles get", "GET", "/api/v3/profiles/p1", job, nil, 200, `"Name":"p1"`},
		{"rendered: no profiles", "GET", "/api/v3/profiles/p1", rendered, nil, 404, "Not Found"},
		// getSecure on every machine without get on them still reads
		// nothing there: every read wants "get" first (viewAuth, Fetch).
		{"job: getSecure * alone does not read another machine", "GET", M + m2 + "/params?decode=true", job, nil, 404, "Not Found"},
		{"the task as stored: no ExtraDuration", "GET", "/api/v3/tasks/wide", job, nil, 200, `"ExtraClaims"`},
	})
	if a := call(t, s, "GET", "/api/v3/tasks/wide", job, nil); bytes.Contains(a.body, []byte("ExtraDuration")) {
		t.Errorf("ExtraDuration kept: %s", a.body)
	}
	if _, err := s.JobToken(m1, "no-such-task"); err == nil {
		t.Error("a job token for an absent task")
	}
}

// TestAggregateAndDecode: backend/requestTracker.go getAggParams (the
// machine, its Profiles in order, the global profile), GetParams (no
// defaults), GetParam (aggregate falls back to the Schema default) and
// decryptParam (each value opened with the key of the object holding it;
// the claim is checked on the machine only).
func TestAggregateAndDecode(t *testing.T) {
	s := newTest(t)
	must(t, s.AddProfile("p2"))
	must(t, s.SetParam(m1, pSecret, nil))
	must(t, s.SetProfileParam("p1", pSecret, "from-p1"))
	must(t, s.SetProfileParam("p2", pSecret, "from-p2"))
	must(t, s.SetProfileParam("p2", pPlain, "plain-from-p2"))
	must(t, s.SetProfileParam(GlobalProfile, pPlain, "plain-from-global"))
	must(t, s.SetProfileParam(GlobalProfile, pReq, "req-from-global"))
	must(t, s.SetMachineProfiles(m1, "p1", "p2"))
	own := s.GenerateToken(m1)
	get := func(path string) map[string]any {
		t.Helper()
		a := call(t, s, "GET", path, own, nil)
		var v map[string]any
		if a.code != 200 || json.Unmarshal(a.body, &v) != nil {
			t.Fatalf("%s: %d %s", path, a.code, a.body)
		}
		return v
	}
	P := "/api/v3/machines/" + m1 + "/params"
	agg := get(P + "?aggregate=true&decode=true")
	for k, want := range map[string]any{pSecret: "from-p1", pPlain: "plain-from-p2", pReq: "req-from-global"} {
		if agg[k] != want {
			t.Errorf("aggregated %s = %v, want %v", k, agg[k], want)
		}
	}
	if _, ok := agg[pDflt]; ok {
		t.Errorf("the bulk read applied a default: %v", agg[pDflt])
	}
	if v := get(P + "?aggregate=true"); !models.IsSecureData(v[pSecret]) {
		t.Errorf("without decode: %v", v[pSecret])
	}
	if v := get(P); len(v) != 0 {
		t.Errorf("not aggregated: %v", v)
	}
	for _, tc := range []struct{ q, want string }{
		{"?aggregate=true", `"the-default"`}, {"", "null"}, {"?aggregate=true&decode=true", `"the-default"`},
	} {
		if a := call(t, s, "GET", P+"/"+pDflt+tc.q, own, nil); a.code != 200 || strings.TrimSpace(string(a.body)) != tc.want {
			t.Errorf("single %s%s: %d %s, want %s", pDflt, tc.q, a.code, a.body, tc.want)
		}
	}
	// The profile itself stays out of the machine token's reach.
	if a := call(t, s, "GET", "/api/v3/profiles/p1", own, nil); a.code != 404 {
		t.Errorf("GET the profile: %d", a.code)
	}
	// ?params= selects, processItem's params= keeps the stored (sealed)
	// values even with decode=true.
	if v := get(P + "?aggregate=true&decode=true&params=" + pSecret + ",absent"); len(v) != 1 || v[pSecret] != "from-p1" {
		t.Errorf("params=: %v", v)
	}
	must(t, s.SetParam(m1, pSecret, "own"))
	a := call(t, s, "GET", "/api/v3/machines/"+m1+"?decode=true&params="+pSecret, own, nil)
	var m models.Machine
	json.Unmarshal(a.body, &m)
	if !models.IsSecureData(m.Params[pSecret]) {
		t.Errorf("GET machine ?decode=true&params=: %v", m.Params[pSecret])
	}
}

// TestParamWrites: frontend/params.go mutator (lookup, then "update:<path>",
// then the backend's validation: 409) and backend/param.go ValidateValue (a
// Secure value must be sealed with the object's own public key).
func TestParamWrites(t *testing.T) {
	s := newTest(t)
	own, other := s.GenerateToken(m1), s.GenerateToken(m2)
	pubkey := func(uuid, tok string) []byte {
		var k []byte
		a := call(t, s, "GET", "/api/v3/machines/"+uuid+"/pubkey", tok, nil)
		if a.code != 200 || json.Unmarshal(a.body, &k) != nil || len(k) != 32 {
			t.Fatalf("pubkey: %d %s", a.code, a.body)
		}
		return k
	}
	seal := func(key []byte, v any) *models.SecureData {
		sd := &models.SecureData{}
		must(t, sd.Marshal(key, v))
		return sd
	}
	P := "/api/v3/machines/" + m1 + "/params/"
	runRows(t, s, []row{
		{"a Secure Param in plain: 409, the value quoted", "POST", P + pSecret, own, "plain-text", 409, "Key 'test/secret': invalid val 'plain-text'"},
		{"sealed with its own key: 200", "POST", P + pSecret, own, seal(pubkey(m1, own), "new-secret"), 200, `"Payload"`},
		{"sealed with another machine's key: 409", "POST", P + pSecret, own, seal(pubkey(m2, other), "x"), 409, "SecureData corrupted"},
		{"against the Schema: 409", "POST", P + pPlain, own, 42, 409, "Invalid type"},
		{"a Param no Schema knows: stored", "POST", P + "other/thing", own, map[string]any{"a": 1}, 200, `{"a":1}`},
		{"delete: the old value", "DELETE", P + "other/thing", own, nil, 200, `{"a":1}`},
		{"delete an absent Param: 404", "DELETE", P + "other/thing", own, nil, 404, "Not Found"},
		{"text/plain body: 400", "POST", P + pPlain, own, nil, 400, "Invalid content type"},
	})
	if got := s.Param(m1, pSecret); got != "new-secret" {
		t.Errorf("stored secret = %v", got)
	}
	// Bulk POST replaces all the object's Params.
	if a := call(t, s, "POST", "/api/v3/machines/"+m1+"/params", own, map[string]any{pPlain: "only"}); a.code != 200 || s.Param(m1, pSecret) != nil {
		t.Errorf("bulk: %d %s; secret %v", a.code, a.body, s.Param(m1, pSecret))
	}
	// SetWriteFault fails the write once the claims are checked.
	s.SetWriteFault(pPlain, 500)
	if a := call(t, s, "POST", P+pPlain, own, "z"); a.code != 500 || s.Param(m1, pPlain) != "only" {
		t.Errorf("write fault: %d %s", a.code, a.body)
	}
	if a := call(t, s, "POST", "/api/v3/machines/"+m2+"/params/"+pPlain, own, "z"); a.code != 403 {
		t.Errorf("write fault, another machine: %d", a.code)
	}
	s.SetWriteFault(pPlain, 0)
	if a := call(t, s, "POST", P+pPlain, own, "z"); a.code != 200 || s.Param(m1, pPlain) != "z" {
		t.Errorf("after the fault: %d %s", a.code, a.body)
	}
}

// TestMachineUpdate: frontend/frontend.go Update (PUT): the claims wanted
// are one "update:<path>" per path that changes (assureAuthUpdate), so an
// unchanged object passes for any token; backend/machines.go Validate.
func TestMachineUpdate(t *testing.T) {
	s := newTest(t)
	must(t, s.SetProfileParam("p1", pSecret, "profile-secret"))
	own, su := s.GenerateToken(m1), s.SuperuserToken()
	getM := func(uuid, tok string) map[string]any {
		var m map[string]any
		json.Unmarshal(call(t, s, "GET", "/api/v3/machines/"+uuid, tok, nil).body, &m)
		return m
	}
	me := getM(m1, own)
	me["Profiles"] = []string{"p1"}
	me["Address"] = "192.0.2.77"
	other := getM(m2, su)
	changed := getM(m2, su)
	changed["Profiles"] = []string{"p1"}
	wf := getM(m1, own)
	wf["Workflow"] = "x"
	renamed := getM(m1, own)
	renamed["Uuid"] = m2
	M := "/api/v3/machines/"
	runRows(t, s, []row{
		{"own machine: Profiles and Address", "PUT", M + m1, own, me, 200, `"192.0.2.77"`},
		{"another machine, unchanged: no claim wanted, 200", "PUT", M + m2, own, other, 200, m2},
		{"another machine, changed: 403", "PUT", M + m2, own, changed, 403, "Requires: machines update " + m2},
		{"a key change: 400", "PUT", M + m1, own, renamed, 400, "Key change from " + m1},
		{"a field the fake does not model: 501", "PUT", M + m1, own, wf, 501, "a change of Workflow"},
	})
	// Attached by the machine's own token, the profile's Secure value reads
	// in clear through the machine.
	a := call(t, s, "GET", M+m1+"/params/"+pSecret+"?aggregate=true&decode=true", own, nil)
	if strings.TrimSpace(string(a.body)) != `"secret-of-m1"` {
		t.Errorf("own value first: %s", a.body)
	}
	must(t, s.SetParam(m1, pSecret, nil))
	a = call(t, s, "GET", M+m1+"/params/"+pSecret+"?aggregate=true&decode=true", own, nil)
	if strings.TrimSpace(string(a.body)) != `"profile-secret"` {
		t.Errorf("the attached profile's secret: %s", a.body)
	}
	// A profile that does not exist: saved, not Available
	// (backend/machines.go Validate checks Profiles after SetValid).
	me = getM(m1, own)
	me["Profiles"] = []string{"p1", "nope"}
	if a := call(t, s, "PUT", M+m1, own, me); a.code != 200 || !strings.Contains(string(a.body), `"Available":false`) ||
		!strings.Contains(string(a.body), "Profile nope (at 1) does not exist") {
		t.Errorf("absent profile: %d %s", a.code, a.body)
	}
	me["Profiles"] = []string{"p1", "p1"}
	if a := call(t, s, "PUT", M+m1, own, me); a.code != 422 || !strings.Contains(string(a.body), "Duplicate profile p1") {
		t.Errorf("duplicate profile: %d %s", a.code, a.body)
	}
}

// TestProfileStoreUnwritable: a profile that only admins and the plugin
// (superuser) write: no machine, job or unknown-machine token can create
// it, write it or read it (frontend/frontend.go create, Update, Fetch;
// frontend/params.go; the tokens of backend/renderData.go).
func TestProfileStoreUnwritable(t *testing.T) {
	s := newTest(t)
	const store = "esxi-users-destinations"
	su := s.SuperuserToken()
	P := "/api/v3/profiles/"
	runRows(t, s, []row{
		{"machine token cannot create it", "POST", "/api/v3/profiles", s.GenerateToken(m1), map[string]any{"Name": store}, 403, "Requires: profiles create "},
		{"admin creates it", "POST", "/api/v3/profiles", su, map[string]any{"Name": store}, 201, `"Name":"` + store},
		{"a second time: 409", "POST", "/api/v3/profiles", su, map[string]any{"Name": store}, 409, "already exists"},
		{"an empty name: 400", "POST", "/api/v3/profiles", su, map[string]any{}, 400, "Empty key not allowed"},
		{"admin writes a Param", "POST", P + store + "/params/esxi-users/destination/" + m1, su, "server-a", 200, `"server-a"`},
		{"admin reads it", "GET", P + store + "/params", su, nil, 200, "server-a"},
	})
	must(t, s.AddTask([]byte(`{"Name":"t"}`)))
	job, err := s.JobToken(m1, "t")
	must(t, err)
	var prof map[string]any
	json.Unmarshal(call(t, s, "GET", P+store, su, nil).body, &prof)
	prof["Description"] = "changed"
	for name, tok := range map[string]string{
		"machine": s.GenerateToken(m1), "infinite": s.GenerateInfiniteToken(m1), "job": job, "unknown machine": s.GenerateToken(""),
	} {
		runRows(t, s, []row{
			{name + ": Param write", "POST", P + store + "/params/esxi-users/known-hosts", tok, "x", 403, "Requires: profiles update " + store},
			{name + ": bulk write", "POST", P + store + "/params", tok, map[string]any{}, 403, "Requires: profiles update " + store},
			{name + ": Param delete", "DELETE", P + store + "/params/esxi-users/destination/" + m1, tok, nil, 403, "Requires: profiles update " + store},
			{name + ": PUT", "PUT", P + store, tok, prof, 403, "Requires: profiles update " + store},
			{name + ": public key", "GET", P + store + "/pubkey", tok, nil, 403, "Requires: profiles updateSecure " + store},
			{name + ": GET", "GET", P + store, tok, nil, 404, "Not Found"},
		})
	}
	if v := s.ProfileParam(store, "esxi-users/destination/"+m1); v != "server-a" {
		t.Errorf("the record = %v", v)
	}
}

// fakePluginServer is an in-process stand-in for a plugin's to-socket that
// records the actions it receives and answers with reply.
type fakePluginServer struct {
	mu      sync.Mutex
	actions []models.Action
	code    int
	reply   any
}

func (f *fakePluginServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a models.Action
	json.NewDecoder(r.Body).Decode(&a)
	f.mu.Lock()
	f.actions = append(f.actions, a)
	code, reply := f.code, f.reply
	f.mu.Unlock()
	writeJSON(w, code, reply)
}

// addTestPlugin registers a configured plugin named name offering actions,
// whose to-socket is served by f.
func addTestPlugin(t *testing.T, s *Server, name string, f *fakePluginServer, actions ...models.AvailableAction) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "to.sock")
	ln, err := net.Listen("unix", sock)
	must(t, err)
	srv := &http.Server{Handler: f}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p := &Plugin{Name: name, s: s, Def: models.PluginProvider{Name: name, AvailableActions: actions},
		proc: &process{client: unixClient(sock)}}
	s.mu.Lock()
	s.configured = append(s.configured, p)
	s.mu.Unlock()
}

// TestActionParams: backend/requestTracker.go validateActionParameters and
// validateAction, backend/plugin_actions.go (an action's Model, else
// "system"), frontend/actions.go runAction and
// backend/plugin_messaging_client.go Action (the plugin's answer).
func TestActionParams(t *testing.T) {
	s := newTest(t)
	f := &fakePluginServer{code: 200, reply: map[string]any{"ok": true}}
	addTestPlugin(t, s, "plug", f,
		models.AvailableAction{Model: "machines", Command: "doIt", RequiredParams: []string{pReq}, OptionalParams: []string{pSecret, pPlain, pDflt, "test/unset"}},
		models.AvailableAction{Command: "systemOnly"})
	must(t, s.SetParam(m1, pPlain, "stored-plain"))
	own := s.GenerateToken(m1)
	A := "/api/v3/machines/" + m1 + "/actions/"
	calls := func() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.actions) }
	runRows(t, s, []row{
		{"a RequiredParam set nowhere: 400, plugin not called", "POST", A + "doIt", own, map[string]any{}, 400, "Action doIt Missing Parameter " + pReq},
		{"a body value against its Schema: 400", "POST", A + "doIt", own, map[string]any{pReq: "r", pPlain: 7}, 400, "Action doIt: Invalid Parameter: " + pPlain},
		{"another plugin named: 400", "POST", A + "doIt?plugin=other", own, map[string]any{pReq: "r"}, 400, "Action doIt on machines for plugin other not found"},
		{"an action without Model is a system action", "POST", A + "systemOnly", own, map[string]any{}, 400, "Action systemOnly on machines: Not Found"},
		{"text/plain: 400", "POST", A + "doIt", own, nil, 400, "Invalid content type"},
	})
	if n := calls(); n != 0 {
		t.Fatalf("the plugin was called %d times for refused actions", n)
	}
	// Filled: the body, then the machine's aggregated decoded Params, then
	// the Schema default; an Optional Param set nowhere is left out.
	must(t, s.SetProfileParam(GlobalProfile, pReq, "req-from-global"))
	a := call(t, s, "POST", A+"doIt?plugin=plug", own, map[string]any{pPlain: "from-body", "extra": 1})
	if a.code != 200 || strings.TrimSpace(string(a.body)) != `{"ok":true}` {
		t.Fatalf("action: %d %s", a.code, a.body)
	}
	got := f.actions[0]
	want := map[string]any{pPlain: "from-body", "extra": float64(1), pReq: "req-from-global", pSecret: "secret-of-m1", pDflt: "the-default"}
	if len(got.Params) != len(want) {
		t.Errorf("Params = %v, want %v", got.Params, want)
	}
	for k, v := range want {
		if got.Params[k] != v {
			t.Errorf("Params[%s] = %v, want %v", k, got.Params[k], v)
		}
	}
	if got.Command != "doIt" || got.CommandSet != "machines" || got.Plugin != "plug" || got.Model.(map[string]any)["Uuid"] != m1 {
		t.Errorf("action = %+v", got)
	}
	// The plugin's error body: its Code, Type INVOKE.
	f.mu.Lock()
	f.code, f.reply = 409, &models.Error{Code: 409, Type: "plugin", Messages: []string{"busy"}}
	f.mu.Unlock()
	a = call(t, s, "POST", A+"doIt", own, map[string]any{})
	if e := a.err(); a.code != 409 || e.Type != "INVOKE" || e.Messages[0] != "busy" {
		t.Errorf("plugin error: %d %s", a.code, a.body)
	}
}

// TestJobLog: frontend/jobs.go PUT /jobs/:uuid/log.
func TestJobLog(t *testing.T) {
	s := newTest(t)
	must(t, s.AddTask([]byte(`{"Name":"t"}`)))
	job, err := s.JobToken(m1, "t")
	must(t, err)
	id := s.CurrentJob(m1)
	put := func(tok, ctype string) int {
		return callRaw(t, s, "PUT", "/api/v3/jobs/"+id+"/log", tok, ctype, bytes.NewReader([]byte("line\n"))).code
	}
	for _, tc := range []struct {
		name, tok, ctype string
		want             int
	}{
		{"JSON: 415", job, "application/json", 415},
		{"another machine's token: 403", s.GenerateToken(m2), "application/octet-stream", 403},
		{"its job token", job, "application/octet-stream", 204},
		{"the machine's rendered token", s.GenerateToken(m1), "application/octet-stream", 204},
	} {
		if got := put(tc.tok, tc.ctype); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if s.JobLog(id) != "line\nline\n" {
		t.Errorf("log = %q", s.JobLog(id))
	}
	if a := callRaw(t, s, "PUT", "/api/v3/jobs/"+m2+"/log", job, "application/octet-stream", bytes.NewReader(nil)); a.code != 404 {
		t.Errorf("no such job: %d", a.code)
	}
}

// TestNotModeled: a route the fake does not serve is 501, saying so.
func TestNotModeled(t *testing.T) {
	s := newTest(t)
	a := call(t, s, "GET", "/api/v3/stages/none", s.SuperuserToken(), nil)
	if a.code != 501 || !strings.Contains(string(a.body), "drpfake does not model GET /api/v3/stages/none") {
		t.Errorf("%d %s", a.code, a.body)
	}
	sum := sha256.Sum256(s.API.Certificate().Raw)
	if s.CertSHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("CertSHA256 = %s", s.CertSHA256())
	}
}
