package reconcile

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/dispatcher"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// Cluster is what Observe reads the Mesos master through.
type Cluster interface {
	Snapshot(ctx context.Context) (*mesos.Snapshot, error)
}

// Dispatchers gives the client of the dispatcher at a base URL. A managed
// dispatcher's placeholder URL (http://NAME.dispatcher:PORT) resolves to the
// host its task was last observed on: Observe reports those hosts through
// SetManaged, so the same Dispatchers must serve the observation and the
// execution that follows it.
type Dispatchers interface {
	For(baseURL string) DispatcherClient
	SetManaged(hosts map[string]string)
}

// DispatcherClient is the part of the dispatcher client the loop uses.
type DispatcherClient interface {
	Create(ctx context.Context, req render.CreateSubmissionRequest) (dispatcher.Created, error)
	Status(ctx context.Context, id string) (*dispatcher.Status, error)
	Kill(ctx context.Context, id string) (*dispatcher.KillResult, error)
}

var (
	_ Cluster          = (*mesos.Client)(nil)
	_ DispatcherClient = (*dispatcher.Client)(nil)
)

// DispatcherPool keeps one client per dispatcher URL, and resolves the
// placeholder URL of a managed dispatcher (http://NAME.dispatcher:PORT) to
// the host its task runs on.
type DispatcherPool struct {
	mu      sync.Mutex
	clients map[string]*dispatcher.Client
	managed map[string]string
}

// SetManaged gives the hosts of the managed dispatchers, by name.
func (p *DispatcherPool) SetManaged(hosts map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.managed = hosts
}

// managedSuffix ends the host of a managed dispatcher's placeholder URL.
const managedSuffix = ".dispatcher"

// For implements Dispatchers.
func (p *DispatcherPool) For(base string) DispatcherClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, err := url.Parse(base); err == nil && strings.HasSuffix(u.Hostname(), managedSuffix) {
		name := strings.TrimSuffix(u.Hostname(), managedSuffix)
		host, ok := p.managed[name]
		if !ok {
			return downDispatcher(name)
		}
		u.Host = net.JoinHostPort(host, u.Port())
		base = u.String()
	}
	if p.clients == nil {
		p.clients = map[string]*dispatcher.Client{}
	}
	c, ok := p.clients[base]
	if !ok {
		c = dispatcher.New(base, 0)
		p.clients[base] = c
	}
	return c
}

// downDispatcher is a managed dispatcher with no running task.
type downDispatcher string

func (d downDispatcher) err() error {
	return fmt.Errorf("the managed dispatcher %q has no running task (as last observed)", string(d))
}
func (d downDispatcher) Create(context.Context, render.CreateSubmissionRequest) (dispatcher.Created, error) {
	return dispatcher.Created{}, d.err()
}
func (d downDispatcher) Status(context.Context, string) (*dispatcher.Status, error) {
	return nil, d.err()
}
func (d downDispatcher) Kill(context.Context, string) (*dispatcher.KillResult, error) {
	return nil, d.err()
}

// liveTasks are the state's tasks and its unreachable ones (which may
// come back), without copying either.
func liveTasks(state *mesos.Snapshot) iter.Seq[*mesos.Task] {
	return func(yield func(*mesos.Task) bool) {
		for _, ts := range [][]*mesos.Task{state.Tasks, state.UnreachableTasks} {
			for _, t := range ts {
				if !yield(t) {
					return
				}
			}
		}
	}
}

// liveDrivers are the drivers we own among a state's live tasks, in the
// order the planner walks them (by application, then submission id), the
// set of their submission ids, and the run labels of those a schedule
// launched. Read only: a LiveCache hands the same to every pass that
// reads the same state.
type liveDrivers struct {
	state     *mesos.Snapshot
	owner     string
	drivers   []Driver
	visible   map[string]bool
	runLabels map[string]RunLabels
}

// LiveCache keeps the live drivers of the last state observed: a view
// that did not change is the same Snapshot, and its drivers are not
// found, copied and sorted again (at 100,000 applications the sort alone
// was a fifth of a plan). The zero value is ready; nil finds them anew.
type LiveCache struct {
	mu   sync.Mutex
	last *liveDrivers
}

