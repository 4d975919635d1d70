package main

// What the ESXi script's token can reach (and what it cannot), shown
// against the fake DRP, which grants exactly what the real server grants
// (internal/testsupport/drpfake: backend/renderData.go GenerateToken,
// frontend/frontend.go, frontend/params.go, frontend/actions.go of the last
// public server code), with the real plugin binary.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// call sends a request to the fake DRP API with token (a non-nil body as
// JSON) and returns the status and body.
func (w *world) call(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.fake.Endpoint()+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := w.fake.API.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// sealFor seals v with the public key of machine uuid, fetched with token
// (machines updateSecure), as drpcli does for a Secure Param.
func (w *world) sealFor(t *testing.T, uuid, token string, v any) *models.SecureData {
	t.Helper()
	code, body := w.call(t, http.MethodGet, "/api/v3/machines/"+uuid+"/pubkey", token, nil)
	var key []byte
	if code != http.StatusOK || json.Unmarshal(body, &key) != nil {
		t.Fatalf("pubkey: %d %s", code, body)
	}
	sd := &models.SecureData{}
	if err := sd.Marshal(key, v); err != nil {
		t.Fatal(err)
	}
	return sd
}

// TestESXiTokenReach: the token {{.GenerateToken}} renders into the ESXi
// script reads its own machine's Secure Params in clear, rewrites its
// Secure list (which the action then applies) and posts any action on it;
// on another machine it gets 404 for reads and 403 for writes and actions;
// a profile only admins write (the plugin's store) it can neither write nor
// read directly, though it can attach it to its own machine and read it
// through the aggregate.
func TestESXiTokenReach(t *testing.T) {
	w := newWorld(t)
	tok := w.token
	pw, _ := w.sim.URL.User.Password()
	const other = "7f0e6a52-1b2c-4d3e-9f40-998877665544"
	otherSim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(otherSim.Close)
	otherPw, _ := otherSim.URL.User.Password()
	if err := w.fake.AddMachine(other, "esx02", ""); err != nil {
		t.Fatal(err)
	}
	w.setParams(t, other, map[string]any{
		content.ParamServer: otherSim.URL.Host, content.ParamThumbprint: otherSim.Thumbprint, content.ParamPassword: otherPw,
		content.ParamUsers: []any{map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "Admin"}},
	})
	admin := w.fake.SuperuserToken()
	const store = "esxi-users-destinations"
	record := "esxi-users/destination/" + machineUUID
	if code, body := w.call(t, http.MethodPost, "/api/v3/profiles", admin, map[string]any{"Name": store}); code != http.StatusCreated {
		t.Fatalf("admin creates %s: %d %s", store, code, body)
	}
	recorded := map[string]any{"server": w.sim.URL.Host, "sha256": w.sim.SHA256}
	if code, body := w.call(t, http.MethodPost, "/api/v3/profiles/"+store+"/params/"+record, admin, recorded); code != http.StatusOK {
		t.Fatalf("admin writes %s: %d %s", record, code, body)
	}

	evilList := []any{map[string]any{"id": "evil", "operation": "add", "password": "Ev1l#Canary-4410-qq", "role": "Admin"}}
	M := "/api/v3/machines/"
	for _, tc := range []struct {
		name, method, path string
		body               any
		want               int
		contains           []string
	}{
		// renderData.go: machines "get, ..., getSecure, updateSecure" <own uuid>.
		{"own Params, aggregated and decoded: every secret in clear", http.MethodGet, M + machineUUID + "/params?aggregate=true&decode=true", nil,
			200, []string{canary, pw}},
		{"own Secure list rewritten (sealed with the machine's key)", http.MethodPost, M + machineUUID + "/params/" + content.ParamUsers,
			w.sealFor(t, machineUUID, tok, evilList), 200, nil},
		{"own machine's action", http.MethodPost, M + machineUUID + "/actions/" + content.ActionName + "?plugin=" + content.PluginName, map[string]any{},
			200, []string{`"ok":true`}},
		// Another machine: a failed get is 404, anything else 403
		// (frontend.go assureAuth).
		{"another machine's Params: 404", http.MethodGet, M + other + "/params?aggregate=true&decode=true", nil, 404, []string{"Not Found"}},
		{"another machine's Param written: 403", http.MethodPost, M + other + "/params/" + content.ParamServer, "198.51.100.9", 403, []string{"Requires: machines update " + other}},
		{"another machine's action: 403", http.MethodPost, M + other + "/actions/" + content.ActionName + "?plugin=" + content.PluginName, map[string]any{}, 403,
			[]string{"Requires: machines action:" + content.ActionName + " " + other}},
		{"the machine list: empty (no list claim)", http.MethodGet, "/api/v3/machines", nil, 200, []string{"[]"}},
		// The plugin's store: profiles claims only for admins and plugins.
		{"the store profile: 404", http.MethodGet, "/api/v3/profiles/" + store, nil, 404, []string{"Not Found"}},
		{"a record written: 403", http.MethodPost, "/api/v3/profiles/" + store + "/params/" + record, "elsewhere", 403, []string{"Requires: profiles update " + store}},
		{"a record deleted: 403", http.MethodDelete, "/api/v3/profiles/" + store + "/params/" + record, nil, 403, []string{"Requires: profiles update " + store}},
		{"the store's Params replaced: 403", http.MethodPost, "/api/v3/profiles/" + store + "/params", map[string]any{}, 403, []string{"Requires: profiles update " + store}},
	} {
		code, body := w.call(t, tc.method, tc.path, tok, tc.body)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
		for _, s := range tc.contains {
			if !strings.Contains(string(body), s) {
				t.Errorf("%s: the answer lacks %q", tc.name, s)
			}
		}
	}
	// The rewritten list was applied to this machine's host, and nothing to
	// the other's.
	if d, ok := w.sim.Users()["evil"]; !ok {
		t.Errorf("the rewritten list was not applied (users %v, %q)", w.sim.Users(), d)
	}
	if _, ok := otherSim.Users()["user1"]; ok || otherSim.Logins() != 0 {
		t.Errorf("the other machine's host was touched: %d logins", otherSim.Logins())
	}
	if v, _ := json.Marshal(w.fake.ProfileParam(store, record)); !strings.Contains(string(v), `"server":"`+w.sim.URL.Host+`"`) {
		t.Errorf("the record = %s", v)
	}
	// The machine's token may attach any profile to its own machine (update
	// <own uuid>; backend/machines.go checks only that it exists) and then
	// read its Params through the aggregate: readable, not writable.
	code, body := w.call(t, http.MethodGet, M+machineUUID, tok, nil)
	var m map[string]any
	if code != http.StatusOK || json.Unmarshal(body, &m) != nil {
		t.Fatalf("own machine: %d %s", code, body)
	}
	m["Profiles"] = []string{store}
	if code, body = w.call(t, http.MethodPut, M+machineUUID, tok, m); code != http.StatusOK {
		t.Fatalf("own machine's Profiles: %d %s", code, body)
	}
	if code, body = w.call(t, http.MethodGet, M+machineUUID+"/params/"+record+"?aggregate=true", tok, nil); code != http.StatusOK ||
		!strings.Contains(string(body), `"server":"`+w.sim.URL.Host+`"`) {
		t.Errorf("the record through the attached profile: %d %s", code, body)
	}
}

