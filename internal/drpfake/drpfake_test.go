package drpfake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/digitalrebar/provision/v4/models"
)

const uuid = "0f6ee3a4-7a38-4a8e-9d1a-5d7c6b1f2e3a"

func do(t *testing.T, s *Server, method, path, token string, body any) (int, models.Error) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.Endpoint()+path, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.API.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e models.Error
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

// TestWireErrors: errors are models.Error bodies whose Code is the HTTP
// status; an unknown token is 401; an action needs its claim (403); an
// injected write fault answers like DRP.
func TestWireErrors(t *testing.T) {
	s := New(nil)
	defer s.Close()
	s.AddMachine(uuid, "m1", "")
	s.AddToken("machine", Token{Machine: uuid})
	s.AddToken("action", Token{Machine: uuid, Actions: []string{"doIt"}})

	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", http.MethodGet, "/api/v3/machines/" + uuid, "", 401},
		{"unknown token", http.MethodGet, "/api/v3/machines/" + uuid, "nope", 401},
		{"own machine", http.MethodGet, "/api/v3/machines/" + uuid, "machine", 200},
		{"decode without getSecure", http.MethodGet, "/api/v3/machines/" + uuid + "/params?decode=true", "machine", 403},
		{"action without its claim", http.MethodPost, "/api/v3/machines/" + uuid + "/actions/doIt", "machine", 403},
		{"action with its claim, no plugin", http.MethodPost, "/api/v3/machines/" + uuid + "/actions/doIt", "action", 404},
		{"another action", http.MethodPost, "/api/v3/machines/" + uuid + "/actions/other", "action", 403},
	} {
		code, e := do(t, s, tc.method, tc.path, tc.token, map[string]any{})
		if code != tc.want || (code >= 400 && e.Code != code) {
			t.Errorf("%s: %d (body Code %d), want %d", tc.name, code, e.Code, tc.want)
		}
	}

	s.SetWriteFault("a/b", http.StatusInternalServerError)
	if code, e := do(t, s, http.MethodPost, "/api/v3/machines/"+uuid+"/params/a/b", "machine", 1); code != 500 || e.Code != 500 {
		t.Errorf("write fault: %d %+v", code, e)
	}
	if s.Param(uuid, "a/b") != nil {
		t.Error("a faulted write was stored")
	}
	s.SetWriteFault("a/b", 0)
	if code, _ := do(t, s, http.MethodPost, "/api/v3/machines/"+uuid+"/params/a/b", "machine", 1); code != 200 || s.Param(uuid, "a/b") != float64(1) {
		t.Errorf("write after the fault was removed: %d %v", code, s.Param(uuid, "a/b"))
	}

	sum := sha256.Sum256(s.API.Certificate().Raw)
	if s.CertSHA256() != hex.EncodeToString(sum[:]) || len(s.CertSHA256()) != 64 {
		t.Errorf("CertSHA256 = %s", s.CertSHA256())
	}
}