func (c *LiveCache) of(state *mesos.Snapshot, owner string, d *Desired) *liveDrivers {
	if c == nil {
		return findLive(state, owner, d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || c.last.state != state || c.last.owner != owner {
		c.last = nil // not held beside the new ones while they are found
		c.last = findLive(state, owner, d)
	}
	return c.last
}

// findLive finds the drivers. A driver's application name and spec hash,
// when d desires the same, are d's strings, not the task label's: the
// planner compares them for every application every pass, and equal
// strings that are one are compared without reading either (at 100,000
// the label's bytes were a cache miss each).
func findLive(state *mesos.Snapshot, owner string, d *Desired) *liveDrivers {
	// Sized first: grown by append, the drivers of 10,000 applications
	// cost five times their size in arrays left behind, every pass.
	n := 0
	for t := range liveTasks(state) {
		if ownDriver(t, owner) {
			n++
		}
	}
	l := &liveDrivers{state: state, owner: owner, drivers: make([]Driver, 0, n), visible: make(map[string]bool, n)}
	for t := range liveTasks(state) {
		dr, ok := driverOf(t, owner)
		if !ok {
			continue
		}
		if da := d.app(dr.App); da != nil {
			dr.App = da.Name
			if da.Rendered != nil && dr.SpecHash == da.Rendered.SpecHash {
				dr.SpecHash = da.Rendered.SpecHash
			}
		}
		l.drivers = append(l.drivers, dr)
		l.visible[dr.SubmissionID] = true
		l.runLabels = withRunLabels(l.runLabels, t, dr)
	}
	inPlanOrder(l.drivers)
	return l
}

// withRunLabels adds the run labels of a driver a schedule launched to m
// (made when nil) and returns it; m as it is for any other driver.
func withRunLabels(m map[string]RunLabels, t *mesos.Task, dr Driver) map[string]RunLabels {
	s := t.Labels.Get(render.LabelSchedule)
	if s == "" {
		return m
	}
	if m == nil {
		m = map[string]RunLabels{}
	}
	m[dr.SubmissionID] = RunLabels{Schedule: s, Scheduled: t.Labels.Get(render.LabelScheduledTime)}
	return m
}

// app is the desired application of that name (nil for none, or no d).
func (d *Desired) app(name string) *DesiredApp {
	if d == nil {
		return nil
	}
	return d.Apps[name]
}

// inPlanOrder sorts drivers by application, then submission id: keys are
// sorted (40 bytes swapped, not a Driver's 176), and the drivers then
// moved to their places, each once, along the permutation's cycles.
func inPlanOrder(drivers []Driver) {
	keys := make([]liveKey, len(drivers))
	for i := range drivers {
		keys[i] = liveKey{app: drivers[i].App, sub: drivers[i].SubmissionID, i: int32(i)}
	}
	if slices.IsSortedFunc(keys, compareLive) {
		return
	}
	slices.SortFunc(keys, compareLive)
	// keys[to].i is where the driver that belongs at to is now.
	for start := range keys {
		if keys[start].i < 0 {
			continue
		}
		held := drivers[start]
		to := start
		for {
			from := int(keys[to].i)
			keys[to].i = -1
			if from == start {
				drivers[to] = held
				break
			}
			drivers[to] = drivers[from]
			to = from
		}
	}
}

// submissionOf is the submission id of a driver's task id: the id
// itself, without the "-retry-N" the dispatcher appends to a retried
// driver's (MesosClusterScheduler). It runs for every driver every pass,
// where a regular expression cost a millisecond at 10,000.
func submissionOf(taskID string) string {
	i := strings.LastIndex(taskID, "-retry-")
	if i < 0 || i+len("-retry-") == len(taskID) {
		return taskID
	}
	for _, c := range taskID[i+len("-retry-"):] {
		if c < '0' || c > '9' {
			return taskID
		}
	}
	return taskID[:i]
}

// Observe reads one GET_STATE, the store's records, and the dispatcher's
// state of recorded submissions that Mesos does not show.
func Observe(ctx context.Context, cluster Cluster, dispatchers Dispatchers, st store.Store, owner string) (*Observed, error) {
	return observe(ctx, cluster, dispatchers, st, owner, nil, nil, nil, nil)
}

// observe is Observe reading the applications' records through cache
// (nil: the store's List), share applied to each record decoded, and the
// live drivers through lives (nil: from the state every time), their
// strings d's where equal (nil: their own).
func observe(ctx context.Context, cluster Cluster, dispatchers Dispatchers, st store.Store, owner string, d *Desired, cache *RecordCache, lives *LiveCache, share func(*store.Record)) (*Observed, error) {
	state, err := cluster.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	index, err := cache.list(ctx, st, share)
	if err != nil {
		return nil, fmt.Errorf("read the store: %w", err)
	}
	// The index is shared with the passes before and after that find the
	// same records: neither it nor the map is changed.
	recs := index.list
	o := &Observed{Ended: map[string]Driver{}, Submissions: map[string]SubmissionState{}, Records: index.byName,
		ServiceRecords: map[string]*store.Record{}}
	o.recordNames, o.records = index.names, recs
	schedules, err := st.List(ctx, v1.KindScheduledSparkApplication)
	if err != nil {
		return nil, fmt.Errorf("read the store: %w", err)
	}
	o.ScheduleRecords = make(map[string]*store.Record, len(schedules))
	for _, r := range schedules {
		o.ScheduleRecords[r.Key.Name] = r
	}
	for _, kind := range []string{v1.KindShuffleService, v1.KindDispatcher} {
		srecs, err := st.List(ctx, kind)
		if err != nil {
			return nil, fmt.Errorf("read the store: %w", err)
		}
		for _, r := range srecs {
			o.ServiceRecords[kind+"/"+r.Key.Name] = r
		}
	}
	live := lives.of(state, owner, d)
	o.Live, o.RunLabels = live.drivers, maps.Clone(live.runLabels)
	o.inOrder = o.Live
	visible := live.visible
	for t := range liveTasks(state) {
		l := t.Labels
		if l.Get(render.LabelOwner) == owner && kindIDs[l.Get(render.LabelKind)] != "" && strings.HasPrefix(t.ID, taskPrefix) {
			o.ServiceTasks = append(o.ServiceTasks, ServiceTask{Kind: l.Get(render.LabelKind), Name: l.Get(render.LabelName),
				TaskID: t.ID, AgentID: t.AgentID, State: t.State, SpecHash: l.Get(render.LabelSpecHash)})
		}
	}
	hosts := map[string]string{}
	for _, a := range state.Agents {
		hosts[a.ID] = a.Hostname
	}
	o.ManagedDispatchers = map[string]string{}
	for _, t := range o.ServiceTasks {
		if t.Kind == v1.KindDispatcher && t.State == "TASK_RUNNING" && hosts[t.AgentID] != "" {
			o.ManagedDispatchers[t.Name] = hosts[t.AgentID]
		}
	}
	dispatchers.SetManaged(o.ManagedDispatchers)
	for _, t := range state.CompletedTasks {
		if dr, ok := driverOf(t, owner); ok && !visible[dr.SubmissionID] {
			o.Ended[dr.SubmissionID] = dr
			o.RunLabels = withRunLabels(o.RunLabels, t, dr)
		}
	}
	o.Capacity = state.Capacity
	for _, a := range state.Agents {
		ag := Agent{ID: a.ID, Hostname: a.Hostname, Port: a.Port, CPUs: a.CPUs, MemMiB: a.MemMiB, Attributes: map[string]Attribute{},
			UsedCPUs: a.UsedCPUs, UsedMemMiB: a.UsedMemMiB}
		for k, v := range a.Attributes {
			ag.Attributes[k] = agentAttribute(v)
		}
		o.Agents = append(o.Agents, ag)
	}
	// Ask the dispatcher only about submissions Mesos does not show: queued,
	// retrying, or ended and gone from the master's list.
	for _, r := range recs {
		if len(r.Submissions) == 0 {
			continue
		}
		s := r.Submissions[len(r.Submissions)-1]
		if s.ID == "" || visible[s.ID] || isTerminalTask(s.State) {
			continue
		}
		if _, ended := o.Ended[s.ID]; ended {
			continue
		}
		base := DispatcherOf(r)
		if base == "" {
			continue
		}
		ds, err := dispatchers.For(base).Status(ctx, s.ID)
		if err != nil {
			continue // unknown this pass: the plan treats it as still waiting
		}
		o.Submissions[s.ID] = SubmissionState{DriverState: ds.DriverState, TaskState: ds.TaskState, Reason: ds.Reason, Message: ds.TaskMessage}
	}
	return o, nil
}

// DispatcherOf is the REST URL a record's application was submitted to
// ("" when unknown).
func DispatcherOf(r *store.Record) string {
	u, err := v1.DispatcherURL(r.Properties["spark.master"])
	if err != nil {
		return ""
	}
	return u.String()
}

// ownDriver says the task is a driver we own, by its labels.
func ownDriver(t *mesos.Task, owner string) bool {
	l := t.Labels
	return l.Get(render.LabelOwner) == owner && l.Get(render.LabelKind) == v1.KindSparkApplication && l.Get(render.LabelComponent) == "driver"
}

// driverOf recognises a driver task we own by its labels.
func driverOf(t *mesos.Task, owner string) (Driver, bool) {
	if !ownDriver(t, owner) {
		return Driver{}, false
	}
	l := t.Labels
	return Driver{
		SubmissionID: submissionOf(t.ID),
		TaskID:       t.ID,
		App:          l.Get(render.LabelName),
		SpecHash:     l.Get(render.LabelSpecHash),
		State:        t.State,
		AgentID:      t.AgentID,
		Intent:       l.Get(render.LabelIntent),
		FrameworkID:  t.FrameworkID,
		Reason:       t.Reason,
		Message:      t.Message,
		Started:      t.Started,
	}, true
}
