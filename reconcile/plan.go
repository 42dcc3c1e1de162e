package reconcile

import (
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/dispatcher"
	"github.com/sparkmesos/reconciler/store"
)

// defaultInDoubt is how long an unrecorded submission holds its
// application; defaultStuckAfter how long a submission sits queued, with
// room for it, before its dispatcher is called stuck.
const (
	defaultInDoubt    = 2 * time.Minute
	defaultStuckAfter = 5 * time.Minute
)

// Compute plans one pass. It is pure: no I/O, no clock (now is given), no
// randomness (backoff jitter is derived from the application and attempt),
// and it does not modify its inputs.
func Compute(d *Desired, o *Observed, now time.Time, opts Options) Plan {
	if opts.InDoubt == 0 {
		opts.InDoubt = defaultInDoubt
	}
	if opts.StuckAfter == 0 {
		opts.StuckAfter = defaultStuckAfter
	}
	// Drivers grouped by application; the planner walks them and the
	// sorted names of the applications desired or recorded together.
	// observe lists them in this order already; others are sorted here.
	// (Sorted are small keys holding the strings compared, not the
	// drivers: 40 bytes swapped, not 176, and no comparison reaches into
	// the drivers.)
	keys := make([]liveKey, len(o.Live))
	for i := range o.Live {
		keys[i] = liveKey{app: o.Live[i].App, sub: o.Live[i].SubmissionID, i: int32(i)}
	}
	if !o.liveInOrder() && !slices.IsSortedFunc(keys, compareLive) {
		slices.SortFunc(keys, compareLive)
	}
	// Schedules plan their runs (and claim them from the walk below).
	var claimed map[string]bool
	var runActions []Action
	var plan Plan
	if len(d.Schedules) > 0 || len(o.ScheduleRecords) > 0 {
		byApp := map[string][]Driver{}
		for _, key := range keys {
			if _, ok := o.RunLabels[key.sub]; ok {
				byApp[key.app] = append(byApp[key.app], o.Live[key.i])
			}
		}
		plan.Schedules, runActions, plan.RunApps, claimed = planSchedules(d, o, now, opts, byApp)
	}
	up := shuffleUp(o)
	w := &appWalk{d: d, o: o, now: now, opts: opts, keys: keys, claimed: claimed, runApps: plan.RunApps, up: up}
	var concerned int
	plan.Actions, concerned = w.plan()
	plan.Actions = append(plan.Actions, runActions...)
	services, requeue := planServices(d, o, now, opts)
	plan.Services = services
	plan.Roles = planRoles(d, o, opts)
	if !opts.Force {
		guardPrune(&plan, concerned+ownedServices(d, o)+ownedRoles(d, o)+ownedSchedules(d, o))
	}
	// Objects a broken file declared, carried at their last good spec.
	for i, a := range plan.Actions {
		if len(d.BrokenFiles) == 0 {
			break
		}
		if da := d.Apps[a.App]; da != nil && d.BrokenFiles[da.File] {
			plan.Actions[i].Reason = fmt.Sprintf("%s failed to load: the last good spec stays in force; %s", da.File, a.Reason)
			if a.Type == ActionUnchanged {
				plan.Actions[i].Phase = PhaseHeld
			}
		}
	}
	for i, a := range plan.Services {
		for _, s := range d.Services {
			if s.Kind == a.Kind && s.Name == a.Name && d.BrokenFiles[s.File] {
				plan.Services[i].Reason += fmt.Sprintf("; %s failed to load: the last good spec stays in force", s.File)
			}
		}
	}
	for i, a := range runActions {
		i += len(plan.Actions) - len(runActions)
		if da := plan.App(d, a.App); da != nil {
			plan.Actions[i].Reason += shuffleNoteOf(a, da, o, up)
		}
	}
	plan.ServicesRequeueAfter = requeue
	for _, s := range plan.Schedules {
		if len(s.Next) > 0 {
			if wait := s.Next[0].Sub(now); plan.SchedulesRequeueAfter == 0 || wait < plan.SchedulesRequeueAfter {
				plan.SchedulesRequeueAfter = wait
			}
		}
	}
	for _, a := range plan.Actions {
		if !a.NotBefore.IsZero() && a.NotBefore.After(now) {
			if wait := a.NotBefore.Sub(now); plan.RequeueAfter == 0 || wait < plan.RequeueAfter {
				plan.RequeueAfter = wait
			}
		}
	}
	return plan
}

// liveKey is a driver's place in the order the planner walks them in.
type liveKey struct {
	app, sub string
	i        int32
}

// appWalk plans the applications: the sorted names desired or recorded
// and the drivers (keys, sorted by application) walked together.
type appWalk struct {
	d       *Desired
	o       *Observed
	now     time.Time
	opts    Options
	keys    []liveKey
	claimed map[string]bool // applications whose runs a schedule planned
	runApps map[string]*DesiredApp
	up      map[string]bool // agents whose shuffle service runs
}

// minChunk is the fewest applications a goroutine plans: below twice as
// many, one plans them all.
const minChunk = 4096

// plan plans every application desired, recorded or only running, in
// the order of their names, and says how many there were. It merges the
// applications and records BuildDesired and observe keep in order
// (Desired.names and apps, Observed.recordNames and records) when there
// are as many as the maps hold, each in order, and indexes the maps
// otherwise (at 100,000 applications the sort was an eighth of a plan).
func (w *appWalk) plan() ([]Action, int) {
	d, o := w.d, w.o
	if len(d.names) == len(d.Apps) && len(d.apps) == len(d.Apps) && len(o.recordNames) == len(o.Records) && len(o.records) == len(o.Records) {
		if actions, concerned, ok := w.inParts(kept[*DesiredApp]{d.names, d.apps}, kept[*store.Record]{o.recordNames, o.records}); ok {
			return actions, concerned
		}
	}
	var desired kept[*DesiredApp]
	var recorded kept[*store.Record]
	desired.names, desired.of = index(d.Apps)
	recorded.names, recorded.of = index(o.Records)
	actions, concerned, _ := w.inParts(desired, recorded)
	return actions, concerned
}

// kept is objects in the order of their names.
type kept[V any] struct {
	names []string
	of    []V
}

// slice is k's objects from i to j.
func (k kept[V]) slice(i, j int) kept[V] { return kept[V]{k.names[i:j], k.of[i:j]} }

// part is one of the parts a plan is cut into: its names merged, with
// each one's desired application and record, its drivers keys[k:end], and
// then its actions.
type part struct {
	names       []string
	apps        []*DesiredApp
	recs        []*store.Record
	ok          bool // the names merged are what the maps hold, in order
	k, end      int
	actions     []Action
	onlyRunning int
}

