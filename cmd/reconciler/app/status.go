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
	"sigs.k8s.io/yaml"

	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

type statusOptions struct {
	store  string
	output string
	kind   string
}

func newStatusCommand(streams Streams) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show what the reconciler recorded about its objects",
		Long: `status reads the reconciler's store (it works while "reconciler run" runs) and
prints each object's phase, last applied spec hash and revision, latest
submission and message; with a NAME, the object's full record including its
intent and recent events.

The store is --store, else $RECONCILER_STORE, else
bolt:$XDG_STATE_HOME/sparkmesos-reconciler/state.db (bolt:.reconciler/state.db
without XDG_STATE_HOME). ZooKeeper stores are zk://host:2181,host2:2181/path;
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
	return cmd
}

func runStatus(ctx context.Context, streams Streams, name string, o statusOptions) error {
	st, err := openStoreReadOnly(ctx, resolveStore(o.store))
	if err != nil {
		return err
	}
	defer st.Close()
	recs, err := st.List(ctx, o.kind)
	if err != nil {
		return err
	}
	if name != "" {
		var match []*store.Record
		for _, r := range recs {
			if r.Key.Name == name {
				match = append(match, r)
			}
		}
		if len(match) == 0 {
			return fmt.Errorf("no object named %q in the store: %w", name, store.ErrNotFound)
		}
		recs = match
	}
	switch o.output {
	case "json":
		_, err = streams.Out.Write(render.MarshalJSON(recs))
		return err
	case "yaml":
		b, err := yaml.Marshal(recs)
		if err != nil {
			return err
		}
		_, err = streams.Out.Write(b)
		return err
	case "table":
		if name != "" {
			b, err := yaml.Marshal(recs)
			if err != nil {
				return err
			}
			_, err = streams.Out.Write(b)
			return err
		}
		printStatusTable(streams.Out, recs, time.Now())
		return nil
	}
	return errors.New("--output must be table, yaml or json")
}

func printStatusTable(w io.Writer, recs []*store.Record, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tPHASE\tSPEC\tSUBMISSION\tAGE\tMESSAGE")
	for _, r := range recs {
		sub, age := "-", "-"
		if n := len(r.Submissions); n > 0 {
			last := r.Submissions[n-1]
			sub = last.ID
			age = shortDuration(now.Sub(last.SubmittedAt))
		}
		hash := r.SpecHash
		if len(hash) > 8 {
			hash = hash[:8]
		}
		msg := strings.ReplaceAll(r.Status.Message, "\n", " ")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Key.Kind, r.Key.Name, orDash(r.Status.Phase), orDash(hash), sub, age, msg)
	}
	tw.Flush()
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
