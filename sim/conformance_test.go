package sim

// Conformance: every endpoint and behaviour the simulator claims, each with
// a test over real HTTP, named so that checking against a real Mesos 1.12
// master (and a Spark 3.5 MesosClusterDispatcher) can follow this file line
// by line. Facts come from shared/reference/protocols.md, including what was
// observed on a real master (its section 9).

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// ---- Operator API: POST /api/v1 ----

func TestOperatorRequestRules(t *testing.T) {
	c := startCluster(t, fastConfig())
	url := c.MasterURL() + "/api/v1"
	cases := []struct {
		name    string
		method  string
		headers map[string]string
		body    string
		code    int
	}{
		{"charset in Content-Type is 415", "POST", map[string]string{"Content-Type": "application/json; charset=utf-8"}, `{"type":"GET_MASTER"}`, 415},
		{"no Content-Type is 400", "POST", nil, `{"type":"GET_MASTER"}`, 400},
		{"malformed JSON is 400", "POST", jsonHeaders, `{"type":`, 400},
		{"unknown call type is 400", "POST", jsonHeaders, `{"type":"NO_SUCH_CALL"}`, 400},
		{"UNKNOWN is 501", "POST", jsonHeaders, `{"type":"UNKNOWN"}`, 501},
		{"GET is 405", "GET", nil, "", 405},
		{"Accept text/plain is 406", "POST", map[string]string{"Content-Type": "application/json", "Accept": "text/plain"}, `{"type":"GET_MASTER"}`, 406},
		{"no Accept means JSON", "POST", map[string]string{"Content-Type": "application/json"}, `{"type":"GET_MASTER"}`, 200},
	}
	for _, tc := range cases {
		r := do(t, tc.method, url, tc.headers, tc.body)
		if r.code != tc.code {
			t.Errorf("%s: got %d %s", tc.name, r.code, r.body)
		}
		if r.code >= 400 {
			if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("%s: error Content-Type %q", tc.name, ct)
			}
			if r.header.Get("Content-Length") == "" {
				t.Errorf("%s: error without Content-Length", tc.name)
			}
		}
		if tc.code == 405 && r.header.Get("Allow") != "POST" {
			t.Errorf("405 without Allow: POST")
		}
	}
}

func TestOperatorGetMaster(t *testing.T) {
	c := startCluster(t, fastConfig())
	info := operator(t, c, `{"type":"GET_MASTER"}`).GetMaster.MasterInfo
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(c.MasterURL(), "http://"))
	// ip is the IPv4 address in network byte order read as a little-endian uint32.
	if info.IP != 16777343 || host != "127.0.0.1" {
		t.Errorf("ip = %d, want 16777343 (127.0.0.1)", info.IP)
	}
	if info.GetPID() != "master@"+host+":"+port || info.GetVersion() != Version || info.Address.GetIP() != "127.0.0.1" {
		t.Errorf("master info %+v", info)
	}
}

func TestOperatorGetStateAgentsFrameworksTasks(t *testing.T) {
	c := startCluster(t, Config{Seed: 1, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond,
		Agents: []AgentConfig{{CPUs: 4, MemMiB: 8192, Attributes: map[string]string{"rack": "2", "zone": "a", "ids": "[1-5]"}}}})
	s := subscribe(t, c.MasterURL(), fwInfo)
	defer s.close()
	s.launchOn(s.nextOffer(), "t1", "sleep 100", 1, 128)
	u := s.nextUpdate("t1")
	s.ack(u)
	waitFor(t, "t1 running", func() bool {
		tasks := operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks
		return len(tasks) == 1 && tasks[0].GetState() == mesos.TASK_RUNNING
	})
	st := operator(t, c, `{"type":"GET_STATE"}`)
	if st.Type != master.Response_GET_STATE {
		t.Fatalf("response type %s", st.Type)
	}
	gs := st.GetState
	if len(gs.GetAgents.Agents) != 1 || len(gs.GetFrameworks.Frameworks) != 1 || len(gs.GetTasks.Tasks) != 1 {
		t.Fatalf("state: %d agents, %d frameworks, %d tasks", len(gs.GetAgents.Agents), len(gs.GetFrameworks.Frameworks), len(gs.GetTasks.Tasks))
	}
	attrs := map[string]mesos.Value_Type{}
	for _, a := range gs.GetAgents.Agents[0].AgentInfo.Attributes {
		attrs[a.Name] = a.Type
	}
	if attrs["rack"] != mesos.SCALAR || attrs["zone"] != mesos.TEXT || attrs["ids"] != mesos.RANGES {
		t.Errorf("attribute types %v: a number is SCALAR, [a-b] RANGES, else TEXT", attrs)
	}
	task := gs.GetTasks.Tasks[0]
	// A command task has status_update_state and _uuid, no executor_id and no container.
	if task.StatusUpdateState == nil || len(task.StatusUpdateUUID) == 0 || task.ExecutorID != nil || task.Container != nil {
		t.Errorf("task %+v", task)
	}
	fw := gs.GetFrameworks.Frameworks[0]
	if !fw.Active || !fw.Connected || fw.RegisteredTime == nil || fw.ReregisteredTime == nil || len(fw.AllocatedResources) == 0 {
		t.Errorf("framework %+v", fw)
	}
	for _, call := range []string{"GET_FRAMEWORKS", "GET_TASKS", "GET_AGENTS", "GET_VERSION", "GET_HEALTH"} {
		if r := operator(t, c, `{"type":"`+call+`"}`); r.Type.String() != call {
			t.Errorf("%s answered as %s", call, r.Type)
		}
	}
}

