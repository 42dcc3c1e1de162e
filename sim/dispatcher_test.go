package sim

// Conformance of the simulated Spark MesosClusterDispatcher (REST protocol
// v1 of Spark 3.3-3.5's MesosRestServer and MesosClusterScheduler).

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func TestDispatcherCreateResponseExactJSON(t *testing.T) {
	_, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	body := `{"action":"CreateSubmissionRequest","appResource":"https://r/app.jar","mainClass":"a.Main","appArgs":[],"clientSparkVersion":"3.4.1","environmentVariables":{},"sparkProperties":{"spark.app.name":"pi"}}`
	r := do(t, "POST", d.URL()+"/v1/submissions/create", map[string]string{"Content-Type": "application/json"}, body)
	want := regexp.MustCompile(`^\{\n  "action" : "CreateSubmissionResponse",\n  "serverSparkVersion" : "3\.5\.4",\n  "submissionId" : "driver-\d{14}-0001",\n  "success" : true\n\}$`)
	if r.code != 200 || !want.Match(r.body) {
		t.Fatalf("create answered %d:\n%s", r.code, r.body)
	}
}

func TestDispatcherValidation(t *testing.T) {
	_, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	url := d.URL() + "/v1/submissions/create"
	good := map[string]any{"action": "CreateSubmissionRequest", "appResource": "x", "mainClass": "a.Main", "appArgs": []string{},
		"clientSparkVersion": "3.4.1", "environmentVariables": map[string]string{}, "sparkProperties": map[string]string{"spark.app.name": "a"}}
	variant := func(mut func(m map[string]any)) string {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		mut(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	props := func(p map[string]string) func(m map[string]any) {
		return func(m map[string]any) { m["sparkProperties"] = p }
	}
	cases := map[string]struct {
		body string
		code int
	}{
		"appArgs missing":              {variant(func(m map[string]any) { delete(m, "appArgs") }), 400},
		"environmentVariables missing": {variant(func(m map[string]any) { delete(m, "environmentVariables") }), 400},
		"clientSparkVersion missing":   {variant(func(m map[string]any) { delete(m, "clientSparkVersion") }), 400},
		"spark.app.name missing":       {variant(props(map[string]string{})), 400},
		"supervise not boolean":        {variant(props(map[string]string{"spark.app.name": "a", "spark.driver.supervise": "yes"})), 400},
		"cores not a number":           {variant(props(map[string]string{"spark.app.name": "a", "spark.driver.cores": "two"})), 400},
		"fractional memory":            {variant(props(map[string]string{"spark.app.name": "a", "spark.driver.memory": "1.5g"})), 400},
		"mainClass missing":            {variant(func(m map[string]any) { delete(m, "mainClass") }), 400},
		"driver overhead not integer":  {variant(props(map[string]string{"spark.app.name": "a", "spark.driver.memoryOverhead": "512m"})), 500},
		"unknown action":               {`{"action":"NoSuchRequest"}`, 500},
		"action not a string":          {`{"action":1}`, 400},
		"not JSON":                     {`{`, 400},
		"unknown queue":                {variant(props(map[string]string{"spark.app.name": "a", "spark.mesos.dispatcher.queue": "nope"})), 500},
		"valid":                        {variant(func(map[string]any) {}), 200},
	}
	for name, tc := range cases {
		r := do(t, "POST", url, map[string]string{"Content-Type": "application/json"}, tc.body)
		if r.code != tc.code {
			t.Errorf("%s: got %d, want %d: %s", name, r.code, tc.code, r.body)
		}
		if tc.code == 400 && !strings.Contains(string(r.body), `"action" : "ErrorResponse"`) {
			t.Errorf("%s: 400 without an ErrorResponse: %s", name, r.body)
		}
	}
}

func TestDispatcherPathsAndMethods(t *testing.T) {
	_, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	cases := []struct {
		method, path string
		code         int
		contains     string
	}{
		{"GET", "/v1/submissions/create", 405, ""},
		{"POST", "/v1/submissions/status/x", 405, ""},
		{"GET", "/v2/submissions/status/x", 468, `"highestProtocolVersion" : "v1"`},
		// RestSubmissionServer's ErrorServlet, by the path's segments.
		{"GET", "/", 400, `"message" : "Missing protocol version. Please submit requests through http://[host]:[port]/v1/submissions/..."`},
		{"POST", "/v1", 400, `"message" : "Missing the /submissions prefix.`},
		{"POST", "/v1/", 400, `"message" : "Missing the /submissions prefix.`},
		{"GET", "/v1/other", 468, `"message" : "Unknown protocol version 'v1'.`},
		{"GET", "/v1/submissions", 400, "Missing an action"},
		{"POST", "/v1/submissions/killall", 400, "Missing an action"},
		{"GET", "/v1/submissions/status/", 400, "Submission ID is missing in status request."},
		{"POST", "/v1/submissions/kill/", 400, "Submission ID is missing in kill request."},
		{"GET", "/v1/submissions/status/driver-unknown", 200, `"driverState" : "NOT_FOUND"`},
	}
	for _, tc := range cases {
		r := do(t, tc.method, d.URL()+tc.path, nil, "")
		if r.code != tc.code || !strings.Contains(string(r.body), tc.contains) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.code, r.body)
		}
	}
	if st := status(t, d, "driver-unknown"); st["success"] != false {
		t.Errorf("NOT_FOUND must have success false: %v", st)
	}
}

