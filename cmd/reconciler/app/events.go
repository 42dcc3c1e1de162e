package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkmesos/reconciler/reconcile"
)

func newEventsCommand(streams Streams) *cobra.Command {
	var server, output string
	var follow bool
	var since int64
	cmd := &cobra.Command{
		Use:   "events [NAME]",
		Short: "Print the events of a running reconciler (every object's, or NAME's)",
		Long: `events reads the event stream of a running "reconciler run" (--server, its
--listen address: GET /events, Server-Sent Events): every event the store
gains while it leads — submissions, ends with their failure class, kills,
deadlines, blocked and held objects, new revisions, leadership — each with
an id. Without --follow it prints the events the replica keeps and ends;
with --follow it keeps printing, and reconnects after a dropped connection
from the last id seen (Last-Event-ID), so that none is missed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server = firstOf(server, os.Getenv("RECONCILER_SERVER"), configOf(cmd.Context()).Server)
			if server == "" {
				return invalid(errors.New("--server is required: the --listen address of reconciler run"))
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runEvents(cmd.Context(), streams, server, name, since, follow, output)
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "the --listen address of a running reconciler run, such as 127.0.0.1:8080 ($RECONCILER_SERVER)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	cmd.Flags().Int64Var(&since, "since", 0, "only events after this id")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, or json (one event per line)")
	cmd.ValidArgsFunction = completeNames()
	return cmd
}

func runEvents(ctx context.Context, streams Streams, server, name string, since int64, follow bool, output string) error {
	if output != "text" && output != "json" {
		return invalid(errors.New("--output must be text or json"))
	}
	last := since
	failures := 0
	for {
		err := readEvents(ctx, streams.Out, server, name, &last, follow, output)
		if err == nil {
			failures = 0 // it was up: a new run of reconnects
		}
		if !follow || ctx.Err() != nil {
			if err != nil {
				return failure(err)
			}
			return nil
		}
		// The stream dropped: come back from the last id seen.
		failures++
		if failures > 30 {
			return failure(fmt.Errorf("the event stream of %s: %w", server, err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(time.Duration(failures)*200*time.Millisecond, 2*time.Second)):
		}
	}
}

// readEvents reads one connection's events, printing them and keeping the
// last id.
func readEvents(ctx context.Context, w io.Writer, server, name string, last *int64, follow bool, output string) error {
	q := url.Values{"since": {strconv.FormatInt(*last, 10)}}
	if name != "" {
		q.Set("name", name)
	}
	if !follow {
		q.Set("once", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+strings.TrimPrefix(server, "http://")+"/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Last-Event-ID", strconv.FormatInt(*last, 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the reconciler at --server %s: %w", server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the reconciler at %s answered %s", server, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := strings.TrimPrefix(line, "data: ")
			if event == "gap" {
				fmt.Fprintf(w, "# some events after %d are no longer kept by the reconciler\n", *last)
				continue
			}
			var e reconcile.StreamEvent
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				continue
			}
			*last = e.ID
			if output == "json" {
				fmt.Fprintln(w, data)
			} else {
				fmt.Fprintf(w, "%d  %s  %s/%s  %s  %s  %s\n", e.ID, e.Time.Local().Format(time.DateTime), e.Kind, e.Name, e.Type, e.Reason, e.Message)
			}
		}
	}
	return sc.Err()
}