func TestOperatorProtobuf(t *testing.T) {
	c := startCluster(t, fastConfig())
	call := master.Call{Type: master.Call_GET_AGENTS}
	body, _ := call.Marshal()
	r := do(t, "POST", c.MasterURL()+"/api/v1", map[string]string{"Content-Type": "application/x-protobuf", "Accept": "application/x-protobuf"}, string(body))
	if r.code != 200 || r.header.Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("%d %s", r.code, r.header)
	}
	var resp master.Response
	if err := resp.Unmarshal(r.body); err != nil || len(resp.GetAgents.Agents) != 3 {
		t.Fatalf("protobuf response: %v, %+v", err, resp)
	}
}

func TestOperatorTeardown(t *testing.T) {
	c := startCluster(t, fastConfig())
	s := subscribe(t, c.MasterURL(), fwInfo)
	s.launchOn(s.nextOffer(), "t1", "sleep 100", 1, 128)
	s.nextUpdate("t1")
	r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, `{"type":"TEARDOWN","teardown":{"framework_id":{"value":"`+s.fwID+`"}}}`)
	if r.code != 200 || len(r.body) != 0 || r.header.Get("Content-Type") != "" {
		t.Fatalf("TEARDOWN: %d %q Content-Type %q; want 200, empty, none", r.code, r.body, r.header.Get("Content-Type"))
	}
	// The scheduler's stream just ends: no ERROR event.
	for ev := range s.events {
		if ev.Type == scheduler.Event_ERROR {
			t.Fatal("TEARDOWN sent an ERROR event")
		}
	}
	fws := operator(t, c, `{"type":"GET_FRAMEWORKS"}`).GetFrameworks
	if len(fws.Frameworks) != 0 || len(fws.CompletedFrameworks) != 1 || fws.CompletedFrameworks[0].UnregisteredTime == nil {
		t.Errorf("after TEARDOWN: %+v", fws)
	}
	if tasks := operator(t, c, `{"type":"GET_TASKS"}`).GetTasks; len(tasks.Tasks) != 0 || tasks.CompletedTasks[0].GetState() != mesos.TASK_KILLED {
		t.Errorf("tasks after TEARDOWN: %+v", tasks)
	}
	r = do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, `{"type":"TEARDOWN","teardown":{"framework_id":{"value":"nope"}}}`)
	if r.code != 400 || !strings.Contains(string(r.body), "No framework found with ID nope") {
		t.Errorf("TEARDOWN of an unknown id: %d %s", r.code, r.body)
	}
}

// subscribeOperator opens the operator API's event stream (JSON); it is
// closed at the test's end.
func subscribeOperator(t *testing.T, c *Cluster) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", c.MasterURL()+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestOperatorSubscribeStream(t *testing.T) {
	c := startCluster(t, fastConfig())
	resp := subscribeOperator(t, c)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("SUBSCRIBE: %d, Content-Length %q (must stream)", resp.StatusCode, resp.Header.Get("Content-Length"))
	}
	events := make(chan *master.Event, 100)
	go readRecordIO(resp, func(b []byte) {
		var ev master.Event
		if json.Unmarshal(knownEnums(b), &ev) == nil {
			events <- &ev
		}
	})
	want := []master.Event_Type{master.Event_SUBSCRIBED, master.Event_HEARTBEAT}
	for _, w := range want {
		if ev := <-events; ev.Type != w {
			t.Fatalf("got %s, want %s", ev.Type, w)
		}
	}
	s := subscribe(t, c.MasterURL(), fwInfo)
	defer s.close()
	s.launchOn(s.nextOffer(), "t1", "sleep 100", 1, 128)
	seen := map[master.Event_Type]bool{}
	deadline := time.After(5 * time.Second)
	for !(seen[master.Event_FRAMEWORK_ADDED] && seen[master.Event_TASK_ADDED] && seen[master.Event_TASK_UPDATED]) {
		select {
		case ev := <-events:
			seen[ev.Type] = true
		case <-deadline:
			t.Fatalf("events seen: %v", seen)
		}
	}
}

func TestNonLeaderRedirects(t *testing.T) {
	cfg := fastConfig()
	cfg.Masters = 2
	c := startCluster(t, cfg)
	urls := c.MasterURLs()
	leader := strings.TrimPrefix(urls[0], "http://")
	r := do(t, "POST", urls[1]+"/api/v1", jsonHeaders, `{"type":"GET_MASTER"}`)
	if r.code != 307 || r.header.Get("Location") != "//"+leader+"/api/v1" {
		t.Fatalf("non-leader: %d Location %q, want 307 //%s/api/v1", r.code, r.header.Get("Location"), leader)
	}
	r = do(t, "GET", urls[0]+"/master/redirect", nil, "")
	if r.code != 307 || r.header.Get("Location") != "//"+leader || len(r.body) != 0 {
		t.Fatalf("/master/redirect: %d %q", r.code, r.header.Get("Location"))
	}
	c.FailOver()
	if r := do(t, "POST", urls[0]+"/api/v1", jsonHeaders, `{"type":"GET_MASTER"}`); r.code != 307 {
		t.Fatalf("the old leader answered %d after a failover", r.code)
	}
	if r := do(t, "POST", urls[1]+"/api/v1", jsonHeaders, `{"type":"GET_MASTER"}`); r.code != 200 {
		t.Fatalf("the new leader answered %d", r.code)
	}
}

