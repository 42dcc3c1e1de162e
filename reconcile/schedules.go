package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// DesiredSchedule is one ScheduledSparkApplication as the manifests want it.
type DesiredSchedule struct {
	Schedule *v1.ScheduledSparkApplication
	Cron     *v1.Cron
	// File is the manifest file it came from.
	File string
	// Dispatcher is the Dispatcher object its template names, if any.
	Dispatcher *v1.Dispatcher
	RenderOpts render.Options
}

// Name is the schedule's name.
func (s *DesiredSchedule) Name() string { return s.Schedule.Metadata.Name }

// runApp is the desired application of one run.
func (s *DesiredSchedule) runApp(run store.ScheduleRun) *DesiredApp {
	app := render.RunApplication(s.Schedule, run.Name, run.Scheduled.UTC().Format(render.ScheduledTimeLayout))
	da, err := desiredApp(app, s.Dispatcher, s.RenderOpts)
	if err != nil {
		da = NewDesiredApp(app, &render.Application{Name: run.Name})
		da.File, da.Schedule, da.Unreachable = s.File, s.Name(), err.Error()
		return da
	}
	da.File, da.Schedule, da.Stopped, da.Overrides = s.File, s.Name(), run.Stopped, run.Overrides
	return da
}

// ScheduleAction is the plan for one schedule: the runs it starts (each
// recorded in the schedule's record before its submission, the runs' own
// actions being in Plan.Actions), the times it skips and why, the runs it
// stops or forgets, and its next times.
type ScheduleAction struct {
	// Type is submit (it starts runs), skip (it skips times and starts
	// none), blocked (a run-now is refused), prune, hold or unchanged.
	Type   ActionType
	Name   string
	Reason string
	Phase  string
	// Start are the runs to record before they are submitted.
	Start []store.ScheduleRun
	// Adopt are runs found by their labels that the record lacks.
	Adopt []store.ScheduleRun
	// Skip are the times that get no run.
	Skip []store.SkippedRun
	// Stop are the runs to stop for good, with why.
	Stop map[string]string
	// Forget are ended runs beyond the history limits: their records go.
	Forget []string
	// Decided are the run-now requests decided by this pass.
	Decided []store.RunRequest
	// LastScheduled is the latest scheduled time decided; Since is set for
	// a schedule seen for the first time.
	LastScheduled time.Time
	Since         time.Time
	// Active are the runs still active after the pass; Next the next
	// scheduled times.
	Active []string
	Next   []time.Time
	// Policy is the concurrency policy in force.
	Policy string
}

// maxDueScan bounds the scheduled times counted after a long downtime.
const maxDueScan = 100_000

// nextShown is how many next times a plan shows.
const nextShown = 3

type runState struct {
	run     store.ScheduleRun
	app     *DesiredApp
	actions []Action
	active  bool
	phase   string
	started bool // submitted at least once
}

