package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// A command of esxi-manage-users. Run dispatches on commands; the top-level
// usage lists their synopses; "esxi-manage-users help NAME" and "NAME
// --help" print the command's help (printHelp), and the CLI reference
// (docs/cli.md) is that output (Reference): every word of the help is
// written once, here and in the command's flag set.
type command struct {
	name string
	// synopsis: the ways to call it, each after "esxi-manage-users ".
	synopsis []string
	// about: what it does, paragraphs separated by a blank line (wrapped
	// when printed).
	about string
	// exits: what its exit codes mean; nil: errkind.Exits.
	exits []errkind.Exit
	// run runs it (nil for help, which Run runs itself).
	run func(ctx context.Context, c *command, args []string, env Env) int
}

// applyExits are apply's and plan's exit codes: errkind.Exits, and what
// they mean for several hosts.
var applyExits = []errkind.Exit{
	{Code: errkind.ExitOK, Meaning: "every entry done (with several hosts: on every host)"},
	{Code: errkind.ExitApply, Meaning: "an entry failed while applying, or the run was stopped (SIGINT/SIGTERM) — the report says which were applied and what the host holds for the entry in flight; with several hosts: some hosts were not done — failed, unreachable or not run (the report says which)"},
	{Code: errkind.ExitInvalid, Meaning: "invalid input or a mistake of usage, for any host — nothing was changed anywhere. Every problem of the list is reported in one run"},
	{Code: errkind.ExitConnect, Meaning: "could not connect, log in or read the host (with several hosts: no host could be), or the login lacks the privileges the list needs — nothing was changed"},
}