func TestBasicAuth(t *testing.T) {
	cfg := fastConfig()
	cfg.Principal, cfg.Secret = "ops", "s3cret"
	c := startCluster(t, cfg)
	r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, `{"type":"GET_MASTER"}`)
	if r.code != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `realm="mesos-master-readwrite"`) {
		t.Fatalf("without credentials: %d %q", r.code, r.header.Get("WWW-Authenticate"))
	}
	h := map[string]string{"Content-Type": "application/json", "Authorization": "Basic b3BzOnMzY3JldA=="}
	if r := do(t, "POST", c.MasterURL()+"/api/v1", h, `{"type":"GET_MASTER"}`); r.code != 200 {
		t.Fatalf("with credentials: %d", r.code)
	}
}

func TestTLS(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS() // borrow a self-signed certificate
	cert := ts.TLS.Certificates
	ts.Close()
	c := New(fastConfig())
	if err := c.Start(ServeOptions{TLS: &tls.Config{Certificates: cert}}); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	url := strings.Replace(c.MasterURL(), "http://", "https://", 1) + "/api/v1"
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"type":"GET_HEALTH"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("over TLS: %v %v", err, resp)
	}
	resp.Body.Close()
}

func TestLegacyStateJSON(t *testing.T) {
	c := startCluster(t, fastConfig())
	r := do(t, "GET", c.MasterURL()+"/master/state", nil, "")
	var st map[string]any
	if err := json.Unmarshal(r.body, &st); err != nil || st["version"] != Version || len(st["slaves"].([]any)) != 3 {
		t.Fatalf("/master/state: %d %s", r.code, r.body)
	}
	if r := do(t, "GET", c.MasterURL()+"/state", nil, ""); r.code != 200 {
		t.Fatalf("/state: %d", r.code)
	}
}

// ---- Scheduler API: POST /api/v1/scheduler ----

