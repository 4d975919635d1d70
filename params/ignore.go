package params

import (
	"fmt"
	"slices"
	"strings"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// Protected lists the accounts that can never be modified: the seed says
// root and dcui cannot be modified, so they are ignored even when an ignore
// list omits them.
var Protected = []string{"root", "dcui"}

// IgnoreList is the set of user ids whose entries are skipped (the
// esxi/manage-users-ignore-list Param). It always contains Protected.
type IgnoreList struct{ ids []string }

// NewIgnoreList builds an ignore list from ids (blank ids are dropped,
// duplicates folded). Protected ids are always included.
func NewIgnoreList(ids []string) (IgnoreList, error) {
	if len(ids) > MaxIgnoreListEntries {
		return IgnoreList{}, fmt.Errorf("esxi/manage-users-ignore-list: %d ids; the limit is %d: %w", len(ids), MaxIgnoreListEntries, errkind.ErrInvalid)
	}
	var l IgnoreList
	for _, id := range append(slices.Clone(Protected), ids...) {
		id = strings.TrimSpace(id)
		if id != "" && !slices.Contains(l.ids, id) {
			l.ids = append(l.ids, id)
		}
	}
	return l, nil
}

// Contains reports whether id is ignored. Matching is exact: ESXi user names
// are case-sensitive.
func (l IgnoreList) Contains(id string) bool {
	return slices.Contains(l.ids, id) || slices.Contains(Protected, id)
}
