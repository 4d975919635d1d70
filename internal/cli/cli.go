// Package cli implements the esxi-manage-users commands. Main is the whole
// program; cmds/esxi-manage-users only calls it.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// Env is what a command gets from its process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// StdinIsTerminal reports whether Stdin is a terminal (nil: it is not).
	// apply and plan without --file then print their usage instead of
	// waiting for a document to be typed.
	StdinIsTerminal func() bool
}

// OSEnv is the real process environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, StdinIsTerminal: stdinIsTerminal}
}

// stdinIsTerminal reports whether the process's standard input is a
// terminal: a character device other than the null device (whose reading
// ends at once, as for a closed stdin). golang.org/x/term is not in go.mod;
// a pipe or a file is not a character device.
func stdinIsTerminal() bool {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// Main runs the program and returns its exit code.
func Main(args []string, env Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, env)
}

// Run is Main with a caller-supplied context.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		printUsage(env.Stderr)
		return errkind.ExitInvalid
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "--help":
		return runHelp(ctx, rest, env)
	}
	c := lookup(name)
	if c == nil {
		return unknownCommand(name, env)
	}
	return c.run(ctx, c, rest, env)
}

// unknownCommand says that name is no command, prints the usage, and
// returns the exit code of a mistake of usage.
func unknownCommand(name string, env Env) int {
	fmt.Fprintf(env.Stderr, "esxi-manage-users: unknown command %s\n\n", quoteClip(name))
	printUsage(env.Stderr)
	return errkind.ExitInvalid
}
