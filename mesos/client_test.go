package mesos

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/sparkmesos/reconciler/sim"
	"github.com/sparkmesos/reconciler/store/zk/zktest"
)

func startSim(t *testing.T, cfg sim.Config) *sim.Cluster {
	t.Helper()
	cfg.AllocationInterval = 20 * time.Millisecond
	c := sim.New(cfg)
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

func client(t *testing.T, opts Options) *Client {
	t.Helper()
	if opts.Backoff == 0 {
		opts.Backoff = 10 * time.Millisecond
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStateSendsExactlyOneGetState checks the request sim received: one
// POST /api/v1 with {"type":"GET_STATE"} and exact JSON media types.
func TestStateSendsExactlyOneGetState(t *testing.T) {
	c := startSim(t, sim.Config{NumAgents: 2})
	c.ResetRequests()
	st, err := client(t, Options{Master: "mesos://" + strings.TrimPrefix(c.MasterURL(), "http://")}).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Agents) != 2 {
		t.Fatalf("%d agents", len(st.Agents))
	}
	reqs := c.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/api/v1" || string(r.Body) != `{"type":"GET_STATE"}` ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
		t.Fatalf("request %s %s %q Content-Type %q Accept %q", r.Method, r.Path, r.Body, r.Header.Get("Content-Type"), r.Header.Get("Accept"))
	}
}

func TestBasicAuthIsSent(t *testing.T) {
	c := startSim(t, sim.Config{Principal: "ops", Secret: "s3cret"})
	if _, err := client(t, Options{Master: c.MasterURL()}).Snapshot(context.Background()); err == nil {
		t.Fatal("no error without credentials")
	}
	c.ResetRequests()
	if _, err := client(t, Options{Master: c.MasterURL(), Principal: "ops", Secret: "s3cret"}).Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:s3cret"))
	if got := c.Requests()[0].Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization %q", got)
	}
}

// TestFollowsLeaderWithCredentials: a standby answers 307; the client finds
// the leader through /master/redirect and re-sends, credentials included.
func TestFollowsLeaderWithCredentials(t *testing.T) {
	c := startSim(t, sim.Config{Masters: 2, Principal: "ops", Secret: "s3cret"})
	standby := c.MasterURLs()[1]
	cl := client(t, Options{Master: standby, Principal: "ops", Secret: "s3cret"})
	if _, err := cl.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, _ := cl.Leader(context.Background()); l != c.MasterURL() {
		t.Fatalf("leader %s, want %s", l, c.MasterURL())
	}
	c.FailOver()
	if _, err := cl.Snapshot(context.Background()); err != nil {
		t.Fatalf("after a failover: %v", err)
	}
	if l, _ := cl.Leader(context.Background()); l != c.MasterURL() {
		t.Fatalf("after a failover the client uses %s, the leader is %s", l, c.MasterURL())
	}
	for _, r := range c.Requests() {
		if r.Path == "/api/v1" && r.Header.Get("Authorization") == "" {
			t.Fatal("a call went without credentials")
		}
	}
}

func TestRetriesTransientFailuresOnly(t *testing.T) {
	c := startSim(t, sim.Config{})
	cl := client(t, Options{Master: c.MasterURL(), Retries: 3})
	c.AddFault(sim.Fault{PathPrefix: "/api/v1", Status: 503, Count: 2})
	c.ResetRequests()
	if _, err := cl.Snapshot(context.Background()); err != nil {
		t.Fatalf("503 twice then success: %v", err)
	}
	if n := len(c.Requests()); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	c.AddFault(sim.Fault{PathPrefix: "/api/v1", Status: 400, Count: 5})
	c.ResetRequests()
	if _, err := cl.Snapshot(context.Background()); err == nil {
		t.Fatal("a 400 succeeded")
	}
	if n := len(c.Requests()); n != 1 {
		t.Fatalf("a 400 was retried: %d requests", n)
	}
	c.ClearFaults()
	c.AddFault(sim.Fault{PathPrefix: "/api/v1", Drop: true, Count: 1})
	if _, err := cl.Snapshot(context.Background()); err != nil {
		t.Fatalf("a dropped connection then success: %v", err)
	}
}

func TestZooKeeperDetection(t *testing.T) {
	zkc := zktest.Start(t, 1)
	c := startSim(t, sim.Config{Masters: 2})
	if err := c.RegisterInZooKeeper("zk://" + zkc.Addrs()[0] + "/mesos"); err != nil {
		t.Fatal(err)
	}
	cl := client(t, Options{Master: "mesos://zk://" + zkc.Addrs()[0] + "/mesos"})
	if _, err := cl.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, _ := cl.Leader(context.Background()); l != c.MasterURL() {
		t.Fatalf("detected %s, leader %s", l, c.MasterURL())
	}
	c.FailOver()
	if _, err := cl.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, _ := cl.Leader(context.Background()); l != c.MasterURL() {
		t.Fatalf("after a failover detected %s, leader %s", l, c.MasterURL())
	}
}