// Before its framework is registered a dispatcher's REST port is closed,
// as Spark opens it only after registration: connections are refused.
func TestDispatcherPortClosedUntilRegistered(t *testing.T) {
	_, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{RegistrationDelay: 300 * time.Millisecond})
	body := `{"action":"CreateSubmissionRequest","appResource":"x","mainClass":"a.Main","appArgs":[],"clientSparkVersion":"3.4.1","environmentVariables":{},"sparkProperties":{"spark.app.name":"a"}}`
	if _, err := http.Post(d.URL()+"/v1/submissions/create", "application/json", strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("create before registration: %v, want connection refused", err)
	}
	time.Sleep(600 * time.Millisecond)
	if r := do(t, "POST", d.URL()+"/v1/submissions/create", nil, body); r.code != 200 || !strings.Contains(string(r.body), `"success" : true`) {
		t.Fatalf("create after registration: %d %s", r.code, r.body)
	}
}

var stateLine = regexp.MustCompile(`(?m)^state: (TASK_[A-Z_]+)$`)

func TestDriverLifecycleAndFrameworks(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	id := submit(t, d, map[string]string{"spark.app.name": "pi", "spark.driver.memory": "1g", "spark.executor.cores": "2", "spark.cores.max": "5",
		"spark.mesos.driver.labels": `sparkmesos.io/name:pi,odd:a\:b`, "spark.mesos.task.labels": "team:x"})
	// Launched drivers are RUNNING at once, with no message until the
	// task's first status update.
	waitFor(t, "RUNNING with TASK_RUNNING", func() bool {
		msg, _ := status(t, d, id)["message"].(string)
		return driverState(t, d, id) == "RUNNING" && strings.Contains(msg, "state: TASK_RUNNING")
	})
	st := status(t, d, id)
	if m := stateLine.FindStringSubmatch(st["message"].(string)); m == nil || m[1] != "TASK_RUNNING" || !strings.Contains(st["message"].(string), "slave_id {") {
		t.Errorf("status message %q: want TextFormat of a v0 TaskStatus", st["message"])
	}
	var driverTask *mesos.Task
	var execs []mesos.Task
	waitFor(t, "two executors", func() bool {
		driverTask, execs = nil, nil
		for _, tk := range operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks {
			tk := tk
			switch {
			case tk.TaskID.Value == id:
				driverTask = &tk
			case tk.FrameworkID.Value == d.FrameworkID()+"-"+id:
				execs = append(execs, tk)
			}
		}
		return driverTask != nil && len(execs) == 2
	})
	// Memory counted twice: 1024 + 384 = 1408 for --driver-memory, + 384 for the task.
	var mem float64
	for _, r := range driverTask.Resources {
		if r.Name == "mem" {
			mem = r.Scalar.Value
		}
	}
	if mem != 1792 || driverTask.Name != "Driver for pi" {
		t.Errorf("driver task %q with mem %v, want \"Driver for pi\" with 1792", driverTask.Name, mem)
	}
	labels := map[string]string{}
	for _, l := range driverTask.GetLabels().GetLabels() {
		labels[l.Key] = l.GetValue()
	}
	if labels["sparkmesos.io/name"] != "pi" || labels["odd"] != "a:b" {
		t.Errorf("driver labels %v", labels)
	}
	// spark.cores.max 5 rounds down to 4 with 2-core executors: two executors, "0" and "1".
	for _, e := range execs {
		if e.TaskID.Value != "0" && e.TaskID.Value != "1" || !strings.HasPrefix(e.Name, "pi ") {
			t.Errorf("executor %s %q", e.TaskID.Value, e.Name)
		}
	}
	var appFramework bool
	for _, f := range operator(t, c, `{"type":"GET_FRAMEWORKS"}`).GetFrameworks.Frameworks {
		if f.FrameworkInfo.Name == "pi" && f.FrameworkInfo.ID.Value == d.FrameworkID()+"-"+id {
			appFramework = true
		}
	}
	if !appFramework {
		t.Error("no framework named after the application with id <dispatcher id>-<submission id>")
	}

	if err := d.Finish(id, mesos.TASK_FAILED, "Command exited with status 1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "FINISHED", func() bool { return driverState(t, d, id) == "FINISHED" })
	if m := stateLine.FindStringSubmatch(status(t, d, id)["message"].(string)); m[1] != "TASK_FAILED" {
		t.Errorf("a failed driver's state line: %v", m)
	}
	waitFor(t, "the app framework's removal", func() bool {
		return len(operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks) == 0
	})
}

func TestDriverScriptedOutcomeAndControlEndpoint(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	id := submit(t, d, map[string]string{"spark.app.name": "short"}, "--sim-duration=100ms", "--sim-outcome=TASK_FINISHED")
	waitFor(t, "FINISHED", func() bool { return driverState(t, d, id) == "FINISHED" })
	if m := stateLine.FindStringSubmatch(status(t, d, id)["message"].(string)); m[1] != "TASK_FINISHED" {
		t.Errorf("scripted outcome: %v", m)
	}
	id2 := submit(t, d, map[string]string{"spark.app.name": "long"})
	waitFor(t, "RUNNING", func() bool { return driverState(t, d, id2) == "RUNNING" })
	if r := do(t, "POST", c.MasterURL()+"/sim/drivers/"+id2+"/finish?state=TASK_KILLED", nil, ""); r.code != 204 {
		t.Fatalf("control endpoint: %d %s", r.code, r.body)
	}
	waitFor(t, "FINISHED", func() bool { return driverState(t, d, id2) == "FINISHED" })
}

func TestKillSemantics(t *testing.T) {
	cfg := fastConfig()
	cfg.Agents = []AgentConfig{{CPUs: 1, MemMiB: 4096}}
	_, d := startWithDispatcher(t, cfg, DispatcherConfig{})
	running := submit(t, d, map[string]string{"spark.app.name": "a"})
	waitFor(t, "RUNNING", func() bool { return driverState(t, d, running) == "RUNNING" })
	queued := submit(t, d, map[string]string{"spark.app.name": "b"}) // no room left: stays queued
	time.Sleep(100 * time.Millisecond)
	if s := driverState(t, d, queued); s != "QUEUED" {
		t.Fatalf("second driver %s, want QUEUED", s)
	}
	kill := func(id string) map[string]any {
		r := do(t, "POST", d.URL()+"/v1/submissions/kill/"+id, nil, "")
		var m map[string]any
		_ = json.Unmarshal(r.body, &m)
		return m
	}
	if m := kill(queued); m["success"] != true || m["message"] != "Removed driver while it's still pending" {
		t.Errorf("kill queued: %v", m)
	}
	if s := driverState(t, d, queued); s != "NOT_FOUND" {
		t.Errorf("a driver killed while queued is %s, want NOT_FOUND", s)
	}
	if m := kill(running); m["success"] != true || m["message"] != "Killing running driver" {
		t.Errorf("kill running: %v", m)
	}
	waitFor(t, "FINISHED", func() bool { return driverState(t, d, running) == "FINISHED" })
	if m := stateLine.FindStringSubmatch(status(t, d, running)["message"].(string)); m[1] != "TASK_KILLED" {
		t.Errorf("killed driver: %v", m)
	}
	if m := kill(running); m["success"] != false || m["message"] != "Driver already terminated" {
		t.Errorf("kill finished: %v", m)
	}
	if m := kill("driver-nope"); m["success"] != false || m["message"] != "Cannot find driver" {
		t.Errorf("kill unknown: %v", m)
	}
}

func TestQueuesPriorityAndConstraints(t *testing.T) {
	cfg := fastConfig()
	cfg.Agents = []AgentConfig{{CPUs: 1, MemMiB: 4096, Attributes: map[string]string{"zone": "a"}}}
	_, d := startWithDispatcher(t, cfg, DispatcherConfig{Queues: map[string]float64{"urgent": 1.0}})
	first := submit(t, d, map[string]string{"spark.app.name": "blocker"})
	waitFor(t, "RUNNING", func() bool { return driverState(t, d, first) == "RUNNING" })
	low := submit(t, d, map[string]string{"spark.app.name": "low"})
	high := submit(t, d, map[string]string{"spark.app.name": "high", "spark.mesos.dispatcher.queue": "urgent"})
	elsewhere := submit(t, d, map[string]string{"spark.app.name": "elsewhere", "spark.mesos.driver.constraints": "zone:b"})
	_ = d.Finish(first, mesos.TASK_FINISHED, "")
	waitFor(t, "the urgent driver", func() bool { return driverState(t, d, high) == "RUNNING" })
	if s := driverState(t, d, low); s != "QUEUED" {
		t.Errorf("the default-queue driver is %s while the urgent one runs; want QUEUED", s)
	}
	_ = d.Finish(high, mesos.TASK_FINISHED, "")
	waitFor(t, "the low driver", func() bool { return driverState(t, d, low) == "RUNNING" })
	_ = d.Finish(low, mesos.TASK_FINISHED, "")
	time.Sleep(150 * time.Millisecond)
	if s := driverState(t, d, elsewhere); s != "QUEUED" {
		t.Errorf("a driver constrained to zone:b on a zone:a cluster is %s, want QUEUED", s)
	}
}

func TestSuperviseRetries(t *testing.T) {
	// Spark declines offers it cannot use for spark.mesos.rejectOfferDuration,
	// which a retry waiting for its backoff must outlast: keep it short here.
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{RejectOfferDuration: 200 * time.Millisecond})
	id := submit(t, d, map[string]string{"spark.app.name": "sup", "spark.driver.supervise": "true"})
	waitFor(t, "RUNNING", func() bool { return driverState(t, d, id) == "RUNNING" })
	_ = d.Finish(id, mesos.TASK_FAILED, "Command exited with status 1")
	waitFor(t, "RETRYING", func() bool { return driverState(t, d, id) == "RETRYING" })
	waitFor(t, "the retry", func() bool {
		for _, tk := range operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks {
			if tk.TaskID.Value == id+"-retry-1" && tk.GetState() == mesos.TASK_RUNNING {
				return true
			}
		}
		return false
	})
	if s := driverState(t, d, id); s != "RUNNING" {
		t.Errorf("after the retry: %s", s)
	}
}

