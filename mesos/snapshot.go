package mesos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master/calls"

	"github.com/sparkmesos/reconciler/internal/strs"
	"github.com/sparkmesos/reconciler/render"
)

// Snapshot is one GET_STATE in the project's own terms, so that callers do
// not depend on mesos-go.
type Snapshot struct {
	// The tasks are shared (a View hands the same ones to every snapshot
	// it makes until they change): read only.
	Tasks            []*Task
	CompletedTasks   []*Task
	UnreachableTasks []*Task
	Agents           []Agent
	// Capacity is the scalar resources of every agent the master lists,
	// active or not (what Mesos checks quota guarantees against).
	Capacity map[string]float64
}

// Task is a Mesos task.
type Task struct {
	ID          string
	FrameworkID string
	AgentID     string
	State       string // TASK_RUNNING, ...
	Labels      Labels
	// Reason and Message are those of the task's latest status
	// (REASON_AGENT_REMOVED, "Command exited with status 1").
	Reason, Message string
	// Started is when it was first reported running (the agent's clock).
	Started time.Time
	// CPUs and MemMiB are the resources it holds.
	CPUs, MemMiB float64
}

// Labels are a task's labels, in the order Mesos lists them: a short
// slice, not a map (a view holds one per task, of many thousands).
type Labels []Label

// Label is one key and its value ("" for a label without one).
type Label struct{ Key, Value string }

// Get is the value of key, "" when there is none; of repeated keys, the
// last.
func (l Labels) Get(key string) string {
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].Key == key {
			return l[i].Value
		}
	}
	return ""
}

// Agent is an active agent's capacity and attributes.
type Agent struct {
	ID       string
	Hostname string
	// Port is the agent's HTTP port (its /files API; Mesos' default 5051).
	Port       int
	CPUs       float64
	MemMiB     float64
	DiskMiB    float64
	GPUs       float64
	Ports      [][2]uint64 // the ports resource's ranges
	Attributes map[string]Attribute
	// UsedCPUs and UsedMemMiB are what its live tasks hold.
	UsedCPUs, UsedMemMiB float64
}

// Attribute is an agent attribute; Scalar is set for scalar attributes,
// Text for text ones, Ranges ("[a-b,...]") for ranges.
type Attribute struct {
	Text   string
	Scalar *float64
	Ranges string
}

// RegisteredFramework is a framework the master knows.
type RegisteredFramework struct {
	ID        string
	Name      string
	Principal string
	Active    bool
	Connected bool
	// Registered is when the master registered it (its clock).
	Registered time.Time
}

// Snapshot reads the whole cluster with one GET_STATE call. The answer is
// decoded straight into the few fields the reconciler uses (the request is
// still mesos-go's): a cluster of 10,000 drivers answers with tens of
// megabytes, and decoding all of it into mesos-go's types allocates ten
// times that.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	st := leanState{GetState: leanGetState{pool: &strs.Pool{}}}
	if err := c.call(ctx, calls.GetState(), &st); err != nil {
		return nil, fmt.Errorf("mesos GET_STATE: %w", err)
	}
	return st.GetState.snapshot(), nil
}

// snapshot is the state in the project's terms. An agent's use is what its
// live tasks hold (as the event stream's view counts it too).
func (gs *leanGetState) snapshot() *Snapshot {
	s := &Snapshot{
		Tasks:            gs.Tasks,
		CompletedTasks:   gs.CompletedTasks,
		UnreachableTasks: gs.UnreachableTasks,
	}
	used := map[string][2]float64{}
	for _, t := range s.Tasks {
		u := used[t.AgentID]
		used[t.AgentID] = [2]float64{u[0] + t.CPUs, u[1] + t.MemMiB}
	}
	s.Capacity = map[string]float64{}
	for _, a := range gs.Agents {
		ag := a.agent()
		for name, v := range map[string]float64{"cpus": ag.CPUs, "mem": ag.MemMiB, "disk": ag.DiskMiB, "gpus": ag.GPUs} {
			if v > 0 {
				s.Capacity[name] += v
			}
		}
		if a.Active {
			u := used[ag.ID]
			ag.UsedCPUs, ag.UsedMemMiB = u[0], u[1]
			s.Agents = append(s.Agents, ag)
		}
	}
	return s
}

// leanState is the part of the JSON GET_STATE response (master.proto's
// Response.GetState) that Snapshot keeps; the decoder skips the rest.
type leanState struct {
	GetState leanGetState `json:"get_state"`
}

// leanGetState is master.proto's Response.GetState, as GET_STATE answers
// it and the event stream's SUBSCRIBED carries it, kept in the project's
// terms: each task is converted as it is decoded, so that a
// big answer never exists twice, once as JSON-shaped values and once as
// Tasks.
type leanGetState struct {
	// pool holds the strings the tasks repeat (nil: each its own).
	pool                                    *strs.Pool
	Tasks, CompletedTasks, UnreachableTasks []*Task
	Agents                                  []leanAgent
}

type leanID struct {
	Value string `json:"value"`
}

