package cli

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/tlspin"
	"github.com/esxi-users/esxi-users/params"
)

// connFlags are the connection flags shared by apply, plan, list,
// check-password and guest-auth (--trace-soap included).
type connFlags struct {
	server, username, passwordFile, thumbprint string
	insecure, simulate                         bool
	timeout                                    time.Duration
	// vihost names the ESXi host to manage through the vCenter in server.
	vihost string
	// SSPI pass-through (esxcli's --passthroughauth).
	passThrough       bool
	authPackage, spn  string
	keytab, principal string
	// trace is --trace-soap: a file, or - for stderr.
	trace string
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "the ESXi `HOST`: name, IP address or URL (env GOVC_URL); https only: an http:// server is refused (passwords would cross in clear), and so is a password in it (user:password@host)")
	fs.StringVar(&c.username, "username", "root", "user to log in as (env GOVC_USERNAME)")
	fs.StringVar(&c.passwordFile, "password-file", "", "`FILE` holding the login password (else env ESXI_PASSWORD, then GOVC_PASSWORD; a password is never a flag value); one of them is required unless --passthroughauth or --simulate")
	fs.StringVar(&c.thumbprint, "thumbprint", "", "pin the host's certificate (env GOVC_THUMBPRINT): its SHA-1 or SHA-256 fingerprint `FP`, any case, with colons (AB:CD:…) or none, optionally after \"thumbprint:\" as simulate prints it")
	fs.BoolVar(&c.insecure, "insecure", false, "do not verify the host's certificate (env GOVC_INSECURE); not with --thumbprint")
	fs.BoolVar(&c.simulate, "simulate", false, "target a fresh built-in ESXi simulator instead of a host (not with --server, --username, --password-file, --thumbprint, --insecure, --passthroughauth)")
	fs.DurationVar(&c.timeout, "timeout", 0, fmt.Sprintf("time limit of each vSphere call, a positive duration (default %gs)", esx.DefaultTimeout.Seconds()))
	fs.StringVar(&c.vihost, "vihost", "", "manage this ESXi `HOST` (name or address) through the vCenter given with --server, like esxcli --vihost")
	fs.BoolVar(&c.passThrough, "passthroughauth", false, "log in with SSPI pass-through (Kerberos from KRB5CCNAME, or --keytab/--principal; Windows: the current user) instead of a password")
	fs.StringVar(&c.authPackage, "passthroughauthpackage", "Negotiate", "SSPI package for --passthroughauth: Negotiate (SPNEGO) or Kerberos")
	fs.StringVar(&c.spn, "spn", "", "service principal of the server for --passthroughauth (default host/<server>)")
	fs.StringVar(&c.keytab, "keytab", "", "with --passthroughauth: log in from this keytab `FILE` instead of the credential cache")
	fs.StringVar(&c.principal, "principal", "", "with --keytab: the client principal (user@REALM)")
	fs.StringVar(&c.trace, "trace-soap", "", "write the SOAP conversation (passwords, tokens and tickets removed) to this `FILE`; - is stderr")
}

// noSimulator is what --simulate and simulate say in a build without the
// simulator (simulate_nosim.go).
const noSimulator = "this build of esxi-manage-users has no simulator: it was built with -tags nosim, as the task binaries the DRP plugin ships are; " +
	"use a build without the tag (go run ./cmds/esxi-manage-users …)"

// usageError is a mistake in the flags or environment: it wraps
// errkind.ErrInvalid, so it exits 2 and nothing is contacted.
func usageError(format string, a ...any) error { return errkind.Invalidf(format, a...) }

// explicitFlags is the set of flags given on the command line.
func explicitFlags(fs *flag.FlagSet) map[string]bool {
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	return explicit
}

