package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/dispatcher"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// journal records, in order, every store write and every call to the
// dispatcher and the master, so that tests can assert what came first.
type journal struct{ entries []string }

func (j *journal) add(format string, args ...any) {
	j.entries = append(j.entries, fmt.Sprintf(format, args...))
}

func (j *journal) String() string { return strings.Join(j.entries, "\n") }

// loggedStore is a memory store that journals its writes: the record's key,
// whether it holds an intent, and its latest submission.
type loggedStore struct {
	*store.Memory
	j *journal
}

func (s loggedStore) Put(ctx context.Context, r *store.Record) (*store.Record, error) {
	intent, latest := "-", "-"
	if r.Intent != nil {
		intent = r.Intent.Action
	}
	if n := len(r.Submissions); n > 0 {
		latest = r.Submissions[n-1].ID
	}
	s.j.add("put %s intent=%s latest=%s", r.Key, intent, latest)
	return s.Memory.Put(ctx, r)
}

func (s loggedStore) Delete(ctx context.Context, key store.Key, version int64) error {
	s.j.add("delete %s", key)
	return s.Memory.Delete(ctx, key, version)
}

// fakeDispatcher journals its calls and answers with createErr, if set.
type fakeDispatcher struct {
	j         *journal
	createErr error
	creates   int
	unknown   []string // fields the dispatcher says it did not recognise
}

func (d *fakeDispatcher) For(string) DispatcherClient  { return d }
func (d *fakeDispatcher) SetManaged(map[string]string) {}
func (d *fakeDispatcher) Status(context.Context, string) (*dispatcher.Status, error) {
	return &dispatcher.Status{DriverState: "RUNNING"}, nil
}

func (d *fakeDispatcher) Create(_ context.Context, req render.CreateSubmissionRequest) (dispatcher.Created, error) {
	d.creates++
	d.j.add("create %s", req.SparkProperties["spark.app.name"])
	if d.createErr != nil {
		return dispatcher.Created{}, d.createErr
	}
	return dispatcher.Created{ID: fmt.Sprintf("driver-%d", d.creates), UnknownFields: d.unknown}, nil
}

func (d *fakeDispatcher) Kill(_ context.Context, id string) (*dispatcher.KillResult, error) {
	d.j.add("kill %s", id)
	return &dispatcher.KillResult{Killed: true, Message: "Killing running driver"}, nil
}

// fakeRoles journals role updates and refuses those named in refuse.
type fakeRoles struct {
	j      *journal
	refuse map[string]error
}

func (r *fakeRoles) UpdateWeights(_ context.Context, w map[string]float64) error {
	for role, weight := range w {
		r.j.add("UPDATE_WEIGHTS %s=%v", role, weight)
		if err := r.refuse["UPDATE_WEIGHTS "+role]; err != nil {
			return err
		}
	}
	return nil
}

func (r *fakeRoles) UpdateQuota(_ context.Context, role string, _ mesos.RoleQuota, force bool) error {
	r.j.add("UPDATE_QUOTA %s force=%v", role, force)
	return r.refuse["UPDATE_QUOTA "+role]
}

func executor(j *journal, d *fakeDispatcher) (*Executor, loggedStore) {
	st := loggedStore{Memory: store.NewMemory(), j: j}
	return &Executor{Store: st, Dispatchers: d, Lookup: func(v1.ValueSource) (string, error) { return "", nil },
		Now: func() time.Time { return t0 }}, st
}

// The intent is written before the dispatcher is asked; the result after.
func TestExecuteWritesTheIntentBeforeTheSubmission(t *testing.T) {
	j := &journal{}
	d := &fakeDispatcher{j: j}
	e, _ := executor(j, d)
	pi := app(t, "pi", "")
	des, obs := desired(pi), observed()
	plan := Compute(des, obs, t0, Options{})
	out := e.Execute(context.Background(), des, obs, plan)
	if len(out) != 1 || out[0].Err != nil || out[0].Detail != "driver-1" {
		t.Fatalf("outcomes %+v", out)
	}
	want := "put SparkApplication/pi intent=submit latest=-\ncreate pi\nput SparkApplication/pi intent=- latest=driver-1"
	if j.String() != want {
		t.Fatalf("order:\n%s\nwant\n%s", j, want)
	}
}

