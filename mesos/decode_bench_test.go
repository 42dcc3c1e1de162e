package mesos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	mesosproto "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// syntheticState is a GET_STATE answer of n running drivers, each with an
// executor, on 80 agents, as mesos-go's types hold it.
func syntheticState(n int) *master.Response {
	gs := &master.Response_GetState{GetTasks: &master.Response_GetTasks{}, GetAgents: &master.Response_GetAgents{}, GetFrameworks: &master.Response_GetFrameworks{}}
	scalar := func(name string, v float64) mesosproto.Resource {
		return mesosproto.Resource{Name: name, Type: mesosproto.SCALAR.Enum(), Scalar: &mesosproto.Value_Scalar{Value: v}}
	}
	for i := 0; i < 80; i++ {
		id := fmt.Sprintf("S%d", i)
		gs.GetAgents.Agents = append(gs.GetAgents.Agents, master.Response_GetAgents_Agent{Active: true,
			AgentInfo:      mesosproto.AgentInfo{ID: &mesosproto.AgentID{Value: id}, Hostname: fmt.Sprintf("10.0.0.%d", i)},
			TotalResources: []mesosproto.Resource{scalar("cpus", 256), scalar("mem", 1<<20)}})
	}
	ts := 1796116958.3
	for i := 0; i < 2*n; i++ {
		running, starting := mesosproto.TASK_RUNNING, mesosproto.TASK_STARTING
		id := fmt.Sprintf("driver-20261201120000-%05d", i/2)
		fw := "dispatcher-0000"
		if i%2 == 1 {
			id, fw = "0", "dispatcher-0000-"+id
		}
		v := func(s string) *string { return &s }
		gs.GetTasks.Tasks = append(gs.GetTasks.Tasks, mesosproto.Task{Name: "Driver for app", TaskID: mesosproto.TaskID{Value: id},
			FrameworkID: mesosproto.FrameworkID{Value: fw}, AgentID: mesosproto.AgentID{Value: fmt.Sprintf("S%d", i%80)}, State: &running,
			Resources: []mesosproto.Resource{scalar("cpus", 1), scalar("mem", 1408)},
			Statuses: []mesosproto.TaskStatus{{TaskID: mesosproto.TaskID{Value: id}, State: &starting, Timestamp: &ts},
				{TaskID: mesosproto.TaskID{Value: id}, State: &running, Timestamp: &ts}},
			Labels: &mesosproto.Labels{Labels: []mesosproto.Label{{Key: "sparkmesos.io/owner", Value: v("bench")}, {Key: "sparkmesos.io/kind", Value: v("SparkApplication")},
				{Key: "sparkmesos.io/name", Value: v(fmt.Sprintf("app-%05d", i/2))}, {Key: "sparkmesos.io/spec-hash", Value: v("9e7eb1471260a02aec77")},
				{Key: "sparkmesos.io/component", Value: v("driver")}}}})
	}
	return &master.Response{Type: master.Response_GET_STATE, GetState: gs}
}

// protobufSnapshot decodes a protobuf GET_STATE with mesos-go's types into
// a Snapshot: the alternative to the lean JSON decoder, measured beside it.
func protobufSnapshot(b []byte) (*Snapshot, error) {
	var r master.Response
	if err := r.Unmarshal(b); err != nil {
		return nil, err
	}
	s := &Snapshot{}
	for _, t := range r.GetGetState().GetGetTasks().GetTasks() {
		task := Task{ID: t.TaskID.Value, FrameworkID: t.FrameworkID.Value, AgentID: t.AgentID.Value, State: t.GetState().String()}
		for _, l := range t.GetLabels().GetLabels() {
			task.Labels = append(task.Labels, Label{l.Key, l.GetValue()})
		}
		for _, st := range t.Statuses {
			if st.GetState() == mesosproto.TASK_RUNNING && task.Started.IsZero() {
				task.Started = seconds(st.GetTimestamp())
			}
		}
		for _, r := range t.Resources {
			switch r.Name {
			case "cpus":
				task.CPUs += r.GetScalar().GetValue()
			case "mem":
				task.MemMiB += r.GetScalar().GetValue()
			}
		}
		s.Tasks = append(s.Tasks, &task)
	}
	for _, a := range r.GetGetState().GetGetAgents().GetAgents() {
		s.Agents = append(s.Agents, Agent{ID: a.AgentInfo.GetID().GetValue(), Hostname: a.AgentInfo.Hostname})
	}
	return s, nil
}

// BenchmarkDecodeState10k decodes one GET_STATE of 10,000 running drivers
// and their executors: the lean streaming JSON decoder the client uses,
// and mesos-go's protobuf decoding (the smaller answer on the wire).
func BenchmarkDecodeState10k(b *testing.B) {
	resp := syntheticState(10_000)
	js, err := json.Marshal(resp)
	if err != nil {
		b.Fatal(err)
	}
	pb, err := resp.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json-lean", func(b *testing.B) {
		b.ReportAllocs()
		defer b.ReportMetric(float64(len(js))/1e6, "wire-MB")
		for b.Loop() {
			var st leanState
			if err := st.unmarshalFrom(bytes.NewReader(js)); err != nil {
				b.Fatal(err)
			}
			if s := st.GetState.snapshot(); len(s.Tasks) != 20_000 {
				b.Fatalf("%d tasks", len(s.Tasks))
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.ReportAllocs()
		defer b.ReportMetric(float64(len(pb))/1e6, "wire-MB")
		for b.Loop() {
			s, err := protobufSnapshot(pb)
			if err != nil || len(s.Tasks) != 20_000 {
				b.Fatalf("%v, %d tasks", err, len(s.Tasks))
			}
		}
	})
}
