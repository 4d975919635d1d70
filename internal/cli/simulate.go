//go:build !nosim

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sim/simguest"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// builtinSim is what --simulate starts (a build with -tags nosim has none:
// simulate_nosim.go).
var builtinSim job.Simulator = esxsim.StartForRun

// runSimulate serves the faithful ESXi simulator until the context ends
// (SIGINT/SIGTERM). Line 1 of stdout is the URL in GOVC_URL form with the
// credentials in it; line 2 is "thumbprint: <SHA-1>".
func runSimulate(ctx context.Context, c *command, args []string, env Env) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(textsafe.NewWriter(env.Stderr))
	listen := fs.String("listen", "127.0.0.1:8989", "`ADDRESS` (host:port) to serve on; port 0 picks a free one")
	failWrite := fs.Int("fail-write", 0, "make the `K`-th write call (CreateUser, UpdateUser, RemoveUser, SetEntityPermissions, RemoveEntityPermission; from 1) fail with a SystemError")
	expireAt := fs.Int("expire-session-at", 0, "end the session of the `K`-th request (or the first authenticated one after it; from 1) as if it had timed out: NotAuthenticated")
	policy := fs.String("password-policy", "", "initial Security.PasswordQualityControl `POLICY` (default ESXi's)")
	vcenter := fs.Bool("vcenter", false, "serve a vCenter managing --hosts faithful ESXi hosts (for --vihost)")
	hosts := fs.Int("hosts", 2, "with --vcenter: the number `N` of managed ESXi hosts (half standalone, /DC0/host/DC0_H0/DC0_H0; half in clusters, /DC0/host/DC0_C0/DC0_C0_H0)")
	clusters := fs.Int("clusters", 0, "with --vcenter: spread the clustered half of the hosts over `N` clusters (default 1)")
	hostPolicies := hostPolicyFlag{}
	fs.Var(hostPolicies, "host-password-policy", "with --vcenter: `NAME=POLICY` gives host NAME its own initial Security.PasswordQualityControl (repeatable)")
	failHost := fs.String("fail-host", "", "with --vcenter and --fail-write K: fail the K-th write to host `NAME` only (counting that host's writes)")
	keytab := fs.String("sspi-keytab", "", "accept LoginBySSPI (Kerberos/SPNEGO) for the service principal in this keytab `FILE`")
	spn := fs.String("spn", "", "with --sspi-keytab: the service principal to accept (default host/<listen host>)")
	guestKeytab := fs.String("guest-keytab", "", "with --vcenter: the keytab `FILE` of the VMs' guests (service principal host/<vm name>; default the --sspi-keytab)")
	esxiVersion := fs.String("esxi-version", esxsim.ESXi803, "the simulated ESXi release `V`: "+esxsim.ESXi803+" or "+esxsim.ESXi703)
	passwordFile := fs.String("password-file", "", "root's password (with --vcenter: the administrator's) from this `FILE`; else env ESXI_PASSWORD; else a random one, printed in line 1")
	lockdown := fs.String("lockdown", "", "without --vcenter: start the host in lockdown mode `MODE` (normal or strict), as vCenter leaves it: only exception users may log in directly (there are none)")
	hostLockdown := hostLockdownFlag{}
	fs.Var(hostLockdown, "host-lockdown", "with --vcenter: `NAME=MODE` starts host NAME in lockdown mode MODE (normal or strict; repeatable)")
	fs.Usage = func() { c.printHelp(fs.Output(), fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := checkSimulateFlags(fs, *listen, *failWrite, *expireAt, *hosts, *vcenter); err != nil {
		printError(env.Stderr, "simulate", err)
		return 2
	}
	if *policy != "" {
		if _, err := passwdqc.ParseESXi(*policy); err != nil {
			printError(env.Stderr, "simulate", fmt.Errorf("--password-policy: %w", err))
			return 2
		}
	}
	if *esxiVersion != esxsim.ESXi803 && *esxiVersion != esxsim.ESXi703 {
		fmt.Fprintf(env.Stderr, "esxi-manage-users simulate: --esxi-version %q: use %s or %s\n", *esxiVersion, esxsim.ESXi803, esxsim.ESXi703)
		return 2
	}
	password, err := simulatorPassword(*passwordFile, env)
	if err != nil {
		printError(env.Stderr, "simulate", err)
		return 2
	}
	opt := esxsim.Options{Common: esxsim.Common{
		Listen: *listen, PasswordQualityControl: *policy, ESXiVersion: *esxiVersion, Password: password,
	}}
	if err := lockdownFlags(*lockdown, hostLockdown, *vcenter, &opt); err != nil {
		printError(env.Stderr, "simulate", err)
		return 2
	}
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
			printError(env.Stderr, "simulate", fmt.Errorf("--sspi-keytab: %w", err))
			return 2
		}
		opt.SSPI = acc
	} else if *spn != "" {
		fmt.Fprintln(env.Stderr, "esxi-manage-users simulate: --spn goes with --sspi-keytab")
		return 2
	}
	if *guestKeytab != "" && !*vcenter {
		fmt.Fprintln(env.Stderr, "esxi-manage-users simulate: --guest-keytab goes with --vcenter")
		return 2
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"clusters", *clusters != 0}, {"host-password-policy", len(hostPolicies) > 0}, {"fail-host", *failHost != ""}} {
		if f.set && !*vcenter {
			fmt.Fprintf(env.Stderr, "esxi-manage-users simulate: --%s goes with --vcenter\n", f.name)
			return 2
		}
	}
	if *failHost != "" && *failWrite <= 0 {
		fmt.Fprintln(env.Stderr, "esxi-manage-users simulate: --fail-host goes with --fail-write K (the host's K-th write fails)")
		return 2
	}
	if *vcenter {
		vopt := esxsim.VCenterOptions{
			Common: opt.Common, // the settings a host and a vCenter share, as given above
			Hosts:  *hosts, Clusters: *clusters, HostPasswordPolicies: hostPolicies, FailHost: *failHost,
		}
		vopt.HostLockdown = hostLockdown
		if kt := *guestKeytab; kt != "" || *keytab != "" {
			if kt == "" {
				kt = *keytab
			}
			vopt.GuestAuth = guestAcceptor(kt)
		}
		vc, stopped, err := startVCenter(ctx, env, vopt)
		if stopped {
			return 1
		}
		var optErr *esxsim.OptionError
		if errors.As(err, &optErr) {
			// A flag value the simulator cannot use: a mistake of usage.
			flag := map[string]string{"Clusters": "--clusters", "HostPasswordPolicies": "--host-password-policy", "FailHost": "--fail-host", "PasswordQualityControl": "--password-policy", "HostLockdown": "--host-lockdown"}[optErr.Option]
			if flag == "" {
				flag = optErr.Option
			}
			printError(env.Stderr, "simulate", fmt.Errorf("%s: %w%s", flag, optErr.Err, noPasswordHint(optErr.Err)))
			return 2
		}
		if err != nil {
			printError(env.Stderr, "simulate", err)
			return 3
		}
		defer vc.Close()
		vc.ExpireSessionAt(*expireAt)
		fmt.Fprintln(env.Stdout, shownURL(vc.URL, password))
		fmt.Fprintf(env.Stdout, "thumbprint: %s\n", vc.Thumbprint)
		for _, h := range vc.Hosts {
			fmt.Fprintf(env.Stdout, "host: %s\n", h)
		}
		if vopt.GuestAuth != nil && len(vc.VMs) == 0 {
			if *guestKeytab != "" {
				vc.Close()
				printError(env.Stderr, "simulate", fmt.Sprintf("--guest-keytab %s has no key for any VM's guest (host/<vm name>, such as host/DC0_H0_VM0)", quoteClip(*guestKeytab)))
				return 2
			}
			// A keytab with vCenter's key only: pass-through is served,
			// every guest refuses guest tokens.
			fmt.Fprintf(env.Stderr, "esxi-manage-users simulate: no VM accepts guest SSPI tokens: %s has no key host/<vm name> for any VM (give the guests' keys with --guest-keytab); LoginBySSPI for %s is served\n", quoteClip(*keytab), *spn)
		}
		for _, vm := range vc.VMs {
			fmt.Fprintf(env.Stdout, "vm: %s\n", vm)
		}
		<-ctx.Done()
		return 0
	}
	sim, err := esxsim.Start(opt)
	if errors.Is(err, esxsim.ErrNoPassword) {
		printError(env.Stderr, "simulate", fmt.Errorf("--password-policy: %w%s", err, noPasswordHint(err)))
		return 2
	}
	if err != nil {
		printError(env.Stderr, "simulate", err)
		return 3
	}
	defer sim.Close()
	sim.ExpireSessionAt(*expireAt)
	fmt.Fprintln(env.Stdout, shownURL(sim.URL, password))
	fmt.Fprintf(env.Stdout, "thumbprint: %s\n", sim.Thumbprint)
	<-ctx.Done()
	return 0
}

