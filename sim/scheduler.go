package sim

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func (c *Cluster) serveScheduler(m *masterEndpoint, w http.ResponseWriter, r *http.Request) {
	in, out, ok := negotiate(w, r)
	if !ok {
		return
	}
	var call scheduler.Call
	if !readCall(w, r, in, &call, func(t string) bool { _, ok := scheduler.Call_Type_value[t]; return ok }) {
		return
	}
	if call.Type == scheduler.Call_UNKNOWN {
		httpError(w, http.StatusNotImplemented, "501 Not Implemented.")
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		c.subscribe(m, w, r, out, &call)
		return
	}
	streamID := r.Header.Get("Mesos-Stream-Id")
	if streamID == "" {
		httpError(w, http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
		return
	}
	if call.FrameworkID == nil || call.FrameworkID.Value == "" {
		httpError(w, http.StatusBadRequest, "Expecting 'framework_id' to be present")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fw := c.frameworks[call.FrameworkID.Value]
	switch {
	case fw == nil || fw.removed:
		httpError(w, http.StatusBadRequest, "Framework cannot be found")
		return
	case !fw.connected || fw.stream == nil:
		httpError(w, http.StatusForbidden, "Framework is not subscribed")
		return
	case fw.stream.id != streamID:
		httpError(w, http.StatusBadRequest, "The stream ID '"+streamID+"' included in this request didn't match the stream ID currently associated with framework ID "+fw.id)
		return
	}
	if err := c.schedulerCallLocked(fw, &call); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

func (c *Cluster) schedulerCallLocked(fw *framework, call *scheduler.Call) error {
	switch call.Type {
	case scheduler.Call_ACCEPT:
		a := call.GetAccept()
		var ids []string
		for _, o := range a.GetOfferIDs() {
			ids = append(ids, o.Value)
		}
		var tasks []mesos.TaskInfo
		for _, op := range a.GetOperations() {
			if op.GetType() == mesos.Offer_Operation_LAUNCH {
				tasks = append(tasks, op.GetLaunch().GetTaskInfos()...)
			}
		}
		return c.acceptLocked(fw, ids, tasks, refuseSeconds(a.GetFilters()))
	case scheduler.Call_DECLINE:
		d := call.GetDecline()
		for _, o := range d.GetOfferIDs() {
			if off, ok := c.offers[o.Value]; ok && off.framework == fw.id {
				c.removeOfferLocked(o.Value)
				c.refuseLocked(fw, off.agent.info.ID.Value, sumResources(off.resources), refuseSeconds(d.GetFilters()))
			}
		}
	case scheduler.Call_KILL:
		k := call.GetKill()
		if t := c.tasks[taskKey(fw.id, k.GetTaskID().Value)]; t != nil {
			c.killLocked(t)
			return nil
		}
		// An unknown task: Mesos answers with TASK_LOST (TASK_UNKNOWN for
		// partition-aware frameworks).
		state := mesos.TASK_LOST
		if hasCapability(fw.info, mesos.FrameworkInfo_Capability_PARTITION_AWARE) {
			state = mesos.TASK_UNKNOWN
		}
		ti := mesos.TaskInfo{TaskID: k.GetTaskID()}
		if k.AgentID != nil {
			ti.AgentID = *k.AgentID
		}
		reason := mesos.REASON_RECONCILIATION
		t := &task{info: ti, framework: fw.id}
		c.statusLocked(t, state, mesos.SOURCE_MASTER, &reason, "Attempted to kill an unknown task", false)
	case scheduler.Call_ACKNOWLEDGE:
		a := call.GetAcknowledge()
		if t := c.tasks[taskKey(fw.id, a.GetTaskID().Value)]; t != nil && bytes.Equal(t.lastUUID, a.GetUUID()) {
			t.lastUUID = nil
		}
	case scheduler.Call_RECONCILE:
		c.reconcileLocked(fw, call.GetReconcile().GetTasks())
	case scheduler.Call_SUPPRESS:
		fw.suppressed = true
		c.rescindLocked(fw, true)
	case scheduler.Call_REVIVE:
		fw.suppressed = false
		fw.filters = nil // REVIVE clears every decline filter
	case scheduler.Call_TEARDOWN:
		c.removeFrameworkLocked(fw)
	case scheduler.Call_MESSAGE, scheduler.Call_REQUEST, scheduler.Call_SHUTDOWN:
	default:
		return fmt.Errorf("call %s is not implemented by the simulator", call.Type)
	}
	return nil
}

func refuseSeconds(f *mesos.Filters) float64 {
	if f == nil || f.RefuseSeconds == nil {
		return 5
	}
	return *f.RefuseSeconds
}

// reconcileLocked answers RECONCILE: the latest state of each named task, or
// of every task of the framework when none is named, from the master, with
// REASON_RECONCILIATION and no uuid (so never to be acknowledged).
func (c *Cluster) reconcileLocked(fw *framework, asked []scheduler.Call_Reconcile_Task) {
	reason := mesos.REASON_RECONCILIATION
	send := func(t *task, state mesos.TaskState, msg string) {
		now := float64(c.now().UnixNano()) / 1e9
		src := mesos.SOURCE_MASTER
		st := mesos.TaskStatus{TaskID: t.info.TaskID, State: &state, Source: &src, Reason: &reason, Message: &msg, AgentID: &t.info.AgentID, Timestamp: &now}
		if n := len(t.statuses); n > 0 {
			st.ContainerStatus = t.statuses[n-1].ContainerStatus // the latest known, as Mesos keeps it
		}
		if fw.internal != nil {
			return
		}
		c.sendUpdateLocked(fw, st)
	}
	if len(asked) == 0 {
		for _, t := range c.tasks {
			if t.framework == fw.id {
				send(t, t.state, "Reconciliation: Latest task state")
			}
		}
		return
	}
	aware := hasCapability(fw.info, mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	for _, a := range asked {
		if t := c.tasks[taskKey(fw.id, a.TaskID.Value)]; t != nil {
			send(t, t.state, "Reconciliation: Latest task state")
			continue
		}
		ghost := &task{info: mesos.TaskInfo{TaskID: a.TaskID}, framework: fw.id}
		if a.AgentID != nil {
			ghost.info.AgentID = *a.AgentID
		}
		switch ag := c.agentLocked(ghost.info.AgentID.Value); {
		case ag != nil && ag.active && aware:
			send(ghost, mesos.TASK_GONE, "Reconciliation: Task is unknown to the agent")
		case ag != nil && ag.active:
			send(ghost, mesos.TASK_LOST, "Reconciliation: Task is unknown to the agent")
		case ag != nil && aware:
			send(ghost, mesos.TASK_UNREACHABLE, "Reconciliation: Task is unreachable")
		case aware:
			send(ghost, mesos.TASK_UNKNOWN, "Reconciliation: Task is unknown")
		default:
			send(ghost, mesos.TASK_LOST, "Reconciliation: Task is unknown")
		}
	}
}

// subscribe handles SUBSCRIBE: a new framework, or a re-subscription with
// its id (after a disconnection or a master failover).
func (c *Cluster) subscribe(m *masterEndpoint, w http.ResponseWriter, r *http.Request, enc encoding, call *scheduler.Call) {
	if r.Header.Get("Mesos-Stream-Id") != "" {
		httpError(w, http.StatusBadRequest, "Expecting no 'Mesos-Stream-Id' header for SUBSCRIBE")
		return
	}
	sub := call.GetSubscribe()
	if sub == nil {
		httpError(w, http.StatusBadRequest, "Expecting 'subscribe' to be present")
		return
	}
	info := sub.FrameworkInfo
	callID, infoID := call.GetFrameworkID().GetValue(), info.GetID().GetValue()
	if callID != infoID {
		httpError(w, http.StatusBadRequest, "'framework_id' differs from 'subscribe.framework_info.id'")
		return
	}
	if info.User == "" || info.Name == "" {
		httpError(w, http.StatusBadRequest, "Expecting 'framework_info.user' and 'framework_info.name' to be present")
		return
	}
	if p, _, ok := r.BasicAuth(); ok && info.Principal != nil && *info.Principal != p {
		httpError(w, http.StatusForbidden, "Authenticated principal '"+p+"' does not match principal '"+*info.Principal+"' set in `FrameworkInfo`")
		return
	}
	c.mu.Lock()
	s := newStream(c.uuid(), enc)
	var fw *framework
	removed := false
	if infoID != "" {
		fw = c.frameworks[infoID]
		removed = fw != nil && fw.removed
	}
	switch {
	case removed:
		// Mesos accepts the connection, then sends one ERROR and closes.
		s.send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework has been removed"}})
		s.close()
		c.mu.Unlock()
		s.serve(w, r, c.cfg.HeartbeatInterval, heartbeatEvent)
		return
	case fw == nil:
		id := infoID
		if id == "" {
			id = fmt.Sprintf("%s-%04d", c.masterID, c.next("framework"))
		}
		fw = &framework{id: id, regTime: c.now()}
		fw.reregTime = fw.regTime
		c.frameworks[id] = fw
	default:
		if fw.stream != nil {
			old := fw.stream
			old.send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework failed over"}})
			old.close()
		}
		fw.reregTime = c.now()
	}
	info.ID = &mesos.FrameworkID{Value: fw.id}
	if info.Principal == nil {
		if p, _, ok := r.BasicAuth(); ok {
			info.Principal = &p
		}
	}
	fw.info, fw.stream, fw.connected, fw.active, fw.failedAt = *info, s, true, true, time.Time{}
	fw.suppressed = len(sub.SuppressedRoles) > 0
	hb := c.cfg.HeartbeatInterval.Seconds()
	s.send(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &mesos.FrameworkID{Value: fw.id}, HeartbeatIntervalSeconds: &hb, MasterInfo: c.masterInfoLocked(m),
	}})
	s.send(heartbeatEvent())
	if fw.regTime.Equal(fw.reregTime) {
		c.notifyWatchersLocked(&master.Event{Type: master.Event_FRAMEWORK_ADDED, FrameworkAdded: &master.Event_FrameworkAdded{Framework: c.frameworkProtoLocked(fw)}})
	} else {
		// A known framework subscribing again: Mesos' sendFrameworkUpdates.
		c.notifyWatchersLocked(&master.Event{Type: master.Event_FRAMEWORK_UPDATED, FrameworkUpdated: &master.Event_FrameworkUpdated{Framework: c.frameworkProtoLocked(fw)}})
	}
	c.mu.Unlock()

	s.serve(w, r, c.cfg.HeartbeatInterval, heartbeatEvent)

	c.mu.Lock()
	defer c.mu.Unlock()
	if fw.stream == s {
		c.disconnectLocked(fw)
	}
}

func heartbeatEvent() message { return &scheduler.Event{Type: scheduler.Event_HEARTBEAT} }

func (c *Cluster) frameworkProtoLocked(fw *framework) master.Response_GetFrameworks_Framework {
	return master.Response_GetFrameworks_Framework{FrameworkInfo: fw.info, Active: fw.active, Connected: fw.connected,
		RegisteredTime: timeInfo(fw.regTime), ReregisteredTime: timeInfo(fw.reregTime)}
}

// disconnectLocked marks a framework disconnected; after its failover
// timeout (0 by default: at once) Mesos removes it and kills its tasks.
func (c *Cluster) disconnectLocked(fw *framework) {
	fw.stream, fw.connected, fw.active = nil, false, false
	fw.filters = nil // the allocator drops a deactivated framework's filters
	c.rescindLocked(fw, false)
	timeout := time.Duration(fw.info.GetFailoverTimeout() * float64(time.Second))
	if timeout <= 0 {
		c.removeFrameworkLocked(fw)
		return
	}
	fw.failedAt = c.now()
	marker := fw.failedAt
	c.after(timeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !fw.connected && fw.failedAt.Equal(marker) && !fw.removed {
			c.removeFrameworkLocked(fw)
		}
	})
}

// removeFrameworkLocked tears a framework down: its tasks are killed, its
// offers rescinded, its stream ends (without an ERROR event), and its id can
// never subscribe again.
func (c *Cluster) removeFrameworkLocked(fw *framework) {
	if fw.removed {
		return
	}
	fw.removed, fw.active, fw.connected = true, false, false
	fw.unregTime = c.now()
	c.completedFrameworks = append(c.completedFrameworks, fw.id)
	if len(c.completedFrameworks) > c.cfg.MaxCompletedFrameworks {
		// The oldest completed framework is forgotten, with its tasks.
		old := c.completedFrameworks[0]
		c.completedFrameworks = c.completedFrameworks[1:]
		delete(c.frameworks, old)
		delete(c.completed, old)
	}
	c.rescindLocked(fw, false)
	for _, t := range c.tasks {
		if t.framework == fw.id {
			c.killLocked(t)
		}
	}
	if fw.stream != nil {
		fw.stream.close()
		fw.stream = nil
	}
	c.notifyWatchersLocked(&master.Event{Type: master.Event_FRAMEWORK_REMOVED, FrameworkRemoved: &master.Event_FrameworkRemoved{FrameworkInfo: fw.info}})
}

func (c *Cluster) sendOffersLocked(fw *framework, offers []*offer) {
	if fw.stream == nil {
		return
	}
	ev := &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{}}
	for _, o := range offers {
		ev.Offers.Offers = append(ev.Offers.Offers, o.proto())
	}
	fw.stream.send(ev)
}

func (c *Cluster) sendRescindLocked(fw *framework, offerID string) {
	if fw.stream != nil {
		fw.stream.send(&scheduler.Event{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: offerID}}})
	}
}

func (c *Cluster) sendUpdateLocked(fw *framework, st mesos.TaskStatus) {
	if fw.stream != nil {
		fw.stream.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
	}
}
