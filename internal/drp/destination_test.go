package drp_test

// A machine's login goes only where it went before (internal/destination):
// the task binary (apply --from-drp) through the plugin's destination action,
// and the plugin's own action, against the fake DRP, whose machine tokens
// can rewrite their machine's Params as the real server lets them.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/destination"
	"github.com/esxi-users/esxi-users/internal/drp"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/tcpcount"
)

// record is the machine's record on the destinations profile (nil: none).
func (w *world) record(t *testing.T) *destination.Record {
	t.Helper()
	v := w.fake.ProfileParam(content.DestinationsProfile, drp.DestinationParam(machineUUID))
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	var r destination.Record
	must(t, json.Unmarshal(b, &r))
	return &r
}

// asMachine writes a Param of the machine through the API with the token
// DRP renders onto the host (GenerateToken), as whoever owns the host can.
func (w *world) asMachine(t *testing.T, name string, v any) {
	t.Helper()
	if code, body := w.call(t, http.MethodPost, "/machines/"+machineUUID+"/params/"+name, w.fake.GenerateToken(machineUUID), v); code != http.StatusOK {
		t.Fatalf("the machine's token writes %s: %d %s", name, code, body)
	}
}

// call sends a request to the fake DRP API (below /api/v3) with token and
// body as JSON, and returns the status and body.
func (w *world) call(t *testing.T, method, path, token string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.fake.Endpoint()+"/api/v3"+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.fake.API.Client().Do(req)
	must(t, err)
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

func TestTaskRecordsThenRefusesAnotherServer(t *testing.T) {
	w := newWorld(t)
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []map[string]any{{"id": "user1", "operation": "add", "password": canary, "role": "Admin"}}))
	code, stdout, stderr := w.run(t)
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, stdout, stderr)
	}
	rec := w.record(t)
	if rec == nil || rec.Server != w.sim.URL.Host || rec.SHA256 != w.sim.SHA256 || rec.Machine != "esx01" || rec.Recorded.IsZero() {
		t.Fatalf("record after the first run: %+v", rec)
	}
	if !strings.Contains(stdout, "this run records "+w.sim.URL.Host) {
		t.Errorf("the log does not say the destination is recorded:\n%s", stdout)
	}

	// The host's owner points the machine at a server of its own, with a
	// thumbprint that matches it.
	evil := tcpcount.Start(t)
	w.asMachine(t, content.ParamServer, evil.Addr())
	w.asMachine(t, content.ParamThumbprint, strings.Repeat("AB", 32))
	logins := w.sim.Logins()
	code, stdout, stderr = w.run(t)
	if code != errkind.ExitConnect {
		t.Fatalf("redirected run: exit %d\n%s%s", code, stdout, stderr)
	}
	out := stdout + stderr
	for _, want := range []string{"refused before any password was sent", "recorded destination is " + w.sim.URL.Host, "this run asks for " + evil.Addr(),
		"drpcli profiles remove " + content.DestinationsProfile + " param " + drp.DestinationParam(machineUUID)} {
		if !strings.Contains(out, want) {
			t.Errorf("the job log lacks %q:\n%s", want, out)
		}
	}
	if n := evil.Opened(t); n != 0 {
		t.Errorf("%d connections reached the new server", n)
	}
	if w.sim.Logins() != logins {
		t.Error("the recorded host was logged in to")
	}
	if r := w.report(t); r.OK || !strings.Contains(r.Error, "refused before any password was sent") {
		t.Errorf("report: %+v", r)
	}
	if got := w.record(t); got == nil || got.Server != rec.Server || got.SHA256 != rec.SHA256 {
		t.Errorf("the record changed: %+v", got)
	}

	// The admin step: the record is removed, the next run records anew.
	// (what drpcli profiles remove … param … sends: DELETE, paramHelper.go)
	if code, body := w.call(t, http.MethodDelete, "/profiles/"+content.DestinationsProfile+"/params/"+drp.DestinationParam(machineUUID), w.fake.SuperuserToken(), nil); code != http.StatusOK {
		t.Fatalf("admin removes the record: %d %s", code, body)
	}
	// A machine's token cannot.
	if code, _ := w.call(t, http.MethodPost, "/profiles/"+content.DestinationsProfile+"/params/"+drp.DestinationParam(machineUUID), w.fake.GenerateToken(machineUUID), map[string]any{"server": evil.Addr()}); code != http.StatusForbidden && code != http.StatusNotFound {
		t.Errorf("the machine's token wrote the store: %d", code)
	}
	w.asMachine(t, content.ParamServer, w.sim.URL.Host)
	w.asMachine(t, content.ParamThumbprint, w.sim.Thumbprint)
	if code, stdout, stderr = w.run(t); code != 0 || w.record(t) == nil {
		t.Fatalf("after the admin step: exit %d, record %+v\n%s%s", code, w.record(t), stdout, stderr)
	}
}

