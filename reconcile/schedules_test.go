package reconcile

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/dispatcher"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// schedule loads a ScheduledSparkApplication from a spec snippet (YAML
// under spec:, next to a minimal template).
func schedule(t *testing.T, name, extra string) *DesiredSchedule {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: sparkmesos.io/v1
kind: ScheduledSparkApplication
metadata: {name: %s}
spec:
%s
  template:
    dispatcher: {external: {url: "http://d:7077"}}
    mainClass: a.Main
    mainApplicationFile: https://r/app.jar
    executor: {cores: 1, maxCores: 2}
`, name, extra)
	m, ps := v1.LoadWith([]v1.File{{Name: name + ".yaml", Data: []byte(doc)}}, v1.LoadOptions{ScheduleSeconds: true})
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	d, err := BuildDesired(m, ps, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Schedules[0]
}

// world is a fake cluster, dispatcher and store driven by a fake clock:
// a submitted driver runs for runFor, then ends with outcome.
type world struct {
	t       *testing.T
	now     time.Time
	st      *store.Memory
	d       *Desired
	opts    Options
	drivers []*fakeDriver
	runFor  time.Duration
	outcome string
	creates []string // run names submitted, in order
}

type fakeDriver struct {
	Driver
	labels map[string]string
	ends   time.Time
	final  string
	args   []string
	conf   map[string]string
}

func newWorld(t *testing.T, now time.Time, schedules ...*DesiredSchedule) *world {
	return &world{t: t, now: now, st: store.NewMemory(), d: &Desired{Apps: map[string]*DesiredApp{}, BrokenFiles: map[string]bool{}, Schedules: schedules},
		runFor: time.Hour, outcome: "TASK_FINISHED"}
}

func (w *world) For(string) DispatcherClient  { return w }
func (w *world) SetManaged(map[string]string) {}
func (w *world) Status(_ context.Context, id string) (*dispatcher.Status, error) {
	return &dispatcher.Status{DriverState: dispatcher.StateNotFound}, nil
}

func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, ":"); ok {
			out[strings.ReplaceAll(k, `\`, "")] = v
		}
	}
	return out
}

func (w *world) Create(_ context.Context, req render.CreateSubmissionRequest) (dispatcher.Created, error) {
	l := parseLabels(req.SparkProperties["spark.mesos.driver.labels"])
	id := fmt.Sprintf("driver-%03d", len(w.drivers)+1)
	w.drivers = append(w.drivers, &fakeDriver{Driver: Driver{SubmissionID: id, TaskID: id, App: l[render.LabelName], SpecHash: l[render.LabelSpecHash],
		State: "TASK_RUNNING", Intent: l[render.LabelIntent]},
		labels: l, ends: w.now.Add(w.runFor), final: w.outcome, args: req.AppArgs, conf: req.SparkProperties})
	w.creates = append(w.creates, l[render.LabelName])
	return dispatcher.Created{ID: id}, nil
}

func (w *world) Kill(_ context.Context, id string) (*dispatcher.KillResult, error) {
	for _, dr := range w.drivers {
		if dr.SubmissionID == id && dr.State == "TASK_RUNNING" {
			dr.State = "TASK_KILLED"
		}
	}
	return &dispatcher.KillResult{Killed: true, Message: "Killing running driver"}, nil
}

func (w *world) observe() *Observed {
	o := &Observed{Agents: agents(), Ended: map[string]Driver{}, Submissions: map[string]SubmissionState{}, Records: map[string]*store.Record{}, ScheduleRecords: map[string]*store.Record{}}
	for _, dr := range w.drivers {
		if dr.State == "TASK_RUNNING" && !w.now.Before(dr.ends) {
			dr.State = dr.final
		}
		if s := dr.labels[render.LabelSchedule]; s != "" {
			if o.RunLabels == nil {
				o.RunLabels = map[string]RunLabels{}
			}
			o.RunLabels[dr.SubmissionID] = RunLabels{Schedule: s, Scheduled: dr.labels[render.LabelScheduledTime]}
		}
		if dr.State == "TASK_RUNNING" {
			o.Live = append(o.Live, dr.Driver)
		} else {
			o.Ended[dr.SubmissionID] = dr.Driver
		}
	}
	recs, _ := w.st.List(context.Background(), "")
	for _, r := range recs {
		switch r.Key.Kind {
		case v1.KindSparkApplication:
			o.Records[r.Key.Name] = r
		case v1.KindScheduledSparkApplication:
			o.ScheduleRecords[r.Key.Name] = r
		}
	}
	return o
}

// pass plans and executes once at the world's time.
func (w *world) pass() Plan {
	w.t.Helper()
	o := w.observe()
	plan := Compute(w.d, o, w.now, w.opts)
	e := &Executor{Store: w.st, Dispatchers: w, Lookup: func(v1.ValueSource) (string, error) { return "", nil }, Now: func() time.Time { return w.now }}
	for _, out := range e.Execute(context.Background(), w.d, o, plan) {
		if out.Err != nil {
			w.t.Fatalf("%s %s: %v", out.Type(), out.Target(), out.Err)
		}
	}
	return plan
}

// run advances the clock by step until until, a pass at each step.
func (w *world) run(step time.Duration, until time.Time) {
	for ; !w.now.After(until); w.now = w.now.Add(step) {
		w.pass()
	}
}

func (w *world) state(name string) store.ScheduleState {
	r, err := w.st.Get(context.Background(), store.Key{Kind: v1.KindScheduledSparkApplication, Name: name})
	if err != nil || r.Schedule == nil {
		w.t.Fatalf("schedule record %s: %v", name, err)
	}
	return *r.Schedule
}

func (w *world) skipped(name string) []string {
	var out []string
	for _, k := range w.state(name).Skipped {
		out = append(out, fmt.Sprintf("%s x%d: %s", k.Scheduled.UTC().Format("15:04"), max(k.Count, 1), k.Reason))
	}
	return out
}

func scheduleAction(p Plan, name string) ScheduleAction {
	for _, a := range p.Schedules {
		if a.Name == name {
			return a
		}
	}
	return ScheduleAction{}
}

var h0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// Every concurrency policy against every state of the previous run.
func TestSchedulePoliciesAgainstThePreviousRun(t *testing.T) {
	type want struct{ creates, kills int }
	cases := map[string]map[string]want{
		// previous run: none, running, succeeded, failed
		"Allow":   {"none": {1, 0}, "running": {2, 0}, "succeeded": {2, 0}, "failed": {2, 0}},
		"Forbid":  {"none": {1, 0}, "running": {1, 0}, "succeeded": {2, 0}, "failed": {2, 0}},
		"Replace": {"none": {1, 0}, "running": {2, 1}, "succeeded": {2, 0}, "failed": {2, 0}},
	}
	for policy, prev := range cases {
		for state, wt := range prev {
			t.Run(policy+"/"+state, func(t *testing.T) {
				w := newWorld(t, h0.Add(-time.Minute), schedule(t, "hourly", "  schedule: \"0 * * * *\"\n  concurrencyPolicy: "+policy))
				w.pass() // first seen: nothing due yet
				switch state {
				case "none":
					w.now = h0.Add(time.Hour) // 01:00 is the first due time
					w.d.Schedules[0].Schedule.Spec.SuccessfulRunsHistoryLimit = nil
				case "running":
					w.runFor = 90 * time.Minute
				case "succeeded":
					w.runFor = 10 * time.Minute
				case "failed":
					w.runFor, w.outcome = 10*time.Minute, "TASK_FAILED"
				}
				if state != "none" {
					w.now = h0
					w.pass() // the 00:00 run
					w.now = h0.Add(time.Hour)
				}
				p := w.pass()
				kills := 0
				for _, dr := range w.drivers {
					if dr.State == "TASK_KILLED" {
						kills++
					}
				}
				if len(w.creates) != wt.creates || kills != wt.kills {
					t.Fatalf("creates %v, kills %d; want %d creates, %d kills; plan: %s", w.creates, kills, wt.creates, wt.kills, scheduleAction(p, "hourly").Reason)
				}
				if policy == "Forbid" && state == "running" && !strings.Contains(scheduleAction(p, "hourly").Reason, "waits for run hourly-20261201t0000z to end") {
					t.Fatalf("a waiting time says why: %s", scheduleAction(p, "hourly").Reason)
				}
			})
		}
	}
}

// Forbid: the time waiting for a long run is skipped, saying why, when a
// newer time comes due; the newest starts once the long run ends.
func TestScheduleForbidSkipsWhileALongRunIsActive(t *testing.T) {
	w := newWorld(t, h0.Add(-time.Minute), schedule(t, "hourly", "  schedule: \"0 * * * *\""))
	w.runFor = 150 * time.Minute
	w.run(5*time.Minute, h0.Add(4*time.Hour))
	// 01:00 waited, then was skipped at 02:00; 02:00 waited, then started
	// when the long run ended at 02:30.
	if want := []string{"hourly-20261201t0000z", "hourly-20261201t0200z"}; !slices.Equal(w.creates, want) {
		t.Fatalf("runs %v, want %v", w.creates, want)
	}
	if got := w.skipped("hourly"); len(got) != 1 || !strings.HasPrefix(got[0], "01:00 x1: concurrencyPolicy Forbid: run hourly-20261201t0000z was still active") {
		t.Fatalf("skipped %q", got)
	}
}

// Missed times across a downtime, with each catch-up rule and with a
// starting deadline.
func TestScheduleCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		want        []string
		skipped     []string
	}{
		{"latest", "", []string{"hourly-20261201t0500z"}, []string{"01:00 x4: missed (the reconciler was not running): catchUp Latest runs only the newest"}},
		{"all", "  catchUp: All\n  concurrencyPolicy: Allow", []string{"hourly-20261201t0100z", "hourly-20261201t0200z", "hourly-20261201t0300z", "hourly-20261201t0400z", "hourly-20261201t0500z"}, nil},
		{"latest past its deadline", "  startingDeadline: 10min", nil, []string{"01:00 x4: missed (the reconciler was not running): catchUp Latest runs only the newest", "05:00 x1: not started within its startingDeadline 10min"}},
		{"latest within its deadline", "  startingDeadline: 30min", []string{"hourly-20261201t0500z"}, []string{"01:00 x4: missed (the reconciler was not running): catchUp Latest runs only the newest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, h0.Add(30*time.Minute), schedule(t, "hourly", "  schedule: \"0 * * * *\"\n"+tc.extra))
			w.runFor = time.Minute
			w.pass()
			w.now = h0.Add(5*time.Hour + 20*time.Minute) // down from 00:30 to 05:20
			w.pass()
			if !slices.Equal(w.creates, tc.want) {
				t.Fatalf("runs %v, want %v", w.creates, tc.want)
			}
			if got := w.skipped("hourly"); !slices.Equal(got, tc.skipped) {
				t.Fatalf("skipped %q, want %q", got, tc.skipped)
			}
			w.pass()
			if len(w.creates) != len(tc.want) {
				t.Fatalf("a second pass started more runs: %v", w.creates)
			}
		})
	}
}

// Forbid with catchUp All runs the missed times one after another.
func TestScheduleForbidCatchUpAllRunsInOrder(t *testing.T) {
	w := newWorld(t, h0.Add(30*time.Minute), schedule(t, "hourly", "  schedule: \"0 * * * *\"\n  catchUp: All"))
	w.runFor = 10 * time.Minute
	w.pass()
	w.now = h0.Add(3*time.Hour + 30*time.Minute)
	w.run(time.Minute, h0.Add(4*time.Hour+30*time.Minute))
	want := []string{"hourly-20261201t0100z", "hourly-20261201t0200z", "hourly-20261201t0300z", "hourly-20261201t0400z"}
	if !slices.Equal(w.creates, want) {
		t.Fatalf("runs %v, want %v", w.creates, want)
	}
}

// A spring-forward night in Europe/Berlin runs 02:30 once, at 03:00 CEST;
// a fall-back night runs it once.
func TestScheduleAcrossDST(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ny, _ := time.LoadLocation("America/New_York")
	for _, tc := range []struct {
		name, tz, at string
		from, till   time.Time
		want         []string
	}{
		{"Berlin spring forward", "Europe/Berlin", "30 2", time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), time.Date(2026, 3, 30, 12, 0, 0, 0, berlin), []string{"nightly-20260329t0100z", "nightly-20260330t0030z"}},
		{"Berlin fall back", "Europe/Berlin", "30 2", time.Date(2026, 10, 24, 12, 0, 0, 0, berlin), time.Date(2026, 10, 26, 12, 0, 0, 0, berlin), []string{"nightly-20261025t0030z", "nightly-20261026t0130z"}},
		{"New York spring forward", "America/New_York", "30 2", time.Date(2026, 3, 7, 12, 0, 0, 0, ny), time.Date(2026, 3, 9, 12, 0, 0, 0, ny), []string{"nightly-20260308t0700z", "nightly-20260309t0630z"}},
		{"New York fall back", "America/New_York", "30 1", time.Date(2026, 10, 31, 12, 0, 0, 0, ny), time.Date(2026, 11, 2, 12, 0, 0, 0, ny), []string{"nightly-20261101t0530z", "nightly-20261102t0630z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.from, schedule(t, "nightly", fmt.Sprintf("  schedule: \"%s * * *\"\n  timeZone: %s", tc.at, tc.tz)))
			w.runFor = 5 * time.Minute
			w.run(5*time.Minute, tc.till)
			if !slices.Equal(w.creates, tc.want) {
				t.Fatalf("runs %v, want %v", w.creates, tc.want)
			}
		})
	}
}

// Suspend skips the times that come due (the running run goes on);
// suspend: kill kills it too; removing suspend resumes with the next time.
func TestScheduleSuspendAndResume(t *testing.T) {
	ds, w := longRunAtMidnight(t)
	ds.Schedule.Spec.Suspend = v1.SuspendNew
	w.now = h0.Add(time.Hour)
	p := w.pass()
	if a := scheduleAction(p, "hourly"); a.Phase != PhaseSuspended || len(w.creates) != 1 || w.drivers[0].State != "TASK_RUNNING" {
		t.Fatalf("suspended: phase %s, runs %v, driver %s", a.Phase, w.creates, w.drivers[0].State)
	}
	ds.Schedule.Spec.Suspend = v1.SuspendKill
	w.now = h0.Add(61 * time.Minute)
	w.pass()
	if w.drivers[0].State != "TASK_KILLED" {
		t.Fatalf("suspend: kill leaves the run %s", w.drivers[0].State)
	}
	w.pass()
	if got := w.state("hourly").Runs[0].Stopped; got != "the schedule is suspended (suspend: kill)" {
		t.Fatalf("the run is recorded as stopped: %q", got)
	}
	ds.Schedule.Spec.Suspend = v1.SuspendNone
	w.now = h0.Add(90 * time.Minute)
	w.pass()
	if len(w.creates) != 1 {
		t.Fatalf("resuming runs nothing until the next time: %v", w.creates)
	}
	w.now = h0.Add(2 * time.Hour)
	w.pass()
	if want := []string{"hourly-20261201t0000z", "hourly-20261201t0200z"}; !slices.Equal(w.creates, want) {
		t.Fatalf("runs %v, want %v", w.creates, want)
	}
	if got := w.skipped("hourly"); len(got) != 1 || got[0] != "01:00 x1: the schedule is suspended" {
		t.Fatalf("skipped %q", got)
	}
}

// Ended runs beyond the history limits are forgotten, records included.
func TestScheduleHistoryLimits(t *testing.T) {
	ds := schedule(t, "hourly", "  schedule: \"0 * * * *\"\n  successfulRunsHistoryLimit: 2\n  failedRunsHistoryLimit: 1")
	w := newWorld(t, h0.Add(-time.Minute), ds)
	w.runFor = 5 * time.Minute
	for i := range 6 {
		if i >= 4 {
			w.outcome = "TASK_FAILED"
		}
		w.run(10*time.Minute, h0.Add(time.Duration(i)*time.Hour+30*time.Minute))
	}
	w.pass()
	var kept []string
	for _, r := range w.state("hourly").Runs {
		kept = append(kept, r.Name)
	}
	if want := []string{"hourly-20261201t0200z", "hourly-20261201t0300z", "hourly-20261201t0500z"}; !slices.Equal(kept, want) {
		t.Fatalf("runs kept %v, want %v", kept, want)
	}
	recs, _ := w.st.List(context.Background(), v1.KindSparkApplication)
	if len(recs) != 3 {
		t.Fatalf("%d run records, want 3", len(recs))
	}
}

// run-now: Forbid refuses it while a run is active, naming the run;
// --force starts it, with its overrides; both are recorded.
func TestScheduleRunNow(t *testing.T) {
	_, w := longRunAtMidnight(t)
	request := func(id string, force bool) {
		r, _ := w.st.Get(context.Background(), store.Key{Kind: v1.KindScheduledSparkApplication, Name: "hourly"})
		r.Schedule.Pending = append(r.Schedule.Pending, store.RunRequest{ID: id, At: w.now, Force: force, Overrides: &store.Overrides{Args: []string{"--day", "2026-11-30"}}})
		if _, err := w.st.Put(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	w.now = h0.Add(10 * time.Minute)
	request("r1", false)
	p := w.pass()
	if a := scheduleAction(p, "hourly"); a.Type != ActionBlocked || len(w.creates) != 1 {
		t.Fatalf("Forbid: %s %s; runs %v", a.Type, a.Reason, w.creates)
	}
	if d := w.state("hourly").Decided; len(d) != 1 || !strings.Contains(d[0].Outcome, "run hourly-20261201t0000z is active") {
		t.Fatalf("decided %+v", d)
	}
	w.now = h0.Add(11 * time.Minute)
	request("r2", true)
	w.pass()
	if want := []string{"hourly-20261201t0000z", "hourly-m20261201t001100z"}; !slices.Equal(w.creates, want) {
		t.Fatalf("runs %v, want %v", w.creates, want)
	}
	if got := w.drivers[1].args; !slices.Equal(got, []string{"--day", "2026-11-30"}) {
		t.Fatalf("the run-now's arguments: %v", got)
	}
	w.pass()
	if len(w.creates) != 2 || len(w.state("hourly").Pending) != 0 {
		t.Fatalf("a request runs once: %v", w.creates)
	}
}

// A lost store: the running run is found by its labels and adopted; its
// time gets no second run, and the next time runs as usual.
func TestScheduleAdoptsItsRunsAfterALostStore(t *testing.T) {
	w := newWorld(t, h0.Add(-time.Minute), schedule(t, "hourly", "  schedule: \"0 * * * *\""))
	w.runFor = 30 * time.Minute
	w.pass()
	w.now = h0
	w.pass()
	w.st = store.NewMemory()
	w.now = h0.Add(5 * time.Minute)
	w.pass()
	w.pass()
	if len(w.creates) != 1 {
		t.Fatalf("runs %v", w.creates)
	}
	if st := w.state("hourly"); len(st.Runs) != 1 || st.Runs[0].Name != "hourly-20261201t0000z" {
		t.Fatalf("runs recorded %+v", st.Runs)
	}
	w.run(5*time.Minute, h0.Add(time.Hour))
	if want := []string{"hourly-20261201t0000z", "hourly-20261201t0100z"}; !slices.Equal(w.creates, want) {
		t.Fatalf("runs %v, want %v", w.creates, want)
	}
}

// A crash at any step of a pass, then passes again: exactly one run per
// scheduled time, over 200 times.
func TestScheduleCrashesNeverDuplicateARun(t *testing.T) {
	ds := schedule(t, "fast", "  schedule: \"*/10 * * * * *\"\n  concurrencyPolicy: Allow\n  catchUp: All\n  successfulRunsHistoryLimit: 100")
	w := newWorld(t, h0, ds)
	w.runFor = 25 * time.Second
	w.pass()
	crashing := &crashStore{Memory: w.st}
	for step := 0; step < 2000; step++ {
		w.now = w.now.Add(time.Second)
		crashing.left = (step*7919)%5 - 1 // fail the Nth write of this pass (or none)
		o := w.observe()
		plan := Compute(w.d, o, w.now, w.opts)
		e := &Executor{Store: crashing, Dispatchers: w, Lookup: func(v1.ValueSource) (string, error) { return "", nil }, Now: func() time.Time { return w.now }}
		e.Execute(context.Background(), w.d, o, plan)
	}
	seen := map[string]int{}
	for _, n := range w.creates {
		seen[n]++
	}
	for n, c := range seen {
		if c > 1 {
			t.Errorf("run %s submitted %d times", n, c)
		}
	}
	if len(seen) < 195 {
		t.Fatalf("%d runs for 200 scheduled times: %v", len(seen), slices.Sorted(maps.Keys(seen))[:5])
	}
}

// crashStore fails every write after left more succeed (left < 0: none
// fails), as a process killed mid-pass would stop writing.
type crashStore struct {
	*store.Memory
	left int
}

func (c *crashStore) Put(ctx context.Context, r *store.Record) (*store.Record, error) {
	if c.left == 0 {
		return nil, fmt.Errorf("crashed")
	}
	c.left--
	return c.Memory.Put(ctx, r)
}

// suspend on a SparkApplication kills its driver and keeps its record;
// removing it submits the batch run again.
func TestSuspendAnApplication(t *testing.T) {
	w := newWorld(t, h0)
	pi := app(t, "pi", "")
	w.d.Apps["pi"] = pi
	w.pass()
	if len(w.creates) != 1 {
		t.Fatalf("runs %v", w.creates)
	}
	pi.Stopped = "suspended: remove spec.suspend to resume"
	w.now = w.now.Add(time.Minute)
	p := w.pass()
	if a := p.Actions[0]; a.Type != ActionKill || a.Phase != PhaseSuspended || w.drivers[0].State != "TASK_KILLED" {
		t.Fatalf("suspend: %s %s, driver %s", a.Type, a.Phase, w.drivers[0].State)
	}
	w.now = w.now.Add(time.Minute)
	if a := w.pass().Actions[0]; a.Type != ActionUnchanged || a.Phase != PhaseSuspended {
		t.Fatalf("suspended: %s %s", a.Type, a.Phase)
	}
	pi.Stopped = ""
	w.now = w.now.Add(time.Minute)
	if a := w.pass().Actions[0]; a.Type != ActionSubmit || !strings.Contains(a.Reason, "resumed") || len(w.creates) != 2 {
		t.Fatalf("resume: %s %s; runs %v", a.Type, a.Reason, w.creates)
	}
}

// longRunAtMidnight is an hourly Forbid schedule whose 00:00 run, 90
// minutes long, is running.
func longRunAtMidnight(t *testing.T) (*DesiredSchedule, *world) {
	ds := schedule(t, "hourly", "  schedule: \"0 * * * *\"")
	w := newWorld(t, h0.Add(-time.Minute), ds)
	w.runFor = 90 * time.Minute
	w.pass()
	w.now = h0
	w.pass()
	return ds, w
}

// A forgotten run-now run whose ended driver the master still lists is
// not adopted again (its time is after every scheduled time).
func TestScheduleForgottenRunStaysForgotten(t *testing.T) {
	ds := schedule(t, "hourly", "  schedule: \"0 * * * *\"\n  successfulRunsHistoryLimit: 0")
	w := newWorld(t, h0.Add(10*time.Minute), ds)
	w.runFor = time.Minute
	w.pass()
	r, _ := w.st.Get(context.Background(), store.Key{Kind: v1.KindScheduledSparkApplication, Name: "hourly"})
	r.Schedule.Pending = []store.RunRequest{{ID: "r1", At: w.now}}
	if _, err := w.st.Put(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	w.run(time.Minute, h0.Add(20*time.Minute))
	recs, _ := w.st.List(context.Background(), v1.KindSparkApplication)
	if st := w.state("hourly"); len(st.Runs) != 0 || len(recs) != 0 || len(w.creates) != 1 {
		t.Fatalf("runs %+v, records %d, submissions %v", st.Runs, len(recs), w.creates)
	}
	r, _ = w.st.Get(context.Background(), store.Key{Kind: v1.KindScheduledSparkApplication, Name: "hourly"})
	for _, e := range r.Events {
		if e.Reason == "Adopted" {
			t.Fatalf("the forgotten run was adopted again: %s", e.Message)
		}
	}
}

// run-now of a SparkApplication: one more run with the overrides, then
// the application's own spec again.
func TestRunNowAnApplicationWithOverrides(t *testing.T) {
	w := newWorld(t, h0)
	w.runFor = time.Minute
	w.d.Apps["pi"] = app(t, "pi", "  arguments: [\"1000\"]\n")
	w.pass()
	w.now = w.now.Add(2 * time.Minute)
	w.pass()
	msg, err := RequestRunNow(context.Background(), w.st, "pi", &store.Overrides{Args: []string{"2000"}, Conf: map[string]string{"spark.executor.memory": "2g"}}, false, w.now)
	if err != nil || !strings.Contains(msg, `--arg "2000"`) {
		t.Fatalf("run-now: %q %v", msg, err)
	}
	w.pass()
	if len(w.drivers) != 2 || !slices.Equal(w.drivers[1].args, []string{"2000"}) || w.drivers[1].conf["spark.executor.memory"] != "2g" {
		t.Fatalf("the run-now's driver: %d drivers, args %v", len(w.drivers), w.drivers[len(w.drivers)-1].args)
	}
	w.now = w.now.Add(2 * time.Minute)
	w.pass()
	if len(w.drivers) != 2 {
		t.Fatalf("run-now ran more than once: %d drivers", len(w.drivers))
	}
	for _, bad := range []map[string]string{{"spark.hadoop.fs.s3a.secret.key": "x"}, {"spark.mesos.driver.labels": "a:b"}, {"executor.memory": "2g"}} {
		if _, err := RequestRunNow(context.Background(), w.st, "pi", &store.Overrides{Conf: bad}, false, w.now); err == nil {
			t.Errorf("run-now --conf %v is accepted", bad)
		}
	}
}
