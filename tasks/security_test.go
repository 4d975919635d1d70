package tasks

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// A list that demotes or removes the session's own user (a non-root
// admin), or through vCenter vpxuser, is invalid unless AllowSelfLockout:
// nothing is written and the reason is named.
func TestSelfLockout(t *testing.T) {
	const pw = "S3cr3tP455!"
	tests := []struct {
		name   string
		user   string
		viaVC  bool
		doc    string
		want   string // "" = allowed
		wantAt int    // the invalid entry
	}{
		{"remove self", "alice", false, `[{id: u1, operation: add, password: ` + pw + `, role: Admin}, {id: alice, operation: remove}]`, "removes the user this run is logged in as", 1},
		{"demote self with set", "alice", false, `[{id: alice, operation: set, password: ` + pw + `, role: ReadOnly}]`, "demotes (role ReadOnly) the user this run is logged in as", 0},
		{"demote self with add", "alice", false, `[{id: alice, operation: add, password: ` + pw + `, role: NoAccess}]`, "demotes (role NoAccess)", 0},
		{"self in another case", "Alice", false, `[{id: alice, operation: remove}]`, "removes the user this run is logged in as", 0},
		{"keep self Admin", "alice", false, `[{id: alice, operation: set, password: ` + pw + `, role: Admin}]`, "", 0},
		{"remove vpxuser through vCenter", "administrator@vsphere.local", true, `[{id: vpxuser, operation: remove}]`, "removes vpxuser, the account vCenter manages this host with", 0},
		{"demote vpxuser through vCenter", "administrator@vsphere.local", true, `[{id: vpxuser, operation: set, password: ` + pw + `, role: ReadOnly}]`, "demotes (role ReadOnly) vpxuser", 0},
		{"vCenter user's namesake through vCenter", "alice", true, `[{id: alice, operation: remove}]`, "", 0},
		{"vpxuser on a direct connection", "alice", false, `[{id: vpxuser, operation: remove}]`, "", 0},
		{"root session", "root", false, `[{id: alice, operation: remove}]`, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, allow := range []bool{false, true} {
				h := newMemHost()
				h.user, h.viaVC = tt.user, tt.viaVC
				h.users["alice"], h.perms["alice"] = Account{ID: "alice", Description: "x"}, "Admin"
				h.users["vpxuser"], h.perms["vpxuser"] = Account{ID: "vpxuser", Description: "VMware VirtualCenter administration account"}, "Admin"
				rep, err := Run(context.Background(), h, entries(t, tt.doc), Options{Checker: &lenChecker{}, AllowSelfLockout: allow})
				if tt.want == "" || allow {
					if err != nil {
						t.Fatalf("allow=%v: %v", allow, err)
					}
					if len(h.writes) == 0 {
						t.Errorf("allow=%v: nothing written", allow)
					}
					continue
				}
				if !errors.Is(err, errkind.ErrInvalid) || errkind.ExitCode(err) != errkind.ExitInvalid {
					t.Fatalf("err = %v", err)
				}
				if len(h.writes) != 0 {
					t.Errorf("writes = %v", h.writes)
				}
				res := rep.Results[tt.wantAt]
				if res.Outcome != Invalid || !strings.Contains(res.Error, tt.want) || !strings.Contains(res.Error, "--allow-self-lockout") {
					t.Errorf("result = %+v, want %q", res, tt.want)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v", err)
				}
			}
		})
	}
}

// The engine recognises an unchanged entry by a keyed digest of the
// password: the run keeps no copy of any password.
func TestWrittenKeepsNoPassword(t *testing.T) {
	doc := `[{id: u1, operation: add, password: "` + canary + `", role: Admin}, {id: u1, operation: set, password: "` + canary + `", role: Admin}, {id: u1, operation: set, password: "` + canary + `2", role: Admin}]`
	p, _, err := Prepare(context.Background(), newMemHost(), entries(t, doc), Options{Checker: &lenChecker{}})
	if err != nil {
		t.Fatal(err)
	}
	r := p.r
	rep, err := p.Apply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(rep); !reflect.DeepEqual(got, []Outcome{Created, Unchanged, Updated}) {
		t.Errorf("outcomes = %v", got)
	}
	if len(r.written) == 0 {
		t.Fatal("nothing remembered")
	}
	for id, w := range r.written {
		if s := findString(reflect.ValueOf(w), canary); s != "" {
			t.Errorf("written[%s] keeps the password: %s", id, s)
		}
	}
	// A digest depends on the run's key: the same password digests
	// differently in another run.
	p2, _, err := Prepare(context.Background(), newMemHost(), entries(t, doc), Options{Checker: &lenChecker{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.written["u1"].password == p2.r.written["u1"].password {
		t.Error("two runs share a digest key")
	}
}

// findString returns the first string or byte slice in v that contains s.
func findString(v reflect.Value, s string) string {
	switch v.Kind() {
	case reflect.String:
		if strings.Contains(v.String(), s) {
			return v.String()
		}
	case reflect.Array, reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			for i := range b {
				b[i] = byte(v.Index(i).Uint())
			}
			if strings.Contains(string(b), s) {
				return string(b)
			}
			return ""
		}
		for i := 0; i < v.Len(); i++ {
			if f := findString(v.Index(i), s); f != "" {
				return f
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := findString(v.Field(i), s); f != "" {
				return f
			}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return findString(v.Elem(), s)
		}
	}
	return ""
}
