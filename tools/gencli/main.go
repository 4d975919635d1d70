// Command gencli writes the CLI reference, docs/cli.md, from the commands'
// own help (cli.Reference: each command's usage and flag set as
// `esxi-manage-users help COMMAND` prints them, and the exit codes), as
// govc's usage.sh writes its USAGE.md. Run it from the repository's root
// after changing a command, a flag or an exit code:
//
//	go run ./tools/gencli
//
// It documents the default build: with -tags nosim (no simulator) it fails.
// internal/cli's TestReferenceIsGenerated fails while docs/cli.md differs
// from what it writes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/esxi-users/esxi-users/internal/cli"
)

func main() {
	out := flag.String("o", "docs/cli.md", "the file to write")
	flag.Parse()
	ref, err := cli.Reference()
	if err == nil {
		err = os.WriteFile(*out, ref, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencli:", err)
		os.Exit(1)
	}
}
