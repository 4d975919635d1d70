package tasks

import (
	"strings"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// CheckError is what the check before the first write found (Run,
// Prepare): every problem, in list order, then the privileges'. It wraps
// errkind.ErrInvalid: nothing was changed.
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
	return errkind.ErrInvalid.Error() + ": nothing was changed:\n" + strings.Join(msgs, "\n")
}

// Unwrap makes errors.Is(err, errkind.ErrInvalid) true.
func (e *CheckError) Unwrap() error { return errkind.ErrInvalid }