// TestPluginParamsChangeRestartsPlugin: a change of the plugin instance's
// Params through the API stops and starts it again with the new config
// (backend/plugin.go restartPlugin); an unchanged write does not; a
// machine's token can neither read nor write the plugin.
func TestPluginParamsChangeRestartsPlugin(t *testing.T) {
	w := newWorld(t)
	admin := w.fake.SuperuserToken()
	P := "/api/v3/plugins/" + content.PluginName
	if n := w.plugin.Starts(); n != 1 {
		t.Fatalf("%d starts", n)
	}
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		want, starts              int
	}{
		{"a machine token reads the plugin: 404", http.MethodGet, P, w.token, nil, 404, 1},
		{"a machine token writes its Params: 403", http.MethodPost, P + "/params/esxi-users/example", w.token, "x", 403, 1},
		{"admin sets a Param: restart", http.MethodPost, P + "/params/esxi-users/example", admin, "x", 200, 2},
		{"the same value again: no change, no restart", http.MethodPost, P + "/params/esxi-users/example", admin, "x", 200, 2},
		{"admin removes it: restart", http.MethodDelete, P + "/params/esxi-users/example", admin, nil, 200, 3},
		{"admin reads the plugin", http.MethodGet, P, admin, nil, 200, 3},
	} {
		code, body := w.call(t, tc.method, tc.path, tc.token, tc.body)
		if code != tc.want || w.plugin.Starts() != tc.starts {
			t.Errorf("%s: %d %s, %d starts; want %d, %d starts", tc.name, code, body, w.plugin.Starts(), tc.want, tc.starts)
		}
	}
	if n := strings.Count(w.logText(), "esxi-users configured"); n != 3 {
		t.Errorf("configured %d times:\n%s", n, w.logText())
	}
	// The restarted plugin serves the action.
	code, body := w.postAction(t, machineUUID, w.token, map[string]any{})
	if code != http.StatusOK {
		t.Fatalf("action after restart: %d %s", code, body)
	}
	w.checkApplied(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code, _, err := w.plugin.Post(ctx, "/api-plugin/v4/action", map[string]any{}); err != nil || code == 0 {
		t.Errorf("the plugin's socket after restart: %d %v", code, err)
	}
}