// A resubmission kills the old driver, then records the intent, then
// submits.
func TestExecuteResubmitKillsThenIntendsThenSubmits(t *testing.T) {
	j := &journal{}
	d := &fakeDispatcher{j: j}
	e, _ := executor(j, d)
	pi := app(t, "pi", "")
	old := Driver{SubmissionID: "driver-0", App: "pi", SpecHash: "oldhash", State: "TASK_RUNNING"}
	obs := withLive(observed(record("pi", store.Submission{ID: "driver-0", SpecHash: "oldhash", State: "TASK_RUNNING", SubmittedAt: t0.Add(-time.Hour)})), old)
	des := desired(pi)
	out := e.Execute(context.Background(), des, obs, Compute(des, obs, t0, Options{}))
	if len(out) != 1 || out[0].Err != nil || out[0].Action.Type != ActionResubmit {
		t.Fatalf("outcomes %+v", out)
	}
	want := "kill driver-0\nput SparkApplication/pi intent=resubmit latest=driver-0\ncreate pi\nput SparkApplication/pi intent=- latest=driver-1"
	if j.String() != want {
		t.Fatalf("order:\n%s\nwant\n%s", j, want)
	}
}

// No answer from the dispatcher: the intent stays, and the next plan holds
// the application instead of submitting it again.
func TestExecuteInDoubtCreateHoldsTheApp(t *testing.T) {
	j := &journal{}
	d := &fakeDispatcher{j: j, createErr: &dispatcher.Error{Op: "create", Message: "connection reset"}}
	e, st := executor(j, d)
	pi := app(t, "pi", "")
	des, obs := desired(pi), observed()
	out := e.Execute(context.Background(), des, obs, Compute(des, obs, t0, Options{}))
	if len(out) != 1 || out[0].Err == nil {
		t.Fatalf("outcomes %+v", out)
	}
	rec, err := st.Get(context.Background(), store.Key{Kind: v1.KindSparkApplication, Name: "pi"})
	if err != nil || rec.Intent == nil {
		t.Fatalf("record after an unanswered create: %+v %v", rec, err)
	}
	next := Compute(des, observed(rec), t0.Add(10*time.Second), Options{})
	if types(next) != "pi:hold" {
		t.Fatalf("next plan %q, want a hold", types(next))
	}
}

// A connection the dispatcher refused (its port is closed until it has
// registered with Mesos) sent nothing: no hold, the next pass submits.
func TestExecuteRefusedConnectionIsNotInDoubt(t *testing.T) {
	j := &journal{}
	d := &fakeDispatcher{j: j, createErr: &dispatcher.Error{Op: "create", Message: "dial tcp: connection refused", NotSent: true}}
	e, st := executor(j, d)
	pi := app(t, "pi", "")
	des, obs := desired(pi), observed()
	if out := e.Execute(context.Background(), des, obs, Compute(des, obs, t0, Options{})); len(out) != 1 || out[0].Err == nil {
		t.Fatalf("outcomes %+v", out)
	}
	rec, err := st.Get(context.Background(), store.Key{Kind: v1.KindSparkApplication, Name: "pi"})
	if err != nil || rec.Intent != nil {
		t.Fatalf("record after a refused connection: %+v %v", rec, err)
	}
	if next := Compute(des, observed(rec), t0.Add(10*time.Second), Options{}); types(next) != "pi:submit" {
		t.Fatalf("next plan %q, want a submit", types(next))
	}
}

// A permanent refusal is recorded once and not retried: the next plans,
// whatever the restart policy, do not send the same spec again.
func TestExecutePermanentRefusalIsNotRetried(t *testing.T) {
	j := &journal{}
	d := &fakeDispatcher{j: j, createErr: &dispatcher.Error{Op: "create", StatusCode: 400, Message: "Malformed request", Permanent: true}}
	e, st := executor(j, d)
	pi := app(t, "pi", "  restartPolicy: {type: OnFailure, maxRetries: 5, backoff: {initial: 1s, max: 1s}}\n")
	des := desired(pi)
	out := e.Execute(context.Background(), des, observed(), Compute(des, observed(), t0, Options{}))
	if len(out) != 1 || out[0].Err == nil || !dispatcher.IsPermanent(out[0].Err) {
		t.Fatalf("outcomes %+v", out)
	}
	rec, _ := st.Get(context.Background(), store.Key{Kind: v1.KindSparkApplication, Name: "pi"})
	for _, later := range []time.Duration{time.Minute, time.Hour} {
		p := Compute(des, observed(rec), t0.Add(later), Options{})
		if types(p) != "pi:unchanged" || !strings.Contains(p.Actions[0].Reason, "the dispatcher rejected this spec") || p.Actions[0].Phase != PhaseFailed {
			t.Fatalf("plan %s later: %+v", later, p.Actions)
		}
	}
	if d.creates != 1 {
		t.Errorf("%d creates, want 1", d.creates)
	}
}

