package mesos

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"

	"github.com/sparkmesos/reconciler/sim"
)

// Snapshot decodes GET_STATE into a few fields of its own; it must read the
// same tasks, labels, agents, attributes and frameworks as mesos-go's full
// decode of the same answer.
func TestSnapshotMatchesFullDecode(t *testing.T) {
	c := startSim(t, sim.Config{Agents: []sim.AgentConfig{
		{CPUs: 8, MemMiB: 16384, Attributes: map[string]string{"zone": "a", "rack": "3", "slots": "[1-4,7-9]"}},
		{CPUs: 4, MemMiB: 8192},
	}})
	d, err := c.StartDispatcher(sim.DispatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"action":"CreateSubmissionRequest","appResource":"https://r/a.jar","mainClass":"a.Main","appArgs":[],
	  "clientSparkVersion":"3.4.1","environmentVariables":{},
	  "sparkProperties":{"spark.app.name":"x","spark.master":"mesos://h:7077","spark.driver.cores":"1","spark.driver.memory":"512m",
	    "spark.mesos.driver.labels":"team:data,empty:","spark.executor.cores":"1","spark.cores.max":"2"}}`
	resp, err := http.Post(d.URL()+"/v1/submissions/create", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mc := client(t, Options{Master: c.MasterURL()})
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	var snap *Snapshot
	for {
		if snap, err = mc.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, x := range snap.Tasks {
			if x.State == "TASK_RUNNING" {
				running++
			}
		}
		if running == 3 { // the driver and two executors: nothing changes any more
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks: %+v", snap.Tasks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The same answer decoded whole into mesos-go's types.
	var whole master.Response
	if err := mc.call(ctx, calls.GetState(), &whole); err != nil {
		t.Fatal(err)
	}
	gs := whole.GetState
	full := struct {
		Tasks  []mesoslib.Task
		Agents []master.Response_GetAgents_Agent
	}{gs.GetTasks.Tasks, gs.GetAgents.Agents}
	snap, err = mc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var want []Task
	for _, x := range full.Tasks {
		var labels Labels
		for _, l := range x.GetLabels().GetLabels() {
			labels = append(labels, Label{l.Key, l.GetValue()})
		}
		task := Task{ID: x.TaskID.Value, FrameworkID: x.FrameworkID.Value, AgentID: x.AgentID.Value, State: x.State.String(), Labels: labels}
		for _, st := range x.Statuses {
			if st.GetState() == mesoslib.TASK_RUNNING && task.Started.IsZero() {
				task.Started = time.Unix(0, int64(st.GetTimestamp()*1e9)).UTC()
			}
		}
		if n := len(x.Statuses); n > 0 {
			st := x.Statuses[n-1]
			task.Message = st.GetMessage()
			if st.Reason != nil {
				task.Reason = st.Reason.String()
			}
		}
		for _, r := range x.Resources {
			switch r.Name {
			case "cpus":
				task.CPUs += r.GetScalar().GetValue()
			case "mem":
				task.MemMiB += r.GetScalar().GetValue()
			}
		}
		want = append(want, task)
	}
	// An agent's use is what its live tasks hold: in the sim that is its
	// allocated_resources too.
	for _, fa := range full.Agents {
		var cpus, mem float64
		for _, r := range fa.AllocatedResources {
			switch r.Name {
			case "cpus":
				cpus += r.GetScalar().GetValue()
			case "mem":
				mem += r.GetScalar().GetValue()
			}
		}
		for _, a := range snap.Agents {
			if a.ID == fa.AgentInfo.ID.Value && (!near(a.UsedCPUs, cpus) || !near(a.UsedMemMiB, mem)) {
				t.Errorf("agent %s uses %v cpus %v mem, its allocated_resources %v and %v", a.ID, a.UsedCPUs, a.UsedMemMiB, cpus, mem)
			}
		}
	}
	var tasks []Task
	for _, task := range snap.Tasks {
		tasks = append(tasks, *task)
	}
	if !reflect.DeepEqual(tasks, want) {
		t.Errorf("tasks:\n got %+v\nwant %+v", tasks, want)
	}
	var driver *Task
	for i := range snap.Tasks {
		if snap.Tasks[i].Labels.Get("team") == "data" {
			driver = snap.Tasks[i]
		}
	}
	if driver == nil || driver.Labels.Get("empty") != "" || len(driver.Labels) != 2 {
		t.Errorf("driver labels: %+v", driver)
	}

	if len(snap.Agents) != len(full.Agents) {
		t.Fatalf("%d agents, want %d", len(snap.Agents), len(full.Agents))
	}
	for i, a := range snap.Agents {
		fa := full.Agents[i]
		var cpus, mem float64
		var ports [][2]uint64
		for _, r := range fa.TotalResources {
			switch {
			case r.Name == "cpus":
				cpus += r.Scalar.Value
			case r.Name == "mem":
				mem += r.Scalar.Value
			case r.Name == "ports":
				for _, x := range r.Ranges.Range {
					ports = append(ports, [2]uint64{x.Begin, x.End})
				}
			}
		}
		if a.ID != fa.AgentInfo.ID.Value || a.Hostname != fa.AgentInfo.Hostname || a.CPUs != cpus || a.MemMiB != mem || !reflect.DeepEqual(a.Ports, ports) {
			t.Errorf("agent %d: %+v, want id %s cpus %v mem %v ports %v", i, a, fa.AgentInfo.ID.Value, cpus, mem, ports)
		}
		if len(a.Attributes) != len(fa.AgentInfo.Attributes) {
			t.Errorf("agent %d attributes %+v, want %d", i, a.Attributes, len(fa.AgentInfo.Attributes))
		}
	}
	got := snap.Agents[0].Attributes
	if got["zone"].Text != "a" || got["rack"].Scalar == nil || *got["rack"].Scalar != 3 || got["slots"].Ranges != "[1-4, 7-9]" {
		t.Errorf("attributes: %+v", got)
	}
}

// The streaming GET_STATE decoder skips what it does not keep, whatever its
// shape, accepts nulls, and refuses a truncated or malformed answer.
func TestLeanStateStreaming(t *testing.T) {
	good := `{"type":"GET_STATE","get_state":{
	  "get_executors":{"executors":[{"x":[1,[2,{"y":null}]]}]},
	  "get_frameworks":{"frameworks":[{"framework_info":{"id":{"value":"f1"},"name":"n","roles":["a"]},"active":true,"connected":false,"offers":[{"id":{"value":"o"}}]}],"completed_frameworks":null},
	  "get_tasks":{"tasks":[{"name":"t","task_id":{"value":"1"},"framework_id":{"value":"f1"},"agent_id":{"value":"a1"},"state":"TASK_RUNNING",
	     "labels":{"labels":[{"key":"k","value":"v"},{"key":"bare"}]},"statuses":[{"state":"TASK_RUNNING"}]}],
	     "completed_tasks":null,"unreachable_tasks":[]},
	  "get_agents":{"agents":[{"agent_info":{"id":{"value":"a1"},"hostname":"h","attributes":[{"name":"z","type":"TEXT","text":{"value":"a"}}]},"active":true,
	     "total_resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":5}]}}]}]}}}`
	var st leanState
	if err := st.unmarshalFrom(strings.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	gs := st.GetState
	if len(gs.Tasks) != 1 || gs.Tasks[0].State != "TASK_RUNNING" || len(gs.Tasks[0].Labels) != 2 ||
		len(gs.Agents) != 1 {
		t.Errorf("decoded %+v", gs)
	}
	if a := gs.Agents[0].agent(); a.CPUs != 2 || len(a.Ports) != 1 || a.Ports[0] != [2]uint64{1, 5} || a.Attributes["z"].Text != "a" {
		t.Errorf("agent %+v", a)
	}
	for _, bad := range []string{good[:len(good)/2], `{"get_state":{"get_tasks":{"tasks":{}}}}`, `[1]`, `{"get_state":{"get_tasks":{"tasks":[{"state":3}]}}}`} {
		var st leanState
		if err := st.unmarshalFrom(strings.NewReader(bad)); err == nil {
			t.Errorf("no error for %.60q", bad)
		}
	}
}

// A real Mesos 1.12.0 master's GET_STATE (testdata: the get_state of its
// operator SUBSCRIBED event, ../shared/fidelity): agents that advertise
// capabilities newer than mesos-go's protos, fields mesos-go lacks
// (agent_info.checkpoint, offer_constraints), deprecated roles on
// resources. Snapshot reads it whole, through the client as a user runs it.
func TestSnapshotDecodesARealMesos112State(t *testing.T) {
	body, err := os.ReadFile("testdata/mesos-1.12-get-state.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	st, err := client(t, Options{Master: srv.URL}).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Agents) != 2 {
		t.Fatalf("%d agents", len(st.Agents))
	}
	for _, a := range st.Agents {
		if a.CPUs != 4 || a.MemMiB != 4096 || a.DiskMiB != 10000 || len(a.Ports) != 1 || a.Ports[0] != [2]uint64{31000, 32000} ||
			a.Attributes["os"].Text != "ubuntu" || a.Attributes["zone"].Text == "" {
			t.Errorf("agent %+v", a)
		}
	}
	if len(st.Tasks) != 1 || st.Tasks[0].State != "TASK_RUNNING" || st.Tasks[0].Labels.Get("sparkmesos.io/kind") != "ShuffleService" ||
		st.Tasks[0].FrameworkID != "1a8ec8e5-0efe-46b3-a2f8-dcb5e35f7216-0007" {
		t.Errorf("tasks %+v", st.Tasks)
	}
	if len(st.CompletedTasks) != 2 || st.CompletedTasks[0].State != "TASK_FAILED" {
		t.Errorf("completed tasks %+v", st.CompletedTasks)
	}
}

// An agent whose connection dropped is listed by the master, inactive:
// Snapshot leaves it out of the agents anything is placed on, and keeps
// its tasks.
func TestSnapshotLeavesOutInactiveAgents(t *testing.T) {
	c := startSim(t, sim.Config{NumAgents: 2, AgentReregisterTimeout: time.Hour})
	ids := c.AgentIDs()
	if err := c.DisconnectAgent(ids[0]); err != nil {
		t.Fatal(err)
	}
	st, err := client(t, Options{Master: c.MasterURL()}).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Agents) != 1 || st.Agents[0].ID != ids[1] {
		t.Fatalf("agents %+v, want only %s", st.Agents, ids[1])
	}
}
