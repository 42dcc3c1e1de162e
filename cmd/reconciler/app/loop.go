package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/source"
	"github.com/sparkmesos/reconciler/store"
	"github.com/sparkmesos/reconciler/store/bolt"
	storezk "github.com/sparkmesos/reconciler/store/zk"
)

// clusterOptions are the connection settings shared by diff, apply and run:
// each flag, else its RECONCILER_* variable, else the default.
type clusterOptions struct {
	master          string
	store           string
	owner           string
	mesosPrincipal  string
	mesosSecretFile string
}

func (o *clusterOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.master, "master", "", "Mesos master: mesos://host:5050 or mesos://zk://host:2181/mesos ($RECONCILER_MASTER; default mesos://127.0.0.1:5050)")
	f.StringVar(&o.store, "store", "", "the store: bolt:PATH or zk://hosts/path ($RECONCILER_STORE)")
	f.StringVar(&o.owner, "owner", "", "owner written into ownership labels; one per reconciler instance ($RECONCILER_OWNER; default "+render.DefaultOwner+")")
	f.StringVar(&o.mesosPrincipal, "mesos-principal", "", "principal for the master's HTTP authentication ($RECONCILER_MESOS_PRINCIPAL)")
	f.StringVar(&o.mesosSecretFile, "mesos-secret-file", "", "file holding the secret for --mesos-principal ($RECONCILER_MESOS_SECRET_FILE)")
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func (o *clusterOptions) resolve() {
	o.master = firstOf(o.master, os.Getenv("RECONCILER_MASTER"), "mesos://127.0.0.1:5050")
	o.store = resolveStore(o.store)
	o.owner = firstOf(o.owner, os.Getenv("RECONCILER_OWNER"), render.DefaultOwner)
	o.mesosPrincipal = firstOf(o.mesosPrincipal, os.Getenv("RECONCILER_MESOS_PRINCIPAL"))
	o.mesosSecretFile = firstOf(o.mesosSecretFile, os.Getenv("RECONCILER_MESOS_SECRET_FILE"))
}

func (o *clusterOptions) mesosClient() (*mesos.Client, error) {
	opts := mesos.Options{Master: o.master, Principal: o.mesosPrincipal}
	if o.mesosSecretFile != "" {
		b, err := os.ReadFile(o.mesosSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--mesos-secret-file: %w", err)
		}
		opts.Secret = strings.TrimRight(string(b), "\r\n")
	}
	return mesos.New(opts)
}

