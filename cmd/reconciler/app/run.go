package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/notify"
	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/source"
	gitsource "github.com/sparkmesos/reconciler/source/git"
	"github.com/sparkmesos/reconciler/store"
	"github.com/sparkmesos/reconciler/web"
)

// watchedMaster is the master, read from the event stream's view; its
// roles' weights and quotas, which the stream does not carry, from a
// cache read again every --resync and after each change.
type watchedMaster struct {
	*mesos.RoleCache
	w *mesos.Watcher
}

// Snapshot is the view (no call) while the stream is live, else GET_STATE.
func (m watchedMaster) Snapshot(ctx context.Context) (*mesos.Snapshot, error) {
	return m.w.Snapshot(ctx)
}

// registerWatchMetrics exports what the current term's watcher did.
func registerWatchMetrics(reg prometheus.Registerer, w *atomic.Pointer[mesos.Watcher]) {
	stat := func(f func(mesos.WatchStats) float64) func() float64 {
		return func() float64 {
			if x := w.Load(); x != nil {
				return f(x.Stats())
			}
			return 0
		}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "reconciler_mesos_stream_current", Help: "1 while passes read the master's event stream's view (0: they read GET_STATE)."},
			stat(func(s mesos.WatchStats) float64 {
				if s.Current {
					return 1
				}
				return 0
			})),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "reconciler_mesos_stream_events_total", Help: "Events of the master's event stream applied to the view (this leadership term)."},
			stat(func(s mesos.WatchStats) float64 { return float64(s.Events) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "reconciler_mesos_stream_subscriptions_total", Help: "Subscriptions to the master's event stream (this leadership term)."},
			stat(func(s mesos.WatchStats) float64 { return float64(s.Subscriptions) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "reconciler_mesos_stream_drifts_total", Help: "Consistency checks that found the view differing from GET_STATE."},
			stat(func(s mesos.WatchStats) float64 { return float64(s.Drifts) })),
	)
}

// withHandler adds a handler to a pattern map, making the map if needed.
func withHandler(m map[string]http.Handler, pattern string, h http.Handler) map[string]http.Handler {
	if m == nil {
		m = map[string]http.Handler{}
	}
	m[pattern] = h
	return m
}

type runOptions struct {
	cluster  clusterOptions
	git      gitOptions
	gitPoll  time.Duration
	hookFile string
	dir      string
	listen   string
	// controlListen serves the control endpoints apart; tokenFile holds
	// their bearer token.
	controlListen, tokenFile string
	resync                   time.Duration
	prune                    bool
	force                    bool
	inDoubt                  time.Duration
	logFormat                string
	framework                frameworkOptions
	// observe is events (the master's event stream, GET_STATE only as a
	// periodic check and a fallback) or poll (GET_STATE every pass);
	// checkEvery is the period of the events' consistency check.
	observe    string
	checkEvery time.Duration
}

// frameworkOptions configure the Mesos framework that keeps the shuffle
// services up.
type frameworkOptions struct {
	name            string
	role            string
	failoverTimeout time.Duration
	refuse          time.Duration
	backoff         time.Duration
}

