package chaos_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	esxcli "github.com/vmware/govmomi/cli/esx"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/netfault"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// The representative run: add, set with a role change, remove, set of a
// missing user. olduser (Admin) and goneuser (ReadOnly) exist before it.
const list = `
- {id: newuser, operation: add, description: New User, password: 'N3w-Passw0rd!x', role: Admin}
- {id: olduser, operation: set, description: Old User, password: 'S3t-Passw0rd!y', role: ReadOnly}
- {id: goneuser, operation: remove}
- {id: lateuser, operation: set, description: Late User, password: 'L4te-Passw0rd!z', role: NoAccess}
`

var passwords = map[string]string{"newuser": "N3w-Passw0rd!x", "olduser": "S3t-Passw0rd!y", "lateuser": "L4te-Passw0rd!z"}

func passwordList() []string {
	var l []string
	for _, pw := range passwords {
		l = append(l, pw)
	}
	return l
}

// changes is what the list does to the host's state.
var changes = map[string]tasks.Observation{
	"newuser":  {Exists: true, Role: "Admin", Description: "New User"},
	"olduser":  {Exists: true, Role: "ReadOnly", Description: "Old User"},
	"goneuser": {},
	"lateuser": {Exists: true, Role: "NoAccess", Description: "Late User"},
}

const (
	// callTimeout is the per-call timeout of the runs; lateTimeout that of
	// the "answer late" runs: short, so that an answer later than it costs
	// little. (A call slowed down by a loaded machine is one more transient
	// fault, which a run must survive anyway.)
	callTimeout = 3 * time.Second
	lateTimeout = time.Second
	// latency is the latency fault's delay, each way: far below
	// callTimeout, so its runs must make no retry.
	latency = 20 * time.Millisecond
)

// state is a host's users and root-folder roles, by id.
type state map[string]tasks.Observation

func (s state) String() string {
	var lines []string
	for id, o := range s {
		lines = append(lines, fmt.Sprintf("%s=%+v", id, o))
	}
	sort.Strings(lines)
	return strings.Join(lines, " ")
}

// target is a simulator that runs reach through the proxy, and an
// independent govmomi client that reads it directly.
type target struct {
	kind     string // "esx" or "vihost"
	sim      *esxsim.Server
	vc       *esxsim.VCenter
	upstream string
	thumb    string
	user, pw string
	vihost   string
	c        *vim25.Client                // the independent client, once logged in
	roles    object.AuthorizationRoleList // esx: the host's roles
	host     *object.HostSystem           // vihost: the managed host
	accounts types.ManagedObjectReference // vihost: its account manager
	access   types.ManagedObjectReference // vihost: its access manager
}

