package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/sim"
)

func scheduleYAML(name, spec, args string) string {
	return fmt.Sprintf(`apiVersion: sparkmesos.io/v1
kind: ScheduledSparkApplication
metadata: {name: %s}
spec:
%s
  template:
    dispatcher: {name: sim}
    mainClass: org.example.Main
    mainApplicationFile: https://repo.example.com/%s.jar
    executor: {cores: 1, maxCores: 1, memory: 512m}
    arguments: [%s]
`, name, spec, name, args)
}

// runsOf counts the driver tasks each run of a schedule launched, from
// the simulator's whole task history.
func (e *env) runsOf(schedule string) map[string]int {
	out := map[string]int{}
	for _, t := range e.c.TaskHistory() {
		if t.Labels["sparkmesos.io/schedule"] == schedule && t.Labels["sparkmesos.io/component"] == "driver" && !strings.Contains(t.ID, "-retry-") {
			out[t.Labels["sparkmesos.io/name"]]++
		}
	}
	return out
}

// A fast schedule creates one run per time; Forbid with a long run skips
// and says so; run-now with --arg is refused by Forbid while a run is
// active, then runs once with the argument.
func TestScheduleRunsForbidsAndRunsNow(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("fast.yaml", scheduleYAML("fast", `  schedule: "*/2 * * * * *"
  concurrencyPolicy: Allow`, `"--sim-duration=300ms"`))
	e.write("slow.yaml", scheduleYAML("slow", `  schedule: "*/2 * * * * *"`, `"--sim-duration=8s"`))
	listen, log := e.startRun("--schedule-seconds")
	runs := waitUntil(t, "4 runs of fast", 20*time.Second, func() map[string]int { return e.runsOf("fast") }, func(m map[string]int) bool { return len(m) >= 4 })
	for name, n := range runs {
		if n != 1 {
			t.Errorf("run %s launched %d drivers", name, n)
		}
	}
	// slow: each run takes 5s, a time comes due every 2s: Forbid skips.
	waitUntil(t, "a skip of slow", 20*time.Second, func() string { out, _ := e.run("status", "slow", "-o", "json"); return out },
		func(s string) bool { return strings.Contains(s, "concurrencyPolicy Forbid: run slow-") })
	out, code := e.run("run-now", "slow", "--server", listen, "--arg", "--day=2026-11-30")
	if code == 0 || !strings.Contains(out, "concurrencyPolicy Forbid and run slow-") {
		t.Fatalf("run-now under Forbid with an active run exited %d:\n%s", code, out)
	}
	out, code = e.run("run-now", "slow", "--server", listen, "--arg", "--day=2026-11-30", "--arg", "--sim-duration=1s", "--force")
	if code != 0 {
		t.Fatalf("run-now --force exited %d:\n%s\nlog:\n%s", code, out, log)
	}
	manual := waitUntil(t, "the run-now's driver", 15*time.Second, func() []string {
		var names []string
		for name := range e.runsOf("slow") {
			if strings.HasPrefix(name, "slow-m") {
				names = append(names, name)
			}
		}
		return names
	}, func(n []string) bool { return len(n) > 0 })
	time.Sleep(2 * time.Second)
	if len(manual) != 1 || e.runsOf("slow")[manual[0]] != 1 {
		t.Fatalf("run-now started %v (%v)", manual, e.runsOf("slow"))
	}
	if args := e.d.SubmittedArgs(manual[0]); strings.Join(args, " ") != "--day=2026-11-30 --sim-duration=1s" {
		t.Fatalf("the run-now was submitted with %q", args)
	}
	status, _ := e.run("status")
	if !strings.Contains(status, "ScheduledSparkApplication  fast") || !strings.Contains(status, "next: ") {
		t.Fatalf("status lacks the schedules:\n%s", status)
	}
	t.Logf("fast: %d runs, each launched once; slow: Forbid skipped and refused run-now; run-now --force ran %s once", len(runs), manual[0])
}

