package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// rackHost is a machine of the fake with its own simulated host (counting
// its sessions in a shared gauge) and a running esxi-manage-users job,
// whose token posts the action as the task's template does.
type rackHost struct {
	uuid, job, token string
	sim              *esxsim.Server
	entered          <-chan struct{} // its host's first Login arrived (held)
	release          func()          // lets that Login through
}

func (w *world) addRackHosts(t *testing.T, n int, g *esxsim.SessionGauge) []*rackHost {
	t.Helper()
	var hosts []*rackHost
	for i := range n {
		sim, err := esxsim.Start(esxsim.Options{Sessions: g})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		uuid := fmt.Sprintf("7f0e6a52-1b2c-4d3e-9f40-7ac700000%03d", i+1)
		if err := w.fake.AddMachine(uuid, fmt.Sprintf("rack%02d", i+1), ""); err != nil {
			t.Fatal(err)
		}
		pw, _ := sim.URL.User.Password()
		w.setParams(t, uuid, map[string]any{
			content.ParamServer: sim.URL.Host, content.ParamThumbprint: sim.Thumbprint, content.ParamPassword: pw,
			content.ParamUsers: []any{map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "ReadOnly"}},
		})
		token, err := w.fake.JobToken(uuid, content.TaskName)
		if err != nil {
			t.Fatal(err)
		}
		h := &rackHost{uuid: uuid, job: w.fake.CurrentJob(uuid), token: token, sim: sim}
		h.entered, h.release = sim.HoldLogin()
		t.Cleanup(h.release)
		hosts = append(hosts, h)
	}
	return hosts
}

type posted struct {
	code int
	body string
	err  error
}

// post posts h's action through the fake DRP in the background.
func (w *world) post(h *rackHost) <-chan posted {
	out := make(chan posted, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, w.fake.Endpoint()+"/api/v3/machines/"+h.uuid+"/actions/"+content.ActionName+"?plugin="+content.PluginName, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+h.token)
		resp, err := w.fake.API.Client().Do(req)
		if err != nil {
			out <- posted{err: err}
			return
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		out <- posted{code: resp.StatusCode, body: b.String()}
	}()
	return out
}

// nextToLogIn returns which of hosts reaches its Login first.
func nextToLogIn(t *testing.T, hosts ...*rackHost) *rackHost {
	t.Helper()
	idx := make(chan *rackHost, len(hosts))
	stop := make(chan struct{})
	defer close(stop)
	for _, h := range hosts {
		go func() {
			select {
			case <-h.entered:
				idx <- h
			case <-stop:
			}
		}()
	}
	select {
	case h := <-idx:
		return h
	case <-time.After(2 * time.Minute): // a guard, not a measure
		t.Fatal("no waiting run reached its host")
	}
	return nil
}