// Roles: the weight, then the quota, then the record that makes the role
// ours. A refused update is an error outcome, recorded on the role, that
// keeps the revision unapplied; a blocked role sends nothing.
func TestExecuteRoles(t *testing.T) {
	j := &journal{}
	st := loggedStore{Memory: store.NewMemory(), j: j}
	roles := &fakeRoles{j: j, refuse: map[string]error{"UPDATE_WEIGHTS adhoc": errors.New("403 Forbidden: not authorized")}}
	g := mesos.RoleQuota{Guarantees: map[string]float64{"cpus": 2}}
	d := &Desired{Roles: []*DesiredRole{
		{Name: "etl", Role: "etl", Weight: 3, Quota: g, Force: true, File: "r.yaml"},
		{Name: "adhoc", Role: "adhoc", Weight: 2, File: "r.yaml"},
		{Name: "big", Role: "big", Weight: 1, Quota: mesos.RoleQuota{Guarantees: map[string]float64{"cpus": 100}}, File: "r.yaml"},
	}}
	o := &Observed{RoleRecords: map[string]*store.Record{}, Capacity: map[string]float64{"cpus": 8}}
	plan := Plan{Roles: planRoles(d, o, Options{})}
	out := ExecuteRoles(context.Background(), roles, st, o, d, plan.Roles)
	want := "UPDATE_WEIGHTS etl=3\nUPDATE_QUOTA etl force=true\nput MesosRole/etl intent=- latest=-\n" +
		"UPDATE_WEIGHTS adhoc=2\nput MesosRole/adhoc intent=- latest=-\n" +
		"put MesosRole/big intent=- latest=-"
	if j.String() != want {
		t.Fatalf("order:\n%s\nwant\n%s", j, want)
	}
	if len(out) != 3 || out[0].Err != nil || out[1].Err == nil || out[2].Err == nil || !strings.Contains(out[2].Err.Error(), "exceed cluster capacity") {
		t.Fatalf("outcomes %+v", out)
	}
	if Complete(out) {
		t.Error("a pass with a refused role update counts as complete")
	}
	rec, _ := st.Get(context.Background(), store.Key{Kind: v1.KindMesosRole, Name: "adhoc"})
	if rec.Status.Phase != PhaseFailed || !strings.Contains(rec.Status.Message, "403 Forbidden") {
		t.Errorf("adhoc's record: %+v", rec.Status)
	}
}

// The dispatcher's unknownFields become a warning event of the run.
func TestExecuteWarnsOfUnknownFields(t *testing.T) {
	j := &journal{}
	x, st := executor(j, &fakeDispatcher{j: j, unknown: []string{"newField"}})
	a := app(t, "pi", "")
	d := desired(a)
	x.Execute(context.Background(), d, observed(), Compute(d, observed(), t0, Options{}))
	rec, err := st.Get(context.Background(), store.Key{Kind: v1.KindSparkApplication, Name: "pi"})
	if err != nil {
		t.Fatal(err)
	}
	last := rec.Events[len(rec.Events)-1]
	if last.Type != "Warning" || last.Reason != "UnknownFields" || !strings.Contains(last.Message, "ignored fields of the request it does not know: newField") {
		t.Errorf("events: %+v", rec.Events)
	}
}