// SIGKILL of run at random points while four schedules come due every
// second, over more than 200 scheduled times: every time that came due
// got exactly one run, none got two, and a skipped time got none.
func TestScheduleSurvivesSIGKILL(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	names := []string{"tick-a", "tick-b", "tick-c", "tick-d"}
	for _, n := range names {
		e.write(n+".yaml", scheduleYAML(n, `  schedule: "* * * * * *"
  concurrencyPolicy: Allow
  catchUp: All
  successfulRunsHistoryLimit: 1000`, `"--sim-duration=100ms"`))
	}
	rnd := rand.New(rand.NewSource(17))
	start := time.Now()
	kills := 0
	for time.Since(start) < 55*time.Second {
		cmd, _ := e.start(freeAddr(t), "--schedule-seconds", "--in-doubt", "3s")
		time.Sleep(time.Duration(50+rnd.Intn(1500)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		kills++
	}
	// One run to the end, then every time decided must have its run.
	e.startRun("--schedule-seconds", "--in-doubt", "3s")
	type state struct {
		Schedule struct {
			Since, LastScheduled time.Time
			Runs                 []struct{ Name string }
			Skipped              []struct {
				Scheduled, Until time.Time
				Count            int
			}
		}
	}
	read := func(n string) state {
		var st []state
		out, _ := e.run("status", n, "-o", "json")
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
			t.Fatalf("status %s: %v\n%s", n, err, out)
		}
		return st[0]
	}
	time.Sleep(3 * time.Second)
	e.stopAll()
	total, skipped := 0, 0
	for _, n := range names {
		st := read(n).Schedule
		runs := e.runsOf(n)
		recorded := map[string]bool{}
		for _, r := range st.Runs {
			recorded[r.Name] = true
		}
		for run, c := range runs {
			if c != 1 {
				t.Errorf("run %s launched %d drivers", run, c)
			}
			if !recorded[run] {
				t.Errorf("run %s launched but not recorded", run)
			}
		}
		isSkipped := func(at time.Time) bool {
			for _, k := range st.Skipped {
				if !at.Before(k.Scheduled) && (at.Equal(k.Scheduled) || !at.After(k.Until)) {
					return true
				}
			}
			return false
		}
		// Every second from the first due time to the last decided one
		// got its run, or was skipped (and then got none).
		for at := st.Since.Truncate(time.Second).Add(time.Second); !at.After(st.LastScheduled); at = at.Add(time.Second) {
			total++
			run := n + "-" + strings.ToLower(at.UTC().Format("20060102t150405z"))
			switch {
			case isSkipped(at):
				skipped++
				if runs[run] != 0 {
					t.Errorf("skipped time %s has a run", run)
				}
			case runs[run] != 1:
				t.Errorf("scheduled time %s: %d runs launched", run, runs[run])
			}
		}
	}
	if total < 200 {
		t.Fatalf("only %d scheduled times came due", total)
	}
	t.Logf("%d SIGKILLs over %s: %d scheduled times came due; %d ran exactly once, %d skipped (more than %d missed at once) without a run",
		kills, time.Since(start).Round(time.Second), total, total-skipped, skipped, 20)
}

// Replace kills the active run and submits the new one; the schedule's
// metrics count what happened.
func TestScheduleReplace(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("swap.yaml", scheduleYAML("swap", `  schedule: "*/3 * * * * *"
  concurrencyPolicy: Replace`, `"--sim-duration=60s"`))
	listen, _ := e.startRun("--schedule-seconds")
	waitUntil(t, "three runs of swap", 20*time.Second, func() map[string]int { return e.runsOf("swap") }, func(m map[string]int) bool { return len(m) >= 3 })
	time.Sleep(500 * time.Millisecond)
	var live []string
	killed := 0
	for _, task := range e.c.TaskHistory() {
		if task.Labels["sparkmesos.io/schedule"] != "swap" || task.Labels["sparkmesos.io/component"] != "driver" {
			continue
		}
		switch {
		case task.Ended.IsZero():
			live = append(live, task.Labels["sparkmesos.io/name"])
		case task.State == "TASK_KILLED":
			killed++
		}
	}
	if len(live) != 1 || killed < 2 {
		t.Fatalf("Replace: live runs %v, %d killed", live, killed)
	}
	for name, n := range e.runsOf("swap") {
		if n != 1 {
			t.Errorf("run %s launched %d drivers", name, n)
		}
	}
	waitMetrics(t, listen, `reconciler_schedule_runs_total{outcome="started",schedule="swap"}`, `reconciler_schedule_start_lag_seconds_count{schedule="swap"}`)
	t.Logf("Replace: %d runs killed by their successors, one live (%s)", killed, live[0])
}