// TestRackWaitsInLineThroughPlugin, with the real
// plugin and DRP's way of setting its Param: with
// esxi-users/max-parallel-runs 2 and two runs held at their hosts' Login,
// three more machines' runs wait, each with one line in its job's log
// naming its place; a second call for a waiting machine is 409 at once;
// each freed slot goes to the first in line; the hosts never see more
// than 2 sessions at once.
func TestRackWaitsInLineThroughPlugin(t *testing.T) {
	w := newWorld(t)
	admin := w.fake.SuperuserToken()
	if code, body := w.call(t, http.MethodPost, "/api/v3/plugins/"+content.PluginName+"/params/"+content.ParamMaxParallelRuns, admin, 2); code != http.StatusOK {
		t.Fatalf("set %s: %d %s", content.ParamMaxParallelRuns, code, body)
	}
	if !strings.Contains(w.logText(), "at most 2 host runs at once") {
		t.Fatalf("the restarted plugin did not take the Param:\n%s", w.logText())
	}
	g := &esxsim.SessionGauge{}
	h := w.addRackHosts(t, 5, g)
	a1, a2, b1, b2, b3 := h[0], h[1], h[2], h[3], h[4]
	done := map[*rackHost]<-chan posted{}
	done[a1], done[a2] = w.post(a1), w.post(a2)
	<-a1.entered
	<-a2.entered
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a guard, not a measure
	defer cancel()
	for i, b := range []*rackHost{b1, b2, b3} {
		done[b] = w.post(b)
		want := fmt.Sprintf("waiting for a run slot: number %d in line, 2 runs in progress (%s is 2)", i+1, content.ParamMaxParallelRuns)
		log, err := w.fake.WaitJobLog(ctx, b.job, want)
		if err != nil {
			t.Fatalf("%v\nplugin log:\n%s", err, w.logText())
		}
		if strings.Count(log, "\n") != 1 || !strings.HasPrefix(log, "esxi-manage-users: esxiManageUsers: machine rack") {
			t.Errorf("job log of the run %d in line:\n%s", i+1, log)
		}
	}
	if code, body := w.postAction(t, b1.uuid, b1.token, map[string]any{}); code != http.StatusConflict || !strings.Contains(string(body), "a run for this machine is in progress") {
		t.Fatalf("second call for a waiting machine: %d %s", code, body)
	}
	for _, b := range []*rackHost{b1, b2, b3} {
		if n := b.sim.Requests(); n != 0 {
			t.Fatalf("a waiting run's host got %d requests", n)
		}
	}
	a1.release()
	if got := nextToLogIn(t, b1, b2, b3); got != b1 {
		t.Fatalf("the first freed slot went to %s, not the first in line", got.uuid)
	}
	a2.release()
	if got := nextToLogIn(t, b2, b3); got != b2 {
		t.Fatalf("the second freed slot went to %s, not the second in line", got.uuid)
	}
	b1.release()
	<-b3.entered
	b2.release()
	b3.release()
	for _, x := range h {
		if r := <-done[x]; r.err != nil || r.code != http.StatusOK {
			t.Fatalf("%s: %d %v %s", x.uuid, r.code, r.err, r.body)
		}
		if _, ok := x.sim.Users()["user1"]; !ok {
			t.Errorf("%s: user1 not on its host", x.uuid)
		}
	}
	if p := g.Peak(); p < 1 || p > 2 {
		t.Errorf("%d sessions open at once on the hosts, limit 2", p)
	}
	if n := strings.Count(w.logText(), "waiting for a run slot"); n != 3 {
		t.Errorf("%d wait lines in the plugin's log, want 3:\n%s", n, w.logText())
	}
	w.noCanary(t, "the plugin's log", w.logText())
}

// TestPluginRefusesBadMaxParallelRuns: DRP refuses to start the plugin
// with a value outside the Param's Schema (PluginErrors); sent to the
// plugin anyway (a DRP without the Param's definition), its config fails
// naming the Param, and the plugin keeps its previous setting.
func TestPluginRefusesBadMaxParallelRuns(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, bad := range []any{0, 1001, 2.5, "20", true} {
		code, body, err := w.plugin.Post(ctx, "/api-plugin/v4/config", map[string]any{content.ParamMaxParallelRuns: bad, "Name": content.PluginName})
		if err != nil || code != http.StatusBadRequest || !strings.Contains(string(body), content.ParamMaxParallelRuns+" must be a whole number from 1 to 1000") {
			t.Errorf("config with %v: %d %s %v", bad, code, body, err)
		}
	}
	code, body := w.postAction(t, machineUUID, w.token, map[string]any{})
	if code != http.StatusOK {
		t.Fatalf("action after refused configs: %d %s", code, body)
	}
	// Through DRP: a value outside the Schema cannot even be stored.
	admin := w.fake.SuperuserToken()
	if code, body := w.call(t, http.MethodPost, "/api/v3/profiles/global/params/"+content.ParamMaxParallelRuns, admin, 0); code < 400 {
		t.Errorf("global profile took 0: %d %s", code, body)
	}
}