// planSchedules plans every schedule: its own action, the actions of its
// runs, and the names of all the runs it owns (which the application
// planner leaves alone).
func planSchedules(d *Desired, o *Observed, now time.Time, opts Options, byApp map[string][]Driver) ([]ScheduleAction, []Action, map[string]*DesiredApp, map[string]bool) {
	var actions []ScheduleAction
	var runActions []Action
	apps := map[string]*DesiredApp{}
	claimed := map[string]bool{}
	desired := map[string]bool{}
	for _, ds := range d.Schedules {
		desired[ds.Name()] = true
		sp := &schedulePlanner{d: d, o: o, now: now, opts: opts, ds: ds, rec: o.ScheduleRecords[ds.Name()], byApp: byApp}
		a, acts := sp.plan()
		actions = append(actions, a)
		runActions = append(runActions, acts...)
		for _, r := range sp.runs {
			claimed[r.run.Name] = true
			apps[r.run.Name] = r.app
		}
		for _, n := range a.Forget {
			claimed[n] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(o.ScheduleRecords)) {
		if desired[name] {
			continue
		}
		rec := o.ScheduleRecords[name]
		a := ScheduleAction{Name: name}
		switch {
		case d.Holds(rec.Origin):
			a.Type, a.Phase, a.Reason = ActionHold, PhaseHeld, heldReason(rec.Origin)
		case opts.Prune:
			a.Type, a.Reason = ActionPrune, "no longer in the manifests: its record goes (its runs are pruned as applications)"
		default:
			a.Type, a.Phase, a.Reason = ActionUnchanged, PhaseOrphaned, "no longer in the manifests: no new runs; apply with --prune to remove it and its runs"
		}
		actions = append(actions, a)
	}
	return actions, runActions, apps, claimed
}

// heldReason says why an object of a broken (or, with origin "", of some
// broken) file is left as it is.
func heldReason(origin string) string {
	if origin == "" {
		return "not recorded, and some manifest failed to load: it may come from that file, so it is left as it is"
	}
	return fmt.Sprintf("%s failed to load: the last good spec stays in force", origin)
}

type schedulePlanner struct {
	d     *Desired
	o     *Observed
	now   time.Time
	opts  Options
	ds    *DesiredSchedule
	rec   *store.Record
	byApp map[string][]Driver
	runs  []*runState
	out   ScheduleAction
}

func (sp *schedulePlanner) spec() *v1.ScheduleSpec { return &sp.ds.Schedule.Spec }

func (sp *schedulePlanner) plan() (ScheduleAction, []Action) {
	spec := sp.spec()
	name := sp.ds.Name()
	sp.out = ScheduleAction{Type: ActionUnchanged, Name: name, Stop: map[string]string{}, Policy: spec.ConcurrencyPolicy}
	var st store.ScheduleState
	if sp.rec != nil && sp.rec.Schedule != nil {
		st = *sp.rec.Schedule
	}
	base := st.LastScheduled
	if st.Since.IsZero() {
		sp.out.Since = sp.now
		if base.IsZero() {
			base = sp.now
		}
	} else if base.Before(st.Since) {
		base = st.Since
	}

	// The runs: recorded, and found by their labels (a lost store).
	known := map[string]bool{}
	for _, r := range st.Runs {
		known[r.Name] = true
		sp.runs = append(sp.runs, &runState{run: r})
	}
	for _, dr := range sp.labelled() {
		if known[dr.App] {
			continue
		}
		at, err := time.Parse(render.ScheduledTimeLayout, sp.o.RunLabels[dr.SubmissionID].Scheduled)
		if err != nil {
			continue
		}
		if _, ended := sp.o.Ended[dr.SubmissionID]; ended && !st.Since.IsZero() {
			// The record lists every run before it is submitted: an ended
			// one it lacks was forgotten (beyond the history limits). Only
			// a lost record adopts ended runs.
			continue
		}
		known[dr.App] = true
		run := store.ScheduleRun{Name: dr.App, Scheduled: at, Trigger: TriggerSchedule}
		if strings.HasPrefix(strings.TrimPrefix(dr.App, name), "-m") {
			run.Trigger = TriggerRunNow
		}
		sp.out.Adopt = append(sp.out.Adopt, run)
		sp.runs = append(sp.runs, &runState{run: run})
		if run.Trigger == TriggerSchedule && at.After(base) {
			base = at
		}
	}
	slices.SortStableFunc(sp.runs, func(a, b *runState) int { return a.run.Scheduled.Compare(b.run.Scheduled) })
	for _, r := range sp.runs {
		sp.planRun(r)
	}

	// A run never started within its starting deadline is stopped; with
	// suspend: kill every active run is.
	if dl := spec.StartingDeadline; dl != nil {
		for _, r := range sp.runs {
			if r.active && !r.started && r.run.Stopped == "" && sp.now.After(r.run.Scheduled.Add(micros(dl.Micros))) {
				sp.stop(r, fmt.Sprintf("not started within its startingDeadline %s", dl))
			}
		}
	}
	if spec.Suspend == v1.SuspendKill {
		for _, r := range sp.runs {
			if r.active {
				sp.stop(r, "the schedule is suspended (suspend: kill)")
			}
		}
	}

	sp.requests(st.Pending)
	if last := sp.due(base); last.After(st.LastScheduled) {
		sp.out.LastScheduled = last
	}
	sp.history()

	// What the pass says of the schedule.
	for _, r := range sp.runs {
		if r.active {
			sp.out.Active = append(sp.out.Active, r.run.Name)
		}
	}
	for t := sp.now; len(sp.out.Next) < nextShown; {
		if t = sp.ds.Cron.Next(t); t.IsZero() {
			break
		}
		sp.out.Next = append(sp.out.Next, t)
	}
	sp.describe()
	var acts []Action
	forgotten := map[string]bool{}
	for _, n := range sp.out.Forget {
		forgotten[n] = true
	}
	kept := sp.runs[:0]
	for _, r := range sp.runs {
		if !forgotten[r.run.Name] {
			acts = append(acts, r.actions...)
			kept = append(kept, r)
		}
	}
	sp.runs = kept
	return sp.out, acts
}

func micros(n int64) time.Duration { return time.Duration(n) * time.Microsecond }

// labelled lists the drivers, live and ended, of this schedule's runs.
func (sp *schedulePlanner) labelled() []Driver {
	var out []Driver
	for _, drs := range sp.byApp {
		for _, dr := range drs {
			if sp.ours(dr) {
				out = append(out, dr)
			}
		}
	}
	for _, dr := range sp.o.Ended {
		if sp.ours(dr) {
			out = append(out, dr)
		}
	}
	slices.SortFunc(out, func(a, b Driver) int { return strings.Compare(a.App, b.App) })
	return out
}

// ours says the driver is of one of this schedule's runs.
func (sp *schedulePlanner) ours(dr Driver) bool {
	return sp.o.RunLabels[dr.SubmissionID].Schedule == sp.ds.Name()
}

// planRun plans one run with the application planner and says whether it
// is still active.
func (sp *schedulePlanner) planRun(r *runState) {
	r.app = sp.ds.runApp(r.run)
	rec := sp.o.Records[r.run.Name]
	p := planner{d: sp.d, o: sp.o, now: sp.now, opts: sp.opts, name: r.run.Name, app: r.app, rec: rec, live: sp.byApp[r.run.Name]}
	if dr, ok := sp.endedUnrecorded(r.run.Name, rec); ok && len(p.live) == 0 {
		// Its driver ended and no record says so (a lost store): record
		// the end, never submit it again.
		phase := PhaseFailed
		if dr.State == "TASK_FINISHED" {
			phase = PhaseSucceeded
		}
		a := p.act(ActionAdopt, phase, fmt.Sprintf("driver %s of this run ended (%s) and was not recorded: recording its end", dr.SubmissionID, dr.State))
		a.Adopt = &dr
		r.actions, r.started, r.phase, r.active = []Action{a}, true, phase, false
		return
	}
	r.actions = p.plan()
	r.started = rec != nil && len(rec.Submissions) > 0 || len(p.live) > 0
	last := r.actions[len(r.actions)-1]
	r.phase = last.Phase
	switch {
	case !last.NotBefore.IsZero():
		r.active = true // a restart waits for its backoff
	case last.Type == ActionUnchanged && (last.Phase == PhaseSucceeded || last.Phase == PhaseFailed || last.Phase == PhaseStopped):
		r.active = false
	default:
		r.active = true
	}
}

// endedUnrecorded finds an ended driver of a run that its record does not
// know (no record, or no submissions).
func (sp *schedulePlanner) endedUnrecorded(name string, rec *store.Record) (Driver, bool) {
	if rec != nil && (len(rec.Submissions) > 0 || rec.Intent != nil) {
		return Driver{}, false
	}
	var found Driver
	for _, dr := range sp.o.Ended {
		if dr.App == name && sp.ours(dr) && dr.SubmissionID > found.SubmissionID {
			found = dr
		}
	}
	return found, found.SubmissionID != ""
}

// stop stops a run for good: it is recorded as stopped, its driver killed.
func (sp *schedulePlanner) stop(r *runState, why string) {
	sp.out.Stop[r.run.Name] = why
	r.run.Stopped = why
	sp.planRun(r)
	r.active = false
}

// start adds a run: recorded, then submitted.
func (sp *schedulePlanner) start(run store.ScheduleRun) *runState {
	for _, r := range sp.runs {
		if r.run.Name == run.Name {
			return r // already there (its time was decided before the record said so)
		}
	}
	sp.out.Start = append(sp.out.Start, run)
	r := &runState{run: run}
	sp.runs = append(sp.runs, r)
	sp.planRun(r)
	return r
}

func (sp *schedulePlanner) active() []*runState {
	var out []*runState
	for _, r := range sp.runs {
		if r.active {
			out = append(out, r)
		}
	}
	return out
}

func names(rs []*runState) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.run.Name)
	}
	return strings.Join(out, ", ")
}

