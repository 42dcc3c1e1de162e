// Package store is the reconciler's durable memory: for every object it
// manages, what was submitted for which spec, the intent written before each
// side effect, the status and a bounded event history; plus the reconciler's
// own Mesos framework id and the GitOps revisions.
//
// Two backends implement Store: bbolt (store/bolt, the embedded default: one
// file, one writer) and ZooKeeper (store/zk, for several replicas, with
// leader election and fenced writes). Records are versioned and every write
// is a compare-and-set, so a writer that read stale data is refused
// (ErrConflict) instead of overwriting newer state. Secrets are never
// stored: records hold spec hashes, submission ids and placeholders only.
package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Errors every backend returns (wrapped) for the same conditions.
var (
	// ErrNotFound: no record under that key.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the record changed since it was read (compare-and-set failed).
	ErrConflict = errors.New("version conflict")
	// ErrNotLeader: this replica does not hold leadership, so it may not write.
	ErrNotLeader = errors.New("not the leader")
)

// Key names a record: the object's kind and name.
type Key struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// String formats the key as Kind/name.
func (k Key) String() string { return k.Kind + "/" + k.Name }

// Limits of the bounded histories kept in a record: with them, a record
// stays far below ZooKeeper's 1 MiB znode limit whatever happens (the
// newest run keeps MaxTail of stderr, older ones OldTail).
const (
	MaxEvents = 50
	// MaxSubmissions is the most runs a record keeps (an application's
	// historyLimit is at most this); DefaultRuns when it sets none.
	MaxSubmissions = 50
	DefaultRuns    = 10
	MaxTail        = 64 << 10
	OldTail        = 2 << 10
)

// Record is everything the reconciler remembers about one object.
type Record struct {
	Key Key `json:"key"`
	// Version is the record's version for compare-and-set: 0 for a record
	// that does not exist yet; set by the store on every write.
	Version int64 `json:"-"`
	// SpecHash and Revision are those of the last spec applied.
	SpecHash string `json:"specHash,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Origin is the manifest file the object came from: when that file fails
	// to load, the object keeps its last good spec.
	Origin string `json:"origin,omitempty"`
	// SecretDigest is the keyed digest of the secret values last
	// submitted (render.SecretDigest with Meta.DigestKey), never a value.
	SecretDigest string `json:"secretDigest,omitempty"`
	// HistoryServer is the dispatcher's Spark history server, if any.
	HistoryServer string `json:"historyServer,omitempty"`
	// Properties are the Spark properties last submitted, as rendered
	// (secrets are placeholders), so that a plan can say what changed.
	Properties map[string]string `json:"properties,omitempty"`
	// RerunRequested, when later than the latest submission, asks for one
	// more run now (reconciler run-now, or rerun), with RerunOverrides.
	RerunRequested time.Time  `json:"rerunRequested,omitzero"`
	RerunOverrides *Overrides `json:"rerunOverrides,omitempty"`
	// Submissions are the most recent submissions, newest last.
	Submissions []Submission `json:"submissions,omitempty"`
	// Intent is a side effect about to happen or whose result is not yet
	// recorded; a restart finds it and resolves it before acting again.
	Intent *Intent `json:"intent,omitempty"`
	Status Status  `json:"status"`
	// Events are the most recent events, newest last.
	Events []Event `json:"events,omitempty"`
	// Failures are a long-running service's consecutive task failures per
	// agent, so that its relaunch backoff survives a restart.
	Failures []Failure `json:"failures,omitempty"`
	// Schedule is a ScheduledSparkApplication's memory of its runs.
	Schedule *ScheduleState `json:"schedule,omitempty"`
	// Counters are the failures counted against the restart policy.
	Counters *Counters `json:"counters,omitempty"`
	// Notify is a Notifier's memory: what it told whom, and its outbox.
	Notify *NotifyState `json:"notify,omitempty"`
}

// Limits of a Notifier's memory.
const (
	// MaxOutbox bounds the deliveries waiting: beyond it, new
	// notifications are folded into the next summary.
	MaxOutbox = 200
	// MaxSummaryNames bounds the objects a summary names.
	MaxSummaryNames = 10
)

// NotifyState is what a Notifier remembers. Notifications are decided
// from the records, level-triggered, and written here (Sent and Outbox in
// one write) before anything is delivered: a crash or a new leader finds
// them and delivers them, with the same ids; a delivery is removed from
// the outbox only once its target acknowledged it.
type NotifyState struct {
	// Since is when the notifier was first seen: what was already wrong
	// then is remembered as known, not sent.
	Since time.Time `json:"since"`
	// Target is the notifier's target type (webhook, slack, command).
	Target string `json:"target,omitempty"`
	// Sent are, per object (Kind/name), the conditions notified since it
	// last recovered.
	Sent map[string][]Notified `json:"sent,omitempty"`
	// Outbox are the deliveries not yet acknowledged, oldest first.
	Outbox []Delivery `json:"outbox,omitempty"`
	// Window is the start of the rate limit's current window, InWindow
	// how many were sent to the outbox in it; Overflow what the limit (or
	// a full outbox) held back, for the summary sent when it ends.
	Window   time.Time `json:"window,omitzero"`
	InWindow int       `json:"inWindow,omitempty"`
	Overflow *Overflow `json:"overflow,omitempty"`
	// Delivered counts the deliveries acknowledged; LastDelivered and
	// LastError say when the last one was and why the last attempt failed.
	Delivered     int64     `json:"delivered,omitempty"`
	LastDelivered time.Time `json:"lastDelivered,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
}