// check refuses malformed values and flags that contradict each other. Its
// errors are usage errors (exit 2) naming the flags:
//   - --timeout must be positive (0 or a negative duration would mean "no
//     limit" or "the default" without saying so);
//   - --simulate starts its own simulator and logs in to it: --server,
//     --username, --password-file, --thumbprint, --insecure and
//     --passthroughauth would be ignored;
//   - --insecure turns off the certificate check that --thumbprint asks
//     for (from the environment, GOVC_THUMBPRINT wins over GOVC_INSECURE,
//     as the stricter of the two);
//   - --vihost, when given, names a host.
func (c *connFlags) check(explicit map[string]bool) error {
	if explicit["timeout"] && c.timeout <= 0 {
		return usageError("--timeout %s: give a positive duration, such as 30s or 2m (the default is %s)", c.timeout, esx.DefaultTimeout)
	}
	if c.simulate {
		var ignored []string
		for _, name := range []string{"server", "username", "password-file", "thumbprint", "insecure", "passthroughauth"} {
			if explicit[name] {
				ignored = append(ignored, "--"+name)
			}
		}
		if len(ignored) > 0 {
			return usageError("--simulate starts its own simulator and logs in to it: %s cannot be used with it", strings.Join(ignored, ", "))
		}
	}
	if explicit["insecure"] && c.insecure && explicit["thumbprint"] {
		return usageError("--insecure and --thumbprint conflict: --insecure turns off the certificate check that --thumbprint asks for; give one of them")
	}
	if explicit["vihost"] && strings.TrimSpace(c.vihost) == "" {
		return usageError("--vihost is empty: give the ESXi host's name or address in vCenter")
	}
	return nil
}

// sspiConfig builds the pass-through login configuration, or nil. Its
// errors are usage errors.
func (c *connFlags) sspiConfig(env Env) (*sspi.Config, error) {
	if !c.passThrough {
		if c.keytab != "" || c.principal != "" || c.spn != "" {
			return nil, usageError("--keytab, --principal and --spn go with --passthroughauth")
		}
		return nil, nil
	}
	var pkg sspi.Package
	switch strings.ToLower(c.authPackage) {
	case "negotiate", "":
		pkg = sspi.Negotiate
	case "kerberos":
		pkg = sspi.Kerberos
	default:
		return nil, usageError("--passthroughauthpackage %q: use Negotiate or Kerberos", c.authPackage)
	}
	if (c.keytab == "") != (c.principal == "") {
		return nil, usageError("--keytab and --principal go together")
	}
	return &sspi.Config{
		Package: pkg, SPN: c.spn, Keytab: c.keytab, Principal: c.principal,
		CCache: env.Getenv("KRB5CCNAME"), Krb5Conf: env.Getenv("KRB5_CONFIG"),
	}, nil
}

// given reports whether any way of naming a server was used.
func (c *connFlags) given(env Env) bool {
	return c.simulate || c.server != "" || env.Getenv("GOVC_URL") != ""
}

// displayHost is the host a report names for a run that did not start:
// the --vihost host, else the server (--server, else GOVC_URL) as
// host[:port], without scheme, user information or path; "" when none is
// given or it is not a server.
func (c *connFlags) displayHost(env Env) string {
	if v := strings.TrimSpace(c.vihost); v != "" {
		return v
	}
	server := c.server
	if server == "" && !c.simulate {
		server = env.Getenv("GOVC_URL")
	}
	if u, err := esx.ServerURL(server); err == nil {
		return u.Host
	}
	return ""
}

// hasPassword reports whether a server value carries a password:
// "user:password@host", with or without a scheme. The user information is
// everything before the last "@" (a password may hold "@", "/" or "#").
func hasPassword(server string) bool {
	rest := server
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	at := strings.LastIndex(rest, "@")
	return at >= 0 && strings.Contains(rest[:at], ":")
}

