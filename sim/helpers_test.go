package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func fastConfig() Config {
	return Config{Seed: 42, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond, HeartbeatInterval: 200 * time.Millisecond}
}

func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	c := New(cfg)
	if err := c.Start(ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

func startWithDispatcher(t *testing.T, cfg Config, dc DispatcherConfig) (*Cluster, *Dispatcher) {
	t.Helper()
	c := startCluster(t, cfg)
	d, err := c.StartDispatcher(dc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.mu.Lock()
		d.closeLocked()
		c.mu.Unlock()
	})
	return c, d
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string, header map[string]string, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

var jsonHeaders = map[string]string{"Content-Type": "application/json", "Accept": "application/json"}

// operator sends an operator call and decodes the response.
func operator(t *testing.T, c *Cluster, call string) *master.Response {
	t.Helper()
	r := do(t, "POST", c.MasterURL()+"/api/v1", jsonHeaders, call)
	if r.code != 200 {
		t.Fatalf("%s: %d %s", call, r.code, r.body)
	}
	var resp master.Response
	if err := json.Unmarshal(knownEnums(r.body), &resp); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return &resp
}

// knownEnums makes a master's JSON decodable by mesos-go v0.0.11, whose
// protos lack the master capability QUOTA_V2 that a 1.12 master (and so
// the simulator) advertises: the test client reads it as UNKNOWN. (The
// product speaks protobuf for this reason.)
func knownEnums(b []byte) []byte {
	return bytes.ReplaceAll(b, []byte(`{"type":"QUOTA_V2"}`), []byte(`{"type":"UNKNOWN"}`))
}

// schedClient is a scheduler API client written from the protocol
// description, independent of mesos-go's: it reads RecordIO by hand.
type schedClient struct {
	t        *testing.T
	base     string
	streamID string
	fwID     string
	events   chan *scheduler.Event
	resp     *http.Response
}

func subscribe(t *testing.T, base, frameworkInfo string) *schedClient {
	t.Helper()
	s := &schedClient{t: t, base: base, events: make(chan *scheduler.Event, 1000)}
	s.open(frameworkInfo, "")
	return s
}

func (s *schedClient) open(frameworkInfo, fwID string) *scheduler.Event {
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":` + frameworkInfo + `}}`
	if fwID != "" {
		body = `{"type":"SUBSCRIBE","framework_id":{"value":"` + fwID + `"},"subscribe":{"framework_info":` + frameworkInfo + `}}`
	}
	req, _ := http.NewRequest("POST", s.base+"/api/v1/scheduler", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("SUBSCRIBE: %d %s", resp.StatusCode, b)
	}
	s.resp, s.streamID = resp, resp.Header.Get("Mesos-Stream-Id")
	s.events = make(chan *scheduler.Event, 1000)
	events := s.events
	go func() {
		defer close(events)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			n, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				return
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			var ev scheduler.Event
			if err := json.Unmarshal(knownEnums(buf), &ev); err != nil {
				return
			}
			events <- &ev
		}
	}()
	ev := s.next(scheduler.Event_SUBSCRIBED, scheduler.Event_ERROR)
	if ev.Type == scheduler.Event_SUBSCRIBED {
		s.fwID = ev.Subscribed.FrameworkID.Value
	}
	return ev
}

// next returns the next event of one of the types, skipping others.
func (s *schedClient) next(types ...scheduler.Event_Type) *scheduler.Event {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatalf("stream ended waiting for %v", types)
			}
			for _, ty := range types {
				if ev.Type == ty {
					return ev
				}
			}
		case <-deadline:
			s.t.Fatalf("no %v event within 5s", types)
		}
	}
}

// ended reports whether the stream ends within d (only heartbeats before).
func (s *schedClient) ended(d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return true
			}
			if ev.Type != scheduler.Event_HEARTBEAT && ev.Type != scheduler.Event_OFFERS {
				s.t.Logf("event before the end: %s", ev.Type)
			}
		case <-deadline:
			return false
		}
	}
}

func (s *schedClient) close() { s.resp.Body.Close() }

