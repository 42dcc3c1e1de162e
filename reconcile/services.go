package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// DesiredService is a long-running service the reconciler's framework
// keeps up: a ShuffleService (one task on every matching agent) or a
// managed Dispatcher (Single: one task on some matching agent).
type DesiredService struct {
	Kind, Name  string
	Single      bool
	Rendered    *render.Service // Task has the agent placeholder
	Constraints v1.Constraints
	File        string
	Revision    string // the source revision it was read at
}

// Key names the service among all kinds.
func (s *DesiredService) Key() string { return s.Kind + "/" + s.Name }

// ServiceKeeper decides, for the framework, where the services' tasks run:
// exactly one task of each ShuffleService on every agent that matches its
// constraints, relaunched on the same agent with capped exponential backoff
// when it fails, never moved elsewhere when its agent is lost; a changed
// spec is rolled one agent at a time. It implements mesos.Scheduler; the
// loop feeds it the desired services and the agents it observes.
type ServiceKeeper struct {
	Now func() time.Time
	// BackoffBase and BackoffMax bound the relaunch delay after failures.
	BackoffBase, BackoffMax time.Duration
	// Lookup resolves the services' secrets at launch.
	Lookup render.Lookup
	// Failed, when set, is called (without blocking) when a task fails,
	// so that a pass plans its relaunch at once.
	Failed func()

	mu       sync.Mutex
	services map[string]*DesiredService // by Key
	loaded   bool                       // SetDesired was called at least once
	prune    bool
	held     map[string]bool // keys of services whose file failed to load
	agents   map[string]Agent
	tasks    map[string]*serviceTask // by task id
	// ended are the tasks whose end the framework was told, and when: an
	// observation read just before (the master's state, or its event
	// stream, can trail the framework's own updates) must not bring them
	// back as live.
	ended    map[string]time.Time
	failures map[string]*failure // by service key + "@" + agent
	noRoom   map[string]noRoom   // agents an offer showed unable to host a service
	seq      int64
	revive   bool // a service or an agent appeared since Revive was last asked
	// prunable are the removed services the plan allows to kill.
	prunable map[string]bool
	// restored is set once the recorded failures were taken.
	restored bool
	// placements are where the last plan launches tasks (kind/name@agent
	// id, @* for a single-instance service anywhere); planned is set once
	// a plan was given: the keeper launches nothing the plan does not.
	placements map[string]bool
	planned    bool
	// observed is set once the loop has shown the master's service tasks:
	// nothing is launched before, so that tasks from before a restart are
	// never doubled while their reconciliation is under way.
	observed bool
}

// SetObserved gives the service tasks the master lists (GET_STATE): tasks
// the keeper does not know yet (from before a restart) are taken as placed.
func (k *ServiceKeeper) SetObserved(tasks []ServiceTask) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	if !k.observed {
		k.observed, k.revive = true, true
	}
	now := k.Now()
	for id, at := range k.ended {
		if now.Sub(at) > endedMemory {
			delete(k.ended, id)
		}
	}
	for _, t := range tasks {
		if _, known := k.tasks[t.TaskID]; known || gone(t.State) {
			continue
		}
		if _, ended := k.ended[t.TaskID]; ended {
			continue // a stale observation of a task that ended
		}
		key, hash, ok := parseTaskID(t.TaskID)
		if !ok {
			continue
		}
		k.tasks[t.TaskID] = &serviceTask{id: t.TaskID, agent: t.AgentID, key: key, hash: hash, state: t.State, since: k.Now()}
	}
}

// endedMemory is how long an ended task is kept from coming back through
// a stale observation: far longer than any observation trails.
const endedMemory = 10 * time.Minute

// RestoreFailures takes the task failures the store recorded for services
// (by kind/name) the first time it is given them, so that a restart keeps
// each relaunch backoff where it was; failures seen since take precedence.
func (k *ServiceKeeper) RestoreFailures(records map[string]*store.Record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	if k.restored {
		return
	}
	k.restored = true
	for key, r := range records {
		for _, f := range r.Failures {
			slot := key + "@" + f.Agent
			if _, seen := k.failures[slot]; !seen {
				k.failures[slot] = &failure{count: f.Count, last: f.Last, why: f.Why}
			}
		}
	}
}

