package sim

import (
	"fmt"
	"slices"
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// amounts are scalar totals by resource name plus port ranges.
type amounts struct {
	scalars map[string]float64
	ports   [][2]uint64
}

func sumResources(rs []mesos.Resource) amounts {
	a := amounts{scalars: map[string]float64{}}
	for _, r := range rs {
		switch {
		case r.Scalar != nil:
			a.scalars[r.Name] += r.Scalar.Value
		case r.Ranges != nil && r.Name == "ports":
			for _, x := range r.Ranges.Range {
				a.ports = append(a.ports, [2]uint64{x.Begin, x.End})
			}
		}
	}
	return a
}

// minus removes b from a (ports range-wise).
func (a amounts) minus(b amounts) amounts {
	out := amounts{scalars: map[string]float64{}}
	for k, v := range a.scalars {
		out.scalars[k] = v - b.scalars[k]
	}
	out.ports = subtractRanges(a.ports, b.ports)
	return out
}

// covers reports whether a contains b.
func (a amounts) covers(b amounts) bool {
	for k, v := range b.scalars {
		if a.scalars[k]+1e-9 < v {
			return false
		}
	}
	return len(subtractRanges(b.ports, a.ports)) == 0
}

func subtractRanges(from, sub [][2]uint64) [][2]uint64 {
	out := append([][2]uint64(nil), from...)
	for _, s := range sub {
		var next [][2]uint64
		for _, r := range out {
			if s[1] < r[0] || s[0] > r[1] {
				next = append(next, r)
				continue
			}
			if r[0] < s[0] {
				next = append(next, [2]uint64{r[0], s[0] - 1})
			}
			if s[1] < r[1] {
				next = append(next, [2]uint64{s[1] + 1, r[1]})
			}
		}
		out = next
	}
	return out
}

// resources turns amounts into offerable resources with the allocation role.
func (a amounts) resources(role string) []mesos.Resource {
	names := make([]string, 0, len(a.scalars))
	for k := range a.scalars {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return resourceOrder(names[i]) < resourceOrder(names[j]) })
	star := "*"
	alloc := &mesos.Resource_AllocationInfo{Role: &role}
	var out []mesos.Resource
	for _, n := range names {
		if v := a.scalars[n]; v > 1e-9 {
			r := scalar(n, round3(v))
			r.Role, r.AllocationInfo = &star, alloc
			out = append(out, r)
		}
	}
	if len(a.ports) > 0 {
		r := rangesResource("ports", a.ports)
		r.Role, r.AllocationInfo = &star, alloc
		out = append(out, r)
	}
	return out
}