// call sends a non-subscribe call with the stream id and framework id.
func (s *schedClient) call(body string) reply {
	s.t.Helper()
	return do(s.t, "POST", s.base+"/api/v1/scheduler", map[string]string{"Content-Type": "application/json", "Mesos-Stream-Id": s.streamID}, body)
}

func (s *schedClient) mustCall(format string, args ...any) {
	s.t.Helper()
	body := fmt.Sprintf(format, args...)
	if r := s.call(body); r.code != http.StatusAccepted {
		s.t.Fatalf("%s: %d %s", body, r.code, r.body)
	}
}

const fwInfo = `{"user":"root","name":"test-framework","roles":["*"],"capabilities":[{"type":"MULTI_ROLE"}],"failover_timeout":60}`

// launchOn accepts an offer launching one command task.
func (s *schedClient) launchOn(offer *mesosOffer, taskID, cmd string, cpus, mem float64) {
	s.t.Helper()
	s.mustCall(`{"framework_id":{"value":%q},"type":"ACCEPT","accept":{"offer_ids":[{"value":%q}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[
	{"name":%q,"task_id":{"value":%q},"agent_id":{"value":%q},
	 "resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":%v},"allocation_info":{"role":"*"}},{"name":"mem","type":"SCALAR","scalar":{"value":%v},"allocation_info":{"role":"*"}}],
	 "command":{"shell":true,"value":%q}}]}}],"filters":{"refuse_seconds":1}}}`,
		s.fwID, offer.id, taskID, taskID, offer.agent, cpus, mem, cmd)
}

type mesosOffer struct{ id, agent, hostname string }

func (s *schedClient) nextOffer() *mesosOffer {
	s.t.Helper()
	ev := s.next(scheduler.Event_OFFERS)
	o := ev.Offers.Offers[0]
	return &mesosOffer{id: o.ID.Value, agent: o.AgentID.Value, hostname: o.Hostname}
}

// nextUpdate returns the next status update for a task.
func (s *schedClient) nextUpdate(taskID string) *scheduler.Event_Update {
	s.t.Helper()
	for {
		ev := s.next(scheduler.Event_UPDATE)
		if ev.Update.Status.TaskID.Value == taskID {
			return ev.Update
		}
	}
}

func (s *schedClient) ack(u *scheduler.Event_Update) {
	s.t.Helper()
	uuid, _ := json.Marshal(u.Status.UUID)
	s.mustCall(`{"framework_id":{"value":%q},"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":%q},"task_id":{"value":%q},"uuid":%s}}`,
		s.fwID, u.Status.AgentID.Value, u.Status.TaskID.Value, uuid)
}

// submit POSTs a CreateSubmissionRequest with the given properties.
func submit(t *testing.T, d *Dispatcher, props map[string]string, args ...string) string {
	t.Helper()
	if args == nil {
		args = []string{}
	}
	body, _ := json.Marshal(map[string]any{"action": "CreateSubmissionRequest", "appResource": "https://repo/app.jar", "mainClass": "a.Main",
		"appArgs": args, "clientSparkVersion": "3.4.1", "environmentVariables": map[string]string{}, "sparkProperties": props})
	r := do(t, "POST", d.URL()+"/v1/submissions/create", map[string]string{"Content-Type": "application/json"}, string(body))
	var resp map[string]any
	if err := json.Unmarshal(r.body, &resp); err != nil || r.code != 200 || resp["success"] != true {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	return resp["submissionId"].(string)
}

func status(t *testing.T, d *Dispatcher, id string) map[string]any {
	t.Helper()
	r := do(t, "GET", d.URL()+"/v1/submissions/status/"+id, nil, "")
	var resp map[string]any
	if err := json.Unmarshal(r.body, &resp); err != nil {
		t.Fatalf("status: %d %s", r.code, r.body)
	}
	return resp
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func driverState(t *testing.T, d *Dispatcher, id string) string {
	s, _ := status(t, d, id)["driverState"].(string)
	return s
}

var _ = bytes.NewReader