// failuresOf lists a service's failures for its record, by agent.
func (k *ServiceKeeper) failuresOf(key string) []store.Failure {
	var out []store.Failure
	for slot, f := range k.failures {
		if agent, ok := strings.CutPrefix(slot, key+"@"); ok {
			out = append(out, store.Failure{Agent: agent, Count: f.count, Last: f.last, Why: f.why})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return out
}

// SetPlan gives the pass's plan: the services it prunes and where it
// launches tasks. The keeper only fits offers to those placements.
func (k *ServiceKeeper) SetPlan(p Plan) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.prunable = PrunableServices(p)
	k.placements = map[string]bool{}
	for _, a := range p.Services {
		if a.Type != ActionLaunch {
			continue
		}
		key := a.Kind + "/" + a.Name
		if len(a.AgentIDs) == 0 {
			k.placements[key+"@*"] = true
		}
		for _, id := range a.AgentIDs {
			k.placements[key+"@"+id] = true
		}
	}
	if !k.planned {
		k.planned, k.revive = true, true
	}
}

// placedByPlan says the last plan launches the service on the agent.
func (k *ServiceKeeper) placedByPlan(key, agent string) bool {
	return k.placements[key+"@"+agent] || k.placements[key+"@*"]
}

type serviceTask struct {
	id, agent, key, hash, state string
	killing                     bool
	since                       time.Time
}

type failure struct {
	count int
	last  time.Time
	why   string
}

type noRoom struct {
	until time.Time
	why   string
}

var _ mesos.Scheduler = (*ServiceKeeper)(nil)

// task ids: sparkmesos.<kind>.<name>.<hash12>.<seq>; names are DNS labels,
// so the dots separate the parts. A status update carries only the id.
const taskPrefix = "sparkmesos."

var kindIDs = map[string]string{v1.KindShuffleService: "shuffle", v1.KindDispatcher: "dispatcher"}

func serviceTaskID(kind, name, hash string, seq int64) string {
	return fmt.Sprintf("%s%s.%s.%s.%d", taskPrefix, kindIDs[kind], name, hash12(hash), seq)
}

func hash12(hash string) string { return hash[:min(12, len(hash))] }

// parseTaskID returns the service key and spec hash prefix of one of our
// task ids.
func parseTaskID(id string) (key, hash string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(id, taskPrefix), ".")
	if !strings.HasPrefix(id, taskPrefix) || len(parts) != 4 {
		return "", "", false
	}
	for kind, k := range kindIDs {
		if k == parts[0] {
			return kind + "/" + parts[1], parts[2], true
		}
	}
	return "", "", false
}

func (k *ServiceKeeper) init() {
	if k.tasks == nil {
		k.tasks, k.failures, k.noRoom, k.agents = map[string]*serviceTask{}, map[string]*failure{}, map[string]noRoom{}, map[string]Agent{}
		k.ended = map[string]time.Time{}
		k.services, k.held = map[string]*DesiredService{}, map[string]bool{}
	}
	if k.Now == nil {
		k.Now = time.Now
	}
	if k.BackoffBase == 0 {
		k.BackoffBase = v1.DefaultBackoffInitial
	}
	if k.BackoffMax == 0 {
		k.BackoffMax = v1.DefaultBackoffMax
	}
	if k.seq == 0 {
		k.seq = k.Now().UnixMilli()
	}
}

// SetDesired replaces the desired services. Services whose file failed to
// load (held) keep their last spec; tasks of services no longer desired
// are killed only with prune.
func (k *ServiceKeeper) SetDesired(services []*DesiredService, broken map[string]bool, prune bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	next := map[string]*DesiredService{}
	for _, s := range services {
		next[s.Key()] = s
	}
	k.held = map[string]bool{}
	held := &Desired{BrokenFiles: broken}
	for key, old := range k.services {
		if _, ok := next[key]; !ok && held.Holds(old.File) {
			next[key] = old // the last good spec stays in force
			k.held[key] = true
		}
	}
	for key, s := range next {
		if old, ok := k.services[key]; !ok || old.Rendered.SpecHash != s.Rendered.SpecHash {
			k.revive = true
		}
	}
	k.services, k.prune, k.loaded = next, prune, true
}