func TestDispatcherRestart(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	id := submit(t, d, map[string]string{"spark.app.name": "a"})
	waitFor(t, "RUNNING", func() bool { return driverState(t, d, id) == "RUNNING" })
	fw := d.FrameworkID()

	if err := d.Restart(true); err != nil {
		t.Fatal(err)
	}
	if d.FrameworkID() != fw || driverState(t, d, id) != "RUNNING" {
		t.Fatalf("with recovery: framework %s (was %s), driver %s", d.FrameworkID(), fw, driverState(t, d, id))
	}

	if err := d.Restart(false); err != nil {
		t.Fatal(err)
	}
	if d.FrameworkID() == fw {
		t.Fatal("without recovery the dispatcher kept its framework id")
	}
	if s := driverState(t, d, id); s != "NOT_FOUND" {
		t.Errorf("without recovery the old driver is %s, want NOT_FOUND", s)
	}
	// The old framework stays registered, disconnected, its driver still running.
	var oldConnected, found bool
	for _, f := range operator(t, c, `{"type":"GET_FRAMEWORKS"}`).GetFrameworks.Frameworks {
		if f.FrameworkInfo.ID.Value == fw {
			found, oldConnected = true, f.Connected
		}
	}
	running := false
	for _, tk := range operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks {
		if tk.TaskID.Value == id {
			running = true
		}
	}
	if !found || oldConnected || !running {
		t.Errorf("old framework found %v connected %v, driver task running %v", found, oldConnected, running)
	}
}

