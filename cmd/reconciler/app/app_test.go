package app

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/store"
	"github.com/sparkmesos/reconciler/store/bolt"
)

func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, args)
	return out.String(), errOut.String(), ExitCode(err)
}

func TestValidateExitCodes(t *testing.T) {
	out, _, code := run(t, "", "validate", "../../../examples/manifests")
	if code != ExitOK || !strings.Contains(out, "warning:") {
		t.Fatalf("examples: exit %d, output:\n%s", code, out)
	}
	bad := "apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: x}\nspec: {mainClas: y}\n"
	out, errOut, code := run(t, bad, "validate", "-")
	if code != ExitInvalid || !strings.Contains(out, `<stdin>:4:8: spec.mainClas: unknown field "mainClas"`) || !strings.Contains(errOut, "errors") {
		t.Fatalf("bad stdin: exit %d, out:\n%s\nerr:\n%s", code, out, errOut)
	}
	_, _, code = run(t, "", "validate", "/nonexistent/path")
	if code != ExitInvalid {
		t.Fatalf("unreadable path: exit %d", code)
	}
}

func TestRenderSelectsAndFormats(t *testing.T) {
	out, _, code := run(t, "", "render", "../../../examples/manifests", "--kind", "SparkApplication", "--name", "spark-pi", "-o", "properties")
	if code != ExitOK || !strings.Contains(out, "spark.master=mesos://main.dispatcher:7077") || strings.Contains(out, "etl-nightly") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	_, _, code = run(t, "", "render", "../../../examples/manifests", "--name", "nothing-by-that-name")
	if code != ExitInvalid {
		t.Fatalf("no match: exit %d", code)
	}
	_, _, code = run(t, "", "render", "../../../examples/manifests", "-o", "xml")
	if code != ExitInvalid {
		t.Fatalf("bad format: exit %d", code)
	}
}

// TestStatusReadsWhileWriterRuns writes records through a bolt store that
// stays open (as "run" would) and reads them with the status verb.
func TestStatusReadsWhileWriterRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	w, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Now()
	rec := &store.Record{Key: store.Key{Kind: "SparkApplication", Name: "etl"}, SpecHash: "3ab186fa1299f5338c46",
		Status: store.Status{Phase: "Running", Message: "driver running"}}
	rec.AddSubmission(store.Submission{ID: "driver-20261122-0001", SubmittedAt: now.Add(-90 * time.Second), State: "RUNNING"}, 0)
	rec.AddEvent(store.Event{Time: now, Type: "Normal", Reason: "Submitted", Message: "submitted driver-20261122-0001"})
	if _, err := w.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "", "status", "--store", "bolt:"+path)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"KIND", "SparkApplication", "etl", "Running", "3ab186fa", "driver-20261122-0001", "1m", "driver running"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	out, _, code = run(t, "", "status", "etl", "--store", "bolt:"+path)
	if code != ExitOK || !strings.Contains(out, "Normal  Submitted  submitted driver-20261122-0001") || !strings.Contains(out, "Phase:     Running") {
		t.Fatalf("status etl: exit %d:\n%s", code, out)
	}
	_, _, code = run(t, "", "status", "nope", "--store", "bolt:"+path)
	if code != ExitInvalid {
		t.Fatalf("unknown name: exit %d", code)
	}
	t.Setenv(storeEnv, "bolt:"+path)
	if out, _, _ := run(t, "", "status", "-o", "json"); !strings.Contains(out, `"specHash": "3ab186fa1299f5338c46"`) {
		t.Fatalf("status from %s, json:\n%s", storeEnv, out)
	}
}