// Revive implements mesos.Scheduler.
func (k *ServiceKeeper) Revive() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.revive
	k.revive = false
	return r
}

// SetAgents gives the agents the master reports, so that the keeper knows
// which agents still lack a task even while offers are suppressed.
func (k *ServiceKeeper) SetAgents(agents []Agent) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	next := map[string]Agent{}
	for _, a := range agents {
		if _, ok := k.agents[a.ID]; !ok {
			k.revive = true
		}
		next[a.ID] = a
	}
	k.agents = next
}

func (k *ServiceKeeper) hostsOn(key, agent string) *serviceTask {
	for _, t := range k.tasks {
		if t.key == key && t.agent == agent && !t.killing {
			return t
		}
	}
	return nil
}

// placed is the service's task on the agent, or for a single-instance
// service its task anywhere.
func (k *ServiceKeeper) placed(s *DesiredService, agent string) *serviceTask {
	if !s.Single {
		return k.hostsOn(s.Key(), agent)
	}
	for _, t := range k.tasks {
		if t.key == s.Key() && !t.killing {
			return t
		}
	}
	return nil
}

// slot keys failures and backoff: per agent, or one for a single instance.
func (k *ServiceKeeper) slot(key, agent string) string {
	if s := k.services[key]; s != nil && s.Single {
		return key + "@"
	}
	return key + "@" + agent
}

// due reports whether a launch of the service on the agent may happen now.
func (k *ServiceKeeper) due(key, agent string, now time.Time) bool {
	f := k.failures[k.slot(key, agent)]
	return f == nil || !now.Before(f.last.Add(k.backoff(k.slot(key, agent), f.count)))
}

// backoff is the delay after n failures of a slot's task: the one backoff
// of applications and services, from BackoffBase up to BackoffMax.
func (k *ServiceKeeper) backoff(slot string, n int) time.Duration {
	return backoff(k.BackoffBase, k.BackoffMax, slot, n)
}

// needs reports whether the service should run on the agent and does not.
func (k *ServiceKeeper) needs(s *DesiredService, a Agent, now time.Time) bool {
	if !k.planned || !k.placedByPlan(s.Key(), a.ID) || !matches(s.Constraints, a) || k.placed(s, a.ID) != nil {
		return false
	}
	if r, ok := k.noRoom[s.Key()+"@"+a.ID]; ok && now.Before(r.until) {
		return false
	}
	return k.due(s.Key(), a.ID, now)
}

// Wants implements mesos.Scheduler.
func (k *ServiceKeeper) Wants() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	if !k.observed {
		return false
	}
	now := k.Now()
	for _, s := range k.services {
		for _, a := range k.agents {
			if k.needs(s, a, now) {
				return true
			}
		}
	}
	return false
}

