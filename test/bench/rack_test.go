//go:build unix

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/drpfake"
	"github.com/esxi-users/esxi-users/internal/testsupport/pluginbuild"
)

// The rack of `make bench`: rackMachines machines, each with its own
// simulated ESXi host (one simulator each: about 0.8 MB and 0.1 s to start
// apiece, measured), post the esxiManageUsers action at the same moment,
// as their esxi-manage-users jobs do, through the fake DRP to the real
// plugin binary. Every host answers each call rackLatency late (its
// request hook), like a host on a network; each run adds rackUsers users
// with a role.
const (
	rackMachines = 500
	rackLatency  = 3 * time.Millisecond
	rackUsers    = 2
	// restartParam is a Param of no meaning set on the plugin to restart
	// it (DRP restarts a plugin whose Params change).
	restartParam = "esxi-users/bench-restart"
)

type rackMachine struct {
	uuid, token string
	sim         *esxsim.Server
}

type rack struct {
	fake   *drpfake.Server
	plugin *drpfake.Plugin
	gauge  *esxsim.SessionGauge
	hosts  []rackMachine
	warm   rackMachine // one run before each measurement
	admin  string
	round  int
	waits  map[string]int // wait lines in each machine's job log so far
}

func startRack(b *testing.B) *rack {
	b.Helper()
	build, err := pluginbuild.All(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv("GOTRACEBACK", "all") // the plugin's SIGQUIT dump lists every goroutine
	r := &rack{fake: drpfake.NewForPack(b), gauge: &esxsim.SessionGauge{}, waits: map[string]int{}}
	r.admin = r.fake.SuperuserToken()
	for i := range rackMachines + 1 {
		m := r.machine(b, i)
		if i == rackMachines {
			r.warm = m
		} else {
			r.hosts = append(r.hosts, m)
		}
	}
	// Unix socket paths must be short.
	dir, err := os.MkdirTemp("", "eu")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if r.plugin, err = r.fake.StartPlugin(ctx, build.Plugin, dir, nil); err != nil {
		b.Fatal(err)
	}
	return r
}

func (r *rack) machine(b *testing.B, i int) rackMachine {
	sim, err := esxsim.Start(esxsim.Options{Sessions: r.gauge})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	sim.OnRequest(func(int, string) { time.Sleep(rackLatency) })
	uuid := fmt.Sprintf("6e5a0000-0000-4000-8000-%012d", i)
	if err := r.fake.AddMachine(uuid, fmt.Sprintf("esx%03d", i), ""); err != nil {
		b.Fatal(err)
	}
	pw, _ := sim.URL.User.Password()
	for k, v := range map[string]any{content.ParamServer: sim.URL.Host, content.ParamThumbprint: sim.Thumbprint, content.ParamPassword: pw} {
		if err := r.fake.SetParam(uuid, k, v); err != nil {
			b.Fatal(err)
		}
	}
	token, err := r.fake.JobToken(uuid, content.TaskName) // its running job posts the action
	if err != nil {
		b.Fatal(err)
	}
	return rackMachine{uuid: uuid, token: token, sim: sim}
}

// setUsers gives m a list of rackUsers new users (ids unique to the round).
func (r *rack) setUsers(b *testing.B, m rackMachine, tag string) {
	var list []any
	for j := range rackUsers {
		list = append(list, map[string]any{"id": fmt.Sprintf("%s-u%d", tag, j), "operation": "add", "password": password, "role": "ReadOnly"})
	}
	if err := r.fake.SetParam(m.uuid, content.ParamUsers, list); err != nil {
		b.Fatal(err)
	}
}

// setPlugin sets a Param on the plugin through the API, as an admin does;
// a change restarts the plugin.
func (r *rack) setPlugin(b *testing.B, name string, v any) {
	b.Helper()
	body := fmt.Sprintf("%v", v)
	if s, ok := v.(string); ok {
		body = strconv.Quote(s)
	}
	req, _ := http.NewRequest(http.MethodPost, r.fake.Endpoint()+"/api/v3/plugins/"+content.PluginName+"/params/"+name, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.admin)
	resp, err := r.fake.API.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || r.plugin.Pid() == 0 {
		b.Fatalf("set %s on the plugin: %d; plugin pid %d\n%s", name, resp.StatusCode, r.plugin.Pid(), r.plugin.Output())
	}
}

// post posts m's action with its job's token and checks the answer.
func (r *rack) post(m rackMachine) error {
	req, _ := http.NewRequest(http.MethodPost, r.fake.Endpoint()+"/api/v3/machines/"+m.uuid+"/actions/"+content.ActionName+"?plugin="+content.PluginName, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := r.fake.API.Client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(out.String(), `"ok":true`) {
		return fmt.Errorf("%s: %d %s", m.uuid, resp.StatusCode, out.String())
	}
	return nil
}

// freshPlugin restarts the plugin with limit and runs the warm-up machine
// once, so that it is as a plugin is before a rack starts.
func (r *rack) freshPlugin(b *testing.B, limit int, why string) int {
	b.Helper()
	r.round++
	r.setPlugin(b, content.ParamMaxParallelRuns, limit)
	r.setPlugin(b, restartParam, fmt.Sprintf("%s, limit %d, round %d", why, limit, r.round))
	r.setUsers(b, r.warm, fmt.Sprintf("w%d", r.round))
	if err := r.post(r.warm); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	return r.plugin.Pid()
}

// rackMeasure is one rack run and the plugin process that served it.
type rackMeasure struct {
	limit               int
	wall                time.Duration
	hwmKB, rssKB        int64 // the plugin's peak (VmHWM) and final resident set
	baseKB              int64 // the baseline process's peak, after its one run
	maxSessions         int   // most sessions open on the hosts at once
	logins              int
	waited              int // runs that logged a wait line in their job's log
	before, after       int // the plugin's goroutines (SIGQUIT dumps)
	beforeTop, afterTop map[string]int
}

// measureRack: a fresh plugin with limit is dumped (SIGQUIT) for its
// goroutines after one warm-up run: the baseline; then another, warmed up
// alike, serves every machine's action at once; its peak RSS is read, and
// after the last answer (and settle for connections to close) its
// goroutines are dumped.
func (r *rack) measureRack(b *testing.B, limit int, settle time.Duration) rackMeasure {
	b.Helper()
	m := rackMeasure{limit: limit}
	pid := r.freshPlugin(b, limit, "baseline")
	m.baseKB = procStatus(b, pid, "VmHWM:")
	m.before, m.beforeTop = r.goroutines(b, pid)

	pid = r.freshPlugin(b, limit, "rack")
	round := r.round
	for _, h := range r.hosts {
		r.setUsers(b, h, fmt.Sprintf("r%d", round))
	}
	logins0 := 0
	for _, h := range r.hosts {
		logins0 += h.sim.Logins()
	}
	r.gauge.ResetPeak()
	var wg sync.WaitGroup
	errs := make(chan error, len(r.hosts))
	start := make(chan struct{})
	for _, h := range r.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := r.post(h); err != nil {
				errs <- err
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	m.wall = time.Since(t0)
	close(errs)
	for err := range errs {
		b.Fatalf("N=%d: %v", limit, err)
	}
	m.maxSessions = r.gauge.Peak()
	for _, h := range r.hosts {
		m.logins += h.sim.Logins()
		if _, ok := h.sim.Users()[fmt.Sprintf("r%d-u%d", round, rackUsers-1)]; !ok {
			b.Fatalf("%s: the round's users are not on its host", h.uuid)
		}
		waits := strings.Count(r.fake.JobLog(r.fake.CurrentJob(h.uuid)), "waiting for a run slot")
		m.waited += waits - r.waits[h.uuid]
		r.waits[h.uuid] = waits
	}
	m.logins -= logins0
	m.hwmKB, m.rssKB = procStatus(b, pid, "VmHWM:"), procStatus(b, pid, "VmRSS:")
	time.Sleep(settle)
	m.after, m.afterTop = r.goroutines(b, pid)
	return m
}

// goroutines makes the plugin process pid dump its goroutines (SIGQUIT;
// the Go runtime prints every goroutine's stack to stderr, GOTRACEBACK=all,
// and exits) and counts them, in all and by the first function of each
// stack outside the runtime. The shipped plugin has no debug endpoint; the dump is the
// runtime's own. The process is gone afterwards.
func (r *rack) goroutines(b *testing.B, pid int) (int, map[string]int) {
	b.Helper()
	if pid == 0 || pid != r.plugin.Pid() {
		b.Fatalf("plugin pid %d, running %d", pid, r.plugin.Pid())
	}
	from := len(r.plugin.Output())
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		b.Fatal(err)
	}
	// The process is reaped once drpfake has read all its output.
	deadline := time.Now().Add(time.Minute)
	for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		if time.Now().After(deadline) {
			b.Fatalf("plugin %d still runs after SIGQUIT", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	dump := r.plugin.Output()[from:]
	top := map[string]int{}
	lines := strings.Split(dump, "\n")
	n := 0
	for i, l := range lines {
		if !goroutineHeader.MatchString(l) {
			continue
		}
		n++
		top[topFunc(lines[i+1:])]++
	}
	if n == 0 {
		b.Fatalf("no goroutine dump from the plugin:\n%s", dump)
	}
	return n, top
}

// topFunc is the first function of a goroutine's stack (its frames: a
// function line, then a file line) outside the runtime's own packages.
func topFunc(frames []string) string {
	first := ""
	for i := 0; i < len(frames) && frames[i] != ""; i += 2 {
		fn := frames[i]
		if j := strings.LastIndexByte(fn, '('); j > 0 {
			fn = fn[:j]
		}
		if strings.HasPrefix(fn, "created by ") {
			break
		}
		if first == "" {
			first = fn
		}
		if !strings.HasPrefix(fn, "runtime.") && !strings.HasPrefix(fn, "internal/") {
			return fn
		}
	}
	return first
}

// goroutineHeader starts a goroutine's stack in the dump ("goroutine 11
// [IO wait]:", or with gp=, m= after the number, as SIGQUIT prints it).
var goroutineHeader = regexp.MustCompile(`^goroutine \d+ (?:[^\[]* )?\[`)

// procStatus reads a "Vm...:" line of /proc/<pid>/status in KiB (0 where
// there is no /proc).
func procStatus(b *testing.B, pid int, key string) int64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// diffTop lists the top functions whose goroutine count changed.
func diffTop(before, after map[string]int) string {
	var out []string
	for fn := range mergeKeys(before, after) {
		if d := after[fn] - before[fn]; d != 0 {
			out = append(out, fmt.Sprintf("%+d %s", d, fn))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

func mergeKeys(a, b map[string]int) map[string]bool {
	k := map[string]bool{}
	for x := range a {
		k[x] = true
	}
	for x := range b {
		k[x] = true
	}
	return k
}

// BenchmarkRack reports, for rackMachines machines posting the action at
// the same moment through the plugin protocol: wall time, the plugin's peak
// RSS, the most sessions open on the hosts at once, and the plugin's
// goroutines after the run against its baseline; with the default
// esxi-users/max-parallel-runs and with it at rackMachines (no bound for
// this rack), and their ratios.
func BenchmarkRack(b *testing.B) {
	def, _ := content.Default(content.ParamMaxParallelRuns)
	limit := int(def.(float64))
	r := startRack(b)
	var bounded, unbounded rackMeasure
	for i := 0; i < b.N; i++ {
		bounded = r.measureRack(b, limit, time.Second)
		unbounded = r.measureRack(b, rackMachines, time.Second)
	}
	for _, m := range []rackMeasure{bounded, unbounded} {
		b.Logf("%d machines at once, %s=%d, hosts %v late per call:", rackMachines, content.ParamMaxParallelRuns, m.limit, rackLatency)
		b.Logf("  wall %v; plugin peak RSS %.1f MB (%.1f MB at the end; %.1f MB after one run); most sessions open on the hosts at once %d (%d logins); %d runs waited in line",
			m.wall.Round(time.Millisecond), float64(m.hwmKB)/1024, float64(m.rssKB)/1024, float64(m.baseKB)/1024, m.maxSessions, m.logins, m.waited)
		b.Logf("  plugin goroutines: %d before the rack (a twin process after one run), %d after it; difference by top function: %s",
			m.before, m.after, diffTop(m.beforeTop, m.afterTop))
		if m.maxSessions > m.limit {
			b.Errorf("N=%d: %d sessions open at once", m.limit, m.maxSessions)
		}
	}
	b.ReportMetric(float64(bounded.wall.Milliseconds()), "ms")
	b.ReportMetric(float64(bounded.hwmKB)/1024, "peak-RSS-MB")
	b.ReportMetric(float64(bounded.maxSessions), "max-sessions")
	b.ReportMetric(float64(bounded.after-bounded.before), "goroutines-left")
	b.ReportMetric(float64(unbounded.wall.Milliseconds()), "ms-unbounded")
	b.ReportMetric(float64(unbounded.hwmKB)/1024, "peak-RSS-MB-unbounded")
	b.ReportMetric(float64(unbounded.maxSessions), "max-sessions-unbounded")
	b.ReportMetric(float64(unbounded.after-unbounded.before), "goroutines-left-unbounded")
	b.ReportMetric(float64(unbounded.wall)/float64(bounded.wall), "x-wall-unbounded")
	b.ReportMetric(float64(unbounded.hwmKB)/float64(bounded.hwmKB), "x-RSS-unbounded")
}
