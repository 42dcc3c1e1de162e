package reconcile

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

// Metrics are the loop's Prometheus metrics. Application metrics use
// spark-operator's names where they mean the same thing.
type Metrics struct {
	Passes       prometheus.Counter
	PassErrors   prometheus.Counter
	PassDuration prometheus.Histogram
	// StepDuration is the duration of a pass's steps (observe, plan,
	// execute), of the passes that observed the cluster.
	StepDuration  *prometheus.HistogramVec
	Actions       *prometheus.CounterVec
	AppCount      prometheus.Gauge
	RunningCount  prometheus.Gauge
	SubmitCount   prometheus.Counter
	SuccessCount  prometheus.Counter
	FailureCount  *prometheus.CounterVec // by class
	SubmitFailure prometheus.Counter
	// StartLatency is from submission to the driver running; SuccessTime
	// and FailureTime a run's time from running to its end.
	StartLatency prometheus.Histogram
	SuccessTime  prometheus.Histogram
	FailureTime  prometheus.Histogram
	// DispatcherStuck is, per dispatcher found stuck, how many of our
	// submissions wait in its queue.
	DispatcherStuck *prometheus.GaugeVec
	Leader          prometheus.Gauge
	GitSyncs        *prometheus.CounterVec
	GitSynced       prometheus.Gauge
	Webhooks        *prometheus.CounterVec
	// ScheduleRuns counts schedules' runs by outcome (started, succeeded,
	// failed, skipped); ScheduleLag is the time between a run's scheduled
	// time and its start.
	ScheduleRuns *prometheus.CounterVec
	ScheduleLag  *prometheus.HistogramVec
	// Notifications counts delivery attempts by notifier, event and
	// result (delivered, failed).
	Notifications *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Passes:       prometheus.NewCounter(prometheus.CounterOpts{Name: "reconciler_passes_total", Help: "Reconcile passes run."}),
		PassErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "reconciler_pass_errors_total", Help: "Passes that could not observe the cluster."}),
		PassDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "reconciler_pass_duration_seconds", Help: "Duration of a pass: observe, plan, execute.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		StepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reconciler_pass_step_duration_seconds",
			Help: "Duration of a pass's steps, by step (observe, plan, execute).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, []string{"step"}),
		Actions:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconciler_actions_total", Help: "Actions carried out, by type and result."}, []string{"action", "result"}),
		AppCount:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "spark_application_count", Help: "SparkApplications in the manifests."}),
		RunningCount: prometheus.NewGauge(prometheus.GaugeOpts{Name: "spark_application_running_count", Help: "SparkApplications whose driver runs."}),
		SubmitCount:  prometheus.NewCounter(prometheus.CounterOpts{Name: "spark_application_submit_count", Help: "Driver submissions accepted by the dispatcher."}),
		SuccessCount: prometheus.NewCounter(prometheus.CounterOpts{Name: "spark_application_success_count", Help: "Runs seen finishing successfully."}),
		FailureCount: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spark_application_failure_count",
			Help: "Runs seen ending in failure, by class (application, infrastructure, never-launched, deadline, unknown)."}, []string{"class"}),
		SubmitFailure: prometheus.NewCounter(prometheus.CounterOpts{Name: "spark_application_failure_submission_count", Help: "Submissions the dispatcher refused."}),
		StartLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "spark_application_start_latency_seconds",
			Help: "Time from submission to the driver running.", Buckets: prometheus.ExponentialBuckets(0.5, 2, 14)}),
		SuccessTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "spark_application_success_execution_time_seconds",
			Help: "Run time of successful runs, from the driver running to its end.", Buckets: prometheus.ExponentialBuckets(1, 2, 18)}),
		FailureTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "spark_application_failure_execution_time_seconds",
			Help: "Run time of failed runs, from the driver running to its end.", Buckets: prometheus.ExponentialBuckets(1, 2, 18)}),
		DispatcherStuck: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "reconciler_dispatcher_stuck",
			Help: "Submissions queued at a dispatcher that stopped launching (queued past --stuck-after while an agent has room), by dispatcher; absent when none is stuck."}, []string{"dispatcher"}),
		Leader:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "reconciler_is_leader", Help: "1 while this replica leads and acts."}),
		GitSyncs:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconciler_git_syncs_total", Help: "Syncs of the Git repository, by result."}, []string{"result"}),
		GitSynced: prometheus.NewGauge(prometheus.GaugeOpts{Name: "reconciler_git_last_sync_timestamp_seconds", Help: "When the Git repository was last synced without error."}),
		Webhooks:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconciler_git_webhooks_total", Help: "Git webhooks received, by result (accepted, refused)."}, []string{"result"}),
		ScheduleRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconciler_schedule_runs_total",
			Help: "Runs of ScheduledSparkApplications, by schedule and outcome (started, succeeded, failed, skipped)."}, []string{"schedule", "outcome"}),
		ScheduleLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "reconciler_schedule_start_lag_seconds",
			Help: "Time from a run's scheduled time to its start, by schedule.", Buckets: prometheus.ExponentialBuckets(0.25, 2, 14)}, []string{"schedule"}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reconciler_notifications_total",
			Help: "Attempts to deliver notifications, by notifier, event and result (delivered, failed)."}, []string{"notifier", "event", "result"}),
	}
	reg.MustRegister(m.Passes, m.PassErrors, m.PassDuration, m.StepDuration, m.Actions, m.AppCount, m.RunningCount,
		m.SubmitCount, m.SuccessCount, m.FailureCount, m.SubmitFailure, m.StartLatency, m.SuccessTime, m.FailureTime, m.DispatcherStuck, m.Leader, m.GitSyncs, m.GitSynced, m.Webhooks,
		m.ScheduleRuns, m.ScheduleLag, m.Notifications)
	return m
}

