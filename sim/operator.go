package sim

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// httpError answers as Mesos does: text/plain; charset=utf-8 with a Content-Length.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// negotiate applies Mesos' rules for /api/v1 calls: POST only (405 with
// Allow), Content-Type compared exactly (missing 400, other 415), and the
// response encoding from Accept (406 when nothing acceptable).
func negotiate(w http.ResponseWriter, r *http.Request) (in, out encoding, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Expecting 'POST', received '%s'", r.Method))
		return in, out, false
	}
	switch ct := r.Header.Get("Content-Type"); ct {
	case "":
		httpError(w, http.StatusBadRequest, "Expecting 'Content-Type' to be present")
		return in, out, false
	case "application/json":
	case "application/x-protobuf":
		in.proto = true
	default:
		httpError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf")
		return in, out, false
	}
	accept := r.Header.Get("Accept")
	switch {
	case accept == "" || strings.Contains(accept, "application/json") || strings.Contains(accept, "*/*"):
	case strings.Contains(accept, "application/x-protobuf"):
		out.proto = true
	default:
		httpError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf")
		return in, out, false
	}
	return in, out, true
}

// readCall decodes a call body. typeOK reports whether the JSON names a known
// call type; Mesos drops unknown enum names and then finds no type.
func readCall(w http.ResponseWriter, r *http.Request, in encoding, m interface {
	Unmarshal([]byte) error
}, knownType func(string) bool) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		httpError(w, http.StatusBadRequest, "Failed to read body: "+err.Error())
		return false
	}
	if in.proto {
		if err := m.Unmarshal(body); err != nil {
			httpError(w, http.StatusBadRequest, "Failed to parse body into Call protobuf")
			return false
		}
		return true
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		httpError(w, http.StatusBadRequest, "Failed to parse body into JSON: "+err.Error())
		return false
	}
	if t, _ := raw["type"].(string); !knownType(t) {
		httpError(w, http.StatusBadRequest, "Failed to validate Call: Expecting 'type' to be present")
		return false
	}
	if err := json.Unmarshal(body, m); err != nil {
		httpError(w, http.StatusBadRequest, "Failed to convert JSON into Call protobuf: "+err.Error())
		return false
	}
	return true
}

