package drp

// The REST client against the wire format the SDK's api.Client speaks
// (internal/testsupport/drpfake plays DRP in the other tests; here each request is
// looked at).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/tasks"
)

// seen is one request as the server got it.
type seen struct {
	method, path, query, auth, accept, cache, ctype, body string
}

// recorder answers every request with status and body (JSON unless ctype
// says otherwise) and records it.
func recorder(t *testing.T, status int, ctype, body string) (http.Handler, *[]seen) {
	t.Helper()
	var got []seen
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Accept"),
			r.Header.Get("Cache-Control"), r.Header.Get("Content-Type"), string(b)})
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}), &got
}

func TestClientWireFormat(t *testing.T) {
	h, got := recorder(t, http.StatusOK, "application/json; charset=utf-8", `{"Uuid":"u-1","Name":"esx01","Address":"0.0.0.0","Params":{}}`)
	srv := httptest.NewTLSServer(h) // a self-signed certificate, as DRP's
	defer srv.Close()
	c, err := NewClient(srv.URL+"/", "tok-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := GetMachine(ctx, c, "u-1")
	if err != nil {
		t.Fatal(err)
	}
	if *m != (Machine{UUID: "u-1", Name: "esx01"}) {
		t.Errorf("machine = %+v", *m)
	}
	if _, err := ReadParams(ctx, c, "u-1"); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(ctx, c, "u-1", &tasks.Report{OK: true, Host: "h"}); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 3 {
		t.Fatalf("%d requests", len(*got))
	}
	get, params, post := (*got)[0], (*got)[1], (*got)[2]
	if get.method != "GET" || get.path != "/api/v3/machines/u-1" || get.query != "slim=Params" || get.body != "" {
		t.Errorf("GET machine = %+v", get)
	}
	wantQuery := "aggregate=true&decode=true&params=" + strings.ReplaceAll(strings.Join(InputParams(), "%2C"), "/", "%2F")
	if params.method != "GET" || params.path != "/api/v3/machines/u-1/params" || params.query != wantQuery {
		t.Errorf("GET params = %+v, want query %s", params, wantQuery)
	}
	// The Param name's "/" is not escaped in the path.
	if post.method != "POST" || post.path != "/api/v3/machines/u-1/params/"+content.ParamReport || post.ctype != "application/json" {
		t.Errorf("POST report = %+v", post)
	}
	var rep tasks.Report
	if err := json.Unmarshal([]byte(post.body), &rep); err != nil || !rep.OK || rep.Host != "h" {
		t.Errorf("report body = %s (%v)", post.body, err)
	}
	for _, r := range *got {
		if r.auth != "Bearer tok-1" || r.accept != "application/json" || r.cache != "no-store" {
			t.Errorf("%s %s headers: %+v", r.method, r.path, r)
		}
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		want              string // in the error
		notWant           string
	}{
		{"DRP error body", "application/json", `{"Model":"machines","Key":"u-1","Type":"API_ERROR","Messages":["Not Found"],"Code":404}`, 404,
			"GET machines/u-1: 404 Not Found", ""},
		{"a proxy's page", "text/html", "<html>upstream says Canary-Body-77</html>", 502, "GET machines/u-1: 502 Bad Gateway", "Canary-Body-77"},
		{"success that is not JSON", "text/html", "<html>login Canary-Body-77</html>", 200, "not JSON", "Canary-Body-77"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := recorder(t, tc.status, tc.ctype, tc.body)
			srv := httptest.NewTLSServer(h)
			defer srv.Close()
			c, err := NewClient(srv.URL, "tok", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = GetMachine(ctx, c, "u-1")
			if !errors.Is(err, errkind.ErrDRP) {
				t.Fatalf("err = %v, want errkind.ErrDRP", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || (tc.notWant != "" && strings.Contains(msg, tc.notWant)) {
				t.Errorf("err = %q, want %q without %q", msg, tc.want, tc.notWant)
			}
		})
	}
	if _, err := NewClient("drp:8092", "tok", nil); err == nil {
		t.Error("an endpoint without scheme was accepted")
	}
}

// RS_LOCAL_PROXY naming a unix socket routes every call through it (plain
// HTTP), as the SDK's api.TokenSession does; a name that is not a socket is
// ignored.
func TestClientLocalProxy(t *testing.T) {
	dir, err := os.MkdirTemp("", "drp") // short: a socket path has a length limit
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "p.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	h, got := recorder(t, http.StatusOK, "application/json", `{"Uuid":"u-2"}`)
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	env := map[string]string{EnvLocalProxy: sock}
	c, err := NewClient("https://drp.invalid:8092", "tok", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if m, err := GetMachine(context.Background(), c, "u-2"); err != nil || m.UUID != "u-2" || len(*got) != 1 {
		t.Fatalf("through the proxy: %+v %v (%d requests)", m, err, len(*got))
	}
	env[EnvLocalProxy] = filepath.Join(dir, "not-a-socket")
	c, _ = NewClient("https://127.0.0.1:1", "tok", func(k string) string { return env[k] })
	if _, err := GetMachine(context.Background(), c, "u-2"); err == nil || len(*got) != 1 {
		t.Fatalf("a missing socket was used: %v", err)
	}
}

// isSecureData agrees with the SDK's models.IsSecureData.
func TestIsSecureDataAgreesWithSDK(t *testing.T) {
	b := func(n int) []byte { return make([]byte, n) }
	for _, v := range []any{
		nil, "text", 42.0, []any{"a"}, map[string]any{},
		map[string]any{"Key": b(32), "Nonce": b(24), "Payload": b(16)},
		map[string]any{"Key": b(32), "Nonce": b(24), "Payload": b(40)},
		map[string]any{"key": b(32), "nonce": b(24), "payload": b(40)},
		map[string]any{"Key": b(31), "Nonce": b(24), "Payload": b(40)},
		map[string]any{"Key": b(32), "Nonce": b(23), "Payload": b(40)},
		map[string]any{"Key": b(32), "Nonce": b(24), "Payload": b(15)},
		map[string]any{"Key": "not base64!", "Nonce": b(24), "Payload": b(40)},
		map[string]any{"Key": b(32), "Nonce": b(24), "Payload": b(40), "Other": 1},
	} {
		// As it comes from the API: JSON (byte slices in base64).
		raw, _ := json.Marshal(v)
		var wire any
		json.Unmarshal(raw, &wire)
		if got, want := isSecureData(wire), models.IsSecureData(wire); got != want {
			t.Errorf("%s: isSecureData = %v, models.IsSecureData = %v", raw, got, want)
		}
	}
}