// RunNowDecision is the one rule for a run-now under a concurrency
// policy: "" when it may start (Replace stops the active runs first), else
// why it is refused.
func RunNowDecision(policy string, active []string, force bool) string {
	if policy == v1.ConcurrencyForbid && len(active) > 0 && !force {
		return fmt.Sprintf("concurrencyPolicy Forbid and run %s is active; wait for it, or run-now --force", strings.Join(active, ", "))
	}
	return ""
}

// requests decides the pending run-now requests.
func (sp *schedulePlanner) requests(pending []store.RunRequest) {
	for _, req := range pending {
		var active []string
		for _, r := range sp.active() {
			active = append(active, r.run.Name)
		}
		if why := RunNowDecision(sp.spec().ConcurrencyPolicy, active, req.Force); why != "" {
			req.Outcome = "refused: " + why
			sp.out.Decided = append(sp.out.Decided, req)
			continue
		}
		run := store.ScheduleRun{Name: v1.ManualRunName(sp.ds.Name(), req.At), Scheduled: req.At, Trigger: TriggerRunNow, Request: req.ID, Overrides: req.Overrides}
		if sp.spec().ConcurrencyPolicy == v1.ConcurrencyReplace {
			for _, r := range sp.active() {
				sp.stop(r, "replaced by run-now "+run.Name)
			}
		}
		sp.start(run)
		req.Run, req.Outcome = run.Name, "started"
		sp.out.Decided = append(sp.out.Decided, req)
	}
}

