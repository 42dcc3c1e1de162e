package reconcile

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

// Every failure class under every restart policy: what the next pass
// does with a run that ended so (its backoff long passed).
func TestFailureClassByRestartPolicy(t *testing.T) {
	policies := map[string]string{
		"Never":           "",
		"Never+infra":     "  restartPolicy: {type: Never, onInfrastructureFailureRetries: 2}\n",
		"OnFailure":       "  restartPolicy: {type: OnFailure}\n",
		"OnFailure+noapp": "  restartPolicy: {type: OnFailure, maxRetries: 0}\n",
		"Always":          "  restartPolicy: {type: Always}\n",
	}
	// How a run ends: its observed end (or recorded class) and its class.
	ends := []struct {
		name       string
		state      string
		reason     string
		recorded   string // Class recorded by the executor (killed, deadline)
		deadline   string
		dispatcher bool // ended as the dispatcher reports it, never a task
		class      string
	}{
		{"exit 1", "TASK_FAILED", "", "", "", false, ClassApplication},
		{"executor failed", "TASK_FAILED", "REASON_COMMAND_EXECUTOR_FAILED", "", "", false, ClassApplication},
		{"agent removed", "TASK_LOST", "REASON_AGENT_REMOVED", "", "", false, ClassInfrastructure},
		{"gone", "TASK_GONE", "REASON_AGENT_UNKNOWN", "", "", false, ClassInfrastructure},
		{"dropped", "TASK_DROPPED", "REASON_AGENT_DISCONNECTED", "", "", false, ClassInfrastructure},
		{"launch failed", "TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", "", "", false, ClassInfrastructure},
		{"OOM killed", "TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "", "", false, ClassInfrastructure},
		{"executor terminated", "TASK_FAILED", "REASON_EXECUTOR_TERMINATED", "", "", false, ClassInfrastructure},
		{"lost in the queue", "TASK_LOST", "", "", "", true, ClassInfrastructure},
		{"startDeadline", "TASK_KILLED", StartDeadline, ClassDeadline, StartDeadline, false, ClassDeadline},
		{"activeDeadline", "TASK_KILLED", ActiveDeadline, ClassDeadline, ActiveDeadline, false, ClassDeadline},
		{"succeeded", "TASK_FINISHED", "", "", "", false, ClassSucceeded},
	}
	// want[policy][end class or end name] = restart or not.
	restarts := func(policy string, e string, class string) bool {
		switch {
		case class == ClassSucceeded:
			return policy == "Always"
		case e == "activeDeadline":
			return policy == "Always"
		case class == ClassInfrastructure || class == ClassNeverLaunched:
			return policy != "Never"
		default: // application, startDeadline
			return policy == "OnFailure" || policy == "Always"
		}
	}
	for pname, spec := range policies {
		a := app(t, "pi", spec)
		h := a.Rendered.SpecHash
		for _, e := range ends {
			t.Run(pname+"/"+e.name, func(t *testing.T) {
				s := store.Submission{ID: "driver-1", SpecHash: h, SubmittedAt: t0.Add(-2 * time.Hour), StartedAt: t0.Add(-2 * time.Hour), FinishedAt: t0.Add(-time.Hour)}
				o := observed()
				switch {
				case e.recorded != "":
					s.State, s.Class, s.Reason = e.state, e.recorded, e.deadline
				case e.dispatcher:
					s.State, s.StartedAt = "QUEUED", time.Time{}
					o.Submissions["driver-1"] = SubmissionState{DriverState: "NOT_FOUND"}
				default:
					o.Ended["driver-1"] = Driver{SubmissionID: "driver-1", State: e.state, Reason: e.reason}
				}
				o.Records["pi"] = record("pi", s)
				p := Compute(desired(a), o, t0, Options{})
				act := p.Actions[0]
				want := restarts(pname, e.name, e.class)
				if got := act.Type == ActionRestart; got != want {
					t.Fatalf("%s: %s %q, want restart %v", e.name, act.Type, act.Reason, want)
				}
				if e.class != ClassSucceeded && !strings.Contains(act.Reason, "class "+e.class) && !strings.Contains(act.Reason, "activeDeadline") {
					t.Errorf("reason %q does not name class %s", act.Reason, e.class)
				}
			})
		}
	}
}

// onInfrastructureFailureRetries are counted apart: an infrastructure
// failure is retried after maxRetries application failures are spent,
// and gives up at its own limit.
func TestInfrastructureRetriesApartFromApplicationRetries(t *testing.T) {
	a := app(t, "pi", "  restartPolicy: {type: OnFailure, maxRetries: 1, onInfrastructureFailureRetries: 2}\n")
	h := a.Rendered.SpecHash
	plan := func(c store.Counters, state, reason string) Action {
		c.SpecHash = h
		r := record("pi", store.Submission{ID: "driver-9", SpecHash: h, SubmittedAt: t0.Add(-2 * time.Hour), FinishedAt: t0.Add(-time.Hour)})
		r.Counters = &c
		o := observed(r)
		o.Ended["driver-9"] = Driver{SubmissionID: "driver-9", State: state, Reason: reason}
		return Compute(desired(a), o, t0, Options{}).Actions[0]
	}
	// Application retries spent (2 > 1 with this one): no more for an application failure...
	if act := plan(store.Counters{Application: 1, Consecutive: 1}, "TASK_FAILED", ""); act.Type != ActionUnchanged || !strings.Contains(act.Reason, "maxRetries 1") {
		t.Errorf("application failure past maxRetries: %s %q", act.Type, act.Reason)
	}
	// ...but an agent lost is retried by its own counter.
	if act := plan(store.Counters{Application: 1, Consecutive: 1}, "TASK_LOST", "REASON_AGENT_REMOVED"); act.Type != ActionRestart {
		t.Errorf("infrastructure failure after application retries spent: %s %q", act.Type, act.Reason)
	}
	if act := plan(store.Counters{Application: 1, Infrastructure: 2, Consecutive: 3}, "TASK_LOST", "REASON_AGENT_REMOVED"); act.Type != ActionUnchanged ||
		!strings.Contains(act.Reason, "3 infrastructure failures of this spec (onInfrastructureFailureRetries 2)") {
		t.Errorf("infrastructure retries spent: %s %q", act.Type, act.Reason)
	}
}

// maxConsecutiveFailures stops restarts whatever the classes; resetAfter
// clears the counters after a run that stayed up long enough.
func TestConsecutiveLimitAndResetAfter(t *testing.T) {
	a := app(t, "pi", "  restartPolicy: {type: Always, maxConsecutiveFailures: 3, resetAfter: 1h}\n")
	h := a.Rendered.SpecHash
	plan := func(c store.Counters, ranFor time.Duration) Action {
		c.SpecHash = h
		end := t0.Add(-time.Minute)
		r := record("pi", store.Submission{ID: "driver-9", SpecHash: h, SubmittedAt: end.Add(-ranFor - time.Minute), StartedAt: end.Add(-ranFor), FinishedAt: end})
		r.Counters = &c
		o := observed(r)
		o.Ended["driver-9"] = Driver{SubmissionID: "driver-9", State: "TASK_FAILED"}
		return Compute(desired(a), o, t0, Options{}).Actions[0]
	}
	if act := plan(store.Counters{Application: 1, Infrastructure: 1, Consecutive: 2}, time.Minute); act.Type != ActionUnchanged ||
		!strings.Contains(act.Reason, "3 failures in a row (maxConsecutiveFailures 3)") {
		t.Errorf("third failure in a row: %s %q", act.Type, act.Reason)
	}
	// The same, after a run of 2h: reset, this is failure 1 of a new series.
	act := plan(store.Counters{Application: 1, Infrastructure: 1, Consecutive: 2}, 2*time.Hour)
	if act.Type != ActionRestart || act.Attempt != 2 {
		t.Errorf("after a stable run: %s attempt %d %q", act.Type, act.Attempt, act.Reason)
	}
	// countRun: a success resets; a failure after resetAfter counts alone.
	s := &store.Submission{ID: "x", StartedAt: t0}
	c := countRun(store.Counters{Application: 5, Consecutive: 5}, s, ClassApplication, t0.Add(2*time.Hour), time.Hour)
	if c.Application != 1 || c.Consecutive != 1 || c.Through != "x" {
		t.Errorf("countRun after a stable run: %+v", c)
	}
	if c := countRun(store.Counters{Application: 5, Consecutive: 5}, s, ClassSucceeded, t0.Add(time.Minute), 0); c.Application != 0 || c.Consecutive != 0 {
		t.Errorf("countRun after a success: %+v", c)
	}
	// A run counted by the executor is not counted twice by the planner.
	r := record("pi", store.Submission{ID: "x", SpecHash: h})
	r.Counters = &store.Counters{SpecHash: h, Through: "x", Application: 2, Consecutive: 2}
	if c := countersOf(r, h, &r.Submissions[0], ClassApplication, t0, 0); c.Application != 2 {
		t.Errorf("counted twice: %+v", c)
	}
}

// startDeadline kills a driver still queued (and says which resources no
// offer had) or still starting; activeDeadline kills a long run; before
// they pass, the plan says when they will.
func TestDeadlines(t *testing.T) {
	a := app(t, "pi", "  startDeadline: 30min\n  activeDeadline: 2h\n  driver: {cores: 4, memory: 8g}\n")
	h := a.Rendered.SpecHash
	submitted := t0.Add(-31 * time.Minute)
	queued := func() *Observed {
		o := withSubs(observed(record("pi", store.Submission{ID: "driver-1", SpecHash: h, State: "QUEUED", SubmittedAt: submitted})), "driver-1", SubmissionState{DriverState: "QUEUED"})
		o.Agents[0].UsedCPUs, o.Agents[0].UsedMemMiB = 6, 4096
		o.Agents[0].Hostname = "agent-a"
		return o
	}
	p := Compute(desired(a), queued(), t0, Options{})
	act := p.Actions[0]
	if act.Type != ActionKill || act.Deadline != StartDeadline || fmt.Sprint(act.Kill) != "[driver-1]" ||
		!strings.Contains(act.Reason, "queued for 31m0s in the dispatcher (QUEUED), past its startDeadline 30min: no offer fits 4 cpus and 9912 MiB (the most free: 2 cpus, 28672 MiB on agent-a)") {
		t.Fatalf("queued past startDeadline: %s %v %q", act.Type, act.Kill, act.Reason)
	}
	// Before the deadline: unchanged, and the plan says when it will kill.
	p = Compute(desired(a), queued(), t0.Add(-2*time.Minute), Options{})
	if act := p.Actions[0]; act.Type != ActionUnchanged || !strings.Contains(act.Reason, "will be killed at 2026-11-22T09:59:00Z by startDeadline 30min unless it starts") || p.RequeueAfter != 60*time.Second {
		t.Errorf("before startDeadline: %s %q requeue %s", act.Type, act.Reason, p.RequeueAfter)
	}
	// Starting (an image pulling) past startDeadline.
	starting := withLive(observed(record("pi", store.Submission{ID: "driver-1", SpecHash: h, State: "TASK_STAGING", SubmittedAt: submitted})),
		Driver{SubmissionID: "driver-1", App: "pi", SpecHash: h, State: "TASK_STAGING"})
	if act := Compute(desired(a), starting, t0, Options{}).Actions[0]; act.Type != ActionKill || act.Deadline != StartDeadline || !strings.Contains(act.Reason, "still TASK_STAGING 31m0s after its submission") {
		t.Errorf("staging past startDeadline: %s %q", act.Type, act.Reason)
	}
	// Running: activeDeadline counts from submission.
	running := func(at time.Time) Action {
		o := withLive(observed(record("pi", store.Submission{ID: "driver-1", SpecHash: h, State: "TASK_RUNNING", SubmittedAt: t0.Add(-2 * time.Hour)})),
			Driver{SubmissionID: "driver-1", App: "pi", SpecHash: h, State: "TASK_RUNNING"})
		return Compute(desired(a), o, at, Options{}).Actions[0]
	}
	if act := running(t0.Add(-10 * time.Minute)); act.Type != ActionUnchanged || !strings.Contains(act.Reason, "will be killed at 2026-11-22T10:00:00Z by activeDeadline 2h") {
		t.Errorf("before activeDeadline: %s %q", act.Type, act.Reason)
	}
	if act := running(t0); act.Type != ActionKill || act.Deadline != ActiveDeadline || !strings.Contains(act.Reason, "activeDeadline 2h passed") {
		t.Errorf("past activeDeadline: %s %q", act.Type, act.Reason)
	}
	// An agent with room yet still queued: the dispatcher is suspect.
	o := queued()
	o.Agents[0].UsedCPUs, o.Agents[0].UsedMemMiB = 0, 0
	if act := Compute(desired(a), o, t0, Options{}).Actions[0]; !strings.Contains(act.Reason, "agent-a has 8 cpus and 32768 MiB free for its 4 cpus and 9912 MiB, yet the dispatcher has not launched it") {
		t.Errorf("room but queued: %q", act.Reason)
	}
}

// An adopted driver's deadlines count from when it started (it was
// submitted before), not from its adoption: a store lost and rebuilt by
// adoption does not give a long run its whole activeDeadline again.
func TestAnAdoptedDriverKeepsItsDeadline(t *testing.T) {
	a := app(t, "pi", "  activeDeadline: 1h\n")
	h := a.Rendered.SpecHash
	j := &journal{}
	x, st := executor(j, &fakeDispatcher{j: j})
	ctx := context.Background()
	dr := Driver{SubmissionID: "driver-1", App: "pi", SpecHash: h, State: "TASK_RUNNING", TaskID: "driver-1", Started: t0.Add(-90 * time.Minute)}
	p := Compute(desired(a), withLive(observed(), dr), t0, Options{})
	if act := p.Actions[0]; act.Type != ActionAdopt || len(p.Actions) != 1 {
		t.Fatalf("plan: %+v", p.Actions)
	}
	x.Execute(ctx, desired(a), withLive(observed(), dr), p)
	rec, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "pi"})
	if err != nil {
		t.Fatal(err)
	}
	if s := rec.Submissions[0]; !s.SubmittedAt.Equal(dr.Started) || !s.StartedAt.Equal(dr.Started) {
		t.Fatalf("adopted: submitted %s, started %s; want both %s", s.SubmittedAt, s.StartedAt, dr.Started)
	}
	act := Compute(desired(a), withLive(observed(rec), dr), t0, Options{}).Actions[0]
	if act.Type != ActionKill || act.Deadline != ActiveDeadline || !strings.Contains(act.Reason, "has run 1h30m0s since its submission: activeDeadline 1h passed") {
		t.Errorf("the pass after the adoption: %s %q", act.Type, act.Reason)
	}
	// A driver whose start Mesos did not say: from its adoption.
	b := app(t, "pi2", "  activeDeadline: 1h\n")
	unstarted := Driver{SubmissionID: "driver-2", App: "pi2", SpecHash: b.Rendered.SpecHash, State: "TASK_RUNNING", TaskID: "driver-2"}
	x.Execute(ctx, desired(b), withLive(observed(), unstarted), Compute(desired(b), withLive(observed(), unstarted), t0, Options{}))
	if rec, err = st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "pi2"}); err != nil || !rec.Submissions[0].SubmittedAt.Equal(t0) {
		t.Fatalf("adopted without a start: %+v %v; want submitted at the adoption, %s", rec, err, t0)
	}
}