// inParts plans the applications named in desired and recorded (both
// sorted, or ok is false) and those only running, and says how many there
// were. Over many applications they are cut into parts planned side by
// side: the planner is bound by memory latency, not arithmetic, and a
// second core waits on its own misses. Each part merges its names; then,
// when every part is in order, each plans its names into its own section
// of the plan. The parts are joined in order: the plan is the one a
// single walk makes. Options.chunk, when set, is how many names a part
// has (tests).
func (w *appWalk) inParts(desired kept[*DesiredApp], recorded kept[*store.Record]) ([]Action, int, bool) {
	longer := desired.names
	if len(recorded.names) > len(longer) {
		longer = recorded.names
	}
	count := 1
	if chunk := w.opts.chunk; chunk > 0 {
		count = max(1, (len(longer)+chunk-1)/chunk)
	} else if procs := runtime.GOMAXPROCS(0); procs > 1 {
		count = max(1, min(len(longer)/minChunk, 4*procs))
	}
	// Part c holds the names from the split name longer[c*len/count] on,
	// and the drivers of the applications from it on.
	type cut struct{ d, r, k int }
	cuts := make([]cut, count+1)
	cuts[count] = cut{len(desired.names), len(recorded.names), len(w.keys)}
	for c := 1; c < count; c++ {
		s, prev := longer[c*len(longer)/count], cuts[c-1]
		cuts[c] = cut{max(prev.d, sort.SearchStrings(desired.names, s)), max(prev.r, sort.SearchStrings(recorded.names, s)),
			max(prev.k, sort.Search(len(w.keys), func(k int) bool { return w.keys[k].app >= s }))}
	}
	parts := make([]part, count)
	each(count, func(c int) {
		from, to := cuts[c], cuts[c+1]
		p := &parts[c]
		p.names, p.apps, p.recs, p.ok = merge(desired.slice(from.d, to.d), recorded.slice(from.r, to.r))
		p.k, p.end = from.k, to.k
	})
	// Each part's names are in order, and after the last part's: all are,
	// and they are the lists merged. (For sorted lists the cuts make it
	// so; this is the check that they were.)
	total, last := 0, ""
	offsets := make([]int, count) // of the parts' sections
	for c, p := range parts {
		if !p.ok || len(p.names) > 0 && total > 0 && p.names[0] <= last {
			return nil, 0, false
		}
		offsets[c] = total
		if len(p.names) > 0 {
			total, last = total+len(p.names), p.names[len(p.names)-1]
		}
	}
	out := make([]Action, total)
	each(count, func(c int) {
		p, off := &parts[c], offsets[c]
		p.actions, p.onlyRunning = w.walk(p.names, p.apps, p.recs, p.k, p.end, out[off:off:off+len(p.names)])
	})
	// A part that planned one action per name filled its own section (an
	// append past it would have left it for a longer array, and the part
	// would have more): when every part did, the sections are the plan.
	// Otherwise the parts are copied together.
	onlyRunning, whole := 0, true
	for _, p := range parts {
		onlyRunning += p.onlyRunning
		whole = whole && len(p.actions) == len(p.names)
	}
	if whole {
		return out, total + onlyRunning, true
	}
	joined := make([]Action, 0, total+onlyRunning)
	for _, p := range parts {
		joined = append(joined, p.actions...)
	}
	return joined, total + onlyRunning, true
}

