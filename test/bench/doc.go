// Package bench holds `make bench`: esxi-manage-users applying N entries to
// the faithful simulator in one session, beside the same batch done the way
// shell scripts do it today, one govc process per vSphere call; and the
// same again with every answer 3 ms late (BenchmarkApplyLatency: Toxiproxy,
// in-process, between the clients and the simulator), as on a real network.
//
// BenchmarkRack is the DRP plugin under a rack: 500 machines, each with its
// own simulated host, post the esxiManageUsers action at the same moment
// through the plugin protocol (drpfake and the real plugin binary, built
// by internal/testsupport/pluginbuild); it reports wall time, the plugin's peak RSS,
// the most sessions open on the hosts at once and the plugin's goroutines
// after the run against its baseline, with the default
// esxi-users/max-parallel-runs and with no bound.
package bench
