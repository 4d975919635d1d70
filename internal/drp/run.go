package drp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/destination"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/tasks"
)

// RunTimeout bounds a whole run (task or action).
var RunTimeout = 30 * time.Minute

// ResultLine is the one-line job-log form of an entry's result. Its text
// from input and host (operation, role, error; the id is quoted with %q,
// which escapes it too) is escaped (textsafe.Escape): no control or bidi
// character reaches the job log.
func ResultLine(r tasks.Result) string {
	e := textsafe.Escape
	var b strings.Builder
	fmt.Fprintf(&b, "entry %d (id %q, %s): %s", r.Index+1, r.ID, e(r.Operation), e(string(r.Outcome)))
	if r.Role != "" {
		fmt.Fprintf(&b, " role=%s", e(r.Role))
	}
	if d := r.Detail(); d != "" {
		fmt.Fprintf(&b, ": %s", e(d)) // the error and, after a failure, what the host holds
	}
	return b.String()
}

// TaskOptions is one run of the task binary.
type TaskOptions struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Plan           bool // read the host and report; write nothing on it
}

// RunTaskWith is `esxi-manage-users apply --from-drp`: read the machine's
// Params through the API, run the job, print one line per entry on stdout
// (the job log), write esxi/manage-users-report (also when the run failed
// or was stopped) and return the exit code: errkind.ExitCode of the run; 3
// (nothing applied) when the DRP API cannot be reached or refuses the
// token; 1 when the run succeeded but its report could not be saved (the
// log says the host was changed and the report was not saved).
func RunTaskWith(ctx context.Context, o TaskOptions) int {
	ctx, cancel := context.WithTimeout(ctx, RunTimeout)
	defer cancel()
	stdout, stderr := o.Stdout, o.Stderr
	cfg, s, err := FromDRP(ctx, o.Getenv)
	var guard *destination.Guard
	if err == nil {
		guard, err = guardTask(ctx, s, &cfg, func(_, msg string) { fmt.Fprintf(stdout, "esxi-manage-users: %s\n", textsafe.Lines(msg)) })
	}
	var report *tasks.Report
	if err == nil {
		cfg.Plan = o.Plan
		cfg.Progress = func(r tasks.Result) { fmt.Fprintln(stdout, ResultLine(r)) }
		cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		fmt.Fprintf(stdout, "esxi-manage-users: machine %s, host %s, user %s\n", textsafe.Escape(s.Machine.Name), textsafe.Escape(DisplayServer(cfg.Server)), textsafe.Escape(cfg.Username))
		report, err = job.Run(ctx, cfg)
		if rerr := guard.Refusal(err); rerr != err {
			err = rerr
			report.OK, report.Error = false, err.Error()
		}
	}
	if report == nil {
		report = failedReport(cfg.Server, cfg.Username, err)
	}
	if err != nil && report.Error == "" {
		report.Error = err.Error()
	}
	if err != nil {
		fmt.Fprintf(stderr, "esxi-manage-users: %s\n", textsafe.Lines(err.Error()))
	}
	code := errkind.ExitCode(err)
	if s == nil {
		return code
	}
	if werr := WriteReport(reportContext(ctx), s.Client, s.Machine.UUID, report); werr != nil {
		fmt.Fprintf(stderr, "esxi-manage-users: %s: %s\n", reportNotSaved(report), textsafe.Lines(werr.Error()))
		if code == errkind.ExitOK {
			code = errkind.ExitApply
		}
	} else {
		fmt.Fprintf(stdout, "esxi-manage-users: ok=%v; report written to %s\n", report.OK, content.ParamReport)
	}
	return code
}