func writeMessage(w http.ResponseWriter, enc encoding, m message) {
	b, err := enc.marshal(m)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// operatorCalls are the operator calls the simulator answers.
var operatorCalls = map[master.Call_Type]bool{
	master.Call_GET_MASTER: true, master.Call_GET_STATE: true, master.Call_GET_FRAMEWORKS: true,
	master.Call_GET_TASKS: true, master.Call_GET_AGENTS: true, master.Call_TEARDOWN: true,
	master.Call_SUBSCRIBE: true, master.Call_GET_VERSION: true, master.Call_GET_HEALTH: true,
	master.Call_GET_WEIGHTS: true, master.Call_UPDATE_WEIGHTS: true,
	master.Call_GET_QUOTA: true, master.Call_UPDATE_QUOTA: true,
}

func (c *Cluster) serveOperator(m *masterEndpoint, w http.ResponseWriter, r *http.Request) {
	in, out, ok := negotiate(w, r)
	if !ok {
		return
	}
	var call master.Call
	if !readCall(w, r, in, &call, func(t string) bool { _, ok := master.Call_Type_value[t]; return ok }) {
		return
	}
	if call.Type == master.Call_UNKNOWN {
		httpError(w, http.StatusNotImplemented, "501 Not Implemented.")
		return
	}
	if !operatorCalls[call.Type] {
		httpError(w, http.StatusNotImplemented, fmt.Sprintf("%s is not implemented by the simulator", call.Type))
		return
	}
	switch call.Type {
	case master.Call_SUBSCRIBE:
		c.serveOperatorSubscribe(w, r, out)
		return
	case master.Call_TEARDOWN:
		id := call.GetTeardown().GetFrameworkID().Value
		c.mu.Lock()
		fw := c.frameworks[id]
		if fw == nil || fw.removed {
			c.mu.Unlock()
			httpError(w, http.StatusBadRequest, "No framework found with ID "+id)
			return
		}
		c.removeFrameworkLocked(fw)
		c.mu.Unlock()
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK) // empty body, no Content-Type
		return
	case master.Call_UPDATE_QUOTA:
		configs := call.GetUpdateQuota().GetQuotaConfigs()
		for _, qc := range configs {
			if qc.Role == "" || qc.Role == "*" {
				httpError(w, http.StatusBadRequest, "Invalid QuotaConfig: 'role' must be set and not '*'")
				return
			}
			for name, g := range qc.Guarantees {
				if l, ok := qc.Limits[name]; ok && g.Value > l.Value {
					httpError(w, http.StatusBadRequest, fmt.Sprintf("Invalid QuotaConfig: guarantee '%s:%v' is greater than limit '%s:%v'", name, g.Value, name, l.Value))
					return
				}
			}
		}
		c.mu.Lock()
		// The overcommit check of Mesos 1.12's quota handler: with the
		// configs applied, the guarantees of top-level roles must fit the
		// total of every registered agent, unless the call forces.
		next := maps.Clone(c.quotas)
		for _, qc := range configs {
			next[qc.Role] = qc
		}
		total, capacity := map[string]float64{}, map[string]float64{}
		for role, qc := range next {
			if !strings.Contains(role, "/") {
				for name, g := range qc.Guarantees {
					total[name] += g.Value
				}
			}
		}
		for _, a := range c.agents {
			if a.listed() {
				for name, v := range sumResources(a.total).scalars {
					capacity[name] += v
				}
			}
		}
		for name, v := range total {
			if v > capacity[name]+1e-9 && !call.GetUpdateQuota().GetForce() {
				c.mu.Unlock()
				httpError(w, http.StatusBadRequest, fmt.Sprintf("Invalid QuotaConfig: total quota guarantees '%s' exceed cluster capacity '%s' (use 'force' flag to bypass this check)",
					resourceQuantities(total), resourceQuantities(capacity)))
				return
			}
		}
		for _, qc := range configs {
			if len(qc.Guarantees) == 0 && len(qc.Limits) == 0 {
				delete(c.quotas, qc.Role) // back to the default: no guarantee, no limit
			} else {
				c.quotas[qc.Role] = qc
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK) // empty body, no Content-Type
		return
	case master.Call_UPDATE_WEIGHTS:
		infos := call.GetUpdateWeights().GetWeightInfos()
		for _, wi := range infos {
			if wi.GetRole() == "" || wi.GetRole() == "*" || wi.Weight <= 0 {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("Invalid weight for role '%s': weights must be positive and roles named", wi.GetRole()))
				return
			}
		}
		c.mu.Lock()
		for _, wi := range infos {
			c.weights[wi.GetRole()] = wi.Weight
		}
		c.mu.Unlock()
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK) // empty body, no Content-Type
		return
	}
	c.mu.Lock()
	resp := c.operatorResponseLocked(m, call.Type)
	c.mu.Unlock()
	writeMessage(w, out, resp)
}

// resourceQuantities writes amounts as Mesos' ResourceQuantities do:
// "cpus:1; mem:1024" in name order, zeros left out, "{}" for none.
func resourceQuantities(m map[string]float64) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if m[name] > 0 {
			parts = append(parts, name+":"+strconv.FormatFloat(m[name], 'f', -1, 64))
		}
	}
	if len(parts) == 0 {
		return "{}"
	}
	return strings.Join(parts, "; ")
}

func (c *Cluster) operatorResponseLocked(m *masterEndpoint, t master.Call_Type) *master.Response {
	// Response and Call types are different enums with different numbers:
	// map by name.
	resp := &master.Response{Type: master.Response_Type(master.Response_Type_value[t.String()])}
	switch t {
	case master.Call_GET_MASTER:
		start := float64(c.startTime.UnixNano()) / 1e9
		resp.GetMaster = &master.Response_GetMaster{MasterInfo: c.masterInfoLocked(m), StartTime: &start, ElectedTime: &start}
	case master.Call_GET_STATE:
		resp.GetState = c.stateLocked()
	case master.Call_GET_FRAMEWORKS:
		resp.GetFrameworks = c.frameworksLocked()
	case master.Call_GET_TASKS:
		resp.GetTasks = c.tasksLocked()
	case master.Call_GET_AGENTS:
		resp.GetAgents = c.agentsLocked()
	case master.Call_GET_VERSION:
		resp.GetVersion = &master.Response_GetVersion{VersionInfo: versionInfo()}
	case master.Call_GET_HEALTH:
		resp.GetHealth = &master.Response_GetHealth{Healthy: true}
	case master.Call_GET_QUOTA:
		resp.GetQuota = &master.Response_GetQuota{}
		for _, r := range slices.Sorted(maps.Keys(c.quotas)) {
			resp.GetQuota.Status.Configs = append(resp.GetQuota.Status.Configs, c.quotas[r])
		}
	case master.Call_GET_WEIGHTS:
		resp.GetWeights = &master.Response_GetWeights{}
		for _, r := range slices.Sorted(maps.Keys(c.weights)) {
			resp.GetWeights.WeightInfos = append(resp.GetWeights.WeightInfos, mesos.WeightInfo{Role: strPtr(r), Weight: c.weights[r]})
		}
	}
	return resp
}

