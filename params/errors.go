package params

import (
	"fmt"
	"strings"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// EntryError is a problem with one entry. Its message names the entry
// (1-based, as operators count), its id and operation when known, and the
// field. It never contains a password.
type EntryError struct {
	Index     int       // 0-based position in the list
	Line      int       // 1-based input line, 0 if unknown
	ID        string    // the entry's id, if it could be read
	Operation Operation // the entry's operation, if it could be read
	Field     string    // the field at fault ("" for the entry as a whole)
	Msg       string    // what is wrong, starting with the field name
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("%s: %s", EntryLabel(e.Index, e.ID, e.Operation), e.Msg)
}

// Unwrap makes errors.Is(err, errkind.ErrInvalid) true.
func (e *EntryError) Unwrap() error { return errkind.ErrInvalid }

// EntryLabel is how messages name an entry: `entry 3 (id "user1", set)`.
// A long id or operation is clipped (textsafe.Clip).
func EntryLabel(index int, id string, op Operation) string {
	var parts []string
	if id != "" {
		parts = append(parts, fmt.Sprintf("id %q", textsafe.Clip(id)))
	}
	if op != "" {
		parts = append(parts, textsafe.Clip(string(op)))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("entry %d", index+1)
	}
	return fmt.Sprintf("entry %d (%s)", index+1, strings.Join(parts, ", "))
}

// ListError collects every EntryError found in a list, in list order.
type ListError struct{ Errs []*EntryError }

func (l *ListError) Error() string {
	msgs := make([]string, len(l.Errs))
	for i, e := range l.Errs {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap exposes each entry error (and through them errkind.ErrInvalid).
func (l *ListError) Unwrap() []error {
	errs := make([]error, len(l.Errs))
	for i, e := range l.Errs {
		errs[i] = e
	}
	return errs
}

// ByIndex returns the errors for the entry at index i.
func (l *ListError) ByIndex(i int) []*EntryError {
	var out []*EntryError
	for _, e := range l.Errs {
		if e.Index == i {
			out = append(out, e)
		}
	}
	return out
}

// DocumentError is a problem with the document as a whole (syntax, not an
// array, too large, several documents). It never quotes input text.
type DocumentError struct {
	Line   int // 1-based, 0 if unknown
	Column int // 1-based, in characters of Line; 0 if unknown
	Msg    string
}

func (e *DocumentError) Error() string {
	if e.Line > 0 && e.Column > 0 {
		return fmt.Sprintf("esxi/manage-users: line %d, column %d: %s", e.Line, e.Column, e.Msg)
	}
	if e.Line > 0 {
		return fmt.Sprintf("esxi/manage-users: line %d: %s", e.Line, e.Msg)
	}
	return "esxi/manage-users: " + e.Msg
}

// Unwrap makes errors.Is(err, errkind.ErrInvalid) true.
func (e *DocumentError) Unwrap() error { return errkind.ErrInvalid }
