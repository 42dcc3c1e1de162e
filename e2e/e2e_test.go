// Package e2e runs the built reconciler binary, as a user runs it, against
// the simulated Mesos cluster and Spark dispatcher.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "reconciler-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "reconciler")
	build := exec.Command("go", "build", "-o", binary, "../cmd/reconciler")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	t     *testing.T
	c     *sim.Cluster
	d     *sim.Dispatcher
	dir   string // manifests
	state string // store file
	procs []*exec.Cmd
	// source is what run follows: --dir dir unless set (--git ...).
	source []string
}

func setup(t *testing.T, dc sim.DispatcherConfig) *env {
	t.Helper()
	return setupCluster(t, sim.Config{Seed: 3, NumAgents: 3, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond}, dc)
}

// setupCluster starts the simulated cluster and dispatcher and writes the
// dispatcher's manifest.
func setupCluster(t *testing.T, cfg sim.Config, dc sim.DispatcherConfig) *env {
	t.Helper()
	c := sim.New(cfg)
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	d, err := c.StartDispatcher(dc)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, d: d, dir: t.TempDir(), state: filepath.Join(t.TempDir(), "state.db")}
	e.write("dispatcher.yaml", fmt.Sprintf(`apiVersion: sparkmesos.io/v1
kind: Dispatcher
metadata: {name: sim}
spec:
  external: {url: %q}
`, d.URL()))
	return e
}

