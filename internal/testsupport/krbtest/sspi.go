package krbtest

import (
	"testing"

	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sspi"
)

// The fixture's principals as the two ends of an SSPI exchange: the
// project's initiator (internal/sspi) for the client, the simulators'
// Kerberos acceptor (internal/sim/krbaccept) for the service.

// Initiator is an SSPI initiator of the fixture's client for spn (with the
// realm's krb5.conf): from its credential cache, or with fromKeytab from
// its keytab; noMutual drops the mutual-authentication request. It is
// closed when the test ends.
func (f *Fixture) Initiator(tb testing.TB, pkg sspi.Package, spn string, fromKeytab, noMutual bool) sspi.Initiator {
	tb.Helper()
	cfg := sspi.Config{Package: pkg, SPN: spn, NoMutual: noMutual}
	if fromKeytab {
		cfg.Keytab, cfg.Principal = f.UserKeytab, f.User
	} else {
		cfg.CCache = f.CCache
	}
	return f.InitiatorConfig(tb, cfg)
}

// InitiatorConfig is an SSPI initiator for cfg (another principal's keytab,
// say), with the realm's krb5.conf; closed when the test ends.
func (f *Fixture) InitiatorConfig(tb testing.TB, cfg sspi.Config) sspi.Initiator {
	tb.Helper()
	cfg.Krb5Conf = f.Krb5Conf()
	in, err := sspi.NewInitiator(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { in.Close() })
	return in
}

// Acceptor is krbaccept's acceptor with opt, for the fixture's service
// principal and its keytab unless opt names others.
func (f *Fixture) Acceptor(tb testing.TB, opt krbaccept.Options) *krbaccept.Acceptor {
	tb.Helper()
	if opt.KeytabPath == "" && opt.Keytab == nil {
		opt.KeytabPath = f.ServiceKeytab
	}
	if opt.SPN == "" {
		opt.SPN = f.SPN
	}
	a, err := krbaccept.New(opt)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}
