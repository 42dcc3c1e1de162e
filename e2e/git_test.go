package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/internal/gittest"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
)

// gitApp is a small application of the Git suite; extra is appended to
// its spec.
func gitApp(i int, extra string) string {
	return fmt.Sprintf("apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: app-%02d}\nspec:\n  dispatcher: {name: sim}\n  mainClass: a.Main\n  mainApplicationFile: https://r/a.jar\n  driver: {cores: 0.1, memory: 512m}\n  executor: {cores: 1, maxCores: 1, memory: 512m}\n%s", i, extra)
}

// sourceRecord is the part of "status --source -o json" the tests read.
type sourceRecord struct {
	LastAttemptedRevision string   `json:"lastAttemptedRevision"`
	LastAppliedRevision   string   `json:"lastAppliedRevision"`
	SourceProblems        []string `json:"sourceProblems"`
	SourceError           string   `json:"sourceError"`
	Events                []struct {
		Reason, Message, Revision string
	} `json:"events"`
}

func (e *env) sourceRecord() sourceRecord {
	e.t.Helper()
	out, code := e.run("status", "--source", "-o", "json")
	if code != 0 {
		e.t.Fatalf("status --source: exit %d\n%s", code, out)
	}
	var s sourceRecord
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("status --source: %v\n%s", err, out)
	}
	return s
}

func (e *env) waitSource(what string, cond func(sourceRecord) bool) sourceRecord {
	e.t.Helper()
	return waitUntil(e.t, what, 15*time.Second, e.sourceRecord, cond)
}

// recordRevision is the revision the store says an application's spec came from.
func (e *env) recordRevision(name string) string {
	e.t.Helper()
	out, _ := e.run("status", name, "-o", "json")
	var recs []struct{ Revision string }
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) != 1 {
		e.t.Fatalf("status %s: %v\n%s", name, err, out)
	}
	return recs[0].Revision
}

// hook posts a push webhook signed with secret, as GitHub does.
func hook(t testing.TB, listen, secret string) int {
	t.Helper()
	body := []byte(`{"ref":"refs/heads/main"}`)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/hooks/git", bytes.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func driverIDs(d map[string][]mesos.Task) map[string]string {
	ids := map[string]string{}
	for name, ts := range d {
		if len(ts) == 1 {
			ids[name] = ts[0].ID
		}
	}
	return ids
}

