package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/store"
)

type requestOptions struct {
	cluster   clusterOptions
	server    string
	tokenFile string
	// run-now only
	args  []string
	conf  []string
	force bool
}

// runNowBody is what POST /run-now/NAME takes.
type runNowBody struct {
	Args  []string          `json:"args,omitempty"`
	Conf  map[string]string `json:"conf,omitempty"`
	Force bool              `json:"force,omitempty"`
}

func (b runNowBody) overrides() *store.Overrides {
	if len(b.Args) == 0 && len(b.Conf) == 0 {
		return nil
	}
	return &store.Overrides{Args: b.Args, Conf: b.Conf}
}

func newRunNowCommand(streams Streams) *cobra.Command {
	cmd := newRequestCommand(streams, "run-now", "Run an application or a schedule once more, now",
		`run-now asks for one more run, now, without editing the manifests.

For a SparkApplication, the next pass kills its running driver, if any, and
submits it again, whatever its restart policy. For a ScheduledSparkApplication,
the next pass starts a run named NAME-mYYYYMMDDtHHMMSSz through the schedule's
concurrency policy: Forbid refuses it while a run is active (naming it) unless
--force; Replace kills the active run first.

--arg replaces the application's arguments for this run (repeat it for each
argument); --conf k=v sets a Spark property for this run. Both are recorded
with the run, so a property that looks like a secret is refused: put secrets
in the manifest. "rerun" is the same command.`)
	cmd.Aliases = []string{"rerun"}
	return cmd
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
			o.cluster.resolve(cmd.Context())
			o.server = firstOf(o.server, os.Getenv("RECONCILER_SERVER"), configOf(cmd.Context()).Server)
			return runRequest(cmd.Context(), streams, verb, args[0], o)
		},
	}
	if verb == "run-now" {
		cmd.ValidArgsFunction = completeNames(v1.KindSparkApplication, v1.KindScheduledSparkApplication)
	} else {
		cmd.ValidArgsFunction = completeNames(v1.KindSparkApplication)
	}
	o.cluster.register(cmd)
	cmd.Flags().StringVar(&o.server, "server", "", "address of a running reconciler run's control endpoints, such as 127.0.0.1:8080 ($RECONCILER_SERVER)")
	cmd.Flags().StringVar(&o.tokenFile, "api-token-file", "", "with --server: file holding its API token ($"+tokenEnv+"; default: api-token beside the default store)")
	if verb == "run-now" {
		cmd.Flags().StringArrayVar(&o.args, "arg", nil, "an argument of this run, replacing the spec's (repeat for each)")
		cmd.Flags().StringArrayVar(&o.conf, "conf", nil, "a Spark property of this run: key=value (repeatable)")
		cmd.Flags().BoolVar(&o.force, "force", false, "start a schedule's run even while concurrencyPolicy Forbid would refuse it")
	}
	return cmd
}

func (o requestOptions) body() (runNowBody, error) {
	b := runNowBody{Args: o.args, Force: o.force}
	for _, kv := range o.conf {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return b, invalid(fmt.Errorf("--conf %q: write key=value", kv))
		}
		if b.Conf == nil {
			b.Conf = map[string]string{}
		}
		b.Conf[k] = v
	}
	return b, nil
}

func runRequest(ctx context.Context, streams Streams, verb, name string, o requestOptions) error {
	body, err := o.body()
	if err != nil {
		return err
	}
	if err := reconcile.CheckOverrides(body.overrides()); err != nil {
		return invalid(err)
	}
	if o.server != "" {
		url := "http://" + strings.TrimPrefix(o.server, "http://") + "/" + verb + "/" + name
		path := tokenPath(o.tokenFile)
		token, err := readToken(path)
		if err != nil {
			return invalid(fmt.Errorf("the API token of --server: %w (pass --api-token-file, the file reconciler run serves with)", err))
		}
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
		if err != nil {
			return invalid(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return failure(fmt.Errorf("cannot reach the reconciler at --server %s: %w", o.server, err))
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return &codedError{code: codeOfStatus(resp.StatusCode), err: errors.New(strings.TrimSpace(string(out)))}
		}
		fmt.Fprint(streams.Out, string(out))
		return nil
	}
	st, _, err := openWriter(ctx, o.cluster.store)
	if err != nil {
		return failure(fmt.Errorf("%w (if a reconciler run holds the store, pass --server)", err))
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
	msg, err := applyRequest(ctx, st, pool, verb, name, body)
	if err != nil {
		return &codedError{code: requestCode(err), err: err}
	}
	fmt.Fprintln(streams.Out, msg)
	return nil
}

// requestCode is the exit code of a failed run-now or delete.
func requestCode(err error) int {
	switch {
	case errors.Is(err, reconcile.ErrRefused):
		return ExitChanges
	case errors.Is(err, reconcile.ErrUnknownApp):
		return ExitInvalid
	}
	return ExitFailure
}

// The HTTP status of a request's answer, and back: the server answers with
// the status of the exit code the CLI would exit with.
func statusOfCode(code int) int {
	switch code {
	case ExitChanges:
		return http.StatusConflict
	case ExitInvalid:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func codeOfStatus(status int) int {
	switch {
	case status == http.StatusConflict:
		return ExitChanges
	case status >= 400 && status < 500:
		return ExitInvalid
	}
	return ExitFailure
}

// applyRequest carries out a rerun or delete on a store this process leads.
func applyRequest(ctx context.Context, st store.Store, pool reconcile.Dispatchers, verb, name string, body runNowBody) (string, error) {
	switch verb {
	case "run-now", "rerun":
		return reconcile.RequestRunNow(ctx, st, name, body.overrides(), body.Force, time.Now())
	case "delete":
		msg, err := reconcile.Delete(ctx, st, pool, name)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("deleted %s (%s)", name, msg), nil
	}
	return "", fmt.Errorf("unknown request %q", verb)
}