func (c *Cluster) stateLocked() *master.Response_GetState {
	return &master.Response_GetState{
		GetTasks:      c.tasksLocked(),
		GetExecutors:  &master.Response_GetExecutors{},
		GetFrameworks: c.frameworksLocked(),
		GetAgents:     c.agentsLocked(),
	}
}

// ipUint32 encodes an IPv4 address as Mesos' MasterInfo.ip: network byte
// order read as a little-endian integer.
func ipUint32(ip string) uint32 {
	v4 := net.ParseIP(ip).To4()
	if v4 == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(v4)
}

func (c *Cluster) masterInfoLocked(m *masterEndpoint) *mesos.MasterInfo {
	leader := c.masters[c.leader]
	if m == nil {
		m = leader
	}
	host, portStr, _ := net.SplitHostPort(m.addr)
	port, _ := strconv.Atoi(portStr)
	hostname := host
	p32 := uint32(port)
	return &mesos.MasterInfo{
		ID:       c.masterID,
		IP:       ipUint32(host),
		Port:     &p32,
		PID:      strPtr("master@" + m.addr),
		Hostname: &hostname,
		Version:  strPtr(Version),
		Address:  &mesos.Address{Hostname: &hostname, IP: &host, Port: int32(port)},
		// AGENT_UPDATE, AGENT_DRAINING and QUOTA_V2 (3: newer than
		// mesos-go's protos), as a 1.12 master advertises.
		Capabilities: []mesos.MasterInfo_Capability{{Type: mesos.MasterInfo_Capability_AGENT_UPDATE},
			{Type: mesos.MasterInfo_Capability_AGENT_DRAINING}, {Type: 3}},
	}
}

// Build facts of the simulated master's "build" (GET_VERSION, /state).
const (
	buildDate = "2026-01-01 00:00:00"
	buildUser = "sim"
	gitSHA    = "0000000000000000000000000000000000000000"
	gitBranch = "refs/tags/1.12.0"
)

var buildTime = float64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix())

func versionInfo() mesos.VersionInfo {
	bt := buildTime
	return mesos.VersionInfo{Version: Version, BuildDate: strPtr(buildDate), BuildTime: &bt, BuildUser: strPtr(buildUser),
		GitSHA: strPtr(gitSHA), GitBranch: strPtr(gitBranch)}
}

// agentCapabilities are what a Mesos 1.12 agent reports.
var agentCapabilities = []mesos.AgentInfo_Capability{
	{Type: mesos.AgentInfo_Capability_MULTI_ROLE}, {Type: mesos.AgentInfo_Capability_HIERARCHICAL_ROLE},
	{Type: mesos.AgentInfo_Capability_RESERVATION_REFINEMENT}, {Type: mesos.AgentInfo_Capability_RESOURCE_PROVIDER},
	{Type: mesos.AgentInfo_Capability_RESIZE_VOLUME}, {Type: mesos.AgentInfo_Capability_AGENT_OPERATION_FEEDBACK},
	{Type: mesos.AgentInfo_Capability_AGENT_DRAINING}, {Type: mesos.AgentInfo_Capability_TASK_RESOURCE_LIMITS},
}

