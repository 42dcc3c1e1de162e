package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// Master is what a pass asks of the Mesos master: the state, role weights
// and quotas, and their updates.
type Master interface {
	Cluster
	RoleObserver
	RoleUpdater
}

// Reconciler owns one pass for every kind — applications, services and
// roles: observe the master, the dispatcher and the store; plan (Compute,
// pure); execute (an intent before every side effect); record the
// source's revision. diff calls Plan, apply calls Apply (passes until the
// plan is settled), run's Loop calls Pass when woken. What diff prints is
// therefore what apply and run do.
type Reconciler struct {
	Master      Master
	Dispatchers Dispatchers
	Store       store.Store
	Owner       string
	Options     Options
	// Lookup resolves secret sources at submission.
	Lookup render.Lookup
	Now    func() time.Time
	Log    *slog.Logger
	// Observed, when set, sees each observation before it is planned on
	// (run feeds the service keeper); Planned each plan before it is
	// executed (the keeper takes the services it prunes).
	Observed func(ctx context.Context, d *Desired, o *Observed)
	Planned  func(Plan)
	// OnEnded is called once for each run whose end a record first sees.
	OnEnded func(RunEnd)
	// Files reads drivers' sandboxes (a failed run's stderr tail).
	Files SandboxFiles

	// What RecordSource last recorded: the desired state (reused between
	// passes until its source changes) and whether its pass was whole.
	recorded         *Desired
	recordedComplete bool
	// digestKey keys the digests of secret values (from the store's meta).
	digestKey []byte
	// records are the applications' records kept between passes; live
	// the drivers of the last state observed.
	records RecordCache
	live    LiveCache
}

// PassResult is what one pass saw, planned and did.
type PassResult struct {
	Observed *Observed
	Plan     Plan
	Outcomes []Outcome
	// Records are the applications' records as the pass left them, kept
	// only when notifiers are desired (nil otherwise).
	Records map[string]*store.Record
	// Steps are how long the pass took to observe, plan and execute.
	Steps StepTimes
}

// StepTimes are how long a pass's steps took (the wall clock's).
type StepTimes struct {
	Observe, Plan, Execute time.Duration
}

func (r *Reconciler) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// Observe reads the cluster and the store for d: one GET_STATE, the
// dispatcher for submissions Mesos does not show, the roles' weights and
// quotas when roles are desired or owned.
func (r *Reconciler) Observe(ctx context.Context, d *Desired) (*Observed, error) {
	o, err := observe(ctx, r.Master, r.Dispatchers, r.Store, r.Owner, d, &r.records, &r.live, r.share(d))
	if err != nil {
		return nil, err
	}
	if err := ObserveRoles(ctx, r.Master, r.Store, d, o); err != nil {
		return nil, err
	}
	if r.Observed != nil {
		r.Observed(ctx, d, o)
	}
	return o, nil
}

// KeptRecords are the applications' records as the last pass read or
// wrote them (read only), sorted by key, without reading the store; false
// when none are kept (before a pass, or a store that cannot say its
// records' versions).
func (r *Reconciler) KeptRecords() ([]*store.Record, bool) { return r.records.kept() }

// share applies shareDesired for d.
func (r *Reconciler) share(d *Desired) func(*store.Record) {
	return func(rec *store.Record) { shareDesired(d, rec) }
}

// shareDesired points a freshly decoded record's properties, spec hashes
// and origin at its desired application's when they are equal (the spec
// did not change, the usual case), so that the records kept between
// passes do not hold a second copy of every application's: at 100,000
// applications the properties alone were 65 MB. Neither side is modified
// beyond that: the executor records the rendered properties by reference
// too.
func shareDesired(d *Desired, r *store.Record) {
	da := d.Apps[r.Key.Name]
	if da == nil {
		return
	}
	hash := da.Rendered.SpecHash
	if r.SpecHash == hash {
		r.SpecHash = hash
		if maps.Equal(r.Properties, da.Rendered.Request.SparkProperties) {
			r.Properties = da.Rendered.Request.SparkProperties
		}
	}
	for i := range r.Submissions {
		if r.Submissions[i].SpecHash == hash {
			r.Submissions[i].SpecHash = hash
		}
	}
	if r.Counters != nil && r.Counters.SpecHash == hash {
		r.Counters.SpecHash = hash
	}
	if r.Origin == da.File {
		r.Origin = da.File
	}
}

// Plan observes and plans, changing nothing.
func (r *Reconciler) Plan(ctx context.Context, d *Desired) (Plan, *Observed, error) {
	plan, o, _, err := r.plan(ctx, d, false)
	return plan, o, err
}

// plan observes and plans, and says how long each took; writer says the
// pass may create the store's key of the secrets' digests.
func (r *Reconciler) plan(ctx context.Context, d *Desired, writer bool) (Plan, *Observed, StepTimes, error) {
	start := time.Now()
	o, err := r.Observe(ctx, d)
	if err != nil {
		return Plan{}, nil, StepTimes{}, err
	}
	r.secretDigests(ctx, d, writer)
	observed := time.Now()
	plan := Compute(d, o, r.now(), r.Options)
	return plan, o, StepTimes{Observe: observed.Sub(start), Plan: time.Since(observed)}, nil
}

