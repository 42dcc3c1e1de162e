package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/dispatcher"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// Executor carries plans out: every side effect is preceded by an intent in
// the store and followed by its result.
type Executor struct {
	Store       store.Store
	Dispatchers Dispatchers
	// Lookup resolves secret sources (the caller reads the environment and
	// files); resolved values exist only in the request sent.
	Lookup render.Lookup
	Now    func() time.Time
	Log    *slog.Logger
	// OnEnded, when set, is called once for each run whose end a record
	// first sees.
	OnEnded func(RunEnd)
	// Files reads drivers' sandboxes: a failed run's stderr tail is
	// copied into its record. Nil copies nothing.
	Files SandboxFiles
	// Roles sets role weights (plan.Roles); nil leaves roles alone.
	Roles RoleUpdater
	// KeepRecords keeps, in Records after Execute, the applications'
	// records as it left them (by name; pruned ones gone). Without it an
	// application's record is let go after its last action.
	KeepRecords bool
	Records     map[string]*store.Record
	// Written, when set, is given each record written, as the store
	// returned it; neither it nor the executor changes it afterwards (a
	// later action of the pass works on a copy), so that a RecordCache can
	// keep it instead of reading it back.
	Written func(*store.Record)
}

// RunEnd is a run's end, for metrics.
type RunEnd struct {
	App, Schedule string
	State, Class  string
	// StartLatency is from submission to running (0 when it never ran);
	// Duration from running to the end.
	StartLatency, Duration time.Duration
}

// SandboxFiles reads an agent's sandbox files (mesos.Client).
type SandboxFiles interface {
	AgentURL(a mesos.Agent) string
	Tail(ctx context.Context, agentURL, path string, n int64) ([]byte, int64, error)
}

// Outcome is what became of one action: an application's (Action, which
// points into the plan executed) or, when Role, Service or Schedule is
// set, that one's.
type Outcome struct {
	Action *Action
	Role   *RoleAction
	// Service is set for a service action the framework will not carry out
	// (a prune the guard refused), so that the pass is not taken as whole.
	Service *ServiceAction
	// Schedule is set for a schedule's action.
	Schedule *ScheduleAction
	// Detail says what was done, such as the submission id.
	Detail string
	Err    error
}

