package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
)

const brokenShuffle = `apiVersion: sparkmesos.io/v1
kind: ShuffleService
metadata: {name: shuffle
spec: [
`

// A ShuffleService whose file breaks is held: diff --prune plans no kill
// and says why, its killed task is relaunched from the last good spec, and
// run --prune restarted with the old store or an empty one keeps its tasks.
// Fixing the file resumes normal planning.
func TestBrokenServiceFileIsHeld(t *testing.T) {
	e := servicesEnv(t)
	zoneA := e.c.AgentIDs()[:3]
	// run follows the directory by a relative path, as people type it.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.source = []string{"--dir", rel}
	cmd, log := e.start(freeAddr(t), "--prune", "--service-backoff", "200ms")
	first := e.waitShuffle("one task per zone-a agent", runningOn(zoneA...))

	e.write("shuffle.yaml", brokenShuffle)
	out, _ := e.run("diff", "--prune", e.dir)
	if strings.Contains(out, "- kill") || !strings.Contains(out, "? hold      ShuffleService/shuffle") || !strings.Contains(out, "shuffle.yaml failed to load") {
		t.Fatalf("diff --prune with the service's file broken:\n%s", out)
	}

	// Held is "the last good spec in force": a killed task comes back.
	victim := first[zoneA[0]][0]
	time.Sleep(1500 * time.Millisecond) // run has read the broken file
	if err := e.c.KillTaskProcess(victim.ID); err != nil {
		t.Fatal(err)
	}
	e.waitShuffle("the held service's killed task relaunched", func(m map[string][]mesos.Task) bool {
		return runningOn(zoneA...)(m) && m[zoneA[0]][0].ID != victim.ID
	})
	if !strings.Contains(log.String(), "shuffle.yaml") {
		t.Errorf("run did not report the broken file:\n%s", log)
	}

	// Restarted (SIGKILL) with the old store, then with an empty one: the
	// broken file's service is never killed.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for _, state := range []string{e.state, filepath.Join(t.TempDir(), "empty.db")} {
		e.state = state
		cmd, _ := e.start(freeAddr(t), "--prune", "--force")
		time.Sleep(2500 * time.Millisecond) // two resyncs
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if m, _ := e.shuffleTasks(); !runningOn(zoneA...)(m) {
			t.Fatalf("shuffle tasks after a restart with store %s: %v", state, m)
		}
	}

	e.write("shuffle.yaml", shuffleManifest)
	if out, code := e.run("diff", "--prune", e.dir); code != 0 || strings.Contains(out, "hold") {
		t.Fatalf("diff once the file is fixed (exit %d):\n%s", code, out)
	}
}

const weightedRole = `apiVersion: sparkmesos.io/v1
kind: MesosRole
metadata: {name: etl}
spec: {weight: 3}
`