// lookupSecret resolves a secret source for submission: a variable of this
// process's environment, or a file's content, verbatim.
func lookupSecret(s v1.ValueSource) (string, error) {
	if s.Env != "" {
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// openWriter opens the store for writing and takes leadership (the file
// lock for bolt, an election for ZooKeeper).
func openWriter(ctx context.Context, spec string) (store.Store, store.Leadership, error) {
	switch {
	case strings.HasPrefix(spec, "bolt:"):
		s, err := bolt.Open(strings.TrimPrefix(spec, "bolt:"))
		if err != nil {
			return nil, nil, err
		}
		l, err := s.Campaign(ctx)
		return s, l, err
	case strings.HasPrefix(spec, "zk://"):
		s, err := storezk.Open(ctx, spec, storezk.Options{Digest: os.Getenv("RECONCILER_ZK_DIGEST")})
		if err != nil {
			return nil, nil, err
		}
		l, err := s.Campaign(ctx)
		if err != nil {
			s.Close()
			return nil, nil, err
		}
		return s, l, nil
	}
	return nil, nil, fmt.Errorf("store %q: write bolt:PATH or zk://host:2181/path", spec)
}

// openReader opens the store for reading; a bolt store that does not exist
// yet reads as empty.
func openReader(ctx context.Context, spec string) (store.Store, error) {
	if path, ok := strings.CutPrefix(spec, "bolt:"); ok {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return store.NewMemory(), nil
		}
	}
	return openStoreReadOnly(ctx, spec)
}

// loadDesired reads and renders the manifests, printing problems to
// streams.Err. Files that fail to load are reported and become BrokenFiles.
func loadDesired(streams Streams, paths []string, owner string) (*reconcile.Desired, error) {
	files, readProblems, err := source.ReadSource(paths, streams.In)
	if err != nil {
		// Not knowing what the source declares, nothing may be planned from
		// it: an absent object would be taken for a deleted one (exit 2).
		return nil, err
	}
	d, problems, err := desiredFrom(files, readProblems, owner)
	if err != nil {
		return nil, err
	}
	for _, p := range problems.Errors() {
		fmt.Fprintln(streams.Err, p.Error())
	}
	d.AbsoluteOrigins()
	return d, nil
}

// load reads the manifests of the paths, or of the Git revision.
func (o *diffOptions) load(ctx context.Context, streams Streams, paths []string) (*reconcile.Desired, error) {
	if o.git.enabled() {
		return loadGit(ctx, streams, o.git, o.cluster.owner)
	}
	return loadDesired(streams, paths, o.cluster.owner)
}

var symbols = map[reconcile.ActionType]string{
	reconcile.ActionSubmit: "+", reconcile.ActionRestart: "+", reconcile.ActionResubmit: "~",
	reconcile.ActionKill: "-", reconcile.ActionPrune: "-", reconcile.ActionBlocked: "!",
	reconcile.ActionHold: "?", reconcile.ActionAdopt: "=", reconcile.ActionUnchanged: " ",
	reconcile.ActionLaunch: "+", reconcile.ActionRoll: "~", reconcile.ActionUpdate: "~",
}

// printPlan writes the plan Terraform-style, one line an action, changed
// properties under a resubmission, and a summary. Unchanged applications
// are listed only when verbose.
func printPlan(w io.Writer, p reconcile.Plan, verbose bool) {
	counts := map[reconcile.ActionType]int{}
	for _, a := range p.Roles {
		if a.Type == reconcile.ActionUnchanged && !verbose {
			continue
		}
		fmt.Fprintf(w, "%s %-9s %-24s %s\n", symbols[a.Type], a.Type, "MesosRole/"+a.Name, a.Reason)
	}
	for _, a := range p.Services {
		if a.Type == reconcile.ActionUnchanged && !verbose {
			continue
		}
		fmt.Fprintf(w, "%s %-9s %-24s %s\n", symbols[a.Type], a.Type, a.Kind+"/"+a.Name, a.Reason)
		if len(a.Agents) > 0 {
			fmt.Fprintf(w, "      agents: %s\n", strings.Join(a.Agents, ", "))
		}
	}
	for _, a := range p.Actions {
		counts[a.Type]++
		if a.Type == reconcile.ActionUnchanged && !verbose {
			continue
		}
		fmt.Fprintf(w, "%s %-9s %-24s %s\n", symbols[a.Type], a.Type, a.App, a.Reason)
		for _, c := range a.Changes {
			fmt.Fprintf(w, "      %s: %s -> %s\n", c.Key, orDash(c.Old), orDash(c.New))
		}
	}
	var parts []string
	for _, a := range p.Services {
		if a.Type.Changes() || a.Type == reconcile.ActionBlocked {
			counts[a.Type]++
		}
	}
	for _, a := range p.Roles {
		if a.Type.Changes() || a.Type == reconcile.ActionBlocked {
			counts[a.Type]++
		}
	}
	for _, t := range []reconcile.ActionType{reconcile.ActionUpdate, reconcile.ActionLaunch, reconcile.ActionRoll, reconcile.ActionSubmit, reconcile.ActionResubmit, reconcile.ActionRestart, reconcile.ActionKill, reconcile.ActionPrune, reconcile.ActionAdopt, reconcile.ActionHold, reconcile.ActionBlocked, reconcile.ActionUnchanged} {
		if counts[t] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[t], t))
		}
	}
	if len(parts) == 0 {
		parts = []string{"nothing"}
	}
	fmt.Fprintf(w, "Plan: %s.\n", strings.Join(parts, ", "))
}

type diffOptions struct {
	cluster clusterOptions
	git     gitOptions
	prune   bool
	force   bool
	verbose bool
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

Exit codes: 0 no changes, 1 changes, 2 error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pathsOrGit(&o.git, cmd, args); err != nil {
				return err
			}
			o.cluster.resolve()
			return runDiff(cmd.Context(), streams, args, o)
		},
	}
	o.cluster.register(cmd)
	o.git.register(cmd)
	cmd.Flags().BoolVar(&o.prune, "prune", false, "plan the removal of applications no longer in the manifests")
	cmd.Flags().BoolVar(&o.force, "force", false, "allow pruning more than half of what the reconciler owns")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "list unchanged applications too")
	return cmd
}

