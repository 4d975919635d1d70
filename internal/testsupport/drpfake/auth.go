package drpfake

// Tokens and their claims, as dr-provision issues and checks them. Sources:
// the last public server code, github.com/hartsock/provision at 69af34ab
// (backend/renderData.go, backend/jwt-utils.go, backend/plugin.go,
// frontend/frontend.go), and the SDK v4.7.0 (models/role.go: the claim
// matching, used here as is; models/task.go and models/job.go: a job's
// token).

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digitalrebar/provision/v4/models"
)

// grant is what a token carries (backend/jwt-utils.go DrpCustomClaims):
// its claims and when it expires. The real token is an encrypted, signed
// JWT holding the same; here it is an opaque string the server looks up.
type grant struct {
	claims  []*models.Claim
	expires int64 // jwt StandardClaims.ExpiresAt: Unix seconds
}

// Token lifetimes.
const (
	// backend/renderData.go GenerateToken: knownTokenTimeout's default.
	knownTokenTimeout = time.Hour
	// backend/renderData.go GenerateToken: unknownTokenTimeout's default.
	unknownTokenTimeout = 10 * time.Minute
	// backend/renderData.go GenerateInfiniteToken: 3 years of 52 weeks.
	infiniteTokenTimeout = time.Hour * 24 * 7 * 52 * 3
	// backend/plugin.go startPlugin: the plugin's token.
	pluginTokenTimeout = time.Hour * 1000000
	// A job token's lifetime when its Task sets no ExtraDuration: "0
	// implies 720 hours" (RackN's Task model reference,
	// refs.rackn.io/stable/resources/models/content/task). The SDK v4.7.0
	// Task has no ExtraDuration (models/task.go), so a Task read through it
	// always gets this one.
	jobTokenTimeout = 720 * time.Hour
)

// machineClaims are the claims of a known machine's token
// (backend/renderData.go GenerateToken and GenerateInfiniteToken, the same
// list): the machine itself (get, actions, update, patch, action,
// getSecure, updateSecure), its jobs, read access to params, stages,
// tasks, bootenvs, isos, files and info, events, reservations, and every
// reservation action on the one for its address. ("patch" is not an
// action of the machines scope in models/role.go, so it matches nothing.)
func machineClaims(uuid string, address net.IP) []*models.Claim {
	return []*models.Claim{
		{Scope: "machines", Action: "get, actions, update, patch, action, getSecure, updateSecure", Specific: uuid},
		{Scope: "params", Action: "get", Specific: "*"},
		{Scope: "stages", Action: "get", Specific: "*"},
		{Scope: "jobs", Action: "create", Specific: uuid},
		{Scope: "jobs", Action: "get", Specific: uuid},
		{Scope: "jobs", Action: "update", Specific: uuid},
		{Scope: "jobs", Action: "actions", Specific: uuid},
		{Scope: "jobs", Action: "log", Specific: uuid},
		{Scope: "tasks", Action: "get", Specific: "*"},
		{Scope: "bootenvs", Action: "get", Specific: "*"},
		{Scope: "isos", Action: "get", Specific: "*"},
		{Scope: "files", Action: "get", Specific: "*"},
		{Scope: "info", Action: "get", Specific: "*"},
		{Scope: "events", Action: "post", Specific: "*"},
		{Scope: "reservations", Action: "get,create", Specific: "*"},
		{Scope: "reservations", Action: "*", Specific: models.Hexaddr(address)},
	}
}

// now is the fake's clock: the wall clock moved by Advance.
func (s *Server) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Add(s.skew)
}

// Advance moves the server's clock forward by d: tokens issued before
// expire as if d had passed (tests never sleep).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skew += d
}

// SetPref sets a preference the fake reads: knownTokenTimeout and
// unknownTokenTimeout (seconds, as a string; backend/renderData.go parses
// them with strconv.Atoi and ignores the error, so a bad value is 0 s).
func (s *Server) SetPref(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prefs[name] = value
}

// ttl is a token lifetime from a preference (seconds) or its default, as
// backend/renderData.go GenerateToken reads it.
func (s *Server) ttl(pref string, def time.Duration) time.Duration {
	s.mu.Lock()
	v := s.prefs[pref]
	s.mu.Unlock()
	if v == "" {
		return def
	}
	n, _ := strconv.Atoi(v)
	return time.Second * time.Duration(n)
}

// issue registers a token with claims for ttl from now.
func (s *Server) issue(claims []*models.Claim, ttl time.Duration) string {
	b := make([]byte, 24)
	rand.Read(b)
	tok := hex.EncodeToString(b)
	exp := s.now().Add(ttl).Unix()
	s.mu.Lock()
	s.tokens[tok] = &grant{claims: claims, expires: exp}
	s.mu.Unlock()
	return tok
}

