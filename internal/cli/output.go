package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/tasks"
)

// printer shows a run: text prints one line per entry as it is applied (so a
// DRP job log shows progress), json prints the report once at the end.
type printer struct {
	w       io.Writer
	json    bool
	plan    bool
	mu      sync.Mutex
	printed map[int]bool
	header  bool
}

func newPrinter(w io.Writer, format string, plan bool) (*printer, error) {
	switch format {
	case "text", "":
		return &printer{w: w, plan: plan, printed: map[int]bool{}}, nil
	case "json":
		return &printer{w: w, json: true, plan: plan, printed: map[int]bool{}}, nil
	}
	return nil, fmt.Errorf("--output %q: use text or json", format)
}

const rowFormat = "%-4s %-20s %-9s %-9s %-10s %s\n"

// progress prints one entry's result (text mode).
func (p *printer) progress(r tasks.Result) {
	if p.json {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printed[r.Index] {
		return
	}
	if !p.header {
		if p.plan {
			fmt.Fprintln(p.w, "PLAN: nothing is written; outcomes are what apply would do")
		}
		fmt.Fprintf(p.w, rowFormat, "#", "ID", "OPERATION", "ROLE", "OUTCOME", "ERROR")
		p.header = true
	}
	p.printed[r.Index] = true
	e := textsafe.Escape
	fmt.Fprintln(p.w, strings.TrimRight(fmt.Sprintf(rowFormat, fmt.Sprint(r.Index+1), e(r.ID), e(r.Operation), e(r.Role), e(string(r.Outcome)), e(r.Detail())), " \n"))
}

// finish prints what is left: remaining rows and a summary (text), or the
// report (json).
func (p *printer) finish(rep *tasks.Report, err error) {
	if p.json {
		writeJSON(p.w, rep)
		return
	}
	// Rows: unless no entry was run at all because of a failure (the host
	// could not be reached or read): then the summary says so in one line,
	// and the JSON report keeps every entry.
	if rep.OK || !allNotRun(rep.Results) {
		for _, r := range rep.Results {
			p.progress(r)
		}
	}
	fmt.Fprintln(p.w, summary(rep))
}

// writeJSON writes a report (or list's listing) as indented JSON and a
// newline. Values stay exact; characters that could drive a terminal are
// written as \u escapes (textsafe.JSON). A report that cannot be encoded
// is replaced by one saying so.
func writeJSON(w io.Writer, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b, _ = json.Marshal(map[string]any{"ok": false, "error": "encode the report: " + err.Error()})
	}
	w.Write(append(textsafe.JSON(b), '\n'))
}

// allNotRun reports whether there are entries and none was run.
func allNotRun(rs []tasks.Result) bool {
	for _, r := range rs {
		if r.Outcome != tasks.NotRun {
			return false
		}
	}
	return len(rs) > 0
}

// summary is the last line of text output:
//
//	ok: host esx01:443 as root: 5 entries: 2 created, 2 removed, 1 absent
//	FAILED: nothing was contacted: 3 entries: 1 invalid, 2 not-run
//	FAILED: host esx01: 5 entries, none run
//
// "nothing was contacted" when the run stopped before connecting (bad
// input or settings); the host as the report names it otherwise.
func summary(rep *tasks.Report) string {
	status := "ok"
	if !rep.OK {
		status = "FAILED"
	}
	where := "nothing was contacted"
	if rep.Host != "" {
		where = "host " + rep.Host
		if rep.User != "" {
			where += " as " + rep.User
		}
	}
	n := len(rep.Results)
	var what string
	switch {
	case n == 0 && rep.OK:
		what = "no entries: the list is empty"
	case n == 0:
		// the list could not be read: the error says why
	case !rep.OK && allNotRun(rep.Results) && n == 1:
		what = "1 entry, not run"
	case !rep.OK && allNotRun(rep.Results):
		what = fmt.Sprintf("%d entries, none run", n)
	default:
		counts := map[tasks.Outcome]int{}
		var order []tasks.Outcome
		for _, r := range rep.Results {
			if counts[r.Outcome] == 0 {
				order = append(order, r.Outcome)
			}
			counts[r.Outcome]++
		}
		parts := make([]string, len(order))
		for i, o := range order {
			parts[i] = fmt.Sprintf("%d %s", counts[o], o)
		}
		what = fmt.Sprintf("%d %s: %s", n, plural(n, "entry", "entries"), strings.Join(parts, ", "))
	}
	line := status + ": " + where
	if what != "" {
		line += ": " + what
	}
	return textsafe.Escape(line)
}

// printError writes "esxi-manage-users <cmd>: <message>" to w. The message
// may hold input and host text (ids, server names, fault messages): every
// line of it is escaped (textsafe.Lines), so it cannot drive the terminal.
func printError(w io.Writer, cmd string, msg any) {
	fmt.Fprintf(w, "esxi-manage-users %s: %s\n", cmd, textsafe.Lines(fmt.Sprint(msg)))
}

// connectExit is the exit code of a connection step that failed: 2 when
// the settings themselves are wrong (errkind.ErrInvalid: a usage error, an
// http:// server), else 3 (the host could not be reached, logged in to or
// read).
func connectExit(err error) int {
	if errors.Is(err, errkind.ErrInvalid) {
		return errkind.ExitInvalid
	}
	return errkind.ExitConnect
}

// asError is msg as an error (a usage error if it is a plain message).
func asError(msg any) error {
	if err, ok := msg.(error); ok {
		return err
	}
	return usageError("%v", msg)
}

// quoteClip quotes an echoed input value, clipped (textsafe.Clip).
func quoteClip(s string) string { return fmt.Sprintf("%q", textsafe.Clip(s)) }