// Execute runs the plan's actions in order. An action's error does not stop
// the others.
func (e *Executor) Execute(ctx context.Context, d *Desired, o *Observed, plan Plan) []Outcome {
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
	x := &execution{e: e, d: d, o: o, recs: map[string]*store.Record{}, saved: map[string]*store.Record{}, pendingApp: map[string]bool{}, liveDriver: make(map[string]*Driver, len(o.Live))}
	for i := range o.Live {
		x.liveDriver[o.Live[i].SubmissionID] = &o.Live[i]
	}
	x.hosts = make(map[string]string, len(o.Agents))
	for _, ag := range o.Agents {
		x.hosts[ag.ID] = ag.Hostname
	}
	x.runApps = plan.RunApps
	// One outcome per action: a pass over many applications makes many.
	out := make([]Outcome, 0, len(plan.Schedules)+len(plan.Actions)+len(plan.Roles))
	// A schedule's runs are recorded in its record before they are
	// submitted: a run whose record could not be written is not submitted.
	unrecorded := map[string]error{}
	for i := range plan.Schedules {
		a := &plan.Schedules[i]
		detail, err := x.schedule(ctx, *a)
		if err != nil {
			e.Log.Warn("schedule action failed", "schedule", a.Name, "err", err)
			for _, r := range a.Start {
				unrecorded[r.Name] = err
			}
		} else if a.Type != ActionUnchanged {
			e.Log.Info("schedule", "action", string(a.Type), "schedule", a.Name, "reason", a.Reason)
		}
		out = append(out, Outcome{Schedule: a, Detail: detail, Err: err})
	}
	// An application's working record is let go after its last action,
	// unless the caller keeps them: a pass over many holds one at a time.
	var last map[string]int
	if !e.KeepRecords {
		last = make(map[string]int, len(plan.Actions))
		for i, a := range plan.Actions {
			last[a.App] = i
		}
	}
	x.out = out
	for i := range plan.Actions {
		a := &plan.Actions[i]
		if err := unrecorded[a.App]; err != nil {
			x.out = append(x.out, Outcome{Action: a, Err: fmt.Errorf("not submitted: the schedule's record could not be written: %w", err)})
		} else {
			if x.pendingApp[a.App] {
				x.flush(ctx) // its record as written, before it changes again
			}
			detail, err := x.run(ctx, *a)
			x.out = append(x.out, Outcome{Action: a, Detail: detail, Err: err})
			if !x.pendingApp[a.App] {
				x.logged(x.out[len(x.out)-1])
			}
		}
		if len(x.pending) >= writeBatch {
			x.flush(ctx)
		}
		if last != nil && last[a.App] == i {
			delete(x.recs, a.App)
			delete(x.saved, a.App)
		}
	}
	x.flush(ctx)
	out = x.out
	for i := range plan.Services {
		if plan.Services[i].PruneRefused() {
			out = append(out, Outcome{Service: &plan.Services[i]})
		}
	}
	if e.Roles != nil && o.RoleRecords != nil {
		for _, ro := range ExecuteRoles(ctx, e.Roles, e.Store, o, d, plan.Roles) {
			switch a := ro.Role; {
			case ro.Err != nil:
				e.Log.Warn("role action failed", "action", string(a.Type), "role", a.Role, "err", ro.Err)
			case a.Type.Changes():
				e.Log.Info("role", "action", string(a.Type), "role", a.Role, "reason", a.Reason)
			}
			out = append(out, ro)
		}
	}
	e.Records = nil
	if e.KeepRecords {
		e.Records = make(map[string]*store.Record, len(o.Records)+len(x.recs))
		for n, r := range o.Records {
			if !x.gone[n] {
				e.Records[n] = r // not touched: as observed
			}
		}
		maps.Copy(e.Records, x.saved)
		maps.Copy(e.Records, x.recs)
	}
	return out
}

// writeBatch is how many records that only say what was observed (an
// adoption, a status) wait to be written together (store.PutAll): bolt
// opens its file and syncs once per batch instead of once per record.
const writeBatch = 256

// logged logs an application action's outcome.
func (x *execution) logged(o Outcome) {
	a := o.Action
	if o.Err != nil {
		x.e.Log.Warn("action failed", "action", string(a.Type), "app", a.App, "err", o.Err)
	} else if a.Type.Changes() || a.Type == ActionAdopt {
		x.e.Log.Info("action done", "action", string(a.Type), "app", a.App, "detail", o.Detail, "reason", a.Reason)
	}
}

// Type is the outcome's action type.
func (o Outcome) Type() ActionType {
	switch {
	case o.Role != nil:
		return o.Role.Type
	case o.Service != nil:
		return o.Service.Type
	case o.Schedule != nil:
		return o.Schedule.Type
	case o.Action == nil:
		return ""
	}
	return o.Action.Type
}

// Target names what the action is for: an application's name, or
// KIND/NAME for a role or a service.
func (o Outcome) Target() string {
	switch {
	case o.Role != nil:
		return v1.KindMesosRole + "/" + o.Role.Name
	case o.Service != nil:
		return o.Service.Kind + "/" + o.Service.Name
	case o.Schedule != nil:
		return v1.KindScheduledSparkApplication + "/" + o.Schedule.Name
	case o.Action == nil:
		return ""
	}
	return o.Action.App
}

// PruneRefused says the outcome is of a prune the guard refused.
func (o Outcome) PruneRefused() bool {
	switch {
	case o.Role != nil:
		return o.Role.PruneRefused()
	case o.Service != nil:
		return o.Service.PruneRefused()
	case o.Schedule != nil:
		return o.Schedule.Type == ActionBlocked && o.Schedule.Phase == PhaseOrphaned
	case o.Action == nil:
		return false
	}
	return o.Action.PruneRefused()
}

