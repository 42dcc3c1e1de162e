package mesos

import (
	"context"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
)

// Snapshot is one GET_STATE in the project's own terms, so that callers do
// not depend on mesos-go.
type Snapshot struct {
	Tasks            []Task
	CompletedTasks   []Task
	UnreachableTasks []Task
	Agents           []Agent
	Frameworks       []Framework
}

// Task is a Mesos task.
type Task struct {
	ID          string
	Name        string
	FrameworkID string
	AgentID     string
	State       string // TASK_RUNNING, ...
	Labels      map[string]string
}

// Agent is an active agent's capacity and attributes.
type Agent struct {
	ID         string
	Hostname   string
	CPUs       float64
	MemMiB     float64
	DiskMiB    float64
	GPUs       float64
	Attributes map[string]Attribute
}

// Attribute is an agent attribute; Scalar is set for scalar attributes,
// Text for text ones, Ranges ("[a-b,...]") for ranges.
type Attribute struct {
	Text   string
	Scalar *float64
	Ranges string
}

// Framework is a registered framework.
type Framework struct {
	ID        string
	Name      string
	Active    bool
	Connected bool
}

// Snapshot reads the whole cluster with one GET_STATE call.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	st, err := c.State(ctx)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{}
	for _, t := range st.Tasks {
		s.Tasks = append(s.Tasks, taskOf(t))
	}
	for _, t := range st.CompletedTasks {
		s.CompletedTasks = append(s.CompletedTasks, taskOf(t))
	}
	for _, t := range st.UnreachableTasks {
		s.UnreachableTasks = append(s.UnreachableTasks, taskOf(t))
	}
	for _, a := range st.Agents {
		if a.Active {
			s.Agents = append(s.Agents, agentOf(a.AgentInfo, a.TotalResources))
		}
	}
	for _, f := range st.Frameworks {
		s.Frameworks = append(s.Frameworks, Framework{ID: f.FrameworkInfo.GetID().GetValue(), Name: f.FrameworkInfo.Name, Active: f.Active, Connected: f.Connected})
	}
	return s, nil
}

func taskOf(t mesoslib.Task) Task {
	out := Task{ID: t.TaskID.Value, Name: t.Name, FrameworkID: t.FrameworkID.Value, AgentID: t.AgentID.Value, Labels: map[string]string{}}
	if t.State != nil {
		out.State = t.State.String()
	}
	for _, l := range t.GetLabels().GetLabels() {
		out.Labels[l.Key] = l.GetValue()
	}
	return out
}

func agentOf(info mesoslib.AgentInfo, total []mesoslib.Resource) Agent {
	a := Agent{ID: info.GetID().GetValue(), Hostname: info.Hostname, Attributes: map[string]Attribute{}}
	for _, r := range total {
		if r.Scalar == nil {
			continue
		}
		switch r.Name {
		case "cpus":
			a.CPUs += r.Scalar.Value
		case "mem":
			a.MemMiB += r.Scalar.Value
		case "disk":
			a.DiskMiB += r.Scalar.Value
		case "gpus":
			a.GPUs += r.Scalar.Value
		}
	}
	for _, at := range info.Attributes {
		switch {
		case at.Scalar != nil:
			v := at.Scalar.Value
			a.Attributes[at.Name] = Attribute{Scalar: &v}
		case at.Text != nil:
			a.Attributes[at.Name] = Attribute{Text: at.Text.Value}
		case at.Ranges != nil:
			a.Attributes[at.Name] = Attribute{Ranges: at.Ranges.String()}
		}
	}
	return a
}