// CountNotification counts an attempt to deliver a notification.
func (m *Metrics) CountNotification(notifier, event string, err error) {
	result := "delivered"
	if err != nil {
		result = "failed"
	}
	m.Notifications.WithLabelValues(notifier, event, result).Inc()
}

// CountGitSync counts a sync of the Git repository.
func (m *Metrics) CountGitSync(err error) {
	if err != nil {
		m.GitSyncs.WithLabelValues("error").Inc()
		return
	}
	m.GitSyncs.WithLabelValues("ok").Inc()
	m.GitSynced.SetToCurrentTime()
}

// CountWebhook counts a webhook, accepted or refused.
func (m *Metrics) CountWebhook(accepted bool) {
	if accepted {
		m.Webhooks.WithLabelValues("accepted").Inc()
	} else {
		m.Webhooks.WithLabelValues("refused").Inc()
	}
}

// Loop runs passes: at start, when triggered (file changes), every Resync,
// and when a plan asks to be requeued (a restart's backoff).
type Loop struct {
	// Load returns the desired state; errors in files are reported by it
	// and make those files BrokenFiles, never a reason to stop.
	Load       func() (*Desired, error)
	Reconciler *Reconciler
	Resync     time.Duration
	Trigger    <-chan struct{}
	Metrics    *Metrics
	Now        func() time.Time
	Log        *slog.Logger
	// Notifications, when set, decide after each pass what the Notifiers
	// send (Run delivers it).
	Notifications *Notifications
	// Idle, when set, is called after a pass when the next one is not due
	// at once (no trigger waiting): run collects garbage then.
	Idle func()

	lastOK atomic.Int64 // unix nanos of the last successful pass
	last   atomic.Pointer[LastPass]
}

// LastPass is what the status page shows of the latest pass that
// observed the cluster: its plan's entries that do something (or wait),
// the first MaxLastEntries of them, and how many objects were as desired.
// It keeps nothing else of the pass: a pass's observation is garbage once
// it is done.
type LastPass struct {
	At      time.Time
	Entries []Entry
	// More counts the entries beyond MaxLastEntries (kept: counted only).
	More   int
	Steady int
}

// MaxLastEntries is how many entries of a pass the status page lists: a
// pass adopting 100,000 drivers kept 100,000 (25 MB) for a page nobody
// reads to the end; diff lists them all.
const MaxLastEntries = 500

// lastPassOf keeps what the page needs of a plan.
func lastPassOf(at time.Time, p Plan) *LastPass {
	last := &LastPass{At: at}
	for e := range p.Entries() {
		switch {
		case !e.Notable():
			last.Steady++
		case len(last.Entries) == MaxLastEntries:
			last.More++
		default:
			e.Changes = nil // the properties a resubmission changes: diff shows them
			last.Entries = append(last.Entries, e)
		}
	}
	return last
}

// Last is the latest pass that observed the cluster (nil before one).
func (l *Loop) Last() *LastPass { return l.last.Load() }

