package cli

import (
	"context"
	"fmt"
)

// runFromDRP is apply/plan inside a DRP task.
func runFromDRP(ctx context.Context, env Env, plan bool) int {
	fmt.Fprintln(env.Stderr, "esxi-manage-users: --from-drp is not available yet")
	return 2
}