// Offers implements mesos.Scheduler: each offer's agent gets the tasks of
// the services it should run and lacks, as far as the offer holds them.
func (k *ServiceKeeper) Offers(offers []mesos.Offer) map[string][]mesos.Launch {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	now := k.Now()
	out := map[string][]mesos.Launch{}
	if !k.observed {
		return out
	}
	keys := make([]string, 0, len(k.services))
	for key := range k.services {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, o := range offers {
		a := Agent{ID: o.AgentID, Hostname: o.Hostname, Attributes: map[string]Attribute{}}
		for n, at := range o.Attributes {
			a.Attributes[n] = agentAttribute(at)
		}
		if _, known := k.agents[a.ID]; !known {
			k.agents[a.ID] = a
		}
		cpus, mem, ports := o.CPUs, o.MemMiB, o.Ports
		for _, key := range keys {
			s := k.services[key]
			if !k.needs(s, a, now) {
				continue
			}
			need := taskNeeds(s.Rendered)
			avail := mesos.Offer{CPUs: cpus, MemMiB: mem, Ports: ports}
			if why := lacks(avail, need); why != "" {
				// Retried after a while: the agent's resources may change.
				k.noRoom[key+"@"+a.ID] = noRoom{until: now.Add(5 * time.Minute), why: why}
				continue
			}
			lookup := k.Lookup
			if lookup == nil {
				lookup = func(v1.ValueSource) (string, error) { return "", fmt.Errorf("no secret lookup") }
			}
			task, err := render.ResolveTask(s.Rendered, lookup)
			if err != nil {
				k.noRoom[key+"@"+a.ID] = noRoom{until: now.Add(time.Minute), why: err.Error()}
				continue
			}
			k.seq++
			id := serviceTaskID(s.Kind, s.Name, s.Rendered.SpecHash, k.seq)
			out[o.ID] = append(out[o.ID], mesos.Launch{Task: task, TaskID: id})
			k.tasks[id] = &serviceTask{id: id, agent: a.ID, key: key, hash: hash12(s.Rendered.SpecHash), state: "TASK_STAGING", since: now}
			cpus, mem = cpus-need.cpus, mem-need.mem
			ports = removePorts(ports, need.ports)
		}
	}
	return out
}

type needs struct {
	cpus, mem float64
	ports     []uint64
}

func taskNeeds(s *render.Service) needs {
	var n needs
	for _, r := range s.Task.Resources {
		switch {
		case r.Scalar != nil && r.Name == "cpus":
			n.cpus += r.Scalar.Value
		case r.Scalar != nil && r.Name == "mem":
			n.mem += r.Scalar.Value
		case r.Ranges != nil && r.Name == "ports":
			for _, x := range r.Ranges.Range {
				for p := x.Begin; p <= x.End; p++ {
					n.ports = append(n.ports, p)
				}
			}
		}
	}
	return n
}

func lacks(o mesos.Offer, n needs) string {
	switch {
	case o.CPUs+1e-9 < n.cpus:
		return fmt.Sprintf("the agent offers %.2f cpus, the task needs %.2f", o.CPUs, n.cpus)
	case o.MemMiB+1e-9 < n.mem:
		return fmt.Sprintf("the agent offers %.0f MiB, the task needs %.0f", o.MemMiB, n.mem)
	case !o.HasPorts(n.ports):
		return fmt.Sprintf("the agent does not offer port(s) %v (add them to its ports resource)", n.ports)
	}
	return ""
}

func removePorts(ranges [][2]uint64, ports []uint64) [][2]uint64 {
	out := ranges
	for _, p := range ports {
		var next [][2]uint64
		for _, r := range out {
			switch {
			case p < r[0] || p > r[1]:
				next = append(next, r)
			default:
				if r[0] < p {
					next = append(next, [2]uint64{r[0], p - 1})
				}
				if p < r[1] {
					next = append(next, [2]uint64{p + 1, r[1]})
				}
			}
		}
		out = next
	}
	return out
}

// gone reports whether a service task has ended: a terminal state, or
// TASK_UNKNOWN (the master's answer to reconciling a task it never saw).
func gone(state string) bool { return isTerminalTask(state) || state == "TASK_UNKNOWN" }

// Update implements mesos.Scheduler.
func (k *ServiceKeeper) Update(st mesos.TaskStatus) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	key, hash, ok := parseTaskID(st.TaskID)
	if !ok {
		return
	}
	now := k.Now()
	t := k.tasks[st.TaskID]
	if t == nil {
		if gone(st.State) {
			return
		}
		// A task from before a restart, found by reconciliation.
		t = &serviceTask{id: st.TaskID, agent: st.AgentID, key: key, hash: hash, since: now}
		k.tasks[st.TaskID] = t
	}
	if t.state != st.State {
		t.state, t.since = st.State, now
	}
	slot := k.slot(key, t.agent)
	switch {
	case st.State == "TASK_RUNNING":
		delete(k.failures, slot)
	case gone(st.State):
		delete(k.tasks, st.TaskID)
		k.ended[st.TaskID] = now
		if !t.killing {
			f := k.failures[slot]
			if f == nil {
				f = &failure{}
				k.failures[slot] = f
			}
			f.count++
			f.last = now
			f.why = strings.TrimSpace(st.State + " " + st.Reason + " " + st.Message)
			if k.Failed != nil {
				k.Failed()
			}
		}
	}
}

// Known implements mesos.Scheduler.
func (k *ServiceKeeper) Known() []mesos.TaskRef {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []mesos.TaskRef
	for _, t := range k.tasks {
		out = append(out, mesos.TaskRef{TaskID: t.id, AgentID: t.agent})
	}
	return out
}