// Notified is one condition an object was notified about.
type Notified struct {
	Event string `json:"event"`
	// Key tells one condition from another of the same event (a failure's
	// class, the set of held files): the same key again within the dedup
	// window is not sent again.
	Key string    `json:"key"`
	ID  string    `json:"id"`
	At  time.Time `json:"at"`
	// Quiet: it was already so when the notifier was added, and was not
	// sent (it is no reason for a Recovered, nor for holding a new
	// occurrence back).
	Quiet bool `json:"quiet,omitempty"`
}

// Overflow counts the notifications held back since Since, by event, and
// names the first objects.
type Overflow struct {
	Since   time.Time      `json:"since"`
	Count   int            `json:"count"`
	ByEvent map[string]int `json:"byEvent,omitempty"`
	Names   []string       `json:"names,omitempty"`
}

// Delivery is a notification waiting for its target's acknowledgement.
type Delivery struct {
	Notification Notification `json:"notification"`
	Attempts     int          `json:"attempts,omitempty"`
	NextAttempt  time.Time    `json:"nextAttempt,omitzero"`
	LastError    string       `json:"lastError,omitempty"`
}

// Notification is what a target receives (as JSON for a webhook or a
// command, as text for Slack). It holds no secret: no stderr, no
// properties; the message is the record's own event or status.
type Notification struct {
	// ID names the occurrence: a redelivery, or the same occurrence
	// decided again after a crash, carries the same id.
	ID       string            `json:"id"`
	Event    string            `json:"event"`
	Time     time.Time         `json:"time"`
	Kind     string            `json:"kind"`
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels,omitempty"`
	Schedule string            `json:"schedule,omitempty"`
	Phase    string            `json:"phase,omitempty"`
	// Run is the submission the event is about, Class how it ended.
	Run      string `json:"run,omitempty"`
	Class    string `json:"class,omitempty"`
	Message  string `json:"message"`
	Revision string `json:"revision,omitempty"`
	// Summary, for a summary of notifications held back by the rate
	// limit: how many, by event.
	Summary *Overflow `json:"summary,omitempty"`
}

// Counters count an application's failures of one spec since the last
// reset (a success, a new spec, a run-now, a run that stayed up for the
// policy's resetAfter), by what the restart policy bounds.
type Counters struct {
	SpecHash string `json:"specHash"`
	// Through is the last run counted.
	Through string `json:"through,omitempty"`
	// Application counts failures of the job (and startDeadline kills);
	// Infrastructure those of the cluster (and runs never launched);
	// Consecutive every failure in a row.
	Application    int `json:"application,omitempty"`
	Infrastructure int `json:"infrastructure,omitempty"`
	Consecutive    int `json:"consecutive,omitempty"`
}

// Limits of a schedule's bounded histories.
const (
	MaxSkipped  = 20
	MaxRequests = 10
)