func TestDispatcherFaultsAndLog(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	c.AddFault(Fault{Server: "dispatcher", PathPrefix: "/v1/submissions/create", Status: 503, Count: 1})
	if r := do(t, "POST", d.URL()+"/v1/submissions/create", nil, "{}"); r.code != 503 {
		t.Fatalf("dispatcher fault: %d", r.code)
	}
	found := false
	for _, r := range c.Requests() {
		if r.Server == "dispatcher" && r.Path == "/v1/submissions/create" {
			found = true
		}
	}
	if !found {
		t.Fatal("dispatcher requests are not logged")
	}
}

// MesosClusterScheduler.scheduleTasks (Spark 3.5 ~680-690): a driver whose
// TaskInfo cannot be built (malformed labels, secrets that do not pair
// up) leaves the queue as FINISHED with no task status, and no task is
// launched; the next driver is launched as usual.
func TestLaunchTimeFailureFinishesWithoutTask(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	for _, props := range []map[string]string{
		{"spark.app.name": "bad-label", "spark.mesos.driver.labels": "team:data,k"},
		{"spark.app.name": "trailing-comma", "spark.mesos.driver.labels": "team:data,"},
		{"spark.app.name": "bad-secrets", "spark.mesos.driver.secret.names": "a,b", "spark.mesos.driver.secret.filenames": "x"},
	} {
		id := submit(t, d, props)
		waitFor(t, "FINISHED", func() bool { return driverState(t, d, id) == "FINISHED" })
		if st := status(t, d, id); st["message"] != nil {
			t.Errorf("%s: a status message %v, want none (no task status)", props["spark.app.name"], st["message"])
		}
		for _, tr := range c.TaskHistory() {
			if tr.ID == id {
				t.Errorf("%s launched task %s", props["spark.app.name"], tr.ID)
			}
		}
	}
	ok := submit(t, d, map[string]string{"spark.app.name": "fine", "spark.mesos.driver.labels": `a:b\,c,d:` + "e"})
	waitFor(t, "RUNNING", func() bool { return driverState(t, d, ok) == "RUNNING" })
	if e := launchError(map[string]string{"spark.mesos.driver.labels": "a:b,empty:"}); e != "" {
		t.Errorf("an empty value is a label (MesosProtoUtils keeps empty pieces): %s", e)
	}
}