// Pass runs one observe-plan-execute pass and records the source's
// revision (applied only when the pass was whole).
func (r *Reconciler) Pass(ctx context.Context, d *Desired) (PassResult, error) {
	plan, o, steps, err := r.plan(ctx, d, true)
	if err != nil {
		return PassResult{}, err
	}
	planned := time.Now()
	if r.Planned != nil {
		r.Planned(plan)
	}
	exec := &Executor{Store: r.Store, Dispatchers: r.Dispatchers, Lookup: r.Lookup, Now: r.now, Log: r.log(), Roles: r.Master, OnEnded: r.OnEnded, Files: r.Files,
		KeepRecords: len(d.Notifiers) > 0, // the notifications are decided from them
		Written:     func(rec *store.Record) { r.records.written(rec, r.share(d)) }}
	outcomes := exec.Execute(ctx, d, o, plan)
	r.recordSource(ctx, d, outcomes)
	steps.Execute = time.Since(planned)
	return PassResult{Observed: o, Plan: plan, Outcomes: outcomes, Records: exec.Records, Steps: steps}, nil
}

// secretDigests gives each desired application the keyed digest of its
// secrets' current values, with the store's key; a writer (create) makes
// the key when the store has none yet. Without a key (a reader before any
// writer) digests stay unknown and no secret change is seen.
func (r *Reconciler) secretDigests(ctx context.Context, d *Desired, create bool) {
	if r.digestKey == nil {
		m, err := r.Store.GetMeta(ctx)
		if err != nil {
			return
		}
		if m.DigestKey == "" && create {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			m.DigestKey = hex.EncodeToString(b)
			if m, err = r.Store.PutMeta(ctx, m); err != nil {
				return // a conflict: the next pass reads the key written
			}
		}
		if m.DigestKey == "" {
			return
		}
		if r.digestKey, err = hex.DecodeString(m.DigestKey); err != nil {
			return
		}
	}
	if r.Lookup == nil {
		return
	}
	for _, a := range d.Apps {
		a.SecretDigest = render.SecretDigest(a.Rendered, r.digestKey, r.Lookup)
	}
}

// recordSource records the source's revision and problems in the store
// when they changed since the last pass.
func (r *Reconciler) recordSource(ctx context.Context, d *Desired, outcomes []Outcome) {
	if d.Source == nil {
		return
	}
	complete := Complete(outcomes)
	if d == r.recorded && complete == r.recordedComplete {
		return
	}
	if err := RecordSource(ctx, r.Store, d, outcomes, r.now()); err != nil {
		r.log().Warn("could not record the source's revision", "err", err)
		return
	}
	r.recorded, r.recordedComplete = d, complete
}

// ApplyOptions say how long Apply keeps passing.
type ApplyOptions struct {
	// Wait keeps passing until the plan is settled or Timeout passes;
	// without it Apply makes one pass.
	Wait     bool
	Timeout  time.Duration
	Interval time.Duration // between passes; default 500ms
	// Lost, when it closes, stops Apply: another replica acts now.
	Lost <-chan struct{}
	// Report sees each pass.
	Report func(pass int, res PassResult)
}

// ErrNotSettled: Apply's Timeout passed before the plan settled.
var ErrNotSettled = errors.New("not converged")

// ErrActionsFailed: the last pass had actions that failed.
var ErrActionsFailed = errors.New("some actions failed")

// ErrLeadershipLost: another reconciler acts now.
var ErrLeadershipLost = errors.New("leadership lost: another reconciler acts now")

// Apply carries the plan out: one pass, or with Wait passes until the plan
// is settled (Settled). It returns the last pass, and ErrActionsFailed
// when its actions did not all succeed, ErrNotSettled on timeout.
func (r *Reconciler) Apply(ctx context.Context, d *Desired, opts ApplyOptions) (PassResult, error) {
	if opts.Interval == 0 {
		opts.Interval = 500 * time.Millisecond
	}
	deadline := r.now().Add(opts.Timeout)
	for pass := 0; ; pass++ {
		select {
		case <-opts.Lost:
			return PassResult{}, ErrLeadershipLost
		default:
		}
		res, err := r.Pass(ctx, d)
		if err != nil {
			return res, err
		}
		if opts.Report != nil {
			opts.Report(pass, res)
		}
		failed := !allSucceeded(res.Outcomes)
		switch {
		case !opts.Wait || Settled(res.Plan):
			if failed {
				return res, ErrActionsFailed
			}
			return res, nil
		case r.now().After(deadline):
			return res, fmt.Errorf("%w within %s", ErrNotSettled, opts.Timeout)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(opts.Interval):
		}
	}
}

func allSucceeded(outcomes []Outcome) bool {
	for _, o := range outcomes {
		if o.Err != nil {
			return false
		}
	}
	return true
}

// Settled says a plan has nothing left for apply: no application or role
// to change, no restart waiting for its backoff, and no application on its
// way. (Services are carried out by run's framework; apply does not wait
// for them.)
func Settled(p Plan) bool {
	if p.RequeueAfter > 0 {
		return false
	}
	for _, a := range p.Roles {
		if a.Type.Changes() {
			return false
		}
	}
	for _, a := range p.Actions {
		if a.Type.Changes() {
			return false
		}
		switch a.Phase {
		case PhaseSubmitted, PhaseQueued, PhaseHeld:
			return false
		}
	}
	return true
}
