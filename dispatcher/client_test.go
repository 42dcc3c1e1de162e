package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/sim"
	"io"
	"net/http"
	"net/http/httptest"
)

func start(t *testing.T, dc sim.DispatcherConfig) (*sim.Cluster, *sim.Dispatcher, *Client) {
	t.Helper()
	c := sim.New(sim.Config{Seed: 7, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond})
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	d, err := c.StartDispatcher(dc)
	if err != nil {
		t.Fatal(err)
	}
	return c, d, New(d.URL(), 5*time.Second)
}

func request(props map[string]string) render.CreateSubmissionRequest {
	p := map[string]string{"spark.app.name": "pi", "spark.master": "mesos://d:7077", "spark.submit.deployMode": "cluster"}
	for k, v := range props {
		p[k] = v
	}
	return render.CreateSubmissionRequest{Action: "CreateSubmissionRequest", AppArgs: []string{"10"}, AppResource: "https://r/app.jar",
		ClientSparkVersion: "3.4.1", EnvironmentVariables: map[string]string{}, MainClass: "a.Main", SparkProperties: p}
}

func waitState(t *testing.T, cl *Client, id, state string) *Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := cl.Status(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.DriverState == state && (state != StateRunning || st.TaskState == "TASK_RUNNING") {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("driver %s is %s, want %s", id, st.DriverState, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCreateSendsSparksRequest asserts the exact request the simulated
// dispatcher received: path, headers, and the JSON body's fields.
func TestCreateSendsSparksRequest(t *testing.T) {
	c, _, cl := start(t, sim.DispatcherConfig{})
	c.ResetRequests()
	created, err := cl.Create(context.Background(), request(nil))
	if err != nil {
		t.Fatal(err)
	}
	if id := created.ID; !strings.HasPrefix(id, "driver-") || len(created.UnknownFields) != 0 {
		t.Fatalf("submission %+v: the request has a field Spark does not know", created)
	}
	reqs := c.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Server != "dispatcher" || r.Method != "POST" || r.Path != "/v1/submissions/create" ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("charset") != "utf-8" {
		t.Fatalf("request %s %s %v", r.Method, r.Path, r.Header)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"action", "appArgs", "appResource", "clientSparkVersion", "environmentVariables", "mainClass", "sparkProperties"} {
		if _, ok := body[field]; !ok {
			t.Errorf("request lacks %s", field)
		}
	}
	if body["action"] != "CreateSubmissionRequest" || !strings.HasPrefix(string(r.Body), `{"action":"CreateSubmissionRequest","appArgs":`) {
		t.Errorf("body %s: fields must be in Spark's alphabetical order", r.Body)
	}
}

func TestStatusParsesTaskState(t *testing.T) {
	_, d, cl := start(t, sim.DispatcherConfig{})
	created, err := cl.Create(context.Background(), request(nil))
	if err != nil {
		t.Fatal(err)
	}
	id := created.ID
	waitState(t, cl, id, StateRunning)
	if err := d.Finish(id, 3 /* TASK_FAILED */, "Command exited with status 1"); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, cl, id, StateFinished)
	if st.TaskState != "TASK_FAILED" || st.TaskMessage != "Command exited with status 1" {
		t.Fatalf("status %+v: a failed driver is FINISHED with TASK_FAILED in its message", st)
	}
	unknown, err := cl.Status(context.Background(), "driver-nope")
	if err != nil || unknown.DriverState != StateNotFound {
		t.Fatalf("unknown driver: %+v %v; NOT_FOUND is a state, not an error", unknown, err)
	}
}

func TestKill(t *testing.T) {
	_, _, cl := start(t, sim.DispatcherConfig{})
	created, _ := cl.Create(context.Background(), request(nil))
	id := created.ID
	waitState(t, cl, id, StateRunning)
	res, err := cl.Kill(context.Background(), id)
	if err != nil || !res.Killed || res.Message != "Killing running driver" {
		t.Fatalf("kill: %+v %v", res, err)
	}
	st := waitState(t, cl, id, StateFinished)
	if st.TaskState != "TASK_KILLED" {
		t.Fatalf("killed driver: %+v", st)
	}
	res, err = cl.Kill(context.Background(), id)
	if err != nil || res.Killed || res.Message != "Driver already terminated" {
		t.Fatalf("second kill: %+v %v", res, err)
	}
}

func TestErrorsPermanentOrRetryable(t *testing.T) {
	c, _, cl := start(t, sim.DispatcherConfig{Queues: map[string]float64{"urgent": 1}})
	ctx := context.Background()

	bad := request(map[string]string{"spark.driver.memory": "1.5g"})
	if _, err := cl.Create(ctx, bad); !IsPermanent(err) {
		t.Errorf("a request failing Spark's validation: %v, want permanent", err)
	}
	if _, err := cl.Create(ctx, request(map[string]string{"spark.mesos.dispatcher.queue": "nope"})); !IsPermanent(err) {
		t.Errorf("an unknown queue: %v, want permanent", err)
	}
	if _, err := cl.Create(ctx, request(map[string]string{"spark.mesos.dispatcher.queue": "urgent"})); err != nil {
		t.Errorf("a known queue: %v", err)
	}
	c.AddFault(sim.Fault{Server: "dispatcher", PathPrefix: "/v1/submissions/create", Status: 503, Count: 1})
	_, err := cl.Create(ctx, request(nil))
	var e *Error
	if !errors.As(err, &e) || e.Permanent || e.StatusCode != 503 {
		t.Errorf("a 503: %v, want retryable", err)
	}
	c.AddFault(sim.Fault{Server: "dispatcher", PathPrefix: "/v1/submissions/create", Drop: true, Count: 1})
	if _, err := cl.Create(ctx, request(nil)); err == nil || IsPermanent(err) {
		t.Errorf("a dropped connection: %v, want retryable", err)
	}
	// A base URL with a path puts another first segment before v1: Spark
	// answers 468 (unknown protocol version), which retrying cannot fix.
	wrong := New(cl.base+"/v9", time.Second)
	if _, err := wrong.Status(ctx, "x"); !errors.As(err, &e) || e.StatusCode != 468 || !e.Permanent {
		t.Errorf("protocol version mismatch: %v, want a permanent 468", err)
	}
	// After /v1, anything but /submissions is an "unknown version 'v1'"
	// to Spark's ErrorServlet: the path is wrong, not the protocol.
	if _, err := New(cl.base+"/v1/x", time.Second).Status(ctx, "x"); !errors.As(err, &e) || e.StatusCode != 468 ||
		!strings.Contains(e.Message, "does not know this path (check the dispatcher URL's path)") || strings.Contains(e.Message, "speaks protocol v1, not v1") {
		t.Errorf("a wrong path after /v1: %v", err)
	}
}

// Before registration a dispatcher's port is closed (as Spark's is): the
// error is retryable and says the call was never sent. A dropped
// connection was sent: it may have acted.
func TestNotRegisteredIsRefusedAndNotSent(t *testing.T) {
	_, _, cl := start(t, sim.DispatcherConfig{RegistrationDelay: time.Hour})
	_, err := cl.Create(context.Background(), request(nil))
	var e *Error
	if !errors.As(err, &e) || IsPermanent(err) || !e.NotSent || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("create before registration: %v, want a retryable, not-sent refusal", err)
	}
}

func TestDroppedConnectionMayHaveBeenSent(t *testing.T) {
	c, _, cl := start(t, sim.DispatcherConfig{})
	c.AddFault(sim.Fault{Server: "dispatcher", PathPrefix: "/v1/submissions/create", Drop: true, Count: 1})
	_, err := cl.Create(context.Background(), request(nil))
	var e *Error
	if !errors.As(err, &e) || e.NotSent || e.StatusCode != 0 {
		t.Fatalf("a dropped connection: %v, want status 0 and not NotSent", err)
	}
}

// A create answer's unknownFields (RestServlet.findUnknownFields) reach the
// caller; a 200 whose action is not the response asked for is refused
// (something else answers on the dispatcher's port).
func TestCreateUnknownFieldsAndWrongAction(t *testing.T) {
	answer := `{"action" : "CreateSubmissionResponse", "serverSparkVersion" : "3.5.1", "submissionId" : "driver-1", "success" : true, "unknownFields" : [ "newField" ]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()
	cl := New(srv.URL, time.Second)
	created, err := cl.Create(context.Background(), request(nil))
	if err != nil || created.ID != "driver-1" || len(created.UnknownFields) != 1 || created.UnknownFields[0] != "newField" {
		t.Fatalf("create: %+v %v", created, err)
	}
	answer = `{"action" : "SubmissionStatusResponse", "submissionId" : "driver-1", "success" : true, "driverState" : "RUNNING"}`
	if _, err := cl.Create(context.Background(), request(nil)); !IsPermanent(err) || !strings.Contains(err.Error(), `answered "SubmissionStatusResponse" where Spark answers CreateSubmissionResponse`) {
		t.Errorf("a wrong action: %v", err)
	}
}

// jettyPage is Jetty 9.4's ErrorHandler page for an uncaught exception of
// Spark's submit servlet, as it renders for a client that sends no Accept.
func jettyPage(exception string) string {
	return `<html>
<head>
<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
<title>Error 500 ` + exception + `</title>
</head>
<body><h2>HTTP ERROR 500 ` + exception + `</h2>
<table>
<tr><th>URI:</th><td>/v1/submissions/create</td></tr>
<tr><th>STATUS:</th><td>500</td></tr>
<tr><th>MESSAGE:</th><td>` + exception + `</td></tr>
<tr><th>SERVLET:</th><td>org.apache.spark.deploy.rest.mesos.MesosSubmitRequestServlet-5b8a2fd4</td></tr>
<tr><th>CAUSED BY:</th><td>` + exception + `</td></tr>
</table>
<h3>Caused by:</h3><pre>` + exception + `
	at java.lang.Integer.parseInt(Integer.java:652) [java.lang.NumberFormatException in a frame]
</pre>
<hr><a href="https://eclipse.org/jetty">Powered by Jetty:// 9.4.54.v20240208</a><hr/>

</body>
</html>
`
}

// Whether a 500 is permanent is read from the exception Jetty's page names
// (CAUSED BY, else the title), never from a class name anywhere in it.
func TestServerErrorPermanence(t *testing.T) {
	for _, tc := range []struct {
		page      string
		permanent bool
	}{
		{jettyPage("java.util.NoSuchElementException: key not found: nosuch"), true},
		{jettyPage(`java.lang.NumberFormatException: For input string: "512m"`), true},
		{jettyPage("java.lang.ClassNotFoundException: org.apache.spark.deploy.rest.KillSubmissionRequest"), true},
		{jettyPage("java.lang.OutOfMemoryError: Java heap space"), false}, // its stack mentions NumberFormatException
		{"<html><body><h1>500 Internal Server Error</h1>nginx</body></html>", false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html;charset=iso-8859-1")
			w.WriteHeader(500)
			_, _ = io.WriteString(w, tc.page)
		}))
		_, err := New(srv.URL, time.Second).Create(context.Background(), request(nil))
		srv.Close()
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != 500 || e.Permanent != tc.permanent {
			t.Errorf("%.120q...: %v, want permanent %v", tc.page, err, tc.permanent)
		}
	}
}
