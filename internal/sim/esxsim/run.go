package esxsim

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// StartForRun is the job.Simulator of esxi-manage-users' --simulate: a
// fresh simulator with default options for one run, an ESXi host or, with
// vcenter, a vCenter managing ESXi hosts (for --vihost). It returns the URL
// with the login user and password in it, the PEM of the certificate the
// simulator serves and the func that stops it.
func StartForRun(vcenter bool, log *slog.Logger) (*url.URL, []byte, func(), error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if vcenter {
		vc, err := StartVCenter(VCenterOptions{})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("start the vCenter simulator: %w", err)
		}
		log.Info("using the built-in vCenter simulator", "url", "https://"+vc.URL.Host+"/sdk", "hosts", strings.Join(vc.Hosts, ","))
		return vc.URL, vc.CertPEM, vc.Close, nil
	}
	sim, err := Start(Options{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start the simulator: %w", err)
	}
	log.Info("using the built-in ESXi simulator", "url", "https://"+sim.URL.Host+"/sdk")
	return sim.URL, sim.CertPEM, sim.Close, nil
}