func TestDefaultStore(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	t.Setenv(storeEnv, "")
	if got := resolveStore("", ""); got != "bolt:/state/sparkmesos-reconciler/state.db" {
		t.Errorf("default with XDG_STATE_HOME: %s", got)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := resolveStore("", ""); got != "bolt:/home/u/.local/state/sparkmesos-reconciler/state.db" {
		t.Errorf("default without XDG_STATE_HOME (XDG's ~/.local/state): %s", got)
	}
	t.Setenv("HOME", "")
	if got := resolveStore("", ""); got != "bolt:.reconciler/state.db" {
		t.Errorf("default without a home: %s", got)
	}
	t.Setenv(storeEnv, "zk://z:2181/x")
	if got := resolveStore("", ""); got != "zk://z:2181/x" {
		t.Errorf("env: %s", got)
	}
	if got := resolveStore("bolt:/flag", ""); got != "bolt:/flag" {
		t.Errorf("flag: %s", got)
	}
}

// Git flags: a source is required and one only; Git flags need --git.
func TestSourceFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"diff"}, "give the manifests: one or more PATHs, or --git URL"},
		{[]string{"diff", "dir", "--git", "file:///x"}, "give manifest paths (dir) or --git, not both"},
		{[]string{"apply", "dir", "--rev", "main"}, "--rev needs --git URL"},
		{[]string{"run"}, "give one of --dir PATH or --git URL"},
		{[]string{"run", "--dir", "d", "--git", "file:///x"}, "give one of --dir PATH or --git URL"},
		{[]string{"run", "--dir", "d", "--git-webhook-secret-file", "f"}, "--git-webhook-secret-file needs --git URL"},
		{[]string{"diff", "--git", "https://u:tok@example.com/r.git", "--git-cache", t.TempDir()}, "carries a password"},
	} {
		_, errOut, code := run(t, "", tc.args...)
		if code != ExitInvalid || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "tok@") {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant %q", tc.args, code, errOut, tc.want)
		}
	}
}

// The summary counts what is listed: every entry printed, and every
// application; a schedule's submit is its runs'.
func TestPlanSummaryCountsWhatIsListed(t *testing.T) {
	p := reconcile.Plan{
		Roles:     []reconcile.RoleAction{{Type: reconcile.ActionUnchanged, Name: "etl", Reason: "weight 3"}},
		Schedules: []reconcile.ScheduleAction{{Type: reconcile.ActionSubmit, Name: "nightly", Reason: "run nightly-20261202t0130z"}},
		Actions: []reconcile.Action{{Type: reconcile.ActionUnchanged, App: "a"}, {Type: reconcile.ActionUnchanged, App: "b"},
			{Type: reconcile.ActionSubmit, App: "nightly-20261202t0130z"}},
	}
	var verbose, terse bytes.Buffer
	printPlan(&verbose, p, true)
	printPlan(&terse, p, false)
	if !strings.HasSuffix(verbose.String(), "Plan: 1 submit, 3 unchanged.\n") || strings.Count(verbose.String(), "unchanged ") != 3 {
		t.Errorf("verbose:\n%s", &verbose)
	}
	if !strings.HasSuffix(terse.String(), "Plan: 1 submit, 2 unchanged.\n") || !strings.Contains(terse.String(), "ScheduledSparkApplication/nightly") {
		t.Errorf("terse:\n%s", &terse)
	}
}

// history says how long a run took to start from its submission, except
// for an adopted one: its submission time is not known (the record holds
// its start, the latest it can have been).
func TestHistorySaysAnAdoptedRunsStartLatencyIsUnknown(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	rec := &store.Record{Key: store.Key{Kind: "SparkApplication", Name: "pi"}, Submissions: []store.Submission{
		{ID: "driver-1", Trigger: reconcile.TriggerAdoption, SubmittedAt: t0, StartedAt: t0, State: "TASK_FINISHED", FinishedAt: t0.Add(time.Minute)},
		{ID: "driver-2", Trigger: reconcile.TriggerManifest, SubmittedAt: t0.Add(2 * time.Minute), StartedAt: t0.Add(2*time.Minute + 12*time.Second), State: "TASK_RUNNING"},
	}}
	var out bytes.Buffer
	printHistory(&out, rec, t0.Add(time.Hour))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "driver-1") || !strings.Contains(lines[1], "unknown") || strings.Contains(lines[1], "later") ||
		!strings.Contains(lines[2], "driver-2") || !strings.Contains(lines[2], "12s later") {
		t.Fatalf("history:\n%s", out.String())
	}
}