func (e *env) write(name, content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func appYAML(name, extra string) string {
	return fmt.Sprintf(`apiVersion: sparkmesos.io/v1
kind: SparkApplication
metadata: {name: %s}
spec:
  dispatcher: {name: sim}
  mainClass: org.example.Main
  mainApplicationFile: https://repo.example.com/%s.jar
  executor: {cores: 1, maxCores: 2, memory: 1g}
%s`, name, name, extra)
}

// environ is the environment of the binary for this test: its master,
// store, owner and API token file (beside the store: the CLI's --server and
// run share it; run creates it).
func (e *env) environ() []string {
	return append(os.Environ(), "RECONCILER_MASTER="+e.c.MasterURL(), "RECONCILER_STORE=bolt:"+e.state, "RECONCILER_OWNER=e2e",
		"RECONCILER_API_TOKEN_FILE="+e.tokenFile())
}

// tokenFile is the test's API token file, written (as run would) before
// the first command, so that a CLI call may come before any run.
func (e *env) tokenFile() string {
	p := filepath.Join(filepath.Dir(e.state), "api-token")
	if _, err := os.Stat(p); os.IsNotExist(err) {
		if err := os.WriteFile(p, []byte("e2e-token-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"\n"), 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

// run executes the binary; it returns stdout+stderr and the exit code.
func (e *env) run(args ...string) (string, int) {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.environ()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	code := exitCode(e.t, cmd.Run())
	return out.String(), code
}

// exitCode is the exit code a finished command's error stands for.
func exitCode(t testing.TB, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

func (e *env) mustApply(args ...string) string {
	e.t.Helper()
	out, code := e.run(append([]string{"apply", e.dir, "--wait", "--timeout", "20s"}, args...)...)
	if code != 0 {
		e.t.Fatalf("apply exited %d:\n%s", code, out)
	}
	return out
}

// snapshot reads the master's state as the reconciler does.
func (e *env) snapshot() *mesos.Snapshot {
	e.t.Helper()
	snap, err := e.master().Snapshot(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return snap
}

// master is a client of the simulated master.
func (e *env) master() *mesos.Client {
	e.t.Helper()
	cl, err := mesos.New(mesos.Options{Master: e.c.MasterURL()})
	if err != nil {
		e.t.Fatal(err)
	}
	return cl
}

// drivers lists the live driver tasks per application name.
func (e *env) drivers() map[string][]mesos.Task {
	e.t.Helper()
	snap := e.snapshot()
	out := map[string][]mesos.Task{}
	for _, t := range snap.Tasks {
		if t.Labels.Get("sparkmesos.io/component") == "driver" && t.Labels.Get("sparkmesos.io/owner") == "e2e" {
			out[t.Labels.Get("sparkmesos.io/name")] = append(out[t.Labels.Get("sparkmesos.io/name")], *t)
		}
	}
	return out
}

func (e *env) waitDrivers(what string, cond func(map[string][]mesos.Task) bool) map[string][]mesos.Task {
	e.t.Helper()
	return waitUntil(e.t, what, 10*time.Second, e.drivers, cond)
}

// waitUntil reads get every 50 ms until cond holds of what it read, and
// returns that; after timeout it fails the test with the last reading.
func waitUntil[T any](t testing.TB, what string, timeout time.Duration, get func() T, cond func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := get()
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last seen: %+v", what, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestApplyRunsDrivers(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	e.write("etl.yaml", appYAML("etl", "  driver: {memory: 2g}\n"))
	out, code := e.run("diff", e.dir)
	if code != 1 || !strings.Contains(out, "+ submit    pi") || !strings.Contains(out, "Plan: 2 submit.") {
		t.Fatalf("diff before apply: exit %d\n%s", code, out)
	}
	e.mustApply()
	d := e.waitDrivers("two drivers", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 && len(d["etl"]) == 1 })
	if d["pi"][0].State != "TASK_RUNNING" {
		t.Errorf("pi driver %s", d["pi"][0].State)
	}
	if out, code := e.run("diff", e.dir); code != 0 || !strings.Contains(out, "Plan: 2 unchanged.") {
		t.Fatalf("diff after apply: exit %d\n%s", code, out)
	}
	out, _ = e.run("status")
	if !strings.Contains(out, "pi") || !strings.Contains(out, "Running") {
		t.Fatalf("status:\n%s", out)
	}
}

func TestEditResubmits(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	e.mustApply()
	before := e.waitDrivers("pi", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 })["pi"][0]
	e.write("pi.yaml", appYAML("pi", "  sparkConf: {spark.sql.shuffle.partitions: \"64\"}\n"))
	out, code := e.run("diff", e.dir)
	if code != 1 || !strings.Contains(out, "~ resubmit  pi") || !strings.Contains(out, "spark.sql.shuffle.partitions: - -> 64") {
		t.Fatalf("diff after the edit: exit %d\n%s", code, out)
	}
	e.mustApply()
	after := e.waitDrivers("the new pi", func(d map[string][]mesos.Task) bool {
		return len(d["pi"]) == 1 && d["pi"][0].ID != before.ID
	})["pi"][0]
	if after.Labels.Get("sparkmesos.io/spec-hash") == before.Labels.Get("sparkmesos.io/spec-hash") {
		t.Fatal("the new driver has the old spec hash")
	}
}

func TestPruneKillsRemovedApps(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	for _, n := range []string{"a", "b", "c"} {
		e.write(n+".yaml", appYAML(n, ""))
	}
	e.mustApply()
	e.waitDrivers("three drivers", func(d map[string][]mesos.Task) bool { return len(d) == 3 })
	os.Remove(filepath.Join(e.dir, "c.yaml"))
	out := e.mustApply()
	if !strings.Contains(out, "no longer in the manifests; apply with --prune") && len(e.drivers()["c"]) != 1 {
		t.Fatalf("without --prune c must stay:\n%s", out)
	}
	out = e.mustApply("--prune")
	if !strings.Contains(out, "- prune     c") {
		t.Fatalf("apply --prune:\n%s", out)
	}
	e.waitDrivers("c gone", func(d map[string][]mesos.Task) bool { return len(d["c"]) == 0 && len(d["a"]) == 1 && len(d["b"]) == 1 })
	// Removing everything is refused without --force.
	os.Remove(filepath.Join(e.dir, "a.yaml"))
	os.Remove(filepath.Join(e.dir, "b.yaml"))
	out, _ = e.run("apply", e.dir, "--prune")
	if !strings.Contains(out, "prune refused") || len(e.drivers()["a"]) != 1 {
		t.Fatalf("pruning everything without --force:\n%s", out)
	}
}

func TestBrokenFileLeavesAppAlone(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	e.mustApply()
	before := e.waitDrivers("pi", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 })["pi"][0]
	e.write("pi.yaml", appYAML("pi", "  executor: {cores: two}\n"))
	// diff shows it held, as run would hold it; apply changes nothing at all.
	out, code := e.run("diff", e.dir, "--prune", "--force")
	if code != 2 || !strings.Contains(out, "? hold      pi") || !strings.Contains(out, "pi.yaml:") {
		t.Fatalf("diff with a broken file exited %d:\n%s", code, out)
	}
	out, code = e.run("apply", e.dir, "--prune", "--force")
	if code != 2 || !strings.Contains(out, "pi.yaml:") || !strings.Contains(out, "nothing was applied") {
		t.Fatalf("apply with a broken file exited %d:\n%s", code, out)
	}
	time.Sleep(200 * time.Millisecond)
	if d := e.drivers()["pi"]; len(d) != 1 || d[0].ID != before.ID {
		t.Fatalf("the broken file's app was touched: %v", d)
	}
}

func TestStoreLossAdoptsWithoutDuplicates(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	e.write("etl.yaml", appYAML("etl", ""))
	e.mustApply()
	before := e.waitDrivers("two drivers", func(d map[string][]mesos.Task) bool { return len(d) == 2 })
	os.Remove(e.state)
	os.Remove(e.state + ".lock")
	out := e.mustApply()
	if !strings.Contains(out, "= adopt     pi") || !strings.Contains(out, "= adopt     etl") {
		t.Fatalf("after losing the store:\n%s", out)
	}
	after := e.drivers()
	for _, n := range []string{"pi", "etl"} {
		if len(after[n]) != 1 || after[n][0].ID != before[n][0].ID {
			t.Fatalf("%s: %v, want the same single driver as before", n, after[n])
		}
	}
}

func TestFailingAppRestartsWithBackoff(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("flaky.yaml", appYAML("flaky", `  arguments: ["--sim-duration=200ms", "--sim-outcome=TASK_FAILED"]
  restartPolicy:
    type: OnFailure
    maxRetries: 2
    backoff: {initial: 1s, max: 2s}
`))
	start := time.Now()
	out, code := e.run("apply", e.dir, "--wait", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "flaky") || !strings.Contains(out, "Failed") {
		t.Fatalf("apply --wait: exit %d\n%s", code, out)
	}
	// Three runs (the first and two retries), spaced by the backoff (1s, then 2s).
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("three runs took %s: the backoff was not applied", took)
	}
	status, _ := e.run("status", "flaky", "-o", "json")
	if n := strings.Count(status, `"state": "TASK_FAILED"`); n != 3 {
		t.Fatalf("%d failed submissions recorded, want 3:\n%s", n, status)
	}
}

func TestDispatcherRestartConvergesWithoutDuplicates(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	e.mustApply()
	before := e.waitDrivers("pi", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 })["pi"][0]
	if err := e.d.Restart(false); err != nil {
		t.Fatal(err)
	}
	// Without recovery the dispatcher forgot the driver, but the driver still
	// runs under the old framework: the reconciler sees it by its labels.
	out := e.mustApply()
	if strings.Contains(out, "+ submit") || strings.Contains(out, "+ restart") {
		t.Fatalf("resubmitted a running driver after a dispatcher restart:\n%s", out)
	}
	if d := e.drivers()["pi"]; len(d) != 1 || d[0].ID != before.ID {
		t.Fatalf("drivers after the restart: %v", d)
	}
}

func TestMasterFailover(t *testing.T) {
	c := sim.New(sim.Config{Seed: 5, Masters: 2, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond})
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	d, err := c.StartDispatcher(sim.DispatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, d: d, dir: t.TempDir(), state: filepath.Join(t.TempDir(), "state.db")}
	e.write("dispatcher.yaml", fmt.Sprintf("apiVersion: sparkmesos.io/v1\nkind: Dispatcher\nmetadata: {name: sim}\nspec:\n  external: {url: %q}\n", d.URL()))
	e.write("pi.yaml", appYAML("pi", ""))
	e.mustApply()
	c.FailOver()
	out := e.mustApply()
	if strings.Contains(out, "+ submit") {
		t.Fatalf("a master failover caused a resubmission:\n%s", out)
	}
	if n := len(e.drivers()["pi"]); n != 1 {
		t.Fatalf("%d drivers after the failover", n)
	}
}

// A master keeps only the last few completed tasks of a framework (here 5;
// 1,000 by default), and every driver is a task of the dispatcher's: batch
// drivers that finish while the reconciler is stopped vanish from the
// master's state. On restart the reconciler learns their end from the
// dispatcher and records them finished; it submits none of them again.
func TestFinishedDriversGoneFromTheMasterAreNotResubmitted(t *testing.T) {
	e := setupCluster(t, sim.Config{Seed: 13, NumAgents: 3, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond,
		MaxCompletedTasksPerFramework: 5}, sim.DispatcherConfig{})
	const n = 20
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("batch-%02d", i)
		e.write(name+".yaml", appYAML(name, `  arguments: ["--sim-duration=1s"]
`))
	}
	e.startRun()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := e.run("status", "-o", "json")
		if c := strings.Count(out, `"id": "driver-`); c == n {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d of %d submitted:\n%s", c, n, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.stopAll()
	for deadline := time.Now().Add(30 * time.Second); e.d.Finished() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d drivers finished", e.d.Finished(), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	completed := 0
	for _, task := range e.snapshot().CompletedTasks {
		if task.FrameworkID == e.d.FrameworkID() {
			completed++
		}
	}
	if completed > 5 {
		t.Fatalf("the master lists %d completed drivers, want at most 5", completed)
	}

	e.c.ResetRequests()
	e.startRun()
	for i := 0; i < n; i++ {
		e.waitStatus(fmt.Sprintf("batch-%02d", i), "phase: Succeeded")
	}
	for _, r := range e.c.Requests() {
		if r.Path == "/v1/submissions/create" {
			t.Errorf("submitted again after the restart: %s", r.Body)
		}
	}
	if d := e.drivers(); len(d) != 0 {
		t.Errorf("drivers running after the restart: %v", d)
	}
}
