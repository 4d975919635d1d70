package drp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/digitalrebar/provision/v4/api"
	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/tasks"
)

// RunTimeout bounds a whole run (task or action).
var RunTimeout = 30 * time.Minute

// ResultLine is the one-line job-log form of an entry's result.
func ResultLine(r tasks.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "entry %d (id %q, %s): %s", r.Index+1, r.ID, r.Operation, r.Outcome)
	if r.Role != "" {
		fmt.Fprintf(&b, " role=%s", r.Role)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, ": %s", r.Error)
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
// (the job log), write esxi/manage-users-report (also when the run failed)
// and return the exit code (tasks.ExitCode; 1 if the report could not be
// written).
func RunTaskWith(ctx context.Context, o TaskOptions) int {
	ctx, cancel := context.WithTimeout(ctx, RunTimeout)
	defer cancel()
	stdout, stderr := o.Stdout, o.Stderr
	cfg, s, err := FromDRP(ctx, o.Getenv)
	var report *tasks.Report
	if err == nil {
		cfg.Plan = o.Plan
		cfg.Progress = func(r tasks.Result) { fmt.Fprintln(stdout, ResultLine(r)) }
		cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		fmt.Fprintf(stdout, "esxi-manage-users: machine %s, host %s, user %s\n", s.Machine.Name, cfg.Server, cfg.Username)
		report, err = job.Run(ctx, cfg)
	}
	if report == nil {
		report = failedReport(cfg.Server, cfg.Username, err)
	}
	if err != nil && report.Error == "" {
		report.Error = err.Error()
	}
	if err != nil {
		fmt.Fprintf(stderr, "esxi-manage-users: %v\n", err)
	}
	code := tasks.ExitCode(err)
	if s == nil {
		if code == 0 {
			code = 1
		}
		return code
	}
	if werr := WriteReport(ctx, s.Client, s.Machine.UUID, report); werr != nil {
		fmt.Fprintf(stderr, "esxi-manage-users: %v\n", werr)
		if code == 0 {
			code = tasks.ExitApply
		}
	} else {
		fmt.Fprintf(stdout, "esxi-manage-users: ok=%v; report written to %s\n", report.OK, content.ParamReport)
	}
	return code
}

func failedReport(host, user string, err error) *tasks.Report {
	r := &tasks.Report{OK: false, Time: time.Now().UTC(), Host: host, User: user, Results: []tasks.Result{}}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// ActionLog receives the plugin action's progress lines (level is info,
// warn or error). It never receives a secret.
type ActionLog func(level, msg string)

// RunAction is the body of the plugin's esxiManageUsers machine action.
// machine is the Action's Model, vals its Params (Secure values already
// decrypted by DRP). The report is written to the machine through c when c
// is not nil. Errors: 400 invalid input (naming the entry), 502 host
// unreachable, 409 an entry failed (the report JSON is the last message).
func RunAction(ctx context.Context, c *api.Client, machine *models.Machine, vals map[string]any, log ActionLog) (*tasks.Report, *models.Error) {
	if log == nil {
		log = func(string, string) {}
	}
	ctx, cancel := context.WithTimeout(ctx, RunTimeout)
	defer cancel()
	m := machineOf(machine)
	cfg, err := Config(m, vals)
	var report *tasks.Report
	if err == nil {
		cfg.Progress = func(r tasks.Result) { log("info", ResultLine(r)) }
		cfg.Log = slog.New(&actionHandler{log: log})
		log("info", fmt.Sprintf("%s: machine %s (%s), host %s, user %s", content.ActionName, m.Name, m.UUID, cfg.Server, cfg.Username))
		report, err = job.Run(ctx, cfg)
	}
	if report == nil {
		report = failedReport(cfg.Server, cfg.Username, err)
	}
	if err != nil && report.Error == "" {
		report.Error = err.Error()
	}
	if c != nil && m.UUID != "" {
		if werr := WriteReport(ctx, c, m.UUID, report); werr != nil {
			log("error", werr.Error())
		}
	}
	if err == nil {
		log("info", fmt.Sprintf("%s: ok; report written to %s", content.ActionName, content.ParamReport))
		return report, nil
	}
	log("error", fmt.Sprintf("%s: %v", content.ActionName, err))
	merr := &models.Error{Model: "machines", Key: m.UUID, Type: "plugin", Code: tasks.HTTPStatus(err)}
	merr.Messages = append(merr.Messages, strings.Split(err.Error(), "\n")...)
	if merr.Code == 409 || merr.Code == 502 {
		b, _ := json.Marshal(report)
		merr.Messages = append(merr.Messages, "report: "+string(b))
	}
	return report, merr
}

func machineOf(mc *models.Machine) Machine {
	if mc == nil {
		return Machine{}
	}
	m := Machine{UUID: mc.UUID(), Name: mc.Name}
	if ip := mc.Address; ip != nil && !ip.Equal(net.IPv4zero) && !ip.IsUnspecified() {
		m.Address = ip.String()
	}
	return m
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
