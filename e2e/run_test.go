package e2e

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
	"path/filepath"
)

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs "reconciler run" in the background.
func (e *env) start(listen string, extra ...string) (*exec.Cmd, *bytes.Buffer) {
	e.t.Helper()
	source := e.source
	if source == nil {
		source = []string{"--dir", e.dir}
	}
	args := append(append([]string{"run"}, source...), "--listen", listen, "--resync", "1s")
	args = append(args, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Env = e.environ()
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	return cmd, &log
}

// startRun starts "reconciler run" for the rest of the test: it is stopped
// (and its log shown if the test failed) at cleanup, and started only once
// it reports ready.
func (e *env) startRun(extra ...string) (listen string, log *bytes.Buffer) {
	e.t.Helper()
	listen = freeAddr(e.t)
	cmd, log := e.start(listen, extra...)
	e.procs = append(e.procs, cmd)
	e.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if e.t.Failed() {
			e.t.Logf("run's log:\n%s", log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := get("http://" + listen + "/readyz"); code == 200 {
			return listen, log
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run never became ready; its log:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopAll stops (SIGTERM) every run started with startRun and waits for it.
func (e *env) stopAll() {
	for _, cmd := range e.procs {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	}
	e.procs = nil
}

// metricOf is the value of an unlabelled metric that run at listen
// serves, and whether it serves it.
func metricOf(listen, name string) (float64, bool) {
	_, body := get("http://" + listen + "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var x float64
			_, err := fmt.Sscan(v, &x)
			return x, err == nil
		}
	}
	return 0, false
}

// waitMetrics waits until run at listen serves every line of want in
// /metrics and returns them all. A pass counts its actions once they are
// done: what they did can show a moment before.
func waitMetrics(t testing.TB, listen string, want ...string) string {
	t.Helper()
	return waitUntil(t, fmt.Sprintf("/metrics to hold %q", want), 10*time.Second, func() string { _, m := get("http://" + listen + "/metrics"); return m },
		func(m string) bool {
			for _, w := range want {
				if !strings.Contains(m, w) {
					return false
				}
			}
			return true
		})
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunFollowsDirectory(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	listen, log := e.startRun()
	e.write("pi.yaml", appYAML("pi", ""))
	first := e.waitDrivers("pi submitted on the new file", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 })["pi"][0]
	e.write("pi.yaml", appYAML("pi", "  sparkConf: {spark.sql.shuffle.partitions: \"64\"}\n"))
	e.waitDrivers("pi resubmitted on the edit", func(d map[string][]mesos.Task) bool {
		return len(d["pi"]) == 1 && d["pi"][0].ID != first.ID
	})
	if code, body := get("http://" + listen + "/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, _ := get("http://" + listen + "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	waitMetrics(t, listen, "spark_application_submit_count 2", "spark_application_count 1", "reconciler_is_leader 1", `reconciler_actions_total{action="resubmit",result="ok"} 1`)
	// Each pass that observed times its three steps.
	var counts []float64
	for _, step := range []string{"observe", "plan", "execute"} {
		n, ok := metricOf(listen, `reconciler_pass_step_duration_seconds_count{step="`+step+`"}`)
		sum, _ := metricOf(listen, `reconciler_pass_step_duration_seconds_sum{step="`+step+`"}`)
		if !ok || n < 2 || sum <= 0 {
			t.Errorf("step %s: %v passes timed, %v s in all (want two or more, taking time)", step, n, sum)
		}
		counts = append(counts, n)
	}
	if passes, _ := metricOf(listen, "reconciler_passes_total"); counts[1] > passes {
		t.Errorf("%v plans timed in %v passes", counts[1], passes)
	}
	// A broken edit changes nothing.
	running := e.drivers()["pi"][0]
	e.write("pi.yaml", appYAML("pi", "  executor: {cores: \"many\"}\n"))
	time.Sleep(1500 * time.Millisecond)
	if d := e.drivers()["pi"]; len(d) != 1 || d[0].ID != running.ID {
		t.Fatalf("a broken edit touched the driver: %v", d)
	}
	if !strings.Contains(log.String(), "pi.yaml:") {
		t.Errorf("the broken file was not reported with its position")
	}
}

// TestCrashSafety SIGKILLs the run process at random moments, more than a
// hundred times, while the manifests change under it; at the end every
// application has exactly one driver, running its current spec.
func TestCrashSafety(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	rnd := rand.New(rand.NewSource(11))
	apps := []string{"a", "b", "c", "d", "e"}
	version := map[string]int{}
	writeApp := func(n string) {
		e.write(n+".yaml", appYAML(n, fmt.Sprintf("  sparkConf: {spark.example.version: \"%d\"}\n", version[n])))
	}
	for _, n := range apps {
		writeApp(n)
	}
	// A kill between the intent and the dispatcher's answer leaves the
	// application in doubt: a short window makes the run resolve it within
	// the test (and a late duplicate would be killed as one).
	inDoubt := []string{"--in-doubt", "3s"}
	kills := 0
	for kills < 110 {
		cmd, _ := e.start(freeAddr(t), inDoubt...)
		time.Sleep(time.Duration(5+rnd.Intn(120)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		kills++
		if rnd.Intn(4) == 0 { // the manifests change between crashes
			n := apps[rnd.Intn(len(apps))]
			version[n]++
			writeApp(n)
		}
	}
	// Let one process run to the end.
	listen := freeAddr(t)
	cmd, log := e.start(listen, inDoubt...)
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	want := map[string]string{}
	out, _ := e.run("render", e.dir, "--kind", "SparkApplication", "-o", "json")
	for _, n := range apps {
		i := strings.Index(out, `"name": "`+n+`"`)
		j := strings.Index(out[i:], `"specHash": "`)
		want[n] = out[i+j+13 : i+j+33]
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := e.drivers()
		ok := true
		for _, n := range apps {
			if len(d[n]) != 1 || d[n][0].Labels.Get("sparkmesos.io/spec-hash") != want[n] {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			var lines []string
			for _, n := range apps {
				var ids []string
				for _, t := range d[n] {
					ids = append(ids, t.ID+"@"+t.Labels.Get("sparkmesos.io/spec-hash")[:8])
				}
				lines = append(lines, fmt.Sprintf("%s (want %s): %v", n, want[n][:8], ids))
			}
			t.Fatalf("after %d kills, not converged:\n%s\nlog:\n%s", kills, strings.Join(lines, "\n"), log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Duplicates anywhere, queued ones included, would show here as more
	// than one driver per application; none is allowed.
	time.Sleep(500 * time.Millisecond)
	for _, n := range apps {
		if d := e.drivers()[n]; len(d) != 1 {
			t.Fatalf("%s has %d drivers", n, len(d))
		}
	}
	// The whole history, not only the end state: no two drivers of one
	// application were ever alive at once, and no spec ran twice (a late
	// duplicate killed afterwards still ran a batch job twice).
	drivers, overlaps, twice := driverHistoryViolations(e.c.TaskHistory(), e.d.FrameworkID())
	for _, v := range append(overlaps, twice...) {
		t.Error(v)
	}
	t.Logf("%d SIGKILLs, then converged: one driver per application, each running its current spec; %d drivers in the history, %d overlapping, %d specs run twice",
		kills, drivers, len(overlaps), len(twice))
}

// driverHistoryViolations finds, among the driver tasks of a dispatcher's
// framework, two of one application alive at the same time, and specs
// launched more than once.
func driverHistoryViolations(history []sim.TaskRun, dispatcherFramework string) (drivers int, overlaps, twice []string) {
	byApp := map[string][]sim.TaskRun{}
	runs := map[string][]string{}
	for _, r := range history {
		if r.FrameworkID != dispatcherFramework || r.Labels["sparkmesos.io/owner"] != "e2e" {
			continue
		}
		drivers++
		app := r.Labels["sparkmesos.io/name"]
		byApp[app] = append(byApp[app], r)
		key := app + "@" + r.Labels["sparkmesos.io/spec-hash"]
		runs[key] = append(runs[key], r.ID)
	}
	for app, rs := range byApp {
		for i := range rs {
			for j := i + 1; j < len(rs); j++ {
				a, b := rs[i], rs[j]
				aEnd, bEnd := a.Ended, b.Ended
				if (aEnd.IsZero() || b.Launched.Before(aEnd)) && (bEnd.IsZero() || a.Launched.Before(bEnd)) {
					overlaps = append(overlaps, fmt.Sprintf("%s: drivers %s and %s were alive at the same time", app, a.ID, b.ID))
				}
			}
		}
	}
	for key, ids := range runs {
		if len(ids) > 1 {
			twice = append(twice, fmt.Sprintf("%s was launched %d times: %v", key, len(ids), ids))
		}
	}
	return drivers, overlaps, twice
}

func TestRerunAndDelete(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	e.mustApply()
	first := e.waitDrivers("pi", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 })["pi"][0]

	// Directly on the store, then the next apply acts.
	if out, code := e.run("rerun", "pi"); code != 0 || !strings.Contains(out, "run-now of pi requested") {
		t.Fatalf("rerun: %d %s", code, out)
	}
	out := e.mustApply()
	if !strings.Contains(out, "~ resubmit  pi") || !strings.Contains(out, "run-now requested") {
		t.Fatalf("apply after rerun:\n%s", out)
	}
	second := e.waitDrivers("the rerun", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 && d["pi"][0].ID != first.ID })["pi"][0]

	// Through a running reconciler, which holds the store.
	listen, _ := e.startRun()
	if out, code := e.run("rerun", "pi"); code == 0 || !strings.Contains(out, "--server") {
		t.Fatalf("rerun without --server while run holds the store: %d %s", code, out)
	}
	if out, code := e.run("rerun", "pi", "--server", listen); code != 0 {
		t.Fatalf("rerun --server: %d %s", code, out)
	}
	e.waitDrivers("the rerun through the server", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 && d["pi"][0].ID != second.ID })

	// delete: the manifest removed first (no --prune: orphaned), then deleted.
	os.Remove(e.dir + "/pi.yaml")
	time.Sleep(500 * time.Millisecond)
	if out, code := e.run("delete", "pi", "--server", listen); code != 0 || !strings.Contains(out, "deleted pi") {
		t.Fatalf("delete: %d %s", code, out)
	}
	e.waitDrivers("pi gone", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 0 })
	if out, code := e.run("delete", "pi", "--server", listen); code == 0 || !strings.Contains(out, "no such application") {
		t.Fatalf("deleting twice: %d %s", code, out)
	}
}

// The history check finds what it looks for.
func TestDriverHistoryViolations(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	run := func(id, app, hash string, from, to int) sim.TaskRun {
		r := sim.TaskRun{ID: id, FrameworkID: "d", Labels: map[string]string{"sparkmesos.io/owner": "e2e", "sparkmesos.io/name": app, "sparkmesos.io/spec-hash": hash}, Launched: at(from)}
		if to > 0 {
			r.Ended = at(to)
		}
		return r
	}
	n, overlaps, twice := driverHistoryViolations([]sim.TaskRun{
		run("1", "a", "h1", 1, 3), run("2", "a", "h2", 3, 0), // one after the other
		run("3", "b", "h1", 1, 5), run("4", "b", "h2", 4, 0), // alive together
		run("5", "c", "h1", 1, 2), run("6", "c", "h1", 3, 0), // the same spec twice
	}, "d")
	if n != 6 || len(overlaps) != 1 || !strings.Contains(overlaps[0], "drivers 3 and 4") || len(twice) != 1 || !strings.Contains(twice[0], "c@h1") {
		t.Fatalf("%d drivers, overlaps %v, twice %v", n, overlaps, twice)
	}
}

// The control endpoints are no open doors: without the bearer token, with
// a wrong one, or from another site (with the right one), each is refused
// and nothing changes; they are not served on the --listen address at all
// when --control-listen is set; the CLI's --server sends the token.
func TestControlEndpointsNeedTheToken(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	control := freeAddr(t)
	listen, log := e.startRun("--control-listen", control)
	first := e.waitDrivers("pi running", func(d map[string][]mesos.Task) bool {
		return len(d["pi"]) == 1 && d["pi"][0].State == "TASK_RUNNING"
	})["pi"][0].ID
	token, err := os.ReadFile(e.tokenFile())
	if err != nil {
		t.Fatal(err)
	}
	right := "Bearer " + strings.TrimSpace(string(token))
	call := func(addr, path string, header map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(`{}`))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/run-now/pi", "/rerun/pi", "/delete/pi"} {
		for _, tc := range []struct {
			name   string
			addr   string
			header map[string]string
			want   int
		}{
			{"no token", control, nil, 401},
			{"a wrong token", control, map[string]string{"Authorization": "Bearer not-the-token-at-all"}, 401},
			{"not bearer", control, map[string]string{"Authorization": "Basic " + strings.TrimSpace(string(token))}, 401},
			{"cross-site, right token", control, map[string]string{"Authorization": right, "Sec-Fetch-Site": "cross-site"}, 403},
			{"another origin, right token", control, map[string]string{"Authorization": right, "Origin": "http://evil.example"}, 403},
			{"on the metrics listener", listen, map[string]string{"Authorization": right}, 404},
		} {
			if got := call(tc.addr, path, tc.header); got != tc.want {
				t.Errorf("POST %s, %s: %d, want %d", path, tc.name, got, tc.want)
			}
		}
	}
	time.Sleep(2 * time.Second) // passes run: none of the refused calls may act
	if d := e.drivers(); len(d["pi"]) != 1 || d["pi"][0].ID != first {
		t.Fatalf("a refused call changed pi: %v", d["pi"])
	}
	if st, _ := e.run("status", "pi", "-o", "json"); strings.Contains(st, "rerunRequested") {
		t.Fatalf("a refused call was recorded:\n%s", st)
	}
	// The CLI, with the same token file: accepted.
	if out, code := e.run("run-now", "pi", "--server", control); code != 0 {
		t.Fatalf("run-now --server with the token: exit %d\n%s", code, out)
	}
	e.waitDrivers("pi run again", func(d map[string][]mesos.Task) bool { return len(d["pi"]) == 1 && d["pi"][0].ID != first })
	if out, code := e.run("run-now", "pi", "--server", control, "--api-token-file", filepath.Join(t.TempDir(), "none")); code != 2 || !strings.Contains(out, "API token") {
		t.Errorf("run-now without its token file: exit %d\n%s", code, out)
	}
	if strings.Contains(log.String(), strings.TrimSpace(string(token))) {
		t.Error("run's log shows the API token")
	}
}
