// Package errkind holds the kinds of error of esxi-users — the sentinels
// every error the engine, the adapters and the DRP side return wraps
// (errors.Is) — and the one mapping from a kind to the CLI's exit code
// (ExitCode) and to the plugin action's HTTP status (HTTPStatus).
//
// It is a leaf: it imports the standard library only, so a library that
// only needs to say "this is invalid input" or "the user does not exist"
// (tlspin, hostmatch, vfault, sspi, guestauth) does not depend on the
// engine (package tasks) or on the Param model (package params). A test
// (leaf_test.go) pins that dependency graph.
package errkind

import (
	"errors"
	"fmt"
)

// Kinds of failure of a run. Every error a run returns wraps one of them;
// ExitCode and HTTPStatus derive the exit code and the HTTP status from it.
var (
	// ErrInvalid: the input is wrong; nothing was changed (exit 2). Every
	// decoding and validation error of package params wraps it, and so does
	// Invalidf.
	ErrInvalid = errors.New("invalid esxi/manage-users input")
	// ErrConnect: the host could not be reached, logged in to or read;
	// nothing was changed (exit 3).
	ErrConnect = errors.New("could not connect to, log in to or read the host")
	// ErrRefused marks what the check before the first write found the host
	// would refuse whoever asked, whatever the session's privileges: the
	// shell-access rules and lockdown mode (package tasks). It wraps
	// ErrConnect (exit 3). A fleet writes to no host when one refuses.
	ErrRefused = fmt.Errorf("%w: the host refuses the list", ErrConnect)
	// ErrApply: an entry failed while applying; earlier entries were applied
	// (exit 1).
	ErrApply = errors.New("an entry failed while applying")
	// ErrInterrupted: the run was stopped (SIGINT/SIGTERM, or the caller's
	// deadline) before every entry was done (exit 1).
	ErrInterrupted = errors.New("interrupted")
	// ErrDRP marks a failure to reach, authenticate to or read from the DRP
	// API before the run (internal/drp): nothing was applied (exit 3, as an
	// unreachable host; the plugin's action answers 503). A failure to store
	// the report after the run is reported separately.
	ErrDRP = errors.New("DRP API call failed")
	// ErrDestinationRefused marks a run refused because its destination is
	// not the one recorded for the machine, or because none is recorded and
	// the policy wants one (internal/destination). Nothing was sent to the
	// requested server (exit 3; the plugin's action answers 403).
	ErrDestinationRefused = errors.New("refused: the destination is not the one recorded for this machine")
)

// What a host call's error means, for the engine to recover from transient
// faults and from other writers changing the host under it. A Host (package
// tasks) wraps them; the vSphere fault table (internal/vfault) names them.
var (
	// ErrUncertain: the call was sent but its answer was lost (the
	// connection broke, or the call timed out), so the host may or may not
	// have applied it. The engine reads the id again before it writes
	// anything more: a write is never blindly repeated.
	ErrUncertain = errors.New("the host's answer was lost, so the call may or may not have taken effect")
	// ErrNotApplied: the host refused the call before acting on it for a
	// reason a retry cures (the session had expired; the Host logs in again
	// before its next call). The engine repeats the call.
	ErrNotApplied = errors.New("the call was not applied (the session had expired)")
	// ErrUserExists: the host's AlreadyExists on CreateUser.
	ErrUserExists = errors.New("the user already exists")
	// ErrNoSuchUser: the host's UserNotFound.
	ErrNoSuchUser = errors.New("the user does not exist")
	// ErrNoSuchPermission: RemoveRole found no permission to remove (the
	// host's NotFound).
	ErrNoSuchPermission = errors.New("the user has no permission to remove")
)

// Invalidf is an input error outside the list itself (a flag, the server's
// URL, a setting): its message is exactly the formatted text (%w wraps as in
// fmt.Errorf), and errors.Is(err, ErrInvalid) is true, so it exits 2 and
// nothing is contacted.
func Invalidf(format string, a ...any) error {
	return &invalidError{err: fmt.Errorf(format, a...)}
}

type invalidError struct{ err error }

func (e *invalidError) Error() string   { return e.err.Error() }
func (e *invalidError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// Exit codes of esxi-manage-users; Exits says what each means.
const (
	ExitOK      = 0
	ExitApply   = 1
	ExitInvalid = 2
	ExitConnect = 3
)

// Exit is an exit code and what it means.
type Exit struct {
	Code    int
	Meaning string
}

// Exits are the exit codes of esxi-manage-users and what each means, in
// order: the one text of them. The CLI's usage prints it, and the generated
// reference (docs/cli.md) from there; a command whose codes mean something
// of its own (list, check-password, guest-auth, simulate) says so in its
// help. The tables of README.md and docs/cli-guide.md are checked against
// it (package cli's TestExitCodeTablesAgree).
var Exits = []Exit{
	{ExitOK, "every entry done (list: every host listed; check-password: every password passes)"},
	{ExitApply, "an entry failed while applying, or the run was stopped (SIGINT/SIGTERM) — the report says which were applied and what the host holds for the entry in flight"},
	{ExitInvalid, "invalid input or a mistake of usage — nothing was changed"},
	{ExitConnect, "could not connect, log in or read the host, or the login lacks the privileges the list needs — nothing was changed"},
}

// ExitCode maps an error to the CLI's exit code: 0 for nil; 3 for a DRP
// API failure or a destination refused (even if the error also wraps
// another kind: nothing was applied); 2 for invalid input; 3 when the host
// could not be reached, read, or refused the list; 1 otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrDRP), errors.Is(err, ErrDestinationRefused):
		return ExitConnect
	case errors.Is(err, ErrInvalid):
		return ExitInvalid
	case errors.Is(err, ErrConnect):
		return ExitConnect
	default:
		return ExitApply
	}
}

// HTTPStatus maps an error to the plugin action's HTTP status: 403 for a
// destination refused, 503 when the DRP API failed before the run, 400 for
// invalid input, 502 when the host could not be reached or read, 409 when an
// entry failed part-way (the host is in a state the request did not fully
// produce), 200 for nil. The numbers are net/http's Status constants,
// written out so that the leaf, and the engine that imports it, do not link
// net/http (errkind_test.go checks them against the constants).
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrDestinationRefused):
		return 403 // http.StatusForbidden
	case errors.Is(err, ErrDRP):
		return 503 // http.StatusServiceUnavailable
	}
	switch ExitCode(err) {
	case ExitOK:
		return 200 // http.StatusOK
	case ExitInvalid:
		return 400 // http.StatusBadRequest
	case ExitConnect:
		return 502 // http.StatusBadGateway
	default:
		return 409 // http.StatusConflict
	}
}
