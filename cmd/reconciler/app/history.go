package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/dispatcher"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/store"
)

func newHistoryCommand(streams Streams) *cobra.Command {
	var storeSpec, output string
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "List an application's runs: trigger, times, end and class of failure",
		Long: `history reads the store and lists the runs of a SparkApplication (or of a
schedule's run) newest last: the submission id, what triggered it
(manifest, restart, run-now, schedule, adoption, resume), the attempt, when
it was submitted, started and ended, the final Mesos state with its reason,
the class of its end (succeeded, application, infrastructure,
never-launched, killed, deadline, unknown) and the agent it ran on.
-o yaml or json gives the whole run records, with the stderr tail of
failed runs. The record keeps spec.historyLimit runs (default 10).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := readAppRecord(cmd.Context(), storeSpec, args[0])
			if err != nil {
				return err
			}
			switch output {
			case "json", "yaml":
				runs := rec.Submissions
				if runs == nil {
					runs = []store.Submission{}
				}
				return writeAs(streams.Out, runs, output)
			case "table":
				printHistory(streams.Out, rec, time.Now())
				return nil
			}
			return invalid(errors.New("--output must be table, yaml or json"))
		},
	}
	cmd.Flags().StringVar(&storeSpec, "store", "", "the store: bolt:PATH or zk://hosts/path")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, yaml or json")
	cmd.ValidArgsFunction = completeNames()
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(statusFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// readAppRecord reads a SparkApplication's record from the store.
func readAppRecord(ctx context.Context, storeSpec, name string) (*store.Record, error) {
	spec := resolveStore(storeSpec, configOf(ctx).Store)
	st, err := openReader(ctx, spec)
	if err != nil {
		return nil, failure(err)
	}
	defer st.Close()
	rec, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: name})
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid(fmt.Errorf("no SparkApplication named %q in the store %s (status lists what it holds)", name, spec))
	}
	if err != nil {
		return nil, failure(err)
	}
	return rec, nil
}

func printHistory(w io.Writer, rec *store.Record, now time.Time) {
	if len(rec.Submissions) == 0 {
		fmt.Fprintf(w, "%s has no run recorded yet.\n", rec.Key.Name)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTRIGGER\tATTEMPT\tSUBMITTED\tSTARTED\tDURATION\tSTATE\tCLASS\tAGENT\tREASON")
	for _, s := range rec.Submissions {
		started, took := "-", "-"
		if !s.StartedAt.IsZero() {
			started = "unknown" // adopted: submitted at its start, at the latest
			if s.Trigger != reconcile.TriggerAdoption {
				started = shortDuration(s.StartedAt.Sub(s.SubmittedAt)) + " later"
			}
			end := s.FinishedAt
			if end.IsZero() {
				end = now
			}
			took = shortDuration(end.Sub(s.StartedAt))
		}
		why := s.Reason
		if s.TaskMessage != "" {
			why = strings.TrimSpace(why + " " + s.TaskMessage)
		}
		if why == "" {
			why = s.Message
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, orDash(s.Trigger), s.Attempt, s.SubmittedAt.Local().Format(time.DateTime),
			started, took, orDash(s.State), orDash(s.Class), orDash(s.Hostname), orDash(strings.ReplaceAll(why, "\n", " ")))
	}
	tw.Flush()
}

// printAppSummary is status NAME for an application: its phase, the
// latest run in words with the last lines of a failed run's stderr, the
// Spark UI, then its recent events.
func printAppSummary(w io.Writer, rec *store.Record) {
	fmt.Fprintf(w, "Name:      %s\n", rec.Key.Name)
	fmt.Fprintf(w, "Phase:     %s\n", orDash(rec.Status.Phase))
	if rec.Status.Message != "" {
		fmt.Fprintf(w, "Message:   %s\n", rec.Status.Message)
	}
	fmt.Fprintf(w, "Spec:      %s (revision %s, from %s)\n", orDash(rec.SpecHash), orDash(shortRevision(rec.Revision)), orDash(rec.Origin))
	if c := rec.Counters; c != nil && c.Consecutive > 0 {
		fmt.Fprintf(w, "Failures:  %d in a row (%d against maxRetries, %d against onInfrastructureFailureRetries)\n", c.Consecutive, c.Application, c.Infrastructure)
	}
	if n := len(rec.Submissions); n > 0 {
		s := rec.Submissions[n-1]
		fmt.Fprintf(w, "Latest run: %s (%s, attempt %d, %d runs kept; reconciler history %s)\n", s.ID, orDash(s.Trigger), s.Attempt, n, rec.Key.Name)
		fmt.Fprintf(w, "  Submitted: %s\n", s.SubmittedAt.Local().Format(time.RFC3339))
		if !s.StartedAt.IsZero() {
			fmt.Fprintf(w, "  Started:   %s on %s\n", s.StartedAt.Local().Format(time.RFC3339), orDash(s.Hostname))
		}
		if !s.FinishedAt.IsZero() {
			fmt.Fprintf(w, "  Ended:     %s: %s, class %s\n", s.FinishedAt.Local().Format(time.RFC3339), reconcile.DescribeRun(&s), orDash(s.Class))
		} else {
			fmt.Fprintf(w, "  State:     %s\n", orDash(s.State))
		}
		if s.Message != "" {
			fmt.Fprintf(w, "  Note:      %s\n", s.Message)
		}
		ui, history := reconcile.RunLinks(rec, &s)
		if ui != "" {
			fmt.Fprintf(w, "  Spark UI:  %s\n", ui)
		}
		if history != "" {
			fmt.Fprintf(w, "  History:   %s\n", history)
		}
		if tail := strings.TrimRight(s.StderrTail, "\n"); tail != "" {
			lines := strings.Split(tail, "\n")
			lines = lines[max(len(lines)-15, 0):]
			fmt.Fprintf(w, "  Stderr (last %d lines; reconciler logs %s --run %s for more):\n", len(lines), rec.Key.Name, s.ID)
			for _, l := range lines {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	if len(rec.Events) > 0 {
		fmt.Fprintln(w, "Events:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, e := range rec.Events[max(len(rec.Events)-10, 0):] {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), e.Type, e.Reason, e.Message)
		}
		tw.Flush()
	}
}

// readRunLog reads the end (n bytes; all when n < 0) of a run's sandbox
// file through its agent's /files API, found in the master's state (state:
// GET_STATE, or run's event-stream view).
func readRunLog(ctx context.Context, mc *mesos.Client, state func(context.Context) (*mesos.Snapshot, error), run *store.Submission, file string, n int64) ([]byte, int64, *reconcile.RunSandbox, error) {
	snap, err := state(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	sb, err := reconcile.LocateSandbox(snap, run)
	if err != nil {
		return nil, 0, nil, err
	}
	data, size, err := mc.Tail(ctx, mc.AgentURL(sb.Agent), sb.Path+"/"+file, n)
	return data, size, sb, err
}

type logsOptions struct {
	cluster clusterOptions
	run     string
	stdout  bool
	stderr  bool
	tail    int
	follow  bool
}

func newLogsCommand(streams Streams) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a driver's stderr (or stdout) from its Mesos sandbox",
		Long: `logs finds a run of the application in the store (the latest, or --run ID),
its driver's agent in the master's state, and reads the driver's sandbox
file through the agent's /files API. --follow keeps reading while the
driver runs and ends when it ends. When the sandbox is gone (the agent
garbage-collected it, or the agent is lost), logs prints the stderr tail
the reconciler copied into the run's record when it failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cluster.resolve(cmd.Context())
			return runLogs(cmd.Context(), streams, args[0], o)
		},
	}
	o.cluster.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.run, "run", "", "the run: its submission id, or the end of it (default: the latest)")
	f.BoolVar(&o.stderr, "stderr", false, "the driver's stderr (the default)")
	f.BoolVar(&o.stdout, "stdout", false, "the driver's stdout (the command executor's lines)")
	f.IntVar(&o.tail, "tail", -1, "only the last N lines")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing as the driver writes, until it ends")
	cmd.MarkFlagsMutuallyExclusive("stderr", "stdout")
	cmd.ValidArgsFunction = completeNames()
	return cmd
}