// Kills implements mesos.Scheduler: tasks of services no longer desired
// (with prune), and, one at a time per service, tasks whose spec changed —
// the rolling update waits for the replacement to run before the next.
func (k *ServiceKeeper) Kills() []mesos.TaskRef {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	if !k.loaded {
		return nil // nothing is known to be unwanted before the first load
	}
	var out []mesos.TaskRef
	kill := func(t *serviceTask) {
		t.killing = true
		out = append(out, mesos.TaskRef{TaskID: t.id, AgentID: t.agent})
	}
	ids := make([]string, 0, len(k.tasks))
	for id := range k.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// A service is busy while a task of it starts or is being killed, or a
	// matching agent has none running: a rolling update waits for it.
	busy := map[string]bool{}
	for _, id := range ids {
		t := k.tasks[id]
		if t.killing || t.state != "TASK_RUNNING" {
			busy[t.key] = true
		}
	}
	// (A replacement that keeps failing so stops the roll at one agent; an
	// agent that cannot host the service at all does not hold it up.)
	now := k.Now()
	for key, s := range k.services {
		for _, a := range k.agents {
			r, full := k.noRoom[key+"@"+a.ID]
			if matches(s.Constraints, a) && k.placed(s, a.ID) == nil && !(full && now.Before(r.until)) {
				busy[key] = true
			}
		}
	}
	for _, id := range ids {
		t := k.tasks[id]
		if t.killing {
			continue
		}
		s, desired := k.services[t.key]
		switch {
		case !desired:
			if k.prune && k.prunable[t.key] {
				kill(t)
			}
		case t.hash != hash12(s.Rendered.SpecHash) && !busy[t.key] && !k.held[t.key]:
			kill(t)
			busy[t.key] = true
		}
	}
	return out
}

// ServiceStatus is the state of a service on one agent.
type ServiceStatus struct {
	Service, Agent, Hostname string
	TaskID, State            string
	Current                  bool   // the task runs the current spec
	Why                      string // why there is no running task
}

// Status lists, per service, every matching agent and what runs there.
func (k *ServiceKeeper) Status() []ServiceStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.init()
	now := k.Now()
	var out []ServiceStatus
	for key, s := range k.services {
		for _, a := range k.agents {
			if !matches(s.Constraints, a) {
				continue
			}
			st := ServiceStatus{Service: key, Agent: a.ID, Hostname: a.Hostname}
			if s.Single {
				if t := k.placed(s, a.ID); t != nil && t.agent != a.ID {
					continue // it runs elsewhere: one row, for its agent
				}
			}
			if t := k.placed(s, a.ID); t != nil {
				st.TaskID, st.State, st.Current = t.id, t.state, t.hash == hash12(s.Rendered.SpecHash)
			} else if r, ok := k.noRoom[key+"@"+a.ID]; ok && now.Before(r.until) {
				st.Why = r.why
			} else if f := k.failures[k.slot(key, a.ID)]; f != nil {
				st.Why = fmt.Sprintf("failed %d time(s), last: %s; next launch in %s", f.count, f.why,
					max(0, f.last.Add(k.backoff(k.slot(key, a.ID), f.count)).Sub(now)).Round(time.Second))
			} else {
				st.Why = "waiting for an offer"
			}
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Agent < out[j].Agent
	})
	return out
}

// ServiceFrameworkID finds the framework that runs service tasks with our
// ownership labels, for a reconciler whose store lost the framework id.
func ServiceFrameworkID(ctx context.Context, cluster Cluster, owner string) (string, error) {
	snap, err := cluster.Snapshot(ctx)
	if err != nil {
		return "", err
	}
	for t := range liveTasks(snap) {
		if t.Labels.Get(render.LabelOwner) == owner && kindIDs[t.Labels.Get(render.LabelKind)] != "" && strings.HasPrefix(t.ID, taskPrefix) {
			return t.FrameworkID, nil
		}
	}
	return "", nil
}