// preRefinement writes unreserved resources in the pre-reservation-
// refinement format, with the deprecated role "*", as a master does in an
// agent's total, allocated and offered resources and a framework's
// allocated and offered ones (not in agent_info, tasks or the offers
// GET_FRAMEWORKS lists).
func preRefinement(rs []mesos.Resource) []mesos.Resource {
	out := make([]mesos.Resource, len(rs))
	star := "*"
	for i, r := range rs {
		if r.Role == nil && len(r.Reservations) == 0 {
			r.Role = &star
		}
		out[i] = r
	}
	return out
}

// postRefinement drops the deprecated role of unreserved resources.
func postRefinement(rs []mesos.Resource) []mesos.Resource {
	out := make([]mesos.Resource, len(rs))
	for i, r := range rs {
		if r.Role != nil && *r.Role == "*" {
			r.Role = nil
		}
		out[i] = r
	}
	return out
}

func (c *Cluster) taskProtoLocked(t *task) mesos.Task {
	state := t.state
	out := mesos.Task{
		Name:        t.info.Name,
		TaskID:      t.info.TaskID,
		FrameworkID: mesos.FrameworkID{Value: t.framework},
		AgentID:     t.info.AgentID,
		State:       &state,
		Resources:   t.info.Resources,
		Statuses:    t.statuses,
		Labels:      t.info.Labels,
		Discovery:   t.info.Discovery,
		KillPolicy:  t.info.KillPolicy,
	}
	if t.info.Container != nil {
		out.Container = t.info.Container
	}
	if n := len(t.statuses); n > 0 {
		last := t.statuses[n-1]
		out.StatusUpdateState = last.State
		out.StatusUpdateUUID = last.UUID
	}
	return out
}