// LastSuccess is when the last pass completed without error.
func (l *Loop) LastSuccess() time.Time {
	n := l.lastOK.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Run runs passes until ctx ends. A failed pass is logged and retried at
// the next trigger or resync; it never stops the loop.
func (l *Loop) Run(ctx context.Context) error {
	if l.Resync == 0 {
		l.Resync = 30 * time.Second
	}
	if l.Metrics != nil && l.Reconciler.OnEnded == nil {
		l.Reconciler.OnEnded = l.Metrics.countEnded
	}
	for {
		requeue := l.Pass(ctx)
		wait := l.Resync
		if requeue > 0 && requeue < wait {
			wait = requeue
		}
		timer := time.NewTimer(wait) // started first: idle time is part of the wait
		if l.Idle != nil && len(l.Trigger) == 0 {
			l.Idle()
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-l.Trigger:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// Pass runs one observe-plan-execute pass and returns when the plan wants
// the next one (0: at the next trigger or resync).
func (l *Loop) Pass(ctx context.Context) time.Duration {
	start := l.Now()
	if l.Metrics != nil {
		l.Metrics.Passes.Inc()
		defer func() { l.Metrics.PassDuration.Observe(l.Now().Sub(start).Seconds()) }()
	}
	d, err := l.Load()
	if err != nil {
		l.fail("load the manifests", err)
		return 0
	}
	res, err := l.Reconciler.Pass(ctx, d)
	if err != nil {
		l.fail("observe the cluster", err)
		return 0
	}
	l.last.Store(lastPassOf(start, res.Plan))
	if n := l.Notifications; n != nil {
		// Without notifiers, only the records of removed ones are looked
		// at (to prune them): no pass pays for objects nobody watches.
		var objects []NotifyObject
		var err error
		if len(d.Notifiers) > 0 {
			var meta *store.Meta
			if meta, err = l.Reconciler.Store.GetMeta(ctx); err == nil {
				objects = NotifyObjects(d, res.Records, res.Observed.ScheduleRecords, meta)
			}
		}
		if err == nil {
			err = n.Decide(ctx, d, objects)
		}
		if err != nil {
			l.Log.Warn("could not decide the notifications", "err", err)
		}
	}
	for e := range res.Plan.Entries() {
		if e.Notable() {
			subject := "app" // applications keep the key their log lines always had
			if e.Kind != v1.KindSparkApplication {
				subject = "object"
			}
			attrs := []any{"action", string(e.Type), subject, e.Target(), "reason", e.Reason}
			if d.Revision != "" {
				attrs = append(attrs, "revision", d.Revision)
			}
			l.Log.Info("plan", attrs...)
		}
	}
	if l.Metrics != nil {
		for step, took := range map[string]time.Duration{"observe": res.Steps.Observe, "plan": res.Steps.Plan, "execute": res.Steps.Execute} {
			l.Metrics.StepDuration.WithLabelValues(step).Observe(took.Seconds())
		}
		l.count(d, res.Observed, res.Outcomes)
		l.Metrics.DispatcherStuck.Reset()
		for name, n := range res.Plan.StuckDispatchers() {
			l.Metrics.DispatcherStuck.WithLabelValues(name).Set(float64(n))
		}
	}
	l.lastOK.Store(l.Now().UnixNano())
	next := res.Plan.RequeueAfter
	if w := res.Plan.SchedulesRequeueAfter; w > 0 && (next == 0 || w < next) {
		next = w
	}
	if w := res.Plan.ServicesRequeueAfter; w > 0 && (next == 0 || w < next) {
		next = w
	}
	return next
}

func (l *Loop) fail(what string, err error) {
	l.Log.Error("pass failed", "step", what, "err", err)
	if l.Metrics != nil {
		l.Metrics.PassErrors.Inc()
	}
}

func (l *Loop) count(d *Desired, o *Observed, outcomes []Outcome) {
	m := l.Metrics
	m.AppCount.Set(float64(len(d.Apps)))
	running := map[string]bool{}
	for _, dr := range o.Live {
		if dr.State == "TASK_RUNNING" {
			running[dr.App] = true
		}
	}
	m.RunningCount.Set(float64(len(running)))
	for _, out := range outcomes {
		result := "ok"
		if out.Err != nil {
			result = "error"
		}
		if out.Type() != ActionUnchanged {
			m.Actions.WithLabelValues(string(out.Type()), result).Inc()
		}
		if a := out.Schedule; a != nil && out.Err == nil {
			for _, r := range a.Start {
				m.ScheduleRuns.WithLabelValues(a.Name, "started").Inc()
				if r.Trigger == TriggerSchedule {
					m.ScheduleLag.WithLabelValues(a.Name).Observe(max(l.Now().Sub(r.Scheduled), 0).Seconds())
				}
			}
			for _, k := range a.Skip {
				m.ScheduleRuns.WithLabelValues(a.Name, "skipped").Add(float64(max(k.Count, 1)))
			}
		}
		if out.Action == nil {
			continue
		}
		switch out.Action.Type {
		case ActionSubmit, ActionResubmit, ActionRestart:
			if out.Err == nil {
				m.SubmitCount.Inc()
			} else {
				m.SubmitFailure.Inc()
			}
		}
	}
}

// countEnded is the executor's OnEnded hook: each driver's end is counted
// once, when its record first sees it.
func (m *Metrics) countEnded(e RunEnd) {
	ok := e.Class == ClassSucceeded
	switch {
	case ok:
		m.SuccessCount.Inc()
	case e.Class != ClassKilled:
		m.FailureCount.WithLabelValues(e.Class).Inc()
	}
	if e.StartLatency > 0 {
		m.StartLatency.Observe(e.StartLatency.Seconds())
		if ok {
			m.SuccessTime.Observe(e.Duration.Seconds())
		} else if e.Class != ClassKilled {
			m.FailureTime.Observe(e.Duration.Seconds())
		}
	}
	if e.Schedule == "" {
		return
	}
	if ok {
		m.ScheduleRuns.WithLabelValues(e.Schedule, "succeeded").Inc()
	} else {
		m.ScheduleRuns.WithLabelValues(e.Schedule, "failed").Inc()
	}
}