type execution struct {
	e *Executor
	d *Desired
	o *Observed
	// recs are the working records of the applications acted on: copied
	// from the observation, or from the record last written, when first
	// needed (the observation the plan came from stays as it was, and a
	// record written is not changed: Executor.Written); saved are the
	// records written this pass, as the store returned them; gone are
	// those pruned meanwhile.
	recs  map[string]*store.Record
	saved map[string]*store.Record
	gone  map[string]bool
	// pending are the working records whose write waits for the next
	// flush (later: what was observed, never an intent or a side effect's
	// result), each with the index in out of its action's outcome;
	// pendingApp says which applications have one.
	pending    []pendingWrite
	pendingApp map[string]bool
	out        []Outcome
	// liveDriver are the live drivers by submission id (the observation's,
	// read only); hosts the agents' hostnames by id.
	liveDriver map[string]*Driver
	hosts      map[string]string
	// unreadable are the agents whose sandbox could not be read this
	// pass: not asked again (many failures on one dead agent must not
	// hold the pass up once each).
	unreadable map[string]error
	// runApps are the desired applications of schedules' runs.
	runApps map[string]*DesiredApp
}

// app is the desired application of that name, a schedule's run included.
func (x *execution) app(name string) *DesiredApp {
	return Plan{RunApps: x.runApps}.App(x.d, name)
}

func (x *execution) now() time.Time { return x.e.Now() }

type pendingWrite struct {
	rec     *store.Record
	outcome int
}

// later has the working record written at the next flush, with others;
// its action's outcome (the next in out, appended once the action
// returns) then gets the write's error and is logged. The application's
// next action, if any, flushes first (Execute).
func (x *execution) later(r *store.Record) {
	delete(x.recs, r.Key.Name)
	x.pending = append(x.pending, pendingWrite{rec: r, outcome: len(x.out)})
	x.pendingApp[r.Key.Name] = true
}

// flush writes the pending records (store.PutAll). One refused stays the
// working record, as after a failed put.
func (x *execution) flush(ctx context.Context) {
	if len(x.pending) == 0 {
		return
	}
	recs := make([]*store.Record, len(x.pending))
	for i, p := range x.pending {
		recs[i] = p.rec
	}
	for i, res := range store.PutAll(ctx, x.e.Store, recs) {
		p := x.pending[i]
		if res.Err != nil {
			x.out[p.outcome].Err = fmt.Errorf("record %s: %w", p.rec.Key, res.Err)
			x.recs[p.rec.Key.Name] = p.rec
		} else {
			x.wrote(res.Record)
		}
		x.logged(x.out[p.outcome])
	}
	x.pending = x.pending[:0]
	clear(x.pendingApp)
}

func (x *execution) record(app string) *store.Record {
	if r, ok := x.recs[app]; ok {
		return r
	}
	r := &store.Record{Key: store.Key{Kind: v1.KindSparkApplication, Name: app}}
	if seen := x.current(app); seen != nil {
		copied := *seen
		copied.Submissions = slices.Clone(seen.Submissions)
		copied.Events = slices.Clone(seen.Events)
		r = &copied
	}
	x.recs[app] = r
	return r
}

// current is the application's record as this pass knows it (read only),
// or nil.
func (x *execution) current(app string) *store.Record {
	if r, ok := x.recs[app]; ok {
		return r
	}
	if r, ok := x.saved[app]; ok {
		return r
	}
	if x.gone[app] {
		return nil
	}
	return x.o.Records[app]
}

// forget marks the application's record deleted.
func (x *execution) forget(app string) {
	delete(x.recs, app)
	delete(x.saved, app)
	if x.gone == nil {
		x.gone = map[string]bool{}
	}
	x.gone[app] = true
}

func (x *execution) put(ctx context.Context, r *store.Record) error {
	saved, err := x.e.Store.Put(ctx, r)
	if err != nil {
		return fmt.Errorf("record %s: %w", r.Key, err)
	}
	x.wrote(saved)
	return nil
}

