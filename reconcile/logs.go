package reconcile

import (
	"fmt"
	"strings"

	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/store"
)

// FindRun picks a run of a record: the latest when id is empty, else the
// one whose submission id is id or ends with it (driver-…-0042, or 0042).
func FindRun(rec *store.Record, id string) (*store.Submission, error) {
	if len(rec.Submissions) == 0 {
		return nil, fmt.Errorf("%s has no run recorded yet", rec.Key.Name)
	}
	if id == "" {
		return &rec.Submissions[len(rec.Submissions)-1], nil
	}
	var found *store.Submission
	for i := range rec.Submissions {
		if s := &rec.Submissions[i]; s.ID == id || strings.HasSuffix(s.ID, id) {
			if found != nil && s.ID != id {
				return nil, fmt.Errorf("run %q is ambiguous: %s and %s (give more of the id)", id, found.ID, s.ID)
			}
			found = s
		}
	}
	if found == nil {
		var ids []string
		for _, s := range rec.Submissions {
			ids = append(ids, s.ID)
		}
		return nil, fmt.Errorf("%s has no run %q; its runs: %s", rec.Key.Name, id, strings.Join(ids, ", "))
	}
	return found, nil
}

// RunSandbox is where a run's driver sandbox is.
type RunSandbox struct {
	Agent mesos.Agent
	// Path is the sandbox directory (the agent's virtual path).
	Path string
	// Running: the driver's task is not terminal yet.
	Running bool
}

// LocateSandbox finds a run's driver in the master's state: its task (by
// the recorded task id, else the submission id the dispatcher gives its
// driver task, -retry-N included), framework and agent. Mesos keeps a
// completed task for a while (its --max_completed_tasks_per_framework);
// a run it no longer lists is found by what its record holds.
func LocateSandbox(snap *mesos.Snapshot, s *store.Submission) (*RunSandbox, error) {
	taskID, fwID, agentID := s.TaskID, s.FrameworkID, s.AgentID
	running := false
	match := func(ts []*mesos.Task, live bool) {
		for _, t := range ts {
			if t.ID == s.TaskID || (s.TaskID == "" && submissionOf(t.ID) == s.ID) {
				taskID, fwID, agentID = t.ID, t.FrameworkID, t.AgentID
				running = live && !isTerminalTask(t.State)
			}
		}
	}
	match(snap.CompletedTasks, false)
	match(snap.Tasks, true)
	if taskID == "" || agentID == "" || fwID == "" {
		return nil, fmt.Errorf("run %s has no driver task on record or in the master's state (%s): it never launched", s.ID, orDefault(s.State, "no state"))
	}
	for _, a := range snap.Agents {
		if a.ID == agentID {
			executor := taskID // a command task's executor id is its task id
			return &RunSandbox{Agent: a, Path: mesos.SandboxPath(fwID, executor), Running: running}, nil
		}
	}
	return nil, fmt.Errorf("the agent %s of run %s is not registered with the master: its sandbox cannot be read", orDefault(s.Hostname, agentID), s.ID)
}

// RunLinks are a run's Spark UI (the driver's own while it runs, or the
// URL spark.mesos.driver.webui.url names) and its page on the dispatcher's
// history server; "" where there is none.
func RunLinks(rec *store.Record, s *store.Submission) (sparkUI, history string) {
	if ui := rec.Properties["spark.mesos.driver.webui.url"]; ui != "" {
		sparkUI = ui
	} else if s.FinishedAt.IsZero() && s.Hostname != "" {
		port := rec.Properties["spark.ui.port"]
		if port == "" {
			port = "4040"
		}
		sparkUI = "http://" + s.Hostname + ":" + port
	}
	if h := strings.TrimSuffix(rec.HistoryServer, "/"); h != "" && s.FrameworkID != "" && s.TaskID != "" {
		// The dispatcher gives each driver the framework id
		// DISPATCHER-TASK (spark.mesos.driver.frameworkId): the history
		// server's application id.
		history = h + "/history/" + s.FrameworkID + "-" + s.TaskID
	}
	return sparkUI, history
}