func TestMasterURLs(t *testing.T) {
	for _, bad := range []string{"host:5050", "zk:/x", "ftp://x"} {
		if _, err := NewDetector(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	got, err := masterBaseURL([]byte(`{"ip":16842879,"port":5050}`))
	if err != nil || got != "http://127.0.1.1:5050" {
		t.Fatalf("legacy ip decoding: %s %v", got, err)
	}
}

func TestWeights(t *testing.T) {
	c := startSim(t, sim.Config{NumAgents: 1})
	mc := client(t, Options{Master: c.MasterURL()})
	ctx := context.Background()
	if err := mc.UpdateWeights(ctx, map[string]float64{"etl": 3, "adhoc": 0.5}); err != nil {
		t.Fatal(err)
	}
	got, err := mc.Weights(ctx)
	if err != nil || len(got) != 2 || got["etl"] != 3 || got["adhoc"] != 0.5 {
		t.Fatalf("weights %v, %v", got, err)
	}
	// Sent as protobuf (answers are decoded from protobuf, see httpClient).
	var sent []master.Call
	for _, r := range c.Requests() {
		var call master.Call
		if r.Header.Get("Content-Type") != "application/x-protobuf" || call.Unmarshal(r.Body) != nil {
			t.Fatalf("request %s %q with Content-Type %q", r.Path, r.Body, r.Header.Get("Content-Type"))
		}
		if call.Type == master.Call_UPDATE_WEIGHTS {
			sent = append(sent, call)
		}
	}
	if len(sent) != 1 {
		t.Fatalf("%d UPDATE_WEIGHTS calls", len(sent))
	}
	var roles []string
	for _, wi := range sent[0].GetUpdateWeights().GetWeightInfos() {
		roles = append(roles, fmt.Sprintf("%s=%v", wi.GetRole(), wi.Weight))
	}
	if strings.Join(roles, ",") != "adhoc=0.5,etl=3" {
		t.Errorf("sent weights %v", roles)
	}
	if err := mc.UpdateWeights(ctx, map[string]float64{"bad": -1}); err == nil {
		t.Error("a negative weight was accepted")
	}
}

func TestQuotas(t *testing.T) {
	c := startSim(t, sim.Config{NumAgents: 1})
	mc := client(t, Options{Master: c.MasterURL()})
	ctx := context.Background()
	want := RoleQuota{Guarantees: map[string]float64{"cpus": 2}, Limits: map[string]float64{"cpus": 8, "mem": 16384}}
	if err := mc.UpdateQuota(ctx, "etl", want, false); err != nil {
		t.Fatal(err)
	}
	got, err := mc.Quotas(ctx)
	if err != nil || got["etl"].Limits["cpus"] != 8 || got["etl"].Limits["mem"] != 16384 || got["etl"].Guarantees["cpus"] != 2 {
		t.Fatalf("quotas %+v, %v", got, err)
	}
	if err := mc.UpdateQuota(ctx, "etl", RoleQuota{}, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := mc.Quotas(ctx); len(got) != 0 {
		t.Errorf("after a reset: %+v", got)
	}
	if err := mc.UpdateQuota(ctx, "etl", RoleQuota{Guarantees: map[string]float64{"cpus": 9}, Limits: map[string]float64{"cpus": 8}}, false); err == nil {
		t.Error("a guarantee above its limit was accepted")
	}
}

// Mesos refuses guarantees beyond the cluster's capacity unless forced,
// with its own message; force passes its flag.
func TestQuotaGuaranteesBeyondCapacity(t *testing.T) {
	c := startSim(t, sim.Config{Agents: []sim.AgentConfig{{CPUs: 4, MemMiB: 8192, DiskMiB: 1000}}})
	mc := client(t, Options{Master: c.MasterURL()})
	ctx := context.Background()
	q := RoleQuota{Guarantees: map[string]float64{"cpus": 6, "mem": 1024}}
	c.ResetRequests()
	err := mc.UpdateQuota(ctx, "etl", q, false)
	want := "Invalid QuotaConfig: total quota guarantees 'cpus:6; mem:1024' exceed cluster capacity 'cpus:4; disk:1000; mem:8192' (use 'force' flag to bypass this check)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want the master's %q", err, want)
	}
	if n := len(c.Requests()); n != 1 {
		t.Errorf("%d requests: a refusal is not retried", n)
	}
	if err := mc.UpdateQuota(ctx, "etl", q, true); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if got, _ := mc.Quotas(ctx); got["etl"].Guarantees["cpus"] != 6 {
		t.Errorf("quotas after a forced update: %+v", got)
	}
}
