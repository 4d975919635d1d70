// Command esxi-users is the esxi-users DRP plugin provider: its content pack
// defines the esxi/manage-users Params and the esxi-manage-users task,
// `unpack` ships the task binary for the Go agent, and the machine action
// esxiManageUsers applies esxi/manage-users from the DRP server (used on
// ESXi machines, where no Go binary runs).
package main

import (
	"os"
	"strings"

	"github.com/digitalrebar/provision/v4/plugin"
	"github.com/spf13/cobra"
)

// version is set with -ldflags "-X main.version=v1.2.3"; by default the
// content pack's version.
var version = ""

func main() {
	def, err := Definition()
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "esxi-users: ") {
			msg = "esxi-users: " + msg
		}
		os.Stderr.WriteString(msg + "\n")
		os.Exit(1)
	}
	plugin.InitApp("esxi-users", "Manage ESXi local users from DRP Params", def.Version, def, &Plugin{})
	plugin.App.AddCommand(&cobra.Command{
		Use:   "bundle <file>",
		Short: "Write the content pack this plugin defines (digests of its binaries pinned) to <file>",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return os.WriteFile(args[0], []byte(def.Content), 0o644)
		},
	})
	if err := plugin.App.Execute(); err != nil {
		os.Exit(1)
	}
}
