// Package bench holds `make bench`: esxi-manage-users applying N entries to
// the faithful simulator in one session, beside the same batch done the way
// shell scripts do it today, one govc process per vSphere call; and the
// same again with every answer 3 ms late (BenchmarkApplyLatency: Toxiproxy,
// in-process, between the clients and the simulator), as on a real network.
package bench
