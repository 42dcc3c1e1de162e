package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bufio"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
	"github.com/sparkmesos/reconciler/store"
	"strconv"
)

// history reads an application's runs as `history NAME -o json` gives them.
func (e *env) history(name string) []store.Submission {
	e.t.Helper()
	out, code := e.run("history", name, "-o", "json")
	if code != 0 {
		return nil
	}
	var runs []store.Submission
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		e.t.Fatalf("history -o json: %v\n%s", err, out)
	}
	return runs
}

// jq runs jq -e on input and reports whether the filter held.
func jq(t *testing.T, filter, input string) bool {
	t.Helper()
	cmd := exec.Command("jq", "-e", filter)
	cmd.Stdin = strings.NewReader(input)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("jq: %v", err) // jq is missing: .ci/run installs it
	}
	return err == nil
}

// A driver that fails with a stack trace: logs --follow streams its
// stderr while it runs and ends when it ends; status shows its reason and
// the last lines of its stderr; history lists both attempts with their
// class; once the agent has garbage-collected the sandbox, logs prints
// the tail copied into the record.
func TestFailedRunReasonLogsAndHistory(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("dispatcher.yaml", fmt.Sprintf(`apiVersion: sparkmesos.io/v1
kind: Dispatcher
metadata: {name: sim}
spec:
  external: {url: %q}
  historyServerURL: http://history.example.com:18080
`, e.d.URL()))
	e.write("flaky.yaml", appYAML("flaky", `  arguments: ["--sim-duration=2s", "--sim-outcome=TASK_FAILED"]
  restartPolicy: {type: OnFailure, maxRetries: 1, backoff: {initial: 1s, max: 1s}}
`))
	listen, _ := e.startRun()
	waitUntil(t, "the first run recorded and running", 20*time.Second, func() []store.Submission { return e.history("flaky") },
		func(r []store.Submission) bool { return len(r) == 1 && len(e.drivers()["flaky"]) == 1 })

	start := time.Now()
	out, code := e.run("logs", "flaky", "--follow")
	took := time.Since(start)
	if code != 0 || !strings.Contains(out, "INFO SparkContext: Running Spark version") || !strings.Contains(out, `Exception in thread "main" org.apache.spark.SparkException`) ||
		!strings.Contains(out, "ShutdownHookManager: Shutdown hook called") {
		t.Fatalf("logs --follow: exit %d after %s:\n%s", code, took, out)
	}
	if took > 8*time.Second {
		t.Errorf("logs --follow took %s for a 2s driver: it did not end with the driver", took)
	}
	if n := strings.Count(out, "DAGScheduler: Job"); n < 2 {
		t.Errorf("logs --follow printed %d progress lines, want the driver's lines as it ran:\n%s", n, out)
	}

	runs := waitUntil(t, "two failed runs", 30*time.Second, func() []store.Submission { return e.history("flaky") }, func(r []store.Submission) bool {
		return len(r) == 2 && r[1].Class != ""
	})
	for i, r := range runs {
		if r.Class != "application" || r.State != "TASK_FAILED" || r.TaskMessage != "Command exited with status 1" || r.StartedAt.IsZero() || r.Hostname == "" ||
			!strings.Contains(r.StderrTail, "simulated failure of flaky") {
			t.Errorf("run %d: %+v", i, r)
		}
	}
	if runs[0].Trigger != "manifest" || runs[1].Trigger != "restart" || runs[1].Attempt != 2 {
		t.Errorf("triggers %s/%s, attempt %d", runs[0].Trigger, runs[1].Trigger, runs[1].Attempt)
	}
	waitMetrics(t, listen, `spark_application_failure_count{class="application"} 2`, "spark_application_start_latency_seconds_count 2",
		"spark_application_failure_execution_time_seconds_count 2", "spark_application_submit_count 2")
	hj, _ := e.run("history", "flaky", "-o", "json")
	if !jq(t, `length == 2 and all(.[]; .class == "application" and (.stderrTail | test("IllegalStateException")))`, hj) {
		t.Errorf("jq does not read two application failures from history -o json:\n%s", hj)
	}
	table, _ := e.run("history", "flaky")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "manifest") || !strings.Contains(lines[2], "restart") ||
		strings.Count(table, "application") != 2 {
		t.Errorf("history table:\n%s", table)
	}
	status := waitUntil(t, "status to give up", 10*time.Second, func() string { s, _ := e.run("status", "flaky"); return s },
		func(s string) bool { return strings.Contains(s, "gave up") })
	for _, want := range []string{"Phase:     Failed", "TASK_FAILED: Command exited with status 1, class application", "maxRetries 1",
		"Stderr (last 15 lines", "\tat org.example.Main.main(Main.scala:42)",
		"History:   http://history.example.com:18080/history/" + e.d.FrameworkID() + "-" + runs[1].TaskID, "Failures:  2 in a row (2 against maxRetries, 0 against onInfrastructureFailureRetries)"} {
		if !strings.Contains(status, want) {
			t.Errorf("status flaky lacks %q:\n%s", want, status)
		}
	}

	e.c.GarbageCollect()
	out, code = e.run("logs", "flaky", "--tail", "3")
	if code != 0 || !strings.Contains(out, "cannot be read") || !strings.Contains(out, "garbage-collected") || !strings.Contains(out, "Shutdown hook called") {
		t.Errorf("logs after the sandbox's GC: exit %d:\n%s", code, out)
	}
	if out, code := e.run("logs", "flaky", "--run", "nope"); code != 2 || !strings.Contains(out, `has no run "nope"`) {
		t.Errorf("logs --run nope: exit %d:\n%s", code, out)
	}
}

