package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/fleet"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// ListedUser is one local user in list's output.
type ListedUser struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	// Role is the name of the user's role on the host's root folder as the
	// host reports it; "" when the user has none.
	Role string `json:"role"`
	// Protected: root or dcui, never modified.
	Protected bool `json:"protected,omitempty"`
	// Ignored: in the ignore list (root and dcui always are), so apply
	// skips its entries.
	Ignored bool `json:"ignored,omitempty"`
	// LockdownException: on the host's lockdown exception list (read when
	// the host is in lockdown mode): it keeps its role while lockdown mode
	// lasts, and only such users' roles can be changed then.
	LockdownException bool `json:"lockdown_exception,omitempty"`
}

// Listing is list's --output json document for one host, and one host's
// listing in FleetListing.
type Listing struct {
	Host string `json:"host"`
	User string `json:"user,omitempty"` // the session's user name
	// Lockdown is the host's lockdown mode (HostLockdownMode:
	// "lockdownDisabled", "lockdownNormal", "lockdownStrict"), when the
	// host reports it.
	Lockdown string `json:"lockdown,omitempty"`
	// Users are the host's local users, sorted by id; absent for a host of
	// a fleet that could not be read.
	Users []ListedUser `json:"users,omitzero"`
	// Unreachable: the host could not be reached or logged in to.
	Unreachable bool `json:"unreachable,omitempty"`
	// Error: why the host could not be read (no users then); for one host,
	// also why the run could not start (a mistake of usage).
	Error string `json:"error,omitempty"`
}

// FleetListing is list's --output json document for more than one target.
type FleetListing struct {
	// Error says why the run did not list every host: which hosts could
	// not be read, or why none was (then Hosts is empty).
	Error string    `json:"error,omitempty"`
	Hosts []Listing `json:"hosts"`
}

// runList shows the host's local users, their roles and which ids apply
// never touches. It reads the host once and writes nothing.
func runList(ctx context.Context, c *command, args []string, env Env) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(textsafe.NewWriter(env.Stderr))
	output := fs.String("output", "text", "text (a table) or json")
	ignoreList := fs.String("ignore-list", "", "comma-separated ids to mark as ignored, as apply would skip them (root and dcui always are)")
	verbose := fs.Bool("verbose", false, "log progress to stderr")
	var conn connFlags
	conn.register(fs)
	var targets fleetFlags
	targets.register(fs, false)
	fs.Usage = func() { c.printHelp(fs.Output(), fs) }
	// failed writes, with --output json, the document of a run that
	// listed no host: JSON output is always a document.
	failed := func(err error) {
		if *output != "json" {
			return
		}
		if targets.many() {
			writeJSON(env.Stdout, FleetListing{Error: err.Error(), Hosts: []Listing{}})
			return
		}
		writeJSON(env.Stdout, Listing{Host: conn.displayHost(env), Error: err.Error(),
			Unreachable: errors.Is(err, errkind.ErrConnect) && !errors.Is(err, errkind.ErrInvalid)})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		failed(err) // the flag package printed it
		return errkind.ExitInvalid
	}
	fail := func(err error) int {
		printError(env.Stderr, "list", err)
		failed(err)
		return connectExit(err)
	}
	if fs.NArg() > 0 {
		return fail(usageError("unexpected argument %s", quoteClip(fs.Arg(0))))
	}
	if *output != "text" && *output != "json" {
		printError(env.Stderr, "list", usageError("--output %s: use text or json", quoteClip(*output)))
		return errkind.ExitInvalid
	}
	var ids []string
	if *ignoreList != "" {
		ids = strings.Split(*ignoreList, ",")
	}
	ignore, err := params.NewIgnoreList(ids)
	if err != nil {
		return fail(usageError("--ignore-list: %w", err))
	}
	var cfg job.Config
	if *verbose {
		cfg.Log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := conn.resolve(fs, env, &cfg); err != nil {
		return fail(err)
	}
	closeTrace, err := conn.openTrace(env, &cfg.Trace)
	if err != nil {
		return fail(err)
	}
	defer closeTrace()
	fc, err := targets.resolve(fs, env, conn, &cfg)
	if err != nil {
		return fail(err)
	}
	if fc != nil {
		return listFleet(ctx, env, *output, ignore, *fc, fail)
	}
	snap, err := job.ReadHost(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	l := listing(snap, ignore)
	if *output == "json" {
		writeJSON(env.Stdout, l)
		return 0
	}
	printListing(env.Stdout, l)
	return 0
}

// listFleet lists every host of fc, Parallel at a time, writing nothing:
// in text one table per host, each under its heading line, and a last line
// for the run; in json a FleetListing. Exit codes as for plan: 0 every
// host listed, 1 some could not be read, 2 usage (nothing contacted, or a
// pattern that selects nothing), 3 none could be read.
//
// fail ends a run that read no host (its error on stderr and, in json, a
// document saying why).
func listFleet(ctx context.Context, env Env, format string, ignore params.IgnoreList, fc fleet.Config, fail func(error) int) int {
	reads, err := fleet.Read(ctx, fc)
	if reads == nil && err != nil {
		return fail(err)
	}
	doc := FleetListing{Hosts: make([]Listing, len(reads))}
	if err != nil {
		doc.Error = err.Error()
	}
	counts := map[string]int{}
	for i, h := range reads {
		if h.Snapshot == nil {
			doc.Hosts[i] = Listing{Host: h.Host, Unreachable: h.Unreachable, Error: h.Err.Error()}
			counts[map[bool]string{true: "unreachable", false: "not read"}[h.Unreachable]]++
			continue
		}
		counts["listed"]++
		doc.Hosts[i] = listing(h.Snapshot, ignore)
		if doc.Hosts[i].Host == "" {
			doc.Hosts[i].Host = h.Host
		}
	}
	if format == "json" {
		writeJSON(env.Stdout, doc)
	} else {
		for i, l := range doc.Hosts {
			if i > 0 {
				fmt.Fprintln(env.Stdout)
			}
			printListing(env.Stdout, l)
		}
		status := "ok"
		if err != nil {
			status = "FAILED"
		}
		var parts []string
		for _, what := range []string{"listed", "unreachable", "not read"} {
			if counts[what] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[what], what))
			}
		}
		fmt.Fprintf(env.Stdout, "\n%s: %d %s: %s\n", status, len(reads), plural(len(reads), "host", "hosts"), strings.Join(parts, ", "))
	}
	if err != nil {
		printError(env.Stderr, "list", err)
	}
	return errkind.ExitCode(err)
}

