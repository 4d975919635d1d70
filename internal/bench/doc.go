// Package bench holds `make bench`: esxi-manage-users applying N entries to
// the faithful simulator in one session, beside the same batch done the way
// shell scripts do it today, one govc process per vSphere call.
package bench