// startVCenter builds and starts the simulated vCenter, saying on stderr
// that it does when that takes a while. A signal (ctx done) stops it at
// once: stopped is then true, the build is left to stop at its next host
// (StartVCenterContext) and to close what it built, and nothing is served.
func startVCenter(ctx context.Context, env Env, opt esxsim.VCenterOptions) (vc *esxsim.VCenter, stopped bool, err error) {
	const slow = 200 // hosts: about a second to build
	if opt.Hosts > slow {
		fmt.Fprintf(env.Stderr, "esxi-manage-users simulate: building a vCenter with %d hosts …\n", opt.Hosts)
	}
	type started struct {
		vc  *esxsim.VCenter
		err error
	}
	done := make(chan started, 1)
	go func() {
		vc, err := esxsim.StartVCenterContext(ctx, opt)
		done <- started{vc, err}
	}()
	select {
	case s := <-done:
		if s.err == nil || ctx.Err() == nil {
			return s.vc, false, s.err
		}
	case <-ctx.Done():
		go func() {
			if s := <-done; s.vc != nil {
				s.vc.Close()
			}
		}()
	}
	printError(env.Stderr, "simulate", fmt.Sprintf("stopped by a signal while building the vCenter's %d hosts: nothing was served", opt.Hosts))
	return nil, true, nil
}