func newTarget(t *testing.T, kind string) *target {
	t.Helper()
	tg := &target{kind: kind}
	var u *url.URL
	if kind == "esx" {
		sim, err := esxsim.Start(esxsim.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		tg.sim, u, tg.thumb = sim, sim.URL, sim.Thumbprint
	} else {
		vc, err := esxsim.StartVCenter(esxsim.VCenterOptions{Hosts: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(vc.Close)
		tg.vc, u, tg.thumb, tg.vihost = vc, vc.URL, vc.Thumbprint, vc.Hosts[0]
	}
	tg.upstream, tg.user = u.Host, u.User.Username()
	tg.pw, _ = u.User.Password()
	tg.setup(t)
	return tg
}

// writes is the number of write calls the host has received.
func (tg *target) writes() int {
	if tg.sim != nil {
		return tg.sim.Writes()
	}
	return tg.vc.Writes()
}

func (tg *target) expire(f func(n int, method string) bool) {
	if tg.sim != nil {
		tg.sim.ExpireSessionsWhen(f)
	} else {
		tg.vc.ExpireSessionsWhen(f)
	}
}

// client is the independent client: logged in directly (not through the
// proxy), once per target.
func (tg *target) client(t *testing.T) *vim25.Client {
	t.Helper()
	if tg.c != nil {
		return tg.c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		c   *vim25.Client
		err error
	)
	if tg.sim != nil {
		c, _, err = tg.sim.Client(ctx) // logged out when the simulator closes
	} else {
		c, _, err = tg.vc.Client(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	tg.c = c
	return c
}

// hostManagers finds the managed host and its account and access managers.
func (tg *target) hostManagers(t *testing.T, ctx context.Context, c *vim25.Client) {
	t.Helper()
	hosts, err := find.NewFinder(c).HostSystemList(ctx, "*")
	if err != nil || len(hosts) != 1 {
		t.Fatalf("hosts %v: %v", hosts, err)
	}
	var hs mo.HostSystem
	if err := hosts[0].Properties(ctx, hosts[0].Reference(), []string{"configManager"}, &hs); err != nil {
		t.Fatal(err)
	}
	tg.host, tg.accounts, tg.access = hosts[0], *hs.ConfigManager.AccountManager, *hs.ConfigManager.HostAccessManager
}

// setup creates olduser (Admin) and goneuser (ReadOnly).
func (tg *target) setup(t *testing.T) {
	t.Helper()
	c := tg.client(t)
	ctx := context.Background()
	users := []struct{ id, desc, role string }{{"olduser", "Old User", "Admin"}, {"goneuser", "Gone User", "ReadOnly"}}
	if tg.kind == "esx" {
		am := object.NewHostAccountManager(c, *c.ServiceContent.AccountManager)
		authz := object.NewAuthorizationManager(c)
		roles, err := authz.RoleList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tg.roles = roles
		for _, u := range users {
			if err := am.Create(ctx, &types.HostAccountSpec{Id: u.id, Description: u.desc, Password: "0ld-Passw0rd!q"}); err != nil {
				t.Fatal(err)
			}
			p := types.Permission{Principal: u.id, RoleId: roles.ByName(u.role).RoleId, Propagate: true}
			if err := authz.SetEntityPermissions(ctx, c.ServiceContent.RootFolder, []types.Permission{p}); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	tg.hostManagers(t, ctx, c)
	am, access := object.NewHostAccountManager(c, tg.accounts), tg.access
	modes := map[string]types.HostAccessMode{"Admin": types.HostAccessModeAccessAdmin, "ReadOnly": types.HostAccessModeAccessReadOnly}
	for _, u := range users {
		if err := am.Create(ctx, &types.HostAccountSpec{Id: u.id, Description: u.desc, Password: "0ld-Passw0rd!q"}); err != nil {
			t.Fatal(err)
		}
		if _, err := methods.ChangeAccessMode(ctx, c, &types.ChangeAccessMode{This: access, Principal: u.id, AccessMode: modes[u.role]}); err != nil {
			t.Fatal(err)
		}
	}
}

// read is the host's state as an independent govmomi client reads it,
// directly: through the vim API on ESXi, through esxcli via vCenter.
func (tg *target) read(t *testing.T) state {
	t.Helper()
	c := tg.client(t)
	ctx := context.Background()
	st := state{}
	if tg.kind == "esx" {
		res, err := methods.RetrieveUserGroups(ctx, c, &types.RetrieveUserGroups{This: *c.ServiceContent.UserDirectory, FindUsers: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Returnval {
			u := r.GetUserSearchResult()
			st[u.Principal] = tasks.Observation{Exists: true, Description: u.FullName}
		}
		authz := object.NewAuthorizationManager(c)
		perms, err := authz.RetrieveEntityPermissions(ctx, c.ServiceContent.RootFolder, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range perms {
			o := st[p.Principal]
			o.Role = tg.roles.ById(p.RoleId).Name
			st[p.Principal] = o
		}
		return st
	}
	e, err := esxcli.NewExecutor(ctx, c, tg.host)
	if err != nil {
		t.Fatal(err)
	}
	users, err := e.Run(ctx, []string{"system", "account", "list"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range users.Values {
		st[v.Value("UserID")] = tasks.Observation{Exists: true, Description: v.Value("Description")}
	}
	perms, err := e.Run(ctx, []string{"system", "permission", "list"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range perms.Values {
		o := st[v.Value("Principal")]
		o.Role = v.Value("RoleName")
		st[v.Value("Principal")] = o
	}
	return st
}

// passwordOK reports whether id's password on the host is pw: a login
// that succeeds or is refused only for lack of permission (NoAccess).
func (tg *target) passwordOK(t *testing.T, id, pw string) bool {
	t.Helper()
	if tg.vc != nil {
		valid, _, err := tg.vc.CheckHostLogin(tg.vihost, id, pw)
		if err != nil {
			t.Fatal(err)
		}
		return valid
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := soap.NewClient(&url.URL{Scheme: "https", Host: tg.upstream, Path: "/sdk"}, true)
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	err = session.NewManager(c).Login(ctx, url.UserPassword(id, pw))
	if err == nil {
		session.NewManager(c).Logout(ctx)
		return true
	}
	return esx.IsFault(err, &types.NoPermission{})
}

// want is the host's state after the list.
func want(before state) state {
	s := state{}
	for id, o := range before {
		s[id] = o
	}
	for id, o := range changes {
		if o.Exists {
			s[id] = o
		} else {
			delete(s, id)
		}
	}
	return s
}

// recorder is the client's HTTP transport hook: it numbers the requests,
// names their SOAP method, and applies the case's fault.
type recorder struct {
	next    http.RoundTripper
	mu      sync.Mutex
	methods []string
	fault   func(n int, method string) (undo func())
}

var bodyMethod = regexp.MustCompile(`<(?:\w+:)?Body[^>]*>\s*<(?:\w+:)?(\w+)`)

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	method := "?"
	if m := bodyMethod.FindSubmatch(body); m != nil {
		method = string(m[1])
	}
	r.mu.Lock()
	r.methods = append(r.methods, method)
	n := len(r.methods)
	fault := r.fault
	r.mu.Unlock()
	if fault != nil {
		if undo := fault(n, method); undo != nil {
			defer undo()
		}
	}
	return r.next.RoundTrip(req)
}

// run applies the list through proxy (or directly when proxy is ""), with
// a per-call timeout (callTimeout when 0).
func (tg *target) run(t *testing.T, proxy string, rec *recorder, logs io.Writer, timeout time.Duration) (*tasks.Report, error) {
	t.Helper()
	server := tg.upstream
	if proxy != "" {
		server = proxy
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return job.Run(ctx, job.Config{
		Connection: job.Connection{
			Server:     server,
			Username:   tg.user,
			Password:   params.NewPassword(tg.pw),
			Thumbprint: tg.thumb,
			Timeout:    cmp.Or(timeout, callTimeout),
			Retry:      tasks.RetryPolicy{Backoff: time.Millisecond},
			Dial: func(ctx context.Context, cfg esx.Config) (tasks.Host, func() error, error) {
				cfg.WrapTransport = func(next http.RoundTripper) http.RoundTripper { rec.next = next; return rec }
				if tg.vihost != "" {
					h, closeFn, err := esx.DialViHost(ctx, cfg, tg.vihost)
					if err != nil {
						return nil, nil, err
					}
					return h, closeFn, nil
				}
				return job.DialHost(ctx, cfg)
			},
		},
		Options: job.Options{Input: []byte(list), Log: slog.New(slog.NewTextHandler(logs, nil))},
		ViHost:  tg.vihost,
	})
}

// checkDone asserts the host is exactly as the list says, passwords too.
func (tg *target) checkDone(t *testing.T, before state, what string) {
	t.Helper()
	if got, w := tg.read(t), want(before); got.String() != w.String() {
		t.Errorf("%s: host\n got %s\nwant %s", what, got, w)
	}
	for id, pw := range passwords {
		if !tg.passwordOK(t, id, pw) {
			t.Errorf("%s: %s's password is not the list's", what, id)
		}
	}
}

// checkReport asserts that the report of a failed run matches the host,
// entry by entry: done entries as the list says, the failed one as its
// observed, not-run ones as they were before the run; and other ids
// untouched.
func (tg *target) checkReport(t *testing.T, rep *tasks.Report, before state) {
	t.Helper()
	got := tg.read(t)
	for _, r := range rep.Results {
		var w tasks.Observation
		switch r.Outcome {
		case tasks.Created, tasks.Updated, tasks.Unchanged, tasks.Removed, tasks.Absent:
			w = changes[r.ID]
		case tasks.Failed:
			if r.Observed == nil || r.Observed.Unreadable {
				t.Errorf("entry %d failed without an observed state: %+v", r.Index, r)
				continue
			}
			w = *r.Observed
		case tasks.NotRun:
			w = before[r.ID]
		default:
			t.Errorf("entry %d: outcome %s", r.Index, r.Outcome)
			continue
		}
		if got[r.ID] != w {
			t.Errorf("entry %d (%s, %s): host has %+v, report implies %+v", r.Index, r.ID, r.Outcome, got[r.ID], w)
		}
	}
	for id, o := range before {
		if _, listed := changes[id]; !listed && got[id] != o {
			t.Errorf("%s changed: %+v, was %+v", id, got[id], o)
		}
	}
}

type fault struct {
	name string
	// net adds the toxic(s) "f", "g"; nil: the simulator ends the session.
	net func(p *netfault.Proxy) error
	// fromK: persisting, the toxic stays from request k to the end (not
	// only on the later requests of request k's method).
	fromK bool
	// timeout is the runs' per-call timeout (callTimeout when 0).
	timeout time.Duration
	// noRetry: the run must make no retry at all.
	noRetry bool
}

var faults = []fault{
	// The request is dropped and the connection reset: never forwarded.
	{name: "reset before forward", net: func(p *netfault.Proxy) error { return p.ResetBeforeForward("f") }},
	// The host applies the request; the connection closes before any of
	// its answer is forwarded (limit_data 0, downstream).
	{name: "answer lost", net: func(p *netfault.Proxy) error { return p.LoseAnswers("f") }},
	// The host applies the request; its answer is held back until the
	// call has timed out (timeout toxic, downstream).
	{name: "answer late", timeout: lateTimeout, net: func(p *netfault.Proxy) error { return p.HoldAnswers("f") }},
	// Latency on both streams, below the call's timeout.
	{name: "latency", fromK: true, noRetry: true, net: func(p *netfault.Proxy) error {
		if err := p.Latency("f", "upstream", latency); err != nil {
			return err
		}
		return p.Latency("g", "downstream", latency)
	}},
	// The host ends the session (NotAuthenticated).
	{name: "session expired"},
}

// TestMain runs up to 8 cases of the matrix at a time (unless -parallel is
// given): they mostly wait for timeouts, on 2 cores.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}

// TestChaos runs the matrix: targets × faults × {once, persisting} × every
// request index of the fault-free run (with -short, a sample of them:
// sampled).
func TestChaos(t *testing.T) {
	var mu sync.Mutex
	total, recovered, failedTrue := 0, 0, 0
	for _, kind := range []string{"esx", "vihost"} {
		t.Run(kind, func(t *testing.T) {
			// The fault-free run: its requests, and that it is right.
			tg := newTarget(t, kind)
			before := tg.read(t)
			rec := &recorder{}
			var logs bytes.Buffer
			w0 := tg.writes()
			if _, err := tg.run(t, "", rec, &logs, 0); err != nil {
				t.Fatalf("fault-free run: %v\n%s", err, &logs)
			}
			baseWrites := tg.writes() - w0
			tg.checkDone(t, before, "fault-free run")
			requests := rec.methods
			t.Logf("%s: %d requests: %s", kind, len(requests), strings.Join(requests, " "))
			for _, f := range faults {
				for _, persist := range []bool{false, true} {
					mode := map[bool]string{false: "once", true: "persisting"}[persist]
					for k := 1; k <= len(requests); k++ {
						if !sampled(k, len(requests)) {
							continue
						}
						t.Run(fmt.Sprintf("%s %s at %d %s", f.name, mode, k, requests[k-1]), func(t *testing.T) {
							t.Parallel()
							ok := chaosCase(t, kind, f, persist, k, requests[k-1], baseWrites)
							mu.Lock()
							total++
							if ok {
								recovered++
							} else {
								failedTrue++
							}
							mu.Unlock()
						})
					}
				}
			}
		})
	}
	t.Logf("chaos matrix: %d runs: %d recovered (exit 0, host as listed), %d failed with a report matching the host (and converged on rerun)", total, recovered, failedTrue)
}

// sampled reports whether the cell at request k of n runs: every one,
// or with -short the first, the middle and the last request (the login,
// a write in the middle of the list, the logout) for every target, fault
// and mode — the same sample each run; `make test` runs them all.
func sampled(k, n int) bool {
	return !testing.Short() || k == 1 || k == n/2+1 || k == n
}

// chaosCase runs one cell; it reports whether the run recovered. A run that
// recovers from a fault at one request writes no more than the fault-free
// run (baseWrites): a write whose answer was lost is not repeated — except
// UpdateUser that leaves the description as it was, since the password
// cannot be read back.
func chaosCase(t *testing.T, kind string, f fault, persist bool, k int, methodK string, baseWrites int) bool {
	tg := newTarget(t, kind)
	before := tg.read(t)
	proxy, err := netfault.Start(tg.upstream)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	hit := func(n int, method string) bool { return n == k || (persist && n > k && method == methodK) }
	rec := &recorder{}
	if f.net != nil {
		rec.fault = func(n int, method string) func() {
			if f.fromK && persist {
				if n == k {
					if err := f.net(proxy); err != nil {
						t.Error(err)
					}
				}
				return nil
			}
			if !hit(n, method) {
				return nil
			}
			if err := f.net(proxy); err != nil {
				t.Error(err)
				return nil
			}
			return func() {
				for _, name := range []string{"f", "g"} {
					if err := proxy.Remove(name); err != nil && name == "f" {
						t.Error(err)
					}
				}
			}
		}
	} else {
		fired := false
		tg.expire(func(n int, method string) bool {
			switch {
			case persist:
				return n >= k && method == methodK
			case !fired && n >= k:
				fired = true
				return true
			}
			return false
		})
	}
	var logs bytes.Buffer
	w0 := tg.writes()
	rep, err := tg.run(t, proxy.Addr, rec, &logs, f.timeout)
	writes := tg.writes() - w0
	tg.expire(nil)
	code := errkind.ExitCode(err)
	// No password in the log, the report or the error, whatever happened.
	b, _ := json.Marshal(rep)
	all := logs.String() + string(b) + fmt.Sprint(err)
	for _, pw := range append([]string{tg.pw}, passwordList()...) {
		if strings.Contains(all, pw) {
			t.Errorf("a password is in the log, report or error:\n%s", all)
		}
	}
	if f.noRetry && strings.Contains(logs.String(), "retrying") {
		t.Errorf("latency below the call's timeout caused a retry:\n%s", &logs)
	}
	if code == 0 {
		tg.checkDone(t, before, "run")
		allowed := baseWrites
		if (f.name == "answer lost" || f.name == "answer late") && methodK == "UpdateUser" {
			allowed++
		}
		if !persist && writes != allowed {
			t.Errorf("%d writes reached the host, want %d", writes, allowed)
		}
		if t.Failed() {
			t.Logf("log:\n%s", &logs)
		}
		return true
	}
	if !persist {
		t.Errorf("a transient fault was not recovered from: exit %d: %v\n%s", code, err, &logs)
	}
	if code != errkind.ExitApply && code != errkind.ExitConnect {
		t.Errorf("exit %d: %v", code, err)
	}
	tg.checkReport(t, rep, before)
	if t.Failed() {
		t.Logf("err: %v\nlog:\n%s", err, &logs)
	}
	// A rerun converges.
	var relog bytes.Buffer
	for _, name := range []string{"f", "g"} {
		proxy.Remove(name) // a toxic that stays from k on
	}
	if _, err := tg.run(t, proxy.Addr, &recorder{}, &relog, 0); err != nil {
		t.Errorf("rerun: %v\n%s", err, &relog)
	}
	tg.checkDone(t, before, "rerun")
	return false
}
