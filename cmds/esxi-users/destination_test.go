package main

// A machine's token cannot send its host's password elsewhere, through the
// real plugin binary: the token DRP renders onto the
// ESXi host rewrites its machine's server and thumbprint, and the action is
// refused with no request reaching the new server; a list it rewrites
// applies only to the machine's recorded host; only an admin's step
// accepts a move.

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/tcpcount"
	"github.com/esxi-users/esxi-users/tasks"
)

func (w *world) recordParam() string { return content.ParamDestinationPrefix + machineUUID }

func TestRedirectRefusedThroughPlugin(t *testing.T) {
	w := newWorld(t)
	M := "/api/v3/machines/" + machineUUID
	action := M + "/actions/" + content.ActionName + "?plugin=" + content.PluginName
	// First run: applied, and the destination recorded.
	if code, body := w.call(t, http.MethodPost, action, w.token, map[string]any{}); code != http.StatusOK {
		t.Fatalf("first run: %d %s", code, body)
	}
	rec, _ := json.Marshal(w.fake.ProfileParam(content.DestinationsProfile, w.recordParam()))
	if !strings.Contains(string(rec), `"server":"`+w.sim.URL.Host+`"`) || !strings.Contains(string(rec), `"sha256":"`+w.sim.SHA256+`"`) {
		t.Fatalf("record: %s", rec)
	}

	// The host's owner, with the token rendered into its script, points
	// its machine at a server of its own: a real one, with a matching
	// thumbprint, and a listener that counts connections.
	evil, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(evil.Close)
	counter := tcpcount.Start(t)
	for _, target := range []struct{ server, thumbprint string }{{evil.URL.Host, evil.Thumbprint}, {counter.Addr(), strings.Repeat("AB", 32)}} {
		for name, v := range map[string]any{content.ParamServer: target.server, content.ParamThumbprint: target.thumbprint} {
			if code, body := w.call(t, http.MethodPost, M+"/params/"+name, w.token, v); code != http.StatusOK {
				t.Fatalf("the machine's token writes %s: %d %s", name, code, body)
			}
		}
		logins := w.sim.Logins()
		code, body := w.call(t, http.MethodPost, action, w.token, map[string]any{})
		if code != http.StatusForbidden {
			t.Fatalf("redirect to %s: %d %s", target.server, code, body)
		}
		for _, want := range []string{"refused before any password was sent", "recorded destination is " + w.sim.URL.Host, "this run asks for " + target.server,
			"drpcli profiles remove " + content.DestinationsProfile + " param " + w.recordParam()} {
			if !strings.Contains(string(body), want) || !strings.Contains(w.logText(), want) {
				t.Errorf("the answer or the plugin's log lacks %q:\n%s", want, body)
			}
		}
		var r tasks.Report
		b, _ := json.Marshal(w.fake.Param(machineUUID, content.ParamReport))
		if json.Unmarshal(b, &r) != nil || r.OK || !strings.Contains(r.Error, "refused before any password was sent") {
			t.Errorf("report: %s", b)
		}
		if evil.Requests() != 0 || evil.Logins() != 0 || counter.Opened(t) != 0 || w.sim.Logins() != logins {
			t.Errorf("requests reached a server: evil %d requests %d logins, counter %d connections", evil.Requests(), evil.Logins(), counter.Opened(t))
		}
	}
	// Nor can it take the admin step.
	if code, _ := w.call(t, http.MethodDelete, "/api/v3/profiles/"+content.DestinationsProfile+"/params/"+w.recordParam(), w.token, nil); code != http.StatusForbidden {
		t.Errorf("the machine's token removed its record: %d", code)
	}

	// The ESXi script itself, with that token, exits 3.
	script := filepath.Join(w.dir, "esxi.py")
	if err := os.WriteFile(script, []byte(render(t, &w.plugin.Def, content.ESXiTemplate, w.data(w.token))), 0o700); err != nil {
		t.Fatal(err)
	}
	if code, out := runScript(t, "python3", nil, script); code != 3 || !strings.Contains(out, "refused before any password was sent") {
		t.Errorf("ESXi script: exit %d\n%s", code, out)
	}

	// The admin accepts the move (what `drpcli profiles remove … param …`
	// sends): the next run goes there and records it.
	if code, body := w.call(t, http.MethodDelete, "/api/v3/profiles/"+content.DestinationsProfile+"/params/"+w.recordParam(), w.fake.SuperuserToken(), nil); code != http.StatusOK {
		t.Fatalf("admin step: %d %s", code, body)
	}
	for name, v := range map[string]any{content.ParamServer: evil.URL.Host, content.ParamThumbprint: evil.Thumbprint} {
		w.call(t, http.MethodPost, M+"/params/"+name, w.token, v)
	}
	evilPw, _ := evil.URL.User.Password()
	w.setParams(t, machineUUID, map[string]any{content.ParamPassword: evilPw})
	if code, body := w.call(t, http.MethodPost, action, w.token, map[string]any{}); code != http.StatusOK || evil.Logins() != 1 {
		t.Fatalf("after the admin step: %d %s, %d logins", code, body, evil.Logins())
	}
	rec, _ = json.Marshal(w.fake.ProfileParam(content.DestinationsProfile, w.recordParam()))
	if !strings.Contains(string(rec), `"server":"`+evil.URL.Host+`"`) {
		t.Errorf("record after the admin step: %s", rec)
	}
}