// reportNotSaved says what the host went through when the report of a run
// could not be stored: the job log is then the only record.
func reportNotSaved(r *tasks.Report) string {
	changed := 0
	for _, res := range r.Results {
		switch res.Outcome {
		case tasks.Created, tasks.Updated, tasks.Removed:
			changed++
		}
	}
	switch {
	case changed > 0:
		return fmt.Sprintf("the host was changed (%d %s applied, listed above) but the report was NOT saved to %s", changed, plural(changed, "entry", "entries"), content.ParamReport)
	case r.OK:
		return fmt.Sprintf("the run succeeded (nothing on the host needed a change) but the report was NOT saved to %s", content.ParamReport)
	default:
		return fmt.Sprintf("the run failed and its report was NOT saved to %s", content.ParamReport)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func failedReport(host, user string, err error) *tasks.Report {
	r := &tasks.Report{OK: false, Time: time.Now().UTC(), Host: DisplayServer(host), User: user, Results: []tasks.Result{}}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// ActionLog receives the plugin action's progress lines (level is info,
// warn or error). It never receives a secret.
type ActionLog func(level, msg string)

// RunAction is the body of the plugin's esxiManageUsers machine action.
// m is the Action's Model (the machine), vals its Params (Secure values
// already decrypted by DRP).
//
// With an API client c (the plugin's own session), the machine's stored
// Params are read through c and they alone are applied: an action whose
// Params differ from them - a caller's override of any input, such as
// another server or list - is refused with 400 naming the Params, and
// nothing is contacted. The stored Params are no safer than the machine's
// token, which can rewrite them (DRP gives it update and updateSecure on
// its own machine), so the run may then go only to the destination recorded
// for the machine in the destinations profile (guardRun; package
// destination): a different server, managed host or certificate is refused
// with 403 before any password is sent. The report is written to the
// machine through c. (c nil: no API, no destination check, vals are used
// as given; tests only.)
//
// Errors (DRP's error body: Model "machines", Key the machine's UUID, Type
// "plugin"): 400 invalid input or a refused override (nothing changed), 403
// the destination is not the recorded one, or none is recorded and the
// policy wants one (nothing sent to it; the report JSON is the last
// message), 502 host unreachable or login refused (nothing changed), 503
// the machine's Params or the destination store could not be read or
// written through the API (nothing changed), 409 an entry failed (the
// report JSON is the last message), 500 the run succeeded or failed but
// its report could not be saved (the host may have been changed; the
// report JSON is the last message).
func RunAction(ctx context.Context, c *Client, m Machine, vals map[string]any, log ActionLog) (*tasks.Report, *Error) {
	if log == nil {
		log = func(string, string) {}
	}
	// Every line carries text from input, DRP or the host: escaped once here.
	raw := log
	log = func(level, msg string) { raw(level, textsafe.Lines(msg)) }
	ctx, cancel := context.WithTimeout(ctx, RunTimeout)
	defer cancel()
	fail := func(code int, msgs ...string) *Error {
		for _, msg := range msgs {
			log("error", fmt.Sprintf("%s: %s", content.ActionName, msg))
		}
		return &Error{Model: "machines", Key: m.UUID, Type: "plugin", Code: code, Messages: safeLines(msgs)}
	}
	if c != nil {
		stored, err := ReadParams(ctx, c, m.UUID)
		if err != nil {
			return nil, fail(http.StatusServiceUnavailable, fmt.Sprintf("cannot read the machine's Params through the DRP API; nothing was applied: %v", err))
		}
		if diff := foreignDefaults(ctx, c, Overrides(vals, stored), vals, stored); len(diff) > 0 {
			return nil, fail(http.StatusBadRequest, fmt.Sprintf("%s: refused, nothing was applied: the action's Params %s differ from the machine's; "+
				"the action applies only the machine's own Params (set them on the machine or a profile, then run it without arguments)",
				errkind.ErrInvalid, strings.Join(diff, ", ")))
		}
		vals = stored
	}
	cfg, err := Config(m, vals)
	var guard *destination.Guard
	if err == nil && c != nil {
		guard, err = guardRun(ctx, c, m, &cfg, log)
	}
	var report *tasks.Report
	if err == nil {
		cfg.Progress = func(r tasks.Result) { log("info", ResultLine(r)) }
		cfg.Log = slog.New(&actionHandler{log: log})
		log("info", fmt.Sprintf("%s: machine %s (%s), host %s, user %s", content.ActionName, m.Name, m.UUID, DisplayServer(cfg.Server), cfg.Username))
		report, err = job.Run(ctx, cfg)
		if rerr := guard.Refusal(err); rerr != err {
			err = rerr
			report.OK, report.Error = false, err.Error()
		}
	}
	if report == nil {
		report = failedReport(cfg.Server, cfg.Username, err)
	}
	if err != nil && report.Error == "" {
		report.Error = err.Error()
	}
	var werr error
	if c != nil && m.UUID != "" {
		werr = WriteReport(reportContext(ctx), c, m.UUID, report)
	}
	reportJSON := func() string {
		b, _ := json.Marshal(report)
		return "report: " + string(textsafe.JSON(b))
	}
	if err == nil && werr == nil {
		log("info", fmt.Sprintf("%s: ok; report written to %s", content.ActionName, content.ParamReport))
		return report, nil
	}
	if err == nil {
		// The run is done but nobody can see it in DRP: the job must fail.
		return report, fail(http.StatusInternalServerError, fmt.Sprintf("%s: %v", reportNotSaved(report), werr), reportJSON())
	}
	log("error", fmt.Sprintf("%s: %v", content.ActionName, err))
	merr := &Error{Model: "machines", Key: m.UUID, Type: "plugin", Code: errkind.HTTPStatus(err)}
	merr.Messages = append(merr.Messages, strings.Split(textsafe.Lines(err.Error()), "\n")...)
	if werr != nil {
		msg := textsafe.Lines(fmt.Sprintf("%s: %v", reportNotSaved(report), werr))
		log("error", fmt.Sprintf("%s: %s", content.ActionName, msg))
		merr.Messages = append(merr.Messages, msg)
	}
	if merr.Code == http.StatusConflict || merr.Code == http.StatusBadGateway || merr.Code == http.StatusForbidden || werr != nil {
		merr.Messages = append(merr.Messages, reportJSON())
	}
	return report, merr
}

// Overrides lists, sorted, the input Params whose value in an action's
// Params differs from the machine's stored (aggregated, decoded) value,
// defaults applied to both. It names Params, never values.
func Overrides(action, stored map[string]any) []string {
	a, s := WithDefaults(action), WithDefaults(stored)
	var diff []string
	for _, name := range InputParams() {
		if !sameJSON(a[name], s[name]) {
			diff = append(diff, name)
		}
	}
	sort.Strings(diff)
	return diff
}

// foreignDefaults drops from diff the Params of other packs (such as
// esxi/insecure-password) that are unset on the machine and whose value in
// the action is their Schema default: DRP may fill defaults into an action's
// Params, while an aggregated read does not. The stored map then takes that
// value, so the run uses what DRP gave the action.
func foreignDefaults(ctx context.Context, c *Client, diff []string, action, stored map[string]any) []string {
	var out []string
	for _, name := range diff {
		if _, own := content.Default(name); own || stored[name] != nil || action[name] == nil || slices.Contains(content.OwnParams, name) {
			out = append(out, name)
			continue
		}
		if d, ok, err := paramDefault(ctx, c, name); err != nil || !ok || !sameJSON(d, action[name]) {
			out = append(out, name)
			continue
		}
		stored[name] = action[name]
	}
	return out
}

func sameJSON(x, y any) bool {
	bx, err1 := json.Marshal(x)
	by, err2 := json.Marshal(y)
	return err1 == nil && err2 == nil && bytes.Equal(bx, by)
}

// actionHandler turns the job's slog records into ActionLog lines.
type actionHandler struct {
	log   ActionLog
	attrs []slog.Attr
}

func (h *actionHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *actionHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	level := "info"
	switch {
	case r.Level >= slog.LevelError:
		level = "error"
	case r.Level >= slog.LevelWarn:
		level = "warn"
	}
	h.log(level, b.String())
	return nil
}

func (h *actionHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &actionHandler{log: h.log, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *actionHandler) WithGroup(string) slog.Handler { return h }

// Runs serialises runs per machine: at most one run for a machine UUID at a
// time, any number for different machines. The zero value is ready to use.
type Runs struct {
	mu     sync.Mutex
	active map[string]bool
}

// TryStart claims the machine for a run. It returns ok=false at once when a
// run for it is in progress; otherwise release must be called when the run
// ends.
func (r *Runs) TryStart(machine string) (release func(), ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active[machine] {
		return nil, false
	}
	if r.active == nil {
		r.active = map[string]bool{}
	}
	r.active[machine] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.active, machine)
			r.mu.Unlock()
		})
	}, true
}

// reportContext is the context for writing the report: not cancelled with
// the run (after SIGTERM the report of what happened must still be saved),
// bounded by CallTimeout inside WriteReport.
func reportContext(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

// safeLines escapes each message (textsafe.Lines).
func safeLines(msgs []string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = textsafe.Lines(m)
	}
	return out
}