// ScheduleState is what a schedule remembers: which scheduled times were
// decided (run or skipped), its runs, and the run-now requests. A run is
// written here before it is submitted, so that whatever crashes, a
// scheduled time never gets a second run.
type ScheduleState struct {
	// Since is when the schedule was first seen: earlier times are never due.
	Since time.Time `json:"since"`
	// LastScheduled is the latest scheduled time decided.
	LastScheduled time.Time `json:"lastScheduled,omitzero"`
	// Policy is the concurrency policy in force, for run-now's answer.
	Policy string `json:"policy,omitempty"`
	// Runs are the runs kept (active, and ended within the history
	// limits), oldest first.
	Runs []ScheduleRun `json:"runs,omitempty"`
	// Skipped are the most recent skipped times, newest last.
	Skipped []SkippedRun `json:"skipped,omitempty"`
	// Pending are run-now requests not yet decided; Decided the most
	// recent decided ones, newest last.
	Pending []RunRequest `json:"pending,omitempty"`
	Decided []RunRequest `json:"decided,omitempty"`
}

// ScheduleRun is one run of a schedule.
type ScheduleRun struct {
	// Name is the run's SparkApplication name.
	Name string `json:"name"`
	// Scheduled is the time it runs for (the request time of a run-now).
	Scheduled time.Time `json:"scheduled"`
	// Trigger is schedule or run-now.
	Trigger string `json:"trigger"`
	// Request is the run-now request it was started for.
	Request   string     `json:"request,omitempty"`
	Overrides *Overrides `json:"overrides,omitempty"`
	// Stopped says why the run was stopped (replaced, suspended, its
	// starting deadline passed): it is killed and never restarted.
	Stopped string `json:"stopped,omitempty"`
}

// SkippedRun is a scheduled time that got no run (Count > 1: that many
// times, from Scheduled to Until).
type SkippedRun struct {
	Scheduled time.Time `json:"scheduled"`
	Until     time.Time `json:"until,omitzero"`
	Count     int       `json:"count,omitempty"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// RunRequest is a run-now request.
type RunRequest struct {
	ID        string     `json:"id"`
	At        time.Time  `json:"at"`
	Overrides *Overrides `json:"overrides,omitempty"`
	// Force runs it even where the concurrency policy forbids.
	Force bool `json:"force,omitempty"`
	// Run is the run it started; Outcome says what became of it.
	Run     string `json:"run,omitempty"`
	Outcome string `json:"outcome,omitempty"`
}

// Overrides change one run: its arguments (replacing the spec's, when
// set) and Spark properties. They never hold secrets (run-now refuses
// secret-looking properties).
type Overrides struct {
	Args []string          `json:"args,omitempty"`
	Conf map[string]string `json:"conf,omitempty"`
}

// AddSkipped appends skipped times, keeping the newest MaxSkipped.
func (s *ScheduleState) AddSkipped(k SkippedRun) {
	s.Skipped = keepNewest(s.Skipped, k, MaxSkipped)
}

// AddDecided appends a decided request, keeping the newest MaxRequests.
func (s *ScheduleState) AddDecided(r RunRequest) {
	s.Decided = keepNewest(s.Decided, r, MaxRequests)
}

// Failure counts the consecutive failures of a service's task on one
// agent ("" for a single-instance service) and says when and why the last
// one happened.
type Failure struct {
	Agent string    `json:"agent,omitempty"`
	Count int       `json:"count"`
	Last  time.Time `json:"last"`
	Why   string    `json:"why,omitempty"`
}

// Submission is one run of an application: one submission to a
// dispatcher and what became of its driver.
type Submission struct {
	// ID is the dispatcher's submission id (rejected-INTENT or
	// unresolved-INTENT for a submission that never left).
	ID       string `json:"id"`
	SpecHash string `json:"specHash"`
	// Revision is the source revision the spec was read at.
	Revision string `json:"revision,omitempty"`
	// Trigger says what started it: manifest (new or changed spec),
	// restart (the restart policy), run-now, schedule, adoption (found
	// running by its labels), resume.
	Trigger     string    `json:"trigger,omitempty"`
	Attempt     int       `json:"attempt"`
	SubmittedAt time.Time `json:"submittedAt"`
	// StartedAt is when its driver was first seen running.
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// State is the driver's Mesos task state (QUEUED or RETRYING while the
	// dispatcher holds it).
	State string `json:"state"`
	// Message says why it was stopped or failed to be submitted.
	Message string `json:"message,omitempty"`
	// Where its driver ran: the Mesos task, framework (the dispatcher's)
	// and agent.
	TaskID      string `json:"taskID,omitempty"`
	FrameworkID string `json:"frameworkID,omitempty"`
	AgentID     string `json:"agentID,omitempty"`
	Hostname    string `json:"hostname,omitempty"`
	// Reason and TaskMessage are the final Mesos status's
	// (REASON_AGENT_REMOVED; "Command exited with status 1"), or the
	// deadline that killed it (startDeadline, activeDeadline).
	Reason      string `json:"reason,omitempty"`
	TaskMessage string `json:"taskMessage,omitempty"`
	// DriverState is the dispatcher's last answer (QUEUED, RUNNING,
	// FINISHED, NOT_FOUND...), for a run Mesos did not show.
	DriverState string `json:"driverState,omitempty"`
	// Class is how it ended: succeeded, application, infrastructure,
	// never-launched, killed, deadline, unknown.
	Class string `json:"class,omitempty"`
	// StderrTail is the end of its driver's stderr, copied when it failed
	// (MaxTail for the newest run, OldTail for older ones), so that it
	// outlives the agent's sandbox.
	StderrTail string `json:"stderrTail,omitempty"`
}

// Tail keeps the last n bytes of s, from a line start when there is one.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return s
}

// Intent records a side effect before it happens.
type Intent struct {
	ID        string    `json:"id"`
	Action    string    `json:"action"`
	SpecHash  string    `json:"specHash,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// Run and Deadline, for a kill a deadline asked for: the run killed
	// and the deadline, so that a crash between the kill and its record
	// still ends the run as class deadline.
	Run      string `json:"run,omitempty"`
	Deadline string `json:"deadline,omitempty"`
}

