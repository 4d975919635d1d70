package esx_test

import (
	"testing"

	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/tasks"
)

// The client has no version-dependent logic; the seed's list runs the same
// against ESXi 8.0.3 and 7.0.3, and the weak-password fault of both is
// described as a rejected password.
func TestBothESXiVersions(t *testing.T) {
	for _, v := range []string{esxsim.ESXi803, esxsim.ESXi703} {
		t.Run(v, func(t *testing.T) {
			sim, err := esxsim.Start(esxsim.Options{Common: esxsim.Common{ESXiVersion: v}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sim.Close)
			s := dialSim(t, sim, "root", "")
			if got := s.Client.ServiceContent.About.Version; got != v {
				t.Fatalf("about.version %q", got)
			}
			rep, err := runAs(t, s, seedYAML, tasks.Options{})
			if err != nil {
				t.Fatalf("%v\n%+v", err, rep)
			}
			h, _ := esx.NewHost(s)
			rep, err = tasks.Run(vctx(t), h, parse(t, "- {id: weak, operation: add, password: 'aB3$xy', role: ReadOnly}\n"), tasks.Options{})
			if err == nil || rep.Results[0].Outcome != tasks.Failed {
				t.Fatalf("weak password accepted: %+v", rep)
			}
			if msg := rep.Results[0].Error; msg != "create user: the host rejected the password: it does not meet the host's password policy (SystemError: passwd: Authentication token manipulation error)" {
				t.Errorf("error %q", msg)
			}
		})
	}
}