// simulatorPassword is the login password simulate serves: from
// --password-file, else ESXI_PASSWORD (the CLI's own sources: never a flag
// value), else "" (a random one). A shared one lets standalone simulators
// form a local fleet that one credential logs in to.
func simulatorPassword(file string, env Env) (string, error) {
	if file == "" {
		return env.Getenv("ESXI_PASSWORD"), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read --password-file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("--password-file %s is empty: it holds the password to serve", file)
	}
	return pw, nil
}

// shownURL is line 1: the URL with the login in it (GOVC_URL's form) — the
// password only when it was generated: one the caller gave is not printed.
func shownURL(u *url.URL, given string) string {
	if given == "" {
		return u.String()
	}
	shown := *u
	shown.User = url.User(u.User.Username())
	return shown.String()
}

// guestAcceptor returns the acceptor of a VM's guest: Kerberos for the
// service principal host/<vm name> (guest-auth's default --guest-spn) from
// keytab, answering as MIT's acceptor does (simguest sends its final token
// as the challenge and issues the ticket on the empty answer). A VM whose principal is not in the keytab gets none.
func guestAcceptor(path string) func(vm string) (simguest.Acceptor, error) {
	return func(vm string) (simguest.Acceptor, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		kt := new(keytab.Keytab)
		if err := kt.Unmarshal(b); err != nil {
			return nil, fmt.Errorf("keytab %s: %w", path, err)
		}
		spn := "host/" + vm
		found := false
		for _, e := range kt.Entries {
			found = found || strings.Join(e.Principal.Components, "/") == spn
		}
		if !found {
			return nil, fmt.Errorf("keytab %s has no key for %s", path, spn)
		}
		return krbaccept.New(krbaccept.Options{Keytab: kt, SPN: spn})
	}
}

