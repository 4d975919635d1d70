// Command esxi-manage-users applies the esxi/manage-users Param to an ESXi
// host. Run "esxi-manage-users help" for usage and exit codes.
package main

import (
	"os"

	"github.com/esxi-users/esxi-users/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.OSEnv()))
}
