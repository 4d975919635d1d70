package job

import (
	"context"
	"log/slog"
	"time"

	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/params"
)

// The parts of Run a fleet (internal/fleet) runs once for many hosts; the
// list, its options and its report are Inputs'.

// ESXConfig is the esx.Config cfg connects with: server, credentials (a
// password, or SSPI pass-through), certificate checks, timeouts, retries,
// trace and log, with the passwords of entries among the strings the trace
// and the log scrub. cfg must not ask for the simulator: a fleet's hosts
// are real servers (the CLI refuses --simulate for a fleet).
func ESXConfig(cfg Config, entries []params.Entry, log *slog.Logger) (esx.Config, error) {
	ecfg, _, err := connection(cfg, entries, log)
	return ecfg, err
}

// Logger is l with host text escaped (textsafe.NewHandler); nil discards.
func Logger(l *slog.Logger) *slog.Logger { return logger(l) }

// Logout closes a session as Run does: after ctx is done (a signal) it
// waits at most a fifth of grace for the host's answer.
func Logout(ctx context.Context, grace time.Duration, closeSession func() error, log *slog.Logger) {
	logout(ctx, grace, closeSession, log)
}
