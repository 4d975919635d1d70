// Package cli implements the esxi-manage-users commands. Main is the whole
// program; cmds/esxi-manage-users only calls it.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Env is what a command gets from its process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// StdinIsTerminal reports whether Stdin is a terminal (nil: it is not).
	// apply and plan without --file then print their usage instead of
	// waiting for a document to be typed.
	StdinIsTerminal func() bool
}

// OSEnv is the real process environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, StdinIsTerminal: stdinIsTerminal}
}

// stdinIsTerminal reports whether the process's standard input is a
// terminal: a character device other than the null device (whose reading
// ends at once, as for a closed stdin). golang.org/x/term is not in go.mod;
// a pipe or a file is not a character device.
func stdinIsTerminal() bool {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

const usage = `esxi-manage-users manages the local user accounts of a VMware ESXi host from
the esxi/manage-users Param (a YAML or JSON array of {id, operation,
description, password, role}).

Usage:
  esxi-manage-users apply  [--file PATH|-] [--ignore-list a,b] [--output text|json] [connection flags]
  esxi-manage-users plan   (same flags as apply; reads the host, writes nothing)
  esxi-manage-users list   [--output text|json] [--ignore-list a,b] [connection flags] [--vihost HOST]
                         (the host's local users, their roles, protected and ignored ids; writes nothing)
  esxi-manage-users apply --from-drp      (inside a DRP task: Params from RS_ENDPOINT/RS_TOKEN/RS_UUID)
  esxi-manage-users simulate [--listen 127.0.0.1:8989] [--fail-write K] [--expire-session-at K]
                         [--password-file FILE] (else env ESXI_PASSWORD, else a random password)
  esxi-manage-users check-password [--policy STRING] [--user ID] [--jsonl] < passwords
  esxi-manage-users guest-auth --vm NAME [--operation list-processes|validate] [connection flags]
                         (SSPI ticket in a VM's guest: acquire, use once, release)
  esxi-manage-users help COMMAND

Connection flags:
  --server HOST|IP|URL   the ESXi host (env GOVC_URL as a fallback); https only: an
                         http:// server is refused (passwords would cross in clear)
  --username NAME        default root (env GOVC_USERNAME)
  --password-file PATH   the password; or env ESXI_PASSWORD, then GOVC_PASSWORD
                         (a password is never taken as a flag value: one in
                         --server, user:password@host, is refused); one of them
                         is required unless --passthroughauth or --simulate
  --thumbprint FP        pin the host's certificate (env GOVC_THUMBPRINT): its SHA-1
                         or SHA-256 fingerprint, any case, with colons (AB:CD:…) or
                         none, optionally after "thumbprint:" as simulate prints it
  --insecure             skip certificate verification (env GOVC_INSECURE); not
                         together with --thumbprint
  --timeout DURATION     time limit of each vSphere call, positive (default 60s)
  --trace-soap FILE|-    write the SOAP conversation (passwords, tokens and tickets
                         removed) to FILE, or - for stderr
  --simulate             use a fresh built-in ESXi simulator instead of a host
                         (not with --server, --username, --password-file,
                         --thumbprint, --insecure, --passthroughauth)
  --passthroughauth      log in with SSPI pass-through (Kerberos) instead of a password;
                         --passthroughauthpackage Negotiate|Kerberos, --spn SPN,
                         --keytab FILE --principal user@REALM (else KRB5CCNAME)

Apply and plan:
  --file PATH|-          the document; without --file, standard input (a terminal
                         there is a usage error: pipe the document in)
  --allow-self-lockout   let the list demote (role other than Admin) or remove the
                         user this run logs in as and, with --vihost, vpxuser;
                         without it such an entry is invalid (exit 2)
  --password-policy P    check passwords against P instead of the host's policy
                         (not with --skip-password-check)

Many hosts in one run (apply, plan: every host read and checked before the first
write; list: one table per host):
  --server VC --vihost PATTERN...   hosts of a vCenter: repeat --vihost; globs on
                         names and addresses ('esx-*') or inventory paths ('/DC0/host/C1/*')
  --server HOST --server HOST...    standalone hosts, one credential source
  --known-hosts FILE     pin each server's certificate (govc's known-hosts file;
                         env GOVC_TLS_KNOWN_HOSTS)
  --parallel N           hosts at a time (default 8); --fail-fast (apply, plan): start
                         no host after one fails, running ones stop after their current entry
  exit 0 every host done (listed); 1 some not done (the report says which); 2 invalid
  for any host, nothing changed anywhere; 3 no host could be reached, nothing changed

Output: ids, roles, host messages are printed with control and bidi characters
escaped (\x1b, \u202e); --output json keeps values exact.

Exit codes:
  0  every entry done (or, for check-password, every password passes)
  1  an entry failed while applying, or the run was stopped (SIGINT/SIGTERM):
     the report says which were applied and what the host holds for the entry in flight
  2  invalid input or a mistake of usage — an unknown flag, a malformed value
     (--timeout 0, --thumbprint zzz, --output xml), flags that conflict, an
     http:// server, a password in --server, a self-lockout…: nothing was
     changed. Every problem of the list is reported in one run.
  3  could not connect, log in or read the host: nothing was changed
`

// Main runs the program and returns its exit code.
func Main(args []string, env Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, env)
}

// Run is Main with a caller-supplied context.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "apply":
		return runApply(ctx, rest, env, false)
	case "plan":
		return runApply(ctx, rest, env, true)
	case "list":
		return runList(ctx, rest, env)
	case "simulate":
		return runSimulate(ctx, rest, env)
	case "check-password":
		return runCheckPassword(ctx, rest, env)
	case "guest-auth":
		return runGuestAuth(ctx, rest, env)
	case "help", "-h", "--help":
		if len(rest) > 0 {
			return Run(ctx, []string{rest[0], "--help"}, env)
		}
		fmt.Fprint(env.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(env.Stderr, "esxi-manage-users: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