// due decides the scheduled times in (base, now] and returns the latest
// one decided (zero when none).
func (sp *schedulePlanner) due(base time.Time) time.Time {
	spec := sp.spec()
	cron := sp.ds.Cron
	var due []time.Time
	count := 0
	for t := cron.Next(base); !t.IsZero() && !t.After(sp.now); t = cron.Next(t) {
		count++
		due = append(due, t)
		if len(due) > v1.MaxCatchUp+1 {
			due = due[1:]
		}
		if count == maxDueScan {
			break // a very long downtime: the newest are what matter
		}
	}
	var last time.Time
	if len(due) == 0 {
		return last
	}
	skip := func(from, until time.Time, n int, why string) {
		k := store.SkippedRun{Scheduled: from, Reason: why, At: sp.now}
		if n > 1 {
			k.Until, k.Count = until, n
		}
		sp.out.Skip = append(sp.out.Skip, k)
		if until.After(last) {
			last = until
		}
	}
	if spec.Suspend.Suspended() {
		skip(due[0], due[len(due)-1], count, "the schedule is suspended")
		return last
	}
	keep := due
	switch {
	case spec.CatchUp == v1.CatchUpAll && count > v1.MaxCatchUp:
		keep = due[len(due)-v1.MaxCatchUp:]
		skip(due[0], due[len(due)-v1.MaxCatchUp-1], count-v1.MaxCatchUp, fmt.Sprintf("more than %d scheduled times were missed: catchUp All runs the newest %d", v1.MaxCatchUp, v1.MaxCatchUp))
	case spec.CatchUp != v1.CatchUpAll && count > 1:
		keep = due[len(due)-1:]
		why := "missed (the reconciler was not running): catchUp Latest runs only the newest"
		if act := sp.active(); len(act) > 0 && spec.ConcurrencyPolicy == v1.ConcurrencyForbid {
			why = fmt.Sprintf("concurrencyPolicy Forbid: run %s was still active when a newer time came due", names(act))
		}
		skip(due[0], due[len(due)-2], count-1, why)
	}
	for _, t := range keep {
		if dl := spec.StartingDeadline; dl != nil && sp.now.After(t.Add(micros(dl.Micros))) {
			skip(t, t, 1, fmt.Sprintf("not started within its startingDeadline %s", dl))
			continue
		}
		run := store.ScheduleRun{Name: v1.RunName(sp.ds.Name(), t, cron.Seconds()), Scheduled: t, Trigger: TriggerSchedule}
		act := sp.active()
		switch {
		case len(act) == 0 || spec.ConcurrencyPolicy == v1.ConcurrencyAllow:
		case spec.ConcurrencyPolicy == v1.ConcurrencyReplace:
			for _, r := range act {
				sp.stop(r, "replaced by run "+run.Name)
			}
		default: // Forbid: this time, and the later ones, wait
			sp.out.Reason = fmt.Sprintf("%s waits for run %s to end (concurrencyPolicy Forbid)", sp.fmtTime(t), names(act))
			if dl := spec.StartingDeadline; dl != nil {
				sp.out.Reason += fmt.Sprintf(", at most until %s (startingDeadline %s)", sp.fmtTime(t.Add(micros(dl.Micros))), dl)
			}
			return last
		}
		sp.start(run)
		last = t
	}
	return last
}

