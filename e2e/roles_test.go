package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
)

func TestRoleWeightsConverge(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	mc, err := mesos.New(mesos.Options{Master: e.c.MasterURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A role someone else weighs: observed, never touched.
	if err := mc.UpdateWeights(ctx, map[string]float64{"other": 2}); err != nil {
		t.Fatal(err)
	}
	e.write("roles.yaml", `apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: etl}
spec:
  role: ETL
  weight: 3
  quota:
    guarantees: {cpus: 2}
    limits: {cpus: 16, mem: 64g}
---
apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: adhoc}
spec: {weight: 1}
`)
	out, code := e.run("diff", e.dir)
	if code != 1 || !strings.Contains(out, "~ update    MesosRole/etl            weight 1 -> 3; quota none -> guarantees cpus 2; limits cpus 16, mem 64 GiB") || strings.Contains(out, "MesosRole/adhoc") {
		t.Fatalf("diff (exit %d):\n%s", code, out)
	}
	if out := e.mustApply(); !strings.Contains(out, "done:  update MesosRole/etl: weight 1 -> 3") {
		t.Fatalf("apply does not say it updated the role:\n%s", out)
	}
	w, err := mc.Weights(ctx)
	if err != nil || w["ETL"] != 3 || w["other"] != 2 {
		t.Fatalf("weights after apply: %v %v", w, err)
	}
	if q, err := mc.Quotas(ctx); err != nil || q["ETL"].Limits["cpus"] != 16 || q["ETL"].Limits["mem"] != 65536 || q["ETL"].Guarantees["cpus"] != 2 {
		t.Fatalf("quotas after apply: %+v %v", q, err)
	}
	if out, code := e.run("diff", e.dir); code != 0 {
		t.Fatalf("diff after apply (exit %d):\n%s", code, out)
	}

	// The manifest is removed: without --prune the weight stays; with it,
	// what we set is reset, and the role we never set is left alone.
	if err := os.Remove(filepath.Join(e.dir, "roles.yaml")); err != nil {
		t.Fatal(err)
	}
	e.mustApply()
	if w, _ := mc.Weights(ctx); w["ETL"] != 3 {
		t.Fatalf("weight changed without --prune: %v", w)
	}
	// Both roles are all the reconciler owns: the prune guard counts roles
	// as it counts applications.
	out, code = e.run("apply", e.dir, "--wait", "--timeout", "20s", "--prune")
	if code != 1 || !strings.Contains(out, "prune refused: it would remove 2 of the 2 objects the reconciler owns") || !strings.Contains(out, "not converged: blocked") {
		t.Errorf("apply --prune of everything owned was not refused (exit %d, want 1):\n%s", code, out)
	}
	if w, _ := mc.Weights(ctx); w["ETL"] != 3 {
		t.Fatalf("weight reset by a refused prune: %v", w)
	}
	out = e.mustApply("--prune", "--force")
	if !strings.Contains(out, "MesosRole/etl") {
		t.Errorf("apply --prune --force did not show the role:\n%s", out)
	}
	w, _ = mc.Weights(ctx)
	if w["ETL"] != 1 || w["other"] != 2 {
		t.Fatalf("weights after the prune: %v (want ETL reset to 1, other untouched at 2)", w)
	}
	if q, _ := mc.Quotas(ctx); len(q) != 0 {
		t.Fatalf("quotas after the prune: %+v (want ETL's reset)", q)
	}
}

// Two applications in roles weighted 1 and 3 contend for a cluster: the
// allocator, shaped by the weights the reconciler set, gives their executors
// the cluster in about that proportion. The drivers run on two small agents
// (pool:small) where executors may not (pool:big), so neither driver's
// executors can take the other's agent; the first big agent, which the
// applications need to be feasible at all, is lost once both drivers run;
// the capacity both contend for comes afterwards, at once, so the split
// does not depend on which driver started first.
func TestRoleWeightsSplitExecutors(t *testing.T) {
	small := sim.AgentConfig{CPUs: 2, MemMiB: 2048, Attributes: map[string]string{"pool": "small"}} // one driver (1792 MiB)
	big := sim.AgentConfig{CPUs: 4, MemMiB: 65536, Attributes: map[string]string{"pool": "big"}}
	c := sim.New(sim.Config{Seed: 9, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond, Agents: []sim.AgentConfig{small, small, big}})
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	d, err := c.StartDispatcher(sim.DispatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, d: d, dir: t.TempDir(), state: filepath.Join(t.TempDir(), "state.db")}
	e.write("dispatcher.yaml", fmt.Sprintf("apiVersion: sparkmesos.io/v1\nkind: Dispatcher\nmetadata: {name: sim}\nspec:\n  external: {url: %q}\n", d.URL()))
	e.write("roles.yaml", `apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: adhoc}
spec: {weight: 1}
---
apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: etl}
spec: {weight: 3}
`)
	for _, app := range []string{"adhoc", "etl"} {
		spec := strings.Replace(appYAML(app, "  role: "+app+"\n  driver: {constraints: \"pool:small\"}\n"), "maxCores: 2, memory: 1g", `maxCores: 100, memory: 1g, constraints: "pool:big"`, 1)
		e.write(app+".yaml", spec)
	}
	e.mustApply()
	e.waitDrivers("both drivers running", func(d map[string][]mesos.Task) bool {
		return len(d["adhoc"]) == 1 && len(d["etl"]) == 1 && d["adhoc"][0].State == "TASK_RUNNING" && d["etl"][0].State == "TASK_RUNNING"
	})
	if err := c.LoseAgent(c.AgentIDs()[2]); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		c.AddAgent(big)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cores := map[string]int{} // executors have one core each
		for _, x := range e.snapshot().Tasks {
			if x.Labels.Get("sparkmesos.io/component") == "executor" && x.State == "TASK_RUNNING" {
				cores[x.Labels.Get("sparkmesos.io/name")]++
			}
		}
		if total := cores["adhoc"] + cores["etl"]; total == 48 { // the 12 new agents are taken
			ratio := float64(cores["etl"]) / float64(max(1, cores["adhoc"]))
			t.Logf("executors: etl %d, adhoc %d", cores["etl"], cores["adhoc"])
			if ratio < 2 || ratio > 4.5 {
				t.Fatalf("executors: etl %d, adhoc %d (ratio %.2f), want about 3", cores["etl"], cores["adhoc"], ratio)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("executors never took the new agents: %v", cores)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A role's quota limit caps its executors: two apps of the role, each within
// the limit, together get no more than it.
func TestQuotaLimitCapsRole(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("role.yaml", "apiVersion: sparkmesos.io/v1\nkind: MesosRole\nmetadata: {name: capped}\nspec:\n  quota:\n    limits: {cpus: 6}\n")
	e.mustApply()
	for _, app := range []string{"one", "two"} {
		e.write(app+".yaml", strings.Replace(appYAML(app, "  role: capped\n"), "maxCores: 2", "maxCores: 5", 1))
	}
	e.mustApply()
	cpus := func() int {
		n := 0
		for _, x := range e.snapshot().Tasks {
			if x.Labels.Get("sparkmesos.io/component") == "executor" && x.State == "TASK_RUNNING" {
				n++ // one core each
			}
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	for cpus() < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("executors reached only %d cpus of the role's 6", cpus())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // many more offer cycles: the apps still want 4 more
	if n := cpus(); n != 6 {
		t.Errorf("role limited to 6 cpus runs executors with %d", n)
	}
}

// Quota guarantees beyond the cluster's capacity: diff shows the role
// blocked with the numbers Mesos would give, apply fails naming the role
// and the reason (nothing is sent to Mesos), status shows it, and
// quota.force passes Mesos' flag.
func TestQuotaBeyondCapacityIsBlockedUnlessForced(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	mc, err := mesos.New(mesos.Options{Master: e.c.MasterURL()})
	if err != nil {
		t.Fatal(err)
	}
	role := func(force bool) string {
		return fmt.Sprintf(`apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: etl}
spec:
  weight: 2
  quota:
    guarantees: {cpus: 100, mem: 1g}
    force: %v
`, force)
	}
	e.write("roles.yaml", role(false))
	why := "total quota guarantees 'cpus:100; mem:1024' exceed cluster capacity 'cpus:24; disk:300000; mem:98304'"
	out, _ := e.run("diff", e.dir)
	if !strings.Contains(out, "! blocked   MesosRole/etl") || !strings.Contains(out, why) || !strings.Contains(out, "force: true") {
		t.Fatalf("diff:\n%s", out)
	}
	e.c.ResetRequests()
	out, code := e.run("apply", e.dir, "--wait", "--timeout", "10s")
	if code == 0 || !strings.Contains(out, "error: blocked MesosRole/etl") || !strings.Contains(out, why) {
		t.Fatalf("apply (exit %d):\n%s", code, out)
	}
	for _, r := range e.c.Requests() {
		if body := r.JSON(); strings.Contains(body, "UPDATE_QUOTA") || strings.Contains(body, "UPDATE_WEIGHTS") {
			t.Errorf("a blocked role was sent to Mesos: %s", body)
		}
	}
	if out, _ := e.run("status", "etl"); !strings.Contains(out, "Failed") || !strings.Contains(out, "exceed cluster capacity") {
		t.Errorf("status of the blocked role:\n%s", out)
	}

	e.write("roles.yaml", role(true))
	e.mustApply()
	q, err := mc.Quotas(context.Background())
	if err != nil || q["etl"].Guarantees["cpus"] != 100 {
		t.Fatalf("quotas after a forced apply: %+v %v", q, err)
	}
	if out, code := e.run("diff", e.dir); code != 0 {
		t.Fatalf("diff after the forced apply (exit %d):\n%s", code, out)
	}
	if out, _ := e.run("status", "etl"); strings.Contains(out, "Failed") {
		t.Errorf("status after the forced apply:\n%s", out)
	}
}

// The master refuses a role's update: apply exits non-zero naming the
// role and the master's message, status shows the role failed, and run's
// next pass, once the master accepts, sets it.
func TestRefusedRoleUpdateFailsAndIsRetried(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("etl.yaml", `apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: etl}
spec: {weight: 3}
`)
	const refusal = "Not authorized to update weight for role 'etl'"
	e.c.AddFault(sim.Fault{Call: "UPDATE_WEIGHTS", Status: 403, Message: refusal})
	out, code := e.run("apply", e.dir)
	if code == 0 || !strings.Contains(out, "error: update MesosRole/etl") || !strings.Contains(out, refusal) {
		t.Fatalf("apply refused by the master (exit %d):\n%s", code, out)
	}
	if out, _ := e.run("status", "etl", "-o", "json"); !strings.Contains(out, `"phase": "Failed"`) || !strings.Contains(out, "403 Forbidden: "+refusal) {
		t.Errorf("status of the refused role:\n%s", out)
	}
	_, log := e.startRun()
	time.Sleep(1500 * time.Millisecond) // a pass or two, still refused
	if !strings.Contains(log.String(), refusal) {
		t.Errorf("run did not log the refusal:\n%s", log)
	}
	e.c.ClearFaults()
	mc, err := mesos.New(mesos.Options{Master: e.c.MasterURL()})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if w, _ := mc.Weights(context.Background()); w["etl"] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("run never set the weight once the master accepted it")
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.waitStatus("etl", "phase: Converged")
}

// run reads the roles' weights and quotas (which the event stream does not
// carry) once per --resync and after its own changes, not on every pass a
// task's event wakes; a change somebody else makes is undone within about
// one --resync (here 1s; the test allows 10s).
func TestRunReadsRolesOncePerResync(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("roles.yaml", "apiVersion: sparkmesos.io/v1\nkind: MesosRole\nmetadata: {name: etl}\nspec: {weight: 3}\n")
	listen, _ := e.startRun() // --resync 1s
	mc, err := mesos.New(mesos.Options{Master: e.c.MasterURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	weight := func() float64 {
		w, err := mc.Weights(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return w["etl"]
	}
	waitUntil(t, "the weight", 10*time.Second, func() string { return fmt.Sprint(weight()) }, func(s string) bool { return s == "3" })

	passes := func() float64 {
		x, ok := metricOf(listen, "reconciler_passes_total")
		if !ok {
			t.Fatal("no reconciler_passes_total")
		}
		return x
	}
	before, start := passes(), time.Now()
	e.c.ResetRequests()
	for i := 0; i < 4; i++ { // drivers starting and ending: events that wake passes
		e.write(fmt.Sprintf("app%d.yaml", i), appYAML(fmt.Sprintf("app%d", i), ""))
		time.Sleep(150 * time.Millisecond)
	}
	e.waitDrivers("the four drivers", func(d map[string][]mesos.Task) bool { return len(d) == 4 })
	ran, elapsed := passes()-before, time.Since(start)
	reads := 0
	for _, r := range e.c.Requests() {
		if body := r.JSON(); r.Server == "master" && (strings.Contains(body, `"GET_WEIGHTS"`) || strings.Contains(body, `"GET_QUOTA"`)) {
			reads++
		}
	}
	// Two calls (weights and quotas) per second of --resync at most, and
	// one more second's worth for where the window started.
	if limit := 2 * (int(elapsed/time.Second) + 2); reads > limit || float64(reads) >= 2*ran {
		t.Fatalf("%v passes in %s read the roles %d times (at most %d, and fewer than twice the passes)", ran, elapsed.Round(time.Millisecond), reads, limit)
	}

	if err := mc.UpdateWeights(ctx, map[string]float64{"etl": 1}); err != nil { // somebody else
		t.Fatal(err)
	}
	waitUntil(t, "the weight set back", 10*time.Second, func() string { return fmt.Sprint(weight()) }, func(s string) bool { return s == "3" })
}
