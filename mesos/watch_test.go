package mesos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mesosproto "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/sparkmesos/reconciler/sim"
)

type watched struct {
	t       *testing.T
	c       *sim.Cluster
	d       *sim.Dispatcher
	client  *Client
	w       *Watcher
	changes atomic.Int64
}

func startWatched(t *testing.T, cfg sim.Config) *watched {
	t.Helper()
	cfg.AllocationInterval, cfg.TaskStepDelay = 10*time.Millisecond, 5*time.Millisecond
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 200 * time.Millisecond
	}
	c := sim.New(cfg)
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	d, err := c.StartDispatcher(sim.DispatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	master := c.MasterURL()
	if len(c.MasterURLs()) > 1 {
		master = c.MasterURLs()[0]
	}
	client, err := New(Options{Master: master, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	x := &watched{t: t, c: c, d: d, client: client}
	x.w = &Watcher{Client: client, Changed: func() { x.changes.Add(1) }, CheckEvery: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	x.w.Start(ctx)
	if _, err := x.w.Snapshot(ctx); err != nil { // the first one starts the subscription and waits for it
		t.Fatal(err)
	}
	x.waitCurrent()
	return x
}

func (x *watched) waitCurrent() {
	x.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !x.w.Stats().Current {
		if time.Now().After(deadline) {
			x.t.Fatal("the watcher never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// converged waits until the view equals a fresh GET_STATE.
func (x *watched) converged(what string) {
	x.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		fresh, err := x.client.Snapshot(context.Background())
		if err != nil {
			x.t.Fatal(err)
		}
		x.w.mu.Lock()
		current := x.w.current
		var diff string
		if current {
			diff = Diff(x.w.view.Snapshot(), fresh)
		}
		x.w.mu.Unlock()
		if current && diff == "" {
			return
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%s: the view never equalled GET_STATE (current %v): %s", what, current, diff)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (x *watched) submit(args ...string) {
	body, _ := json.Marshal(map[string]any{"action": "CreateSubmissionRequest", "appResource": "https://repo/app.jar", "mainClass": "a.Main",
		"appArgs": args, "clientSparkVersion": "3.4.1", "environmentVariables": map[string]string{},
		"sparkProperties": map[string]string{"spark.app.name": "p", "spark.driver.cores": "0.1", "spark.driver.memory": "64m"}})
	resp, err := http.Post(x.d.URL()+"/v1/submissions/create", "application/json", bytes.NewReader(body))
	if err != nil {
		x.t.Fatal(err)
	}
	resp.Body.Close()
}

// Events applied in order equal a fresh GET_STATE of the same cluster,
// over random sequences of drivers started and ending, tasks killed,
// agents lost, returned and added.
func TestViewFollowsTheClusterLikeGetState(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			x := startWatched(t, sim.Config{Seed: seed, NumAgents: 3})
			rnd := rand.New(rand.NewSource(seed))
			x.converged("at the start")
			if err := x.c.EndTaskOf("no-such-framework", "t1", mesosproto.TASK_FAILED, ""); err == nil {
				t.Fatal("EndTaskOf ended a task of a framework that does not exist")
			}
			var lost []string
			// A snapshot the view handed out is not changed by the events
			// after it: its tasks are shared, and an update replaces one.
			var held *Snapshot
			var frozen []Task
			for step := 0; step < 40; step++ {
				if held != nil && !reflect.DeepEqual(values(held), frozen) {
					t.Fatalf("step %d: the events since changed the tasks of a snapshot handed out", step)
				}
				if snap, err := x.w.Snapshot(context.Background()); err == nil {
					held, frozen = snap, values(snap)
				}
				snap, err := x.client.Snapshot(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				switch op := rnd.Intn(10); {
				case op < 4:
					outcome := []string{"TASK_FINISHED", "TASK_FAILED"}[rnd.Intn(2)]
					x.submit(fmt.Sprintf("--sim-duration=%dms", 50+rnd.Intn(400)), "--sim-outcome="+outcome)
				case op < 6 && len(snap.Tasks) > 0:
					task := snap.Tasks[rnd.Intn(len(snap.Tasks))]
					_ = x.c.EndTaskOf(task.FrameworkID, task.ID, mesosproto.TASK_FAILED, "killed by the test") // it may have ended since
				case op == 6 && len(snap.Agents) > 1:
					id := snap.Agents[rnd.Intn(len(snap.Agents))].ID
					if x.c.LoseAgent(id) == nil {
						lost = append(lost, id)
					}
				case op == 7:
					x.c.AddAgent(sim.AgentConfig{CPUs: 4, MemMiB: 8192, DiskMiB: 1000})
				case op == 8 && len(lost) > 0:
					_ = x.c.ReturnAgent(lost[0])
					lost = lost[1:]
				default:
					time.Sleep(time.Duration(rnd.Intn(100)) * time.Millisecond)
				}
				if step%5 == 4 {
					x.converged(fmt.Sprintf("step %d", step))
				}
			}
			x.converged("at the end")
			if s := x.w.Stats(); s.Events == 0 || s.Subscriptions != 1 {
				t.Errorf("stats %+v: want events over one subscription", s)
			}
		})
	}
}

// A dropped stream, a silent one (no heartbeat) and a master failover
// each end with a view equal to the cluster's: the watcher subscribes
// again and the new SUBSCRIBED replaces the view.
func TestViewRecoversFromDropsStallsAndFailover(t *testing.T) {
	x := startWatched(t, sim.Config{Seed: 7, NumAgents: 2, Masters: 2})
	x.submit("--sim-duration=30s")
	x.converged("a driver running")

	// Each break is followed by a new subscription, current, before the
	// view is compared: the old view may still equal the cluster before
	// the watcher notices the break, and a stall must hit the stream the
	// watcher follows.
	subscribed := func(n int, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for s := x.w.Stats(); s.Subscriptions < n || !s.Current; s = x.w.Stats() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no new subscription: %+v", what, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	x.c.DropEventStreams()
	x.submit("--sim-duration=30s") // while it is down
	subscribed(2, "a dropped stream")
	x.converged("after a dropped stream")

	x.c.StallEventStreams()
	x.submit("--sim-duration=30s")
	subscribed(3, "a silent stream")
	x.converged("after a silent stream")

	x.c.FailOver()
	x.submit("--sim-duration=30s")
	subscribed(4, "a master failover")
	x.converged("after a master failover")
}

// values are a snapshot's tasks, live, unreachable and completed, copied.
func values(s *Snapshot) []Task {
	var out []Task
	for _, ts := range [][]*Task{s.Tasks, s.UnreachableTasks, s.CompletedTasks} {
		for _, t := range ts {
			out = append(out, *t)
		}
	}
	return out
}

// A pass waits for a SUBSCRIBED that takes long to arrive as long as its
// bytes keep coming (at 100,000 tasks it takes most of a minute), rather
// than reading a GET_STATE beside it; a stream that sends nothing at all
// is waited for only StallAfter.
func TestAPassWaitsForASubscribedStillArriving(t *testing.T) {
	const stall = 150 * time.Millisecond
	for _, slow := range []struct {
		name  string
		fault sim.Fault
		// wantState: the pass gave up on the stream and read GET_STATE.
		wantState bool
	}{
		{"trickling", sim.Fault{BytesPerSecond: 3000}, false},
		{"silent", sim.Fault{Latency: 20 * stall}, true},
	} {
		t.Run(slow.name, func(t *testing.T) {
			c := sim.New(sim.Config{Seed: 3, NumAgents: 3, AllocationInterval: 10 * time.Millisecond, HeartbeatInterval: 200 * time.Millisecond})
			if err := c.Start(sim.ServeOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Stop)
			f := slow.fault
			f.Server, f.PathPrefix, f.Call, f.Count = "master", "/api/v1", "SUBSCRIBE", 1
			c.AddFault(f)
			client, err := New(Options{Master: c.MasterURL(), Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			w := &Watcher{Client: client, CheckEvery: time.Hour, StallAfter: stall}
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			w.Start(ctx)
			c.ResetRequests()
			start := time.Now()
			snap, err := w.Snapshot(ctx)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			read := 0
			for _, r := range c.Requests() {
				if r.CallType() == "GET_STATE" {
					read++
				}
			}
			t.Logf("the first Snapshot took %v; GET_STATE calls: %d", took, read)
			if slow.wantState {
				if read != 1 || took > 10*stall {
					t.Errorf("a silent stream: want one GET_STATE after about %v, got %d after %v", stall, read, took)
				}
			} else {
				if read != 0 || !w.Stats().Current {
					t.Errorf("a SUBSCRIBED still arriving: the pass read GET_STATE %d times (current %v)", read, w.Stats().Current)
				} else if took < 5*stall {
					t.Fatalf("the SUBSCRIBED arrived in %v: not slow enough to test the wait", took)
				}
			}
			fresh, err := client.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := Diff(snap, fresh); d != "" {
				t.Errorf("the first Snapshot is not the cluster's: %s", d)
			}
		})
	}
}

// A view keeps whole the tasks a reconciler reads (drivers, services); of
// executors and other frameworks' tasks it keeps only their agents' use,
// following their updates, and none of their completions.
func TestViewKeepsOnlyWhatIsReadWhole(t *testing.T) {
	task := func(fw, id string, cpus float64, labels string) string {
		return fmt.Sprintf(`{"task_id":{"value":%q},"framework_id":{"value":%q},"agent_id":{"value":"A1"},"state":"TASK_RUNNING",
		"resources":[{"name":"cpus","scalar":{"value":%g}},{"name":"mem","scalar":{"value":%g}}],"labels":{"labels":[%s]}}`, id, fw, cpus, cpus*100, labels)
	}
	ours := func(kind, component string) string {
		l := `{"key":"sparkmesos.io/owner","value":"me"},{"key":"sparkmesos.io/kind","value":"` + kind + `"}`
		if component != "" {
			l += `,{"key":"sparkmesos.io/component","value":"` + component + `"}`
		}
		return l
	}
	decode := func(s string) *event {
		t.Helper()
		e, err := decodeEvent(json.NewDecoder(strings.NewReader(s)))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	sub := decode(`{"type":"SUBSCRIBED","subscribed":{"get_state":{"get_agents":{"agents":[{"agent_info":{"id":{"value":"A1"},"hostname":"h1"},"active":true,
		"total_resources":[{"name":"cpus","scalar":{"value":16}},{"name":"mem","scalar":{"value":4096}}]}]},
		"get_tasks":{"tasks":[` + task("dispatcher", "driver-1", 1, ours("SparkApplication", "driver")) + `,` +
		task("driver-1-fw", "0", 2, ours("SparkApplication", "executor")) + `,` +
		task("marathon", "web.1", 4, `{"key":"app","value":"web"}`) + `,` +
		task("ours", "sparkmesos-shuffle-1", 0.5, ours("ShuffleService", "")) + `]}},"heartbeat_interval_seconds":15}}`)
	v := newView(&sub.Subscribed.GetState)
	check := func(what string, wantUsed float64) {
		t.Helper()
		s := v.Snapshot()
		var ids []string
		for _, x := range append(append(slices.Clone(s.Tasks), s.UnreachableTasks...), s.CompletedTasks...) {
			ids = append(ids, x.ID)
		}
		if want := []string{"driver-1", "sparkmesos-shuffle-1"}; !slices.Equal(ids, want) {
			t.Errorf("%s: tasks %v, want %v", what, ids, want)
		}
		if len(s.Agents) != 1 || !near(s.Agents[0].UsedCPUs, wantUsed) || !near(s.Agents[0].UsedMemMiB, wantUsed*100) {
			t.Errorf("%s: agents %+v, want %g CPUs used", what, s.Agents, wantUsed)
		}
	}
	check("subscribed", 7.5)
	update := func(fw, id, state string) {
		t.Helper()
		if !v.apply(decode(fmt.Sprintf(`{"type":"TASK_UPDATED","task_updated":{"framework_id":{"value":%q},"state":%q,
			"status":{"task_id":{"value":%q},"agent_id":{"value":"A1"},"state":%q}}}`, fw, state, id, state))) {
			t.Fatalf("the update of %s to %s changed nothing", id, state)
		}
	}
	update("marathon", "web.1", "TASK_UNREACHABLE")
	check("a foreign task unreachable", 3.5)
	update("marathon", "web.1", "TASK_RUNNING")
	check("back", 7.5)
	update("driver-1-fw", "0", "TASK_FINISHED")
	check("an executor finished", 5.5)
	if !v.apply(decode(`{"type":"TASK_ADDED","task_added":{"task":` + task("driver-1-fw", "1", 3, ours("SparkApplication", "executor")) + `}}`)) {
		t.Fatal("TASK_ADDED changed nothing")
	}
	check("an executor added", 8.5)
}