type leanTask struct {
	TaskID      leanID `json:"task_id"`
	FrameworkID leanID `json:"framework_id"`
	AgentID     leanID `json:"agent_id"`
	State       string `json:"state"`
	Statuses    []struct {
		State     string  `json:"state"`
		Reason    string  `json:"reason"`
		Message   string  `json:"message"`
		Timestamp float64 `json:"timestamp"`
	} `json:"statuses"`
	Labels struct {
		Labels []struct {
			Key   string  `json:"key"`
			Value *string `json:"value"`
		} `json:"labels"`
	} `json:"labels"`
	Resources []leanValue `json:"resources"`
}

type leanValue struct {
	Name   string `json:"name"`
	Scalar *struct {
		Value float64 `json:"value"`
	} `json:"scalar"`
	Text *struct {
		Value string `json:"value"`
	} `json:"text"`
	Ranges *struct {
		Range []struct {
			Begin uint64 `json:"begin"`
			End   uint64 `json:"end"`
		} `json:"range"`
	} `json:"ranges"`
}

type leanAgent struct {
	Info struct {
		ID         leanID      `json:"id"`
		Hostname   string      `json:"hostname"`
		Port       int         `json:"port"`
		Attributes []leanValue `json:"attributes"`
	} `json:"agent_info"`
	Active bool        `json:"active"`
	Total  []leanValue `json:"total_resources"`
}

// UnmarshalJSON lets mesos-go's JSON codec decode into leanState.
func (s *leanState) UnmarshalJSON(b []byte) error {
	return s.unmarshalFrom(bytes.NewReader(b))
}

// Unmarshal (protobuf) is not supported: the client speaks JSON.
func (s *leanState) Unmarshal([]byte) error {
	return errors.New("GET_STATE: protobuf answers are not supported")
}

// repeatedLabels are the labels whose values many tasks share; the values
// of the others (an application's name, its spec's hash) are one
// application's, and a pool entry for each would cost more than the copy.
var repeatedLabels = map[string]bool{render.LabelOwner: true, render.LabelKind: true, render.LabelComponent: true, render.LabelSchedule: true}

// task is t in the project's terms. The strings tasks repeat (framework
// and agent ids, states, reasons and messages, label keys and the values
// of repeatedLabels) are pool's, held once and not once per task in a
// view of many thousands.
func (t leanTask) task(pool *strs.Pool) *Task {
	intern := pool.Intern
	task := &Task{ID: t.TaskID.Value, FrameworkID: intern(t.FrameworkID.Value), AgentID: intern(t.AgentID.Value),
		State: intern(t.State)}
	for _, st := range t.Statuses {
		if st.State == "TASK_RUNNING" && task.Started.IsZero() {
			task.Started = seconds(st.Timestamp)
		}
	}
	if n := len(t.Statuses); n > 0 {
		task.Reason, task.Message = intern(t.Statuses[n-1].Reason), intern(t.Statuses[n-1].Message)
	}
	if len(t.Labels.Labels) > 0 {
		task.Labels = make(Labels, 0, len(t.Labels.Labels))
	}
	for _, l := range t.Labels.Labels {
		key, value := intern(l.Key), ""
		if l.Value != nil {
			value = *l.Value
			if repeatedLabels[key] {
				value = intern(value)
			}
		}
		task.Labels = append(task.Labels, Label{key, value})
	}
	for _, r := range t.Resources {
		switch {
		case r.Scalar != nil && r.Name == "cpus":
			task.CPUs += r.Scalar.Value
		case r.Scalar != nil && r.Name == "mem":
			task.MemMiB += r.Scalar.Value
		}
	}
	return task
}

// seconds converts a Mesos status timestamp (seconds since the epoch).
func seconds(ts float64) time.Time {
	if ts <= 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ts*1e9)).UTC()
}

func (la leanAgent) agent() Agent {
	a := Agent{ID: la.Info.ID.Value, Hostname: la.Info.Hostname, Port: la.Info.Port, Attributes: map[string]Attribute{}}
	for _, r := range la.Total {
		switch {
		case r.Scalar != nil && r.Name == "cpus":
			a.CPUs += r.Scalar.Value
		case r.Scalar != nil && r.Name == "mem":
			a.MemMiB += r.Scalar.Value
		case r.Scalar != nil && r.Name == "disk":
			a.DiskMiB += r.Scalar.Value
		case r.Scalar != nil && r.Name == "gpus":
			a.GPUs += r.Scalar.Value
		case r.Ranges != nil && r.Name == "ports":
			for _, x := range r.Ranges.Range {
				a.Ports = append(a.Ports, [2]uint64{x.Begin, x.End})
			}
		}
	}
	for _, at := range la.Info.Attributes {
		switch {
		case at.Scalar != nil:
			v := at.Scalar.Value
			a.Attributes[at.Name] = Attribute{Scalar: &v}
		case at.Text != nil:
			a.Attributes[at.Name] = Attribute{Text: at.Text.Value}
		case at.Ranges != nil:
			var parts []string
			for _, x := range at.Ranges.Range {
				parts = append(parts, fmt.Sprintf("%d-%d", x.Begin, x.End))
			}
			a.Attributes[at.Name] = Attribute{Ranges: "[" + strings.Join(parts, ", ") + "]"}
		}
	}
	return a
}