// An agent removed under a running driver is an infrastructure failure:
// retried by onInfrastructureFailureRetries although maxRetries is 0, and
// given up at that limit.
func TestAgentLostIsAnInfrastructureFailure(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("infra.yaml", appYAML("infra", `  restartPolicy: {type: OnFailure, maxRetries: 0, onInfrastructureFailureRetries: 1, backoff: {initial: 1s, max: 1s}}
`))
	e.startRun()
	lose := func(n int) {
		drv := e.waitDrivers("a running driver", func(d map[string][]mesos.Task) bool {
			return len(d["infra"]) == 1 && d["infra"][0].State == "TASK_RUNNING" && len(e.history("infra")) == n
		})["infra"][0]
		if err := e.c.LoseAgent(drv.AgentID); err != nil {
			t.Fatal(err)
		}
	}
	lose(1)
	runs := waitUntil(t, "a second run after the lost agent", 20*time.Second, func() []store.Submission { return e.history("infra") },
		func(r []store.Submission) bool { return len(r) == 2 })
	if r := runs[0]; r.Class != "infrastructure" || r.State != "TASK_LOST" || r.Reason != "REASON_AGENT_REMOVED" {
		t.Errorf("the run on the lost agent: %+v", r)
	}
	if runs[1].Trigger != "restart" {
		t.Errorf("second run: %+v", runs[1])
	}
	lose(2)
	status := waitUntil(t, "infra to give up", 20*time.Second, func() string { s, _ := e.run("status", "infra"); return s },
		func(s string) bool { return strings.Contains(s, "gave up") })
	if !strings.Contains(status, "2 infrastructure failures of this spec (onInfrastructureFailureRetries 1)") || !strings.Contains(status, "class infrastructure") {
		t.Errorf("status infra:\n%s", status)
	}
	if runs := e.history("infra"); len(runs) != 2 || runs[1].Class != "infrastructure" {
		t.Errorf("after giving up: %+v", runs)
	}
}