// The executor's working records: the observation is never modified;
// Records holds, with KeepRecords, every application's record as the pass
// left it (pruned ones gone), and nothing
// without; two actions of one application (a duplicate's kill, then its
// status) work on one record: the second, written at the version the
// first left, would conflict otherwise.
func TestExecuteWorkingRecords(t *testing.T) {
	for _, keep := range []bool{false, true} {
		j := &journal{}
		d := &fakeDispatcher{j: j}
		e, st := executor(j, d)
		e.KeepRecords = keep
		ctx := context.Background()
		pi := app(t, "pi", "")
		h := pi.Rendered.SpecHash
		put := func(r *store.Record) *store.Record {
			r.Properties = map[string]string{"spark.master": "mesos://d:7077"} // its dispatcher, for kills
			saved, err := st.Put(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return saved
		}
		recPi := put(record("pi", store.Submission{ID: "driver-1", SpecHash: h, State: "TASK_RUNNING", SubmittedAt: t0.Add(-time.Hour)}))
		recGone := put(record("gone", store.Submission{ID: "driver-9", SpecHash: "x", State: "TASK_FINISHED", SubmittedAt: t0.Add(-time.Hour)}))
		recDup := put(record("dup", store.Submission{ID: "driver-3", SpecHash: "x", State: "TASK_RUNNING", SubmittedAt: t0.Add(-time.Hour)}))
		q := app(t, "q", "")
		recQ := record("q", store.Submission{ID: "driver-5", SpecHash: q.Rendered.SpecHash, State: "TASK_RUNNING", SubmittedAt: t0.Add(-time.Hour), StartedAt: t0.Add(-time.Hour)})
		recQ.Status = store.Status{Phase: PhaseRunning, Message: "driver driver-5 runs the current spec"} // only its agent is new
		recQ.SpecHash = q.Rendered.SpecHash
		recQ = put(recQ)
		liveQ := Driver{SubmissionID: "driver-5", TaskID: "driver-5", AgentID: "S0", App: "q", SpecHash: q.Rendered.SpecHash, State: "TASK_RUNNING"}
		obs := withLive(observed(recPi, recGone, recDup, recQ), liveQ,
			Driver{SubmissionID: "driver-1", App: "pi", SpecHash: h, State: "TASK_RUNNING"},
			Driver{SubmissionID: "driver-2", App: "pi", SpecHash: h, State: "TASK_RUNNING"},
			Driver{SubmissionID: "driver-3", App: "dup", SpecHash: "x", State: "TASK_RUNNING"},
			Driver{SubmissionID: "driver-4", App: "dup", SpecHash: "x", State: "TASK_RUNNING"})
		before := fmt.Sprintf("%+v %+v %+v", *obs.Records["pi"], *obs.Records["gone"], *obs.Records["dup"])
		des := desired(pi, app(t, "other", ""), q)
		execute := func(obs *Observed, opts Options, want string) {
			t.Helper()
			plan := Compute(des, obs, t0, opts)
			if got := types(plan); got != want {
				t.Fatalf("plan %s, want %s", got, want)
			}
			for _, o := range e.Execute(ctx, des, obs, plan) {
				if o.Err != nil {
					t.Fatalf("keep=%v: %s %s: %v", keep, o.Action.Type, o.Action.App, o.Err)
				}
			}
		}
		execute(obs, Options{}, "dup:kill dup:unchanged gone:unchanged other:submit pi:kill q:unchanged")
		if after := fmt.Sprintf("%+v %+v %+v", *obs.Records["pi"], *obs.Records["gone"], *obs.Records["dup"]); after != before {
			t.Fatalf("keep=%v: the observation changed:\n%s\n%s", keep, before, after)
		}
		// Actions that only keep records up to date still write what
		// changed: gone's new phase, q's run seen on its agent.
		if g, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "gone"}); err != nil || g.Status.Phase != PhaseOrphaned {
			t.Fatalf("keep=%v: gone's record %+v (%v), want phase %s", keep, g, err, PhaseOrphaned)
		}
		if g, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "q"}); err != nil || g.Submissions[0].AgentID != "S0" || g.Submissions[0].TaskID != "driver-5" {
			t.Fatalf("keep=%v: q's record %+v (%v), want its run on agent S0", keep, g, err)
		}
		stored, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "dup"})
		if err != nil || stored.Version <= recDup.Version {
			t.Fatalf("keep=%v: dup stored %v (%v), want written after the observed version %d", keep, stored, err, recDup.Version)
		}
		if !keep {
			if e.Records != nil {
				t.Fatalf("Records kept without KeepRecords: %v", e.Records)
			}
		} else {
			if len(e.Records) != 5 {
				t.Fatalf("Records %v, want dup, gone, other, pi and q", e.Records)
			}
			for n, r := range e.Records { // as the pass left them: as stored
				if s, err := st.Get(ctx, r.Key); err != nil || s.Version != r.Version || s.Status.Phase != r.Status.Phase {
					t.Fatalf("Records[%s] at version %d (%s), stored %+v (%v)", n, r.Version, r.Status.Phase, s, err)
				}
			}
		}

		// Next pass: gone is pruned.
		recs, err := st.List(ctx, v1.KindSparkApplication)
		if err != nil {
			t.Fatal(err)
		}
		obs = withLive(observed(recs...), Driver{SubmissionID: "driver-1", App: "pi", SpecHash: h, State: "TASK_RUNNING"},
			Driver{SubmissionID: "driver-3", App: "dup", SpecHash: "x", State: "TASK_RUNNING"}, liveQ)
		execute(obs, Options{Prune: true, Force: true}, "dup:prune gone:prune other:unchanged pi:unchanged q:unchanged")
		if keep && (len(e.Records) != 3 || e.Records["gone"] != nil || e.Records["dup"] != nil) {
			t.Fatalf("Records after the prune: %v, want other, pi and q", e.Records)
		}
	}
}