// history forgets the ended runs beyond the history limits, oldest first.
func (sp *schedulePlanner) history() {
	okLimit, failLimit := sp.spec().HistoryLimits()
	ok, failed := 0, 0
	for i := len(sp.runs) - 1; i >= 0; i-- {
		r := sp.runs[i]
		if r.active || slices.ContainsFunc(sp.out.Start, func(s store.ScheduleRun) bool { return s.Name == r.run.Name }) {
			continue
		}
		if r.phase == PhaseSucceeded {
			if ok++; ok > okLimit {
				sp.out.Forget = append(sp.out.Forget, r.run.Name)
			}
			continue
		}
		if failed++; failed > failLimit {
			sp.out.Forget = append(sp.out.Forget, r.run.Name)
		}
	}
}

func (sp *schedulePlanner) fmtTime(t time.Time) string {
	return t.In(sp.ds.Cron.Location()).Format("2006-01-02 15:04:05 MST")
}

// describe sets the action's type, phase and reason.
func (sp *schedulePlanner) describe() {
	a := &sp.out
	var parts []string
	for _, s := range a.Start {
		if s.Trigger == TriggerRunNow {
			parts = append(parts, "run-now: run "+s.Name)
		} else {
			parts = append(parts, fmt.Sprintf("run %s for %s", s.Name, sp.fmtTime(s.Scheduled)))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(a.Stop)) {
		parts = append(parts, fmt.Sprintf("stop %s: %s", n, a.Stop[n]))
	}
	for _, k := range a.Skip {
		if k.Count > 1 {
			parts = append(parts, fmt.Sprintf("skip %d times from %s to %s: %s", k.Count, sp.fmtTime(k.Scheduled), sp.fmtTime(k.Until), k.Reason))
		} else {
			parts = append(parts, fmt.Sprintf("skip %s: %s", sp.fmtTime(k.Scheduled), k.Reason))
		}
	}
	refused := false
	for _, r := range a.Decided {
		if r.Run == "" {
			refused = true
			parts = append(parts, "run-now "+r.Outcome)
		}
	}
	if len(a.Forget) > 0 {
		parts = append(parts, "forget "+strings.Join(a.Forget, ", ")+" (beyond the history limits)")
	}
	if a.Reason != "" {
		parts = append(parts, a.Reason)
	}
	if len(a.Active) > 0 {
		parts = append(parts, "active: "+strings.Join(a.Active, ", "))
	}
	if len(a.Next) > 0 {
		var next []string
		for _, t := range a.Next {
			next = append(next, sp.fmtTime(t))
		}
		parts = append(parts, "next: "+strings.Join(next, ", then "))
	}
	switch {
	case len(a.Start) > 0:
		a.Type = ActionSubmit
	case refused:
		a.Type = ActionBlocked
	case len(a.Skip) > 0:
		a.Type = ActionSkip
	}
	switch {
	case sp.spec().Suspend.Suspended():
		a.Phase = PhaseSuspended
		parts = append([]string{"suspended"}, parts...)
	case len(a.Active) > 0:
		a.Phase = PhaseActive
	default:
		a.Phase = PhaseScheduled
	}
	if sp.d.BrokenFiles[sp.ds.File] {
		parts = append(parts, fmt.Sprintf("%s failed to load: the last good spec stays in force", sp.ds.File))
	}
	a.Reason = strings.Join(parts, "; ")
}