// noPasswordHint is what to check in a policy no password meets.
func noPasswordHint(err error) string {
	if !errors.Is(err, esxsim.ErrNoPassword) {
		return ""
	}
	return " — check its min= against its max= (without max=, ESXi's passwdqc allows at most 40 characters) and that four-character-class passwords are not disabled"
}

// hostPolicyFlag collects --host-password-policy NAME=POLICY values.
type hostPolicyFlag map[string]string

func (f hostPolicyFlag) String() string { return "" }

func (f hostPolicyFlag) Set(v string) error {
	name, policy, ok := strings.Cut(v, "=")
	name = strings.TrimSpace(name)
	_, dup := f[name]
	switch {
	case !ok || name == "" || strings.TrimSpace(policy) == "":
		return fmt.Errorf("want NAME=POLICY, e.g. DC0_H0='retry=3 min=disabled,disabled,disabled,disabled,15'")
	case dup:
		return fmt.Errorf("host %q given twice", name)
	}
	f[name] = policy
	return nil
}

// hostLockdownFlag collects --host-lockdown NAME=MODE values, the modes as
// HostLockdownMode values.
type hostLockdownFlag map[string]string

func (f hostLockdownFlag) String() string { return "" }

func (f hostLockdownFlag) Set(v string) error {
	name, mode, ok := strings.Cut(v, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("want NAME=MODE, e.g. DC0_H0=normal")
	}
	if _, dup := f[name]; dup {
		return fmt.Errorf("host %q given twice", name)
	}
	m, err := esxsim.ParseLockdownMode(strings.TrimSpace(mode))
	if err != nil {
		return err
	}
	f[name] = m
	return nil
}

// lockdownFlags checks --lockdown (a standalone host's mode, into opt) and
// --host-lockdown (with --vcenter).
func lockdownFlags(lockdown string, hosts hostLockdownFlag, vcenter bool, opt *esxsim.Options) error {
	switch {
	case lockdown != "" && vcenter:
		return errors.New("--lockdown is for a standalone host; with --vcenter use --host-lockdown NAME=MODE")
	case len(hosts) > 0 && !vcenter:
		return errors.New("--host-lockdown goes with --vcenter")
	case lockdown == "":
		return nil
	}
	m, err := esxsim.ParseLockdownMode(lockdown)
	if err != nil {
		return fmt.Errorf("--lockdown: %w", err)
	}
	opt.Lockdown = m
	return nil
}

// checkSimulateFlags refuses simulate's malformed flags (exit 2, naming the
// flag): arguments, a --listen that is not host:port, negative counts, and
// --hosts without --vcenter, below 1 or above esxsim.MaxVCenterHosts.
func checkSimulateFlags(fs *flag.FlagSet, listen string, failWrite, expireAt, hosts int, vcenter bool) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %s", quoteClip(fs.Arg(0)))
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return fmt.Errorf("--listen %s: give host:port, such as 127.0.0.1:8989 (port 0 picks a free one)", quoteClip(listen))
	}
	if failWrite < 0 {
		return fmt.Errorf("--fail-write %d: give a write number from 1, or 0 for none", failWrite)
	}
	if expireAt < 0 {
		return fmt.Errorf("--expire-session-at %d: give a request number from 1, or 0 for none", expireAt)
	}
	explicit := explicitFlags(fs)
	if explicit["hosts"] && !vcenter {
		return errors.New("--hosts goes with --vcenter")
	}
	if hosts < 1 {
		return fmt.Errorf("--hosts %d: a vCenter manages at least 1 host", hosts)
	}
	if hosts > esxsim.MaxVCenterHosts {
		return fmt.Errorf("--hosts %d: a vCenter manages at most %d hosts (vSphere's configuration maximum; here about 0.2 MB and 6 ms each to build, 0.5 GB and 15 s for %d)", hosts, esxsim.MaxVCenterHosts, esxsim.MaxVCenterHosts)
	}
	return nil
}
