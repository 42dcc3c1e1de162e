package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/store"
)

type requestOptions struct {
	cluster clusterOptions
	server  string
}

func newRerunCommand(streams Streams) *cobra.Command {
	return newRequestCommand(streams, "rerun", "Run an application once more, now",
		`rerun asks for one more run of an application: the next pass kills its running
driver, if any, and submits it again, whatever its restart policy.`)
}

func newDeleteCommand(streams Streams) *cobra.Command {
	return newRequestCommand(streams, "delete", "Kill an application's driver and forget it",
		`delete kills an application's driver (running or queued) and removes its record.
If its manifest still exists, the next apply or run submits it again: remove the
manifest first, or use apply --prune.`)
}

func newRequestCommand(streams Streams, verb, short, long string) *cobra.Command {
	var o requestOptions
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Long: long + `

A running "reconciler run" holds the store; ask it instead with --server (its
--listen address), which also reconciles at once. Without --server the store
is opened directly.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cluster.resolve()
			o.server = firstOf(o.server, os.Getenv("RECONCILER_SERVER"))
			return runRequest(cmd.Context(), streams, verb, args[0], o)
		},
	}
	o.cluster.register(cmd)
	cmd.Flags().StringVar(&o.server, "server", "", "address of a running reconciler run, such as 127.0.0.1:8080 ($RECONCILER_SERVER)")
	return cmd
}

func runRequest(ctx context.Context, streams Streams, verb, name string, o requestOptions) error {
	if o.server != "" {
		url := "http://" + strings.TrimPrefix(o.server, "http://") + "/" + verb + "/" + name
		resp, err := http.Post(url, "text/plain", nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %s", verb, name, strings.TrimSpace(string(b)))
		}
		fmt.Fprint(streams.Out, string(b))
		return nil
	}
	st, _, err := openWriter(ctx, o.cluster.store)
	if err != nil {
		return fmt.Errorf("%w (if a reconciler run holds the store, pass --server)", err)
	}
	defer st.Close()
	pool := &reconcile.DispatcherPool{}
	if verb == "delete" {
		// Where managed dispatchers run is known from the master's state;
		// without it, a driver of an external dispatcher can still be killed.
		if mc, err := o.cluster.mesosClient(); err == nil {
			_, _ = reconcile.Observe(ctx, mc, pool, st, o.cluster.owner)
		}
	}
	msg, err := applyRequest(ctx, st, pool, verb, name)
	if err != nil {
		return err
	}
	fmt.Fprintln(streams.Out, msg)
	return nil
}

// applyRequest carries out a rerun or delete on a store this process leads.
func applyRequest(ctx context.Context, st store.Store, pool reconcile.Dispatchers, verb, name string) (string, error) {
	switch verb {
	case "rerun":
		if err := reconcile.RequestRerun(ctx, st, name, time.Now()); err != nil {
			return "", err
		}
		return fmt.Sprintf("rerun of %s requested; the next pass submits it", name), nil
	case "delete":
		msg, err := reconcile.Delete(ctx, st, pool, name)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("deleted %s (%s)", name, msg), nil
	}
	return "", fmt.Errorf("unknown request %q", verb)
}