// Status is an object's observed state.
type Status struct {
	Phase      string      `json:"phase,omitempty"`
	Message    string      `json:"message,omitempty"`
	Conditions []Condition `json:"conditions,omitempty"`
	ObservedAt time.Time   `json:"observedAt,omitzero"`
}

// Condition is one aspect of an object's state, Kubernetes style.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime,omitzero"`
}

// Event is something that happened to an object.
type Event struct {
	Time     time.Time `json:"time"`
	Type     string    `json:"type"` // Normal or Warning
	Reason   string    `json:"reason"`
	Message  string    `json:"message"`
	Revision string    `json:"revision,omitempty"`
}

// AddEvent appends an event, keeping the newest MaxEvents.
func (r *Record) AddEvent(e Event) {
	r.Events = keepNewest(r.Events, e, MaxEvents)
}

// AddSubmission appends a run, keeping the newest limit (DefaultRuns when
// 0, at most MaxSubmissions); older runs keep OldTail of their stderr.
func (r *Record) AddSubmission(s Submission, limit int) {
	if limit <= 0 {
		limit = DefaultRuns
	}
	for i := range r.Submissions {
		r.Submissions[i].StderrTail = Tail(r.Submissions[i].StderrTail, OldTail)
	}
	s.StderrTail = Tail(s.StderrTail, MaxTail)
	r.Submissions = keepNewest(r.Submissions, s, min(limit, MaxSubmissions))
}

// Meta is the reconciler's own state: its Mesos framework id and where
// its desired state comes from.
type Meta struct {
	Version     int64  `json:"-"`
	FrameworkID string `json:"frameworkID,omitempty"`
	// Source is the repository (URL and path) or directory followed.
	Source string `json:"source,omitempty"`
	// LastAttemptedRevision is the source revision (main@sha1:HASH) of the
	// latest pass; LastAppliedRevision the latest one applied whole: every
	// manifest loaded and every action succeeded.
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	LastAppliedRevision   string `json:"lastAppliedRevision,omitempty"`
	// SourceProblems are the manifest problems at LastAttemptedRevision,
	// each file:line:col: message; objects from those files keep their
	// last good spec.
	SourceProblems []string `json:"sourceProblems,omitempty"`
	// SourceError says why the last sync of the source failed (the
	// attempted revision stays in force); empty when it worked.
	SourceError string `json:"sourceError,omitempty"`
	// Events are the source's recent events (new revisions, failures),
	// newest last.
	Events []Event `json:"events,omitempty"`
	// DigestKey keys the digests of secret values (hex): created once by
	// the first writer.
	DigestKey string `json:"digestKey,omitempty"`
}