// startDeadline kills a driver no offer fits (the reason names what it
// needed and what agents had free); activeDeadline kills a long run.
func TestDeadlinesKillQueuedAndLongRuns(t *testing.T) {
	e := setupCluster(t, sim.Config{Seed: 5, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond, Agents: []sim.AgentConfig{
		{CPUs: 8, MemMiB: 32768, DiskMiB: 100000, Attributes: map[string]string{"zone": "a"}},
		{CPUs: 8, MemMiB: 32768, DiskMiB: 100000, Attributes: map[string]string{"zone": "b"}},
	}}, sim.DispatcherConfig{})
	// hog takes every cpu of zone a: its driver 1, its executors 7.
	e.write("hog.yaml", strings.Replace(appYAML("hog", `  driver: {constraints: "zone:a"}
`), "executor: {cores: 1, maxCores: 2, memory: 1g}", `executor: {cores: 1, maxCores: 7, memory: 1g, constraints: "zone:a"}`, 1))
	e.startRun()
	waitUntil(t, "hog's executors to take zone a", 20*time.Second, func() int {
		n := 0
		for _, t := range e.snapshot().Tasks {
			if t.AgentID == e.c.AgentIDs()[0] && t.State == "TASK_RUNNING" {
				n++
			}
		}
		return n
	}, func(n int) bool { return n == 8 })
	e.write("big.yaml", appYAML("big", `  driver: {cores: 2, constraints: "zone:a"}
  startDeadline: 3s
`))
	e.write("long.yaml", strings.Replace(appYAML("long", `  driver: {constraints: "zone:b"}
  activeDeadline: 4s
`), "memory: 1g}", `memory: 1g, constraints: "zone:b"}`, 1))

	runs := waitUntil(t, "big killed by its startDeadline", 30*time.Second, func() []store.Submission { return e.history("big") },
		func(r []store.Submission) bool { return len(r) == 1 && r[0].Class != "" })
	if r := runs[0]; r.Class != "deadline" || r.Reason != "startDeadline" || !strings.Contains(r.TaskMessage, "no offer fits 2 cpus") || !strings.Contains(r.TaskMessage, "past its startDeadline 3s") {
		t.Errorf("big: %+v", r)
	}
	if st, _ := e.run("status", "big"); !strings.Contains(st, "Phase:     Failed") || !strings.Contains(st, "class deadline") {
		t.Errorf("status big:\n%s", st)
	}
	runs = waitUntil(t, "long killed by its activeDeadline", 30*time.Second, func() []store.Submission { return e.history("long") },
		func(r []store.Submission) bool { return len(r) == 1 && r[0].Class != "" })
	if r := runs[0]; r.Class != "deadline" || r.Reason != "activeDeadline" || r.StartedAt.IsZero() || r.FinishedAt.Sub(r.SubmittedAt) < 4*time.Second {
		t.Errorf("long: %+v", r)
	}
	// Not restarted (restartPolicy Never, and activeDeadline is final but
	// under Always): a few passes later, still one run and no driver.
	time.Sleep(3 * time.Second)
	st, _ := e.run("status", "long")
	if d := e.drivers(); len(d["long"]) != 0 || len(d["big"]) != 0 || len(e.history("long")) != 1 ||
		!strings.Contains(st, "Phase:     Failed") || !strings.Contains(st, "activeDeadline 4s passed") {
		t.Errorf("drivers left: %v\n%s", d, st)
	}
	if diff, _ := e.run("diff", e.dir, "-v"); !strings.Contains(diff, "killed by its activeDeadline 4s (class deadline): not restarted") {
		t.Errorf("diff does not say why long stays failed:\n%s", diff)
	}
}