// commands are the commands of esxi-manage-users, in the order the usage
// and the reference list them.
var commands = []*command{
	{
		name: "apply",
		synopsis: []string{
			"apply [--file PATH|-] [--ignore-list a,b] [--output text|json] [connection flags]",
			"apply --server VC --vihost PATTERN… | --server HOST --server HOST… [--known-hosts FILE] [--parallel N] [--fail-fast] [flags]",
			"apply --from-drp",
		},
		about: "Applies the esxi/manage-users list (YAML or JSON) to the host, in order, and stops at the first entry that fails. " +
			"The whole list is checked before the first write — its fields, the roles and the password policy the host defines, a self-lockout, the session's privileges — and a list with a problem changes nothing. " +
			"Prints one line per entry as it is applied and a summary, or with --output json one report.\n\n" +
			"With several hosts (--vihost patterns of one vCenter, or --server repeated) every host is read and checked before the first write on any.\n\n" +
			"With --from-drp, inside a DRP task, the list and every setting come from the machine's Params (RS_ENDPOINT, RS_TOKEN, RS_UUID) and the report is written to esxi/manage-users-report.",
		exits: applyExits,
		run:   runApply,
	},
	{
		name: "plan",
		synopsis: []string{
			"plan [--file PATH|-] [--ignore-list a,b] [--output text|json] [connection flags]",
			"plan --server VC --vihost PATTERN… | --server HOST --server HOST… [--known-hosts FILE] [--parallel N] [--fail-fast] [flags]",
			"plan --from-drp",
		},
		about: "Reads the host, checks the list as apply does and prints what apply would do for each entry; writes nothing. " +
			"Takes apply's flags.",
		exits: applyExits,
		run:   runApply,
	},
	{
		name: "list",
		synopsis: []string{
			"list [--output text|json] [--ignore-list a,b] [connection flags] [--vihost HOST]",
			"list --server VC --vihost PATTERN… | --server HOST --server HOST… [--known-hosts FILE] [--parallel N] [flags]",
		},
		about: "Shows the host's local users with their description and role on the host's root folder, and marks the protected (root, dcui) and ignored ids; with several hosts, one table per host. " +
			"Read-only: nothing is written.",
		exits: []errkind.Exit{
			{Code: errkind.ExitOK, Meaning: "every host listed"},
			{Code: errkind.ExitApply, Meaning: "some hosts could not be reached or read (the others are listed)"},
			{Code: errkind.ExitInvalid, Meaning: "a mistake of usage, or a --vihost pattern that selects no host — nothing was read"},
			{Code: errkind.ExitConnect, Meaning: "could not connect, log in or read the host (with several hosts: no host)"},
		},
		run: runList,
	},
	{
		name: "simulate",
		synopsis: []string{
			"simulate [--listen 127.0.0.1:8989] [--fail-write K] [--expire-session-at K] [--esxi-version V] [--password-file FILE]",
			"simulate --vcenter [--hosts N] [--clusters N] [--host-password-policy NAME=POLICY]… [--fail-host NAME] [flags]",
		},
		about: "Serves a faithful ESXi simulator (with --vcenter, a vCenter managing --hosts of them) until SIGINT or SIGTERM. " +
			"Line 1 of the output is its URL in GOVC_URL form with the login in it (the password only when it was generated: else from --password-file, or env ESXI_PASSWORD); line 2 is \"thumbprint: \" and its certificate's SHA-1 fingerprint; " +
			"with --vcenter, one \"host: \" line per managed host and one \"vm: \" line per VM follow.",
		exits: []errkind.Exit{
			{Code: errkind.ExitOK, Meaning: "served until stopped by SIGINT/SIGTERM"},
			{Code: errkind.ExitApply, Meaning: "stopped by a signal while building the vCenter: nothing was served"},
			{Code: errkind.ExitInvalid, Meaning: "invalid flags"},
			{Code: errkind.ExitConnect, Meaning: "the simulator could not start (such as an address in use)"},
		},
		run: runSimulate,
	},
	{
		name:     "check-password",
		synopsis: []string{"check-password [--policy STRING] [--user ID] [--description TEXT] [--jsonl] [connection flags] < passwords"},
		about: "Reads one password per line (or JSON objects with --jsonl) from standard input and prints OK or passwdqc's reason for each. " +
			"The policy is --policy, else the host's (given connection flags), else ESXi's default.",
		exits: []errkind.Exit{
			{Code: errkind.ExitOK, Meaning: "every password passes"},
			{Code: errkind.ExitApply, Meaning: "some do not"},
			{Code: errkind.ExitInvalid, Meaning: "a malformed policy, input or connection flags"},
			{Code: errkind.ExitConnect, Meaning: "the host's policy could not be read"},
		},
		run: runCheckPassword,
	},
	{
		name:     "guest-auth",
		synopsis: []string{"guest-auth --vm NAME [--guest-spn SPN] [--operation list-processes|validate] [connection flags]"},
		about: "Authenticates in a VM's guest with SSPI/Kerberos through vCenter or ESXi (GuestAuthManager.AcquireCredentialsInGuest: the server's challenge is answered until it returns a guest ticket), runs one guest operation with the ticket, and releases it. " +
			"The ticket and the Kerberos tokens are never shown.\n\n" +
			"The vSphere login uses a password (connection flags) or, with --passthroughauth, SSPI pass-through (LoginBySSPI). " +
			"The guest is always authenticated with Kerberos, package --passthroughauthpackage, for the SPN --guest-spn (default host/<vm name>): credentials from the credential cache (KRB5CCNAME) or from --keytab/--principal (here also without --passthroughauth); krb5.conf from KRB5_CONFIG (else /etc/krb5.conf). " +
			"On Windows the current user's SSPI credentials are used.",
		exits: []errkind.Exit{
			{Code: errkind.ExitOK, Meaning: "done (the ticket released)"},
			{Code: errkind.ExitInvalid, Meaning: "invalid flags or connection settings (--vm, --operation, --simulate, an http:// or password-bearing --server…)"},
			{Code: errkind.ExitConnect, Meaning: "any other error: connecting, logging in, finding the VM, authenticating in the guest, the operation, the release"},
		},
		run: runGuestAuth,
	},
	{
		name:     "help",
		synopsis: []string{"help [COMMAND]"},
		about:    "Prints the usage of esxi-manage-users, or COMMAND's: how to call it, what it does, its flags and its exit codes.",
		exits: []errkind.Exit{
			{Code: errkind.ExitOK, Meaning: "printed"},
			{Code: errkind.ExitInvalid, Meaning: "no such command"},
		},
	},
}

// lookup is the command named name, or nil.
func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// helpWidth is the width the help is wrapped to.
const helpWidth = 80