// run --git follows a repository of 50 applications through commits: a
// change applied on a webhook, a broken file isolated, a revert, then
// (restarted, polling) a force-push that would prune most of them, and the
// branch removed.
func TestRunFollowsGit(t *testing.T) {
	e := setupCluster(t, sim.Config{Seed: 5, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond, Agents: bigAgents(3)}, sim.DispatcherConfig{})
	o := gittest.New(t)
	o.Git(o.Bare, "config", "receive.denyDeleteCurrent", "ignore")
	dispatcher, err := os.ReadFile(filepath.Join(e.dir, "dispatcher.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"README.md":             "Spark applications of the data platform.\n",
		"spark/dispatcher.yaml": string(dispatcher),
		"other/unrelated.yaml":  "not: a manifest of ours\n", // outside --git-path
	}
	for i := range 50 {
		files[fmt.Sprintf("spark/apps/app-%02d.yaml", i)] = gitApp(i, "")
	}
	c0 := o.Commit("main", files)
	secret := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(secret, []byte("hook-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	e.source = []string{"--git", o.FileURL(), "--rev", "main", "--git-path", "spark", "--git-cache", cache,
		"--git-poll", "1h", "--git-webhook-secret-file", secret}
	listen, log := e.startRun("--prune")

	count := func(n int) func(map[string][]mesos.Task) bool {
		return func(d map[string][]mesos.Task) bool {
			if len(d) != n {
				return false
			}
			for _, ts := range d {
				if len(ts) != 1 {
					return false
				}
			}
			return true
		}
	}
	before := driverIDs(e.waitDrivers("the 50 applications of the first commit", count(50)))
	s := e.waitSource("the first revision applied", func(s sourceRecord) bool { return s.LastAppliedRevision == "main@sha1:"+c0 })
	if s.LastAttemptedRevision != "main@sha1:"+c0 {
		t.Fatalf("attempted %s", s.LastAttemptedRevision)
	}

	// Commit 1, announced by a webhook (the poll is an hour away): three
	// changed, one removed (pruned), one added.
	partitions := "  sparkConf: {spark.sql.shuffle.partitions: \"64\"}\n"
	c1 := o.Commit("main", map[string]string{
		"spark/apps/app-00.yaml": gitApp(0, partitions), "spark/apps/app-01.yaml": gitApp(1, partitions),
		"spark/apps/app-02.yaml": gitApp(2, partitions), "spark/apps/app-49.yaml": "", "spark/apps/app-50.yaml": gitApp(50, ""),
	})
	if code := hook(t, listen, "wrong-secret"); code != http.StatusUnauthorized {
		t.Fatalf("a webhook signed with another secret: %d", code)
	}
	if code := hook(t, listen, "hook-secret"); code != http.StatusAccepted {
		t.Fatalf("signed webhook: %d", code)
	}
	after := driverIDs(e.waitDrivers("commit 1: three resubmitted, app-49 pruned, app-50 submitted", func(d map[string][]mesos.Task) bool {
		return count(50)(d) && len(d["app-49"]) == 0 && len(d["app-50"]) == 1 &&
			d["app-00"][0].ID != before["app-00"] && d["app-01"][0].ID != before["app-01"] && d["app-02"][0].ID != before["app-02"]
	}))
	for i := 3; i < 49; i++ {
		name := fmt.Sprintf("app-%02d", i)
		if after[name] != before[name] {
			t.Fatalf("%s was resubmitted though commit 1 did not change it", name)
		}
	}
	e.waitSource("commit 1 applied", func(s sourceRecord) bool { return s.LastAppliedRevision == "main@sha1:"+c1 })
	if got := e.recordRevision("app-00"); got != "main@sha1:"+c1 {
		t.Fatalf("app-00 came from %q, want commit 1", got)
	}
	if got := e.recordRevision("app-10"); got != "main@sha1:"+c0 {
		t.Fatalf("app-10 (unchanged) came from %q, want commit 0", got)
	}

	// Commit 2: app-05's file breaks, app-06 changes. app-06 follows;
	// app-05 keeps its driver; the revision is attempted, not applied.
	c2 := o.Commit("main", map[string]string{
		"spark/apps/app-05.yaml": gitApp(5, "  driver: {cores: many}\n"),
		"spark/apps/app-06.yaml": gitApp(6, partitions),
	})
	hook(t, listen, "hook-secret")
	e.waitDrivers("commit 2: app-06 resubmitted", func(d map[string][]mesos.Task) bool {
		return count(50)(d) && d["app-06"][0].ID != after["app-06"]
	})
	s = e.waitSource("commit 2 attempted", func(s sourceRecord) bool { return s.LastAttemptedRevision == "main@sha1:"+c2 })
	if s.LastAppliedRevision != "main@sha1:"+c1 || len(s.SourceProblems) == 0 || !strings.HasPrefix(s.SourceProblems[0], "spark/apps/app-05.yaml:") {
		t.Fatalf("after a broken commit: %+v", s)
	}
	if d := e.drivers(); len(d["app-05"]) != 1 || d["app-05"][0].ID != after["app-05"] {
		t.Fatalf("the broken file's application was touched: %v", d["app-05"])
	}
	out, _ := e.run("status")
	if !strings.Contains(out, "Problems at main@sha1:"+c2) || !strings.Contains(out, "spark/apps/app-05.yaml:") {
		t.Fatalf("status does not say which file failed at which revision:\n%s", out)
	}

	// Commit 3 reverts commit 2: app-06 goes back to its old spec,
	// app-05 (its old content again) is not resubmitted.
	o.Git(o.Work, "revert", "--no-edit", "HEAD")
	o.Git(o.Work, "push", "-q", "origin", "HEAD:main")
	c3 := o.Git(o.Work, "rev-parse", "HEAD")
	mid := driverIDs(e.drivers())
	hook(t, listen, "hook-secret")
	s = e.waitSource("the revert applied", func(s sourceRecord) bool { return s.LastAppliedRevision == "main@sha1:"+c3 })
	if len(s.SourceProblems) != 0 {
		t.Fatalf("problems after the revert: %v", s.SourceProblems)
	}
	final := driverIDs(e.waitDrivers("app-06 back to its spec", func(d map[string][]mesos.Task) bool {
		return count(50)(d) && d["app-06"][0].ID != mid["app-06"]
	}))
	if final["app-05"] != after["app-05"] {
		t.Fatal("app-05 was resubmitted by the revert though its spec is what it was")
	}
	if !strings.Contains(log.String(), "revision=main@sha1:"+c1) {
		t.Fatal("the log does not name the commits it acts on")
	}

	// Restarted, polling, with full history: a force-push to a history
	// holding five applications would prune 45 of 50: refused.
	e.stopAll()
	e.source = []string{"--git", o.FileURL(), "--rev", "main", "--git-path", "spark", "--git-cache", cache, "--git-poll", "200ms", "--git-depth", "0"}
	_, log = e.startRun("--prune")
	o.Git(o.Work, "checkout", "-q", "--orphan", "rewritten")
	o.Git(o.Work, "rm", "-q", "-r", "--cached", ".")
	rewrite := map[string]string{"spark/dispatcher.yaml": string(dispatcher)}
	for i := range 5 {
		// Each keeps its running spec (0-2 got partitions in commit 1), so
		// that nothing is resubmitted while the drivers are counted.
		extra := ""
		if i < 3 {
			extra = partitions
		}
		rewrite[fmt.Sprintf("spark/apps/app-%02d.yaml", i)] = gitApp(i, extra)
	}
	for _, name := range []string{"spark", "other", "README.md"} {
		if err := os.RemoveAll(filepath.Join(o.Work, name)); err != nil {
			t.Fatal(err)
		}
	}
	c4 := o.Commit("main", rewrite)
	s = e.waitSource("the force-push seen by polling", func(s sourceRecord) bool { return s.LastAttemptedRevision == "main@sha1:"+c4 })
	rewritten := false
	for _, ev := range s.Events {
		rewritten = rewritten || (ev.Reason == "HistoryRewritten" && ev.Revision == "main@sha1:"+c4)
	}
	if !rewritten {
		t.Fatalf("no HistoryRewritten event: %+v", s.Events)
	}
	waitLog(t, log, "prune refused: it would remove 45 of the 50")
	if d := e.drivers(); !count(50)(d) {
		t.Fatalf("a force-push pruned applications: %d left", len(d))
	}

	if s := e.sourceRecord(); s.LastAppliedRevision == "main@sha1:"+c4 {
		t.Fatal("a revision whose prunes were refused is recorded as applied")
	}

	// The branch removed: the sync fails, the last revision stays.
	o.Git(o.Work, "push", "-q", "origin", "HEAD:refs/heads/other")
	o.Git(o.Work, "push", "-q", "origin", ":main")
	s = e.waitSource("the sync error", func(s sourceRecord) bool { return strings.Contains(s.SourceError, `no branch or tag "main"`) })
	if s.LastAttemptedRevision != "main@sha1:"+c4 {
		t.Fatalf("after the branch was removed: %+v", s)
	}
	if d := e.drivers(); !count(50)(d) {
		t.Fatalf("a removed branch pruned applications: %d left", len(d))
	}
}

// waitLog waits until the log holds text.
func waitLog(t *testing.T, log interface{ String() string }, text string) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("the log to say %q", text), 10*time.Second, func() bool { return strings.Contains(log.String(), text) }, func(ok bool) bool { return ok })
}