// A deadline's kill writes its intent first: after a crash between the
// kill and its record, the run Mesos reports TASK_KILLED still ends as
// class deadline (not a kill by someone else, which OnFailure restarts).
func TestDeadlineKillIntentSurvivesACrash(t *testing.T) {
	a := app(t, "pi", "  restartPolicy: {type: OnFailure}\n  activeDeadline: 1h\n")
	h := a.Rendered.SpecHash
	j := &journal{}
	x, st := executor(j, &fakeDispatcher{j: j})
	ctx := context.Background()
	rec, err := st.Put(ctx, record("pi", store.Submission{ID: "driver-1", SpecHash: h, State: "TASK_RUNNING", SubmittedAt: t0.Add(-2 * time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	j.entries = nil
	o := withLive(observed(rec), Driver{SubmissionID: "driver-1", App: "pi", SpecHash: h, State: "TASK_RUNNING"})
	p := Compute(desired(a), o, t0, Options{})
	if p.Actions[0].Deadline != ActiveDeadline {
		t.Fatalf("plan: %+v", p.Actions)
	}
	x.Execute(ctx, desired(a), o, p)
	if got := j.String(); !strings.HasPrefix(got, "put SparkApplication/pi intent=kill") || !strings.Contains(got, "kill driver-1") ||
		strings.Index(got, "intent=kill") > strings.Index(got, "kill driver-1") {
		t.Fatalf("the intent is not written before the kill:\n%s", got)
	}
	// The crash: the record as it was after the intent, the kill done.
	rec.Intent = &store.Intent{ID: "i", Action: "kill", Run: "driver-1", Deadline: ActiveDeadline, CreatedAt: t0}
	o = withEnded(observed(rec), "driver-1", "TASK_KILLED")
	act := Compute(desired(a), o, t0.Add(time.Minute), Options{}).Actions[0]
	if act.Type != ActionUnchanged || !strings.Contains(act.Reason, "killed by its activeDeadline 1h (class deadline): not restarted") {
		t.Errorf("after the crash: %s %q", act.Type, act.Reason)
	}
}

// A secret's value changed (its keyed digest differs from the one the
// running driver was submitted with): resubmitted, or left for the next
// run under changePolicy NextRun; unknown digests change nothing.
func TestSecretChangeResubmits(t *testing.T) {
	for _, tc := range []struct {
		name, policy, recorded, current string
		want                            ActionType
		reason                          string
	}{
		{"changed", "", "d-old", "d-new", ActionResubmit, "a secret's value changed since driver driver-1 was submitted (secrets from env:API_TOKEN): killing it"},
		{"changed, NextRun", "  changePolicy: NextRun\n", "d-old", "d-new", ActionUnchanged, "changePolicy NextRun: the next run uses the new value"},
		{"the same", "", "d-new", "d-new", ActionUnchanged, "runs the current spec"},
		{"unknown now (unreadable)", "", "d-old", "", ActionUnchanged, "runs the current spec"},
		{"unknown then (before digests)", "", "", "d-new", ActionUnchanged, "runs the current spec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := app(t, "pi", "  driver:\n    secrets: [{valueFrom: {env: API_TOKEN}, envKey: TOKEN}]\n"+tc.policy)
			a.SecretDigest = tc.current
			h := a.Rendered.SpecHash
			r := record("pi", store.Submission{ID: "driver-1", SpecHash: h, State: "TASK_RUNNING", SubmittedAt: t0.Add(-time.Hour)})
			r.SecretDigest = tc.recorded
			o := withLive(observed(r), Driver{SubmissionID: "driver-1", App: "pi", SpecHash: h, State: "TASK_RUNNING"})
			act := Compute(desired(a), o, t0, Options{}).Actions[0]
			if act.Type != tc.want || !strings.Contains(act.Reason, tc.reason) {
				t.Errorf("%s %q, want %s %q", act.Type, act.Reason, tc.want, tc.reason)
			}
		})
	}
}

// A retried driver's task id ("<submission>-retry-N", as
// MesosClusterScheduler names the task of a driver it relaunches) maps to
// its submission id; every other id is its own, as the pattern
// -retry-\d+$ says.
func TestSubmissionOfTaskID(t *testing.T) {
	pattern := regexp.MustCompile(`-retry-\d+$`)
	for _, id := range []string{"driver-20261201-0001", "driver-20261201-0001-retry-1", "driver-20261201-0001-retry-12",
		"driver-1-retry-", "driver-1-retry-2x", "a-retry-1-retry-2", "-retry-3", "retry-3", "driver-1-retry-2-", ""} {
		if got, want := submissionOf(id), pattern.ReplaceAllString(id, ""); got != want {
			t.Errorf("submissionOf(%q) = %q, want %q", id, got, want)
		}
	}
}