func resourceOrder(n string) string {
	switch n {
	case "cpus":
		return "0"
	case "mem":
		return "1"
	case "disk":
		return "2"
	}
	return "3" + n
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// availableLocked is what each active agent has left: total minus what
// its running tasks and outstanding offers hold (the ledger).
func (c *Cluster) availableLocked() map[*agent]amounts {
	left := make(map[*agent]amounts, len(c.agents))
	for _, a := range c.agents {
		if !a.active {
			continue
		}
		held := amounts{scalars: map[string]float64{}}
		if h := c.ledger.onAgent[a.info.ID.Value]; h != nil {
			held = *h
		}
		left[a] = sumResources(a.total).minus(held)
	}
	return left
}

// ledger is what live tasks and outstanding offers hold, by agent, by
// framework and by role (cpus and mem), kept as they come and go so that
// an offer cycle does not walk every task.
type ledger struct {
	onAgent     map[string]*amounts
	byFramework map[string]*[2]float64
	byRole      map[string]*[2]float64
}

func (l *ledger) change(agentID, fwID, role string, x amounts, sign float64) {
	if l.onAgent == nil {
		l.onAgent, l.byFramework, l.byRole = map[string]*amounts{}, map[string]*[2]float64{}, map[string]*[2]float64{}
	}
	h := l.onAgent[agentID]
	if h == nil {
		h = &amounts{scalars: map[string]float64{}}
		l.onAgent[agentID] = h
	}
	for name, v := range x.scalars {
		h.scalars[name] += sign * v
	}
	if sign > 0 {
		h.ports = append(h.ports, x.ports...)
	} else {
		for _, r := range x.ports {
			if i := slices.Index(h.ports, r); i >= 0 {
				h.ports = slices.Delete(h.ports, i, i+1)
			}
		}
	}
	add2(l.byFramework, fwID, x, sign)
	add2(l.byRole, role, x, sign)
}

func add2(m map[string]*[2]float64, key string, x amounts, sign float64) {
	u := m[key]
	if u == nil {
		u = &[2]float64{}
		m[key] = u
	}
	u[0] += sign * x.scalars["cpus"]
	u[1] += sign * x.scalars["mem"]
}

// roleOfLocked is the role a framework's resources are charged to.
func (c *Cluster) roleOfLocked(fwID string) string {
	if fw := c.frameworks[fwID]; fw != nil {
		return frameworkRole(fw)
	}
	return "*"
}

// putTaskLocked adds a live task; removeTaskLocked removes one.
func (c *Cluster) putTaskLocked(key string, t *task) {
	if old := c.tasks[key]; old != nil {
		c.ledger.change(old.info.AgentID.Value, old.framework, old.chargedRole, old.amounts(), -1)
	}
	t.chargedRole = c.roleOfLocked(t.framework)
	c.tasks[key] = t
	c.ledger.change(t.info.AgentID.Value, t.framework, t.chargedRole, t.amounts(), 1)
}

func (c *Cluster) removeTaskLocked(key string) {
	if t := c.tasks[key]; t != nil {
		c.ledger.change(t.info.AgentID.Value, t.framework, t.chargedRole, t.amounts(), -1)
		delete(c.tasks, key)
	}
}

// putOfferLocked adds an outstanding offer; removeOfferLocked removes one.
func (c *Cluster) putOfferLocked(o *offer) {
	o.chargedRole = c.roleOfLocked(o.framework)
	c.offers[o.id] = o
	c.ledger.change(o.agent.info.ID.Value, o.framework, o.chargedRole, o.amounts(), 1)
}

func (c *Cluster) removeOfferLocked(id string) {
	if o := c.offers[id]; o != nil {
		c.ledger.change(o.agent.info.ID.Value, o.framework, o.chargedRole, o.amounts(), -1)
		delete(c.offers, id)
	}
}

// allocate runs one offer cycle, as Mesos' hierarchical DRF allocator: the
// agents are taken in turn (from a rotating start), and what each has left
// is offered whole to the framework with the smallest dominant share (its
// tasks' and outstanding offers' cpus or mem over the cluster's, whichever
// is larger), skipping frameworks whose decline filter covers it. A
// framework's share grows with each offer, so one cycle spreads the agents
// over the frameworks that want them.
func (c *Cluster) allocate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	fws := c.offerableLocked()
	if len(fws) == 0 || len(c.agents) == 0 {
		return
	}
	now := c.now()
	left := c.availableLocked()
	var total [2]float64
	for a := range left {
		t := sumResources(a.total)
		total[0] += t.scalars["cpus"]
		total[1] += t.scalars["mem"]
	}
	// Roles first, as Mesos' hierarchical allocator: the role with the
	// smallest dominant share divided by its weight, then the framework with
	// the smallest share within it. used and roleUsed hold cpus and mem of
	// tasks and outstanding offers.
	used, roleUsed := map[string]*[2]float64{}, map[string]*[2]float64{}
	for _, fw := range fws {
		u := [2]float64{}
		if x := c.ledger.byFramework[fw.id]; x != nil {
			u = *x
		}
		used[fw.id] = &u
		role := frameworkRole(fw)
		if roleUsed[role] == nil {
			r := [2]float64{}
			if x := c.ledger.byRole[role]; x != nil {
				r = *x
			}
			roleUsed[role] = &r
		}
	}
	charge := func(fwID string, x amounts) {
		cpus, mem := x.scalars["cpus"], x.scalars["mem"]
		for _, u := range []*[2]float64{used[fwID], roleUsed[c.roleOfLocked(fwID)]} {
			if u != nil {
				u[0] += cpus
				u[1] += mem
			}
		}
	}
	share := func(fw *framework) float64 {
		u := used[fw.id]
		return max(ratio(u[0], total[0]), ratio(u[1], total[1]))
	}
	roleShare := func(fw *framework) float64 {
		role := frameworkRole(fw)
		u, w := roleUsed[role], c.weights[role]
		if w <= 0 {
			w = 1
		}
		return max(ratio(u[0], total[0]), ratio(u[1], total[1])) / w
	}
	less := func(a, b *framework) bool {
		if ra, rb := roleShare(a), roleShare(b); ra != rb {
			return ra < rb
		}
		return share(a) < share(b)
	}
	made := map[*framework][]*offer{}
	start := c.next("alloc-round") % len(c.agents)
	for i := range c.agents {
		a := c.agents[(start+i)%len(c.agents)]
		avail, ok := left[a]
		if !ok || avail.scalars["cpus"] < 0.01 && avail.scalars["mem"] < 1 {
			continue
		}
		var best *framework
		var bestAvail amounts
		for _, fw := range fws {
			if f, ok := fw.filters[a.info.ID.Value]; ok && now.Before(f.until) && f.refused.covers(avail) {
				continue
			}
			// A role's quota limit caps what it is offered: the offer is
			// cut to the headroom, and a role at its limit gets nothing.
			capped, ok := c.withinLimit(frameworkRole(fw), roleUsed[frameworkRole(fw)], avail)
			if !ok {
				continue
			}
			if best == nil || less(fw, best) {
				best, bestAvail = fw, capped
			}
		}
		if best == nil {
			continue
		}
		role := frameworkRole(best)
		o := &offer{id: fmt.Sprintf("%s-O%d", c.masterID, c.next("offer")), framework: best.id, agent: a, role: role}
		o.resources = bestAvail.resources(role)
		c.putOfferLocked(o)
		made[best] = append(made[best], o)
		charge(best.id, o.amounts())
	}
	// Offers go out in framework order, so a cycle is reproducible.
	for _, fw := range fws {
		offers := made[fw]
		if len(offers) == 0 {
			continue
		}
		if fw.internal != nil {
			fw.internal.offers(c, fw, offers)
		} else {
			c.sendOffersLocked(fw, offers)
		}
	}
}

