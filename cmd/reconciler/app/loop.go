package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkmesos/reconciler/reconcile"
)

type diffOptions struct {
	cluster clusterOptions
	git     gitOptions
	prune   bool
	force   bool
	verbose bool
	output  string
}

func newDiffCommand(streams Streams) *cobra.Command {
	var o diffOptions
	cmd := &cobra.Command{
		Use:   "diff PATH... | diff --git URL [--rev REV] [--git-path DIR]",
		Short: "Show what apply would do to the cluster",
		Long: `diff reads the manifests, observes the Mesos master, the dispatcher and the
store, and prints the plan: + submit or restart, ~ resubmit (with the changed
properties), - kill or prune, ! blocked (with why), ? held, = adopt. Nothing is
changed. Secrets are never shown.

With --git it reads the manifests of a revision of a Git repository (the
branch, tag or commit --rev, under --git-path): what syncing that revision
would do.

-o json prints the plan as data: every action with its kind, name, type,
reason, phase, agents and changed properties, plus the manifest problems; a
pipeline can gate on it with jq.

A manifest with errors is reported and its objects are shown held (as run
would hold them), and diff exits 2.

Exit codes: 0 no changes, 1 changes, 2 invalid input, 3 failure (the master,
a dispatcher or the store).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pathsOrGit(&o.git, cmd, args); err != nil {
				return err
			}
			o.cluster.resolve(cmd.Context())
			return runDiff(cmd.Context(), streams, args, o)
		},
	}
	o.cluster.register(cmd)
	o.git.register(cmd)
	cmd.Flags().BoolVar(&o.prune, "prune", false, "plan the removal of applications no longer in the manifests")
	cmd.Flags().BoolVar(&o.force, "force", false, "allow pruning more than half of what the reconciler owns")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "list unchanged applications too")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runDiff(ctx context.Context, streams Streams, paths []string, o diffOptions) error {
	if o.output == "" {
		o.output = "text"
	}
	if o.output != "text" && o.output != "json" {
		return invalid(fmt.Errorf("--output %q: use text or json", o.output))
	}
	d, problems, err := o.load(ctx, streams, paths)
	if err != nil {
		return err
	}
	st, err := openReader(ctx, o.cluster.store)
	if err != nil {
		return failure(err)
	}
	defer st.Close()
	r, err := o.cluster.reconciler(st, reconcile.Options{Prune: o.prune, Force: o.force, StuckAfter: o.cluster.stuckAfter}, nil)
	if err != nil {
		return err
	}
	done := slowly(streams, o.cluster)
	plan, _, err := r.Plan(ctx, d)
	done()
	if err != nil {
		return failure(err)
	}
	if o.output == "json" {
		if err := writePlanJSON(streams.Out, plan, d, problems); err != nil {
			return err
		}
	} else {
		printPlan(streams.Out, plan, o.verbose)
	}
	if n := len(problems.Errors()); n > 0 {
		return &codedError{code: ExitInvalid, err: fmt.Errorf("%s in the manifests: their objects are held", plural(n, "error"))}
	}
	if plan.Changes() > 0 {
		return &exitError{code: ExitChanges}
	}
	return nil
}

type applyOptions struct {
	diffOptions
	dryRun  bool
	wait    bool
	timeout time.Duration
	inDoubt time.Duration
}

func newApplyCommand(streams Streams) *cobra.Command {
	var o applyOptions
	cmd := &cobra.Command{
		Use:   "apply PATH... | apply --git URL [--rev REV] [--git-path DIR]",
		Short: "Make the cluster match the manifests",
		Long: `apply plans as diff does, prints the plan, and carries it out: submissions,
resubmissions, kills and (with --prune) removals, each recorded in the store
before and after it happens. With --wait it keeps reconciling, printing
progress, until every application runs, finished, or is blocked, or until
--timeout. With --git it applies a revision of a Git repository (see diff).

A manifest with errors changes nothing: apply reports every problem and exits
2 without acting (run, in contrast, holds a broken file's objects at their
last good spec and acts on the rest). --dry-run prints the plan and exits as
diff does.

Exit codes: 0 done (with --wait: everything converged), 1 not converged
(--timeout passed, or an application is blocked; --dry-run: changes), 2
invalid input, 3 failure (the master, a dispatcher or the store, or an action
failed).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pathsOrGit(&o.git, cmd, args); err != nil {
				return err
			}
			o.cluster.resolve(cmd.Context())
			return runApply(cmd.Context(), streams, args, o)
		},
	}
	o.cluster.register(cmd)
	o.git.register(cmd)
	cmd.Flags().BoolVar(&o.prune, "prune", false, "remove applications no longer in the manifests (only what the reconciler owns)")
	cmd.Flags().BoolVar(&o.force, "force", false, "allow pruning more than half of what the reconciler owns")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "list unchanged applications too")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the plan only")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until the applications run (or finished, or are blocked)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	cmd.Flags().DurationVar(&o.inDoubt, "in-doubt", 2*time.Minute, "how long a submission whose result was not recorded holds its application before it is submitted again")
	return cmd
}

func runApply(ctx context.Context, streams Streams, paths []string, o applyOptions) error {
	if o.dryRun {
		return runDiff(ctx, streams, paths, o.diffOptions)
	}
	d, problems, err := o.load(ctx, streams, paths)
	if err != nil {
		return err
	}
	if n := len(problems.Errors()); n > 0 {
		return &codedError{code: ExitInvalid, err: fmt.Errorf("%s in the manifests: nothing was applied; fix them, then apply again", plural(n, "error"))}
	}
	st, leadership, err := openWriter(ctx, o.cluster.store)
	if err != nil {
		return failure(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(streams.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := o.cluster.reconciler(st, reconcile.Options{Prune: o.prune, Force: o.force, InDoubt: o.inDoubt, StuckAfter: o.cluster.stuckAfter}, log)
	if err != nil {
		return err
	}
	done := slowly(streams, o.cluster)
	res, err := r.Apply(ctx, d, reconcile.ApplyOptions{Wait: o.wait, Timeout: o.timeout, Lost: leadership.Lost(),
		Report: func(pass int, res reconcile.PassResult) { done(); printPass(streams.Out, pass, res) }})
	done()
	if o.wait && (err == nil || errors.Is(err, reconcile.ErrActionsFailed) || errors.Is(err, reconcile.ErrNotSettled)) {
		printPhases(streams.Out, res.Plan)
	}
	switch {
	case errors.Is(err, reconcile.ErrNotSettled):
		return &codedError{code: ExitChanges, err: err}
	case err != nil:
		return failure(err)
	case o.wait:
		var blocked []string
		for a := range res.Plan.Entries() {
			if a.Type == reconcile.ActionBlocked {
				blocked = append(blocked, a.Target())
			}
		}
		if len(blocked) > 0 {
			return &codedError{code: ExitChanges, err: fmt.Errorf("not converged: blocked: %s", strings.Join(blocked, ", "))}
		}
	}
	return nil
}

// slowly says, on standard error, that the master is being waited for
// once that takes more than a second; the returned func stops it.
func slowly(streams Streams, c clusterOptions) func() {
	var mu sync.Mutex
	stopped := false
	t := time.AfterFunc(time.Second, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			fmt.Fprintf(streams.Err, "waiting for the Mesos master at %s (at most --connect-timeout %s a call)...\n", redactURL(c.master), c.connectTimeout)
		}
	})
	return func() {
		t.Stop()
		mu.Lock() // a message being written is written whole, before anything after
		stopped = true
		mu.Unlock()
	}
}