// planServices says what the framework will do for each service: launch
// where a matching agent has no task, roll a changed spec one agent at a
// time, kill (with prune) what is no longer desired.
func planServices(d *Desired, o *Observed, now time.Time, opts Options) ([]ServiceAction, time.Duration) {
	var requeue time.Duration
	base, maxDelay := opts.ServiceBackoff, v1.DefaultBackoffMax
	if base == 0 {
		base = v1.DefaultBackoffInitial
	}
	byKey := map[string][]ServiceTask{}
	for _, t := range o.ServiceTasks {
		byKey[t.Kind+"/"+t.Name] = append(byKey[t.Kind+"/"+t.Name], t)
	}
	var out []ServiceAction
	desired := map[string]bool{}
	for _, s := range d.Services {
		desired[s.Key()] = true
		a := ServiceAction{Kind: s.Kind, Name: s.Name}
		on := map[string]ServiceTask{}
		for _, t := range byKey[s.Key()] {
			on[t.AgentID] = t
		}
		if s.Single {
			out = append(out, planSingle(s, byKey[s.Key()], o))
			continue
		}
		// A task that failed on an agent is relaunched there after the
		// backoff its failures (kept in the service's record) call for.
		failed := map[string]store.Failure{}
		if r := o.ServiceRecords[s.Key()]; r != nil {
			for _, f := range r.Failures {
				failed[f.Agent] = f
			}
		}
		var missing, missingIDs, waiting, stale, matching []string
		for _, ag := range o.Agents {
			if !matches(s.Constraints, ag) {
				continue
			}
			matching = append(matching, ag.Hostname)
			t, ok := on[ag.ID]
			switch {
			case !ok:
				if f, ok := failed[ag.ID]; ok {
					if at := f.Last.Add(backoff(base, maxDelay, s.Key()+"@"+ag.ID, f.Count)); at.After(now) {
						waiting = append(waiting, fmt.Sprintf("%s in %s (failed %d time(s), last: %s)", ag.Hostname, at.Sub(now).Round(time.Second), f.Count, f.Why))
						if wait := at.Sub(now); requeue == 0 || wait < requeue {
							requeue = wait
						}
						continue
					}
				}
				missing, missingIDs = append(missing, ag.Hostname), append(missingIDs, ag.ID)
			case t.SpecHash != s.Rendered.SpecHash:
				stale = append(stale, ag.Hostname)
			}
		}
		later := ""
		if len(waiting) > 0 {
			later = "; relaunch on " + strings.Join(waiting, ", ")
		}
		switch {
		case len(matching) == 0:
			a.Type, a.Reason = ActionBlocked, fmt.Sprintf("no agent matches the constraints %q", s.Constraints.String())
		case len(missing) > 0:
			a.Type, a.Agents, a.AgentIDs = ActionLaunch, missing, missingIDs
			a.Reason = fmt.Sprintf("launch on %d of %d matching agents", len(missing), len(matching)) + later
			if len(stale) > 0 {
				a.Reason += fmt.Sprintf("; then roll %d changed task(s) one agent at a time", len(stale))
			}
		case len(waiting) > 0:
			a.Type, a.Reason = ActionUnchanged, strings.TrimPrefix(later, "; ")
		case len(stale) > 0:
			a.Type, a.Agents = ActionRoll, stale
			a.Reason = fmt.Sprintf("spec changed: replace %d task(s) one agent at a time", len(stale))
		default:
			a.Type, a.Reason = ActionUnchanged, fmt.Sprintf("running on all %d matching agents", len(matching))
		}
		out = append(out, a)
	}
	var gone []string
	for key := range byKey {
		if !desired[key] {
			gone = append(gone, key)
		}
	}
	sort.Strings(gone)
	for _, key := range gone {
		ts := byKey[key]
		a := ServiceAction{Kind: ts[0].Kind, Name: ts[0].Name}
		for _, t := range ts {
			a.Agents = append(a.Agents, t.AgentID)
		}
		deps := dependents(a.Kind, a.Name, o)
		origin := ""
		if r := o.ServiceRecords[key]; r != nil {
			origin = r.Origin
		}
		switch {
		case d.Holds(origin) && origin != "":
			a.Type, a.Reason = ActionHold, fmt.Sprintf("%s failed to load: the last good spec stays in force; its %d task(s) keep running", origin, len(ts))
		case d.Holds(origin):
			a.Type, a.Reason = ActionHold, fmt.Sprintf("not recorded, and some manifest failed to load: it may come from that file; its %d task(s) keep running", len(ts))
		case opts.Prune && len(deps) > 0 && !opts.Force:
			a.Type = ActionBlocked
			a.Reason = fmt.Sprintf("no longer in the manifests, but the running application(s) %s depend on it: not removed (--force removes it)", strings.Join(deps, ", "))
		case opts.Prune:
			a.Type, a.Reason = ActionKill, fmt.Sprintf("no longer in the manifests: kill its %d task(s)", len(ts))
		default:
			a.Type, a.Reason = ActionUnchanged, fmt.Sprintf("no longer in the manifests; its %d task(s) keep running without --prune", len(ts))
		}
		out = append(out, a)
	}
	return out, requeue
}