// resolve fills the connection part of cfg from flags, then ESXI_PASSWORD,
// then govc's environment. Its errors are usage errors (errkind.ErrInvalid,
// exit 2): nothing has been contacted. A login without a password source
// (and without --passthroughauth) is one: the host would refuse it.
//
// A password in --server is refused (never echoed): a flag value can be
// read by every user of the machine (ps, /proc/PID/cmdline). A user name
// alone is fine, and GOVC_URL may carry both (the environment, as govc
// does).
func (c *connFlags) resolve(fs *flag.FlagSet, env Env, cfg *job.Config) error {
	explicit := explicitFlags(fs)
	if err := c.check(explicit); err != nil {
		return err
	}
	cfg.Timeout = c.timeout
	pt, err := c.sspiConfig(env)
	if err != nil {
		return err
	}
	cfg.PassThrough = pt
	cfg.ViHost = strings.TrimSpace(c.vihost)
	if c.simulate {
		if builtinSim == nil {
			return usageError("--simulate: %s", noSimulator)
		}
		cfg.Simulator = builtinSim
		return nil
	}
	server := c.server
	var urlUser *url.Userinfo
	if hasPassword(server) {
		return usageError("--server has a password in it (user:password@…, not shown): a flag value can be read by every user of this machine (ps, /proc/PID/cmdline); give the password in the environment variable ESXI_PASSWORD or with --password-file, and the user with --username or as user@ in --server")
	}
	serverSource := "--server"
	if server == "" {
		server, serverSource = env.Getenv("GOVC_URL"), "GOVC_URL"
	}
	if server == "" {
		return usageError("no host: give --server, set GOVC_URL, or use --simulate")
	}
	if _, err := esx.ServerURL(server); err != nil {
		return fmt.Errorf("%s: %w", serverSource, err)
	}
	if u, err := url.Parse(server); err == nil && u.User != nil && u.Host != "" {
		urlUser = u.User
		u.User = nil
		server = u.String()
	} else if i := strings.LastIndex(server, "@"); i >= 0 && !strings.Contains(server, "://") {
		// govc also accepts user:pass@host without a scheme.
		if u, err := url.Parse("https://" + server); err == nil && u.User != nil {
			urlUser = u.User
			server = server[i+1:]
		}
	}
	cfg.Server = server

	switch {
	case explicit["username"]:
		cfg.Username = c.username
	case urlUser != nil && urlUser.Username() != "":
		cfg.Username = urlUser.Username()
	case env.Getenv("GOVC_USERNAME") != "":
		cfg.Username = env.Getenv("GOVC_USERNAME")
	case cfg.ViHost != "" && cfg.PassThrough == nil:
		return usageError("--vihost: give the vCenter user with --username (e.g. administrator@vsphere.local), or use --passthroughauth")
	default:
		cfg.Username = c.username
	}

	switch {
	case cfg.PassThrough != nil:
		// no password: the caller's Kerberos identity logs in
	case c.passwordFile != "":
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return usageError("read --password-file: %w", err)
		}
		cfg.Password = params.NewPassword(strings.TrimRight(string(b), "\r\n"))
		if cfg.Password.IsZero() {
			return usageError("--password-file %s is empty: it holds the login password", c.passwordFile)
		}
	case env.Getenv("ESXI_PASSWORD") != "":
		cfg.Password = params.NewPassword(env.Getenv("ESXI_PASSWORD"))
	case env.Getenv("GOVC_PASSWORD") != "":
		cfg.Password = params.NewPassword(env.Getenv("GOVC_PASSWORD"))
	case urlUser != nil:
		if p, ok := urlUser.Password(); ok {
			cfg.Password = params.NewPassword(p)
		}
	}

	cfg.Thumbprint = c.thumbprint
	source := "--thumbprint"
	if cfg.Thumbprint == "" {
		cfg.Thumbprint, source = env.Getenv("GOVC_THUMBPRINT"), "GOVC_THUMBPRINT"
	}
	if cfg.Thumbprint != "" {
		if _, err := tlspin.Parse(cfg.Thumbprint); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
	}
	cfg.Insecure = c.insecure
	if !explicit["insecure"] {
		if v := env.Getenv("GOVC_INSECURE"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return usageError("GOVC_INSECURE=%q is not a boolean", v)
			}
			cfg.Insecure = b
		}
	}
	if cfg.PassThrough == nil && cfg.Password.IsZero() {
		// Logging in would be refused: say so before contacting anything.
		return usageError("no password: give it in the environment variable ESXI_PASSWORD or with --password-file FILE (GOVC_PASSWORD and a user:password@ in GOVC_URL are read too), or log in with --passthroughauth (Kerberos)")
	}
	return nil
}
