package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"

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
}

// Listing is list's --output json document.
type Listing struct {
	Host  string       `json:"host"`
	User  string       `json:"user,omitempty"` // the session's user name
	Users []ListedUser `json:"users"`
}

// runList shows the host's local users, their roles and which ids apply
// never touches. It reads the host once and writes nothing.
func runList(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(textsafe.NewWriter(env.Stderr))
	output := fs.String("output", "text", "text (a table) or json")
	ignoreList := fs.String("ignore-list", "", "comma-separated ids to mark as ignored, as apply would skip them (root and dcui always are)")
	verbose := fs.Bool("verbose", false, "log progress to stderr")
	var conn connFlags
	conn.register(fs)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, "Usage: esxi-manage-users list [--output text|json] [--ignore-list a,b] [connection flags] [--vihost HOST]\n\nShows the host's local users with their description and role on the host's root folder, and marks the protected (root, dcui) and ignored ids. Read-only: nothing is written.\n\n")
		fs.PrintDefaults()
		fmt.Fprint(env.Stderr, "\nExit codes: 0 listed; 2 invalid flags, nothing contacted; 3 could not connect, log in or read the host.\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return tasks.ExitInvalid
	}
	fail := func(err error) int {
		printError(env.Stderr, "list", err)
		return connectExit(err)
	}
	if fs.NArg() > 0 {
		return fail(usageError("unexpected argument %s", quoteClip(fs.Arg(0))))
	}
	if *output != "text" && *output != "json" {
		return fail(usageError("--output %s: use text or json", quoteClip(*output)))
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
	snap, err := job.ReadHost(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	l := listing(snap, ignore)
	if *output == "json" {
		b, err := json.MarshalIndent(l, "", "  ")
		if err != nil {
			return fail(fmt.Errorf("encode the list: %w", err))
		}
		env.Stdout.Write(append(textsafe.JSON(b), '\n'))
		return 0
	}
	printListing(env.Stdout, l)
	return 0
}

// listing is what a snapshot shows of the host's users, sorted by id.
func listing(snap *tasks.Snapshot, ignore params.IgnoreList) Listing {
	l := Listing{Host: snap.Host, User: snap.User, Users: []ListedUser{}}
	for id, a := range snap.Users {
		l.Users = append(l.Users, ListedUser{
			ID: id, Description: a.Description, Role: snap.Permissions[id],
			Protected: slices.Contains(params.Protected, id), Ignored: ignore.Contains(id),
		})
	}
	slices.SortFunc(l.Users, func(a, b ListedUser) int { return strings.Compare(a.ID, b.ID) })
	return l
}

// printListing writes the listing as a table. Ids and descriptions come
// from the host: they are clipped and escaped (textsafe), so they cannot
// drive the terminal.
func printListing(w io.Writer, l Listing) {
	who := ""
	if l.User != "" {
		who = " as " + l.User
	}
	n := len(l.Users)
	fmt.Fprintf(w, "host %s%s: %d local %s\n", textsafe.Escape(l.Host), textsafe.Escape(who), n, plural(n, "user", "users"))
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
func cell(s string) string { return textsafe.Escape(params.Clip(s)) }

// plural is singular when n is 1, else pluralForm.
func plural(n int, singular, pluralForm string) string {
	if n == 1 {
		return singular
	}
	return pluralForm
}
