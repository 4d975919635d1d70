package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/guest"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/guestauth"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// maxProcessLines is how many processes guest-auth prints.
const maxProcessLines = 10

// runGuestAuth is the guest-auth command.
func runGuestAuth(ctx context.Context, c *command, args []string, env Env) int {
	fs := flag.NewFlagSet("guest-auth", flag.ContinueOnError)
	fs.SetOutput(textsafe.NewWriter(env.Stderr))
	vmName := fs.String("vm", "", "the VM, by name (or inventory path)")
	guestSPN := fs.String("guest-spn", "", "the guest's SPN (default host/<vm name>)")
	operation := fs.String("operation", "list-processes", "the guest operation to run with the ticket: list-processes or validate")
	var conn connFlags
	conn.register(fs)
	fs.Usage = func() { c.printHelp(fs.Output(), fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return errkind.ExitInvalid
	}
	invalid := func(format string, a ...any) int {
		printError(env.Stderr, "guest-auth", fmt.Sprintf(format, a...))
		return errkind.ExitInvalid
	}
	if fs.NArg() > 0 {
		return invalid("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *vmName == "" {
		return invalid("--vm is required")
	}
	if *operation != "list-processes" && *operation != "validate" {
		return invalid("--operation must be list-processes or validate, not %q", *operation)
	}
	if conn.simulate {
		return invalid("--simulate has no VMs with guest authentication; point --server at a simulator with guest SSPI (internal/sim/simguest)")
	}
	// The guest's Kerberos credentials: --keytab/--principal (allowed here
	// without --passthroughauth) or the credential cache, with the
	// --passthroughauthpackage package.
	// Connection settings that do not resolve (errkind.ErrInvalid: usage
	// errors, an http:// server) exit 2, as in apply and check-password;
	// the rest 3.
	fail := func(err error) int {
		printError(env.Stderr, "guest-auth", err)
		return connectExit(err)
	}
	gconn := conn
	gconn.passThrough, gconn.spn = true, ""
	krbp, err := gconn.sspiConfig(env)
	if err != nil {
		return fail(err)
	}
	krb := *krbp
	rconn := conn
	if !conn.passThrough {
		rconn.keytab, rconn.principal = "", ""
	}
	var cfg job.Config
	if err := rconn.resolve(fs, env, &cfg); err != nil {
		return fail(err)
	}
	ecfg := esx.Config{
		Server:     cfg.Server,
		Username:   cfg.Username,
		Password:   cfg.Password,
		Thumbprint: cfg.Thumbprint,
		Insecure:   cfg.Insecure,
		Timeout:    cfg.Timeout,
	}
	if cfg.PassThrough != nil {
		lc := *cfg.PassThrough
		ecfg.Login = lc.LoginClient
	}
	closeTrace, err := conn.openTrace(env, &ecfg.Trace)
	if err != nil {
		return fail(err)
	}
	defer closeTrace()
	sess, err := esx.Dial(ctx, ecfg)
	if err != nil {
		return fail(err)
	}
	defer sess.Close()
	fmt.Fprintf(env.Stdout, "connected to %s as %s\n", textsafe.Escape(sess.Server), textsafe.Escape(sess.User))

	vm, err := findVM(ctx, sess.Client, *vmName)
	if err != nil {
		return fail(err)
	}
	gc := krb
	gc.SPN = *guestSPN
	if gc.SPN == "" {
		gc.SPN = sspi.SPNFor(vm.Name())
	}
	in, err := sspi.NewInitiator(gc)
	if err != nil {
		return fail(fmt.Errorf("guest credentials: %w", err))
	}
	defer in.Close()

	tk, err := guestauth.Acquire(ctx, sess.Client, vm.Reference(), in)
	if err != nil {
		return fail(fmt.Errorf("authenticate in the guest of VM %s as %s: %w", vm.Name(), who(krb), err))
	}
	fmt.Fprintf(env.Stdout, "acquired a guest ticket for %s in VM %s (SPN %s, %d calls)\n", textsafe.Escape(who(krb)), textsafe.Escape(vm.Name()), textsafe.Escape(gc.SPN), tk.Legs())

	opErr := runGuestOperation(ctx, env, sess.Client, vm, tk, *operation)
	relErr := tk.Release(ctx)
	if relErr == nil {
		fmt.Fprintln(env.Stdout, "released the ticket")
	}
	if err := errors.Join(opErr, relErr); err != nil {
		return fail(err)
	}
	return 0
}

func runGuestOperation(ctx context.Context, env Env, c *vim25.Client, vm *object.VirtualMachine, tk *guestauth.Ticket, op string) error {
	switch op {
	case "validate":
		if err := tk.Validate(ctx); err != nil {
			return fmt.Errorf("validate the ticket: %w", err)
		}
		fmt.Fprintln(env.Stdout, "the guest accepted the ticket (ValidateCredentialsInGuest)")
		return nil
	}
	pm, err := guest.NewOperationsManager(c, vm.Reference()).ProcessManager(ctx)
	if err != nil {
		return fmt.Errorf("guest process manager: %w", err)
	}
	procs, err := pm.ListProcesses(ctx, tk.Auth(), nil)
	if err != nil {
		return fmt.Errorf("list processes: %w", guestauth.Wrap("ListProcessesInGuest", vm.Reference(), err))
	}
	fmt.Fprintf(env.Stdout, "%d processes in the guest\n", len(procs))
	if len(procs) > 0 {
		fmt.Fprintf(env.Stdout, "  %-8s %-24s %s\n", "PID", "OWNER", "COMMAND")
	}
	for i, p := range procs {
		if i == maxProcessLines {
			fmt.Fprintf(env.Stdout, "  … %d more\n", len(procs)-maxProcessLines)
			break
		}
		cmd := p.CmdLine
		if cmd == "" {
			cmd = p.Name
		}
		fmt.Fprintf(env.Stdout, "  %-8d %-24s %s\n", p.Pid, textsafe.Escape(p.Owner), oneLine(cmd, 100))
	}
	return nil
}

// oneLine is s on one line (line breaks and tabs as spaces), cut to max
// characters, with the remaining control and bidi characters escaped.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > max {
		return textsafe.Escape(string(r[:max])) + "…"
	}
	return textsafe.Escape(s)
}

// findVM finds one VM by name anywhere in the inventory, or by inventory path.
func findVM(ctx context.Context, c *vim25.Client, name string) (*object.VirtualMachine, error) {
	vms, err := find.NewFinder(c).VirtualMachineList(ctx, name)
	if err != nil {
		var nf *find.NotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("VM %q not found", name)
		}
		return nil, fmt.Errorf("find VM %q: %w", name, err)
	}
	switch len(vms) {
	case 0:
		return nil, fmt.Errorf("VM %q not found", name)
	case 1:
		return vms[0], nil
	}
	var paths []string
	for _, vm := range vms {
		paths = append(paths, vm.InventoryPath)
	}
	return nil, fmt.Errorf("%d VMs are named %q (%s): give an inventory path", len(vms), name, strings.Join(paths, ", "))
}

// who names the Kerberos user: the --principal, else the credential
// cache's principal.
func who(k sspi.Config) string {
	if k.Principal != "" {
		return k.Principal
	}
	path := strings.TrimPrefix(k.CCache, "FILE:")
	if path == "" {
		return "the current user"
	}
	cc, err := credentials.LoadCCache(path)
	if err != nil {
		return "the current user"
	}
	p := cc.DefaultPrincipal
	return p.PrincipalName.PrincipalNameString() + "@" + p.Realm
}