// A source that cannot be read (a mistyped or vanished directory) changes
// nothing: apply and diff exit 2 naming the path, run keeps the last good
// desired state and says so in /readyz and status.
func TestUnreadableSourceChangesNothing(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", "  role: etl\n"))
	e.write("etl.yaml", weightedRole)
	e.mustApply()
	pi := e.waitDrivers("pi", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 })["pi"][0]
	mc, err := mesos.New(mesos.Options{Master: e.c.MasterURL()})
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(when string) {
		t.Helper()
		if w, err := mc.Weights(context.Background()); err != nil || w["etl"] != 3 {
			t.Fatalf("%s: weights %v %v", when, w, err)
		}
		if d := e.drivers()["pi"]; len(d) != 1 || d[0].ID != pi.ID {
			t.Fatalf("%s: pi's drivers %v", when, d)
		}
	}
	missing := e.dir + "x"
	for _, verb := range []string{"apply", "diff"} {
		out, code := e.run(verb, "--prune", "--force", missing)
		if code != 2 || !strings.Contains(out, missing+": cannot read: no such file or directory") || !strings.Contains(out, "nothing is planned") {
			t.Fatalf("%s --prune --force of a missing directory (exit %d):\n%s", verb, code, out)
		}
	}
	unchanged("after apply --prune --force of a missing directory")

	// run on a directory that does not exist: nothing to act on, not ready.
	src := e.dir
	e.dir = missing
	listen := freeAddr(t)
	cmd, log := e.start(listen, "--prune", "--force")
	time.Sleep(2500 * time.Millisecond)
	code, body := get("http://" + listen + "/readyz")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if code != 503 || !strings.Contains(body, "could not be read") {
		t.Errorf("/readyz of run on a missing directory: %d %s\n%s", code, body, log)
	}
	unchanged("after run --prune --force on a missing directory")

	// The directory vanishes under a running run: the last good state
	// stays in force.
	e.dir = src
	listen, _ = e.startRun("--prune", "--force")
	moved := src + ".moved"
	if err := os.Rename(src, moved); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	unchanged("after the followed directory vanished")
	if code, body := get("http://" + listen + "/readyz"); code != 200 || !strings.Contains(body, "the last good desired state is in force") {
		t.Errorf("/readyz with the directory gone: %d %s", code, body)
	}
	if out, _ := e.run("status", "--source"); !strings.Contains(out, "could not be read") {
		t.Errorf("status --source with the directory gone:\n%s", out)
	}
}

// A manifest truncated to nothing holds what it declared: run --prune
// --force kills nothing; validate says what is wrong.
func TestEmptyManifestHoldsItsObjects(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	e.write("etl.yaml", appYAML("etl", ""))
	e.startRun("--prune", "--force")
	before := e.waitDrivers("pi and etl", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 && len(d["etl"]) == 1 })
	e.write("pi.yaml", "")
	time.Sleep(2500 * time.Millisecond) // the change and a resync
	if d := e.drivers()["pi"]; len(d) != 1 || d[0].ID != before["pi"][0].ID {
		t.Fatalf("pi's drivers after its file was emptied: %v", d)
	}
	// Its last good spec stays in force, and status says why.
	e.waitStatus("pi", "phase: Held")
	if out, _ := e.run("status", "pi", "-o", "json"); !strings.Contains(out, "pi.yaml failed to load: the last good spec stays in force") {
		t.Errorf("status of pi does not say why it is held:\n%s", out)
	}
	out, code := e.run("validate", filepath.Join(e.dir, "pi.yaml"))
	if code != 2 || !strings.Contains(out, "holds no manifest") {
		t.Errorf("validate of an empty file (exit %d):\n%s", code, out)
	}
}

// A restart of run in the middle of a failed shuffle service task's
// backoff keeps the backoff: the task is relaunched no earlier than it
// would have been without the restart (failures are kept in the store).
func TestServiceBackoffSurvivesRestart(t *testing.T) {
	e := servicesEnv(t)
	zoneA := e.c.AgentIDs()[:3]
	const backoff = 4 * time.Second
	cmd, _ := e.start(freeAddr(t), "--service-backoff", backoff.String())
	first := e.waitShuffle("one task per zone-a agent", runningOn(zoneA...))
	victim := first[zoneA[0]][0]
	failedAt := time.Now()
	if err := e.c.EndTask(victim.ID, 3 /* TASK_FAILED */, "Command exited with status 1"); err != nil {
		t.Fatal(err)
	}
	// The failure is recorded by the next pass (resync 1s), then run dies.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := e.run("status", "shuffle", "-o", "json")
		if strings.Contains(out, `"failures"`) && strings.Contains(out, "Command exited with status 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failure was never recorded:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	e.startRun("--service-backoff", backoff.String())
	relaunched := e.waitShuffle("the failed task relaunched after the restart", func(m map[string][]mesos.Task) bool {
		return runningOn(zoneA...)(m) && m[zoneA[0]][0].ID != victim.ID
	})
	if took := time.Since(failedAt); took < backoff-200*time.Millisecond {
		t.Errorf("relaunched %s after the failure (task %s): the restart reset the %s backoff", took, relaunched[zoneA[0]][0].ID, backoff)
	}
}