// listing is what a snapshot shows of the host's users, sorted by id.
func listing(snap *tasks.Snapshot, ignore params.IgnoreList) Listing {
	l := Listing{Host: snap.Host, User: snap.User, Lockdown: snap.Lockdown, Users: []ListedUser{}}
	for id, a := range snap.Users {
		l.Users = append(l.Users, ListedUser{
			ID: id, Description: a.Description, Role: snap.Permissions[id],
			Protected: slices.Contains(params.Protected, id), Ignored: ignore.Contains(id),
			LockdownException: slices.Contains(snap.LockdownExceptions, id),
		})
	}
	slices.SortFunc(l.Users, func(a, b ListedUser) int { return strings.Compare(a.ID, b.ID) })
	return l
}

// printListing writes the listing as a table. Ids and descriptions come
// from the host: they are clipped and escaped (textsafe), so they cannot
// drive the terminal.
//
// A host of a fleet that could not be read gets its heading line only,
// saying why.
func printListing(w io.Writer, l Listing) {
	if l.Error != "" {
		what := "NOT READ"
		if l.Unreachable {
			what = "UNREACHABLE"
		}
		first, _, _ := strings.Cut(l.Error, "\n")
		fmt.Fprintf(w, "host %s: %s: %s\n", textsafe.Escape(l.Host), what, textsafe.Escape(first))
		return
	}
	who := ""
	if l.User != "" {
		who = " as " + l.User
	}
	n := len(l.Users)
	lockdown := ""
	if m := tasks.LockdownModeName(l.Lockdown); m != "" && m != "disabled" {
		lockdown = ", lockdown mode " + textsafe.Escape(m)
	}
	fmt.Fprintf(w, "host %s%s: %d local %s%s\n", textsafe.Escape(l.Host), textsafe.Escape(who), n, plural(n, "user", "users"), lockdown)
	if n == 0 {
		return
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDESCRIPTION\tROLE\tNOTE")
	for _, u := range l.Users {
		role := u.Role
		if role == "" {
			role = "(none)"
		}
		var notes []string
		if u.Protected {
			notes = append(notes, "protected")
		}
		if u.Ignored {
			notes = append(notes, "ignored")
		}
		if u.LockdownException {
			notes = append(notes, "lockdown exception")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(u.ID), cell(u.Description), cell(role), strings.Join(notes, ", "))
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if line != "" {
			fmt.Fprintln(w, strings.TrimRight(line, " \n"))
		}
	}
}

// cell is host text for a table cell: clipped and escaped (a tab shows as
// \t, so it cannot shift the columns).
func cell(s string) string { return textsafe.Escape(textsafe.Clip(s)) }

// plural is singular when n is 1, else pluralForm.
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return singular
	}
	return pluralForm
}