func (c *Cluster) tasksLocked() *master.Response_GetTasks {
	resp := &master.Response_GetTasks{}
	for _, k := range slices.Sorted(maps.Keys(c.tasks)) {
		resp.Tasks = append(resp.Tasks, c.taskProtoLocked(c.tasks[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(c.unreachable)) {
		resp.UnreachableTasks = append(resp.UnreachableTasks, c.taskProtoLocked(c.unreachable[k]))
	}
	for _, t := range c.allCompletedLocked() {
		if t.state == mesos.TASK_ERROR || t.state == mesos.TASK_DROPPED {
			continue // never launched: Mesos does not list them
		}
		resp.CompletedTasks = append(resp.CompletedTasks, c.taskProtoLocked(t))
	}
	return resp
}

// allCompletedLocked are the completed tasks of every framework kept,
// by framework id, oldest first within one.
func (c *Cluster) allCompletedLocked() []*task {
	var out []*task
	for _, id := range slices.Sorted(maps.Keys(c.completed)) {
		out = append(out, c.completed[id]...)
	}
	return out
}

// usage is what the live tasks hold and the outstanding offers hold out,
// by agent id and by framework id.
type usage struct {
	usedOn, usedBy, offeredOn, offeredTo map[string][]mesos.Resource
	offersTo                             map[string][]*offer
}

func (c *Cluster) usageLocked() usage {
	u := usage{usedOn: map[string][]mesos.Resource{}, usedBy: map[string][]mesos.Resource{},
		offeredOn: map[string][]mesos.Resource{}, offeredTo: map[string][]mesos.Resource{}, offersTo: map[string][]*offer{}}
	for _, t := range c.tasks {
		u.usedOn[t.info.AgentID.Value] = append(u.usedOn[t.info.AgentID.Value], t.info.Resources...)
		u.usedBy[t.framework] = append(u.usedBy[t.framework], t.info.Resources...)
	}
	for _, o := range c.offers {
		id := o.agent.info.ID.Value
		u.offeredOn[id] = append(u.offeredOn[id], o.resources...)
		u.offeredTo[o.framework] = append(u.offeredTo[o.framework], o.resources...)
		u.offersTo[o.framework] = append(u.offersTo[o.framework], o)
	}
	return u
}

func (c *Cluster) frameworksLocked() *master.Response_GetFrameworks {
	resp := &master.Response_GetFrameworks{}
	ids := slices.Sorted(maps.Keys(c.frameworks))
	u := c.usageLocked()
	for _, id := range ids {
		fw := c.frameworks[id]
		f := master.Response_GetFrameworks_Framework{
			FrameworkInfo:    fw.info,
			Active:           fw.active && !fw.removed,
			Connected:        fw.connected && !fw.removed,
			RegisteredTime:   timeInfo(fw.regTime),
			ReregisteredTime: timeInfo(fw.reregTime),
		}
		for _, o := range u.offersTo[id] {
			p := o.proto()
			p.Resources = postRefinement(p.Resources)
			f.Offers = append(f.Offers, p)
		}
		f.AllocatedResources, f.OfferedResources = preRefinement(u.usedBy[id]), preRefinement(u.offeredTo[id])
		if fw.removed {
			f.UnregisteredTime = timeInfo(fw.unregTime)
			resp.CompletedFrameworks = append(resp.CompletedFrameworks, f)
			continue
		}
		resp.Frameworks = append(resp.Frameworks, f)
	}
	return resp
}

func (c *Cluster) agentsLocked() *master.Response_GetAgents {
	resp := &master.Response_GetAgents{}
	u := c.usageLocked()
	for _, a := range c.agents {
		if !a.listed() {
			continue // removed (unreachable) agents are not listed
		}
		resp.Agents = append(resp.Agents, c.agentProtoLocked(a, u))
	}
	return resp
}

func (c *Cluster) agentProtoLocked(a *agent, u usage) master.Response_GetAgents_Agent {
	alloc, offered := u.usedOn[a.info.ID.Value], u.offeredOn[a.info.ID.Value]
	deactivated := false
	return master.Response_GetAgents_Agent{
		AgentInfo:          a.info,
		Active:             a.active,
		Deactivated:        &deactivated,
		Version:            Version,
		PID:                strPtr(fmt.Sprintf("slave(1)@%s:%d", a.ip, a.info.GetPort())),
		RegisteredTime:     timeInfo(a.regTime),
		TotalResources:     preRefinement(a.total),
		AllocatedResources: preRefinement(alloc),
		OfferedResources:   preRefinement(offered),
		Capabilities:       agentCapabilities,
	}
}

// agentAddedLocked tells the event streams an agent (re)registered.
func (c *Cluster) agentAddedLocked(a *agent) {
	if len(c.watchers) == 0 {
		return
	}
	c.notifyWatchersLocked(&master.Event{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: c.agentProtoLocked(a, c.usageLocked())}})
}

// agentRemovedLocked tells the event streams an agent was removed.
func (c *Cluster) agentRemovedLocked(a *agent) {
	c.notifyWatchersLocked(&master.Event{Type: master.Event_AGENT_REMOVED, AgentRemoved: &master.Event_AgentRemoved{AgentID: *a.info.ID}})
}

// serveOperatorSubscribe streams cluster events: SUBSCRIBED with the whole
// state, then TASK_ADDED, TASK_UPDATED, AGENT_*, FRAMEWORK_* and HEARTBEAT.
func (c *Cluster) serveOperatorSubscribe(w http.ResponseWriter, r *http.Request, enc encoding) {
	s := newStream("", enc)
	c.mu.Lock()
	hb := c.cfg.HeartbeatInterval.Seconds()
	s.send(&master.Event{Type: master.Event_SUBSCRIBED, Subscribed: &master.Event_Subscribed{GetState: c.stateLocked(), HeartbeatIntervalSeconds: &hb}})
	s.send(&master.Event{Type: master.Event_HEARTBEAT})
	c.watchers = append(c.watchers, s)
	c.mu.Unlock()
	s.serve(w, r, c.cfg.HeartbeatInterval, func() message { return &master.Event{Type: master.Event_HEARTBEAT} })
	c.mu.Lock()
	for i, x := range c.watchers {
		if x == s {
			c.watchers = append(c.watchers[:i], c.watchers[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
}

func (c *Cluster) notifyWatchersLocked(ev *master.Event) {
	if ev == nil {
		return
	}
	for _, s := range c.watchers {
		s.send(ev)
	}
}

func taskAddedEvent(t *task) *master.Event {
	state := t.state
	return &master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: mesos.Task{
		Name: t.info.Name, TaskID: t.info.TaskID, FrameworkID: mesos.FrameworkID{Value: t.framework},
		AgentID: t.info.AgentID, State: &state, Resources: t.info.Resources, Labels: t.info.Labels,
	}}}
}

func taskUpdatedEvent(t *task, st mesos.TaskStatus) *master.Event {
	return &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
		FrameworkID: mesos.FrameworkID{Value: t.framework}, Status: st, State: st.State,
	}}
}