// GenerateToken is what {{.GenerateToken}} renders into a machine's
// template (backend/renderData.go GenerateToken): for a known machine its
// machineClaims for knownTokenTimeout (default 3600 s); for uuid "" (an
// unknown machine) "machines create *" and "machines get *" for
// unknownTokenTimeout (default 600 s). It does not read the task: a Task's
// ExtraClaims never reach it.
func (s *Server) GenerateToken(uuid string) string {
	if uuid == "" {
		return s.issue([]*models.Claim{
			{Scope: "machines", Action: "create", Specific: "*"},
			{Scope: "machines", Action: "get", Specific: "*"},
		}, s.ttl("unknownTokenTimeout", unknownTokenTimeout))
	}
	return s.issue(s.knownClaims(uuid), s.ttl("knownTokenTimeout", knownTokenTimeout))
}

// GenerateInfiniteToken is {{.GenerateInfiniteToken}}
// (backend/renderData.go): the known machine's claims for three years; ""
// for an unknown machine. RackN's ESXi agent keeps one on the host.
func (s *Server) GenerateInfiniteToken(uuid string) string {
	if uuid == "" {
		return ""
	}
	return s.issue(s.knownClaims(uuid), infiniteTokenTimeout)
}

// knownClaims are machineClaims for a machine of the fake (its address as
// stored now).
func (s *Server) knownClaims(uuid string) []*models.Claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	var addr net.IP
	if o := s.objs["machines"][uuid]; o != nil {
		addr = o.model.(*models.Machine).Address
	}
	return machineClaims(uuid, addr)
}

// GenerateProfileToken is {{.GenerateProfileToken profile seconds}}
// (backend/renderData.go): get, getSecure, update and updateSecure on that
// profile and get on params, for seconds (0 or less: 2000000000 s). Like
// the real one it returns a refusal string instead of a token when the
// machine is unknown or does not have the profile, or the profile does not
// exist.
func (s *Server) GenerateProfileToken(uuid, profile string, seconds int) string {
	if uuid == "" {
		return "UnknownMachineTokenNotAllowed"
	}
	s.mu.Lock()
	m := s.objs["machines"][uuid]
	p := s.objs["profiles"][profile]
	s.mu.Unlock()
	if m == nil || !slices.Contains(m.model.(*models.Machine).Profiles, profile) {
		return "InvalidTokenNotAllowedNotOnMachine"
	}
	if p == nil {
		return "InvalidTokenNotAllowedNoProfile"
	}
	if seconds <= 0 {
		seconds = 2000000000
	}
	return s.issue([]*models.Claim{
		{Scope: "profiles", Action: "get", Specific: profile},
		{Scope: "profiles", Action: "getSecure", Specific: profile},
		{Scope: "profiles", Action: "update", Specific: profile},
		{Scope: "profiles", Action: "updateSecure", Specific: profile},
		{Scope: "params", Action: "get", Specific: "*"},
	}, time.Second*time.Duration(seconds))
}

// SuperuserToken is a token with the claim "* * *": what dr-provision
// gives a plugin (backend/plugin.go startPlugin, for 1,000,000 hours) and
// what an admin's role holds.
func (s *Server) SuperuserToken() string {
	return s.issue([]*models.Claim{{Scope: "*", Action: "*", Specific: "*"}}, pluginTokenTimeout)
}

// JobToken creates a job on machine uuid for task (the machine's
// CurrentJob from then on; its State "running", as while the agent runs
// its scripts) and returns the job's token: what the Go agent passes to
// the job's scripts as RS_TOKEN (SDK v4.7.0 agent/taskRunner.go).
// Its claims are the machine's (as GenerateToken's), then the claims of
// the Task's ExtraRoles, then its ExtraClaims (models/task.go: "added
// _after_ any added by ExtraRoles"; models/job.go: Job.ExtraClaims and
// Job.Token, SDK >= v4.1.1). The job-token code is not public; its
// lifetime is RackN's documented default for a Task without
// ExtraDuration, 720 hours.
func (s *Server) JobToken(uuid, task string) (string, error) {
	s.mu.Lock()
	t := s.tasks[task]
	m := s.objs["machines"][uuid]
	var extra []*models.Claim
	if t != nil {
		for _, rn := range t.ExtraRoles {
			if r := s.roles[rn]; r != nil {
				extra = append(extra, r.Claims...)
			}
		}
		extra = append(extra, t.ExtraClaims...)
	}
	s.mu.Unlock()
	switch {
	case m == nil:
		return "", fmt.Errorf("drpfake: no machine %s", uuid)
	case t == nil:
		return "", fmt.Errorf("drpfake: no task %s", task)
	}
	job := newUUID()
	s.mu.Lock()
	s.jobs[job] = &jobRecord{machine: uuid, task: task, state: "running"}
	models.Remarshal(map[string]any{"CurrentJob": job}, m.model)
	s.mu.Unlock()
	return s.issue(append(s.knownClaims(uuid), extra...), jobTokenTimeout), nil
}

