package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/esxsim"
	"github.com/esxi-users/esxi-users/internal/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sspi"
)

// runSimulate serves the faithful ESXi simulator until the context ends
// (SIGINT/SIGTERM). Line 1 of stdout is the URL in GOVC_URL form with the
// credentials in it; line 2 is "thumbprint: <SHA-1>".
func runSimulate(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	listen := fs.String("listen", "127.0.0.1:8989", "address to serve on")
	failWrite := fs.Int("fail-write", 0, "make the K-th write call (CreateUser, UpdateUser, RemoveUser, SetEntityPermissions, RemoveEntityPermission; from 1) fail with a SystemError")
	expireAt := fs.Int("expire-session-at", 0, "end the session of the K-th request (or the first authenticated one after it; from 1) as if it had timed out: NotAuthenticated")
	policy := fs.String("password-policy", "", "initial Security.PasswordQualityControl (default ESXi's)")
	vcenter := fs.Bool("vcenter", false, "serve a vCenter managing --hosts faithful ESXi hosts (for --vihost)")
	hosts := fs.Int("hosts", 2, "with --vcenter: the number of managed ESXi hosts")
	keytab := fs.String("sspi-keytab", "", "accept LoginBySSPI (Kerberos/SPNEGO) for the service principal in this keytab")
	spn := fs.String("spn", "", "with --sspi-keytab: the service principal to accept (default host/<listen host>)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	opt := esxsim.Options{Listen: *listen, PasswordQualityControl: *policy}
	if *failWrite > 0 {
		opt.FailWrite = *failWrite
		opt.FailFault = &types.SystemError{Reason: fmt.Sprintf("injected fault at write %d", *failWrite)}
	}
	if *keytab != "" {
		if *spn == "" {
			host, _, _ := net.SplitHostPort(*listen)
			*spn = sspi.SPNFor(host)
		}
		acc, err := krbaccept.New(krbaccept.Options{KeytabPath: *keytab, SPN: *spn})
		if err != nil {
			fmt.Fprintf(env.Stderr, "esxi-manage-users simulate: --sspi-keytab: %v\n", err)
			return 2
		}
		opt.SSPI = acc
	} else if *spn != "" {
		fmt.Fprintln(env.Stderr, "esxi-manage-users simulate: --spn goes with --sspi-keytab")
		return 2
	}
	if *vcenter {
		vc, err := esxsim.StartVCenter(esxsim.VCenterOptions{
			Listen: opt.Listen, Hosts: *hosts, PasswordQualityControl: opt.PasswordQualityControl,
			FailWrite: opt.FailWrite, FailFault: opt.FailFault, SSPI: opt.SSPI,
		})
		if err != nil {
			fmt.Fprintf(env.Stderr, "esxi-manage-users simulate: %v\n", err)
			return 3
		}
		defer vc.Close()
		vc.ExpireSessionAt(*expireAt)
		fmt.Fprintln(env.Stdout, vc.URL.String())
		fmt.Fprintf(env.Stdout, "thumbprint: %s\n", vc.Thumbprint)
		for _, h := range vc.Hosts {
			fmt.Fprintf(env.Stdout, "host: %s\n", h)
		}
		<-ctx.Done()
		return 0
	}
	sim, err := esxsim.Start(opt)
	if err != nil {
		fmt.Fprintf(env.Stderr, "esxi-manage-users simulate: %v\n", err)
		return 3
	}
	defer sim.Close()
	sim.ExpireSessionAt(*expireAt)
	fmt.Fprintln(env.Stdout, sim.URL.String())
	fmt.Fprintf(env.Stdout, "thumbprint: %s\n", sim.Thumbprint)
	<-ctx.Done()
	return 0
}