// diff --git --rev shows what syncing a revision would do; apply --git
// applies one and records it.
func TestDiffAndApplyGitRevision(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	o := gittest.New(t)
	dispatcher, err := os.ReadFile(filepath.Join(e.dir, "dispatcher.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	first := o.Commit("main", map[string]string{"dispatcher.yaml": string(dispatcher), "app-01.yaml": gitApp(1, ""), "app-02.yaml": gitApp(2, "")})
	o.Git(o.Work, "tag", "v1")
	o.Git(o.Work, "push", "-q", "origin", "v1")
	second := o.Commit("main", map[string]string{"app-02.yaml": gitApp(2, "  sparkConf: {spark.sql.shuffle.partitions: \"64\"}\n"), "app-03.yaml": gitApp(3, "")})
	git := []string{"--git", o.FileURL(), "--git-cache", t.TempDir()}

	out, code := e.run(append([]string{"apply", "--rev", "v1", "--wait", "--timeout", "20s"}, git...)...)
	if code != 0 || !strings.Contains(out, "Revision: v1@sha1:"+first) {
		t.Fatalf("apply --rev v1: exit %d\n%s", code, out)
	}
	if s := e.sourceRecord(); s.LastAppliedRevision != "v1@sha1:"+first {
		t.Fatalf("apply did not record the revision: %+v", s)
	}
	out, code = e.run(append([]string{"diff", "--rev", second[:12]}, git...)...)
	if code != 1 || !strings.Contains(out, "Revision: sha1:"+second) || !strings.Contains(out, "~ resubmit  app-02") ||
		!strings.Contains(out, "spark.sql.shuffle.partitions: - -> 64") || !strings.Contains(out, "+ submit    app-03") || strings.Contains(out, "app-01") {
		t.Fatalf("diff --rev %s: exit %d\n%s", second[:12], code, out)
	}
	out, code = e.run(append([]string{"diff", "--rev", first}, git...)...)
	if code != 0 || !strings.Contains(out, "Plan: 2 unchanged.") {
		t.Fatalf("diff at the applied revision: exit %d\n%s", code, out)
	}
}

// A revision whose role update the master refuses is attempted, not
// applied: status --source says so, and apply exits non-zero.
func TestRefusedRoleKeepsTheRevisionUnapplied(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	o := gittest.New(t)
	rev := o.Commit("main", map[string]string{"etl.yaml": "apiVersion: sparkmesos.io/v1\nkind: MesosRole\nmetadata: {name: etl}\nspec: {weight: 3}\n"})
	git := []string{"--git", o.FileURL(), "--git-cache", t.TempDir()}
	e.c.AddFault(sim.Fault{Call: "UPDATE_WEIGHTS", Status: 403, Message: "Not authorized"})
	out, code := e.run(append([]string{"apply"}, git...)...)
	if code == 0 || !strings.Contains(out, "error: update MesosRole/etl") {
		t.Fatalf("apply refused by the master (exit %d):\n%s", code, out)
	}
	if s := e.sourceRecord(); s.LastAttemptedRevision != "main@sha1:"+rev || s.LastAppliedRevision != "" {
		t.Fatalf("source after a refused role: attempted %q, applied %q", s.LastAttemptedRevision, s.LastAppliedRevision)
	}
	e.c.ClearFaults()
	if out, code := e.run(append([]string{"apply"}, git...)...); code != 0 {
		t.Fatalf("apply once the master accepts (exit %d):\n%s", code, out)
	}
	if s := e.sourceRecord(); s.LastAppliedRevision != "main@sha1:"+rev {
		t.Fatalf("source once applied: %+v", s)
	}
}
