package reconcile

import (
	"fmt"
	"maps"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// app renders a desired application from a spec snippet (indented YAML
// under spec:, added to a minimal valid spec).
func app(t *testing.T, name, extra string) *DesiredApp {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: sparkmesos.io/v1
kind: SparkApplication
metadata: {name: %s}
spec:
  dispatcher: {external: {url: "http://d:7077"}}
  mainClass: a.Main
  mainApplicationFile: https://r/app.jar
%s`, name, extra)
	if !strings.Contains(extra, "executor:") {
		doc += "  executor: {cores: 1, maxCores: 2}\n"
	}
	m, ps := v1.Load([]v1.File{{Name: name + ".yaml", Data: []byte(doc)}})
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	a := m.Objects[0].(*v1.SparkApplication)
	r, err := render.SparkApplication(a, nil, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	da := NewDesiredApp(a, r)
	da.File = name + ".yaml"
	return da
}

func desired(apps ...*DesiredApp) *Desired {
	d := &Desired{Apps: map[string]*DesiredApp{}, BrokenFiles: map[string]bool{}}
	for _, a := range apps {
		d.Apps[a.Name] = a
	}
	return d
}

func agents() []Agent {
	return []Agent{{ID: "S0", CPUs: 8, MemMiB: 32768, Attributes: map[string]Attribute{"zone": {Text: "a"}}}}
}

func observed(recs ...*store.Record) *Observed {
	o := &Observed{Agents: agents(), Ended: map[string]Driver{}, Submissions: map[string]SubmissionState{}, Records: map[string]*store.Record{}}
	for _, r := range recs {
		o.Records[r.Key.Name] = r
	}
	return o
}

func record(name string, subs ...store.Submission) *store.Record {
	return &store.Record{Key: store.Key{Kind: v1.KindSparkApplication, Name: name}, Submissions: subs, Origin: name + ".yaml"}
}

func types(p Plan) string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, a.App+":"+string(a.Type))
	}
	return strings.Join(out, " ")
}

func TestPlanTable(t *testing.T) {
	pi := app(t, "pi", "")
	h := pi.Rendered.SpecHash
	running := Driver{SubmissionID: "driver-1", App: "pi", SpecHash: h, State: "TASK_RUNNING"}
	stale := Driver{SubmissionID: "driver-1", App: "pi", SpecHash: "oldhash", State: "TASK_RUNNING"}
	sub := func(id, hash, state string) store.Submission {
		return store.Submission{ID: id, SpecHash: hash, State: state, SubmittedAt: t0.Add(-time.Hour)}
	}
	onFailure := app(t, "pi", "  restartPolicy: {type: OnFailure, maxRetries: 2, backoff: {initial: 10s, max: 1min}}\n")
	always := app(t, "pi", "  restartPolicy: {type: Always}\n")
	nextRun := app(t, "pi", "  changePolicy: NextRun\n")
	nowhere := app(t, "pi", "  driver: {constraints: \"zone:b\"}\n")
	huge := app(t, "pi", "  executor: {cores: 64, maxCores: 64}\n")

	cases := []struct {
		name   string
		d      *Desired
		o      *Observed
		opts   Options
		want   string
		reason string
	}{
		{"new app is submitted", desired(pi), observed(), Options{}, "pi:submit", "never submitted"},
		{"running current spec", desired(pi), withLive(observed(record("pi", sub("driver-1", h, "TASK_RUNNING"))), running), Options{}, "pi:unchanged", "runs the current spec"},
		{"spec changed: resubmit", desired(pi), withLive(observed(record("pi", sub("driver-1", "oldhash", "TASK_RUNNING"))), stale), Options{}, "pi:resubmit", "spec changed"},
		{"spec changed, NextRun: wait", desired(nextRun), withLive(observed(record("pi", sub("driver-1", "oldhash", "TASK_RUNNING"))), stale), Options{}, "pi:unchanged", "next run"},
		{"unrecorded driver is adopted", desired(pi), withLive(observed(), running), Options{}, "pi:adopt", "driver-1 runs the current spec"},
		{"two drivers: kill one", desired(pi), withLive(observed(record("pi", sub("driver-2", h, "TASK_RUNNING"))), running, Driver{SubmissionID: "driver-2", App: "pi", SpecHash: h}), Options{}, "pi:kill", "keeping driver-2"},
		{"queued stays", desired(pi), withSubs(observed(record("pi", store.Submission{ID: "driver-1", SpecHash: h, SubmittedAt: t0.Add(-time.Minute)})), "driver-1", SubmissionState{DriverState: "QUEUED"}), Options{}, "pi:unchanged", "QUEUED"},
		{"queued an hour while an agent has room: the dispatcher is stuck", desired(pi), withSubs(observed(record("pi", sub("driver-1", h, ""))), "driver-1", SubmissionState{DriverState: "QUEUED"}), Options{}, "pi:blocked",
			`the dispatcher "http://d:7077" looks stuck: submission driver-1 has been queued since 2026-11-22T09:00:00Z (over 5m0s) although agent S0 has 8 cpus and 32768 MiB free for its 1 cpus and 1792 MiB`},
		{"queued an hour, no room: waiting for capacity", desired(pi), func() *Observed {
			o := withSubs(observed(record("pi", sub("driver-1", h, ""))), "driver-1", SubmissionState{DriverState: "QUEUED"})
			o.Agents[0].UsedCPUs = 8
			return o
		}(), Options{}, "pi:unchanged", "QUEUED"},
		{"succeeded, Never: done", desired(pi), withEnded(observed(record("pi", sub("driver-1", h, ""))), "driver-1", "TASK_FINISHED"), Options{}, "pi:unchanged", "finished successfully"},
		{"failed, Never: stays failed", desired(pi), withEnded(observed(record("pi", sub("driver-1", h, ""))), "driver-1", "TASK_FAILED"), Options{}, "pi:unchanged", "restartPolicy Never"},
		{"failed, OnFailure, backoff pending", desired(onFailure), withEnded(observed(record("pi", sub("driver-1", onFailure.Rendered.SpecHash, ""))), "driver-1", "TASK_FAILED"), Options{}, "pi:unchanged", "restarting in"},
		{"succeeded, Always: restart", desired(always), withEnded(observed(recordFinished("pi", always.Rendered.SpecHash, "TASK_FINISHED", t0.Add(-time.Hour))), "driver-1", "TASK_FINISHED"), Options{}, "pi:restart", "restartPolicy Always"},
		{"dispatcher forgot the driver: lost, restart", desired(always), withSubs(observed(recordFinished("pi", always.Rendered.SpecHash, "", t0.Add(-time.Hour))), "driver-1", SubmissionState{DriverState: "NOT_FOUND"}), Options{}, "pi:restart", "TASK_LOST"},
		{"forgotten after it ran, OnFailure: outcome unknown, not run again", desired(onFailure), withSubs(observed(record("pi", sub("driver-1", onFailure.Rendered.SpecHash, "TASK_RUNNING"))), "driver-1", SubmissionState{DriverState: "NOT_FOUND"}), Options{}, "pi:unchanged", "outcome is unknown, so it is not run again"},
		{"forgotten after it ran, Always: restart", desired(always), withSubs(observed(record("pi", sub("driver-1", always.Rendered.SpecHash, "TASK_RUNNING"))), "driver-1", SubmissionState{DriverState: "NOT_FOUND"}), Options{}, "pi:unchanged", "ended with TASK_UNKNOWN, class unknown; restartPolicy Always: restarting in"},
		{"forgotten while queued, OnFailure: lost, run", desired(onFailure), withSubs(observed(record("pi", store.Submission{ID: "driver-1", SpecHash: onFailure.Rendered.SpecHash, State: "QUEUED", SubmittedAt: t0.Add(-time.Hour)})), "driver-1", SubmissionState{DriverState: "NOT_FOUND"}), Options{}, "pi:unchanged", "ended with TASK_LOST, class infrastructure; restartPolicy OnFailure: restarting in"},
		{"finished without a task (Spark's launch-time SparkException), OnFailure: failed for good", desired(onFailure), withSubs(observed(record("pi", store.Submission{ID: "driver-1", SpecHash: onFailure.Rendered.SpecHash, State: "QUEUED", SubmittedAt: t0.Add(-time.Hour)})), "driver-1", SubmissionState{DriverState: "FINISHED"}), Options{}, "pi:unchanged", "without launching a task (class never-launched)"},
		{"spec changed after it ended: new run", desired(pi), withEnded(observed(record("pi", sub("driver-1", "oldhash", ""))), "driver-1", "TASK_FINISHED"), Options{}, "pi:submit", "spec changed since"},
		{"no agent matches the driver", desired(nowhere), observed(), Options{}, "pi:blocked", "driver constraints"},
		{"executor larger than any agent", desired(huge), observed(), Options{}, "pi:blocked", "an executor needs 64 cpus"},
		{"removed, no --prune: orphaned", desired(), withLive(observed(record("pi", sub("driver-1", h, ""))), running), Options{}, "pi:unchanged", "--prune"},
		{"removed, --prune but everything: refused", desired(), withLive(observed(record("pi", sub("driver-1", h, ""))), running), Options{Prune: true}, "pi:blocked", "prune refused"},
		{"removed, --prune --force", desired(), withLive(observed(record("pi", sub("driver-1", h, ""))), running), Options{Prune: true, Force: true}, "pi:prune", "no longer in the manifests"},
		{"broken file: held, never pruned", &Desired{Apps: map[string]*DesiredApp{}, BrokenFiles: map[string]bool{"pi.yaml": true}}, withLive(observed(record("pi", sub("driver-1", h, ""))), running), Options{Prune: true, Force: true}, "pi:hold", "failed to load"},
		{"in doubt: hold", desired(pi), observed(withIntent(record("pi"), t0.Add(-30*time.Second))), Options{}, "pi:hold", "waiting"},
		{"in doubt: driver found", desired(pi), withLive(observed(withIntent(record("pi"), t0.Add(-30*time.Second))), Driver{SubmissionID: "driver-9", App: "pi", SpecHash: h, Intent: "intent-1"}), Options{}, "pi:adopt", "intent intent-1"},
		{"in doubt: its driver already ended", desired(pi), func() *Observed {
			o := observed(withIntent(record("pi"), t0.Add(-time.Hour)))
			o.Ended["driver-9"] = Driver{SubmissionID: "driver-9", App: "pi", SpecHash: h, Intent: "intent-1", State: "TASK_FINISHED"}
			o.Ended["driver-8"] = Driver{SubmissionID: "driver-8", App: "pi", SpecHash: h, Intent: "intent-0", State: "TASK_FINISHED"}
			return o
		}(), Options{}, "pi:adopt", "driver-9 of a submission whose result was not recorded (intent intent-1) found ended (TASK_FINISHED)"},
		{"in doubt too long: submit again", desired(pi), observed(withIntent(record("pi"), t0.Add(-time.Hour))), Options{}, "pi:submit", ""},
		{"rerun of a running app", desired(pi), withLive(observed(withRerun(record("pi", sub("driver-1", h, "TASK_RUNNING")), t0)), running), Options{}, "pi:resubmit", "run-now requested"},
		{"rerun of a finished app", desired(pi), withEnded(observed(withRerun(record("pi", sub("driver-1", h, "")), t0)), "driver-1", "TASK_FAILED"), Options{}, "pi:submit", "run-now requested"},
		{"rerun already done", desired(pi), withLive(observed(withRerun(record("pi", sub("driver-1", h, "TASK_RUNNING")), t0.Add(-2*time.Hour))), running), Options{}, "pi:unchanged", "runs the current spec"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Compute(tc.d, tc.o, t0, tc.opts)
			if got := types(p); got != tc.want {
				t.Fatalf("plan %q, want %q (%+v)", got, tc.want, p.Actions)
			}
			for _, a := range p.Actions {
				if (a.Type == ActionSubmit || a.Type == ActionResubmit || a.Type == ActionRestart) && a.Trigger == "" {
					t.Errorf("%s of %s has no trigger for its run's record", a.Type, a.App)
				}
			}
			if !strings.Contains(p.Actions[len(p.Actions)-1].Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", p.Actions[len(p.Actions)-1].Reason, tc.reason)
			}
		})
	}
}

func withRerun(r *store.Record, at time.Time) *store.Record { r.RerunRequested = at; return r }
func withLive(o *Observed, ds ...Driver) *Observed          { o.Live = append(o.Live, ds...); return o }
func withEnded(o *Observed, id, state string) *Observed {
	o.Ended[id] = Driver{SubmissionID: id, State: state}
	return o
}
func withSubs(o *Observed, id string, s SubmissionState) *Observed { o.Submissions[id] = s; return o }
func withIntent(r *store.Record, at time.Time) *store.Record {
	r.Intent = &store.Intent{ID: "intent-1", Action: string(ActionSubmit), CreatedAt: at}
	return r
}
func recordFinished(name, hash, state string, at time.Time) *store.Record {
	return record(name, store.Submission{ID: "driver-1", SpecHash: hash, State: state, SubmittedAt: at.Add(-time.Minute), FinishedAt: at})
}

func TestRestartBackoffCapsAndGivesUp(t *testing.T) {
	a := app(t, "pi", "  restartPolicy: {type: OnFailure, maxRetries: 2, backoff: {initial: 10s, max: 1min}}\n")
	h := a.Rendered.SpecHash
	failedAt := t0.Add(-time.Hour)
	subs := []store.Submission{}
	for i := 1; i <= 3; i++ {
		subs = append(subs, store.Submission{ID: fmt.Sprintf("driver-%d", i), SpecHash: h, State: "TASK_FAILED", FinishedAt: failedAt})
	}
	p := Compute(desired(a), observed(record("pi", subs...)), t0, Options{})
	if p.Actions[0].Type != ActionUnchanged || p.Actions[0].Phase != PhaseFailed || !strings.Contains(p.Actions[0].Reason, "gave up") {
		t.Fatalf("after 3 failures with maxRetries 2: %+v", p.Actions[0])
	}
	for attempt := 1; attempt < 10; attempt++ {
		d := Backoff(a.Spec.RestartPolicy.Backoff, "pi", attempt)
		base := 10 * time.Second << (attempt - 1)
		if base > time.Minute {
			base = time.Minute
		}
		if d < base || d > time.Minute && base < time.Minute || d > time.Duration(float64(base)*1.2) {
			t.Errorf("attempt %d: backoff %s, want %s..+20%% capped at 1min", attempt, d, base)
		}
		if d != Backoff(a.Spec.RestartPolicy.Backoff, "pi", attempt) {
			t.Error("backoff is not deterministic")
		}
	}
	// Pending backoff sets the requeue time.
	p = Compute(desired(a), withEnded(observed(record("pi", store.Submission{ID: "driver-1", SpecHash: h, FinishedAt: t0})), "driver-1", "TASK_FAILED"), t0, Options{})
	if p.RequeueAfter < 10*time.Second || p.RequeueAfter > 12*time.Second {
		t.Errorf("requeue after %s, want the first backoff", p.RequeueAfter)
	}
}

func TestPlanDoesNotModifyInputs(t *testing.T) {
	pi := app(t, "pi", "")
	o := withLive(observed(record("pi", store.Submission{ID: "driver-1", SpecHash: "x"})), Driver{SubmissionID: "driver-1", App: "pi", SpecHash: "x"}, Driver{SubmissionID: "driver-2", App: "pi", SpecHash: "y"})
	before := fmt.Sprintf("%+v %+v", o.Live, *o.Records["pi"])
	Compute(desired(pi), o, t0, Options{})
	if after := fmt.Sprintf("%+v %+v", o.Live, *o.Records["pi"]); after != before {
		t.Fatalf("inputs changed:\n%s\n%s", before, after)
	}
}

// TestPlanWalksAppsThatOnlyRun: drivers of ours whose application is
// neither desired nor recorded are planned in name order among the others
// (before, between and after them), and count among what we own when a
// prune is weighed.
func TestPlanWalksAppsThatOnlyRun(t *testing.T) {
	b, n := app(t, "b", ""), app(t, "n", "")
	o := withLive(observed(record("m")),
		Driver{SubmissionID: "driver-3", App: "z", SpecHash: "x", State: "TASK_RUNNING"},
		Driver{SubmissionID: "driver-1", App: "a", SpecHash: "x", State: "TASK_RUNNING"},
		Driver{SubmissionID: "driver-2", App: "c", SpecHash: "x", State: "TASK_RUNNING"},
		Driver{SubmissionID: "driver-4", App: "b", SpecHash: b.Rendered.SpecHash, State: "TASK_RUNNING"},
		Driver{SubmissionID: "driver-5", App: "c", SpecHash: "y", State: "TASK_RUNNING"})
	p := Compute(desired(b, n), o, t0, Options{})
	if got, want := types(p), "a:unchanged b:adopt c:kill c:unchanged m:unchanged n:submit z:unchanged"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
	for _, a := range p.Actions { // c's two drivers were walked together: one is kept
		if a.App == "c" && a.Type == ActionKill && (len(a.Kill) != 1 || a.Kill[0] != "driver-2" && a.Kill[0] != "driver-5") {
			t.Errorf("c's kill: %v, want one of driver-2 and driver-5", a.Kill)
		}
	}
	// Four of six are not desired: more than half, so a prune is refused.
	p = Compute(desired(b, n), o, t0, Options{Prune: true})
	if got, want := types(p), "a:blocked b:adopt c:blocked m:blocked n:submit z:blocked"; got != want {
		t.Fatalf("prune of 4 of 6: plan %s, want %s", got, want)
	}
}

// model applies a plan to an observation the way the cluster and the
// executor would, instantly: submissions start drivers, kills remove them,
// adoption records, prunes forget.
func model(o *Observed, d *Desired, p Plan, now time.Time, seq *int) {
	kill := func(id string) {
		for i := 0; i < len(o.Live); i++ {
			if o.Live[i].SubmissionID == id {
				o.Live = append(o.Live[:i], o.Live[i+1:]...)
				i--
			}
		}
	}
	for _, a := range p.Actions {
		for _, id := range a.Kill {
			kill(id)
		}
		rec := o.Records[a.App]
		switch a.Type {
		case ActionSubmit, ActionResubmit, ActionRestart:
			*seq++
			id := fmt.Sprintf("driver-%04d", *seq)
			o.Live = append(o.Live, Driver{SubmissionID: id, App: a.App, SpecHash: a.SpecHash, State: "TASK_RUNNING"})
			if rec == nil {
				rec = &store.Record{Key: store.Key{Kind: v1.KindSparkApplication, Name: a.App}, Origin: d.Apps[a.App].File}
				o.Records[a.App] = rec
			}
			rec.Submissions = append(rec.Submissions, store.Submission{ID: id, SpecHash: a.SpecHash, SubmittedAt: now})
			rec.Properties = d.Apps[a.App].Rendered.Request.SparkProperties
			rec.Intent = nil
		case ActionAdopt:
			if rec == nil {
				rec = &store.Record{Key: store.Key{Kind: v1.KindSparkApplication, Name: a.App}}
				o.Records[a.App] = rec
			}
			rec.Submissions = append(rec.Submissions, store.Submission{ID: a.Adopt.SubmissionID, SpecHash: a.Adopt.SpecHash})
			rec.Intent = nil
		case ActionPrune:
			delete(o.Records, a.App)
		}
	}
}

// TestPlanConverges is a property test: random desired states and random
// observations (drivers of old specs, duplicates, unrecorded drivers,
// records of removed apps); planning, applying the plan in the model and
// planning again leaves nothing to change. Plans never kill a submission
// they did not observe, and never prune without --prune.
func TestPlanConverges(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	apps := []*DesiredApp{app(t, "a", ""), app(t, "b", "  driver: {memory: 2g}\n"), app(t, "c", "  restartPolicy: {type: Always}\n"), app(t, "d", "  changePolicy: NextRun\n")}
	for round := 0; round < 300; round++ {
		d := desired()
		for _, a := range apps {
			if rnd.Intn(4) > 0 {
				d.Apps[a.Name] = a
			}
		}
		o := observed()
		seq := 0
		for _, a := range apps {
			name := a.Name
			switch rnd.Intn(5) {
			case 1: // running an old spec, recorded
				seq++
				id := fmt.Sprintf("driver-x%d", seq)
				o.Live = append(o.Live, Driver{SubmissionID: id, App: name, SpecHash: "old"})
				o.Records[name] = record(name, store.Submission{ID: id, SpecHash: "old"})
			case 2: // running the current spec, not recorded (store lost)
				seq++
				o.Live = append(o.Live, Driver{SubmissionID: fmt.Sprintf("driver-y%d", seq), App: name, SpecHash: a.Rendered.SpecHash})
			case 3: // duplicates
				for i := 0; i < 2; i++ {
					seq++
					o.Live = append(o.Live, Driver{SubmissionID: fmt.Sprintf("driver-z%d", seq), App: name, SpecHash: a.Rendered.SpecHash})
				}
			case 4: // recorded, nothing running, dispatcher forgot it
				o.Records[name] = record(name, store.Submission{ID: "driver-gone-" + name, SpecHash: "old"})
				o.Submissions["driver-gone-"+name] = SubmissionState{DriverState: "NOT_FOUND"}
			}
		}
		opts := Options{Prune: rnd.Intn(2) == 0, Force: true}
		seen := map[string]bool{}
		for _, dr := range o.Live {
			seen[dr.SubmissionID] = true
		}
		for _, r := range o.Records {
			for _, s := range r.Submissions {
				seen[s.ID] = true
			}
		}
		p := Compute(d, o, t0, opts)
		for _, a := range p.Actions {
			for _, id := range a.Kill {
				if !seen[id] {
					t.Fatalf("round %d: kills %s, which it never observed", round, id)
				}
			}
			if a.Type == ActionPrune && !opts.Prune {
				t.Fatalf("round %d: prune without --prune", round)
			}
		}
		model(o, d, p, t0, &seq)
		again := Compute(d, o, t0, opts)
		if n := again.Changes(); n != 0 {
			t.Fatalf("round %d: not converged after one pass: %s\nfirst: %s", round, types(again), types(p))
		}
		perApp := map[string]int{}
		for _, dr := range o.Live {
			perApp[dr.App]++
			if perApp[dr.App] > 1 {
				t.Fatalf("round %d: %d drivers of %s after convergence\nplan: %s\nlive: %+v\ndesired: %v", round, perApp[dr.App], dr.App, types(p), o.Live, d.Apps[dr.App] != nil)
			}
		}
	}
}

// Entries flattens every kind's actions into one vocabulary, in the
// order diff prints them.
func TestPlanEntries(t *testing.T) {
	p := Plan{
		Roles:    []RoleAction{{Type: ActionUpdate, Name: "etl", Reason: "weight 1 -> 3"}},
		Services: []ServiceAction{{Type: ActionLaunch, Kind: v1.KindShuffleService, Name: "shuffle", Agents: []string{"h1"}, Reason: "launch on 1 of 1 matching agents"}},
		Actions:  []Action{{Type: ActionSubmit, App: "pi", Phase: PhaseSubmitted, Reason: "not submitted yet"}},
	}
	var got []string
	for e := range p.Entries() {
		got = append(got, fmt.Sprintf("%s %s %s", e.Type, e.Target(), e.Reason))
	}
	want := "[update MesosRole/etl weight 1 -> 3 launch ShuffleService/shuffle launch on 1 of 1 matching agents submit pi not submitted yet]"
	if fmt.Sprint(got) != want {
		t.Fatalf("entries %v\nwant %s", got, want)
	}
}

// A RANGES attribute: presence matches; values would throw in Spark's
// matcher (Value.Ranges is not the Value.Range it matches on), so the
// application is blocked, saying why, instead of stopping the dispatcher.
func TestRangesAttributeConstraints(t *testing.T) {
	o := observed()
	o.Agents = []Agent{{ID: "S0", Hostname: "a1", CPUs: 8, MemMiB: 32768, Attributes: map[string]Attribute{"slots": {Ranges: "[10-20]"}}}}
	present := app(t, "present", "  driver: {constraints: \"slots:\"}\n")
	valued := app(t, "valued", "  executor: {cores: 1, maxCores: 2, constraints: \"slots:15\"}\n")
	p := Compute(desired(present, valued), o, t0, Options{})
	if got := types(p); got != "present:submit valued:blocked" {
		t.Fatalf("plan %s", got)
	}
	if why := p.Actions[1].Reason; !strings.Contains(why, `executor.constraints: agent a1 reports "slots" as ranges [10-20]`) || !strings.Contains(why, "MatchError") {
		t.Fatalf("reason %q", why)
	}
}

// A plan cut into parts is the plan of one walk, and walks the sorted
// union of the applications desired, recorded and running, whether the
// applications and records kept in order (Desired.names and apps,
// Observed.recordNames and records) still say what the maps hold or not
// (then the maps are indexed afresh).
func TestPlanInPartsIsTheWalkOfAllNames(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	pool := map[string]*DesiredApp{}
	for i := 0; i < 24; i++ {
		n := fmt.Sprintf("app-%02d", i)
		pool[n] = app(t, n, "")
	}
	pool["app-99"], pool["app-98"], pool["app-97"] = app(t, "app-99", ""), app(t, "app-98", ""), app(t, "app-97", "")
	hourly := schedule(t, "hourly", "  schedule: \"0 * * * *\"")
	states := []string{"TASK_RUNNING", "TASK_FINISHED", "TASK_FAILED"}
	for round := 0; round < 400; round++ {
		d := &Desired{Apps: map[string]*DesiredApp{}, BrokenFiles: map[string]bool{}}
		o := observed()
		for i := 0; i < rng.Intn(16); i++ {
			n := fmt.Sprintf("app-%02d", rng.Intn(20))
			d.Apps[n] = pool[n]
		}
		seq := 0
		for i := 0; i < rng.Intn(16); i++ {
			n := fmt.Sprintf("app-%02d", rng.Intn(20))
			seq++
			hash := []string{pool[n].Rendered.SpecHash, "old"}[rng.Intn(2)]
			o.Records[n] = record(n, store.Submission{ID: fmt.Sprintf("driver-%d", seq), SpecHash: hash, State: states[rng.Intn(len(states))]})
		}
		// Drivers of recorded, desired and only running applications
		// (app-2x), one or two of one application.
		for i := 0; i < rng.Intn(12); i++ {
			n := fmt.Sprintf("app-%02d", rng.Intn(24))
			id := fmt.Sprintf("driver-%d", rng.Intn(seq+3))
			if r := o.Records[n]; r != nil && rng.Intn(2) == 0 {
				id = r.Submissions[0].ID
			}
			o.Live = append(o.Live, Driver{SubmissionID: id, App: n, SpecHash: pool[n].Rendered.SpecHash, State: "TASK_RUNNING"})
		}
		// A schedule's runs, which the walk leaves to the schedule: a part
		// may plan fewer actions than it has names.
		runs := rng.Intn(3) == 0
		if runs {
			d.Schedules = []*DesiredSchedule{hourly}
			st := &store.ScheduleState{Since: t0.Add(-time.Hour), LastScheduled: t0.Add(-time.Hour)}
			for i := 0; i < 1+rng.Intn(3); i++ {
				st.Runs = append(st.Runs, store.ScheduleRun{Name: fmt.Sprintf("app-%02d", rng.Intn(20)), Scheduled: t0.Add(-time.Hour), Trigger: TriggerSchedule})
			}
			o.ScheduleRecords = map[string]*store.Record{"hourly": {Key: store.Key{Kind: v1.KindScheduledSparkApplication, Name: "hourly"}, Origin: "hourly.yaml", Schedule: st}}
		}
		d.indexNames()
		o.recordNames, o.records = index(o.Records)
		// An index that no longer says what the maps hold. (Apps and
		// Records are not changed once indexed: a change that kept their
		// length would go unseen.)
		switch rng.Intn(6) {
		case 1: // an application added after the index was made
			d.Apps["app-99"] = pool["app-99"]
		case 2: // one removed
			if len(d.names) > 0 {
				delete(d.Apps, d.names[len(d.names)-1])
			}
		case 3: // a record added
			o.Records["app-97"] = record("app-97")
		case 4: // out of order
			slices.Reverse(o.recordNames)
			slices.Reverse(o.records)
		case 5: // never kept
			d.names, d.apps, o.recordNames, o.records = nil, nil, nil, nil
		}
		opts := Options{Prune: rng.Intn(2) == 0, Force: true}

		// The one walk: names kept afresh, one part.
		fd, fo := *d, *o
		fd.indexNames()
		fo.recordNames, fo.records = index(fo.Records)
		want := Compute(&fd, &fo, t0, opts)
		var union []string
		for _, names := range [][]string{slices.Collect(maps.Keys(d.Apps)), slices.Collect(maps.Keys(o.Records))} {
			union = append(union, names...)
		}
		for _, dr := range o.Live {
			union = append(union, dr.App)
		}
		slices.Sort(union)
		union = slices.Compact(union)
		var walked []string
		for _, a := range want.Actions {
			if len(walked) == 0 || walked[len(walked)-1] != a.App {
				walked = append(walked, a.App)
			}
		}
		if !runs && !slices.Equal(walked, union) {
			t.Fatalf("round %d: the plan walks %v, want %v", round, walked, union)
		}
		for _, chunk := range []int{1, 2, 3, 7} {
			opts.chunk = chunk
			if got := Compute(d, o, t0, opts); !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: in parts of %d:\n%s\nwant\n%s", round, chunk, types(got), types(want))
			}
		}
	}
}
