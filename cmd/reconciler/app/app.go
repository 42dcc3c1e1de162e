// Package app is the reconciler's command line: flags, wiring, output and
// exit codes. Logic worth testing lives in the packages it calls.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Exit codes.
const (
	ExitOK      = 0
	ExitChanges = 1 // diff: there are changes
	ExitInvalid = 2 // invalid or unreadable input, or a failure
)

// exitError carries an exit code; its message (if any) has been printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// version is set at build time with -ldflags "-X .../app.version=v1.2.3".
var version = ""

// Version returns the build's version: the ldflags value, else the module
// version, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Main runs the command line and exits. It is the only place that exits.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(ExitCode(err))
}

// ExitCode maps Run's error to the process exit code.
func ExitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	default:
		return ExitInvalid
	}
}

// Run executes the command line args with the given streams.
func Run(ctx context.Context, streams Streams, args []string) error {
	root := newRootCommand(streams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee *exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(streams.Err, "reconciler: %v\n", err)
	}
	return err
}

func newRootCommand(streams Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "reconciler",
		Short: "Declarative Spark on Mesos: validate, render and converge manifests",
		Long: `reconciler keeps Spark applications, MesosClusterDispatchers and external shuffle
services on an Apache Mesos cluster the way YAML manifests describe them.

Manifests are Kubernetes-style documents (apiVersion: sparkmesos.io/v1) of kinds
SparkApplication, Dispatcher, ShuffleService and MesosRole. Paths may be files,
directories (read recursively: *.yaml, *.yml, *.json; hidden entries skipped) or
"-" for standard input.

Offline verbs:
  validate   check manifests; every error at once, as file:line:column
  render     show the exact launch specs a manifest implies, secrets redacted

Against a cluster:
  diff       the plan: what apply would submit, resubmit, restart, kill or prune
  apply      carry the plan out (--prune, --dry-run, --wait)
  run        the control loop as a service: follow a directory (--dir), leader-elected
  run-now    run an application or a schedule once more, now (also: rerun)
  delete     kill an application's driver and forget it
  status     what the reconciler recorded about its objects (reads the store)

Exit codes: 0 success, 1 changes pending (diff) or not converged (apply --wait),
2 invalid input or failure.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.AddCommand(
		newValidateCommand(streams),
		newRenderCommand(streams),
		newStatusCommand(streams),
		newDiffCommand(streams),
		newApplyCommand(streams),
		newRunCommand(streams),
		newRunNowCommand(streams),
		newDeleteCommand(streams),
		newVersionCommand(streams),
	)
	return root
}

func newVersionCommand(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the reconciler's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(streams.Out, "reconciler %s\n", Version())
			return nil
		},
	}
}
