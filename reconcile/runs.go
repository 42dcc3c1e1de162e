package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/dispatcher"
	"github.com/sparkmesos/reconciler/store"
)

// Every execution of an application is a run (a store.Submission): this
// file says how a run ended (its class, from Mesos' task state and
// reason) and what the restart policy counts of it. The planner decides
// with these; the executor records the same.

// The classes of a run's end.
const (
	ClassSucceeded = "succeeded"
	// ClassApplication: the job failed (the driver exited non-zero, was
	// killed by someone else, the task was invalid).
	ClassApplication = "application"
	// ClassInfrastructure: the cluster failed it (agent lost or removed,
	// container launch failed, killed by the agent or its isolator).
	ClassInfrastructure = "infrastructure"
	// ClassNeverLaunched: the dispatcher ended it without a Mesos task
	// (it lost its queue), or the submission never left.
	ClassNeverLaunched = "never-launched"
	// ClassKilled: we killed it (a new spec, a prune, suspend, a replaced run).
	ClassKilled = "killed"
	// ClassDeadline: we killed it for its startDeadline or activeDeadline.
	ClassDeadline = "deadline"
	// ClassUnknown: it ran, then Mesos and the dispatcher forgot it.
	ClassUnknown = "unknown"
)

// The triggers of a run.
const (
	TriggerManifest = "manifest"
	TriggerRestart  = "restart"
	TriggerRunNow   = "run-now"
	TriggerSchedule = "schedule"
	TriggerAdoption = "adoption"
	TriggerResume   = "resume"
)

// Deadline names recorded as the Reason of a run they killed.
const (
	StartDeadline  = "startDeadline"
	ActiveDeadline = "activeDeadline"
)

// infrastructureReasons are the Mesos TaskStatus reasons (mesos.proto)
// that say the cluster, not the job, ended the task.
var infrastructureReasons = []string{
	"REASON_AGENT_DISCONNECTED", "REASON_AGENT_REMOVED", "REASON_AGENT_REMOVED_BY_OPERATOR", "REASON_AGENT_REREGISTERED",
	"REASON_AGENT_RESTARTED", "REASON_AGENT_UNKNOWN", "REASON_SLAVE_DISCONNECTED", "REASON_SLAVE_REMOVED",
	"REASON_SLAVE_RESTARTED", "REASON_SLAVE_UNKNOWN", "REASON_CONTAINER_LAUNCH_FAILED", "REASON_CONTAINER_LIMITATION",
	"REASON_CONTAINER_LIMITATION_DISK", "REASON_CONTAINER_LIMITATION_MEMORY", "REASON_CONTAINER_PREEMPTED",
	"REASON_CONTAINER_UPDATE_FAILED", "REASON_EXECUTOR_REGISTRATION_TIMEOUT", "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
	"REASON_EXECUTOR_TERMINATED", "REASON_EXECUTOR_UNREGISTERED", "REASON_FRAMEWORK_REMOVED", "REASON_GC_ERROR",
	"REASON_INVALID_OFFERS", "REASON_IO_SWITCHBOARD_EXITED", "REASON_MASTER_DISCONNECTED", "REASON_RESOURCES_UNKNOWN",
	"REASON_TASK_UNREACHABLE",
}

// Classify says how a run ended from its final task state and reason.
// A class the executor recorded (killed, deadline) stands.
func Classify(s *store.Submission, state, reason string) string {
	switch {
	case s.Class == ClassKilled || s.Class == ClassDeadline:
		return s.Class
	case strings.HasPrefix(s.ID, rejectedPrefix) || strings.HasPrefix(s.ID, unresolvedPrefix):
		return ClassNeverLaunched
	case state == "TASK_FINISHED":
		return ClassSucceeded
	case state == TaskUnknown:
		return ClassUnknown
	case slices.Contains(infrastructureReasons, reason):
		return ClassInfrastructure
	}
	switch state {
	case "TASK_LOST", "TASK_GONE", "TASK_DROPPED", "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE":
		if s.DriverState == DriverFinishedWithoutTask {
			return ClassNeverLaunched
		}
		return ClassInfrastructure // an agent's loss, or a dispatcher that lost its queue
	}
	return ClassApplication
}

// DriverFinishedWithoutTask is the dispatcher's FINISHED with no Mesos
// task status: Spark could not build the driver's TaskInfo (a
// SparkException in createTaskInfo: malformed labels, secrets that do not
// pair up; MesosClusterScheduler.scheduleTasks ~680-690) and retired it
// unlaunched. The same spec fails the same way: never restarted.
const DriverFinishedWithoutTask = "FINISHED_WITHOUT_TASK"

// driverState is how a run's dispatcher state is recorded.
func driverState(st SubmissionState) string {
	if st.DriverState == dispatcher.StateFinished && st.TaskState == "" {
		return DriverFinishedWithoutTask
	}
	return st.DriverState
}

