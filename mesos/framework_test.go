package mesos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/sparkmesos/reconciler/sim"
)

// idleScheduler runs nothing.
type idleScheduler struct{}

func (idleScheduler) Offers([]Offer) map[string][]Launch { return nil }
func (idleScheduler) Update(TaskStatus)                  {}
func (idleScheduler) Wants() bool                        { return false }
func (idleScheduler) Known() []TaskRef                   { return nil }
func (idleScheduler) Kills() []TaskRef                   { return nil }
func (idleScheduler) Revive() bool                       { return false }

// realSubscribedJSON is the SUBSCRIBED event of a Mesos 1.12.0 master as
// its JSON codec writes it (ids from a real run): the master advertises
// capabilities newer than mesos-go v0.0.11's protos.
const realSubscribedJSON = `{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"1a8ec8e5-0efe-46b3-a2f8-dcb5e35f7216-0007"},` +
	`"heartbeat_interval_seconds":15.0,"master_info":{"id":"1a8ec8e5-0efe-46b3-a2f8-dcb5e35f7216","ip":16777343,"port":15050,` +
	`"pid":"master@127.0.0.1:15050","hostname":"127.0.0.1","version":"1.12.0",` +
	`"address":{"hostname":"127.0.0.1","ip":"127.0.0.1","port":15050},` +
	`"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{"type":"QUOTA_V2"}]}}}`

// realSubscribedProto is the same event as the master's protobuf codec
// writes it: QUOTA_V2 is enum value 3, which mesos-go has no name for, and
// a field number mesos-go does not know stands for what later masters add.
func realSubscribedProto(t *testing.T) []byte {
	t.Helper()
	hb, port, host, addr, pid, version := 15.0, uint32(15050), "127.0.0.1", "127.0.0.1", "master@127.0.0.1:15050", "1.12.0"
	ev := scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID:              &mesoslib.FrameworkID{Value: "1a8ec8e5-0efe-46b3-a2f8-dcb5e35f7216-0007"},
		HeartbeatIntervalSeconds: &hb,
		MasterInfo: &mesoslib.MasterInfo{ID: "1a8ec8e5-0efe-46b3-a2f8-dcb5e35f7216", IP: 16777343, Port: &port,
			PID: &pid, Hostname: &host, Version: &version, Address: &mesoslib.Address{Hostname: &host, IP: &addr, Port: 15050},
			Capabilities: []mesoslib.MasterInfo_Capability{{Type: 1}, {Type: 2}, {Type: 3}}},
	}}
	b, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Field 100, length-delimited: unknown to every mesos-go message.
	return append(b, 0xa2, 0x06, 0x03, 'n', 'e', 'w')
}

func TestMesosGoJSONRefusesARealSubscribedEvent(t *testing.T) {
	// Why the framework speaks protobuf: mesos-go's JSON decoder fails on
	// the enum value a 1.12 master sends, so the framework would never
	// learn the id of the framework the master just registered.
	var ev scheduler.Event
	if err := json.Unmarshal([]byte(realSubscribedJSON), &ev); err == nil {
		t.Fatal("mesos-go decoded QUOTA_V2 from JSON: the framework could use the JSON codec")
	}
	var out scheduler.Event
	if err := out.Unmarshal(realSubscribedProto(t)); err != nil {
		t.Fatalf("protobuf: %v", err)
	}
	caps := out.GetSubscribed().GetMasterInfo().GetCapabilities()
	if out.GetSubscribed().GetFrameworkID().GetValue() != "1a8ec8e5-0efe-46b3-a2f8-dcb5e35f7216-0007" ||
		len(caps) != 3 || caps[2].Type != 3 || out.GetSubscribed().GetHeartbeatIntervalSeconds() != 15 {
		t.Fatalf("decoded %+v", out.GetSubscribed())
	}
}

// fakeScheduler answers the scheduler API as a 1.12 master: SUBSCRIBE
// streams realSubscribedProto as RecordIO and keeps the stream open; other
// calls are accepted.
type fakeScheduler struct {
	t          *testing.T
	event      []byte
	subscribes atomic.Int64
}

