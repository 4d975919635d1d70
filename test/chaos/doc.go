// Package chaos holds the chaos tests: a representative run (add, set with
// a role change, remove, set of a missing user) against the faithful
// simulator, directly and through a simulated vCenter, with a real fault
// injector — Toxiproxy, in-process (internal/testsupport/netfault) — between client and
// simulator, and the simulator ending the session. For every request index
// k of the run and every fault (connection reset before the request is
// forwarded, answer lost after the host applied it, answer later than the
// call's timeout, session expired), once and persisting, the run must
// recover (exit 0, the host exactly as the list says) or its report must
// match the host as an independent govmomi client reads it, entry by
// entry; and a rerun must converge.
package chaos