// Another client's poison submission (a malformed driver constraint,
// sent straight to the shared dispatcher) aborts Spark's scheduler
// driver: the dispatcher keeps answering and launches nothing. status,
// diff and the metric name it stuck once our submissions wait past
// --stuck-after with room for them; once the culprit is killed and the
// dispatcher restarted (with recovery), the queued applications run, each
// once: nothing was submitted twice while it was stuck.
func TestPoisonedDispatcherIsReportedStuck(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	body := `{"action":"CreateSubmissionRequest","appResource":"https://repo/other.jar","mainClass":"x.Main","appArgs":[],"clientSparkVersion":"3.5.1",
"environmentVariables":{},"sparkProperties":{"spark.app.name":"someone-elses","spark.mesos.driver.constraints":"zone"}}`
	resp, err := http.Post(e.d.URL()+"/v1/submissions/create", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ SubmissionID string }
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	waitUntil(t, "the dispatcher to abort", 10*time.Second, e.d.Aborted, func(s string) bool { return s != "" })

	e.write("a.yaml", appYAML("victim-a", ""))
	e.write("b.yaml", appYAML("victim-b", ""))
	listen, _ := e.startRun("--stuck-after", "2s")
	st := waitUntil(t, "status to call the dispatcher stuck", 20*time.Second, func() string { s, _ := e.run("status", "victim-a"); return s },
		func(s string) bool { return strings.Contains(s, "looks stuck") })
	if !strings.Contains(st, `the dispatcher "sim" looks stuck`) || !strings.Contains(st, "Phase:     Queued") || !strings.Contains(st, "free for its") {
		t.Errorf("status victim-a:\n%s", st)
	}
	if diff, _ := e.run("diff", e.dir, "--stuck-after", "2s"); !strings.Contains(diff, `victim-b`) || !strings.Contains(diff, `the dispatcher "sim" looks stuck`) {
		t.Errorf("diff:\n%s", diff)
	}
	waitUntil(t, "the metric", 10*time.Second, func() string { _, m := get("http://" + listen + "/metrics"); return m },
		func(m string) bool { return strings.Contains(m, `reconciler_dispatcher_stuck{dispatcher="sim"} 2`) })

	// The operator kills the culprit and restarts the dispatcher.
	kill, err := http.Post(e.d.URL()+"/v1/submissions/kill/"+created.SubmissionID, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	kill.Body.Close()
	if err := e.d.Restart(true); err != nil {
		t.Fatal(err)
	}
	e.waitDrivers("both victims running", func(d map[string][]mesos.Task) bool {
		return len(d["victim-a"]) == 1 && len(d["victim-b"]) == 1 && d["victim-a"][0].State == "TASK_RUNNING" && d["victim-b"][0].State == "TASK_RUNNING"
	})
	launched := map[string]int{}
	for _, r := range e.c.TaskHistory() {
		if r.Labels["sparkmesos.io/component"] == "driver" {
			launched[r.Labels["sparkmesos.io/name"]]++
		}
	}
	if launched["victim-a"] != 1 || launched["victim-b"] != 1 {
		t.Errorf("drivers launched: %v, want one each", launched)
	}
	for _, n := range []string{"victim-a", "victim-b"} {
		if runs := e.history(n); len(runs) != 1 {
			t.Errorf("%s: %d runs submitted, want 1: %+v", n, len(runs), runs)
		}
	}
	waitUntil(t, "the metric to clear", 10*time.Second, func() string { _, m := get("http://" + listen + "/metrics"); return m },
		func(m string) bool { return !strings.Contains(m, `reconciler_dispatcher_stuck{`) })
}

// Rotating a file secret resubmits the running driver with the new
// value: diff says so first; the value itself appears nowhere (status,
// history, the store's JSON, diff), only a keyed digest of it.
func TestRotatedSecretResubmits(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("CANARY-OLD-TOKEN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.write("svc.yaml", appYAML("svc", fmt.Sprintf(`  driver:
    secrets: [{valueFrom: {file: %q}, envKey: API_TOKEN}]
  restartPolicy: {type: Always}
`, secret)))
	e.startRun()
	first := e.waitDrivers("svc running", func(d map[string][]mesos.Task) bool {
		return len(d["svc"]) == 1 && d["svc"][0].State == "TASK_RUNNING"
	})["svc"][0].ID
	if diff, code := e.run("diff", e.dir); code != 0 {
		t.Fatalf("diff before the rotation: exit %d\n%s", code, diff)
	}
	e.stopAll() // diff must say it before run does it
	if err := os.WriteFile(secret, []byte("CANARY-NEW-TOKEN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	diff, code := e.run("diff", e.dir)
	if code != 1 || !strings.Contains(diff, "a secret's value changed since driver "+first+" was submitted (secrets from file:"+secret+")") {
		t.Fatalf("diff after the rotation: exit %d\n%s", code, diff)
	}
	e.startRun()
	e.waitDrivers("svc resubmitted", func(d map[string][]mesos.Task) bool {
		return len(d["svc"]) == 1 && d["svc"][0].ID != first && d["svc"][0].State == "TASK_RUNNING"
	})
	// What the dispatcher received last holds the new value, without the
	// file's newline.
	var sent string
	for _, r := range e.c.Requests() {
		if r.Server == "dispatcher" && strings.HasSuffix(r.Path, "/create") {
			sent = string(r.Body)
		}
	}
	if !strings.Contains(sent, `"spark.mesos.driver.secret.values":"CANARY-NEW-TOKEN"`) { // the client's JSON is compact
		t.Errorf("the last submission does not carry the new value:\n%s", sent)
	}
	for _, args := range [][]string{{"status", "svc", "-o", "json"}, {"history", "svc", "-o", "json"}, {"status", "--source", "-o", "json"}, {"diff", e.dir, "-v"}} {
		out, _ := e.run(args...)
		if strings.Contains(out, "CANARY") || strings.Contains(out, "digestKey") {
			t.Errorf("%v shows the secret or the digest key:\n%s", args, out)
		}
	}
	if runs := e.history("svc"); len(runs) != 2 || runs[0].Class != "killed" {
		t.Errorf("runs: %+v", runs)
	}
}

// reconciler events --follow sees a scripted scenario's events in order
// (a failing app: submitted, ended with its class, restarted, ended, given
// up), and a client that reconnects with Last-Event-ID gets the rest, the
// first id the one after its last.
func TestEventsFollowInOrderAndResume(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	listen, _ := e.startRun()
	follow := exec.Command(binary, "events", "--follow", "-o", "json", "--server", listen)
	follow.Env = e.environ()
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = follow.Process.Kill(); _ = follow.Wait() }()
	time.Sleep(300 * time.Millisecond) // connected
	e.write("flaky.yaml", appYAML("flaky", `  arguments: ["--sim-duration=300ms", "--sim-outcome=TASK_FAILED"]
  restartPolicy: {type: OnFailure, maxRetries: 1, backoff: {initial: 1s, max: 1s}}
`))
	type ev struct {
		ID                          int64
		Kind, Name, Reason, Message string
	}
	var seen []ev
	lines := bufio.NewScanner(out)
	deadline := time.After(30 * time.Second)
	got := make(chan ev)
	go func() {
		for lines.Scan() {
			var x ev
			if json.Unmarshal(lines.Bytes(), &x) == nil {
				got <- x
			}
		}
	}()
	var flaky []string
	for len(flaky) < 4 {
		select {
		case x := <-got:
			seen = append(seen, x)
			if x.Name == "flaky" {
				flaky = append(flaky, x.Reason)
			}
		case <-deadline:
			t.Fatalf("events seen: %+v", seen)
		}
	}
	if strings.Join(flaky, ",") != "Submitted,Ended,Submitted,Ended" {
		t.Errorf("flaky's events in order: %v", flaky)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].ID <= seen[i-1].ID {
			t.Errorf("ids not increasing: %+v", seen)
		}
	}
	// A client that reconnects after the first event of flaky's gets the rest.
	var first int64
	for _, x := range seen {
		if x.Name == "flaky" {
			first = x.ID
			break
		}
	}
	again, code := e.run("events", "--server", listen, "--since", strconv.FormatInt(first, 10), "-o", "json")
	if code != 0 {
		t.Fatalf("events --since: exit %d\n%s", code, again)
	}
	var ids []int64
	for _, l := range strings.Split(strings.TrimSpace(again), "\n") {
		var x ev
		if json.Unmarshal([]byte(l), &x) == nil {
			ids = append(ids, x.ID)
		}
	}
	if len(ids) == 0 || ids[0] != first+1 {
		t.Errorf("resumed after %d: ids %v, want the next one first", first, ids)
	}
	if text, _ := e.run("events", "--server", listen, "flaky"); !strings.Contains(text, "SparkApplication/flaky  Warning  Ended  driver ") {
		t.Errorf("events flaky:\n%s", text)
	}
}