// batchStore journals its batches (store.Batch) and writes them one Put
// after another into the logged store (which journals each).
type batchStore struct{ loggedStore }

func (s batchStore) PutAll(ctx context.Context, recs []*store.Record) []store.PutResult {
	s.j.add("batch of %d", len(recs))
	return store.PutAll(ctx, s.loggedStore, recs)
}

// journalLog is a slog handler that adds each record's message and app to
// the journal.
type journalLog struct{ j *journal }

func (h journalLog) Enabled(context.Context, slog.Level) bool { return true }
func (h journalLog) Handle(_ context.Context, r slog.Record) error {
	app := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "app" {
			app = a.Value.String()
		}
		return true
	})
	h.j.add("log %s %s", r.Message, app)
	return nil
}
func (h journalLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h journalLog) WithGroup(string) slog.Handler      { return h }

// Adoptions only record what was observed: they are written in batches of
// writeBatch (one bolt transaction each), each logged once written; one
// refused (written meanwhile by someone else) fails alone.
func TestExecuteBatchesAdoptions(t *testing.T) {
	j := &journal{}
	e, logged := executor(j, &fakeDispatcher{j: j})
	st := batchStore{logged}
	e.Store, e.Log = st, slog.New(journalLog{j})
	ctx := context.Background()
	n := writeBatch + 10
	var apps []*DesiredApp
	obs := observed()
	for i := 0; i < n; i++ {
		a := app(t, fmt.Sprintf("app-%03d", i), "")
		apps = append(apps, a)
		obs = withLive(obs, Driver{SubmissionID: fmt.Sprintf("driver-%03d", i), TaskID: fmt.Sprintf("driver-%03d", i), App: a.Name, SpecHash: a.Rendered.SpecHash, State: "TASK_RUNNING"})
	}
	des := desired(apps...)
	plan := Compute(des, obs, t0, Options{})
	if got := strings.Count(types(plan), ":adopt"); got != n {
		t.Fatalf("plan adopts %d, want %d: %s", got, n, types(plan))
	}
	// Someone else records app-007 after the observation.
	if _, err := st.Memory.Put(ctx, record("app-007")); err != nil {
		t.Fatal(err)
	}
	out := e.Execute(ctx, des, obs, plan)
	for _, o := range out {
		if o.Action.App == "app-007" {
			if !errors.Is(o.Err, store.ErrConflict) {
				t.Errorf("app-007's adoption: %v, want ErrConflict", o.Err)
			}
			continue
		}
		if o.Err != nil || o.Detail != "adopted driver-"+o.Action.App[4:] {
			t.Fatalf("%s: %q %v", o.Action.App, o.Detail, o.Err)
		}
		r, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: o.Action.App})
		if err != nil || len(r.Submissions) != 1 || r.Submissions[0].ID != "driver-"+o.Action.App[4:] {
			t.Fatalf("%s stored %+v %v", o.Action.App, r, err)
		}
	}
	var batches []string
	line := map[string]int{}
	for i, s := range j.entries {
		if strings.HasPrefix(s, "batch of ") {
			batches = append(batches, s)
		}
		if _, seen := line[s]; !seen {
			line[s] = i
		}
	}
	if done, failed := strings.Count(j.String(), "log action done "), strings.Count(j.String(), "log action failed "); done != n-1 || failed != 1 {
		t.Errorf("logged %d done and %d failed, want %d and 1", done, failed, n-1)
	}
	if want := fmt.Sprintf("batch of %d,batch of 10", writeBatch); strings.Join(batches, ",") != want {
		t.Errorf("batches %v, want %s", batches, want)
	}
	// Each is logged once its batch is written, not before.
	for _, s := range []string{"log action done app-000", "log action done app-255", "log action failed app-007", "log action done app-265"} {
		i, ok := line[s]
		if !ok {
			t.Fatalf("no %q in the log:\n%s", s, j)
		}
		put := "put SparkApplication/" + strings.Fields(s)[3] + " intent=- latest=driver-" + strings.Fields(s)[3][4:]
		if strings.HasSuffix(s, "app-007") {
			put = "put SparkApplication/app-007 intent=- latest=driver-007"
		}
		if p, ok := line[put]; !ok || p > i {
			t.Errorf("%q at line %d, its write %q at %d", s, i, put, p)
		}
	}
}

