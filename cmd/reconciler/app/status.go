package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

type statusOptions struct {
	store  string
	output string
	kind   string
	source bool
}

func newStatusCommand(streams Streams) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show what the reconciler recorded about its objects",
		Long: `status reads the reconciler's store (it works while "reconciler run" runs) and
prints where the manifests come from (the directory, or the Git repository
with the revision last attempted and the one last applied, the files that
failed to load and why, and a failing sync), then each object's phase, last
applied spec hash and the revision it came from, latest submission and
message; with a NAME, the object's full record including its intent and
recent events (each naming its revision). --source prints the source's
record alone, with its events.

The store is --store, else $RECONCILER_STORE, else
bolt:$XDG_STATE_HOME/sparkmesos-reconciler/state.db (XDG_STATE_HOME defaults
to ~/.local/state). On a machine where nothing was applied yet, status says so. ZooKeeper stores are zk://host:2181,host2:2181/path;
a digest user:password comes from $RECONCILER_ZK_DIGEST.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runStatus(cmd.Context(), streams, name, o)
		},
	}
	cmd.Flags().StringVar(&o.store, "store", "", "the store: bolt:PATH or zk://hosts/path")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table, yaml or json")
	cmd.Flags().StringVar(&o.kind, "kind", "", "only objects of this kind")
	cmd.Flags().BoolVar(&o.source, "source", false, "show the source's record (revisions, problems, events) instead of the objects")
	cmd.ValidArgsFunction = completeNames()
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(statusFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(v1.Kinds, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runStatus(ctx context.Context, streams Streams, name string, o statusOptions) error {
	spec := resolveStore(o.store, configOf(ctx).Store)
	if path, ok := strings.CutPrefix(spec, "bolt:"); ok {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			msg := fmt.Sprintf("no state yet: nothing has been applied with store %s (apply or run records state there; --store or RECONCILER_STORE picks another)", spec)
			if name != "" {
				return invalid(fmt.Errorf("no object named %q: %s", name, msg))
			}
			fmt.Fprintln(streams.Out, strings.ToUpper(msg[:1])+msg[1:]+".")
			return nil
		}
	}
	st, err := openStoreReadOnly(ctx, spec)
	if err != nil {
		return failure(err)
	}
	defer st.Close()
	if o.source {
		return printSource(ctx, streams, st, o.output)
	}
	recs, err := st.List(ctx, o.kind)
	if err != nil {
		return failure(err)
	}
	if name != "" {
		var match []*store.Record
		for _, r := range recs {
			if r.Key.Name == name {
				match = append(match, r)
			}
		}
		if len(match) == 0 {
			return invalid(fmt.Errorf("no object named %q in the store %s: %w", name, spec, store.ErrNotFound))
		}
		recs = match
	}
	switch o.output {
	case "json", "yaml":
		return writeAs(streams.Out, recs, o.output)
	case "table":
		if name != "" && len(recs) == 1 && recs[0].Key.Kind == v1.KindSparkApplication {
			printAppSummary(streams.Out, recs[0])
			return nil
		}
		if name != "" {
			return writeAs(streams.Out, recs, "yaml")
		}
		if meta, err := st.GetMeta(ctx); err == nil && meta.Source != "" {
			printSourceSummary(streams.Out, meta)
		}
		printStatusTable(streams.Out, recs, time.Now())
		return nil
	}
	return errors.New("--output must be table, yaml or json")
}

func printStatusTable(w io.Writer, recs []*store.Record, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tPHASE\tSPEC\tREVISION\tSUBMISSION\tAGE\tMESSAGE")
	for _, r := range recs {
		sub, age := "-", "-"
		if n := len(r.Submissions); n > 0 {
			last := r.Submissions[n-1]
			sub = last.ID
			age = shortDuration(now.Sub(last.SubmittedAt))
		}
		if sc := r.Schedule; sc != nil && len(sc.Runs) > 0 {
			last := sc.Runs[len(sc.Runs)-1]
			sub, age = last.Name, shortDuration(now.Sub(last.Scheduled))
		}
		hash := r.SpecHash
		if len(hash) > 8 {
			hash = hash[:8]
		}
		msg := strings.ReplaceAll(r.Status.Message, "\n", " ")
		phase := r.Status.Phase
		if n := r.Notify; n != nil {
			phase, msg = reconcile.NotifierStatus(n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Key.Kind, r.Key.Name, orDash(phase), orDash(hash), orDash(shortRevision(r.Revision)), sub, age, msg)
	}
	tw.Flush()
}

// shortRevision abbreviates main@sha1:HASH to main@HASH[:7].
func shortRevision(rev string) string {
	name, hash, ok := strings.Cut(rev, "sha1:")
	if !ok || len(hash) < 7 {
		return rev
	}
	return strings.TrimSuffix(name, "@") + "@" + hash[:7]
}

// printSourceSummary writes the source's lines above the status table.
func printSourceSummary(w io.Writer, m *store.Meta) {
	fmt.Fprintf(w, "Source:    %s\n", m.Source)
	if m.LastAttemptedRevision != "" {
		applied := orDash(m.LastAppliedRevision)
		if m.LastAppliedRevision == m.LastAttemptedRevision {
			applied = "the same"
		}
		fmt.Fprintf(w, "Revision:  attempted %s, applied %s\n", m.LastAttemptedRevision, applied)
	}
	if m.SourceError != "" {
		fmt.Fprintf(w, "Sync:      failing: %s\n", m.SourceError)
	}
	if len(m.SourceProblems) > 0 {
		at := ""
		if m.LastAttemptedRevision != "" {
			at = " at " + m.LastAttemptedRevision
		}
		fmt.Fprintf(w, "Problems%s (objects from these files keep their last good spec):\n", at)
		for _, p := range m.SourceProblems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	fmt.Fprintln(w)
}

// printSource writes the source's record: a summary and its events, or
// the record as YAML or JSON.
func printSource(ctx context.Context, streams Streams, st store.Store, output string) error {
	m, err := st.GetMeta(ctx)
	if err != nil {
		return err
	}
	// The key of the secrets' digests is not for output: with it, a digest
	// in a record would let a weak secret be guessed.
	m.DigestKey = ""
	switch output {
	case "json", "yaml":
		return writeAs(streams.Out, m, output)
	case "table":
		if m.Source == "" {
			fmt.Fprintln(streams.Out, "No source recorded yet: reconciler run or apply records it.")
			return nil
		}
		printSourceSummary(streams.Out, m)
		tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tTYPE\tREASON\tREVISION\tMESSAGE")
		for _, e := range m.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Type, e.Reason, orDash(shortRevision(e.Revision)), e.Message)
		}
		return tw.Flush()
	}
	return errors.New("--output must be table, yaml or json")
}

// writeAs writes v as JSON or YAML.
func writeAs(w io.Writer, v any, format string) error {
	b := render.MarshalJSON(v)
	if format == "yaml" {
		var err error
		if b, err = yaml.Marshal(v); err != nil {
			return err
		}
	}
	_, err := w.Write(b)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