func runLogs(ctx context.Context, streams Streams, name string, o logsOptions) error {
	rec, err := readAppRecord(ctx, o.cluster.store, name)
	if err != nil {
		return err
	}
	run, err := reconcile.FindRun(rec, o.run)
	if err != nil {
		return invalid(err)
	}
	file := "stderr"
	if o.stdout {
		file = "stdout"
	}
	mc, err := o.cluster.mesosClient()
	if err != nil {
		return invalid(err)
	}
	data, size, sb, err := readRunLog(ctx, mc, mc.Snapshot, run, file, tailBytes(o.tail))
	if err != nil {
		if file == "stderr" && run.StderrTail != "" {
			fmt.Fprintf(streams.Err, "reconciler: the sandbox of %s cannot be read (%v); its stderr tail, copied when it ended:\n", run.ID, err)
			_, werr := io.WriteString(streams.Out, lastLines(run.StderrTail, o.tail))
			return werr
		}
		return failure(fmt.Errorf("logs of %s: %w", run.ID, err))
	}
	if _, err := io.WriteString(streams.Out, lastLines(string(data), o.tail)); err != nil {
		return err
	}
	if !o.follow || !sb.Running {
		return nil
	}
	// Whether the driver ended: one small call to the dispatcher, the
	// master's whole state only when the dispatcher does not answer (a
	// managed one, whose host only the state tells).
	disp := dispatcher.New(reconcile.DispatcherOf(rec), 5*time.Second)
	ended := func() bool {
		if st, err := disp.Status(ctx, run.ID); err == nil {
			return st.DriverState != dispatcher.StateRunning
		}
		s, err := mc.Snapshot(ctx)
		if err != nil {
			return false // unknown this poll: keep following
		}
		now, err := reconcile.LocateSandbox(s, run)
		return err != nil || !now.Running
	}
	return mc.Follow(ctx, mc.AgentURL(sb.Agent), sb.Path+"/"+file, size, streams.Out, time.Second, ended)
}

// tailBytes is how much of a file to read for the last n lines: all of
// it when n < 0 (up to 64 MiB).
func tailBytes(n int) int64 {
	if n < 0 {
		return 64 << 20
	}
	return int64(max(n, 1)) * 1024
}

// lastLines keeps the last n lines of s (all when n < 0).
func lastLines(s string, n int) string {
	if n < 0 {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines[max(len(lines)-n, 0):], "")
}