// wrote takes a record as the store wrote it: no longer a working record.
func (x *execution) wrote(saved *store.Record) {
	delete(x.recs, saved.Key.Name)
	x.saved[saved.Key.Name] = saved
	if x.e.Written != nil {
		x.e.Written(saved)
	}
}

func (x *execution) event(r *store.Record, typ, reason, msg string) {
	r.AddEvent(store.Event{Time: x.now(), Type: typ, Reason: reason, Message: msg, Revision: x.d.Revision})
}

// sync brings the record's latest run up to date with the observation:
// where its driver runs, running, or ended (when it was first seen ended,
// from which the restart backoff counts; its class, counted against the
// restart policy; the tail of a failed driver's stderr).
func (x *execution) sync(ctx context.Context, r *store.Record) bool {
	s, changed, ended := x.synced(r)
	if n := len(r.Submissions); n > 0 && s != r.Submissions[n-1] {
		r.Submissions[n-1] = s
	}
	if ended {
		x.ended(ctx, r, &r.Submissions[len(r.Submissions)-1])
	}
	return changed
}

// synced is the record's latest run as the observation has it (a copy: r
// is not modified), whether that is worth recording, and whether the run
// just ended (its end is then to be recorded: sync).
func (x *execution) synced(r *store.Record) (s store.Submission, changed, ended bool) {
	if len(r.Submissions) == 0 {
		return store.Submission{}, false, false
	}
	s = r.Submissions[len(r.Submissions)-1]
	if isTerminalTask(s.State) {
		return s, false, false
	}
	set := func(dst *string, v string) {
		if v != "" && *dst != v {
			*dst, changed = v, true
		}
	}
	dr, gone := x.o.Ended[s.ID]
	if live := x.liveDriver[s.ID]; !gone && live != nil {
		dr = *live
	}
	state := dr.State // its task's, live or ended; else the dispatcher's, below
	if dr.TaskID != "" {
		set(&s.TaskID, dr.TaskID)
		set(&s.FrameworkID, dr.FrameworkID)
		set(&s.AgentID, dr.AgentID)
		set(&s.Hostname, x.hosts[dr.AgentID])
		if !dr.Started.IsZero() && s.StartedAt.IsZero() {
			s.StartedAt, changed = dr.Started, true
		}
	}
	if gone {
		set(&s.Reason, dr.Reason)
		set(&s.TaskMessage, dr.Message)
	} else if st, ok := x.o.Submissions[s.ID]; ok {
		set(&s.DriverState, driverState(st))
		switch st.DriverState {
		case dispatcher.StateFinished:
			state = orDefault(st.TaskState, "TASK_LOST")
			set(&s.Reason, st.Reason)
			set(&s.TaskMessage, st.Message)
		case dispatcher.StateNotFound:
			state = forgottenEnd(&s)
		case dispatcher.StateQueued, dispatcher.StateRetrying:
			state = st.DriverState
		}
	}
	if state == "TASK_RUNNING" && s.StartedAt.IsZero() {
		s.StartedAt = x.now()
	}
	if state == "" || state == s.State {
		return s, changed, false
	}
	s.State = state
	return s, true, isTerminalTask(state)
}

// ended records a run's end: when, its class, the counters, and for a
// failure the tail of its driver's stderr.
func (x *execution) ended(ctx context.Context, r *store.Record, s *store.Submission) {
	s.FinishedAt = x.now()
	if deadline := killedFor(r, s.ID); deadline != "" {
		s.Class, s.Reason = ClassDeadline, deadline
		r.Intent = nil
	}
	s.Class = Classify(s, s.State, s.Reason)
	da := x.app(r.Key.Name)
	if da != nil {
		policy := da.Spec.RestartPolicy
		c := countersOf(r, s.SpecHash, s, s.Class, s.FinishedAt, duration(policy.ResetAfter))
		r.Counters = &c
	}
	typ := "Normal"
	if failed(s.Class) {
		typ = "Warning"
		if s.Class != ClassNeverLaunched {
			s.StderrTail = x.stderrTail(ctx, s)
		}
	}
	x.event(r, typ, "Ended", fmt.Sprintf("driver %s ended: %s, class %s", s.ID, DescribeRun(s), s.Class))
	if x.e.OnEnded != nil {
		end := RunEnd{App: r.Key.Name, State: s.State, Class: s.Class}
		if da != nil {
			end.Schedule = da.Schedule
		}
		if !s.StartedAt.IsZero() {
			end.StartLatency = s.StartedAt.Sub(s.SubmittedAt)
			end.Duration = s.FinishedAt.Sub(s.StartedAt)
		}
		x.e.OnEnded(end)
	}
}

