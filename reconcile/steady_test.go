package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/sim"
	"github.com/sparkmesos/reconciler/store"
)

// startCluster starts a simulated master and a dispatcher for the test,
// and a client of the master.
func startCluster(t *testing.T, cfg sim.Config) (*sim.Cluster, *sim.Dispatcher, *mesos.Client) {
	t.Helper()
	c := sim.New(cfg)
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	disp, err := c.StartDispatcher(sim.DispatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := mesos.New(mesos.Options{Master: c.MasterURL()})
	if err != nil {
		t.Fatal(err)
	}
	return c, disp, mc
}

// TestSteadyPassMakesOneCall: once every application's driver runs, a pass
// makes exactly one HTTP request, the GET_STATE; the dispatcher is asked
// nothing, whatever the number of applications.
func TestSteadyPassMakesOneCall(t *testing.T) {
	c, disp, mc := startCluster(t, sim.Config{Seed: 9, NumAgents: 8, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond})
	const n = 40
	files := []v1.File{{Name: "d.yaml", Data: []byte(fmt.Sprintf("apiVersion: sparkmesos.io/v1\nkind: Dispatcher\nmetadata: {name: d}\nspec:\n  external: {url: %q}\n", disp.URL()))}}
	for i := 0; i < n; i++ {
		files = append(files, v1.File{Name: fmt.Sprintf("a%d.yaml", i), Data: []byte(fmt.Sprintf(
			"apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: app-%d}\nspec:\n  dispatcher: {name: d}\n  mainClass: a.Main\n  mainApplicationFile: https://r/a.jar\n  driver: {cores: 0.1, memory: 512m}\n  executor: {cores: 1, maxCores: 1, memory: 512m}\n", i))})
	}
	m, ps := v1.Load(files)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	d, err := BuildDesired(m, ps, render.Options{Owner: "steady"})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	pool := &DispatcherPool{}
	exec := &Executor{Store: st, Dispatchers: pool, Lookup: func(v1.ValueSource) (string, error) { return "", nil }, Now: time.Now}
	ctx := context.Background()
	pass := func() Plan {
		o, err := Observe(ctx, mc, pool, st, "steady")
		if err != nil {
			t.Fatal(err)
		}
		p := Compute(d, o, time.Now(), Options{})
		exec.Execute(ctx, d, o, p)
		return p
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := pass()
		running := 0
		for _, a := range p.Actions {
			if a.Type == ActionUnchanged && a.Phase == PhaseRunning {
				running++
			}
		}
		if running == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d applications running", running, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.ResetRequests()
	if p := pass(); p.Changes() != 0 {
		t.Fatalf("a steady pass planned changes: %d", p.Changes())
	}
	reqs := c.Requests()
	if len(reqs) != 1 || string(reqs[0].Body) != `{"type":"GET_STATE"}` {
		var paths []string
		for _, r := range reqs {
			paths = append(paths, r.Server+" "+r.Path)
		}
		t.Fatalf("a steady pass over %d applications made %d requests, want 1 GET_STATE: %v", n, len(reqs), paths)
	}
}
