package reconcile

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/store"
	storezk "github.com/sparkmesos/reconciler/store/zk"
	"github.com/sparkmesos/reconciler/store/zk/zktest"
)

// stackFiles is an agent whose drivers' stderr is 64 KiB of Spark log
// ending in a stack trace.
type stackFiles struct {
	reads int
	log   string
}

func (f *stackFiles) AgentURL(a mesos.Agent) string { return "http://" + a.Hostname + ":5051" }
func (f *stackFiles) Tail(_ context.Context, _, path string, n int64) ([]byte, int64, error) {
	f.reads++
	if f.log == "" {
		var b strings.Builder
		for b.Len() < int(n) {
			fmt.Fprintf(&b, "26/12/01 03:00:%02d INFO DAGScheduler: Job %d finished: collect at Main.scala:42, took 0.1 s\n", b.Len()%60, b.Len())
		}
		f.log = b.String()
	}
	s := f.log + "Exception in thread \"main\" java.lang.IllegalStateException: " + path + "\n\tat a.Main.main(Main.scala:42)\n"
	return []byte(s[len(s)-int(n):]), int64(len(s)), nil
}

// An application that fails 10,000 times in a row (restartPolicy Always,
// each failure's 64 KiB stderr tail copied) keeps a record that stays
// under 256 KiB, written to and read back from ZooKeeper along the way;
// the counters still count every failure, though the record keeps 10 runs.
func TestTenThousandFailuresFitAZnode(t *testing.T) {
	zkc := zktest.Start(t, 1)
	ctx := context.Background()
	zs, err := storezk.Open(ctx, zkc.URL("/retention"), storezk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer zs.Close()
	if _, err := zs.Campaign(ctx); err != nil {
		t.Fatal(err)
	}

	a := app(t, "etl", "  restartPolicy: {type: Always, backoff: {initial: 1ms, max: 1ms}}\n")
	d := desired(a)
	now := t0
	files := &stackFiles{}
	j := &journal{}
	disp := &fakeDispatcher{j: j}
	mem := store.NewMemory()
	x := &Executor{Store: mem, Dispatchers: disp, Lookup: func(v1.ValueSource) (string, error) { return "", nil },
		Now: func() time.Time { return now }, Files: files}
	agent := Agent{ID: "S0", Hostname: "agent-0", Port: 5051, CPUs: 8, MemMiB: 32768}
	const failures = 10000
	var zrec *store.Record
	maxSize := 0
	for files.reads < failures {
		o := observed()
		o.Agents = []Agent{agent}
		rec, err := mem.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "etl"})
		if err == nil {
			o.Records["etl"] = rec
			if n := len(rec.Submissions); n > 0 {
				if s := rec.Submissions[n-1]; !isTerminalTask(s.State) {
					// Its driver ran on S0 and failed.
					o.Ended[s.ID] = Driver{SubmissionID: s.ID, TaskID: s.ID, App: "etl", SpecHash: s.SpecHash, State: "TASK_FAILED",
						AgentID: "S0", FrameworkID: "dispatcher-fw", Message: "Command exited with status 1", Started: now.Add(-time.Second)}
				}
			}
		}
		plan := Compute(d, o, now, Options{})
		for _, out := range x.Execute(ctx, d, o, plan) {
			if out.Err != nil {
				t.Fatal(out.Err)
			}
		}
		now = now.Add(time.Second)
		if files.reads%1000 == 0 && files.reads > 0 && err == nil {
			rec, _ := mem.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "etl"})
			b, err := store.EncodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			maxSize = max(maxSize, len(b))
			if len(b) >= 256<<10 {
				t.Fatalf("after %d failures the record is %d bytes", files.reads, len(b))
			}
			// The same record in ZooKeeper: written whole, read back whole.
			cp := *rec
			if zrec != nil {
				cp.Version = zrec.Version
			} else {
				cp.Version = 0
			}
			if zrec, err = zs.Put(ctx, &cp); err != nil {
				t.Fatalf("ZooKeeper refused the record of %d bytes after %d failures: %v", len(b), files.reads, err)
			}
		}
	}
	got, err := zs.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "etl"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := store.EncodeRecord(got)
	t.Logf("%d failures: record %d bytes in ZooKeeper (largest seen %d), %d runs kept, %d events, counters %+v",
		failures, len(b), maxSize, len(got.Submissions), len(got.Events), *got.Counters)
	if len(got.Submissions) != store.DefaultRuns || len(got.Events) > store.MaxEvents {
		t.Errorf("%d runs, %d events kept", len(got.Submissions), len(got.Events))
	}
	if c := got.Counters; c.Application < failures-1 || c.Consecutive != c.Application {
		t.Errorf("counters %+v: not every failure was counted", *c)
	}
	if last := got.Submissions[len(got.Submissions)-1]; len(last.StderrTail) < 60<<10 || !strings.Contains(last.StderrTail, "IllegalStateException") {
		t.Errorf("the newest failed run's tail: %d bytes", len(last.StderrTail))
	}
	for _, s := range got.Submissions[:len(got.Submissions)-1] {
		if len(s.StderrTail) > store.OldTail {
			t.Errorf("an older run keeps %d bytes of stderr", len(s.StderrTail))
		}
	}
}

// deadAgent is an agent whose HTTP API does not answer.
type deadAgent struct{ calls int }

func (f *deadAgent) AgentURL(a mesos.Agent) string { return "http://" + a.Hostname + ":5051" }
func (f *deadAgent) Tail(context.Context, string, string, int64) ([]byte, int64, error) {
	f.calls++
	return nil, 0, fmt.Errorf("agent agent-0: dial tcp: i/o timeout")
}

// Runs failing on one agent that does not answer cost one read of it per
// pass, not one each; each run records why its stderr is missing.
func TestUnreachableAgentIsAskedOncePerPass(t *testing.T) {
	files := &deadAgent{}
	j := &journal{}
	x, st := executor(j, &fakeDispatcher{j: j})
	x.Files = files
	ctx := context.Background()
	d := desired(app(t, "a", ""), app(t, "b", ""))
	o := observed()
	o.Agents[0].Hostname = "agent-0"
	for _, n := range []string{"a", "b"} {
		h := d.Apps[n].Rendered.SpecHash
		r, err := st.Put(ctx, record(n, store.Submission{ID: "driver-" + n, SpecHash: h, State: "TASK_RUNNING", SubmittedAt: t0.Add(-time.Hour)}))
		if err != nil {
			t.Fatal(err)
		}
		o.Records[n] = r
		o.Ended["driver-"+n] = Driver{SubmissionID: "driver-" + n, TaskID: "driver-" + n, App: n, SpecHash: h, State: "TASK_FAILED", AgentID: "S0", FrameworkID: "fw"}
	}
	x.Execute(ctx, d, o, Compute(d, o, t0, Options{}))
	if files.calls != 1 {
		t.Errorf("the dead agent was asked %d times in one pass", files.calls)
	}
	for _, n := range []string{"a", "b"} {
		r, _ := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: n})
		if tail := r.Submissions[0].StderrTail; !strings.Contains(tail, "stderr unavailable: agent agent-0: dial tcp: i/o timeout") {
			t.Errorf("%s: tail %q", n, tail)
		}
	}
}