// An unchanged application's status follows its words, not its numbers:
// a countdown is not a write every pass, but a status in the words of an
// adoption (kept for good before) says it runs the current spec. An
// adoption with nothing else to do writes that status at once, so the
// passes after it write nothing.
func TestStatusFollowsWordsNotNumbers(t *testing.T) {
	for _, c := range []struct {
		was, now string
		t        ActionType
		want     bool
	}{
		{"failed: restarting in 20s (attempt 2)", "failed: restarting in 9s (attempt 2)", ActionUnchanged, false},
		{"failed: restarting in 1m0s (attempt 2)", "failed: restarting in 59s (attempt 2)", ActionUnchanged, true},
		{"driver d-1 runs with our labels but is not recorded: adopting it", "driver d-1 runs the current spec", ActionUnchanged, true},
		{"submission d-1 is QUEUED in the dispatcher", "submission d-1 is RETRYING in the dispatcher", ActionUnchanged, true},
		{"driver d-1 runs the current spec", "driver d-1 runs the current spec; will be killed", ActionUnchanged, true},
		{"waiting 10s for its driver", "waiting 9s for its driver", ActionHold, true}, // only an unchanged one keeps its numbers
		{"driver d-1 runs the current spec", "driver d-1 runs the current spec", ActionHold, false},
	} {
		if got := rewritesStatus(store.Status{Phase: PhaseRunning, Message: c.was}, c.t, PhaseRunning, c.now); got != c.want {
			t.Errorf("%s %q after %q: rewritten %v, want %v", c.t, c.now, c.was, got, c.want)
		}
	}
	if !rewritesStatus(store.Status{Phase: PhaseFailed, Message: "x 1"}, ActionUnchanged, PhaseRunning, "x 2") {
		t.Error("a new phase was not written")
	}

	j := &journal{}
	e, st := executor(j, &fakeDispatcher{j: j})
	ctx := context.Background()
	pi := app(t, "pi", "")
	des := desired(pi)
	live := Driver{SubmissionID: "driver-7", TaskID: "driver-7", AgentID: "S0", App: "pi", SpecHash: pi.Rendered.SpecHash, State: "TASK_RUNNING"}
	pass := func(want string) *store.Record {
		t.Helper()
		recs, err := st.List(ctx, v1.KindSparkApplication)
		if err != nil {
			t.Fatal(err)
		}
		plan := Compute(des, withLive(observed(recs...), live), t0, Options{})
		if got := types(plan); got != want {
			t.Fatalf("plan %s, want %s", got, want)
		}
		for _, o := range e.Execute(ctx, des, withLive(observed(recs...), live), plan) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
		r, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "pi"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := pass("pi:adopt"); r.Status.Phase != PhaseRunning || r.Status.Message != "driver driver-7 runs the current spec" {
		t.Fatalf("adopted: status %+v", r.Status)
	}
	for range 2 { // the pass after the adoption rewrites nothing, nor does the next
		writes := len(j.entries)
		pass("pi:unchanged")
		if len(j.entries) != writes {
			t.Fatalf("a steady pass wrote: %v", j.entries[writes:])
		}
	}
}