func (f *fakeScheduler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var call scheduler.Call
	if r.Header.Get("Content-Type") != "application/x-protobuf" || call.Unmarshal(body) != nil {
		http.Error(w, "Failed to parse body into Call protobuf", http.StatusBadRequest)
		return
	}
	if call.Type != scheduler.Call_SUBSCRIBE {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	f.subscribes.Add(1)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Mesos-Stream-Id", "stream-1")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "%d\n", len(f.event))
	_, _ = w.Write(f.event)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestFrameworkSubscribesOnceToAMesos112Master(t *testing.T) {
	fake := &fakeScheduler{t: t, event: realSubscribedProto(t)}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	saved := make(chan string, 4)
	fw := NewFramework(client(t, Options{Master: srv.URL}), idleScheduler{}, FrameworkOptions{Name: "spark-reconciler", Role: "*",
		FailoverTimeout: time.Hour, SaveID: func(id string) error { saved <- id; return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = fw.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case id := <-saved:
		if id != "1a8ec8e5-0efe-46b3-a2f8-dcb5e35f7216-0007" {
			t.Fatalf("saved framework id %q", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no framework id after %d SUBSCRIBE(s)", fake.subscribes.Load())
	}
	time.Sleep(700 * time.Millisecond) // longer than the first resubscribe backoff
	if n := fake.subscribes.Load(); n != 1 {
		t.Fatalf("%d SUBSCRIBE calls, want 1", n)
	}
}

// lossyProxy forwards to a master, but the first SUBSCRIBE's answer
// reaches the framework as 200 with a record it cannot decode: the master
// registered a framework whose id the framework never read.
type lossyProxy struct {
	proxy   *httputil.ReverseProxy
	mu      sync.Mutex
	mangled bool
}

func newLossyProxy(t *testing.T, master string) *httptest.Server {
	u, err := url.Parse(master)
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{proxy: httputil.NewSingleHostReverseProxy(u)}
	p.proxy.FlushInterval = -1
	p.proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/api/v1/scheduler" || r.StatusCode != http.StatusOK {
			return nil
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.mangled {
			return nil
		}
		p.mangled = true
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader([]byte("3\nabc")))
		r.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(p.proxy)
	t.Cleanup(srv.Close)
	return srv
}

func TestFrameworkNeverRegistersASecondFrameworkAfterALostSubscribed(t *testing.T) {
	c := startSim(t, sim.Config{NumAgents: 1})
	proxy := newLossyProxy(t, c.MasterURL())
	saved := make(chan string, 4)
	fw := NewFramework(client(t, Options{Master: proxy.URL}), idleScheduler{}, FrameworkOptions{Name: "fw-lossy", Role: "*",
		FailoverTimeout: time.Hour, SaveID: func(id string) error { saved <- id; return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = fw.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var id string
	select {
	case id = <-saved:
	case <-time.After(15 * time.Second):
		t.Fatal("the framework never subscribed")
	}
	fws, err := client(t, Options{Master: c.MasterURL()}).Frameworks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, f := range fws {
		if f.Name == "fw-lossy" {
			ours = append(ours, f.ID+" connected="+strconv.FormatBool(f.Connected))
		}
	}
	if len(ours) != 1 || ours[0] != id+" connected=true" {
		t.Fatalf("frameworks named fw-lossy: %v; saved id %s", ours, id)
	}
	var subscribes []string
	for _, r := range c.Requests() {
		var call scheduler.Call
		if r.Path == "/api/v1/scheduler" && call.Unmarshal(r.Body) == nil && call.Type == scheduler.Call_SUBSCRIBE {
			subscribes = append(subscribes, call.GetFrameworkID().GetValue())
		}
	}
	if len(subscribes) != 2 || subscribes[0] != "" || subscribes[1] != id {
		t.Fatalf("SUBSCRIBE calls by framework id: %q, want a new one then %s", subscribes, id)
	}
}