func newRunCommand(streams Streams) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run --dir PATH | run --git URL [--rev REV] [--git-path DIR]",
		Short: "Keep the cluster matching a directory or a Git repository, as a service",
		Long: `run is the control loop as a long-running service. It follows a directory
(--dir: watched, changes debounced) or a Git repository (--git: a branch, tag
or commit, polled every --git-poll and synced at once on a signed webhook),
reconciles at once on a change and every --resync anyway, and when a
restart's backoff ends. Only the leader acts: with a bolt store the file lock
makes the one process the leader; with a ZooKeeper store (zk://...) replicas
elect one, and a replica stops acting the moment it loses leadership.

A file that fails to load is logged with file:line:col; what the store says
came from it keeps running unchanged. With --git, a sync that fails (the
remote unreachable, the branch removed, --git-path gone at a revision) keeps
the last good revision in force; "reconciler status" shows the revision
attempted and the one applied, the problems and the sync error. A force-push
is followed like any commit: pruning still needs --prune, and --force beyond
half of what the reconciler owns.

It reads the cluster from the master's operator event stream (--observe
events, the default): a steady pass asks the master nothing, and the
stream's changes wake a pass; a full GET_STATE is the fallback while the
stream is down and a check every --consistency-check. With MesosRoles, the
roles' weights and quotas (the stream does not carry them) are read every
--resync and after each change the reconciler makes. --observe poll reads
GET_STATE, and the roles, every pass. After each pass it decides what the
Notifiers send, and delivers it from an outbox in the store.

It serves on --listen: / (a read-only status page), /events (the event
stream, SSE), /metrics (Prometheus), /healthz (the process is up),
/readyz (it leads and its last pass succeeded recently), and with --git and
--git-webhook-secret-file, POST /hooks/git: a push webhook signed with that
secret the way GitHub signs (X-Hub-Signature-256, HMAC-SHA256 of the body)
syncs at once; anything else is refused. Point webhooks at the replica that
is ready (/readyz): only the leader acts on what it syncs.

It runs the Go garbage collector at GOGC=25 unless GOGC or GOMEMLIMIT is set
(less memory for a little more CPU: see the README).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.git.checkFlags(cmd); err != nil {
				return err
			}
			if (o.dir == "") == (o.git.url == "") {
				return errors.New("give one of --dir PATH or --git URL")
			}
			o.cluster.resolve(cmd.Context())
			return runLoop(cmd.Context(), streams, o)
		},
	}
	o.cluster.register(cmd)
	o.git.register(cmd)
	cmd.Flags().DurationVar(&o.gitPoll, "git-poll", 30*time.Second, "with --git: how often to ask the repository for new commits (jittered by 10%)")
	cmd.Flags().StringVar(&o.hookFile, "git-webhook-secret-file", "", "with --git: file holding the shared secret of POST /hooks/git (without it, webhooks are refused)")
	cmd.Flags().StringVar(&o.dir, "dir", "", "directory of manifests to follow")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8080", "address of /metrics, /healthz, /readyz (and of the control endpoints, without --control-listen)")
	cmd.Flags().StringVar(&o.controlListen, "control-listen", "", "a separate address for the control endpoints (run-now, rerun, delete), so that --listen can be opened to a scraper")
	cmd.Flags().StringVar(&o.tokenFile, "api-token-file", "", "file holding the bearer token the control endpoints require; created with a random token if missing ($"+tokenEnv+"; default: api-token beside the default store)")
	cmd.Flags().DurationVar(&o.resync, "resync", 30*time.Second, "reconcile at least this often")
	cmd.Flags().BoolVar(&o.prune, "prune", false, "remove applications no longer in the manifests (only what the reconciler owns)")
	cmd.Flags().BoolVar(&o.force, "force", false, "allow pruning more than half of what the reconciler owns")
	cmd.Flags().DurationVar(&o.inDoubt, "in-doubt", 2*time.Minute, "how long a submission whose result was not recorded (a crash) holds its application before it is submitted again; longer than drivers may wait invisibly in the dispatcher's queue")
	cmd.Flags().StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	cmd.Flags().StringVar(&o.observe, "observe", "events", "how passes read the cluster: events (the master's operator event stream keeps a view: a steady pass asks the master nothing) or poll (one GET_STATE per pass)")
	cmd.Flags().DurationVar(&o.checkEvery, "consistency-check", 10*time.Minute, "with --observe events: how often a full GET_STATE is compared with the view and replaces it")
	cmd.Flags().StringVar(&o.framework.name, "framework-name", "spark-reconciler", "name of the Mesos framework that runs the shuffle services")
	cmd.Flags().StringVar(&o.framework.role, "framework-role", "*", "Mesos role of that framework")
	cmd.Flags().DurationVar(&o.framework.failoverTimeout, "framework-failover-timeout", 7*24*time.Hour, "how long Mesos keeps the framework's tasks while no reconciler is connected")
	cmd.Flags().DurationVar(&o.framework.refuse, "framework-refuse", 30*time.Second, "decline filter for offers the framework does not use")
	cmd.Flags().DurationVar(&o.framework.backoff, "service-backoff", v1.DefaultBackoffInitial, "first relaunch delay of a failed service task (doubles up to 5 minutes)")
	return cmd
}

func runLoop(ctx context.Context, streams Streams, o runOptions) error {
	// A control loop holds the whole desired and observed state and is
	// idle between passes: it trades some CPU for memory. Adopting and
	// watching 10,000 running applications, its peak RSS measured 96-99
	// MB at 25, 105-110 at 50 and about 140 at Go's 100; adoption took
	// 3.5-3.7 s and 2.6-3.0 CPU seconds at 25, 3.3-3.5 s and 2.4 at 50.
	// At 100,000: 723-729 MB and 35-37 CPU seconds at 25, 840-854 MB and
	// 30 at 50. GOGC or GOMEMLIMIT set by the operator win.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(25)
	}
	var handler slog.Handler
	switch o.logFormat {
	case "json":
		handler = slog.NewJSONHandler(streams.Err, nil)
	case "text":
		handler = slog.NewTextHandler(streams.Err, nil)
	default:
		return errors.New("--log-format must be text or json")
	}
	log := slog.New(handler)
	if o.observe != "events" && o.observe != "poll" {
		return invalid(errors.New("--observe must be events or poll"))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := reconcile.NewMetrics(reg)

	mc, err := o.cluster.mesosClient()
	if err != nil {
		return err
	}
	pool := &reconcile.DispatcherPool{}
	var leading atomic.Bool
	keeper := &reconcile.ServiceKeeper{BackoffBase: o.framework.backoff, Lookup: lookupSecret}
	var startFramework func()
	// File changes, a new Git revision and requests (rerun, delete) wake
	// the loop through one coalescing channel.
	trigger := make(chan struct{}, 1)
	kick := func() {
		select {
		case trigger <- struct{}{}:
		default:
		}
	}
	keeper.Failed = kick // plan the relaunch at once
	// The master's events wake a pass, coalesced: a burst of task updates
	// makes one pass, not one each.
	var kickPending atomic.Bool
	eventKick := func() {
		if kickPending.CompareAndSwap(false, true) {
			time.AfterFunc(20*time.Millisecond, func() { kickPending.Store(false); kick() })
		}
	}
	var watcher atomic.Pointer[mesos.Watcher]
	registerWatchMetrics(reg, &watcher)
	cache := &reconcile.DesiredCache{Log: log, Loaded: func(d *reconcile.Desired) { keeper.SetDesired(d.Services, d.BrokenFiles, o.prune) }}
	cache.Changed()
	read, hooks, err := o.follow(ctx, log, metrics, func() { cache.Changed(); kick() })
	if err != nil {
		return err
	}
	cache.Read = read
	load := func() (*reconcile.Desired, error) {
		d, err := cache.Load()
		if err == nil && len(d.Services) > 0 && startFramework != nil {
			startFramework()
		}
		return d, err
	}
	var current atomic.Pointer[store.Store]
	requests := func(verb, name string, body runNowBody) (string, error) {
		stp := current.Load()
		if stp == nil || !leading.Load() {
			return "", errors.New("this replica does not lead: ask the leader")
		}
		msg, err := applyRequest(ctx, *stp, pool, verb, name, body)
		if err == nil {
			kick()
		}
		return msg, err
	}

	var loop atomic.Pointer[reconcile.Loop]
	tokenFile := tokenPath(o.tokenFile)
	token, err := ensureToken(tokenFile)
	if err != nil {
		return invalid(fmt.Errorf("--api-token-file %s: %w", tokenFile, err))
	}
	// Every event the store gains while this replica leads, as SSE at
	// /events (read-only, beside /metrics).
	broker := reconcile.NewBroker(time.Now().UnixMicro())
	// The status page, read-only, on --listen beside /metrics.
	page := &web.Server{Owner: o.cluster.owner, Events: broker,
		Store: func() store.Store {
			if stp := current.Load(); stp != nil && leading.Load() {
				return *stp
			}
			return nil
		},
		Last: func() *reconcile.LastPass {
			if l := loop.Load(); l != nil {
				return l.Last()
			}
			return nil
		},
		Records: func(ctx context.Context, st store.Store) ([]*store.Record, error) {
			l := loop.Load()
			if l == nil {
				return st.List(ctx, "")
			}
			return pageRecords(ctx, st, l.Reconciler)
		},
		Logs: func(ctx context.Context, _ *store.Record, run *store.Submission) (string, error) {
			state := mc.Snapshot
			if w := watcher.Load(); w != nil && o.observe == "events" {
				state = w.Snapshot // the view: no GET_STATE per click
			}
			data, _, _, err := readRunLog(ctx, mc, state, run, "stderr", 1<<20)
			return string(data), err
		}}
	pageHandler := page.Handler()
	for _, pattern := range web.Patterns {
		hooks = withHandler(hooks, pattern, pageHandler)
	}
	srvs, addrs, err := serveHTTP(httpOptions{Listen: o.listen, ControlListen: o.controlListen, Token: token,
		Shared: map[string]http.Handler{"GET /events": broker}}, reg, hooks, requests, func() (bool, string) {
		l := loop.Load()
		switch {
		case !leading.Load():
			return false, "not the leader"
		case (l == nil || l.LastSuccess().IsZero()) && cache.SourceError() != "":
			return false, "nothing to act on: " + cache.SourceError()
		case l == nil || l.LastSuccess().IsZero():
			return false, "no pass completed yet"
		case time.Since(l.LastSuccess()) > 3*o.resync:
			return false, fmt.Sprintf("last successful pass %s ago", time.Since(l.LastSuccess()).Round(time.Second))
		case cache.SourceError() != "":
			return true, "ok; the last good desired state is in force: " + cache.SourceError()
		}
		return true, "ok"
	})
	if err != nil {
		return failure(err) // --listen: the address is taken or cannot be bound
	}
	for _, srv := range srvs {
		defer srv.Close()
	}
	control := addrs[0]
	if len(addrs) > 1 {
		control = addrs[1]
	}
	log.Info("serving", "addr", addrs[0], "control", control, "token-file", tokenFile, "source", firstOf(o.dir, o.git.url), "master", o.cluster.master, "store", o.cluster.store)

	for {
		raw, leadership, err := openWriter(ctx, o.cluster.store)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return failure(err)
		}
		var st store.Store = reconcile.PublishingStore{Store: raw, Broker: broker}
		broker.Publish(reconcile.StreamEvent{Time: time.Now(), Kind: "Reconciler", Name: o.cluster.owner, Type: "Normal", Reason: "Leading",
			Message: "this replica leads and acts on the cluster"})
		log.Info("leading: acting on the cluster")
		current.Store(&st)
		leading.Store(true)
		metrics.Leader.Set(1)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-leadership.Lost():
				log.Warn("leadership lost: stopping at once")
				broker.Publish(reconcile.StreamEvent{Time: time.Now(), Kind: "Reconciler", Name: o.cluster.owner, Type: "Warning", Reason: "LeadershipLost",
					Message: "this replica lost leadership and stopped acting"})
				cancel()
			case <-lctx.Done():
			}
		}()
		var once sync.Once
		startFramework = func() {
			once.Do(func() {
				go reconcile.RunFramework(lctx, log, mc, st, keeper, reconcile.FrameworkConfig{Name: o.framework.name, Role: o.framework.role,
					FailoverTimeout: o.framework.failoverTimeout, RefuseSeconds: o.framework.refuse}, o.cluster.owner)
			})
		}
		var master reconcile.Master = mc
		if o.observe == "events" {
			w := &mesos.Watcher{Client: mc, Log: log, Changed: eventKick, CheckEvery: o.checkEvery}
			watcher.Store(w)
			w.Start(lctx)
			master = watchedMaster{RoleCache: &mesos.RoleCache{Client: mc, Watcher: w, MaxAge: o.resync}, w: w}
		}
		l := &reconcile.Loop{
			Load: load,
			Reconciler: &reconcile.Reconciler{Master: master, Dispatchers: pool, Store: st, Owner: o.cluster.owner, Lookup: lookupSecret, Log: log, Files: mc,
				Options: reconcile.Options{Prune: o.prune, Force: o.force, InDoubt: o.inDoubt, ServiceBackoff: o.framework.backoff,
					StuckAfter: o.cluster.stuckAfter},
				Observed: func(ctx context.Context, _ *reconcile.Desired, obs *reconcile.Observed) {
					keeper.RestoreFailures(obs.ServiceRecords)
					keeper.SetAgents(obs.Agents)
					keeper.SetObserved(obs.ServiceTasks)
					if err := reconcile.SyncServiceStatus(ctx, st, keeper, obs, time.Now()); err != nil {
						log.Warn("could not record the services' status", "err", err)
					}
				},
				Planned: keeper.SetPlan,
			},
			Resync:  o.resync,
			Trigger: trigger,
			Idle:    newIdleCollector().afterPass,
			Metrics: metrics,
			Now:     time.Now,
			Log:     log,
		}
		// Notifications: decided after each pass, delivered from the
		// store's outboxes while this replica leads.
		l.Notifications = &reconcile.Notifications{Store: st, Lookup: notify.Lookup(lookupSecret), Log: log, Delivered: metrics.CountNotification,
			Prune: o.prune, Force: o.force}
		go l.Notifications.Run(lctx)
		loop.Store(l)
		_ = l.Run(lctx)
		cancel()
		startFramework = nil
		leading.Store(false)
		metrics.Leader.Set(0)
		_ = leadership.Resign()
		st.Close()
		if ctx.Err() != nil {
			log.Info("stopped")
			return nil
		}
	}
}

// follow starts following the run's source: a watched directory or a
// polled Git repository. read returns the desired state of its latest
// content; changed is called when that content changes. hooks are the HTTP
// handlers the source serves (the Git webhook).
func (o runOptions) follow(ctx context.Context, log *slog.Logger, metrics *reconcile.Metrics, changed func()) (read func() (*reconcile.Desired, v1.Problems, error), hooks map[string]http.Handler, err error) {
	if !o.git.enabled() {
		changes, err := source.Watch(ctx, []string{o.dir}, 100*time.Millisecond)
		if err != nil {
			return nil, nil, fmt.Errorf("watch %s: %w", o.dir, err)
		}
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-changes:
					changed()
				}
			}
		}()
		where := o.dir
		if abs, err := filepath.Abs(o.dir); err == nil {
			where = abs
		}
		return func() (*reconcile.Desired, v1.Problems, error) {
			files, readProblems, err := source.ReadSource([]string{o.dir}, nil)
			if err != nil {
				return nil, nil, err
			}
			d, problems, err := desiredFrom(files, readProblems, o.cluster.loadOpts())
			if err != nil {
				return nil, nil, err
			}
			d.AbsoluteOrigins()
			d.Source = &reconcile.Source{Location: where, Problems: problemStrings(problems)}
			return d, problems, nil
		}, nil, nil
	}
	repo, err := o.git.open()
	if err != nil {
		return nil, nil, err
	}
	var secret []byte
	if o.hookFile != "" {
		b, err := os.ReadFile(o.hookFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--git-webhook-secret-file: %w", err)
		}
		if secret = []byte(strings.TrimRight(string(b), "\r\n")); len(secret) == 0 {
			return nil, nil, errors.New("--git-webhook-secret-file is empty")
		}
	}
	f := &gitsource.Follower{Repo: repo, Interval: o.gitPoll, Log: log, OnChange: changed, OnSync: metrics.CountGitSync}
	go f.Run(ctx)
	hooks = map[string]http.Handler{"/hooks/git": f.WebhookHandler(secret, metrics.CountWebhook)}
	return func() (*reconcile.Desired, v1.Problems, error) {
		select {
		case <-f.Ready():
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		snap, syncErr := f.Current()
		if snap == nil {
			if syncErr == nil {
				return nil, nil, fmt.Errorf("%s: not synced yet", repo.URL())
			}
			return nil, nil, fmt.Errorf("nothing to follow yet: %w", syncErr)
		}
		return snapshotDesired(repo, snap, syncErr, o.cluster.loadOpts())
	}, hooks, nil
}

// pageRecords are the records the status page lists: the applications'
// as the loop's passes keep them (none read from the store: at 100,000
// applications a List for every refresh of an open page decoded them all)
// and the other kinds' from the store.
func pageRecords(ctx context.Context, st store.Store, r *reconcile.Reconciler) ([]*store.Record, error) {
	apps, ok := r.KeptRecords()
	if !ok {
		return st.List(ctx, "")
	}
	for _, kind := range v1.Kinds {
		if kind == v1.KindSparkApplication {
			continue
		}
		recs, err := st.List(ctx, kind)
		if err != nil {
			return nil, err
		}
		apps = append(apps, recs...)
	}
	store.SortRecords(apps)
	return apps, nil
}
