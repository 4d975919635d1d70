package tasks

import (
	"errors"
	"net/http"
	"strings"

	"github.com/esxi-users/esxi-users/params"
)

// Kinds of failure. Every error the engine returns wraps exactly one, and
// the CLI's exit code and the plugin's HTTP status are derived from it in one
// place (ExitCode, HTTPStatus).
var (
	// ErrInvalid: the input is wrong; nothing was changed (exit 2).
	ErrInvalid = params.ErrInvalid
	// ErrConnect: the host could not be reached, logged in to or read;
	// nothing was changed (exit 3).
	ErrConnect = errors.New("could not connect to, log in to or read the host")
	// ErrApply: an entry failed while applying; earlier entries were applied
	// (exit 1).
	ErrApply = errors.New("an entry failed while applying")
)

// CheckError is what the check before the first write found (Run,
// Prepare): every problem, in list order, then the privileges'. It wraps
// ErrInvalid: nothing was changed.
type CheckError struct{ Problems []Problem }

// Problem is one finding of the check.
type Problem struct {
	// Index is the entry's (0-based), or -1 for the list as a whole (the
	// session's privileges).
	Index int
	// Msg names the entry (params.EntryLabel) and says what is wrong.
	Msg string
}

func (e *CheckError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Msg
	}
	return ErrInvalid.Error() + ": nothing was changed:\n" + strings.Join(msgs, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *CheckError) Unwrap() error { return ErrInvalid }

// Exit codes of esxi-manage-users.
const (
	ExitOK      = 0
	ExitApply   = 1
	ExitInvalid = 2
	ExitConnect = 3
)

// ExitCode maps an engine error to the CLI's exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrInvalid):
		return ExitInvalid
	case errors.Is(err, ErrConnect):
		return ExitConnect
	default:
		return ExitApply
	}
}

// HTTPStatus maps an engine error to the plugin action's HTTP status: 400
// for invalid input, 502 when the host could not be reached or read, 409
// when an entry failed part-way (the host is in a state the request did not
// fully produce), 200 otherwise.
func HTTPStatus(err error) int {
	switch ExitCode(err) {
	case ExitOK:
		return http.StatusOK
	case ExitInvalid:
		return http.StatusBadRequest
	case ExitConnect:
		return http.StatusBadGateway
	default:
		return http.StatusConflict
	}
}