// printHelp writes c's help to w: its synopsis, what it does, its flags (fs;
// nil: none) and its exit codes.
func (c *command) printHelp(w io.Writer, fs *flag.FlagSet) {
	for i, s := range c.synopsis {
		prefix := "Usage: "
		if i > 0 {
			prefix = "       "
		}
		fmt.Fprintf(w, "%sesxi-manage-users %s\n", prefix, s)
	}
	fmt.Fprintf(w, "\n%s\n", wrap(c.about, "", helpWidth))
	if fs != nil {
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(w, fs)
	}
	exits := c.exits
	if exits == nil {
		exits = errkind.Exits
	}
	fmt.Fprint(w, "\nExit codes:\n")
	printExits(w, exits)
}

// printFlags writes every flag of fs, in lexical order: "--name TYPE", then
// its help text wrapped and indented, with its default when it has one (as
// flag.PrintDefaults: a string default quoted; none for a zero value).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		switch f.DefValue {
		case "", "false", "0", "0s":
		default:
			if name == "string" {
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintf(w, "%s\n%s\n", line, wrap(usage, "        ", helpWidth))
	})
}

// printExits writes exit codes and their meanings, one code a paragraph.
func printExits(w io.Writer, exits []errkind.Exit) {
	for _, e := range exits {
		text := wrap(e.Meaning, "     ", helpWidth)
		fmt.Fprintf(w, "  %d  %s\n", e.Code, strings.TrimPrefix(text, "     "))
	}
}

// wrap fills text's paragraphs (separated by a blank line) to width
// columns, each line after indent; a word longer than the line stands
// alone.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	for i, para := range strings.Split(text, "\n\n") {
		if i > 0 {
			b.WriteString("\n\n")
		}
		n := 0
		for j, word := range strings.Fields(para) {
			switch {
			case j == 0:
				b.WriteString(indent)
				n = len(indent)
			case n+1+utf8.RuneCountInString(word) > width:
				b.WriteString("\n" + indent)
				n = len(indent)
			default:
				b.WriteByte(' ')
				n++
			}
			b.WriteString(word)
			n += utf8.RuneCountInString(word)
		}
	}
	return b.String()
}

// printUsage writes the top-level usage: what the program is, every
// command's synopsis, the connection flags, how output is escaped, and the
// exit codes.
func printUsage(w io.Writer) {
	fmt.Fprint(w, wrap("esxi-manage-users manages the local user accounts of a VMware ESXi host from the esxi/manage-users Param (a YAML or JSON array of {id, operation, description, password, role}).", "", helpWidth))
	fmt.Fprint(w, "\n\nUsage:\n")
	for _, c := range commands {
		for _, s := range c.synopsis {
			fmt.Fprintf(w, "  esxi-manage-users %s\n", s)
		}
	}
	var conn connFlags
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	conn.register(fs)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
	fmt.Fprintf(w, "\n%s\n", wrap("Connection flags (apply, plan, list, check-password, guest-auth): "+strings.Join(names, ", ")+
		". The password is never a flag value: --password-file, else env ESXI_PASSWORD, then GOVC_PASSWORD. "+
		"\"esxi-manage-users help COMMAND\" prints a command's flags.", "", helpWidth))
	fmt.Fprintf(w, "\n%s\n", wrap(`Output: ids, roles and host messages are printed with control and bidi characters escaped (\x1b, \u202e); --output json keeps values exact.`, "", helpWidth))
	if builtinSim == nil {
		fmt.Fprintf(w, "\n%s\n", wrap("This build has no simulator (-tags nosim): simulate and --simulate exit 2.", "", helpWidth))
	}
	fmt.Fprint(w, "\nExit codes:\n")
	printExits(w, errkind.Exits)
}

// runHelp is the help command: the top-level usage, or a command's help.
func runHelp(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		printUsage(env.Stdout)
		return errkind.ExitOK
	}
	switch args[0] {
	case "help", "-h", "--help":
		lookup("help").printHelp(env.Stdout, nil)
		return errkind.ExitOK
	}
	if lookup(args[0]) == nil {
		return unknownCommand(args[0], env)
	}
	return Run(ctx, []string{args[0], "--help"}, env)
}