// TestTaskRefusesAnotherCertificate: the recorded server presenting another
// certificate fails the TLS handshake: no login, exit 3, the presented
// certificate named.
func TestTaskRefusesAnotherCertificate(t *testing.T) {
	w := newWorld(t)
	other, err := esxsim.Start(esxsim.Options{})
	must(t, err)
	defer other.Close()
	// An admin's record for this server with another certificate.
	must(t, w.fake.AddProfile(content.DestinationsProfile))
	must(t, w.fake.SetProfileParam(content.DestinationsProfile, drp.DestinationParam(machineUUID),
		map[string]any{"server": w.sim.URL.Host, "sha256": other.SHA256}))
	logins := w.sim.Logins()
	code, stdout, stderr := w.run(t)
	out := stdout + stderr
	if code != errkind.ExitConnect || !strings.Contains(out, "presented a certificate with SHA-256 "+w.sim.SHA256) || !strings.Contains(out, "recorded for this machine") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if w.sim.Logins() != logins {
		t.Error("a login reached the server")
	}
}

// TestTaskPolicy: the destinations profile's policy for machines without a
// record: known-hosts lines (the listed certificate only, unlisted servers
// refused) and trust on first use off; a malformed store refuses too.
func TestTaskPolicy(t *testing.T) {
	other, err := esxsim.Start(esxsim.Options{})
	must(t, err)
	defer other.Close()
	for _, tc := range []struct {
		name   string
		params map[string]any
		code   int
		msg    string
	}{
		{"listed with its certificate", map[string]any{content.ParamKnownHosts: "# fleet\n%s %s\n"}, 0, "certificate pinned (esxi-users/known-hosts"},
		{"listed with another certificate", map[string]any{content.ParamKnownHosts: "%s " + "%o\n"}, errkind.ExitConnect, "presented a certificate with SHA-256"},
		{"not listed", map[string]any{content.ParamKnownHosts: "esx99.example.com " + strings.Repeat("AB", 32) + "\n"}, errkind.ExitConnect, "does not list"},
		{"trust on first use off", map[string]any{content.ParamTrustOnFirstUse: false}, errkind.ExitConnect, "esxi-users/trust-on-first-use (profile esxi-users-destinations) is false (this run asks for"},
		{"known-hosts not text", map[string]any{content.ParamKnownHosts: 42}, errkind.ExitConnect, "is not a string"},
		{"record not a record", map[string]any{drp.DestinationParam(machineUUID): map[string]any{"srv": "x"}}, errkind.ExitConnect, "is not a destination record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			must(t, w.fake.AddProfile(content.DestinationsProfile))
			for k, v := range tc.params {
				if s, ok := v.(string); ok {
					s = strings.Replace(s, "%s", w.sim.URL.Host, 1)
					s = strings.Replace(s, "%s", w.sim.SHA256, 1)
					v = strings.Replace(s, "%o", other.SHA256, 1)
				}
				must(t, w.fake.SetProfileParam(content.DestinationsProfile, k, v))
			}
			logins := w.sim.Logins()
			code, stdout, stderr := w.run(t)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.msg) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.msg, stdout, stderr)
			}
			if tc.code != 0 && w.sim.Logins() != logins {
				t.Error("the host was logged in to")
			}
			if tc.code == 0 && (w.record(t) == nil || w.record(t).SHA256 != w.sim.SHA256) {
				t.Errorf("record %+v", w.record(t))
			}
		})
	}
}

// TestDestinationActionRecordsOnlyWhatPasses: the destination action, which
// any holder of the machine's token may post, records a certificate only
// where a first run may, and only one that passes the pins.
func TestDestinationActionRecordsOnlyWhatPasses(t *testing.T) {
	w := newWorld(t)
	other, err := esxsim.Start(esxsim.Options{})
	must(t, err)
	defer other.Close()
	must(t, w.fake.AddProfile(content.DestinationsProfile))
	must(t, w.fake.SetProfileParam(content.DestinationsProfile, content.ParamKnownHosts, w.sim.URL.Host+" "+w.sim.SHA256+"\n"))
	post := func(args map[string]any) (int, string) {
		return w.call(t, http.MethodPost, "/machines/"+machineUUID+"/actions/"+content.DestinationActionName+"?plugin="+content.PluginName, w.fake.GenerateToken(machineUUID), args)
	}
	encode := base64.StdEncoding.EncodeToString
	if code, body := post(map[string]any{}); code != http.StatusOK || !strings.Contains(body, `"pin":"`+w.sim.SHA256) || !strings.Contains(body, `"record":true`) {
		t.Fatalf("check: %d %s", code, body)
	}
	b, _ := pem.Decode(other.CertPEM)
	if code, body := post(map[string]any{drp.CertificateArg: encode(b.Bytes)}); code != http.StatusForbidden || !strings.Contains(body, "presented a certificate") {
		t.Errorf("another certificate: %d %s", code, body)
	}
	if code, body := post(map[string]any{drp.CertificateArg: "not base64!"}); code != http.StatusBadRequest {
		t.Errorf("garbage: %d %s", code, body)
	}
	if w.record(t) != nil {
		t.Fatalf("recorded: %+v", w.record(t))
	}
	b, _ = pem.Decode(w.sim.CertPEM)
	if code, body := post(map[string]any{drp.CertificateArg: encode(b.Bytes)}); code != http.StatusOK || w.record(t) == nil {
		t.Errorf("the listed certificate: %d %s", code, body)
	}
}
