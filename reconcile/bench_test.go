package reconcile

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/internal/benchdata"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// steadyState builds n desired applications, each running its current spec
// and recorded: the state of a steady pass.
func steadyState(b testing.TB, n int) (*Desired, *Observed) {
	files := []v1.File{{Name: "dispatcher.yaml", Data: []byte(benchdata.Dispatcher)}}
	for i := 0; i < n; i++ {
		files = append(files, v1.File{Name: fmt.Sprintf("app-%05d.yaml", i), Data: []byte(benchdata.Application(i))})
	}
	m, ps := v1.Load(files)
	if err := ps.Err(); err != nil {
		b.Fatal(err)
	}
	d, err := BuildDesired(m, ps, render.Options{})
	if err != nil {
		b.Fatal(err)
	}
	o := &Observed{Ended: map[string]Driver{}, Submissions: map[string]SubmissionState{}, Records: map[string]*store.Record{},
		Agents:  []Agent{{ID: "S0", CPUs: 64, MemMiB: 262144, Attributes: map[string]Attribute{"zone": {Text: "us-east-1a"}, "os": {Text: "ubuntu"}}}},
		Weights: map[string]float64{"urgent": 3}} // the roles are set too
	// The records as passes leave them (the status the last one set). The
	// records are made in the map's random order: the worst case for the
	// plan's memory locality (the store lists them by name; in name order,
	// as the loop benchmark's are, the plan over 10,000 took 6.5 ms
	// instead of 10.8, measured side by side). The drivers are as observe
	// hands them over: in plan order, their submission ids their own (the
	// tasks'), their application names and spec hashes the desired
	// state's (findLive). The records' names and submission ids are their
	// own, as decoded from the store.
	// Each driver started an hour ago, and its record says so.
	started := time.Now().Add(-time.Hour).UTC()
	for name, a := range d.Apps {
		id := "driver-" + name
		o.Live = append(o.Live, Driver{SubmissionID: strings.Clone(id), App: name, SpecHash: a.Rendered.SpecHash, State: "TASK_RUNNING", Started: started})
		o.Records[name] = &store.Record{Key: store.Key{Kind: v1.KindSparkApplication, Name: strings.Clone(name)}, Origin: a.File,
			Submissions: []store.Submission{{ID: strings.Clone(id), SpecHash: a.Rendered.SpecHash, State: "TASK_RUNNING", StartedAt: started}},
			Status:      store.Status{Phase: PhaseRunning, Message: "driver " + id + " runs the current spec"}}
	}
	inPlanOrder(o.Live)
	o.inOrder = o.Live
	o.recordNames, o.records = index(o.Records)
	return d, o
}

// BenchmarkPlan10k is the pure plan over 10,000 running applications
// (target: 10 ms).
func BenchmarkPlan10k(b *testing.B) { benchPlan(b, 10_000) }

// BenchmarkPlan100k is the same over 100,000 (target: 150 ms), the planner
// alone in its process (the loop benchmark's plan row runs beside the
// simulator); BENCH_100K=0 skips it.
func BenchmarkPlan100k(b *testing.B) {
	skip100k(b)
	benchPlan(b, 100_000)
}

// skip100k skips a 100,000-application benchmark when BENCH_100K=0.
func skip100k(b *testing.B) {
	if os.Getenv("BENCH_100K") == "0" {
		b.Skip("BENCH_100K=0")
	}
}

func benchPlan(b *testing.B, n int) {
	d, o := steadyState(b, n)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p := Compute(d, o, now, Options{})
		if p.Changes() != 0 {
			b.Fatalf("a steady state planned %d changes", p.Changes())
		}
	}
}

// BenchmarkExecuteSteady10k executes the plan of a steady pass over
// 10,000 running applications: nothing to do, and nothing written.
func BenchmarkExecuteSteady10k(b *testing.B) { benchExecute(b, 10_000) }

// BenchmarkExecuteSteady100k is the same over 100,000; BENCH_100K=0 skips it.
func BenchmarkExecuteSteady100k(b *testing.B) {
	skip100k(b)
	benchExecute(b, 100_000)
}

func benchExecute(b *testing.B, n int) {
	d, o := steadyState(b, n)
	p := Compute(d, o, time.Now(), Options{})
	if p.Changes() != 0 {
		b.Fatalf("a steady state planned %d changes", p.Changes())
	}
	st := store.NewMemory()
	e := &Executor{Store: st, Now: time.Now}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, out := range e.Execute(context.Background(), d, o, p) {
			if out.Err != nil || out.Detail != "" {
				b.Fatalf("a steady pass did something: %+v", out)
			}
		}
	}
	b.StopTimer()
	if recs, err := st.List(context.Background(), v1.KindSparkApplication); err != nil || len(recs) != 0 {
		b.Fatalf("a steady pass wrote %d records (%v)", len(recs), err)
	}
}
