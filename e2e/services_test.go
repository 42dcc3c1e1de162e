package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
)

// servicesEnv is a cluster whose agents offer the shuffle service's port
// 7337: three in zone a, one in zone b.
func servicesEnv(t *testing.T) *env {
	t.Helper()
	agent := func(zone string) sim.AgentConfig {
		return sim.AgentConfig{CPUs: 8, MemMiB: 16384, Ports: [][2]uint64{{7337, 7337}, {31000, 32000}}, Attributes: map[string]string{"zone": zone}}
	}
	c := sim.New(sim.Config{Seed: 5, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond,
		Agents: []sim.AgentConfig{agent("a"), agent("a"), agent("a"), agent("b")}})
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	e := &env{t: t, c: c, dir: t.TempDir(), state: filepath.Join(t.TempDir(), "state.db")}
	e.write("shuffle.yaml", shuffleManifest)
	return e
}

// shuffleManifest is servicesEnv's ShuffleService: one task on each zone-a agent.
const shuffleManifest = `apiVersion: sparkmesos.io/v1
kind: ShuffleService
metadata: {name: shuffle}
spec:
  constraints: "zone:a"
  cpus: 0.5
  memory: 1g
  sparkHome: /opt/spark
`

// shuffleTasks maps agent id -> our shuffle service tasks on it (any state
// but terminal), and returns the frameworks the master knows.
func (e *env) shuffleTasks() (map[string][]mesos.Task, []mesos.RegisteredFramework) {
	e.t.Helper()
	snap := e.snapshot()
	out := map[string][]mesos.Task{}
	for _, t := range snap.Tasks {
		if t.Labels.Get("sparkmesos.io/kind") == "ShuffleService" && t.Labels.Get("sparkmesos.io/owner") == "e2e" {
			out[t.AgentID] = append(out[t.AgentID], *t)
		}
	}
	fws, err := e.master().Frameworks(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return out, fws
}

func (e *env) waitShuffle(what string, cond func(map[string][]mesos.Task) bool) map[string][]mesos.Task {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		tasks, _ := e.shuffleTasks()
		if cond(tasks) {
			return tasks
		}
		if time.Now().After(deadline) {
			for _, r := range e.c.Requests() {
				e.t.Logf("REQ %s %s %.300s", r.Method, r.Path, r.JSON())
			}
			e.t.Fatalf("timed out waiting for %s; shuffle tasks by agent: %v", what, tasks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runningOn reports whether exactly the given agents each run one shuffle
// task, and no other agent runs any.
func runningOn(agents ...string) func(map[string][]mesos.Task) bool {
	return func(m map[string][]mesos.Task) bool {
		if len(m) != len(agents) {
			return false
		}
		for _, a := range agents {
			if len(m[a]) != 1 || m[a][0].State != "TASK_RUNNING" {
				return false
			}
		}
		return true
	}
}

func TestShuffleServiceOnEveryMatchingAgent(t *testing.T) {
	e := servicesEnv(t)
	ids := e.c.AgentIDs()
	zoneA := ids[:3]
	out, code := e.run("diff", e.dir)
	if code != 1 || !strings.Contains(out, "+ launch    ShuffleService/shuffle   launch on 3 of 3 matching agents") {
		t.Fatalf("diff (exit %d):\n%s", code, out)
	}
	e.startRun("--service-backoff", "300ms")
	e.waitShuffle("one shuffle task on each zone-a agent, none in zone b", runningOn(zoneA...))

	if out, code := e.run("diff", e.dir); code != 0 || strings.Contains(out, "launch") {
		t.Fatalf("diff after convergence (exit %d):\n%s", code, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := e.run("status", "shuffle", "-o", "yaml")
		if strings.Contains(out, "running on all 3 matching agents") && strings.Count(out, "status: \"True\"") == 3 && strings.Contains(out, "Agent "+"127.0.1.1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of the shuffle service:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A new matching agent gets one.
	added := e.c.AddAgent(sim.AgentConfig{CPUs: 8, MemMiB: 16384, Ports: [][2]uint64{{7337, 7337}}, Attributes: map[string]string{"zone": "a"}})
	e.waitShuffle("a task on the new agent", runningOn(append(append([]string{}, zoneA...), added)...))

	// A failed task is relaunched on its agent, after the backoff.
	before, _ := e.shuffleTasks()
	failed := before[zoneA[0]][0]
	start := time.Now()
	if err := e.c.EndTask(failed.ID, 3 /* TASK_FAILED */, "Command exited with status 1"); err != nil {
		t.Fatal(err)
	}
	e.waitShuffle("the failed task relaunched on the same agent", func(m map[string][]mesos.Task) bool {
		return runningOn(append(append([]string{}, zoneA...), added)...)(m) && m[zoneA[0]][0].ID != failed.ID
	})
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("relaunched after %s: the backoff (300ms) was not applied", took)
	}

	// A lost agent's task is not moved elsewhere.
	if err := e.c.LoseAgent(zoneA[1]); err != nil {
		t.Fatal(err)
	}
	want := []string{zoneA[0], zoneA[2], added}
	e.waitShuffle("the lost agent's task gone, nothing moved", runningOn(want...))
	time.Sleep(1500 * time.Millisecond) // a resync and a few offer cycles
	if m, _ := e.shuffleTasks(); !runningOn(want...)(m) {
		t.Fatalf("after the agent loss: %v", m)
	}

	// Idle: the framework suppressed offers and declined with a filter.
	var sawDecline, sawSuppress bool
	for _, r := range e.c.Requests() {
		body := r.JSON()
		if r.Path == "/api/v1/scheduler" && strings.Contains(body, `"type":"DECLINE"`) && strings.Contains(body, `"refuse_seconds":30`) {
			sawDecline = true
		}
		if r.Path == "/api/v1/scheduler" && strings.Contains(body, `"type":"SUPPRESS"`) {
			sawSuppress = true
		}
	}
	if !sawDecline || !sawSuppress {
		t.Errorf("framework calls: DECLINE with refuse_seconds 30 seen %v, SUPPRESS seen %v", sawDecline, sawSuppress)
	}
}

// ours returns the ids of the frameworks named spark-reconciler.
func ours(fws []mesos.RegisteredFramework) []string {
	var ids []string
	for _, f := range fws {
		if f.Name == "spark-reconciler" {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

func TestShuffleServiceSurvivesRestartsAndFailover(t *testing.T) {
	e := servicesEnv(t)
	zoneA := e.c.AgentIDs()[:3]
	cmd, _ := e.start(freeAddr(t))
	first := e.waitShuffle("one task per zone-a agent", runningOn(zoneA...))
	_, fws := e.shuffleTasks()
	id := ours(fws)
	if len(id) != 1 {
		t.Fatalf("frameworks %v", fws)
	}

	// The reconciler stops (SIGKILL) and starts again: same framework, same tasks.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	e.c.ResetRequests()
	e.startRun()
	time.Sleep(1500 * time.Millisecond)
	var resubscribed, reconciled bool
	for _, r := range e.c.Requests() {
		body := r.JSON()
		if strings.Contains(body, `"type":"SUBSCRIBE"`) && strings.Contains(body, `"framework_id":{"value":"`+id[0]+`"}`) && strings.Contains(body, `"failover_timeout":604800`) {
			resubscribed = true
		}
		if strings.Contains(body, `"type":"RECONCILE"`) {
			reconciled = true
		}
	}
	if !resubscribed || !reconciled {
		t.Errorf("after a restart: SUBSCRIBE with framework id %s and failover_timeout seen %v; RECONCILE seen %v", id[0], resubscribed, reconciled)
	}
	m, fws := e.shuffleTasks()
	if !runningOn(zoneA...)(m) || len(ours(fws)) != 1 || ours(fws)[0] != id[0] {
		t.Fatalf("after a restart: tasks %v, frameworks %v (want the same framework %s)", m, ours(fws), id[0])
	}
	for _, a := range zoneA {
		if m[a][0].ID != first[a][0].ID {
			t.Errorf("agent %s: task %s replaced by %s after a restart", a, first[a][0].ID, m[a][0].ID)
		}
	}

	// The master fails over: the framework subscribes again with its id.
	e.c.FailOver()
	time.Sleep(2 * time.Second)
	m, fws = e.shuffleTasks()
	if !runningOn(zoneA...)(m) || len(ours(fws)) != 1 || ours(fws)[0] != id[0] {
		t.Fatalf("after a failover: tasks %v, frameworks %v", m, fws)
	}
	for _, f := range fws {
		if f.ID == id[0] && (!f.Active || !f.Connected) {
			t.Errorf("framework %s not connected after the failover: %+v", f.ID, f)
		}
	}

	// The store is lost: the framework is found by its tasks' labels.
	e.stopAll()
	if err := os.Remove(e.state); err != nil {
		t.Fatal(err)
	}
	e.startRun()
	time.Sleep(1500 * time.Millisecond)
	m, fws = e.shuffleTasks()
	if !runningOn(zoneA...)(m) || len(ours(fws)) != 1 || ours(fws)[0] != id[0] {
		t.Fatalf("after losing the store: tasks %v, frameworks %v", m, ours(fws))
	}
}

func TestShuffleServiceChangeRollsOneAgentAtATime(t *testing.T) {
	e := servicesEnv(t)
	zoneA := e.c.AgentIDs()[:3]
	e.startRun()
	old := e.waitShuffle("one task per zone-a agent", runningOn(zoneA...))
	hash := old[zoneA[0]][0].Labels.Get("sparkmesos.io/spec-hash")
	e.write("shuffle.yaml", strings.Replace(readFile(t, filepath.Join(e.dir, "shuffle.yaml")), "memory: 1g", "memory: 2g", 1))
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, _ := e.shuffleTasks()
		stale, notRunning := 0, 0
		for _, ts := range m {
			for _, x := range ts {
				if x.Labels.Get("sparkmesos.io/spec-hash") == hash {
					stale++
				}
				if x.State != "TASK_RUNNING" {
					notRunning++
				}
			}
		}
		if len(m) < 2 || notRunning > 1 {
			t.Fatalf("more than one agent rolling at once: %v", m)
		}
		if stale == 0 && runningOn(zoneA...)(m) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change never rolled out: %v", m)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Removing the manifest with --prune stops the service everywhere.
	e.stopAll()
	os.Remove(filepath.Join(e.dir, "shuffle.yaml"))
	e.write("other.yaml", "apiVersion: sparkmesos.io/v1\nkind: ShuffleService\nmetadata: {name: other}\nspec:\n  constraints: \"zone:b\"\n  sparkHome: /opt/spark\n")
	e.startRun("--prune")
	e.waitShuffle("the removed service's tasks killed, the other's running", runningOn(e.c.AgentIDs()[3]))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestManagedDispatcherIsLaunchedAndRecovers(t *testing.T) {
	agent := func(attrs map[string]string) sim.AgentConfig {
		return sim.AgentConfig{CPUs: 16, MemMiB: 65536, Ports: [][2]uint64{{7077, 7077}, {8081, 8081}, {31000, 32000}}, Attributes: attrs}
	}
	c := sim.New(sim.Config{Seed: 8, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond,
		Agents: []sim.AgentConfig{agent(map[string]string{"role": "control"}), agent(nil), agent(nil)}})
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	e := &env{t: t, c: c, dir: t.TempDir(), state: filepath.Join(t.TempDir(), "state.db")}
	e.write("dispatcher.yaml", `apiVersion: sparkmesos.io/v1
kind: Dispatcher
metadata: {name: sim}
spec:
  managed:
    master: mesos://127.0.0.1:5050
    sparkHome: /opt/spark
    constraints: "role:control"
  recovery:
    zookeeper: {url: "127.0.0.1:2181", dir: /spark_mesos_dispatcher}
`)
	e.write("a.yaml", appYAML("a", ""))
	e.write("b.yaml", appYAML("b", ""))
	// Two drivers that only fit one at a time on the control agent: the
	// second waits in the dispatcher's queue.
	big := "  driver: {cores: 10, constraints: \"role:control\"}\n"
	e.write("big1.yaml", appYAML("big1", big))
	e.write("big2.yaml", appYAML("big2", big))
	if out, code := e.run("diff", e.dir); code != 1 || !strings.Contains(out, "+ launch    Dispatcher/sim") || !strings.Contains(out, `the managed dispatcher "sim" has no running task yet`) {
		t.Fatalf("diff before the dispatcher runs (exit %d):\n%s", code, out)
	}
	e.startRun("--service-backoff", "300ms")
	control := c.AgentIDs()[0]
	dispatcherTask := func() (id, agent string) {
		n := 0
		for _, x := range e.snapshot().Tasks {
			if x.Labels.Get("sparkmesos.io/kind") == "Dispatcher" && x.State == "TASK_RUNNING" {
				id, agent = x.ID, x.AgentID
				n++
			}
		}
		if n > 1 {
			t.Fatalf("%d dispatcher tasks running", n)
		}
		return id, agent
	}
	first := e.waitDrivers("both apps running through the managed dispatcher", func(d map[string][]mesos.Task) bool {
		return len(d["a"]) == 1 && len(d["b"]) == 1 && d["a"][0].State == "TASK_RUNNING" && d["b"][0].State == "TASK_RUNNING"
	})
	id, where := dispatcherTask()
	if id == "" || where != control {
		t.Fatalf("dispatcher task %q on %s, want one on the control agent %s", id, where, control)
	}
	queued := e.waitStatus("big2", "phase: Queued")
	if submissionIDs(queued) == "" {
		t.Fatalf("big2 is queued but has no submission:\n%s", queued)
	}
	running := e.waitDrivers("big1 running", func(d map[string][]mesos.Task) bool { return len(d["big1"]) == 1 })["big1"][0].ID

	// The dispatcher's process dies: the framework relaunches it, it
	// recovers its state (ZooKeeper), the drivers carry on, none is doubled.
	if err := c.EndTask(id, 3 /* TASK_FAILED */, "Command exited with status 1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if nid, _ := dispatcherTask(); nid != "" && nid != id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher was not relaunched")
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.write("c.yaml", appYAML("c", ""))
	after := e.waitDrivers("a new app submitted to the relaunched dispatcher", func(d map[string][]mesos.Task) bool {
		return len(d["c"]) == 1 && d["c"][0].State == "TASK_RUNNING"
	})
	for _, app := range []string{"a", "b"} {
		if len(after[app]) != 1 || after[app][0].ID != first[app][0].ID {
			t.Errorf("app %s: drivers %v, want the same one driver %s", app, after[app], first[app][0].ID)
		}
	}
	if len(after["big1"]) != 1 || after["big1"][0].ID != running {
		t.Errorf("big1: drivers %v, want the same one driver %s", after["big1"], running)
	}
	// The queued submission is still queued in the recovered dispatcher:
	// the same one, not submitted again.
	if again := e.waitStatus("big2", "phase: Queued"); submissionIDs(again) != submissionIDs(queued) {
		t.Errorf("big2's submissions changed across the dispatcher's relaunch:\n%s\nthen\n%s", queued, again)
	}
}

// waitStatus waits until "reconciler status NAME -o yaml" contains want,
// and returns it.
func (e *env) waitStatus(name, want string) string {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _ := e.run("status", name, "-o", "yaml")
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("status of %s never showed %q:\n%s", name, want, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// submissionIDs lists the "id: driver-..." lines of a status.
func submissionIDs(status string) string {
	var ids []string
	for _, l := range strings.Split(status, "\n") {
		if strings.Contains(l, "id: driver-") {
			ids = append(ids, strings.TrimSpace(l))
		}
	}
	return strings.Join(ids, ",")
}

// Issue 15's cluster-level checks: an application that names a
// ShuffleService with port 7447 is submitted with
// spark.shuffle.service.port=7447, and the service listens there; a
// driver constrained to the presence of a RANGES attribute ("slots:") runs,
// while a value against it ("slots:15") is blocked with the reason: Spark
// 3.5's matchesAttributeRequirements matches Value.Range against the
// Value.Ranges that toAttributeMap yields, a scala.MatchError in the
// dispatcher's offer callback that would stop it launching any driver.
func TestShufflePortAndRangesAttributes(t *testing.T) {
	agent := sim.AgentConfig{CPUs: 8, MemMiB: 16384, Ports: [][2]uint64{{7447, 7447}, {31000, 32000}}, Attributes: map[string]string{"zone": "a", "slots": "[10-20]"}}
	e := setupCluster(t, sim.Config{Seed: 6, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond,
		Agents: []sim.AgentConfig{agent, agent}}, sim.DispatcherConfig{})
	e.write("shuffle.yaml", "apiVersion: sparkmesos.io/v1\nkind: ShuffleService\nmetadata: {name: shuffle}\nspec:\n  port: 7447\n  sparkHome: /opt/spark\n")
	e.write("dyn.yaml", appYAML("dyn", "  shuffleService: {enabled: true, name: shuffle}\n  dynamicAllocation: {enabled: true, minExecutors: 1, maxExecutors: 2}\n"))
	e.write("present.yaml", appYAML("present", "  driver: {constraints: \"slots:\"}\n"))
	e.write("ranged.yaml", appYAML("ranged", "  driver: {constraints: \"slots:15\"}\n"))
	e.startRun()
	e.waitDrivers("dyn and present running", func(d map[string][]mesos.Task) bool {
		return len(d["dyn"]) == 1 && len(d["present"]) == 1 && d["present"][0].State == "TASK_RUNNING"
	})
	var sent string // the client's JSON is compact
	for _, r := range e.c.Requests() {
		if r.Server == "dispatcher" && strings.HasSuffix(r.Path, "/create") && strings.Contains(string(r.Body), `"spark.app.name":"dyn"`) {
			sent = string(r.Body)
		}
	}
	if !strings.Contains(sent, `"spark.shuffle.service.port":"7447"`) {
		t.Errorf("dyn's submission lacks spark.shuffle.service.port=7447:\n%s", sent)
	}
	waitUntil(t, "the shuffle service listening on 7447", 20*time.Second, func() error {
		conn, err := net.DialTimeout("tcp", "127.0.1.1:7447", time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}, func(err error) bool { return err == nil })
	st := waitUntil(t, "ranged blocked", 10*time.Second, func() string { s, _ := e.run("status", "ranged"); return s },
		func(s string) bool { return strings.Contains(s, "Phase:     Blocked") })
	if !strings.Contains(st, "MatchError") || !strings.Contains(st, `"slots:", no value`) {
		t.Errorf("status ranged:\n%s", st)
	}
	if d := e.drivers(); len(d["ranged"]) != 0 {
		t.Errorf("ranged was submitted: %v", d["ranged"])
	}
}
