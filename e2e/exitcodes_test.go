package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/sim"
)

// TestExitCodes runs every verb as a user would and checks the exit code
// of each case against README's table: 0 success, 1 not done as asked by
// design, 2 invalid input, 3 failure of the master, a dispatcher or the
// store.
func TestExitCodes(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	invalidDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(invalidDir, "bad.yaml"), []byte(appYAML("bad", "  driver: {cores: two}\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(t.TempDir(), "never", "state.db")
	unreachable := []string{"--master", "mesos://127.0.0.1:1", "--connect-timeout", "1s"}
	e.write("pi.yaml", appYAML("pi", ""))
	e.write("nightly.yaml", scheduleYAML("nightly", `  schedule: "* * * * * *"`, `"--sim-duration=60s"`))
	blockedDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(blockedDir, "d.yaml"), []byte(fmt.Sprintf("apiVersion: sparkmesos.io/v1\nkind: Dispatcher\nmetadata: {name: sim}\nspec:\n  external: {url: %q}\n", e.d.URL())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blockedDir, "gpu.yaml"), []byte(appYAML("gpu", "  driver: {constraints: \"gpu:a100\"}\n")), 0o644); err != nil {
		t.Fatal(err)
	}

	type step struct {
		name string
		args []string
		want int
		says string
	}
	steps := []step{
		{"validate: valid", []string{"validate", e.dir, "--schedule-seconds"}, 0, "valid"},
		{"validate: invalid manifest", []string{"validate", invalidDir}, 2, "bad.yaml:"},
		{"validate: missing path", []string{"validate", "/nonexistent"}, 2, "nonexistent"},
		{"validate: unknown flag", []string{"validate", e.dir, "--nope"}, 2, "unknown flag"},
		{"validate: bad -o", []string{"validate", e.dir, "-o", "xml"}, 2, "use text or json"},
		{"render: valid", []string{"render", e.dir, "--kind", "SparkApplication", "--schedule-seconds"}, 0, "pi"},
		{"render: invalid manifest", []string{"render", invalidDir}, 2, "bad.yaml:"},
		{"render: no object matches", []string{"render", e.dir, "--name", "nope", "--schedule-seconds"}, 2, "no object matches"},
		{"status: nothing applied yet", []string{"status", "--store", "bolt:" + fresh}, 0, "No state yet"},
		{"status NAME: nothing applied yet", []string{"status", "pi", "--store", "bolt:" + fresh}, 2, "no state yet"},
		{"diff: changes", []string{"diff", e.dir, "--schedule-seconds"}, 1, "submit"},
		{"diff: invalid manifest", []string{"diff", invalidDir}, 2, "bad.yaml:"},
		{"diff: missing path", []string{"diff", "/nonexistent"}, 2, "could not be read"},
		{"diff: master unreachable", append([]string{"diff", e.dir, "--schedule-seconds"}, unreachable...), 3, "cannot reach the Mesos master"},
		{"apply --dry-run: changes", []string{"apply", e.dir, "--dry-run", "--schedule-seconds"}, 1, "submit"},
		{"apply: invalid manifest", []string{"apply", invalidDir}, 2, "nothing was applied"},
		{"apply: master unreachable", append([]string{"apply", e.dir, "--schedule-seconds"}, unreachable...), 3, "cannot reach the Mesos master"},
		{"apply --wait: converged", []string{"apply", e.dir, "--wait", "--timeout", "20s", "--schedule-seconds"}, 0, "pi"},
		{"diff: no changes", []string{"diff", filepath.Join(e.dir, "pi.yaml"), filepath.Join(e.dir, "dispatcher.yaml")}, 0, "Plan:"},
		{"status: recorded", []string{"status"}, 0, "pi"},
		{"status NAME: unknown", []string{"status", "nope"}, 2, "no object named"},
		{"run-now: unknown", []string{"run-now", "nope"}, 2, "no such application"},
		{"run-now: owned property", []string{"run-now", "pi", "--conf", "spark.master=x"}, 2, "the reconciler sets it"},
		{"run-now: not key=value", []string{"run-now", "pi", "--conf", "nokey"}, 2, "key=value"},
		{"run-now: server unreachable", []string{"run-now", "pi", "--server", "127.0.0.1:1"}, 3, "cannot reach the reconciler"},
		{"run-now: an application", []string{"run-now", "pi"}, 0, "requested"},
		{"delete: unknown", []string{"delete", "nope"}, 2, "no such application"},
		{"delete: server unreachable", []string{"delete", "pi", "--server", "127.0.0.1:1"}, 3, "cannot reach the reconciler"},
		{"run: unknown flag", []string{"run", "--nope"}, 2, "unknown flag"},
		{"run: no source", []string{"run"}, 2, "--dir"},
		{"run: the store cannot be opened", []string{"run", "--dir", e.dir, "--store", "bolt:/proc/forbidden/state.db"}, 3, "/proc/forbidden"},
		{"apply --wait: blocked", []string{"apply", blockedDir, "--wait", "--timeout", "20s", "--store", "bolt:" + filepath.Join(t.TempDir(), "b.db")}, 1, "not converged: blocked: gpu"},
	}
	for _, s := range steps {
		out, code := e.run(s.args...)
		if code != s.want || !strings.Contains(out, s.says) {
			t.Errorf("%s: reconciler %s exited %d (want %d), output lacks %q:\n%s", s.name, strings.Join(s.args, " "), code, s.want, s.says, out)
		}
	}
	// A successful apply recorded its source without problems: status
	// shows no older problems.
	if out, _ := e.run("status", "--source", "-o", "json"); strings.Contains(out, "sourceProblems") || !strings.Contains(out, e.dir) {
		t.Errorf("status --source after a clean apply:\n%s", out)
	}
	// Forbid refuses a run-now while a run of the schedule is active (1).
	waitUntil(t, "a run of nightly", 15*time.Second, func() string {
		out, _ := e.run("apply", e.dir, "--schedule-seconds")
		return out
	}, func(out string) bool { return strings.Contains(out, "active: nightly-") })
	if out, code := e.run("run-now", "nightly"); code != 1 || !strings.Contains(out, "concurrencyPolicy Forbid and run nightly-") {
		t.Errorf("run-now refused by Forbid exited %d (want 1):\n%s", code, out)
	}
}

// runStdout executes the binary and returns its standard output alone.
func (e *env) runStdout(args ...string) ([]byte, int) {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.environ()
	out, err := cmd.Output()
	return out, exitCode(e.t, err)
}

// validate -o json and diff -o json are JSON on stdout, for the examples
// and for invalid input alike, and jq reads them.
func TestJSONOutputs(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	e.write("bad.yaml", appYAML("bad", "  driver: {cores: two}\n"))
	var v struct {
		Valid, Errors, Warnings int
		Problems                []struct {
			File, Path, Severity, Message string
			Line, Column                  int
		}
	}
	out, code := e.runStdout("validate", "-o", "json", e.dir)
	if err := json.Unmarshal(out, &v); err != nil || code != 2 || v.Errors != 1 || v.Valid != 2 {
		t.Fatalf("validate -o json (exit %d, %v): %+v\n%s", code, err, v, out)
	}
	if p := v.Problems[0]; !strings.HasSuffix(p.File, "bad.yaml") || p.Line != 9 || p.Column == 0 || p.Path != "spec.driver.cores" || p.Severity != "error" {
		t.Fatalf("the problem as data: %+v", p)
	}
	jqv := exec.Command("jq", "-e", "-r", `.problems[] | select(.severity == "error") | "\(.file):\(.line):\(.column)"`)
	jqv.Stdin = bytes.NewReader(out)
	if got, err := jqv.Output(); err != nil || !strings.HasSuffix(strings.TrimSpace(string(got)), "bad.yaml:9:19") {
		t.Fatalf("jq on validate -o json: %q %v", got, err)
	}
	out, code = e.runStdout("validate", "-o", "json", "../examples/manifests")
	if err := json.Unmarshal(out, &v); err != nil || code != 0 || v.Errors != 0 || v.Valid < 10 {
		t.Fatalf("validate -o json of the examples (exit %d, %v):\n%s", code, err, out)
	}
	var plan struct {
		Changes  int
		Entries  []struct{ Kind, Name, Action, Reason string }
		Problems []struct{ File string }
	}
	out, code = e.runStdout("diff", "-o", "json", e.dir)
	if err := json.Unmarshal(out, &plan); err != nil || code != 2 || plan.Changes != 1 || len(plan.Problems) != 1 {
		t.Fatalf("diff -o json with a broken file (exit %d, %v): %+v\n%s", code, err, plan, out)
	}
	if err := os.Remove(filepath.Join(e.dir, "bad.yaml")); err != nil {
		t.Fatal(err)
	}
	out, code = e.runStdout("diff", "-o", "json", e.dir)
	if err := json.Unmarshal(out, &plan); err != nil || code != 1 || len(plan.Entries) != 1 || plan.Entries[0].Action != "submit" || plan.Entries[0].Name != "pi" {
		t.Fatalf("diff -o json (exit %d, %v): %+v\n%s", code, err, plan, out)
	}
	jq := exec.Command("jq", "-e", `.entries[] | select(.action == "submit") | .name`)
	jq.Stdin = bytes.NewReader(out)
	if got, err := jq.Output(); err != nil || strings.TrimSpace(string(got)) != `"pi"` {
		t.Fatalf("jq on diff -o json: %q %v", got, err)
	}
}

// A closed standard output ends the reconciler quietly, as it ends git.
func TestClosedStdoutIsQuiet(t *testing.T) {
	dir := t.TempDir() // enough manifests that the output overflows a pipe
	disp := "apiVersion: sparkmesos.io/v1\nkind: Dispatcher\nmetadata: {name: sim}\nspec:\n  external: {url: \"http://d:7077\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "dispatcher.yaml"), []byte(disp), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		name := fmt.Sprintf("app-%03d", i)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(appYAML(name, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-c", `set -o pipefail; "$0" render "$1" -o yaml | head -c 10 >/dev/null; echo "exit=$?"`, binary, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "exit=141" || stderr.Len() != 0 {
		t.Fatalf("render into a closed pipe: %s (want exit=141, SIGPIPE), stderr %.500q", got, stderr.String())
	}
}

// runClean executes the binary without the test's RECONCILER_* variables.
func runClean(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECONCILER_") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), exitCode(t, err)
}

// A config file's contexts give the connection settings, below flags and
// variables; completion offers the store's objects and the -o values.
func TestConfigContextsAndCompletion(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	e.write("pi.yaml", appYAML("pi", ""))
	e.mustApply()
	cfgHome := t.TempDir()
	cfg := filepath.Join(cfgHome, "sparkmesos-reconciler", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	content := fmt.Sprintf("current-context: sim\ncontexts:\n  sim:\n    master: %s\n    store: bolt:%s\n    owner: e2e\n  broken:\n    master: mesos://127.0.0.1:1\n    store: bolt:%s\n  secret:\n    store: zk://ops:hunter2@127.0.0.1:1/x\n", e.c.MasterURL(), e.state, e.state)
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	home := []string{"XDG_CONFIG_HOME=" + cfgHome}
	if out, code := runClean(t, home, "diff", e.dir); code != 0 || !strings.Contains(out, "Plan: 1 unchanged.") {
		t.Fatalf("diff through the default config's current context exited %d:\n%s", code, out)
	}
	if out, code := runClean(t, home, "--context", "broken", "diff", e.dir, "--master", "mesos://zk://127.0.0.1:1/mesos", "--connect-timeout", "2s"); code != 3 ||
		!strings.Contains(out, "waiting for the Mesos master at mesos://zk://127.0.0.1:1/mesos") || strings.Count(out, "\n") != 2 {
		t.Fatalf("diff --context broken exited %d:\n%s", code, out)
	}
	if out, code := runClean(t, append(home, "RECONCILER_MASTER=mesos://127.0.0.1:1"), "diff", e.dir, "--master", e.c.MasterURL()); code != 0 {
		t.Fatalf("a flag beats the variable and the context: exit %d:\n%s", code, out)
	}
	if out, code := runClean(t, append(home, "RECONCILER_MASTER=mesos://127.0.0.1:1"), "diff", e.dir, "--connect-timeout", "1s"); code != 3 {
		t.Fatalf("a variable beats the context: exit %d:\n%s", code, out)
	}
	out, code := runClean(t, home, "--context", "secret", "config", "view")
	if code != 0 || !strings.Contains(out, "(context secret)") || strings.Contains(out, "hunter2") || !strings.Contains(out, "<redacted>") {
		t.Fatalf("config view exited %d:\n%s", code, out)
	}
	if out, code := runClean(t, home, "--context", "nope", "status"); code != 2 || !strings.Contains(out, "contexts: broken, secret, sim") {
		t.Fatalf("an unknown context exited %d:\n%s", code, out)
	}
	if out, code := runClean(t, home, "--config", "/nonexistent", "version"); code != 0 || !strings.HasPrefix(out, "reconciler ") {
		t.Fatalf("version with a missing config file exited %d:\n%s", code, out)
	}
	// Completion, through the config's store.
	for args, want := range map[string]string{
		"__complete status ":          "pi\tSparkApplication",
		"__complete run-now p":        "pi\tSparkApplication",
		"__complete delete ":          "pi\tSparkApplication",
		"__complete status -o ":       "yaml",
		"__complete diff x -o ":       "json",
		"__complete render x --kind ": "ScheduledSparkApplication",
	} {
		argv := strings.Split(args, " ")
		if out, _ := runClean(t, home, argv...); !strings.Contains(out, want) {
			t.Errorf("%s: lacks %q:\n%s", args, want, out)
		}
	}
}