// killedFor is the deadline a kill of the run was intended for: the
// intent written before the kill, when its outcome was not recorded (a
// crash between the two).
func killedFor(rec *store.Record, run string) string {
	if rec != nil && rec.Intent != nil && rec.Intent.Deadline != "" && rec.Intent.Run == run {
		return rec.Intent.Deadline
	}
	return ""
}

// failed says the class counts as a failure.
func failed(class string) bool {
	return class != ClassSucceeded && class != ClassKilled
}

// countRun adds an ended run to the counters: a success, or a run that
// stayed up at least resetAfter, resets them first.
func countRun(c store.Counters, s *store.Submission, class string, ended time.Time, resetAfter time.Duration) store.Counters {
	c.Through = s.ID
	if class == ClassSucceeded || (resetAfter > 0 && !s.StartedAt.IsZero() && ended.Sub(s.StartedAt) >= resetAfter) {
		c = store.Counters{SpecHash: c.SpecHash, Through: s.ID}
	}
	switch class {
	case ClassApplication, ClassDeadline, ClassUnknown:
		c.Application++
		c.Consecutive++
	case ClassInfrastructure, ClassNeverLaunched:
		c.Infrastructure++
		c.Consecutive++
	}
	return c
}

// countersOf are a record's counters for a spec, the latest run
// included once it ended (class given). A record written before counters
// existed is counted from its runs.
func countersOf(rec *store.Record, hash string, latest *store.Submission, class string, ended time.Time, resetAfter time.Duration) store.Counters {
	var c store.Counters
	switch {
	case rec != nil && rec.Counters != nil && rec.Counters.SpecHash == hash:
		c = *rec.Counters
	case rec != nil && rec.Counters == nil:
		// Before counters: the failures in a row of this spec.
		c.SpecHash = hash
		for i := len(rec.Submissions) - 2; i >= 0; i-- {
			s := rec.Submissions[i]
			if s.SpecHash != hash || s.State == "TASK_FINISHED" {
				break
			}
			c.Application++
			c.Consecutive++
		}
	default:
		c.SpecHash = hash
	}
	if latest != nil && class != "" && c.Through != latest.ID {
		c = countRun(c, latest, class, ended, resetAfter)
	}
	return c
}

// retryLimits are a policy's bounds: -1 for none.
func retryLimits(p v1.RestartPolicy) (application, infrastructure, consecutive int) {
	application, infrastructure, consecutive = -1, -1, -1
	switch p.Type {
	case v1.RestartOnFailure:
		application, infrastructure = v1.DefaultOnFailureRetries, v1.DefaultOnFailureRetries
	case v1.RestartAlways:
	default: // Never
		application, infrastructure = 0, 0
	}
	if p.MaxRetries != nil && p.Type != "" && p.Type != v1.RestartNever {
		application = *p.MaxRetries
	}
	if p.OnInfrastructureFailureRetries != nil {
		infrastructure = *p.OnInfrastructureFailureRetries
	}
	if p.MaxConsecutiveFailures != nil {
		consecutive = *p.MaxConsecutiveFailures
	}
	return
}

// duration converts an optional manifest duration (0 when unset).
func duration(d *v1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return micros(d.Micros)
}

// restartDecision says whether a failed run of class is restarted under
// the policy with the counters (this run counted): "" to restart, else
// why not.
func restartDecision(p v1.RestartPolicy, class string, c store.Counters) string {
	app, infra, consecutive := retryLimits(p)
	switch {
	case consecutive >= 0 && c.Consecutive >= consecutive:
		return fmt.Sprintf("gave up: %d failures in a row (maxConsecutiveFailures %d)", c.Consecutive, consecutive)
	case class == ClassInfrastructure || class == ClassNeverLaunched:
		if infra >= 0 && c.Infrastructure > infra {
			if infra == 0 {
				return fmt.Sprintf("an infrastructure failure; restartPolicy %s retries none (onInfrastructureFailureRetries 0)", orDefault(p.Type, v1.RestartNever))
			}
			return fmt.Sprintf("gave up: %d infrastructure failures of this spec (onInfrastructureFailureRetries %d)", c.Infrastructure, infra)
		}
	default:
		if app >= 0 && c.Application > app {
			if p.Type == "" || p.Type == v1.RestartNever {
				return "restartPolicy Never"
			}
			return fmt.Sprintf("gave up: %d failed runs of this spec (maxRetries %d); change the spec or rerun", c.Application, app)
		}
	}
	return ""
}

// DescribeRun says in words how a run ended, for events, status and history.
func DescribeRun(s *store.Submission) string {
	var b strings.Builder
	b.WriteString(orDefault(s.State, "?"))
	if s.Reason != "" {
		b.WriteString(" (" + s.Reason + ")")
	}
	if s.TaskMessage != "" {
		b.WriteString(": " + s.TaskMessage)
	}
	return b.String()
}