// withinLimit cuts avail to what the role's quota limits leave (used holds
// its tasks' and offers' cpus and mem); false when nothing is left.
func (c *Cluster) withinLimit(role string, used *[2]float64, avail amounts) (amounts, bool) {
	q, ok := c.quotas[role]
	if !ok || len(q.Limits) == 0 {
		return avail, true
	}
	out := amounts{scalars: map[string]float64{}, ports: avail.ports}
	for k, v := range avail.scalars {
		out.scalars[k] = v
	}
	for i, name := range []string{"cpus", "mem"} {
		l, limited := q.Limits[name]
		if !limited {
			continue
		}
		head := l.Value - used[i]
		if head < 0.01 {
			return amounts{}, false
		}
		out.scalars[name] = min(out.scalars[name], head)
	}
	return out, true
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// frameworkRole is the role a framework's offers are allocated to.
func frameworkRole(fw *framework) string {
	if len(fw.info.Roles) > 0 {
		return fw.info.Roles[0]
	}
	if fw.info.Role != nil && *fw.info.Role != "" {
		return *fw.info.Role
	}
	return "*"
}

func (c *Cluster) offerableLocked() []*framework {
	var out []*framework
	for _, fw := range c.frameworks {
		if fw.active && fw.connected && !fw.removed && !fw.suppressed && (fw.internal == nil || fw.internal.wantsOffers()) {
			out = append(out, fw)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (o *offer) proto() mesos.Offer {
	host := o.agent.info.Hostname
	return mesos.Offer{
		ID:             mesos.OfferID{Value: o.id},
		FrameworkID:    mesos.FrameworkID{Value: o.framework},
		AgentID:        *o.agent.info.ID,
		Hostname:       host,
		URL:            &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: &host, IP: &o.agent.ip, Port: o.agent.info.GetPort()}, Path: strPtr("/slave(1)")},
		Resources:      o.resources,
		Attributes:     o.agent.info.Attributes,
		AllocationInfo: &mesos.Resource_AllocationInfo{Role: &o.role},
	}
}

func strPtr(s string) *string { return &s }

// refuseLocked sets a decline filter of framework fw on an agent: the
// refused resources (what the offer held, less what was launched) are not
// offered to it again for the given time, unless more becomes available
// there — Mesos filters resource sets.
func (c *Cluster) refuseLocked(fw *framework, agentID string, refused amounts, seconds float64) {
	if seconds < 0 {
		seconds = 5
	}
	if seconds > 31536000 {
		seconds = 31536000
	}
	if fw.filters == nil {
		fw.filters = map[string]filter{}
	}
	fw.filters[agentID] = filter{until: c.now().Add(time.Duration(seconds * float64(time.Second))), refused: refused}
}

// acceptLocked launches tasks on accepted offers. It returns an error for a
// malformed call (400); invalid tasks get TASK_ERROR updates as in Mesos.
func (c *Cluster) acceptLocked(fw *framework, offerIDs []string, tasks []mesos.TaskInfo, refuse float64) error {
	var offers []*offer
	for _, id := range offerIDs {
		o, ok := c.offers[id]
		if !ok || o.framework != fw.id {
			// An unknown or rescinded offer: its tasks are dropped, as Mesos does.
			for _, ti := range tasks {
				c.dropTaskLocked(fw, ti, "Offer "+id+" is no longer valid")
			}
			return nil
		}
		offers = append(offers, o)
	}
	if len(offers) == 0 {
		return fmt.Errorf("Expecting at least one offer")
	}
	a := offers[0].agent
	pool := amounts{scalars: map[string]float64{}}
	for _, o := range offers {
		if o.agent != a {
			return fmt.Errorf("Aggregated offers must belong to one single agent")
		}
		s := sumResources(o.resources)
		for k, v := range s.scalars {
			pool.scalars[k] += v
		}
		pool.ports = append(pool.ports, s.ports...)
		c.removeOfferLocked(o.id)
	}
	for _, ti := range tasks {
		need := sumResources(ti.Resources)
		switch {
		case ti.AgentID.Value != a.info.ID.Value:
			c.errorTaskLocked(fw, ti, a, "Task uses an agent other than the offered one")
		case c.tasks[taskKey(fw.id, ti.TaskID.Value)] != nil:
			c.errorTaskLocked(fw, ti, a, "Task has duplicate ID: "+ti.TaskID.Value)
		case ti.Command == nil && ti.Executor == nil:
			c.errorTaskLocked(fw, ti, a, "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
		case !pool.covers(need):
			c.errorTaskLocked(fw, ti, a, "Task uses more resources than available")
		default:
			pool = pool.minus(need)
			c.launchLocked(fw, ti, behaviorOf(ti))
		}
	}
	c.refuseLocked(fw, a.info.ID.Value, pool, refuse)
	return nil
}

func (c *Cluster) errorTaskLocked(fw *framework, ti mesos.TaskInfo, a *agent, msg string) {
	t := &task{info: ti, framework: fw.id, state: mesos.TASK_ERROR}
	reason := mesos.REASON_TASK_INVALID
	c.statusLocked(t, mesos.TASK_ERROR, mesos.SOURCE_MASTER, &reason, msg, false)
}

func (c *Cluster) dropTaskLocked(fw *framework, ti mesos.TaskInfo, msg string) {
	t := &task{info: ti, framework: fw.id}
	reason := mesos.REASON_INVALID_OFFERS
	state := mesos.TASK_LOST
	if hasCapability(fw.info, mesos.FrameworkInfo_Capability_PARTITION_AWARE) {
		state = mesos.TASK_DROPPED
	}
	c.statusLocked(t, state, mesos.SOURCE_MASTER, &reason, msg, false)
}

func hasCapability(info mesos.FrameworkInfo, cap mesos.FrameworkInfo_Capability_Type) bool {
	for _, x := range info.Capabilities {
		if x.Type == cap {
			return true
		}
	}
	return false
}

// launchLocked adds a task in TASK_STAGING and schedules its life.
func (c *Cluster) launchLocked(fw *framework, ti mesos.TaskInfo, b behavior) *task {
	t := &task{info: ti, framework: fw.id, state: mesos.TASK_STAGING, behavior: b, startedAt: c.now()}
	if a := c.agentLocked(ti.AgentID.Value); a != nil {
		t.agentIP = a.ip
	}
	c.history = append(c.history, t)
	c.putTaskLocked(taskKey(fw.id, ti.TaskID.Value), t)
	c.attachSandboxLocked(t)
	c.notifyWatchersLocked(taskAddedEvent(t))
	// Each step is scheduled when the previous one has happened: timers
	// that fire late under load must not overtake one another.
	step := c.cfg.TaskStepDelay
	c.after(step, func() {
		if c.advance(t, mesos.TASK_STAGING, mesos.TASK_STARTING) {
			c.after(step, func() { c.advance(t, mesos.TASK_STARTING, mesos.TASK_RUNNING) })
		}
	})
	return t
}

// after runs f after d unless the cluster stops first.
func (c *Cluster) after(d time.Duration, f func()) {
	c.wgMu.Lock()
	if c.stopped {
		c.wgMu.Unlock()
		return
	}
	c.wg.Add(1)
	c.wgMu.Unlock()
	go func() {
		defer c.wg.Done()
		select {
		case <-time.After(d):
			f()
		case <-c.stop:
		}
	}()
}

// advance moves a task from one state to the next if it is still in it,
// and reports whether it did.
func (c *Cluster) advance(t *task, from, to mesos.TaskState) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.state != from || t.killing {
		return false
	}
	if to == mesos.TASK_RUNNING && t.behavior.start != nil {
		if err := t.behavior.start(c, t); err != nil {
			c.statusLocked(t, mesos.TASK_FAILED, mesos.SOURCE_EXECUTOR, nil, err.Error(), true)
			return false
		}
	}
	c.statusLocked(t, to, mesos.SOURCE_EXECUTOR, nil, "", true)
	if to == mesos.TASK_RUNNING && t.behavior.runFor > 0 {
		c.after(t.behavior.runFor, func() { c.finish(t, t.behavior.exitState, t.behavior.exitMessage) })
	}
	return true
}

// finish ends a running task with a terminal state.
func (c *Cluster) finish(t *task, state mesos.TaskState, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finishLocked(t, state, msg)
}

func (c *Cluster) finishLocked(t *task, state mesos.TaskState, msg string) {
	if isTerminal(t.state) || c.tasks[taskKey(t.framework, t.info.TaskID.Value)] != t {
		return
	}
	c.statusLocked(t, state, mesos.SOURCE_EXECUTOR, nil, msg, true)
}

// killLocked kills a task as the command executor does without the
// TASK_KILLING_STATE capability: straight to TASK_KILLED.
func (c *Cluster) killLocked(t *task) {
	if isTerminal(t.state) {
		return
	}
	t.killing = true
	c.statusLocked(t, mesos.TASK_KILLED, mesos.SOURCE_EXECUTOR, nil, "Command terminated with signal Terminated", true)
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR, mesos.TASK_LOST:
		return true
	}
	return false
}

// statusLocked records a status update, delivers it, and retires terminal tasks.
func (c *Cluster) statusLocked(t *task, state mesos.TaskState, source mesos.TaskStatus_Source, reason *mesos.TaskStatus_Reason, msg string, withUUID bool) {
	t.state = state
	now := float64(c.now().UnixNano()) / 1e9
	st := mesos.TaskStatus{
		TaskID:    t.info.TaskID,
		State:     &state,
		Source:    &source,
		Reason:    reason,
		AgentID:   &t.info.AgentID,
		Timestamp: &now,
	}
	if msg != "" {
		st.Message = &msg
	}
	if source == mesos.SOURCE_EXECUTOR {
		c.executorLogLocked(t, state, msg)
		// From the command executor: its id is the task's, and it reports
		// its container.
		st.ExecutorID = &mesos.ExecutorID{Value: t.info.TaskID.Value}
		st.ContainerStatus = c.containerStatusLocked(t)
	}
	if withUUID {
		b := make([]byte, 16)
		c.rnd.Read(b)
		st.UUID = b
		t.lastUUID = b
	}
	t.statuses = append(t.statuses, st)
	fw := c.frameworks[t.framework]
	if isTerminal(state) {
		t.endedAt = c.now()
		if t.behavior.stop != nil {
			t.behavior.stop(c, t)
		}
		key := taskKey(t.framework, t.info.TaskID.Value)
		if c.tasks[key] == t {
			c.removeTaskLocked(key)
		}
		c.retireLocked(t)
	}
	c.notifyWatchersLocked(taskUpdatedEvent(t, st))
	if fw == nil {
		return
	}
	if fw.internal != nil {
		fw.internal.update(c, fw, t)
		return
	}
	c.sendUpdateLocked(fw, st)
}

// retireLocked keeps a terminal task among its framework's completed
// ones, the oldest dropped past the master's limit.
func (c *Cluster) retireLocked(t *task) {
	ts := append(c.completed[t.framework], t)
	if n := len(ts) - c.cfg.MaxCompletedTasksPerFramework; n > 0 {
		ts = append(ts[:0:0], ts[n:]...)
	}
	c.completed[t.framework] = ts
}

// completedOfLocked are a framework's completed tasks, oldest first.
func (c *Cluster) completedOfLocked(fwID string) []*task { return c.completed[fwID] }

// containerStatusLocked is the container a task's command executor runs
// in, as an agent with the Mesos containerizer and host networking reports
// it: its id, the agent's address, the executor's pid.
func (c *Cluster) containerStatusLocked(t *task) *mesos.ContainerStatus {
	if t.containerID == "" {
		b := make([]byte, 16)
		c.rnd.Read(b)
		t.containerID = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		t.executorPID = uint32(1000 + c.rnd.Intn(60000))
	}
	ip, proto := t.agentIP, mesos.IPv4
	pid := t.executorPID
	return &mesos.ContainerStatus{
		ContainerID:  &mesos.ContainerID{Value: t.containerID},
		NetworkInfos: []mesos.NetworkInfo{{IPAddresses: []mesos.NetworkInfo_IPAddress{{Protocol: &proto, IPAddress: &ip}}}},
		ExecutorPID:  &pid,
	}
}

// loop runs offer cycles until Stop, AllocationInterval apart, or the
// time the last cycle took when that is longer: a big cluster's cycle
// must not hold the master's lock all the time.
func (c *Cluster) loop() {
	defer c.wg.Done()
	wait := c.cfg.AllocationInterval
	for {
		t := time.NewTimer(wait)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		}
		start := time.Now()
		c.allocate()
		wait = max(c.cfg.AllocationInterval, time.Since(start))
	}
}

// amounts are the task's resources summed (its resources never change).
func (t *task) amounts() amounts {
	if t.res == nil {
		a := sumResources(t.info.Resources)
		t.res = &a
	}
	return *t.res
}

// amounts are the offer's resources summed.
func (o *offer) amounts() amounts {
	if o.res == nil {
		a := sumResources(o.resources)
		o.res = &a
	}
	return *o.res
}

// rescindLocked withdraws a framework's outstanding offers.
func (c *Cluster) rescindLocked(fw *framework, notify bool) {
	for id, o := range c.offers {
		if o.framework == fw.id {
			c.removeOfferLocked(id)
			if notify {
				c.sendRescindLocked(fw, id)
			}
		}
	}
}
