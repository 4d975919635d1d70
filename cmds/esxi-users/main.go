// Command esxi-users is the esxi-users DRP plugin provider: its content pack
// defines the esxi/manage-users Params and the esxi-manage-users task,
// `unpack` ships the task binary for the Go agent, and the machine action
// esxiManageUsers applies esxi/manage-users from the DRP server (used on
// ESXi machines, where no Go binary runs).
package main

import (
	"os"

	"github.com/digitalrebar/provision/v4/plugin"
)

// version is set with -ldflags "-X main.version=v1.2.3"; by default the
// content pack's version.
var version = ""

func main() {
	def, err := Definition()
	if err != nil {
		os.Stderr.WriteString("esxi-users: " + err.Error() + "\n")
		os.Exit(1)
	}
	plugin.InitApp("esxi-users", "Manage ESXi local users from DRP Params", def.Version, def, &Plugin{})
	if err := plugin.App.Execute(); err != nil {
		os.Exit(1)
	}
}
