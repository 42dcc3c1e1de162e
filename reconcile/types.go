// Package reconcile is the control loop: observe the cluster, plan, execute.
//
// Every pass recomputes everything from current state (level-triggered):
// Observe reads the Mesos master (one GET_STATE), the dispatcher (only for
// submissions not yet visible as Mesos tasks) and the store; Plan is a pure
// function of the desired state, the observation and the time, and returns
// an ordered list of actions, each with the reason it exists; Execute
// carries them out, writing an intent to the store before each side effect
// and the result after, so that a crash at any point, then a restart,
// converges to the same place without a duplicate driver.
//
// Drivers are recognised by the ownership labels render puts on them
// (sparkmesos.io/owner, kind, name, spec-hash), so state survives the loss
// of the store, and nothing the reconciler does not own is ever touched.
package reconcile

import (
	"iter"
	"maps"
	"path/filepath"
	"slices"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// ActionType is the one outcome vocabulary of plans, diffs, logs, events,
// metrics and status.
type ActionType string

// The action types.
const (
	ActionSubmit    ActionType = "submit"    // no driver: submit one
	ActionResubmit  ActionType = "resubmit"  // the spec changed: kill the driver, submit the new spec
	ActionRestart   ActionType = "restart"   // the driver ended; the restart policy says run again
	ActionKill      ActionType = "kill"      // a driver must go (a duplicate)
	ActionPrune     ActionType = "prune"     // the manifest is gone: kill its drivers, forget it
	ActionAdopt     ActionType = "adopt"     // a driver we own runs but is not recorded: record it
	ActionHold      ActionType = "hold"      // in doubt (an unrecorded submission, a broken file): wait
	ActionBlocked   ActionType = "blocked"   // cannot proceed: why is in Reason
	ActionUnchanged ActionType = "unchanged" // nothing to do
	ActionLaunch    ActionType = "launch"    // a service task is missing on agents: the framework launches it
	ActionRoll      ActionType = "roll"      // a service's spec changed: its tasks are replaced one agent at a time
	ActionUpdate    ActionType = "update"    // a role's weight differs: set it
	ActionSkip      ActionType = "skip"      // a scheduled time gets no run: why is in Reason
)

// Changes reports whether the action changes the cluster.
func (t ActionType) Changes() bool {
	switch t {
	case ActionSubmit, ActionResubmit, ActionRestart, ActionKill, ActionPrune, ActionLaunch, ActionRoll, ActionUpdate:
		return true
	}
	return false
}

// Action is one step of a plan.
type Action struct {
	Type ActionType
	// App is the SparkApplication's name.
	App string
	// Reason says why the action exists, for people.
	Reason string
	// SpecHash is the desired spec's hash (submit, resubmit, restart).
	SpecHash string
	// Kill lists the submission ids to kill first (resubmit, kill, prune).
	Kill []string
	// Adopt is the driver to record (adopt).
	Adopt *Driver
	// Attempt is the attempt number a (re)submission will be for this spec.
	Attempt int
	// NotBefore delays a restart (backoff); zero means now.
	NotBefore time.Time
	// Changes lists the properties that differ from the running driver's
	// (resubmit), for diff.
	Changes []Change
	// Phase is the application's phase after this pass, for status.
	Phase string
	// Overrides change the submission (run-now's arguments and properties).
	Overrides *store.Overrides
	// Trigger says what starts the run a (re)submission makes (manifest,
	// restart, run-now, schedule, resume).
	Trigger string
	// Deadline, on a kill, names the deadline it enforces (StartDeadline,
	// ActiveDeadline): the run ends as class deadline.
	Deadline string
	// StuckDispatcher, on a queued application, names the dispatcher that
	// stopped launching drivers.
	StuckDispatcher string
}

// stops says the action kills because the application must not run
// (suspended, a stopped run): its submissions are marked so that a resume
// submits again.
func (a Action) stops() bool {
	return a.Type == ActionKill && (a.Phase == PhaseSuspended || a.Phase == PhaseStopped)
}

// Change is a property that differs between the running and the desired spec.
type Change struct {
	Key      string
	Old, New string
}

// Plan is an ordered list of actions, one or more per application.
type Plan struct {
	Actions []Action
	// Services are the long-running services' actions, by kind and name.
	Services []ServiceAction
	// Roles are the roles' actions (weights).
	Roles []RoleAction
	// Schedules are the schedules' actions; RunApps the desired
	// applications of their runs (the runs' own actions are in Actions).
	Schedules []ScheduleAction
	RunApps   map[string]*DesiredApp
	// RequeueAfter, when not zero, is when the next pass has work to do
	// (a restart waiting for its backoff); ServicesRequeueAfter likewise
	// for a service task's relaunch (run's framework), and
	// SchedulesRequeueAfter for a schedule's next time (run's loop; apply
	// waits for applications only).
	RequeueAfter          time.Duration
	ServicesRequeueAfter  time.Duration
	SchedulesRequeueAfter time.Duration
}

// Changes counts the actions that change the cluster.
func (p Plan) Changes() int {
	n := 0
	for _, a := range p.Services {
		if a.Type.Changes() {
			n++
		}
	}
	for _, a := range p.Roles {
		if a.Type.Changes() {
			n++
		}
	}
	for _, a := range p.Actions {
		if a.Type.Changes() {
			n++
		}
	}
	for _, a := range p.Schedules {
		if a.Type == ActionPrune { // a schedule's runs count as applications
			n++
		}
	}
	return n
}

// Phases of an application.
const (
	PhasePending   = "Pending"
	PhaseSubmitted = "Submitted"
	PhaseQueued    = "Queued"
	PhaseRunning   = "Running"
	PhaseSucceeded = "Succeeded"
	PhaseFailed    = "Failed"
	PhaseBlocked   = "Blocked"
	PhaseHeld      = "Held"
	PhaseOrphaned  = "Orphaned" // recorded, not desired, not pruned
	PhaseSuspended = "Suspended"
	PhaseStopped   = "Stopped" // a run killed for good (replaced, suspended, past its deadline)
	PhaseScheduled = "Scheduled"
	PhaseActive    = "Active"    // a schedule with active runs
	PhaseConverged = "Converged" // a role set as its manifest says
)

// DesiredApp is one application as the manifests want it. It keeps what
// the loop acts by, not the decoded manifest: at 100,000 applications the
// manifests were 85 MB of the control loop's heap.
type DesiredApp struct {
	// Name and Labels are the manifest's metadata.
	Name   string
	Labels map[string]string
	// Spec is what the loop reads of the manifest's spec beside its
	// rendered launch spec.
	Spec     AppPolicy
	Rendered *render.Application
	// File is the manifest file it came from.
	File string
	// Unreachable, when set, says why it cannot be submitted at all.
	Unreachable string
	// UsesShuffle is true when its executors use the external shuffle
	// service (spark.shuffle.service.enabled or dynamic allocation).
	UsesShuffle bool
	// ManagedDispatcher names the managed Dispatcher it is submitted to, if
	// any: submissions wait until its task runs.
	ManagedDispatcher string
	// Schedule names the schedule of a run: a run is never resubmitted for
	// a change of the template (the next run uses it), and once ended it
	// runs again only by its own restart policy.
	Schedule string
	// Stopped, when set, says why the application must not run: its
	// driver is killed and it is never submitted or restarted (a suspended
	// application, a replaced run).
	Stopped string
	// Overrides change its next submission (a run-now's arguments and
	// properties).
	Overrides *store.Overrides
	// SecretDigest is the keyed digest of its secrets' current values
	// (SetSecretDigests); "" when unknown. A driver submitted with other
	// values is resubmitted.
	SecretDigest string
}

// AppPolicy is the part of a SparkApplication's spec that the plan and
// the executor act by: its restarts, deadlines, history, where its driver
// and executors may run, the Dispatcher it names.
type AppPolicy struct {
	// Dispatcher is spec.dispatcher.name ("" for an external URL).
	Dispatcher          string
	RestartPolicy       v1.RestartPolicy
	ChangePolicy        string
	StartDeadline       *v1.Duration
	ActiveDeadline      *v1.Duration
	HistoryLimit        *int
	DriverConstraints   v1.Constraints
	ExecutorConstraints v1.Constraints
}

// NewDesiredApp is an application's desired state: its rendered launch
// spec r, and what the loop needs of its manifest.
func NewDesiredApp(app *v1.SparkApplication, r *render.Application) *DesiredApp {
	spec := &app.Spec
	return &DesiredApp{Name: app.Metadata.Name, Labels: app.Metadata.Labels, Rendered: r, File: app.Origin().File,
		Spec: AppPolicy{Dispatcher: spec.Dispatcher.Name, RestartPolicy: spec.RestartPolicy, ChangePolicy: spec.ChangePolicy,
			StartDeadline: spec.StartDeadline, ActiveDeadline: spec.ActiveDeadline, HistoryLimit: spec.HistoryLimit,
			DriverConstraints: spec.Driver.Constraints, ExecutorConstraints: spec.Executor.Constraints}}
}

// Desired is what the manifests want.
type Desired struct {
	Apps map[string]*DesiredApp
	// Services are the long-running services the framework keeps up.
	Services []*DesiredService
	// Roles are the roles whose weights the manifests set.
	Roles []*DesiredRole
	// Schedules are the ScheduledSparkApplications.
	Schedules []*DesiredSchedule
	// Notifiers say who is told about failures (run's notifications).
	Notifiers []*DesiredNotifier
	// BrokenFiles are files that failed to load: objects recorded as coming
	// from them keep their last good spec (never killed, pruned or changed).
	BrokenFiles map[string]bool
	// Revision is the source revision the manifests were read at
	// (main@sha1:HASH); empty for a directory. Records and events name it.
	Revision string
	// Source, when set, is recorded in the store after each pass (see
	// RecordSource).
	Source *Source
	// names are the names of Apps, sorted, and apps theirs (indexNames),
	// so that a plan neither sorts nor looks up its applications each
	// pass (at 10,000 applications the lookups were a third of a plan).
	// Apps is not changed once indexed (BuildDesired, carryHeld index it
	// last): Compute checks only that the index is in order and as long
	// as Apps, so an application replaced under the same count of names
	// would go unseen.
	names []string
	apps  []*DesiredApp
}

// indexNames indexes the applications once for the plans made on d.
func (d *Desired) indexNames() {
	d.names, d.apps = index(d.Apps)
}

// index is m's keys, sorted, and their values.
func index[V any](m map[string]V) ([]string, []V) {
	keys := slices.Sorted(maps.Keys(m))
	values := make([]V, len(keys))
	for i, k := range keys {
		values[i] = m[k]
	}
	return keys, values
}

// Holds is the one rule for objects whose manifest failed to load: an
// object we own from a broken file (origin), or of an unknown origin while
// any file is broken (a lost store: it may come from the broken one), is
// held — its last good spec stays in force, it is never killed, pruned,
// rolled or reset.
func (d *Desired) Holds(origin string) bool {
	if origin == "" {
		return len(d.BrokenFiles) > 0
	}
	return d.BrokenFiles[origin]
}

// AbsoluteOrigins makes the file names of a directory's objects (and of
// its broken files) absolute, so that records written by runs from
// different working directories compare.
func (d *Desired) AbsoluteOrigins() {
	abs := func(f string) string {
		if a, err := filepath.Abs(f); err == nil {
			return a
		}
		return f
	}
	for _, a := range d.Apps {
		a.File = abs(a.File)
	}
	for _, s := range d.Services {
		s.File = abs(s.File)
	}
	for _, r := range d.Roles {
		r.File = abs(r.File)
	}
	for _, s := range d.Schedules {
		s.File = abs(s.File)
	}
	for _, n := range d.Notifiers {
		n.File = abs(n.File)
	}
	broken := make(map[string]bool, len(d.BrokenFiles))
	for f := range d.BrokenFiles {
		broken[abs(f)] = true
	}
	d.BrokenFiles = broken
}

// Source says where the desired state came from and what went wrong
// reading it, for status.
type Source struct {
	// Location is the repository (URL and path) or the directory.
	Location string
	// Problems are the manifest problems at this revision, each
	// file:line:col: message.
	Problems []string
	// SyncError says why the last attempt to read a newer revision failed;
	// the revision read stays in force.
	SyncError string
	// Rewritten: the revision does not descend from the previous one.
	Rewritten bool
}

// SetRevision stamps the desired state and its services with the source
// revision they were read at.
func (d *Desired) SetRevision(rev string) {
	d.Revision = rev
	for _, s := range d.Services {
		s.Revision = rev
	}
}

// Driver is a Spark driver we own, seen as a Mesos task.
type Driver struct {
	SubmissionID string
	TaskID       string
	App          string
	SpecHash     string
	State        string // TASK_RUNNING, TASK_FAILED...
	AgentID      string
	Intent       string // the intent id it was submitted under, if labelled
	// FrameworkID is the dispatcher's framework (where its sandbox is).
	FrameworkID string
	// Reason and Message are those of its latest status; Started is when
	// it was first reported running.
	Reason, Message string
	Started         time.Time
}

// RunLabels are the labels of a schedule's run on its driver: the
// schedule and the scheduled time (render.ScheduledTimeLayout).
type RunLabels struct {
	Schedule, Scheduled string
}

// Agent is an agent's capacity and attributes, for feasibility.
type Agent struct {
	ID         string
	Hostname   string
	Port       int
	CPUs       float64
	MemMiB     float64
	Attributes map[string]Attribute
	// UsedCPUs and UsedMemMiB are allocated to frameworks.
	UsedCPUs, UsedMemMiB float64
}

// Attribute is an agent attribute: text, scalar or ranges (Mesos'
// attribute types; "[10-20, 30-40]" for ranges).
type Attribute struct {
	Text   string
	Scalar *float64
	Ranges string
}

// agentAttribute is a master's (or an offer's) attribute as plans see it.
func agentAttribute(a mesos.Attribute) Attribute {
	return Attribute{Text: a.Text, Scalar: a.Scalar, Ranges: a.Ranges}
}

// SubmissionState is the dispatcher's answer for a recorded submission.
type SubmissionState struct {
	DriverState string // QUEUED, RUNNING, RETRYING, FINISHED, NOT_FOUND
	TaskState   string // for FINISHED: TASK_FINISHED, TASK_FAILED...
	Reason      string
	Message     string
}

// Observed is one observation of the cluster and the store.
type Observed struct {
	// Live are running or starting driver tasks we own.
	Live []Driver
	// Ended are terminal driver tasks we own that the master still lists,
	// by submission id.
	Ended  map[string]Driver
	Agents []Agent
	// Submissions holds the dispatcher's state of recorded submissions that
	// are not visible as Mesos tasks.
	Submissions map[string]SubmissionState
	// Records are the store's SparkApplication records, by name (runs of
	// schedules included); ScheduleRecords the schedules' records.
	Records map[string]*store.Record
	// recordNames are the names of Records in order, as the store listed
	// them, and records theirs (observe); as Desired's index, Records is
	// not changed once indexed.
	recordNames []string
	records     []*store.Record
	// inOrder is Live as observe put it in plan order (by application,
	// then submission id): Compute sorts a Live that is not this one.
	inOrder         []Driver
	ScheduleRecords map[string]*store.Record
	// RunLabels are the run labels of the drivers (live and ended) that
	// schedules launched, by submission id (kept apart from Driver: most
	// drivers are not runs of a schedule).
	RunLabels map[string]RunLabels
	// ServiceTasks are the live tasks of services we own (shuffle services,
	// managed dispatchers); ServiceRecords the store's records of services
	// (their origin), by kind/name.
	ServiceTasks   []ServiceTask
	ServiceRecords map[string]*store.Record
	// ManagedDispatchers are the hosts where our managed dispatchers' tasks
	// run, by Dispatcher name.
	ManagedDispatchers map[string]string
	// Weights are the master's role weights (ObserveRoles); RoleRecords the
	// roles the store says we set, by MesosRole name.
	Weights     map[string]float64
	Quotas      map[string]mesos.RoleQuota
	RoleRecords map[string]*store.Record
	// Capacity is the cluster's scalar resources as Mesos counts them for
	// quota guarantees (every listed agent); nil when not observed.
	Capacity map[string]float64
}

// ServiceTask is a live task of a long-running service we own.
type ServiceTask struct {
	Kind, Name, TaskID, AgentID, State, SpecHash string
}

// ServiceAction is the plan for one long-running service.
type ServiceAction struct {
	Type       ActionType // launch, roll, kill, blocked, unchanged
	Kind, Name string
	Reason     string
	// Agents are the agents concerned (where to launch, roll or kill), by
	// hostname; AgentIDs, for a launch, the same agents by id.
	Agents   []string
	AgentIDs []string
	// pruneRefused: a kill of a removed service the guard turned into
	// blocked.
	pruneRefused bool
}

// Options of a plan.
type Options struct {
	// Prune allows removing applications that are no longer in the manifests.
	Prune bool
	// Force allows a prune of more than half of what we own.
	Force bool
	// InDoubt is how long an unrecorded submission holds the application
	// before it is submitted again. Default 2 minutes.
	InDoubt time.Duration
	// StuckAfter is how long a submission may sit queued in its dispatcher
	// while an agent has room for it before the dispatcher is reported
	// stuck (Spark's stops launching anything after an exception in its
	// offer callback). Default 5 minutes.
	StuckAfter time.Duration
	// ServiceBackoff is the first relaunch delay of a failed service task,
	// doubled per failure up to v1.DefaultBackoffMax. Default
	// v1.DefaultBackoffInitial.
	ServiceBackoff time.Duration
	// chunk, when set, is how many applications each goroutine plans
	// (tests; by default they are cut by the machine's cores).
	chunk int
}

// Entry is one action of a plan, whatever the kind of object: the one
// vocabulary in which diff prints a plan and run logs it. (Action,
// ServiceAction and RoleAction carry what each kind's execution needs.)
type Entry struct {
	Kind, Name string
	Type       ActionType
	Reason     string
	// Phase is an application's phase after the pass.
	Phase string
	// Agents are the agents a service's action concerns.
	Agents []string
	// Changes are the properties a resubmission changes.
	Changes []Change
}

// Notable says the entry does something or waits (changes the cluster,
// is blocked, held or adopted): what run logs and the status page lists.
func (e Entry) Notable() bool {
	return e.Type.Changes() || e.Type == ActionBlocked || e.Type == ActionHold || e.Type == ActionAdopt
}

// Target names the object: an application by its name (the common case),
// any other kind as KIND/NAME.
func (e Entry) Target() string {
	if e.Kind == v1.KindSparkApplication {
		return e.Name
	}
	return e.Kind + "/" + e.Name
}

// Entries yields the plan's actions of every kind: roles, services,
// schedules, then applications (runs of schedules included). They are made
// one at a time: a pass walks them twice, and a slice of them over 100,000
// applications is 27 MB.
func (p Plan) Entries() iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		for _, a := range p.Roles {
			if !yield(Entry{Kind: v1.KindMesosRole, Name: a.Name, Type: a.Type, Reason: a.Reason}) {
				return
			}
		}
		for _, a := range p.Services {
			if !yield(Entry{Kind: a.Kind, Name: a.Name, Type: a.Type, Reason: a.Reason, Agents: a.Agents}) {
				return
			}
		}
		for _, a := range p.Schedules {
			if !yield(Entry{Kind: v1.KindScheduledSparkApplication, Name: a.Name, Type: a.Type, Reason: a.Reason, Phase: a.Phase}) {
				return
			}
		}
		for i := range p.Actions {
			a := &p.Actions[i]
			if !yield(Entry{Kind: v1.KindSparkApplication, Name: a.App, Type: a.Type, Reason: a.Reason, Phase: a.Phase, Changes: a.Changes}) {
				return
			}
		}
	}
}