// MesosClusterScheduler.resourceOffers (Spark 3.5 ~646-660) parses the
// driver constraints outside scheduleTasks' try: a malformed one aborts
// the scheduler driver. The poison submission is accepted; from then on
// nothing launches (every status stays QUEUED) while REST answers, the
// framework is disconnected at the master; a queued driver can still be
// killed, and a restart (with recovery) launches the rest.
func TestPoisonSubmissionStopsTheDispatcher(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	poison := submit(t, d, map[string]string{"spark.app.name": "poison", "spark.mesos.driver.constraints": "zone"})
	waitFor(t, "the abort", func() bool { return d.Aborted() != "" })
	victim := submit(t, d, map[string]string{"spark.app.name": "victim"})
	time.Sleep(300 * time.Millisecond) // many offer cycles
	if s := driverState(t, d, victim); s != "QUEUED" {
		t.Fatalf("a driver after the poison: %s, want QUEUED", s)
	}
	fws := operator(t, c, `{"type":"GET_FRAMEWORKS"}`).GetGetFrameworks().GetFrameworks()
	for _, f := range fws {
		if f.FrameworkInfo.GetID().GetValue() == d.FrameworkID() && f.Connected {
			t.Errorf("the aborted dispatcher's framework is still connected")
		}
	}
	if r := do(t, "POST", d.URL()+"/v1/submissions/kill/"+poison, nil, ""); r.code != 200 || !strings.Contains(string(r.body), `"success" : true`) {
		t.Fatalf("kill of the queued poison: %d %s", r.code, r.body)
	}
	if err := d.Restart(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the victim to run after the restart", func() bool { return driverState(t, d, victim) == "RUNNING" })
}

// MesosClusterScheduler.shellEscape (Spark 3.5): arguments already wrapped
// in quotes are left alone, others with a shell special character are
// double-quoted with ", `, $ and \ escaped, harmless ones untouched.
func TestShellEscapeAsSpark(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:            `plain`,
		`two words`:        `"two words"`,
		`"already quoted"`: `"already quoted"`,
		`'single quoted'`:  `'single quoted'`,
		`a$b"c`:            `"a\$b\"c"`,
		`""`:               `"\"\""`, // Spark's .+ needs one character inside
	} {
		if got := shellEscape(in); got != want {
			t.Errorf("shellEscape(%s) = %s, want %s", in, got, want)
		}
	}
}