// reconciler wires a Reconciler to the cluster and store of the options.
func (o clusterOptions) reconciler(st store.Store, opts reconcile.Options, log *slog.Logger) (*reconcile.Reconciler, error) {
	mc, err := o.mesosClient()
	if err != nil {
		return nil, err
	}
	// One pool for observing and executing: it resolves managed dispatchers.
	return &reconcile.Reconciler{Master: mc, Dispatchers: &reconcile.DispatcherPool{}, Store: st, Owner: o.owner,
		Options: opts, Lookup: lookupSecret, Log: log}, nil
}

func runDiff(ctx context.Context, streams Streams, paths []string, o diffOptions) error {
	d, err := o.load(ctx, streams, paths)
	if err != nil {
		return err
	}
	st, err := openReader(ctx, o.cluster.store)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := o.cluster.reconciler(st, reconcile.Options{Prune: o.prune, Force: o.force}, nil)
	if err != nil {
		return err
	}
	plan, _, err := r.Plan(ctx, d)
	if err != nil {
		return err
	}
	printPlan(streams.Out, plan, o.verbose)
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

Exit codes: 0 done, 1 not converged within --timeout, 2 error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pathsOrGit(&o.git, cmd, args); err != nil {
				return err
			}
			o.cluster.resolve()
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
	d, err := o.load(ctx, streams, paths)
	if err != nil {
		return err
	}
	st, leadership, err := openWriter(ctx, o.cluster.store)
	if err != nil {
		return err
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(streams.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := o.cluster.reconciler(st, reconcile.Options{Prune: o.prune, Force: o.force, InDoubt: o.inDoubt}, log)
	if err != nil {
		return err
	}
	res, err := r.Apply(ctx, d, reconcile.ApplyOptions{Wait: o.wait, Timeout: o.timeout, Lost: leadership.Lost(),
		Report: func(pass int, res reconcile.PassResult) { printPass(streams.Out, pass, res) }})
	if o.wait && (err == nil || errors.Is(err, reconcile.ErrActionsFailed) || errors.Is(err, reconcile.ErrNotSettled)) {
		printPhases(streams.Out, res.Plan)
	}
	switch {
	case errors.Is(err, reconcile.ErrNotSettled):
		return &exitError{code: ExitChanges, msg: err.Error()}
	case errors.Is(err, reconcile.ErrActionsFailed):
		return &exitError{code: ExitInvalid, msg: err.Error()}
	}
	return err
}

// printPass prints apply's progress: the plan of the first pass (and of a
// later one that changes something), then what became of each action.
func printPass(w io.Writer, pass int, res reconcile.PassResult) {
	changes := 0 // of applications and roles: apply leaves services to run
	for _, a := range res.Plan.Actions {
		if a.Type.Changes() {
			changes++
		}
	}
	for _, a := range res.Plan.Roles {
		if a.Type.Changes() {
			changes++
		}
	}
	if pass == 0 || changes > 0 {
		printPlan(w, res.Plan, false)
	}
	if pass == 0 {
		for _, a := range res.Plan.Services {
			if a.Type.Changes() {
				fmt.Fprintln(w, "note: service tasks (ShuffleService) are launched, rolled and killed by the Mesos framework of `reconciler run`; apply does not change them.")
				break
			}
		}
	}
	for _, out := range res.Outcomes {
		if out.Err != nil {
			fmt.Fprintf(w, "  error: %s %s: %v\n", out.Type(), out.Target(), out.Err)
		} else if out.Detail != "" {
			fmt.Fprintf(w, "  done:  %s %s: %s\n", out.Type(), out.Target(), out.Detail)
		}
	}
}

func printPhases(w io.Writer, p reconcile.Plan) {
	phases := map[string]string{}
	var names []string
	for _, a := range p.Actions {
		if _, seen := phases[a.App]; !seen {
			names = append(names, a.App)
		}
		phases[a.App] = a.Phase
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-24s %s\n", n, phases[n])
	}
}