// TestRewrittenListStaysOnRecordedHost: a list the machine's token rewrites
// is applied, but only to that machine's recorded host.
func TestRewrittenListStaysOnRecordedHost(t *testing.T) {
	w := newWorld(t)
	M := "/api/v3/machines/" + machineUUID
	action := M + "/actions/" + content.ActionName + "?plugin=" + content.PluginName
	if code, body := w.call(t, http.MethodPost, action, w.token, map[string]any{}); code != http.StatusOK {
		t.Fatalf("first run: %d %s", code, body)
	}
	other, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	list := []any{map[string]any{"id": "intruder", "operation": "add", "password": "Intr#Canary-8812-xy", "role": "Admin"}}
	if code, body := w.call(t, http.MethodPost, M+"/params/"+content.ParamUsers, w.token, w.sealFor(t, machineUUID, w.token, list)); code != http.StatusOK {
		t.Fatalf("rewrite the list: %d %s", code, body)
	}
	otherPw, _ := other.URL.User.Password()
	for name, v := range map[string]any{content.ParamServer: other.URL.Host, content.ParamThumbprint: other.Thumbprint,
		content.ParamPassword: w.sealFor(t, machineUUID, w.token, otherPw)} {
		if code, body := w.call(t, http.MethodPost, M+"/params/"+name, w.token, v); code != http.StatusOK {
			t.Fatalf("rewrite %s: %d %s", name, code, body)
		}
	}
	if code, _ := w.call(t, http.MethodPost, action, w.token, map[string]any{}); code != http.StatusForbidden || other.Requests() != 0 {
		t.Fatalf("to another host: %d, %d requests there", code, other.Requests())
	}
	pw, _ := w.sim.URL.User.Password()
	for name, v := range map[string]any{content.ParamServer: w.sim.URL.Host, content.ParamThumbprint: w.sim.Thumbprint,
		content.ParamPassword: w.sealFor(t, machineUUID, w.token, pw)} {
		if code, body := w.call(t, http.MethodPost, M+"/params/"+name, w.token, v); code != http.StatusOK {
			t.Fatalf("restore %s: %d %s", name, code, body)
		}
	}
	if code, body := w.call(t, http.MethodPost, action, w.token, map[string]any{}); code != http.StatusOK {
		t.Fatalf("on its own host: %d %s", code, body)
	}
	if _, ok := w.sim.Users()["intruder"]; !ok {
		t.Error("the list was not applied to the machine's own host")
	}
	if _, ok := other.Users()["intruder"]; ok {
		t.Error("the list reached another host")
	}
}
