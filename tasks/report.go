package tasks

import "time"

// Outcome is what happened to one entry.
type Outcome string

// Outcomes of an entry.
const (
	Created   Outcome = "created"   // the user did not exist and was created
	Updated   Outcome = "updated"   // the user existed; password/description (and role) written
	Unchanged Outcome = "unchanged" // an earlier entry of this run already wrote exactly this
	Removed   Outcome = "removed"   // the user (or its permission) was removed
	Absent    Outcome = "absent"    // remove of a user that does not exist: nothing to do
	Ignored   Outcome = "ignored"   // the id is in the ignore list (root and dcui always are)
	Invalid   Outcome = "invalid"   // the entry is wrong; nothing was changed on the host
	Failed    Outcome = "failed"    // a write failed or was interrupted; processing stopped here
	NotRun    Outcome = "not-run"   // not attempted (an earlier entry failed, or the list is invalid)
)

// Result is the report line of one entry. It never holds a password.
type Result struct {
	Index     int     `json:"index"` // 0-based position in the list
	ID        string  `json:"id"`
	Operation string  `json:"operation"`
	Outcome   Outcome `json:"outcome"`
	Role      string  `json:"role,omitempty"`
	Error     string  `json:"error,omitempty"` // only for invalid and failed
	// Observed is set on a failed entry: what the host held for the id
	// when read again after the failure (JSON null: it could not be read).
	Observed *Observation `json:"observed,omitempty"`
	// Note says how a done entry recovered from a fault (a lost answer
	// whose write the host shows applied, another writer's change).
	Note string `json:"note,omitempty"`
}

// Report is the result of a run: the CLI's --output json document and the
// esxi/manage-users-report Param.
type Report struct {
	OK      bool      `json:"ok"`
	Plan    bool      `json:"plan,omitempty"` // true for a plan: nothing was written
	Time    time.Time `json:"time"`
	Host    string    `json:"host"`
	User    string    `json:"user,omitempty"` // the session's user name
	Error   string    `json:"error,omitempty"`
	Results []Result  `json:"results"`
}