// A queue set but empty is a queue named "", which Spark's lookup does not
// find; and the REST server's driver counter (nextDriverNumber) restarts
// with each process, recovered or not.
func TestEmptyQueueAndCounterPerProcess(t *testing.T) {
	_, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	body := `{"action":"CreateSubmissionRequest","appResource":"https://r/a.jar","mainClass":"a.Main","appArgs":[],"clientSparkVersion":"3.5.1",
"environmentVariables":{},"sparkProperties":{"spark.app.name":"q","spark.mesos.dispatcher.queue":""}}`
	if r := do(t, "POST", d.URL()+"/v1/submissions/create", map[string]string{"Content-Type": "application/json"}, body); r.code != 500 ||
		!strings.Contains(string(r.body), "java.util.NoSuchElementException: key not found: ") {
		t.Errorf("an empty queue: %d %s", r.code, r.body)
	}
	first := submit(t, d, map[string]string{"spark.app.name": "a"})
	_ = submit(t, d, map[string]string{"spark.app.name": "b"})
	if err := d.Restart(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the REST port", func() bool { _, err := http.Get(d.URL() + "/v1/submissions/status/x"); return err == nil })
	again := submit(t, d, map[string]string{"spark.app.name": "c"})
	if !strings.HasSuffix(first, "-0001") || !strings.HasSuffix(again, "-0001") {
		t.Errorf("ids %s then, after a restart with recovery, %s: the counter is per process", first, again)
	}
}

// RestServlet.findUnknownFields: a create naming a field that a
// CreateSubmissionRequest lacks is accepted, and the answer lists it.
func TestCreateListsUnknownFields(t *testing.T) {
	_, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	body := `{"action":"CreateSubmissionRequest","appResource":"https://r/a.jar","mainClass":"a.Main","appArgs":[],"clientSparkVersion":"3.5.1",
"environmentVariables":{},"sparkProperties":{"spark.app.name":"u"},"sparkPropertes":{},"extra":1}`
	r := do(t, "POST", d.URL()+"/v1/submissions/create", map[string]string{"Content-Type": "application/json"}, body)
	if r.code != 200 || !strings.Contains(string(r.body), `"unknownFields" : [ "extra", "sparkPropertes" ]`) {
		t.Errorf("create with unknown fields: %d %s", r.code, r.body)
	}
}

// Spark 3.5 has no KillSubmissionRequest or SubmissionStatusRequest class:
// a create with such an action fails in SubmitRestProtocolMessage.fromJson
// with ClassNotFoundException, outside the servlet's catch (a 500); a
// response class as the action is a message of unexpected type (400).
func TestCreateWithOtherActions(t *testing.T) {
	_, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	for action, want := range map[string]struct {
		code int
		text string
	}{
		"KillSubmissionRequest":    {500, "java.lang.ClassNotFoundException: org.apache.spark.deploy.rest.KillSubmissionRequest"},
		"SubmissionStatusRequest":  {500, "java.lang.ClassNotFoundException: org.apache.spark.deploy.rest.SubmissionStatusRequest"},
		"CreateSubmissionResponse": {400, "Validation of message CreateSubmissionResponse failed!"},
	} {
		r := do(t, "POST", d.URL()+"/v1/submissions/create", map[string]string{"Content-Type": "application/json"}, `{"action":"`+action+`"}`)
		if r.code != want.code || !strings.Contains(string(r.body), want.text) {
			t.Errorf("%s: %d %s", action, r.code, r.body)
		}
	}
	// A response message complete enough to validate: handleSubmit's answer.
	r := do(t, "POST", d.URL()+"/v1/submissions/create", map[string]string{"Content-Type": "application/json"},
		`{"action":"CreateSubmissionResponse","serverSparkVersion":"3.5.1","success":true}`)
	if r.code != 400 || !strings.Contains(string(r.body), "Received message of unexpected type CreateSubmissionResponse.") {
		t.Errorf("a valid response message: %d %s", r.code, r.body)
	}
}

// MesosRestServer sizes the driver's task from the submission's own
// properties (spark.driver.memoryOverheadFactor included: 5000M at 0.2 is
// 6000M, plus spark.mesos.driver.memoryOverhead's 10%); the dispatcher's
// driverDefaults reach only the driver's conf, which sizes its executors.
func TestDriverDefaultsSizeExecutorsNotTheDriver(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{DriverDefaults: map[string]string{"spark.driver.memory": "4g", "spark.executor.memory": "2g"}})
	small := submit(t, d, map[string]string{"spark.app.name": "small", "spark.cores.max": "1"})
	factor := submit(t, d, map[string]string{"spark.app.name": "factor", "spark.driver.memory": "5000m", "spark.driver.memoryOverheadFactor": "0.2", "spark.cores.max": "1"})
	mem := func(taskID string) float64 {
		for _, tk := range operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks {
			if tk.TaskID.Value == taskID {
				for _, r := range tk.Resources {
					if r.Name == "mem" {
						return r.GetScalar().Value
					}
				}
			}
		}
		return 0
	}
	waitFor(t, "both drivers", func() bool { return driverState(t, d, small) == "RUNNING" && driverState(t, d, factor) == "RUNNING" })
	if got := mem(small); got != 1792 {
		t.Errorf("driver without memory settings: task mem %v, want 1792 (1024 + 384 + 384; the defaults' 4g do not size it)", got)
	}
	if got := mem(factor); got != 6600 {
		t.Errorf("5000m with factor 0.2: task mem %v, want 6600", got)
	}
	waitFor(t, "an executor of small", func() bool {
		for _, tk := range operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks {
			if strings.HasSuffix(tk.FrameworkID.Value, small) {
				for _, r := range tk.Resources {
					if r.Name == "mem" && r.GetScalar().Value == 2432 {
						return true
					}
				}
			}
		}
		return false
	})
}