// authenticate finds the request's token as frontend/frontend.go userAuth
// does, or answers: no Authorization header (and no ?token=) or a malformed
// one is 401 with no body; a Bearer token that is unknown or expired is
// 403 "Invalid Token :<reason>" (the token itself is the second message,
// as the real server echoes it); Basic auth is 403 "Access Denied" (the
// fake has no users).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*grant, bool) {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		q := r.URL.Query().Get("token")
		switch {
		case q == "":
		case strings.Contains(q, ":"):
			hdr = "Basic " + q
		default:
			hdr = "Bearer " + q
		}
	}
	kind, tok, ok := strings.Cut(hdr, " ")
	if !ok || (kind != "Basic" && kind != "Bearer") {
		w.Header().Set("WWW-Authenticate", "dr-provision")
		w.WriteHeader(http.StatusUnauthorized)
		return nil, false
	}
	if kind == "Basic" {
		writeJSON(w, http.StatusForbidden, &models.Error{Code: http.StatusForbidden, Model: "users", Messages: []string{"Access Denied"}})
		return nil, false
	}
	s.mu.Lock()
	g := s.tokens[tok]
	s.mu.Unlock()
	reason := "drpfake: not a token this server issued"
	if g != nil {
		// jwt-go StandardClaims.Valid: expired once now > ExpiresAt.
		now := s.now().Unix()
		if now <= g.expires {
			return g, true
		}
		reason = fmt.Sprintf("token is expired by %v", time.Unix(now, 0).Sub(time.Unix(g.expires, 0)))
	}
	w.Header().Set("WWW-Authenticate", "dr-provision")
	writeJSON(w, http.StatusForbidden, &models.Error{Code: http.StatusForbidden, Model: "system",
		Messages: []string{"Invalid Token :" + reason, tok}})
	return nil, false
}

// match reports whether the token's claims contain every wanted claim:
// frontend/frontend.go authBlob.matchClaim, which compiles the token's
// claims as one Role (backend/jwt-utils.go ClaimsList) and matches with
// the SDK's models.ClaimsList.Match.
func (g *grant) match(wanted models.Claims) bool {
	if len(g.claims) == 0 {
		return false
	}
	have := models.ClaimsList{(&models.Role{Claims: g.claims}).Compile()}
	return have.Match(wanted)
}

// assure is frontend/frontend.go assureAuth: when the token lacks the
// wanted claims, a "get" answers 404 Not Found (the object's existence is
// not revealed) and anything else 403 "Requires: <scope> <action>
// <specific>". (isLicensed matters only for roles and tenants, which the
// fake does not serve.)
func assure(w http.ResponseWriter, r *http.Request, g *grant, wanted models.Claims, scope, action, specific string) bool {
	if g.match(wanted) {
		return true
	}
	if action == "get" {
		writeJSON(w, http.StatusNotFound, &models.Error{Model: scope, Key: specific, Type: r.Method,
			Code: http.StatusNotFound, Messages: []string{"Not Found"}})
		return false
	}
	writeJSON(w, http.StatusForbidden, &models.Error{Type: "AUTH", Code: http.StatusForbidden,
		Messages: []string{"Cannot access " + r.URL.String(), fmt.Sprintf("Requires: %s %s %s", scope, action, specific)}})
	return false
}

// assureSimple is frontend/frontend.go assureSimpleAuth: one wanted claim.
func assureSimple(w http.ResponseWriter, r *http.Request, g *grant, scope, action, specific string) bool {
	return assure(w, r, g, models.MakeRole("", scope, action, specific).Compile(), scope, action, specific)
}

// assureUpdate is frontend/frontend.go assureAuthUpdate: one claim
// "update:<path>" per line of the JSON patch the write makes ("test" lines
// skipped, "move" also needs its source), so a bare "update" (which
// models/role.go lets cover every path) or "update:/Params/<name>"
// suffices. An empty patch (nothing changes) wants no claim and passes for
// any token that has at least one.
func assureUpdate(w http.ResponseWriter, r *http.Request, g *grant, scope, specific string, paths []patchLine) bool {
	var claims []string
	for _, l := range paths {
		switch l.Op {
		case "test":
			continue
		case "move":
			claims = append(claims, scope, "update:"+l.From, specific)
		}
		claims = append(claims, scope, "update:"+l.Path, specific)
	}
	return assure(w, r, g, models.MakeRole("", claims...).Compile(), scope, "update", specific)
}