// dependents are the applications with a live driver that use a service:
// any shuffle service (when their executors use one), or the managed
// dispatcher they were submitted to.
func dependents(kind, name string, o *Observed) []string {
	seen := map[string]bool{}
	var out []string
	for _, dr := range o.Live {
		r := o.Records[dr.App]
		if r == nil || seen[dr.App] {
			continue
		}
		uses := false
		switch kind {
		case v1.KindShuffleService:
			uses = r.Properties["spark.shuffle.service.enabled"] == "true" || r.Properties["spark.dynamicAllocation.enabled"] == "true"
		case v1.KindDispatcher:
			uses = strings.HasPrefix(r.Properties["spark.master"], "mesos://"+name+managedSuffix+":")
		}
		if uses {
			seen[dr.App] = true
			out = append(out, dr.App)
		}
	}
	sort.Strings(out)
	return out
}

// PrunableServices are the removed services a plan kills (prune, not
// depended on, not refused by the prune guard): the keeper kills no other
// removed service, so what diff prints is what run does.
func PrunableServices(plan Plan) map[string]bool {
	out := map[string]bool{}
	for _, a := range plan.Services {
		if a.Type == ActionKill {
			out[a.Kind+"/"+a.Name] = true
		}
	}
	return out
}

// planSingle plans a single-instance service (a managed dispatcher).
func planSingle(s *DesiredService, tasks []ServiceTask, o *Observed) ServiceAction {
	a := ServiceAction{Kind: s.Kind, Name: s.Name}
	host := map[string]string{}
	matching := 0
	for _, ag := range o.Agents {
		host[ag.ID] = ag.Hostname
		if matches(s.Constraints, ag) {
			matching++
		}
	}
	switch {
	case len(tasks) == 0 && matching == 0:
		a.Type, a.Reason = ActionBlocked, fmt.Sprintf("no agent matches the constraints %q", s.Constraints.String())
	case len(tasks) == 0:
		a.Type, a.Reason = ActionLaunch, fmt.Sprintf("launch on one of %d matching agents", matching)
	case tasks[0].SpecHash != s.Rendered.SpecHash:
		a.Type, a.Agents = ActionRoll, []string{host[tasks[0].AgentID]}
		a.Reason = "spec changed: replace its task (with ZooKeeper recovery, queued and running drivers carry on)"
	default:
		a.Type, a.Reason = ActionUnchanged, "running on "+host[tasks[0].AgentID]
	}
	return a
}

// shuffleUp is the set of agents where a shuffle service task runs.
func shuffleUp(o *Observed) map[string]bool {
	up := map[string]bool{}
	for _, t := range o.ServiceTasks {
		if t.Kind == v1.KindShuffleService && t.State == "TASK_RUNNING" {
			up[t.AgentID] = true
		}
	}
	return up
}

// shuffleNoteOf is shuffleNote for the actions that start or keep a
// driver, and empty for the others.
func shuffleNoteOf(a Action, app *DesiredApp, o *Observed, up map[string]bool) string {
	switch a.Type {
	case ActionSubmit, ActionResubmit, ActionRestart, ActionUnchanged:
		return shuffleNote(app, o, up)
	}
	return ""
}