func TestSchedulerSubscribe(t *testing.T) {
	c := startCluster(t, fastConfig())
	req, _ := http.NewRequest("POST", c.MasterURL()+"/api/v1/scheduler", strings.NewReader(`{"type":"SUBSCRIBE","subscribe":{"framework_info":`+fwInfo+`}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// 200, Content-Type application/json (not recordio), chunked, a stream id.
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Mesos-Stream-Id") == "" || len(resp.TransferEncoding) == 0 {
		t.Fatalf("SUBSCRIBE answered %d %v %v", resp.StatusCode, resp.Header, resp.TransferEncoding)
	}
	var types []scheduler.Event_Type
	var offers *scheduler.Event_Offers
	done := make(chan struct{})
	go func() {
		readRecordIO(resp, func(b []byte) {
			var ev scheduler.Event
			if json.Unmarshal(knownEnums(b), &ev) != nil || offers != nil {
				return
			}
			types = append(types, ev.Type)
			if ev.Type == scheduler.Event_OFFERS {
				offers = ev.Offers
				close(done)
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no offers")
	}
	if types[0] != scheduler.Event_SUBSCRIBED || types[1] != scheduler.Event_HEARTBEAT {
		t.Errorf("events %v: want SUBSCRIBED, then HEARTBEAT, then OFFERS", types)
	}
	o := offers.Offers[0]
	r := o.Resources[0]
	if r.Role == nil || *r.Role != "*" || r.AllocationInfo == nil || o.URL == nil || len(o.Attributes) == 0 || o.Hostname == "" {
		t.Errorf("offer lacks role \"*\", allocation_info, url or attributes: %+v", o)
	}
}

func TestSchedulerCallRules(t *testing.T) {
	c := startCluster(t, fastConfig())
	base := c.MasterURL() + "/api/v1/scheduler"
	r := do(t, "POST", base, map[string]string{"Content-Type": "application/json", "Mesos-Stream-Id": "x"}, `{"type":"SUBSCRIBE","subscribe":{"framework_info":`+fwInfo+`}}`)
	if r.code != 400 {
		t.Errorf("SUBSCRIBE with a stream id: %d", r.code)
	}
	r = do(t, "POST", base, jsonHeaders, `{"type":"SUBSCRIBE","framework_id":{"value":"a"},"subscribe":{"framework_info":`+fwInfo+`}}`)
	if r.code != 400 || !strings.Contains(string(r.body), "'framework_id' differs from 'subscribe.framework_info.id'") {
		t.Errorf("framework_id mismatch: %d %s", r.code, r.body)
	}
	s := subscribe(t, c.MasterURL(), fwInfo)
	decline := `{"framework_id":{"value":"` + s.fwID + `"},"type":"DECLINE","decline":{"offer_ids":[]}}`
	if r := do(t, "POST", base, jsonHeaders, decline); r.code != 400 {
		t.Errorf("without Mesos-Stream-Id: %d", r.code)
	}
	if r := do(t, "POST", base, map[string]string{"Content-Type": "application/json", "Mesos-Stream-Id": "wrong"}, decline); r.code != 400 {
		t.Errorf("with a wrong stream id: %d", r.code)
	}
	if r := s.call(`{"type":"DECLINE","decline":{"offer_ids":[]}}`); r.code != 400 {
		t.Errorf("without framework_id: %d", r.code)
	}
	if r := s.call(`{"framework_id":{"value":"nope"},"type":"DECLINE","decline":{"offer_ids":[]}}`); r.code != 400 || !strings.Contains(string(r.body), "Framework cannot be found") {
		t.Errorf("unknown framework: %d %s", r.code, r.body)
	}
	if r := s.call(decline); r.code != 202 {
		t.Errorf("DECLINE: %d", r.code)
	}
	s.close()
	waitFor(t, "the disconnection to register", func() bool {
		return s.call(decline).code == 403
	})
	if r := s.call(decline); !strings.Contains(string(r.body), "Framework is not subscribed") {
		t.Errorf("after disconnecting, within the failover timeout: %d %s", r.code, r.body)
	}
}

func TestTaskLifecycle(t *testing.T) {
	c := startCluster(t, fastConfig())
	s := subscribe(t, c.MasterURL(), fwInfo)
	defer s.close()
	s.launchOn(s.nextOffer(), "sleeper", "sleep 100", 1, 128)
	starting := s.nextUpdate("sleeper")
	if starting.Status.GetState() != mesos.TASK_STARTING || starting.Status.GetSource() != mesos.SOURCE_EXECUTOR || len(starting.Status.UUID) == 0 {
		t.Fatalf("first update %+v: want TASK_STARTING from SOURCE_EXECUTOR with a uuid", starting.Status)
	}
	s.ack(starting)
	running := s.nextUpdate("sleeper")
	if running.Status.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("second update %s", running.Status.GetState())
	}
	s.ack(running)

	s.mustCall(`{"framework_id":{"value":%q},"type":"KILL","kill":{"task_id":{"value":"sleeper"}}}`, s.fwID)
	killed := s.nextUpdate("sleeper").Status
	if killed.GetState() != mesos.TASK_KILLED || killed.GetMessage() != "Command terminated with signal Terminated" || killed.Reason != nil {
		t.Errorf("KILL gave %+v", killed)
	}

	s.launchOn(s.nextOffer(), "failer", "exit 3", 1, 128)
	var last mesos.TaskStatus
	for last.GetState() != mesos.TASK_FAILED {
		last = s.nextUpdate("failer").Status
	}
	if last.GetMessage() != "Command exited with status 3" || last.Reason != nil {
		t.Errorf("exit 3 gave %+v: want TASK_FAILED, no reason", last)
	}
	s.mustCall(`{"framework_id":{"value":%q},"type":"KILL","kill":{"task_id":{"value":"never-launched"}}}`, s.fwID)
	if st := s.nextUpdate("never-launched").Status; st.GetState() != mesos.TASK_LOST {
		t.Errorf("KILL of an unknown task: %s, want TASK_LOST", st.GetState())
	}
}

func TestReconcile(t *testing.T) {
	c := startCluster(t, fastConfig())
	s := subscribe(t, c.MasterURL(), fwInfo)
	defer s.close()
	o := s.nextOffer()
	s.launchOn(o, "t1", "sleep 100", 1, 128)
	for s.nextUpdate("t1").Status.GetState() != mesos.TASK_RUNNING {
	}
	s.mustCall(`{"framework_id":{"value":%q},"type":"RECONCILE","reconcile":{"tasks":[]}}`, s.fwID)
	u := s.nextUpdate("t1").Status
	if u.GetState() != mesos.TASK_RUNNING || u.GetSource() != mesos.SOURCE_MASTER || u.GetReason() != mesos.REASON_RECONCILIATION || len(u.UUID) != 0 {
		t.Errorf("implicit reconciliation: %+v", u)
	}
	s.mustCall(`{"framework_id":{"value":%q},"type":"RECONCILE","reconcile":{"tasks":[{"task_id":{"value":"t1"}},{"task_id":{"value":"ghost"},"agent_id":{"value":%q}}]}}`, s.fwID, o.agent)
	if u := s.nextUpdate("t1").Status; u.GetState() != mesos.TASK_RUNNING {
		t.Errorf("explicit reconciliation of t1: %s", u.GetState())
	}
	if u := s.nextUpdate("ghost").Status; u.GetState() != mesos.TASK_LOST || len(u.UUID) != 0 {
		t.Errorf("explicit reconciliation of an unknown task (not partition-aware): %s", u.GetState())
	}
}

func TestDeclineFiltersSuppressRevive(t *testing.T) {
	cfg := fastConfig()
	cfg.Agents = []AgentConfig{{CPUs: 2, MemMiB: 2048}}
	c := startCluster(t, cfg)
	s := subscribe(t, c.MasterURL(), fwInfo)
	defer s.close()
	o := s.nextOffer()
	s.mustCall(`{"framework_id":{"value":%q},"type":"DECLINE","decline":{"offer_ids":[{"value":%q}],"filters":{"refuse_seconds":3600}}}`, s.fwID, o.id)
	if gotOffer(s, 300*time.Millisecond) {
		t.Fatal("offered again within the refuse filter")
	}
	s.mustCall(`{"framework_id":{"value":%q},"type":"REVIVE","revive":{}}`, s.fwID)
	if !gotOffer(s, 2*time.Second) {
		t.Fatal("REVIVE did not clear the filter")
	}
	s.mustCall(`{"framework_id":{"value":%q},"type":"SUPPRESS","suppress":{}}`, s.fwID)
	if gotOffer(s, 300*time.Millisecond) {
		t.Fatal("offers while suppressed")
	}
	s.mustCall(`{"framework_id":{"value":%q},"type":"REVIVE","revive":{}}`, s.fwID)
	if !gotOffer(s, 2*time.Second) {
		t.Fatal("no offers after REVIVE")
	}
}

func gotOffer(s *schedClient, within time.Duration) bool {
	deadline := time.After(within)
	for {
		select {
		case ev := <-s.events:
			if ev.Type == scheduler.Event_OFFERS {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func TestResubscribeAndFailoverTimeout(t *testing.T) {
	c := startCluster(t, fastConfig())
	s := subscribe(t, c.MasterURL(), fwInfo)
	s.launchOn(s.nextOffer(), "t1", "sleep 100", 1, 128)
	s.nextUpdate("t1")
	first := s.streamID
	s.close()
	waitFor(t, "disconnection", func() bool {
		f := operator(t, c, `{"type":"GET_FRAMEWORKS"}`).GetFrameworks.Frameworks
		return len(f) == 1 && !f[0].Connected
	})
	f := operator(t, c, `{"type":"GET_FRAMEWORKS"}`).GetFrameworks.Frameworks[0]
	if f.Active || f.UnregisteredTime != nil || f.ReregisteredTime == nil {
		t.Errorf("disconnected framework: active %v, unregistered_time %v", f.Active, f.UnregisteredTime)
	}
	info := strings.Replace(fwInfo, `{"user"`, `{"id":{"value":"`+s.fwID+`"},"user"`, 1)
	s.open(info, s.fwID)
	if s.streamID == first || s.fwID != f.FrameworkInfo.ID.Value {
		t.Fatalf("re-subscription: stream %s (was %s), framework %s", s.streamID, first, s.fwID)
	}
	if tasks := operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks; len(tasks) != 1 {
		t.Fatal("the task did not survive a disconnection within the failover timeout")
	}
	s.close()

	// failover_timeout 0 (the default): a disconnection removes the framework and kills its tasks.
	s2 := subscribe(t, c.MasterURL(), `{"user":"root","name":"ephemeral"}`)
	s2.launchOn(s2.nextOffer(), "e1", "sleep 100", 1, 128)
	s2.nextUpdate("e1")
	s2.close()
	waitFor(t, "removal", func() bool {
		for _, f := range operator(t, c, `{"type":"GET_FRAMEWORKS"}`).GetFrameworks.CompletedFrameworks {
			if f.FrameworkInfo.ID.Value == s2.fwID {
				return true
			}
		}
		return false
	})
	info2 := `{"id":{"value":"` + s2.fwID + `"},"user":"root","name":"ephemeral"}`
	if ev := s2.open(info2, s2.fwID); ev.Type != scheduler.Event_ERROR || ev.Error.Message != "Framework has been removed" {
		t.Errorf("re-subscribing a removed framework: %q", ev.Error.Message)
	}
	if !s2.ended(2 * time.Second) {
		t.Error("the stream did not close after the ERROR")
	}
}

// oneRunningTask starts a one-agent cluster with a framework running task
// t1 on it.
func oneRunningTask(t *testing.T, cfg Config) (*Cluster, *schedClient, *mesosOffer) {
	t.Helper()
	cfg.Agents = []AgentConfig{{CPUs: 2, MemMiB: 2048}}
	c := startCluster(t, cfg)
	s := subscribe(t, c.MasterURL(), fwInfo)
	t.Cleanup(s.close)
	o := s.nextOffer()
	s.launchOn(o, "t1", "sleep 100", 1, 128)
	for s.nextUpdate("t1").Status.GetState() != mesos.TASK_RUNNING {
	}
	return c, s, o
}

func TestAgentLoss(t *testing.T) {
	c, s, o := oneRunningTask(t, fastConfig())
	if err := c.LoseAgent(o.agent); err != nil {
		t.Fatal(err)
	}
	if u := s.nextUpdate("t1").Status; u.GetState() != mesos.TASK_LOST || u.GetSource() != mesos.SOURCE_MASTER {
		t.Errorf("task on a lost agent: %s from %s", u.GetState(), u.GetSource())
	}
	if n := len(operator(t, c, `{"type":"GET_AGENTS"}`).GetAgents.Agents); n != 0 {
		t.Errorf("%d agents listed after losing the only one", n)
	}
	if err := c.ReturnAgent(o.agent); err != nil {
		t.Fatal(err)
	}
	if n := len(operator(t, c, `{"type":"GET_AGENTS"}`).GetAgents.Agents); n != 1 {
		t.Errorf("agent did not return")
	}
}

func TestPartitionAwareAgentLoss(t *testing.T) {
	cfg := fastConfig()
	cfg.Agents = []AgentConfig{{CPUs: 2, MemMiB: 2048}}
	c := startCluster(t, cfg)
	s := subscribe(t, c.MasterURL(), `{"user":"root","name":"aware","failover_timeout":60,"capabilities":[{"type":"PARTITION_AWARE"}]}`)
	defer s.close()
	o := s.nextOffer()
	s.launchOn(o, "t1", "sleep 100", 1, 128)
	for s.nextUpdate("t1").Status.GetState() != mesos.TASK_RUNNING {
	}
	_ = c.LoseAgent(o.agent)
	if u := s.nextUpdate("t1").Status; u.GetState() != mesos.TASK_UNREACHABLE {
		t.Errorf("partition-aware task on a lost agent: %s", u.GetState())
	}
}

func TestMasterFailoverKeepsTasks(t *testing.T) {
	cfg := fastConfig()
	cfg.Masters = 2
	c := startCluster(t, cfg)
	s := subscribe(t, c.MasterURL(), fwInfo)
	s.launchOn(s.nextOffer(), "t1", "sleep 100", 1, 128)
	s.nextUpdate("t1")
	c.FailOver()
	if !s.ended(2 * time.Second) {
		t.Fatal("the subscription at the old leader did not end")
	}
	s.base = c.MasterURL()
	info := strings.Replace(fwInfo, `{"user"`, `{"id":{"value":"`+s.fwID+`"},"user"`, 1)
	s.open(info, s.fwID)
	if tasks := operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks; len(tasks) != 1 || tasks[0].FrameworkID.Value != s.fwID {
		t.Fatalf("tasks after a master failover: %+v", tasks)
	}
	s.close()
}

func TestInvalidLaunchIsTaskError(t *testing.T) {
	cfg := fastConfig()
	cfg.Agents = []AgentConfig{{CPUs: 1, MemMiB: 512}}
	c := startCluster(t, cfg)
	s := subscribe(t, c.MasterURL(), fwInfo)
	defer s.close()
	s.launchOn(s.nextOffer(), "big", "sleep 1", 4, 128)
	if u := s.nextUpdate("big").Status; u.GetState() != mesos.TASK_ERROR || u.GetReason() != mesos.REASON_TASK_INVALID {
		t.Errorf("a task larger than its offer: %s %s", u.GetState(), u.GetReason())
	}
}

func TestShuffleServiceListens(t *testing.T) {
	cfg := fastConfig()
	cfg.Agents = []AgentConfig{{CPUs: 2, MemMiB: 4096}}
	c := startCluster(t, cfg)
	s := subscribe(t, c.MasterURL(), fwInfo)
	defer s.close()
	o := s.nextOffer()
	s.mustCall(`{"framework_id":{"value":%q},"type":"ACCEPT","accept":{"offer_ids":[{"value":%q}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[
	{"name":"shuffle","task_id":{"value":"shuffle"},"agent_id":{"value":%q},
	 "resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}},{"name":"mem","type":"SCALAR","scalar":{"value":1408}}],
	 "command":{"shell":true,"value":"exec /opt/spark/bin/spark-class org.apache.spark.deploy.mesos.MesosExternalShuffleService",
	   "environment":{"variables":[{"name":"SPARK_SHUFFLE_OPTS","value":"-Dspark.shuffle.service.port=17337"}]}}}]}}]}}`, s.fwID, o.id, o.agent)
	for s.nextUpdate("shuffle").Status.GetState() != mesos.TASK_RUNNING {
	}
	conn, err := net.DialTimeout("tcp", "127.0.1.1:17337", time.Second)
	if err != nil {
		t.Fatalf("the shuffle service does not listen on the agent's address: %v", err)
	}
	conn.Close()
	s.mustCall(`{"framework_id":{"value":%q},"type":"KILL","kill":{"task_id":{"value":"shuffle"}}}`, s.fwID)
	s.nextUpdate("shuffle")
	if _, err := net.DialTimeout("tcp", "127.0.1.1:17337", time.Second); err == nil {
		t.Error("the killed shuffle service still listens")
	}
}

// ---- Fault injection ----

func TestFaults(t *testing.T) {
	c := startCluster(t, fastConfig())
	c.AddFault(Fault{PathPrefix: "/api/v1", Status: 503, Count: 1})
	if r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, `{"type":"GET_HEALTH"}`); r.code != 503 {
		t.Fatalf("injected 503: got %d", r.code)
	}
	if r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, `{"type":"GET_HEALTH"}`); r.code != 200 {
		t.Fatalf("a fault with count 1 applied twice: %d", r.code)
	}
	r := do(t, "POST", c.MasterURL()+"/sim/faults", nil, `{"pathPrefix":"/api/v1","latencyMs":150,"count":1}`)
	if r.code != 204 {
		t.Fatalf("control API: %d %s", r.code, r.body)
	}
	start := time.Now()
	do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, `{"type":"GET_HEALTH"}`)
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("latency not injected: %s", took)
	}
	c.AddFault(Fault{PathPrefix: "/api/v1", Drop: true, Count: 1})
	req, _ := http.NewRequest("POST", c.MasterURL()+"/api/v1", strings.NewReader(`{"type":"GET_HEALTH"}`))
	req.Header.Set("Content-Type", "application/json")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a dropped connection answered")
	}
	c.AddFault(Fault{PathPrefix: "/api/v1", Status: 500})
	do(t, "DELETE", c.MasterURL()+"/sim/faults", nil, "")
	if r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, `{"type":"GET_HEALTH"}`); r.code != 200 {
		t.Fatalf("faults not cleared: %d", r.code)
	}
}

func TestRequestLog(t *testing.T) {
	c := startCluster(t, fastConfig())
	c.ResetRequests()
	do(t, "POST", c.MasterURL()+"/api/v1", map[string]string{"Content-Type": "application/json", "Accept": "application/json"}, `{"type":"GET_STATE"}`)
	reqs := c.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/api/v1" || string(reqs[0].Body) != `{"type":"GET_STATE"}` || reqs[0].Header.Get("Accept") != "application/json" {
		t.Fatalf("request log %+v", reqs)
	}
}

func readRecordIO(resp *http.Response, fn func([]byte)) {
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			i := strings.IndexByte(string(buf), '\n')
			if i < 0 {
				break
			}
			var size int
			if _, err := fmtSscan(string(buf[:i]), &size); err != nil || len(buf) < i+1+size {
				break
			}
			fn(buf[i+1 : i+1+size])
			buf = buf[i+1+size:]
		}
		if err != nil {
			return
		}
	}
}

var sizeRE = regexp.MustCompile(`^\d+$`)

func fmtSscan(s string, n *int) (int, error) {
	if !sizeRE.MatchString(s) {
		return 0, errNotFound
	}
	return 1, json.Unmarshal([]byte(s), n)
}

func TestMasterStopAndRestart(t *testing.T) {
	c := startCluster(t, fastConfig())
	url := c.MasterURL()
	c.StopMaster(0)
	client := &http.Client{Timeout: time.Second}
	if _, err := client.Post(url+"/api/v1", "application/json", strings.NewReader(`{"type":"GET_HEALTH"}`)); err == nil {
		t.Fatal("a stopped master answered")
	}
	if err := c.StartMaster(0); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", url+"/api/v1", jsonHeaders, `{"type":"GET_HEALTH"}`); r.code != 200 {
		t.Fatalf("restarted master: %d", r.code)
	}
}

// As Mesos' DRF allocator, one cycle spreads the agents over the frameworks
// that want them: the framework with the smallest share gets the next
// agent. A framework holding its offers does not starve another.
func TestAllocationSpreadsAgentsByShare(t *testing.T) {
	cfg := fastConfig()
	cfg.NumAgents = 2
	cfg.AllocationInterval = 500 * time.Millisecond // both subscribe before the first cycle
	c := startCluster(t, cfg)
	a := subscribe(t, c.MasterURL(), fwInfo)
	defer a.close()
	b := subscribe(t, c.MasterURL(), strings.Replace(fwInfo, "test-framework", "other-framework", 1))
	defer b.close()
	oa, ob := a.nextOffer(), b.nextOffer()
	if oa.agent == ob.agent {
		t.Errorf("both frameworks were offered agent %s; want one agent each", oa.agent)
	}
}

// UPDATE_WEIGHTS and GET_WEIGHTS; weights shape offers as in Mesos'
// hierarchical allocator: the role with the smallest dominant share over its
// weight gets the next agent. With weights 1 and 3 and 40 equal agents
// contended by one framework of each role, one cycle offers 10 and 30.
func TestWeightsShapeOffers(t *testing.T) {
	cfg := fastConfig()
	cfg.AllocationInterval = 500 * time.Millisecond // both subscribe before the first cycle
	for i := 0; i < 40; i++ {
		cfg.Agents = append(cfg.Agents, AgentConfig{CPUs: 1, MemMiB: 1024})
	}
	c := startCluster(t, cfg)
	if r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, `{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"etl","weight":-1}]}}`); r.code != 400 {
		t.Errorf("negative weight: %d %s, want 400", r.code, r.body)
	}
	r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, `{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"adhoc","weight":1},{"role":"etl","weight":3}]}}`)
	if r.code != 200 || len(r.body) != 0 {
		t.Fatalf("UPDATE_WEIGHTS: %d %q, want 200 and no body", r.code, r.body)
	}
	got := operator(t, c, `{"type":"GET_WEIGHTS"}`).GetGetWeights().GetWeightInfos()
	if len(got) != 2 || got[0].GetRole() != "adhoc" || got[0].Weight != 1 || got[1].GetRole() != "etl" || got[1].Weight != 3 {
		t.Errorf("GET_WEIGHTS: %+v", got)
	}
	role := func(r string) string { return strings.Replace(fwInfo, `"roles":["*"]`, `"roles":["`+r+`"]`, 1) }
	adhoc := subscribe(t, c.MasterURL(), role("adhoc"))
	defer adhoc.close()
	etl := subscribe(t, c.MasterURL(), role("etl"))
	defer etl.close()
	na, ne := len(adhoc.next(scheduler.Event_OFFERS).Offers.Offers), len(etl.next(scheduler.Event_OFFERS).Offers.Offers)
	if na < 9 || na > 11 || na+ne != 40 {
		t.Errorf("offers: adhoc (weight 1) %d, etl (weight 3) %d; want about 10 and 30", na, ne)
	}
}

// UPDATE_QUOTA and GET_QUOTA (Mesos 1.9+ quota configs); a limit caps what
// a role is offered, cutting the last offer to the headroom.
func TestQuotaLimitsCapOffers(t *testing.T) {
	cfg := fastConfig()
	cfg.Agents = []AgentConfig{{CPUs: 2, MemMiB: 4096}, {CPUs: 2, MemMiB: 4096}, {CPUs: 2, MemMiB: 4096}}
	c := startCluster(t, cfg)
	bad := `{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"capped","guarantees":{"cpus":{"value":4}},"limits":{"cpus":{"value":3}}}]}}`
	if r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, bad); r.code != 400 {
		t.Errorf("guarantee above limit: %d %s, want 400", r.code, r.body)
	}
	set := `{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"capped","guarantees":{"cpus":{"value":1}},"limits":{"cpus":{"value":3}}}]}}`
	if r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, set); r.code != 200 || len(r.body) != 0 {
		t.Fatalf("UPDATE_QUOTA: %d %q", r.code, r.body)
	}
	q := operator(t, c, `{"type":"GET_QUOTA"}`).GetGetQuota().Status.Configs
	if len(q) != 1 || q[0].Role != "capped" || q[0].Limits["cpus"].Value != 3 || q[0].Guarantees["cpus"].Value != 1 {
		t.Fatalf("GET_QUOTA: %+v", q)
	}
	s := subscribe(t, c.MasterURL(), strings.Replace(fwInfo, `"roles":["*"]`, `"roles":["capped"]`, 1))
	defer s.close()
	cpus := 0.0
	for _, o := range s.next(scheduler.Event_OFFERS).Offers.Offers {
		for _, r := range o.Resources {
			if r.Name == "cpus" {
				cpus += r.GetScalar().Value
			}
		}
	}
	if cpus != 3 {
		t.Errorf("role capped at 3 cpus was offered %v", cpus)
	}
	reset := `{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"capped"}]}}`
	if r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, reset); r.code != 200 {
		t.Fatalf("reset: %d %s", r.code, r.body)
	}
	if q := operator(t, c, `{"type":"GET_QUOTA"}`).GetGetQuota().Status.Configs; len(q) != 0 {
		t.Errorf("after the reset GET_QUOTA lists %+v", q)
	}
}

// jsonShape is a JSON value's structure: objects with their keys, lists
// with their elements' shapes, scalars as their types, except the values
// of keys that say what happened (state, source, reason, message, type).
func jsonShape(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = jsonShape(e, k)
		}
		return out
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, jsonShape(e, key))
		}
		return out
	case string:
		switch key {
		case "state", "source", "reason", "message", "type", "protocol":
			return x
		}
		return "<string>"
	default:
		return fmt.Sprintf("<%T>", x)
	}
}

// A task's process killed outside Mesos: the operator stream's TASK_UPDATED
// has the shape and words of the one a real Mesos 1.12.0 master sent for a
// shuffle service task killed with SIGKILL (../shared/fidelity).
func TestKilledTaskProcessIsReportedAsARealMasterDoes(t *testing.T) {
	lines, err := os.ReadFile(filepath.Join(fidelityDir, "real-mesos-1.12-operator-subscribe.jsonl"))
	if err != nil {
		t.Fatalf("the real master's operator stream: %v", err)
	}
	var real any
	for _, l := range strings.Split(string(lines), "\n") {
		if strings.Contains(l, `"TASK_UPDATED"`) {
			if err := json.Unmarshal([]byte(l), &real); err != nil {
				t.Fatal(err)
			}
		}
	}
	if real == nil {
		t.Fatal("no TASK_UPDATED in the real stream")
	}

	c := startCluster(t, fastConfig())
	resp := subscribeOperator(t, c)
	events := make(chan map[string]any, 100)
	go readRecordIO(resp, func(b []byte) {
		var ev map[string]any
		if json.Unmarshal(b, &ev) == nil {
			events <- ev
		}
	})
	s := subscribe(t, c.MasterURL(), fwInfo)
	defer s.close()
	s.launchOn(s.nextOffer(), "t1", "sleep 100", 1, 128)
	for s.nextUpdate("t1").Status.GetState() != mesos.TASK_RUNNING {
	}
	if err := c.KillTaskProcess("t1"); err != nil {
		t.Fatal(err)
	}
	u := s.nextUpdate("t1").Status
	if u.GetState() != mesos.TASK_FAILED || u.GetSource() != mesos.SOURCE_EXECUTOR || u.Reason != nil ||
		u.GetMessage() != "Command terminated with signal Killed" {
		t.Errorf("scheduler update: %s from %s, reason %v, %q", u.GetState(), u.GetSource(), u.Reason, u.GetMessage())
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev["type"] != "TASK_UPDATED" || jsonShape(ev, "").(map[string]any)["task_updated"].(map[string]any)["state"] != "TASK_FAILED" {
				continue
			}
			if got, want := jsonShape(ev, ""), jsonShape(real, ""); !reflect.DeepEqual(got, want) {
				t.Fatalf("TASK_UPDATED of a killed process:\n got %v\nwant %v", got, want)
			}
			return
		case <-deadline:
			t.Fatal("no TASK_UPDATED with TASK_FAILED on the operator stream")
		}
	}
}

// An agent whose connection drops stays listed, inactive, with its tasks
// running, and is offered to nobody, until it reregisters or its
// reregister timeout passes (then it is unreachable and its tasks lost).
func TestDisconnectedAgentStaysListedInactive(t *testing.T) {
	cfg := fastConfig()
	cfg.AgentReregisterTimeout = 400 * time.Millisecond
	c, s, o := oneRunningTask(t, cfg)
	if err := c.DisconnectAgent(o.agent); err != nil {
		t.Fatal(err)
	}
	agents := operator(t, c, `{"type":"GET_AGENTS"}`).GetAgents.Agents
	if len(agents) != 1 || agents[0].Active {
		t.Fatalf("agents after a disconnection: %+v", agents)
	}
	tasks := operator(t, c, `{"type":"GET_TASKS"}`).GetTasks.Tasks
	if len(tasks) != 1 || tasks[0].GetState() != mesos.TASK_RUNNING {
		t.Fatalf("tasks of a disconnected agent: %+v", tasks)
	}
	time.Sleep(10 * cfg.AllocationInterval)
	if fws := operator(t, c, `{"type":"GET_FRAMEWORKS"}`).GetFrameworks.Frameworks; len(fws) != 1 || len(fws[0].Offers) != 0 {
		t.Fatalf("offers of a disconnected agent: %+v", fws)
	}
	if err := c.ReconnectAgent(o.agent); err != nil {
		t.Fatal(err)
	}
	if agents := operator(t, c, `{"type":"GET_AGENTS"}`).GetAgents.Agents; len(agents) != 1 || !agents[0].Active {
		t.Fatalf("agents after reregistering: %+v", agents)
	}
	// Disconnected past the timeout: unreachable.
	if err := c.DisconnectAgent(o.agent); err != nil {
		t.Fatal(err)
	}
	if u := s.nextUpdate("t1").Status; u.GetState() != mesos.TASK_LOST || u.GetReason() != mesos.REASON_AGENT_REMOVED {
		t.Errorf("after the reregister timeout: %s %s", u.GetState(), u.GetReason())
	}
	if n := len(operator(t, c, `{"type":"GET_AGENTS"}`).GetAgents.Agents); n != 0 {
		t.Errorf("%d agents listed after the reregister timeout", n)
	}
}
