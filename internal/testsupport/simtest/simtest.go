// Package simtest serves govmomi's vcsim models over HTTPS for tests: the
// set-up the SSPI, simsspi, simguest, guestauth and CLI tests share. Only
// _test.go files import it.
package simtest

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Serve creates model, lets install (when not nil) patch its registry
// before the first request, and serves it over HTTPS with vcsim's generated
// certificate until tb ends. The server URL carries vcsim's user and
// password.
func Serve(tb testing.TB, model *simulator.Model, install func(*simulator.Registry)) *simulator.Server {
	tb.Helper()
	if err := model.Create(); err != nil {
		tb.Fatal(err)
	}
	if install != nil {
		install(model.Map())
	}
	model.Service.TLS = new(tls.Config)
	s := model.Service.NewServer()
	tb.Cleanup(func() { s.Close(); model.Remove() })
	if s.URL.Scheme != "https" {
		tb.Fatalf("simulator URL %s is not HTTPS", s.URL)
	}
	return s
}

// Client returns a client of s that does not verify its certificate, not
// logged in.
func Client(tb testing.TB, s *simulator.Server) *vim25.Client {
	tb.Helper()
	c, err := vim25.NewClient(context.Background(), soap.NewClient(s.URL, true))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Login returns a client of s logged in as the user in s.URL.
func Login(tb testing.TB, s *simulator.Server) *vim25.Client {
	tb.Helper()
	c := Client(tb, s)
	if err := session.NewManager(c).Login(context.Background(), s.URL.User); err != nil {
		tb.Fatal(err)
	}
	return c
}

// VMs returns the model's virtual machines as c finds them (at least two:
// the guest tests use one VM against another).
func VMs(tb testing.TB, c *vim25.Client) []types.ManagedObjectReference {
	tb.Helper()
	vms, err := find.NewFinder(c).VirtualMachineList(context.Background(), "/*/vm/*")
	if err != nil || len(vms) < 2 {
		tb.Fatalf("VMs: %v %v", vms, err)
	}
	refs := make([]types.ManagedObjectReference, len(vms))
	for i, vm := range vms {
		refs[i] = vm.Reference()
	}
	return refs
}
