package sim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// The agents' /files API as a Mesos 1.12 agent answers it: a failed
// driver's stderr holds Spark's log and its stack trace, the command
// executor's lines are on stdout, the virtual and real paths both
// resolve, reads page by offset, and a garbage-collected sandbox is 404.
func TestAgentFilesAPI(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	id := submit(t, d, map[string]string{"spark.app.name": "etl"}, "--sim-duration=700ms", "--sim-outcome=TASK_FAILED")
	waitFor(t, "FINISHED", func() bool { return driverState(t, d, id) == "FINISHED" })

	fwID := d.FrameworkID()
	c.mu.Lock()
	var agentURL, virtual, real string
	for _, tk := range c.history {
		if tk.info.TaskID.Value == id {
			a := c.agentLocked(tk.info.AgentID.Value)
			agentURL = fmt.Sprintf("http://%s:%d", a.ip, a.port)
			virtual, real = tk.sandbox.virtual, tk.sandbox.dir
			if want := fmt.Sprintf("/frameworks/%s/executors/%s/runs/latest", fwID, id); virtual != want {
				t.Errorf("virtual path %s, want %s", virtual, want)
			}
		}
	}
	c.mu.Unlock()
	read := func(q string) reply { return do(t, "GET", agentURL+"/files/read?"+q, nil, "") }
	var r struct {
		Offset int64  `json:"offset"`
		Data   string `json:"data"`
	}
	for _, p := range []string{virtual, real} {
		got := read("path=" + url.QueryEscape(p+"/stderr") + "&offset=0")
		if got.code != 200 {
			t.Fatalf("read %s: %d %s", p, got.code, got.body)
		}
		if err := json.Unmarshal(got.body, &r); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"INFO SparkContext: Running Spark version", "DAGScheduler: Job 1 finished",
			`Exception in thread "main" org.apache.spark.SparkException: Job aborted`, "\tat a.Main.main(Main.scala:42)", "ShutdownHookManager"} {
			if !strings.Contains(r.Data, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.Data)
			}
		}
	}
	size := int64(len(r.Data))
	// offset -1: the size, no data; past the end: the size, no data; a window.
	for q, want := range map[string]string{
		"offset=-1":            fmt.Sprintf(`{"data":"","offset":%d}`, size),
		"offset=999999":        fmt.Sprintf(`{"data":"","offset":%d}`, size),
		"offset=2&length=5":    fmt.Sprintf(`{"data":%q,"offset":2}`, r.Data[2:7]),
		"offset=-2":            "Negative offset provided: -2.\n",
		"offset=x":             "Failed to parse offset: Failed to convert 'x' to number.\n",
		"offset=0&length=zero": "Failed to parse length: Failed to convert 'zero' to number.\n",
	} {
		got := read("path=" + url.QueryEscape(virtual+"/stderr") + "&" + q)
		if string(got.body) != want {
			t.Errorf("read %s: %d %q, want %q", q, got.code, got.body, want)
		}
	}
	out := read("path=" + url.QueryEscape(virtual+"/stdout") + "&offset=0")
	if !strings.Contains(string(out.body), "Starting task "+id) || !strings.Contains(string(out.body), "Command exited with status 1 (pid: ") {
		t.Errorf("stdout: %s", out.body)
	}
	if got := read(""); got.code != 400 || string(got.body) != "Expecting 'path=value' in query.\n" {
		t.Errorf("no path: %d %q", got.code, got.body)
	}
	if got := read("path=" + url.QueryEscape(virtual)); got.code != 400 || string(got.body) != "Cannot read a directory.\n" {
		t.Errorf("a directory: %d %q", got.code, got.body)
	}
	browse := do(t, "GET", agentURL+"/files/browse?path="+url.QueryEscape(virtual), nil, "")
	var list []map[string]any
	if err := json.Unmarshal(browse.body, &list); err != nil || len(list) != 2 || list[0]["path"] != virtual+"/stderr" || list[1]["path"] != virtual+"/stdout" {
		t.Errorf("browse: %d %s", browse.code, browse.body)
	}
	c.GarbageCollect()
	if got := read("path=" + url.QueryEscape(virtual+"/stderr")); got.code != 404 || len(got.body) != 0 {
		t.Errorf("after GC: %d %q", got.code, got.body)
	}
}
