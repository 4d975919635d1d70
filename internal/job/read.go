package job

import (
	"context"
	"fmt"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/tasks"
)

// ReadHost connects as cfg says (ViHost and Simulate included), reads the
// host once (tasks.Host.Read: local users, their roles on the root folder,
// the roles and the password policy), logs out and returns what it read. It
// makes no write call. Errors: errkind.ErrInvalid for settings that are
// wrong (nothing contacted), else errkind.ErrConnect.
func ReadHost(ctx context.Context, cfg Config) (*tasks.Snapshot, error) {
	log := textsafe.NewLogger(cfg.Log)
	if err := checkServer(cfg); err != nil {
		return nil, err
	}
	ecfg, stopSim, err := connection(cfg, nil, log)
	if err != nil {
		return nil, err
	}
	defer stopSim()
	host, closeHost, err := dial(ctx, cfg, ecfg, log)
	if err != nil {
		return nil, err
	}
	defer esx.Logout(ctx, cfg.Grace, closeHost, log)
	snap, err := host.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errkind.ErrConnect, err)
	}
	return snap, nil
}