// stderrTail reads the end of a run's stderr from its agent (bounded in
// time: an agent that is gone does not hold the pass up), or says why it
// could not.
func (x *execution) stderrTail(ctx context.Context, s *store.Submission) string {
	if x.e.Files == nil || s.AgentID == "" || s.FrameworkID == "" {
		return ""
	}
	var agent *Agent
	for i := range x.o.Agents {
		if x.o.Agents[i].ID == s.AgentID {
			agent = &x.o.Agents[i]
		}
	}
	if agent == nil {
		return fmt.Sprintf("(stderr unavailable: agent %s is not registered with the master)", orDefault(s.Hostname, s.AgentID))
	}
	if err := x.unreadable[agent.ID]; err != nil {
		return fmt.Sprintf("(stderr unavailable: %v)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := x.e.Files.AgentURL(mesos.Agent{ID: agent.ID, Hostname: agent.Hostname, Port: agent.Port})
	data, _, err := x.e.Files.Tail(ctx, url, mesos.SandboxPath(s.FrameworkID, orDefault(s.TaskID, s.ID))+"/stderr", store.MaxTail)
	if err != nil {
		if !errors.Is(err, mesos.ErrFileNotFound) {
			if x.unreadable == nil {
				x.unreadable = map[string]error{}
			}
			x.unreadable[agent.ID] = err
		}
		return fmt.Sprintf("(stderr unavailable: %v)", err)
	}
	return store.Tail(string(data), store.MaxTail)
}

func (x *execution) run(ctx context.Context, a Action) (string, error) {
	if x.untouched(a) {
		return "", nil
	}
	r := x.record(a.App)
	changed := x.sync(ctx, r)
	switch a.Type {
	case ActionSubmit, ActionRestart, ActionResubmit:
		if err := x.kill(ctx, r, a.Kill, a); err != nil {
			return "", err
		}
		return x.submit(ctx, r, a)
	case ActionKill:
		if a.Deadline != "" && len(a.Kill) > 0 {
			// Intent first: a crash after the kill still ends the run as
			// class deadline, not as a kill by someone else.
			r.Intent = &store.Intent{ID: newID(), Action: string(ActionKill), SpecHash: a.SpecHash, CreatedAt: x.now(), Run: a.Kill[0], Deadline: a.Deadline}
			if err := x.put(ctx, r); err != nil {
				return "", err
			}
			r = x.record(a.App)
		}
		if err := x.kill(ctx, r, a.Kill, a); err != nil {
			return "", err
		}
		if a.stops() {
			for i := range r.Submissions {
				if s := &r.Submissions[i]; slices.Contains(a.Kill, s.ID) {
					s.Message = stoppedMark + a.Reason
				}
			}
		}
		x.setStatus(r, a)
		return fmt.Sprintf("killed %v", a.Kill), x.put(ctx, r)
	case ActionPrune:
		if err := x.kill(ctx, r, a.Kill, a); err != nil {
			return "", err
		}
		if r.Version == 0 {
			return "pruned", nil
		}
		if err := x.e.Store.Delete(ctx, r.Key, r.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		x.forget(a.App)
		return fmt.Sprintf("pruned (killed %v)", a.Kill), nil
	case ActionAdopt:
		dr := a.Adopt
		// It was submitted before it started: its deadlines count from
		// then (as late as it can have been), not from its adoption, so
		// that a store lost does not give a driver its whole
		// activeDeadline again.
		submitted := x.now()
		if !dr.Started.IsZero() && dr.Started.Before(submitted) {
			submitted = dr.Started
		}
		r.AddSubmission(store.Submission{ID: dr.SubmissionID, SpecHash: dr.SpecHash, State: dr.State, SubmittedAt: submitted, Trigger: TriggerAdoption,
			TaskID: dr.TaskID, FrameworkID: dr.FrameworkID, AgentID: dr.AgentID, Hostname: x.hosts[dr.AgentID], StartedAt: dr.Started,
			Reason: dr.Reason, TaskMessage: dr.Message}, x.historyLimit(a.App))
		r.Intent = nil
		if s := &r.Submissions[len(r.Submissions)-1]; isTerminalTask(s.State) {
			x.ended(ctx, r, s) // it ran and ended before we saw it
		}
		if da := x.app(a.App); da != nil && dr.SpecHash == da.Rendered.SpecHash {
			x.remember(r, da)
		}
		x.event(r, "Normal", "Adopted", fmt.Sprintf("driver %s found by its labels: %s", dr.SubmissionID, a.Reason))
		x.setStatus(r, a)
		x.later(r)
		return "adopted " + dr.SubmissionID, nil
	}
	if x.adoptsDigest(r, a) {
		// A driver submitted before digests were kept: it is taken to run
		// the current values, and a later change is seen.
		r.SecretDigest, changed = x.app(a.App).SecretDigest, true
	}
	if x.setStatus(r, a) || changed {
		if r.Version == 0 && len(r.Submissions) == 0 && a.Type != ActionBlocked {
			return "", nil // nothing worth recording for an app never submitted
		}
		if da := x.app(a.App); da != nil && r.Origin == "" {
			r.Origin = da.File
		}
		x.later(r)
		return "", nil
	}
	return "", nil
}

// untouched reports that an action which only keeps the record up to date
// (not a submission, kill, prune or adoption) would leave the observed
// record as it is: its latest run as observed, its digest known, its
// status the same. Most actions of a steady pass are such: their record
// is then not copied (at 100,000 applications the copies were a quarter
// of a pass).
func (x *execution) untouched(a Action) bool {
	switch a.Type {
	case ActionSubmit, ActionRestart, ActionResubmit, ActionKill, ActionPrune, ActionAdopt:
		return false
	}
	if x.recs[a.App] != nil || x.saved[a.App] != nil || x.gone[a.App] {
		return false
	}
	r := x.o.Records[a.App]
	if r == nil {
		return false
	}
	if s, changed, ended := x.synced(r); changed || ended || len(r.Submissions) > 0 && s != r.Submissions[len(r.Submissions)-1] {
		return false
	}
	return !x.adoptsDigest(r, a) && !statusChanges(r, a)
}

// adoptsDigest: the record of a running driver submitted before secret
// digests were kept takes the current one.
func (x *execution) adoptsDigest(r *store.Record, a Action) bool {
	da := x.app(a.App)
	return da != nil && da.SecretDigest != "" && r.SecretDigest == "" && a.Type == ActionUnchanged && a.Phase == PhaseRunning
}

// statusChanges reports that setStatus would write a: a new phase, or a
// new wording of it. An unchanged application's status is not rewritten
// when only its numbers change (a countdown, a time), which would be a
// write every pass; it is when its words do (an adopted driver now runs
// the current spec).
func statusChanges(r *store.Record, a Action) bool {
	return a.Phase != "" && rewritesStatus(r.Status, a.Type, a.Phase, a.Reason)
}

// rewritesStatus is the rule for application and schedule statuses: an
// action of type t leaving the object in phase with reason changes
// status s when the phase changes, or its reason does (other than in its
// numbers, for an unchanged object).
func rewritesStatus(s store.Status, t ActionType, phase, reason string) bool {
	switch {
	case s.Phase != phase:
		return true
	case s.Message == reason:
		return false
	case t == ActionUnchanged:
		return !sameWords(s.Message, reason)
	}
	return true
}

// sameWords reports that a and b differ at most in their numbers: each
// run of digits in one stands for any run of digits in the other
// ("restarting in 20s (attempt 2)" and "restarting in 9s (attempt 2)").
func sameWords(a, b string) bool {
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case digit(a[i]) && digit(b[j]):
			for i < len(a) && digit(a[i]) {
				i++
			}
			for j < len(b) && digit(b[j]) {
				j++
			}
		case a[i] == b[j]:
			i, j = i+1, j+1
		default:
			return false
		}
	}
	return i == len(a) && j == len(b)
}

// setStatus records the phase and reason when the phase changes.
func (x *execution) setStatus(r *store.Record, a Action) bool {
	if !statusChanges(r, a) {
		return false
	}
	if a.Type == ActionBlocked && r.Status.Phase != PhaseBlocked {
		x.event(r, "Warning", "Blocked", a.Reason)
	}
	r.Status = store.Status{Phase: a.Phase, Message: a.Reason, ObservedAt: x.now()}
	return true
}

// remember keeps what was applied: spec hash, the revision and file it
// came from, and the rendered (redacted) properties, for diffs.
func (x *execution) remember(r *store.Record, da *DesiredApp) {
	r.SpecHash = da.Rendered.SpecHash
	r.Revision = x.d.Revision
	r.Origin = da.File
	r.Properties = da.Rendered.Request.SparkProperties
	r.HistoryServer = da.Rendered.HistoryServerURL
	r.SecretDigest = da.SecretDigest
}

func (x *execution) clientFor(r *store.Record, app string) (DispatcherClient, error) {
	if da := x.app(app); da != nil && da.Rendered.DispatcherURL != "" {
		return x.e.Dispatchers.For(da.Rendered.DispatcherURL), nil
	}
	if base := DispatcherOf(r); base != "" {
		return x.e.Dispatchers.For(base), nil
	}
	return nil, fmt.Errorf("no dispatcher known for %s", app)
}

// kill kills the drivers of the submissions and records them as ended by
// us: class killed, or deadline for a deadline's kill.
func (x *execution) kill(ctx context.Context, r *store.Record, ids []string, a Action) error {
	if len(ids) == 0 {
		return nil
	}
	c, err := x.clientFor(r, r.Key.Name)
	if err != nil {
		return err
	}
	for _, id := range ids {
		res, err := c.Kill(ctx, id)
		if err != nil {
			return fmt.Errorf("kill %s: %w", id, err)
		}
		x.event(r, "Normal", "Killed", fmt.Sprintf("driver %s: %s", id, res.Message))
		for i := range r.Submissions {
			if s := &r.Submissions[i]; s.ID == id && !isTerminalTask(s.State) {
				s.State, s.FinishedAt, s.Class = "TASK_KILLED", x.now(), ClassKilled
				if a.Deadline != "" {
					s.Class, s.Reason, s.TaskMessage = ClassDeadline, a.Deadline, a.Reason
					x.event(r, "Warning", "Deadline", a.Reason)
					if i == len(r.Submissions)-1 {
						x.ended(ctx, r, s) // as any run's end: counters, stderr tail, metrics
					} else if killedFor(r, s.ID) != "" {
						r.Intent = nil
					}
				}
			}
		}
	}
	return nil
}

// historyLimit is how many runs the application's record keeps.
func (x *execution) historyLimit(app string) int {
	if da := x.app(app); da != nil && da.Spec.HistoryLimit != nil {
		return *da.Spec.HistoryLimit
	}
	return store.DefaultRuns
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (x *execution) submit(ctx context.Context, r *store.Record, a Action) (string, error) {
	da := x.app(a.App)
	if da == nil {
		return "", fmt.Errorf("%s is not desired", a.App)
	}
	c, err := x.clientFor(r, a.App)
	if err != nil {
		return "", err
	}
	intent := &store.Intent{ID: newID(), Action: string(a.Type), SpecHash: a.SpecHash, CreatedAt: x.now()}
	r.Intent = intent
	if r.Origin == "" {
		r.Origin = da.File
	}
	if err := x.put(ctx, r); err != nil {
		return "", err // nothing was sent
	}
	r = x.record(a.App)
	// fail records a submission that did not happen: prefix says why
	// ("rejected-": the dispatcher refused it for good; "unresolved-": a
	// secret could not be read), "" records nothing (worth retrying).
	fail := func(err error, prefix string) (string, error) {
		r.Intent = nil
		if prefix != "" {
			r.AddSubmission(store.Submission{ID: prefix + intent.ID, SpecHash: a.SpecHash, Attempt: a.Attempt, SubmittedAt: x.now(),
				FinishedAt: x.now(), State: "TASK_ERROR", Message: err.Error(), Trigger: a.Trigger, Revision: x.d.Revision,
				Class: ClassNeverLaunched}, x.historyLimit(a.App))
			r.Status = store.Status{Phase: PhaseFailed, Message: err.Error(), ObservedAt: x.now()}
		}
		x.event(r, "Warning", "SubmitFailed", err.Error())
		if perr := x.put(ctx, r); perr != nil {
			return "", errors.Join(err, perr)
		}
		return "", err
	}
	req, err := render.Resolve(da.Rendered, x.e.Lookup)
	if err != nil {
		return fail(err, "unresolved-")
	}
	if o := a.Overrides; o != nil {
		if len(o.Args) > 0 {
			req.AppArgs = slices.Clone(o.Args)
		}
		for k, v := range o.Conf {
			req.SparkProperties[k] = v
		}
	}
	req.SparkProperties["spark.mesos.driver.labels"] += "," + v1.EscapeLabel(render.LabelIntent) + ":" + intent.ID
	created, err := c.Create(ctx, req)
	id := created.ID
	if err != nil {
		var de *dispatcher.Error
		if errors.As(err, &de) && de.StatusCode == 0 && !de.NotSent {
			// No answer: the driver may exist. Keep the intent: the next
			// passes look for a driver labelled with it before submitting again.
			x.event(r, "Warning", "InDoubt", fmt.Sprintf("no answer from the dispatcher (%v): holding until the driver appears", err))
			_ = x.put(ctx, r)
			return "", err
		}
		if dispatcher.IsPermanent(err) {
			return fail(err, rejectedPrefix)
		}
		return fail(err, "")
	}
	r.Intent = nil
	r.AddSubmission(store.Submission{ID: id, SpecHash: a.SpecHash, Attempt: a.Attempt, SubmittedAt: x.now(), State: dispatcher.StateQueued,
		Trigger: a.Trigger, Revision: x.d.Revision}, x.historyLimit(a.App))
	if a.Type != ActionRestart || r.Counters == nil || r.Counters.SpecHash != a.SpecHash {
		// A new spec, a run-now, a resume: the restart policy counts anew.
		r.Counters = &store.Counters{SpecHash: a.SpecHash}
	}
	x.remember(r, da)
	r.RerunOverrides = nil
	x.event(r, "Normal", "Submitted", fmt.Sprintf("%s (%s, attempt %d%s): %s", id, a.Type, a.Attempt, a.Overrides.Describe(), a.Reason))
	if len(created.UnknownFields) > 0 {
		// Spark ignores what it does not know: say so, once per submission.
		why := fmt.Sprintf("the dispatcher ignored fields of the request it does not know: %s (an older Spark than the request was rendered for?)",
			strings.Join(created.UnknownFields, ", "))
		x.event(r, "Warning", "UnknownFields", why)
		x.e.Log.Warn("dispatcher ignored request fields", "app", a.App, "submission", id, "fields", strings.Join(created.UnknownFields, ","))
	}
	r.Status = store.Status{Phase: a.Phase, Message: a.Reason, ObservedAt: x.now()}
	return id, x.put(ctx, r)
}
