package cli

import (
	"context"

	"github.com/esxi-users/esxi-users/internal/drp"
)

// runFromDRP is apply/plan inside a DRP task: Params come from the DRP API
// (RS_ENDPOINT, RS_TOKEN, RS_UUID), the report is written back to the
// machine, and the exit code follows DRP's sane exit codes.
func runFromDRP(ctx context.Context, env Env, plan bool) int {
	return drp.RunTaskWith(ctx, drp.TaskOptions{Stdout: env.Stdout, Stderr: env.Stderr, Getenv: env.Getenv, Plan: plan})
}