// shuffleNote says, for an application that uses the external shuffle
// service, on which agents its executors could run without one up.
func shuffleNote(app *DesiredApp, o *Observed, up map[string]bool) string {
	if !app.UsesShuffle {
		return ""
	}
	var without []string
	for _, ag := range o.Agents {
		if matches(app.Spec.ExecutorConstraints, ag) && !up[ag.ID] {
			without = append(without, ag.Hostname)
		}
	}
	if len(without) == 0 {
		return ""
	}
	sort.Strings(without)
	if len(without) > 3 {
		without = append(without[:3], fmt.Sprintf("and %d more", len(without)-3))
	}
	return fmt.Sprintf("; no shuffle service is up on %s, where its executors may run", strings.Join(without, ", "))
}

// SyncServiceStatus records each service's state in the store (a record of
// its kind), per agent, for `reconciler status`: written only when it
// changed; the records of services no longer kept are removed.
func SyncServiceStatus(ctx context.Context, st store.Store, k *ServiceKeeper, o *Observed, now time.Time) error {
	rows := k.Status()
	k.mu.Lock()
	keys := map[string]*DesiredService{}
	failures := map[string][]store.Failure{}
	for key, s := range k.services {
		keys[key] = s
		failures[key] = k.failuresOf(key)
	}
	k.mu.Unlock()
	byKey := map[string][]ServiceStatus{}
	for _, r := range rows {
		byKey[r.Service] = append(byKey[r.Service], r)
	}
	for key, s := range keys {
		want := serviceStatus(s, byKey[key], now)
		rec, err := st.Get(ctx, store.Key{Kind: s.Kind, Name: s.Name})
		switch {
		case errors.Is(err, store.ErrNotFound):
			rec = &store.Record{Key: store.Key{Kind: s.Kind, Name: s.Name}}
		case err != nil:
			return err
		}
		if sameStatus(rec.Status, want) && rec.SpecHash == s.Rendered.SpecHash && sameFailures(rec.Failures, failures[key]) {
			continue
		}
		if rec.SpecHash != s.Rendered.SpecHash {
			rec.Revision = s.Revision // the revision this spec came from
		}
		rec.Status, rec.SpecHash, rec.Origin, rec.Failures = want, s.Rendered.SpecHash, s.File, failures[key]
		saved, err := st.Put(ctx, rec)
		if err != nil {
			return err
		}
		if o != nil && o.ServiceRecords != nil {
			o.ServiceRecords[key] = saved // the plan of this pass sees the failures just kept
		}
	}
	for _, kind := range []string{v1.KindShuffleService, v1.KindDispatcher} {
		recs, err := st.List(ctx, kind)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if keys[kind+"/"+r.Key.Name] == nil {
				if err := st.Delete(ctx, r.Key, r.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
	}
	return nil
}

func serviceStatus(s *DesiredService, rows []ServiceStatus, now time.Time) store.Status {
	out := store.Status{ObservedAt: now}
	running := 0
	for _, r := range rows {
		c := store.Condition{Type: "Agent " + r.Hostname, Status: "False", Reason: r.State, Message: r.Why}
		if r.State == "TASK_RUNNING" {
			running++
			c.Status = "True"
			c.Message = r.TaskID
			if !r.Current {
				c.Message += " (previous spec: rolling)"
			}
		}
		out.Conditions = append(out.Conditions, c)
	}
	switch {
	case s.Single && running == 1:
		out.Phase, out.Message = PhaseRunning, "running on "+rows[0].Hostname
	case s.Single:
		out.Phase, out.Message = PhasePending, "no running task"
	case len(rows) == 0:
		out.Phase, out.Message = PhaseBlocked, fmt.Sprintf("no agent matches the constraints %q", s.Constraints.String())
	case running == len(rows):
		out.Phase, out.Message = PhaseRunning, fmt.Sprintf("running on all %d matching agents", running)
	default:
		out.Phase, out.Message = PhasePending, fmt.Sprintf("running on %d of %d matching agents", running, len(rows))
	}
	return out
}

// sameFailures compares failures as stored (times by instant: a stored
// time has no monotonic reading).
func sameFailures(a, b []store.Failure) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Agent != b[i].Agent || a[i].Count != b[i].Count || !a[i].Last.Equal(b[i].Last) || a[i].Why != b[i].Why {
			return false
		}
	}
	return true
}

func sameStatus(a, b store.Status) bool {
	if a.Phase != b.Phase || a.Message != b.Message || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message {
			return false
		}
	}
	return true
}
