package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	// scheduleSeconds accepts schedules with a seconds field (tests only).
	scheduleSeconds bool
	// connectTimeout bounds each call to the Mesos master, finding the
	// leader included.
	connectTimeout time.Duration
	// stuckAfter is how long a submission waits queued, while an agent
	// has room for it, before its dispatcher is called stuck.
	stuckAfter time.Duration
}

// loadOpts are how manifests are loaded and rendered.
type loadOpts struct {
	owner           string
	scheduleSeconds bool
}

func (o *clusterOptions) loadOpts() loadOpts {
	return loadOpts{owner: o.owner, scheduleSeconds: o.scheduleSeconds}
}

func (o *clusterOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.master, "master", "", "Mesos master: mesos://host:5050 or mesos://zk://host:2181/mesos ($RECONCILER_MASTER; default mesos://127.0.0.1:5050)")
	f.StringVar(&o.store, "store", "", "the store: bolt:PATH or zk://hosts/path ($RECONCILER_STORE)")
	f.StringVar(&o.owner, "owner", "", "owner written into ownership labels; one per reconciler instance ($RECONCILER_OWNER; default "+render.DefaultOwner+")")
	f.StringVar(&o.mesosPrincipal, "mesos-principal", "", "principal for the master's HTTP authentication ($RECONCILER_MESOS_PRINCIPAL)")
	f.StringVar(&o.mesosSecretFile, "mesos-secret-file", "", "file holding the secret for --mesos-principal ($RECONCILER_MESOS_SECRET_FILE)")
	f.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "how long one call to the Mesos master may take, finding the leader included")
	f.DurationVar(&o.stuckAfter, "stuck-after", 5*time.Minute, "how long a submission may sit queued while an agent has room for it before its dispatcher is reported stuck")
	registerScheduleSeconds(cmd, &o.scheduleSeconds)
}

// registerScheduleSeconds adds the hidden --schedule-seconds: schedules
// with a seconds field, for tests that cannot wait minutes between runs.
func registerScheduleSeconds(cmd *cobra.Command, v *bool) {
	cmd.Flags().BoolVar(v, "schedule-seconds", false, "accept schedules with a seconds field (for tests)")
	_ = cmd.Flags().MarkHidden("schedule-seconds")
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// resolve applies the precedence: flags, then RECONCILER_* variables, then
// the config file's context, then the defaults.
func (o *clusterOptions) resolve(ctx context.Context) {
	c := configOf(ctx)
	o.master = firstOf(o.master, os.Getenv("RECONCILER_MASTER"), c.Master, "mesos://127.0.0.1:5050")
	o.store = resolveStore(o.store, c.Store)
	o.owner = firstOf(o.owner, os.Getenv("RECONCILER_OWNER"), c.Owner, render.DefaultOwner)
	o.mesosPrincipal = firstOf(o.mesosPrincipal, os.Getenv("RECONCILER_MESOS_PRINCIPAL"), c.MesosPrincipal)
	o.mesosSecretFile = firstOf(o.mesosSecretFile, os.Getenv("RECONCILER_MESOS_SECRET_FILE"), c.MesosSecretFile)
}

func (o *clusterOptions) mesosClient() (*mesos.Client, error) {
	opts := mesos.Options{Master: o.master, Principal: o.mesosPrincipal, Timeout: o.connectTimeout}
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
			return nil, nil, fmt.Errorf("store %s: %w", redactURL(spec), err)
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
func loadDesired(streams Streams, paths []string, lo loadOpts) (*reconcile.Desired, v1.Problems, error) {
	files, readProblems, err := source.ReadSource(paths, streams.In)
	if err != nil {
		// Not knowing what the source declares, nothing may be planned from
		// it: an absent object would be taken for a deleted one (exit 2).
		return nil, nil, err
	}
	d, problems, err := desiredFrom(files, readProblems, lo)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range problems.Errors() {
		fmt.Fprintln(streams.Err, p.Error())
	}
	d.AbsoluteOrigins()
	// apply records where its manifests came from and their problems, as
	// run does, so that status does not show an older run's.
	var locations []string
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil && p != "-" {
			p = abs
		}
		locations = append(locations, p)
	}
	d.Source = &reconcile.Source{Location: strings.Join(locations, ", "), Problems: problemStrings(problems)}
	return d, problems, nil
}

// load reads the manifests of the paths, or of the Git revision, and
// returns their problems too (already printed).
func (o *diffOptions) load(ctx context.Context, streams Streams, paths []string) (*reconcile.Desired, v1.Problems, error) {
	if o.git.enabled() {
		return loadGit(ctx, streams, o.git, o.cluster.loadOpts())
	}
	return loadDesired(streams, paths, o.cluster.loadOpts())
}

// reconciler wires a Reconciler to the cluster and store of the options.
func (o clusterOptions) reconciler(st store.Store, opts reconcile.Options, log *slog.Logger) (*reconcile.Reconciler, error) {
	mc, err := o.mesosClient()
	if err != nil {
		return nil, err
	}
	// One pool for observing and executing: it resolves managed dispatchers.
	return &reconcile.Reconciler{Master: mc, Dispatchers: &reconcile.DispatcherPool{}, Store: st, Owner: o.owner,
		Options: opts, Lookup: lookupSecret, Log: log, Files: mc}, nil
}
