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

	"github.com/sparkmesos/reconciler/mesos"
)

// Streams are the standard streams a command reads and writes.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Exit codes, the same for every verb (README has the table).
const (
	ExitOK = 0
	// ExitChanges: not done as asked, by design: diff (and apply
	// --dry-run) found changes; apply --wait did not converge (within
	// --timeout, or something is blocked); run-now was refused by the
	// schedule's concurrency policy.
	ExitChanges = 1
	// ExitInvalid: invalid input: a manifest error, an unreadable source,
	// a bad flag or argument, an object the store does not know.
	ExitInvalid = 2
	// ExitFailure: the Mesos master, a dispatcher or the store failed or
	// could not be reached, or apply's actions failed.
	ExitFailure = 3
)

// exitError carries an exit code; its message (if any) has been printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// codedError is an error Run prints, with the exit code it maps to.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// failure marks err as a failure of the cluster, a dispatcher or the
// store (exit 3), unless it already carries a code.
func failure(err error) error {
	var ee *exitError
	var ce *codedError
	if err == nil || errors.As(err, &ee) || errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, mesos.ErrUnreachable) {
		err = fmt.Errorf("%w; check --master or RECONCILER_MASTER", err)
	}
	return &codedError{code: ExitFailure, err: err}
}

// invalid marks err as invalid input (exit 2).
func invalid(err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: ExitInvalid, err: err}
}

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
	var ce *codedError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ce):
		return ce.code
	default:
		return ExitInvalid // cobra's usage errors, and bad input found before any I/O
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
SparkApplication, ScheduledSparkApplication, Dispatcher, ShuffleService and
MesosRole. Paths may be files, directories (read recursively: *.yaml, *.yml,
*.json; hidden entries skipped) or "-" for standard input.

Offline verbs:
  validate   check manifests; every error at once, as file:line:column
  render     show the exact launch specs a manifest implies, secrets redacted

Against a cluster:
  diff       the plan: what apply would submit, resubmit, restart, kill or prune
  apply      carry the plan out (--prune, --dry-run, --wait)
  run        the control loop as a service: follow a directory (--dir) or a Git
             repository (--git), leader-elected
  run-now    run an application or a schedule once more, now (also: rerun)
  delete     kill an application's driver and forget it
  status     what the reconciler recorded about its objects (reads the store)
  config     the connection settings in force (config view)

Connection settings resolve as flags, then RECONCILER_* variables, then the
--context of the config file (--config; default
$XDG_CONFIG_HOME/sparkmesos-reconciler/config.yaml), then the defaults.

Exit codes (every verb):
  0  success (diff: no changes)
  1  not done as asked, by design: diff or apply --dry-run found changes;
     apply --wait did not converge (timeout, or something is blocked);
     run-now was refused by the schedule's concurrency policy
  2  invalid input: a manifest error, an unreadable source, a bad flag or
     argument, an object the store does not know
  3  failure: the Mesos master, a dispatcher or the store failed or could not
     be reached, or apply's actions failed`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	registerConfig(root)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.AddCommand(
		newValidateCommand(streams),
		newRenderCommand(streams),
		newStatusCommand(streams),
		newHistoryCommand(streams),
		newLogsCommand(streams),
		newEventsCommand(streams),
		newDiffCommand(streams),
		newApplyCommand(streams),
		newRunCommand(streams),
		newRunNowCommand(streams),
		newDeleteCommand(streams),
		newConfigCommand(streams),
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