// AddEvent appends an event, keeping the newest MaxEvents.
func (m *Meta) AddEvent(e Event) {
	m.Events = keepNewest(m.Events, e, MaxEvents)
}

// Store is durable, versioned state. Every write is a compare-and-set
// against the version the caller read, and is refused with ErrNotLeader
// when this replica does not hold leadership.
type Store interface {
	// Get returns the record, or ErrNotFound.
	Get(ctx context.Context, key Key) (*Record, error)
	// List returns the records of a kind ("" for all), sorted by key.
	List(ctx context.Context, kind string) ([]*Record, error)
	// Put writes rec if the stored version equals rec.Version (0: it must
	// not exist yet) and returns it with its new version; ErrConflict when
	// the versions differ.
	Put(ctx context.Context, rec *Record) (*Record, error)
	// Delete removes the record if its version is version; ErrConflict
	// otherwise, ErrNotFound when it does not exist.
	Delete(ctx context.Context, key Key, version int64) error
	// GetMeta returns the reconciler's own state (Version 0 when never written).
	GetMeta(ctx context.Context) (*Meta, error)
	// PutMeta writes it with the same compare-and-set rule as Put.
	PutMeta(ctx context.Context, m *Meta) (*Meta, error)
	Close() error
}

// Versioned is a store that can say cheaply, without decoding a record,
// the version of every record of a kind: a reader that keeps the records
// it decoded then decodes (Get) only those that changed.
type Versioned interface {
	// Versions returns the version of each record of the kind, by name.
	Versions(ctx context.Context, kind string) (map[string]int64, error)
}

// Batch is a store that writes many records at once, in one transaction
// where it can: each record as Put would write it (compare-and-set against
// its own version; one refused does not keep the others from being
// written). A wrapper that changes Put must change PutAll too.
type Batch interface {
	PutAll(ctx context.Context, recs []*Record) []PutResult
}

// PutResult is what became of one record of a PutAll: the record as
// written, with its new version, or the error that refused it.
type PutResult struct {
	Record *Record
	Err    error
}

// PutAll writes recs through s's Batch if it has one, else one Put after
// another; the results are in the order of recs.
func PutAll(ctx context.Context, s Store, recs []*Record) []PutResult {
	if b, ok := s.(Batch); ok {
		return b.PutAll(ctx, recs)
	}
	out := make([]PutResult, len(recs))
	for i, rec := range recs {
		out[i].Record, out[i].Err = s.Put(ctx, rec)
	}
	return out
}

// Leadership is held by the one replica that may act.
type Leadership interface {
	// Lost is closed the moment leadership is lost (session expiry,
	// disconnection, resignation). The holder must stop acting at once.
	Lost() <-chan struct{}
	// Resign gives leadership up.
	Resign() error
}

// Elector campaigns for leadership.
type Elector interface {
	// Campaign blocks until this replica leads or ctx ends.
	Campaign(ctx context.Context) (Leadership, error)
}

// Validate checks a key before a backend stores it.
func (k Key) Validate() error {
	if k.Kind == "" || k.Name == "" {
		return fmt.Errorf("store key %q: kind and name are required", k)
	}
	for _, s := range []string{k.Kind, k.Name} {
		for _, r := range s {
			if r == '/' || r < ' ' {
				return fmt.Errorf("store key %q: '/' and control characters are not allowed", k)
			}
		}
	}
	return nil
}

// Describe says what the overrides change, for plans and events ("" for
// none): " with --arg a --conf k=v".
func (o *Overrides) Describe() string {
	if o == nil || (len(o.Args) == 0 && len(o.Conf) == 0) {
		return ""
	}
	var b strings.Builder
	b.WriteString(" with")
	for _, a := range o.Args {
		fmt.Fprintf(&b, " --arg %q", a)
	}
	keys := make([]string, 0, len(o.Conf))
	for k := range o.Conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " --conf %s=%q", k, o.Conf[k])
	}
	return b.String()
}

// keepNewest appends v to list, keeping the newest limit entries (in a
// fresh array once it drops some, so that the old one is not kept alive).
func keepNewest[T any](list []T, v T, limit int) []T {
	list = append(list, v)
	if n := len(list) - limit; n > 0 {
		list = append([]T(nil), list[n:]...)
	}
	return list
}