// MesosClusterScheduler.statusUpdate (SPARK-27347 and after): a late status
// of a supervised driver's earlier task is ignored when it would relaunch
// it (isTaskOutdated), but a finished one (KILLED, FINISHED) retires the
// driver although its current task runs on.
func TestOutdatedTaskStatusOfASupervisedDriver(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{RejectOfferDuration: 200 * time.Millisecond})
	id := submit(t, d, map[string]string{"spark.app.name": "sup", "spark.driver.supervise": "true"})
	waitFor(t, "RUNNING", func() bool { return driverState(t, d, id) == "RUNNING" })
	_ = d.Finish(id, mesos.TASK_FAILED, "Command exited with status 1")
	waitFor(t, "the retry running", func() bool {
		for _, tk := range operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks {
			if tk.TaskID.Value == id+"-retry-1" && tk.GetState() == mesos.TASK_RUNNING {
				return driverState(t, d, id) == "RUNNING"
			}
		}
		return false
	})
	late := func(state mesos.TaskState) {
		c.mu.Lock()
		defer c.mu.Unlock()
		old := &task{info: mesos.TaskInfo{TaskID: mesos.TaskID{Value: id}}, framework: d.fw.id, state: state}
		old.statuses = []mesos.TaskStatus{{TaskID: old.info.TaskID, State: &state}}
		dispatcherScheduler{d}.update(c, d.fw, old)
	}
	late(mesos.TASK_FAILED) // relaunchable: ignored
	if s := driverState(t, d, id); s != "RUNNING" {
		t.Fatalf("after an outdated TASK_FAILED: %s, want RUNNING", s)
	}
	late(mesos.TASK_KILLED) // finished: retires the driver
	if s := driverState(t, d, id); s != "FINISHED" {
		t.Fatalf("after an outdated TASK_KILLED: %s, want FINISHED", s)
	}
	running := false
	for _, tk := range operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks {
		if tk.TaskID.Value == id+"-retry-1" && tk.GetState() == mesos.TASK_RUNNING {
			running = true
		}
	}
	if !running {
		t.Error("the current task must run on: only the dispatcher's view changed")
	}
}
