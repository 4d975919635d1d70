//go:build nosim

package cli

import (
	"context"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/job"
)

// This build (-tags nosim: the task binaries mk/drp.mk builds for the DRP
// plugin) links no simulator: simulate and --simulate exit 2 saying so.

// builtinSim is nil: --simulate is refused (connFlags.resolve).
var builtinSim job.Simulator

// runSimulate refuses: there is no simulator to serve.
func runSimulate(_ context.Context, _ *command, _ []string, env Env) int {
	printError(env.Stderr, "simulate", noSimulator)
	return errkind.ExitInvalid
}