// each runs f(0) … f(n-1), side by side when n > 1.
func each(n int, f func(int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for c := range n {
		wg.Go(func() { f(c) })
	}
	wg.Wait()
}

// merge merges the applications desired and the records recorded, by
// name, each name with its desired application and record (nil when it
// has none); ok says each is there and the names are in order. It reads
// neither the applications nor the records (a name check here cost a
// plan over 10,000 two cache misses each, most of what the index saves).
func merge(desired kept[*DesiredApp], recorded kept[*store.Record]) ([]string, []*DesiredApp, []*store.Record, bool) {
	n := max(len(desired.names), len(recorded.names))
	names, apps, recs := make([]string, 0, n), make([]*DesiredApp, 0, n), make([]*store.Record, 0, n)
	i, j := 0, 0
	for i < len(desired.names) || j < len(recorded.names) {
		var name string
		var app *DesiredApp
		var rec *store.Record
		isApp := j == len(recorded.names) || i < len(desired.names) && desired.names[i] <= recorded.names[j]
		isRec := i == len(desired.names) || j < len(recorded.names) && recorded.names[j] <= desired.names[i]
		if isApp {
			name, app = desired.names[i], desired.of[i]
			i++
		}
		if isRec {
			name, rec = recorded.names[j], recorded.of[j]
			j++
		}
		if isApp && app == nil || isRec && rec == nil || len(names) > 0 && name <= names[len(names)-1] {
			return nil, nil, nil, false
		}
		names, apps, recs = append(names, name), append(apps, app), append(recs, rec)
	}
	return names, apps, recs, true
}

// walk plans the applications names (apps and recs theirs) and those
// only running whose drivers are among keys[j:end], appending their
// actions to dst; it says how many were only running.
func (w *appWalk) walk(names []string, apps []*DesiredApp, recs []*store.Record, j, end int, dst []Action) ([]Action, int) {
	onlyRunning := 0
	for i, n := range names {
		// Applications only running (neither desired nor recorded) sort
		// before n.
		for j < end && w.keys[j].app < n {
			onlyRunning++
			dst, j = w.app(dst, w.keys[j].app, nil, nil, j)
		}
		dst, j = w.app(dst, n, apps[i], recs[i], j)
	}
	for j < end {
		onlyRunning++
		dst, j = w.app(dst, w.keys[j].app, nil, nil, j)
	}
	return dst, onlyRunning
}

// app plans the application n (app desired, rec recorded), whose drivers
// are keys[j:], appending its actions to dst; it returns the index of the
// next application's first driver.
func (w *appWalk) app(dst []Action, n string, app *DesiredApp, rec *store.Record, j int) ([]Action, int) {
	k := j
	for k < len(w.keys) && w.keys[k].app == n {
		k++
	}
	if w.claimed[n] && app == nil {
		return dst, k
	}
	p := planner{d: w.d, o: w.o, now: w.now, opts: w.opts, name: n, app: app, rec: rec, live: w.liveOf(j, k), dst: dst}
	first := len(dst)
	dst = p.plan()
	if app == nil {
		app = w.runApps[n]
	}
	if app != nil && app.UsesShuffle {
		for i := first; i < len(dst); i++ {
			dst[i].Reason += shuffleNoteOf(dst[i], app, w.o, w.up)
		}
	}
	return dst, k
}

// liveOf is the drivers of keys[j:k], in order. One driver (what nearly
// every running application has) is the observation's own, not a copy.
func (w *appWalk) liveOf(j, k int) []Driver {
	switch k - j {
	case 0:
		return nil
	case 1:
		i := w.keys[j].i
		return w.o.Live[i : i+1 : i+1]
	}
	out := make([]Driver, 0, k-j)
	for _, key := range w.keys[j:k] {
		out = append(out, w.o.Live[key.i])
	}
	return out
}

// liveInOrder says Live is the slice observe put in plan order, not one a
// caller put in its place (o is read only).
func (o *Observed) liveInOrder() bool {
	return len(o.inOrder) == len(o.Live) && (len(o.Live) == 0 || &o.inOrder[0] == &o.Live[0])
}

func compareLive(x, y liveKey) int {
	if c := strings.Compare(x.app, y.app); c != 0 {
		return c
	}
	return strings.Compare(x.sub, y.sub)
}

type planner struct {
	d    *Desired
	o    *Observed
	now  time.Time
	opts Options
	name string
	app  *DesiredApp
	rec  *store.Record
	live []Driver
	// dst is the plan so far: the planner appends its actions to it.
	dst []Action
}

func (p *planner) act(t ActionType, phase, reason string) Action {
	a := Action{Type: t, App: p.name, Phase: phase, Reason: reason}
	if p.app != nil {
		a.SpecHash = p.app.Rendered.SpecHash
	}
	return a
}

// runsCurrent is the reason of a driver that runs the current spec: the
// record's status message when it says so already, so that a steady pass
// makes no new string for every running application.
func (p *planner) runsCurrent(id string) string {
	const pre, post = "driver ", " runs the current spec"
	if p.rec != nil {
		if m := p.rec.Status.Message; len(m) == len(pre)+len(id)+len(post) && strings.HasPrefix(m, pre) && strings.HasSuffix(m, post) && m[len(pre):len(pre)+len(id)] == id {
			return m
		}
	}
	return pre + id + post
}

func (p *planner) recorded(id string) bool {
	if p.rec == nil {
		return false
	}
	for _, s := range p.rec.Submissions {
		if s.ID == id {
			return true
		}
	}
	return false
}

func (p *planner) plan() []Action {
	if p.app == nil {
		return p.planUndesired()
	}
	out := p.dst
	first := len(out)
	hash := p.app.Rendered.SpecHash
	if p.app.Schedule != "" {
		// A run keeps the spec it started with: a change of the template
		// is for the next run.
		if l := p.latest(); l != nil {
			hash = l.SpecHash
		}
	}

	// A submission whose result was never recorded (a crash between the
	// dispatcher's answer and our record): find its driver, or wait.
	if p.rec != nil && p.rec.Intent != nil && (p.rec.Intent.Action == string(ActionSubmit) || p.rec.Intent.Action == string(ActionRestart) || p.rec.Intent.Action == string(ActionResubmit)) {
		for _, dr := range p.live {
			if !p.recorded(dr.SubmissionID) && (dr.Intent == p.rec.Intent.ID || dr.SpecHash == p.rec.Intent.SpecHash) {
				dr := dr
				a := p.act(ActionAdopt, PhaseRunning, fmt.Sprintf("driver %s of a submission whose result was not recorded (intent %s) found by its labels", dr.SubmissionID, p.rec.Intent.ID))
				a.Adopt = &dr
				return append(out, a)
			}
		}
		// A short driver may have run and ended before this pass: found
		// by its intent label among the ended (the master keeps them).
		if dr := p.endedOfIntent(p.rec.Intent.ID); dr != nil {
			a := p.act(ActionAdopt, PhaseSubmitted, fmt.Sprintf("driver %s of a submission whose result was not recorded (intent %s) found ended (%s) by its labels", dr.SubmissionID, p.rec.Intent.ID, dr.State))
			a.Adopt = dr
			return append(out, a)
		}
		if since := p.now.Sub(p.rec.Intent.CreatedAt); since < p.opts.InDoubt {
			return append(out, p.act(ActionHold, PhaseHeld, fmt.Sprintf("a submission started %s ago was not recorded: waiting %s for its driver to appear before submitting again",
				since.Round(time.Second), (p.opts.InDoubt-since).Round(time.Second))))
		}
		// In doubt for too long: no driver appeared. Submit again below; a
		// duplicate that appears later is killed as one.
	}

	if p.app.Stopped != "" {
		return p.stopped(out)
	}

	// A rerun was asked for since the latest submission: run again now.
	if latest := p.latest(); p.rec != nil && !p.rec.RerunRequested.IsZero() && (latest == nil || p.rec.RerunRequested.After(latest.SubmittedAt)) {
		why := "run-now requested at " + p.rec.RerunRequested.UTC().Format(time.RFC3339) + p.rec.RerunOverrides.Describe()
		var kill []string
		for _, dr := range p.live {
			kill = append(kill, dr.SubmissionID)
		}
		if latest != nil {
			if state, _ := p.stateOf(latest); state == dispatcher.StateQueued || state == dispatcher.StateRetrying {
				kill = append(kill, latest.ID)
			}
		}
		t := ActionSubmit
		if len(kill) > 0 {
			t = ActionResubmit
		}
		a := p.submit(t, PhaseSubmitted, why, 1)
		a.Kill = kill
		a.Trigger = TriggerRunNow
		if a.Type != ActionBlocked {
			a.Overrides = p.rec.RerunOverrides
		}
		return append(out, a)
	}

	// Several drivers for one application: keep one, kill the others.
	if len(p.live) > 1 {
		keep := p.pickDriver(hash)
		var kill []string
		for _, dr := range p.live {
			if dr.SubmissionID != keep.SubmissionID {
				kill = append(kill, dr.SubmissionID)
			}
		}
		a := p.act(ActionKill, PhaseRunning, fmt.Sprintf("%d drivers run for one application: keeping %s", len(p.live), keep.SubmissionID))
		a.Kill = kill
		out = append(out, a)
		p.live = []Driver{keep}
	}
	if len(p.live) == 1 {
		dr := &p.live[0] // not copied: a Driver is 184 bytes, and this is every running application
		if !p.recorded(dr.SubmissionID) {
			a := p.act(ActionAdopt, PhaseRunning, fmt.Sprintf("driver %s runs with our labels but is not recorded: adopting it", dr.SubmissionID))
			a.Adopt = dr // the observation's, read only, as for an ended driver
			out = append(out, a)
		}
		switch {
		case dr.SpecHash == hash:
			if a := p.liveDeadline(dr); a != nil {
				return append(out, *a)
			}
			if why := p.secretChanged(dr.SubmissionID); why != "" {
				if p.app.Spec.ChangePolicy == v1.ChangeNextRun {
					return append(out, p.act(ActionUnchanged, PhaseRunning, why+"; changePolicy NextRun: the next run uses the new value"))
				}
				if blocked := p.infeasible(); blocked != nil {
					return append(out, *blocked)
				}
				a := p.act(ActionResubmit, PhaseSubmitted, why+": killing it and submitting again")
				a.Kill, a.Attempt, a.Trigger = []string{dr.SubmissionID}, 1, TriggerManifest
				return append(out, a)
			}
			switch {
			case len(out) == first:
				a := p.act(ActionUnchanged, PhaseRunning, p.runsCurrent(dr.SubmissionID))
				p.deadlineNote(&a, dr)
				out = append(out, a)
			case len(out) == first+1 && out[first].Type == ActionAdopt:
				// Adopted, and nothing else to do: its status says what the
				// next pass plans, so that pass rewrites no record (at
				// 10,000 adopted, rewriting each raised run's peak RSS
				// from 96 to 122 MB).
				out[first].Reason = p.runsCurrent(dr.SubmissionID)
			}
		case p.app.Spec.ChangePolicy == v1.ChangeNextRun:
			out = append(out, p.act(ActionUnchanged, PhaseRunning, "the spec changed; changePolicy NextRun: the next run uses it"))
		default:
			if blocked := p.infeasible(); blocked != nil {
				return append(out, *blocked)
			}
			a := p.act(ActionResubmit, PhaseSubmitted, fmt.Sprintf("the spec changed (%s -> %s): killing %s and submitting the new spec", short(dr.SpecHash), short(hash), dr.SubmissionID))
			a.Kill = []string{dr.SubmissionID}
			a.Changes = p.changes()
			a.Attempt = 1
			a.Trigger = TriggerManifest
			out = append(out, a)
		}
		return out
	}

	latest := p.latest()
	if latest == nil {
		return append(out, p.submit(ActionSubmit, PhaseSubmitted, "new: never submitted", 1))
	}
	state, taskState := p.stateOf(latest)
	switch state {
	case dispatcher.StateQueued, dispatcher.StateRetrying, dispatcher.StateRunning, "":
		phase := PhaseQueued
		if state == dispatcher.StateRunning {
			phase = PhaseSubmitted
		}
		if latest.SpecHash != hash && p.app.Spec.ChangePolicy != v1.ChangeNextRun {
			a := p.submit(ActionResubmit, PhaseSubmitted, fmt.Sprintf("the spec changed while %s waits in the dispatcher: killing it and submitting the new spec", latest.ID), 1)
			a.Kill = []string{latest.ID}
			a.Changes = p.changes()
			return append(out, a)
		}
		if a := p.queuedDeadline(latest, state); a != nil {
			return append(out, *a)
		}
		if a := p.stuckDispatcher(latest, state); a != nil {
			return append(out, *a)
		}
		a := p.act(ActionUnchanged, phase, fmt.Sprintf("submission %s is %s in the dispatcher", latest.ID, orUnknown(state)))
		if d := duration(p.app.Spec.StartDeadline); d > 0 && state != dispatcher.StateRunning {
			at := latest.SubmittedAt.Add(d)
			a.Reason += fmt.Sprintf("; will be killed at %s by startDeadline %s unless it starts", at.UTC().Format(time.RFC3339), p.app.Spec.StartDeadline)
			a.NotBefore = at
		}
		return append(out, a)
	}

	// The latest submission ended (or the dispatcher forgot it).
	if strings.HasPrefix(latest.Message, stoppedMark) && p.app.Schedule == "" {
		a := p.submit(ActionSubmit, PhaseSubmitted, fmt.Sprintf("resumed: submission %s was killed by suspend", latest.ID), 1)
		a.Trigger = TriggerResume
		return append(out, a)
	}
	if latest.SpecHash != hash {
		return append(out, p.submit(ActionSubmit, PhaseSubmitted, fmt.Sprintf("the spec changed since submission %s ended (%s)", latest.ID, taskState), 1))
	}
	policy := p.app.Spec.RestartPolicy
	reason, message := p.finalStatus(latest)
	seen := *latest
	if st, ok := p.o.Submissions[latest.ID]; ok && seen.DriverState == "" {
		seen.DriverState = driverState(st)
	}
	if deadline := killedFor(p.rec, latest.ID); deadline != "" {
		seen.Class, seen.Reason = ClassDeadline, deadline
	}
	class := Classify(&seen, taskState, reason)
	ended := orNow(latest.FinishedAt, p.now)
	counters := countersOf(p.rec, hash, latest, class, ended, duration(policy.ResetAfter))
	end := DescribeRun(&store.Submission{State: taskState, Reason: reason, TaskMessage: message})
	switch {
	case class == ClassSucceeded && policy.Type == v1.RestartAlways:
		return append(out, p.restart(latest, counters.Consecutive, "the driver finished; restartPolicy Always"))
	case class == ClassSucceeded:
		return append(out, p.act(ActionUnchanged, PhaseSucceeded, fmt.Sprintf("submission %s finished successfully", latest.ID)))
	case strings.HasPrefix(latest.ID, rejectedPrefix):
		// The dispatcher refused the request itself (permanently): sending
		// the same spec again cannot succeed, whatever the restart policy.
		return append(out, p.act(ActionUnchanged, PhaseFailed, fmt.Sprintf("the dispatcher rejected this spec: %s; change the spec, or rerun %s", latest.Message, p.name)))
	case class == ClassUnknown && policy.Type != v1.RestartAlways:
		// It may have succeeded: a batch run is never repeated on a guess.
		return append(out, p.act(ActionUnchanged, PhaseFailed, fmt.Sprintf("submission %s ran, then Mesos and the dispatcher both forgot it: "+
			"its outcome is unknown, so it is not run again (restartPolicy %s); rerun %s to run it again", latest.ID, orDefault(policy.Type, v1.RestartNever), p.name)))
	case class == ClassNeverLaunched && seen.DriverState == DriverFinishedWithoutTask:
		return append(out, p.act(ActionUnchanged, PhaseFailed, fmt.Sprintf("the dispatcher finished submission %s without launching a task (class never-launched): "+
			"Spark could not build its Mesos task (malformed labels, or secrets that do not pair up with their file names or environment keys; the dispatcher's log says which), "+
			"and the same spec fails the same way; change the spec or the dispatcher's driverDefaults, or rerun %s", latest.ID, p.name)))
	case class == ClassKilled:
		// Killed by us, and what was to follow did not happen (a
		// resubmission that failed): submit it again.
		return append(out, p.submit(ActionSubmit, PhaseSubmitted, fmt.Sprintf("submission %s was killed by the reconciler and nothing replaced it", latest.ID), 1))
	case class == ClassDeadline && seen.Reason == ActiveDeadline && policy.Type != v1.RestartAlways:
		return append(out, p.act(ActionUnchanged, PhaseFailed, fmt.Sprintf("submission %s was killed by its activeDeadline %s (class deadline): not restarted; rerun %s to run it again",
			latest.ID, p.app.Spec.ActiveDeadline, p.name)))
	}
	why := fmt.Sprintf("submission %s ended with %s, class %s", latest.ID, end, class)
	if no := restartDecision(policy, class, counters); no != "" {
		return append(out, p.act(ActionUnchanged, PhaseFailed, why+"; "+no))
	}
	return append(out, p.restart(latest, counters.Consecutive, fmt.Sprintf("%s; restartPolicy %s", why, orDefault(policy.Type, v1.RestartNever))))
}

// finalStatus is the reason and message of a run's final status:
// recorded, or as observed this pass.
func (p *planner) finalStatus(s *store.Submission) (reason, message string) {
	if s.Reason != "" || s.TaskMessage != "" {
		return s.Reason, s.TaskMessage
	}
	if dr, ok := p.o.Ended[s.ID]; ok {
		return dr.Reason, dr.Message
	}
	st := p.o.Submissions[s.ID]
	return st.Reason, st.Message
}

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// secretChanged says why the driver of the latest run has an old secret:
// the keyed digest of the secrets' values differs from the one it was
// submitted with ("" when they agree or either is unknown).
func (p *planner) secretChanged(submission string) string {
	latest := p.latest()
	if p.app.SecretDigest == "" || p.rec == nil || p.rec.SecretDigest == "" || p.rec.SecretDigest == p.app.SecretDigest ||
		latest == nil || latest.ID != submission {
		return ""
	}
	var sources []string
	for _, s := range p.app.Rendered.Secrets {
		sources = append(sources, s.Source)
	}
	return fmt.Sprintf("a secret's value changed since driver %s was submitted (secrets from %s)", submission, strings.Join(sources, ", "))
}

// liveDeadline kills a live driver of the latest run past a deadline:
// startDeadline while it is not yet running, activeDeadline after.
func (p *planner) liveDeadline(dr *Driver) *Action {
	latest := p.latest()
	if latest == nil || latest.ID != dr.SubmissionID {
		return nil // not recorded yet (adopted this pass): no deadline yet
	}
	spec := &p.app.Spec
	if d := duration(spec.StartDeadline); d > 0 && dr.State != "TASK_RUNNING" && !p.now.Before(latest.SubmittedAt.Add(d)) {
		a := p.act(ActionKill, PhaseFailed, fmt.Sprintf("driver %s is still %s %s after its submission: startDeadline %s passed, killing it",
			dr.SubmissionID, dr.State, p.now.Sub(latest.SubmittedAt).Round(time.Second), spec.StartDeadline))
		a.Kill, a.Deadline = []string{dr.SubmissionID}, StartDeadline
		return &a
	}
	if d := duration(spec.ActiveDeadline); d > 0 && !p.now.Before(latest.SubmittedAt.Add(d)) {
		a := p.act(ActionKill, PhaseFailed, fmt.Sprintf("driver %s has run %s since its submission: activeDeadline %s passed, killing it",
			dr.SubmissionID, p.now.Sub(latest.SubmittedAt).Round(time.Second), spec.ActiveDeadline))
		a.Kill, a.Deadline = []string{dr.SubmissionID}, ActiveDeadline
		return &a
	}
	return nil
}

// deadlineNote says when a deadline will kill a live driver, and wakes
// the loop then.
func (p *planner) deadlineNote(a *Action, dr *Driver) {
	latest := p.latest()
	if latest == nil || latest.ID != dr.SubmissionID {
		return
	}
	spec := &p.app.Spec
	note := func(name string, d *v1.Duration) {
		at := latest.SubmittedAt.Add(duration(d))
		a.Reason += fmt.Sprintf("; will be killed at %s by %s %s", at.UTC().Format(time.RFC3339), name, d)
		if a.NotBefore.IsZero() || at.Before(a.NotBefore) {
			a.NotBefore = at
		}
	}
	if spec.StartDeadline != nil && dr.State != "TASK_RUNNING" {
		note(StartDeadline, spec.StartDeadline)
	}
	if spec.ActiveDeadline != nil {
		note(ActiveDeadline, spec.ActiveDeadline)
	}
}

// queuedDeadline kills a submission the dispatcher still holds past its
// startDeadline, saying why no offer fitted.
func (p *planner) queuedDeadline(latest *store.Submission, state string) *Action {
	d := duration(p.app.Spec.StartDeadline)
	if d == 0 || state == dispatcher.StateRunning || p.now.Before(latest.SubmittedAt.Add(d)) {
		return nil
	}
	a := p.act(ActionKill, PhaseFailed, fmt.Sprintf("queued for %s in the dispatcher (%s), past its startDeadline %s: %s; killing it",
		p.now.Sub(latest.SubmittedAt).Round(time.Second), orUnknown(state), p.app.Spec.StartDeadline, p.whyQueued()))
	a.Kill, a.Deadline = []string{latest.ID}, StartDeadline
	return &a
}

// stuckDispatcher reports a dispatcher that stopped launching: our
// submission has sat queued longer than StuckAfter while an agent had room
// for its driver. (An exception in Spark's offer callback — a malformed
// driver constraint of anyone's submission — aborts its scheduler driver:
// it keeps answering 200 and launches nothing until restarted.)
func (p *planner) stuckDispatcher(latest *store.Submission, state string) *Action {
	if state != dispatcher.StateQueued || p.now.Sub(latest.SubmittedAt) < p.opts.StuckAfter {
		return nil
	}
	room := p.roomFor()
	if room == "" {
		return nil // waiting for capacity: not the dispatcher's fault
	}
	name := p.app.Spec.Dispatcher
	if name == "" {
		name = p.app.Rendered.DispatcherURL
	}
	a := p.act(ActionBlocked, PhaseQueued, fmt.Sprintf("the dispatcher %q looks stuck: submission %s has been queued since %s (over %s) although %s; "+
		"a Spark dispatcher stops launching every driver after an exception in its offer callback (such as anyone's malformed driver constraint): "+
		"read its log, kill the culprit, restart it", name, latest.ID, latest.SubmittedAt.UTC().Format(time.RFC3339), p.opts.StuckAfter, room))
	a.StuckDispatcher = name
	return &a
}

// roomFor names an agent that has room for the driver now, "" when none.
func (p *planner) roomFor() string {
	eff := p.app.Rendered.Effective
	cpus, mem := eff.Driver.Cores, float64(eff.Driver.TaskMemMiB)
	for i := range p.o.Agents {
		ag := &p.o.Agents[i]
		if matches(p.app.Spec.DriverConstraints, *ag) && ag.CPUs-ag.UsedCPUs >= cpus && ag.MemMiB-ag.UsedMemMiB >= mem {
			return fmt.Sprintf("agent %s has %s cpus and %s MiB free for its %s cpus and %s MiB", orDefault(ag.Hostname, ag.ID),
				fmtNum(ag.CPUs-ag.UsedCPUs), fmtNum(ag.MemMiB-ag.UsedMemMiB), fmtNum(cpus), fmtNum(mem))
		}
	}
	return ""
}

// StuckDispatchers are the dispatchers the plan found stuck, with the
// number of our submissions queued at each.
func (p Plan) StuckDispatchers() map[string]int {
	var out map[string]int
	for _, a := range p.Actions {
		if a.StuckDispatcher != "" {
			if out == nil {
				out = map[string]int{}
			}
			out[a.StuckDispatcher]++
		}
	}
	return out
}

// whyQueued says why no offer fits the driver: the agents' unallocated
// resources against what it needs.
func (p *planner) whyQueued() string {
	eff := p.app.Rendered.Effective
	cpus, mem := eff.Driver.Cores, float64(eff.Driver.TaskMemMiB)
	role := ""
	if r := p.app.Rendered.Request.SparkProperties["spark.mesos.role"]; r != "" {
		role = " on role " + r
	}
	if room := p.roomFor(); room != "" {
		return room + role + ", yet the dispatcher has not launched it (is the dispatcher stuck, or its role's quota spent?)"
	}
	var best *Agent
	bestCPUs := -1.0
	for i := range p.o.Agents {
		ag := &p.o.Agents[i]
		if free := ag.CPUs - ag.UsedCPUs; matches(p.app.Spec.DriverConstraints, *ag) && free > bestCPUs {
			best, bestCPUs = ag, free
		}
	}
	if best == nil {
		return fmt.Sprintf("no agent matches the driver constraints %q", p.app.Spec.DriverConstraints.String())
	}
	return fmt.Sprintf("no offer fits %s cpus and %s MiB%s (the most free: %s cpus, %s MiB on %s)",
		fmtNum(cpus), fmtNum(mem), role, fmtNum(bestCPUs), fmtNum(best.MemMiB-best.UsedMemMiB), orDefault(best.Hostname, best.ID))
}

// endedOfIntent is the ended driver of this application labelled with the
// intent, if the master still lists it.
func (p *planner) endedOfIntent(intent string) *Driver {
	for _, dr := range p.o.Ended {
		if dr.App == p.name && dr.Intent == intent && !p.recorded(dr.SubmissionID) {
			return &dr
		}
	}
	return nil
}

// stoppedMark starts the message of a submission killed because its
// application was stopped (suspended, a replaced run).
const stoppedMark = "stopped: "

// stopped plans an application that must not run: kill its driver (and a
// submission waiting in the dispatcher), submit nothing.
func (p *planner) stopped(out []Action) []Action {
	phase := PhaseStopped
	if p.app.Schedule == "" {
		phase = PhaseSuspended
	}
	var kill []string
	for _, dr := range p.live {
		if !slices.Contains(kill, dr.SubmissionID) {
			kill = append(kill, dr.SubmissionID)
		}
	}
	if latest := p.latest(); latest != nil {
		if state, _ := p.stateOf(latest); state == dispatcher.StateQueued || state == dispatcher.StateRetrying {
			kill = append(kill, latest.ID)
		}
	}
	if len(kill) == 0 {
		return append(out, p.act(ActionUnchanged, phase, p.app.Stopped))
	}
	a := p.act(ActionKill, phase, p.app.Stopped+": killing its driver")
	a.Kill = kill
	return append(out, a)
}

// planUndesired handles an application we own that the manifests no longer
// describe.
func (p *planner) planUndesired() []Action {
	origin := ""
	if p.rec != nil {
		origin = p.rec.Origin
	}
	if p.d.Holds(origin) {
		return append(p.dst, p.act(ActionHold, PhaseHeld, heldReason(origin)))
	}
	var kill []string
	for _, dr := range p.live {
		kill = append(kill, dr.SubmissionID)
	}
	if latest := p.latest(); latest != nil {
		if state, _ := p.stateOf(latest); state == dispatcher.StateQueued || state == dispatcher.StateRetrying {
			kill = append(kill, latest.ID)
		}
	}
	if !p.opts.Prune {
		if len(kill) == 0 && p.rec == nil {
			return p.dst
		}
		orphaned := p.act(ActionUnchanged, PhaseOrphaned, "no longer in the manifests; apply with --prune to remove it")
		if len(p.live) > 1 {
			// Left in place, but not twice: a duplicate is never kept.
			keep := p.pickDriver("")
			a := p.act(ActionKill, PhaseOrphaned, fmt.Sprintf("%d drivers run for one application: keeping %s", len(p.live), keep.SubmissionID))
			for _, dr := range p.live {
				if dr.SubmissionID != keep.SubmissionID {
					a.Kill = append(a.Kill, dr.SubmissionID)
				}
			}
			return append(p.dst, a, orphaned)
		}
		return append(p.dst, orphaned)
	}
	a := p.act(ActionPrune, "", "no longer in the manifests")
	a.Kill = kill
	return append(p.dst, a)
}

// pickDriver chooses the driver to keep among several: the recorded latest,
// else the newest running the desired spec, else the newest.
func (p *planner) pickDriver(hash string) Driver {
	if latest := p.latest(); latest != nil {
		for _, dr := range p.live {
			if dr.SubmissionID == latest.ID {
				return dr
			}
		}
	}
	for i := len(p.live) - 1; i >= 0; i-- {
		if p.live[i].SpecHash == hash {
			return p.live[i]
		}
	}
	return p.live[len(p.live)-1]
}

// latest is the record's latest run: read only (the plan does not
// modify its inputs).
func (p *planner) latest() *store.Submission {
	if p.rec == nil || len(p.rec.Submissions) == 0 {
		return nil
	}
	return &p.rec.Submissions[len(p.rec.Submissions)-1]
}

// stateOf says where a recorded submission stands: the dispatcher's driver
// state, and for an ended one the Mesos task state. A driver the dispatcher
// no longer knows and Mesos no longer runs is taken as lost.
func (p *planner) stateOf(s *store.Submission) (string, string) {
	if dr, ok := p.o.Ended[s.ID]; ok {
		return dispatcher.StateFinished, dr.State
	}
	if isTerminalTask(s.State) {
		return dispatcher.StateFinished, s.State
	}
	st, ok := p.o.Submissions[s.ID]
	switch {
	case !ok:
		return "", ""
	case st.DriverState == dispatcher.StateFinished:
		return dispatcher.StateFinished, orDefault(st.TaskState, "TASK_LOST")
	case st.DriverState == dispatcher.StateNotFound:
		return dispatcher.StateFinished, forgottenEnd(s)
	}
	return st.DriverState, ""
}

// rejectedPrefix marks a recorded submission the dispatcher refused
// permanently (no driver exists): rejected-<intent id>.
const rejectedPrefix = "rejected-"

// unresolvedPrefix marks a recorded submission that never left: a secret
// could not be read (unresolved-<intent id>).
const unresolvedPrefix = "unresolved-"

// TaskUnknown is the end of a submission that ran and was then forgotten
// by both Mesos (a master keeps the last 1,000 completed tasks of a
// framework, none across a failover) and the dispatcher (it keeps
// spark.mesos.retainedDrivers): it may have succeeded or failed. Mesos
// uses the same name for a task it has no knowledge of.
const TaskUnknown = "TASK_UNKNOWN"

// forgottenEnd is how a submission the dispatcher answers NOT_FOUND for
// (and Mesos no longer lists) ended: lost if it was never seen launched (a
// dispatcher that restarted without recovery forgot its queue), unknown if
// it was seen running.
func forgottenEnd(s *store.Submission) string {
	switch s.State {
	case "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING":
		return TaskUnknown
	}
	return "TASK_LOST"
}

func isTerminalTask(s string) bool {
	switch s {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR", TaskUnknown:
		return true
	}
	return false
}

// restart plans a restart after the backoff: initial * 2^(failures-1),
// capped, with up to 20% jitter derived from the application and attempt.
func (p *planner) restart(latest *store.Submission, failures int, why string) Action {
	ended := latest.FinishedAt
	if ended.IsZero() {
		ended = p.now // first seen ended now; the executor records it
	}
	delay := Backoff(p.app.Spec.RestartPolicy.Backoff, p.name, max(failures, 1))
	at := ended.Add(delay)
	if at.After(p.now) {
		a := p.act(ActionUnchanged, phaseAfter(latest), fmt.Sprintf("%s: restarting in %s (attempt %d)", why, at.Sub(p.now).Round(time.Second), failures+1))
		a.NotBefore = at
		return a
	}
	a := p.submit(ActionRestart, PhaseSubmitted, fmt.Sprintf("%s (attempt %d)", why, failures+1), failures+1)
	a.Trigger = TriggerRestart
	return a
}

func phaseAfter(s *store.Submission) string {
	if s.State == "TASK_FINISHED" {
		return PhaseSucceeded
	}
	return PhaseFailed
}

// Backoff is the delay before restart attempt n (1-based) of an application.
func Backoff(b *v1.Backoff, app string, attempt int) time.Duration {
	initial, maxDelay := v1.DefaultBackoffInitial, v1.DefaultBackoffMax
	if b != nil && b.Initial != nil {
		initial = time.Duration(b.Initial.Micros) * time.Microsecond
	}
	if b != nil && b.Max != nil {
		maxDelay = time.Duration(b.Max.Micros) * time.Microsecond
	}
	return backoff(initial, maxDelay, app, attempt)
}

// backoff is the one capped exponential backoff of applications and
// services: initial doubled per attempt (1-based), with up to 20% jitter
// derived from key and attempt (so a plan stays a pure function, and
// objects failing together do not retry in step), never above maxDelay.
func backoff(initial, maxDelay time.Duration, key string, attempt int) time.Duration {
	d := float64(initial) * math.Pow(2, float64(max(attempt, 1)-1))
	if d > float64(maxDelay) {
		d = float64(maxDelay)
	}
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", key, attempt)
	jitter := 1 + 0.2*float64(h.Sum32()%1000)/1000
	return time.Duration(math.Min(d*jitter, float64(maxDelay)))
}

// submit plans a (re)submission if the cluster can ever run it.
func (p *planner) submit(t ActionType, phase, reason string, attempt int) Action {
	if blocked := p.infeasible(); blocked != nil {
		return *blocked
	}
	a := p.act(t, phase, reason)
	a.Attempt = attempt
	a.Overrides = p.app.Overrides
	a.Trigger = TriggerManifest
	if p.app.Schedule != "" && p.latest() == nil {
		a.Trigger = TriggerSchedule
	}
	return a
}

// infeasible reports why no agent could ever run the driver or an executor.
func (p *planner) infeasible() *Action {
	if p.app.Unreachable != "" {
		a := p.act(ActionBlocked, PhaseBlocked, p.app.Unreachable)
		return &a
	}
	if len(p.o.Agents) == 0 {
		a := p.act(ActionBlocked, PhaseBlocked, "no agent is registered with the master")
		return &a
	}
	if why := p.overQuota(); why != "" {
		a := p.act(ActionBlocked, PhaseBlocked, why)
		return &a
	}
	if m := p.app.ManagedDispatcher; m != "" && p.o.ManagedDispatchers[m] == "" {
		a := p.act(ActionBlocked, PhaseBlocked, fmt.Sprintf("the managed dispatcher %q has no running task yet (run's framework launches it)", m))
		return &a
	}
	spec := &p.app.Spec
	eff := p.app.Rendered.Effective
	for _, cs := range []struct {
		field string
		cs    v1.Constraints
	}{{"driver.constraints", spec.DriverConstraints}, {"executor.constraints", spec.ExecutorConstraints}} {
		if why := rangesConstraint(cs.cs, p.o.Agents); why != "" {
			a := p.act(ActionBlocked, PhaseBlocked, cs.field+": "+why)
			return &a
		}
	}
	driverFits, driverMatches := false, false
	execFits, execMatches := false, false
	for _, ag := range p.o.Agents {
		if matches(spec.DriverConstraints, ag) {
			driverMatches = true
			if ag.CPUs >= eff.Driver.Cores && ag.MemMiB >= float64(eff.Driver.TaskMemMiB) {
				driverFits = true
			}
		}
		if matches(spec.ExecutorConstraints, ag) {
			execMatches = true
			if ag.CPUs >= float64(max(eff.Executor.CoresEach, 1)) && ag.MemMiB >= float64(eff.Executor.TaskMemMiB) {
				execFits = true
			}
		}
	}
	var why string
	switch {
	case !driverMatches:
		why = fmt.Sprintf("no agent matches the driver constraints %q", spec.DriverConstraints.String())
	case !driverFits:
		why = fmt.Sprintf("the driver needs %s cpus and %d MiB (heap + overheads); no agent matching its constraints has that much", fmtNum(eff.Driver.Cores), eff.Driver.TaskMemMiB)
	case !execMatches:
		why = fmt.Sprintf("no agent matches the executor constraints %q", spec.ExecutorConstraints.String())
	case !execFits:
		why = fmt.Sprintf("an executor needs %d cpus and %d MiB (heap + overhead); no agent matching the executor constraints has that much", max(eff.Executor.CoresEach, 1), eff.Executor.TaskMemMiB)
	default:
		return nil
	}
	a := p.act(ActionBlocked, PhaseBlocked, why)
	return &a
}

// overQuota says why the app's executors could never get what they ask
// within their role's cpus limit: the limit the manifests set for the role
// if they do, else the master's.
func (p *planner) overQuota() string {
	props := p.app.Rendered.Request.SparkProperties
	role := props["spark.mesos.role"]
	if role == "" {
		return ""
	}
	limits := p.o.Quotas[role].Limits
	for _, r := range p.d.Roles {
		if r.Role == role {
			limits = r.Quota.Limits
		}
	}
	limit, ok := limits["cpus"]
	if !ok {
		return ""
	}
	maxCores, err := strconv.ParseFloat(props["spark.cores.max"], 64)
	switch {
	case err != nil:
		return fmt.Sprintf("spark.cores.max is unset (all the cores offered) and role %q is limited to %s cpus: set executor.maxCores within it", role, fmtWeight(limit))
	case maxCores > limit:
		return fmt.Sprintf("spark.cores.max %s exceeds the cpus limit %s of role %q", fmtWeight(maxCores), fmtWeight(limit), role)
	}
	return ""
}

// matches applies Spark's constraint semantics to an agent
// (MesosSchedulerUtils.matchesAttributeRequirements): presence when no
// value is given; a scalar at least one value; text equal to one value.
// Values against a RANGES attribute never match (see rangesConstraint).
func matches(cs v1.Constraints, ag Agent) bool {
	for _, c := range cs {
		attr, ok := ag.Attributes[c.Attribute]
		if !ok {
			return false
		}
		if len(c.Values) == 0 {
			continue
		}
		if attr.Ranges != "" {
			return false
		}
		found := false
		for _, v := range c.Values {
			if attr.Scalar != nil {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f <= *attr.Scalar {
					found = true
				}
			} else if attr.Text == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// rangesConstraint says why a constraint with values on an attribute the
// agents report as RANGES must not be sent: Spark 3.5 gets the attribute as
// Value.Ranges but matches on Value.Range, so the match throws a
// scala.MatchError — in the dispatcher's offer callback, outside its
// try, which stops it launching any driver (in a driver, its executors
// never launch). Presence alone (slots:, no value) is matched fine.
func rangesConstraint(cs v1.Constraints, agents []Agent) string {
	for _, c := range cs {
		if len(c.Values) == 0 {
			continue
		}
		for _, ag := range agents {
			if a, ok := ag.Attributes[c.Attribute]; ok && a.Ranges != "" {
				return fmt.Sprintf("agent %s reports %q as ranges %s, and Spark cannot match values against a RANGES attribute (a MatchError in MesosSchedulerUtils.matchesAttributeRequirements stops the dispatcher from launching any driver); constrain on its presence (\"%s:\", no value) or on a text or scalar attribute",
					orDefault(ag.Hostname, ag.ID), c.Attribute, a.Ranges, c.Attribute)
			}
		}
	}
	return ""
}

// changes lists the properties that differ from the last submitted ones.
func (p *planner) changes() []Change {
	if p.rec == nil {
		return nil
	}
	old, cur := p.rec.Properties, p.app.Rendered.Request.SparkProperties
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range cur {
		keys[k] = true
	}
	var out []Change
	for k := range keys {
		if k == "spark.mesos.driver.labels" || k == "spark.mesos.task.labels" {
			continue // they differ by the spec hash itself
		}
		if old[k] != cur[k] {
			out = append(out, Change{Key: k, Old: old[k], New: cur[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// PruneRefused says the action is a prune the guard refused.
func (a Action) PruneRefused() bool { return a.Type == ActionBlocked && a.Phase == PhaseOrphaned }

// PruneRefused says the action is a prune the guard refused.
func (a RoleAction) PruneRefused() bool { return a.pruneRefused }

// PruneRefused says the action is a kill of a removed service the guard
// refused.
func (a ServiceAction) PruneRefused() bool { return a.pruneRefused }

// guardPrune refuses every prune of a plan that would remove more than
// half of what we own, or all of it, unless forced: applications, services
// and roles count alike (a mistyped directory must not reset the roles nor
// kill the shuffle services either).
func guardPrune(plan *Plan, owned int) {
	prunes := 0
	for _, a := range plan.Actions {
		if a.Type == ActionPrune {
			prunes++
		}
	}
	for _, a := range plan.Services {
		if a.Type == ActionKill {
			prunes++
		}
	}
	for _, a := range plan.Roles {
		if a.Type == ActionPrune {
			prunes++
		}
	}
	for _, a := range plan.Schedules {
		if a.Type == ActionPrune {
			prunes++
		}
	}
	if prunes == 0 || owned == 0 {
		return
	}
	if prunes*2 <= owned && prunes < owned {
		return
	}
	why := fmt.Sprintf("prune refused: it would remove %d of the %d objects the reconciler owns; use --force if that is intended", prunes, owned)
	for i, a := range plan.Actions {
		if a.Type == ActionPrune {
			plan.Actions[i] = Action{Type: ActionBlocked, App: a.App, Phase: PhaseOrphaned, Reason: why}
		}
	}
	for i, a := range plan.Services {
		if a.Type == ActionKill {
			plan.Services[i].Type, plan.Services[i].Reason, plan.Services[i].Agents = ActionBlocked, why, nil
			plan.Services[i].pruneRefused = true
		}
	}
	for i, a := range plan.Roles {
		if a.Type == ActionPrune {
			plan.Roles[i].Type, plan.Roles[i].Reason, plan.Roles[i].SetQuota = ActionBlocked, why, false
			plan.Roles[i].pruneRefused = true
		}
	}
	for i, a := range plan.Schedules {
		if a.Type == ActionPrune {
			plan.Schedules[i].Type, plan.Schedules[i].Reason, plan.Schedules[i].Phase = ActionBlocked, why, PhaseOrphaned
		}
	}
}

// ownedSchedules counts the schedules desired or recorded.
func ownedSchedules(d *Desired, o *Observed) int {
	n := len(o.ScheduleRecords)
	for _, s := range d.Schedules {
		if o.ScheduleRecords[s.Name()] == nil {
			n++
		}
	}
	return n
}

// App is the desired application of that name: the manifests' or a
// schedule's run.
func (p Plan) App(d *Desired, name string) *DesiredApp {
	if a := d.Apps[name]; a != nil {
		return a
	}
	return p.RunApps[name]
}

// ownedServices counts the services desired or running under our labels.
func ownedServices(d *Desired, o *Observed) int {
	keys := map[string]bool{}
	for _, s := range d.Services {
		keys[s.Key()] = true
	}
	for _, t := range o.ServiceTasks {
		keys[t.Kind+"/"+t.Name] = true
	}
	return len(keys)
}

// ownedRoles counts the roles desired or recorded as ours.
func ownedRoles(d *Desired, o *Observed) int {
	names := map[string]bool{}
	for _, r := range d.Roles {
		names[r.Name] = true
	}
	for n := range o.RoleRecords {
		names[n] = true
	}
	return len(names)
}

func short(h string) string {
	if len(h) > 8 {
		return h[:8]
	}
	return h
}

func orUnknown(s string) string {
	if s == "" {
		return "of unknown state"
	}
	return s
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
