package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// The v0 state endpoint (GET /master/state, /state): the master's own JSON
// model of itself (master/http.cpp and common/http.cpp), which tools such
// as Spark's and Marathon's UIs read. Unlike the v1 API it writes
// resources as objects of amounts, attributes as an object, agents as
// "slaves", times as seconds, and every list even when empty.

type legacyState struct {
	Version                string            `json:"version"`
	GitSHA                 string            `json:"git_sha"`
	GitBranch              string            `json:"git_branch"`
	BuildDate              string            `json:"build_date"`
	BuildTime              float64           `json:"build_time"`
	BuildUser              string            `json:"build_user"`
	StartTime              float64           `json:"start_time"`
	ElectedTime            float64           `json:"elected_time"`
	ID                     string            `json:"id"`
	PID                    string            `json:"pid"`
	Hostname               string            `json:"hostname"`
	Capabilities           []string          `json:"capabilities"`
	ActivatedSlaves        int               `json:"activated_slaves"`
	DeactivatedSlaves      int               `json:"deactivated_slaves"`
	UnreachableSlaves      int               `json:"unreachable_slaves"`
	Cluster                string            `json:"cluster"`
	Leader                 string            `json:"leader"`
	LeaderInfo             legacyLeader      `json:"leader_info"`
	Flags                  map[string]string `json:"flags"`
	Slaves                 []legacySlave     `json:"slaves"`
	RecoveredSlaves        []any             `json:"recovered_slaves"`
	Frameworks             []legacyFramework `json:"frameworks"`
	CompletedFrameworks    []legacyFramework `json:"completed_frameworks"`
	OrphanTasks            []legacyTask      `json:"orphan_tasks"`
	UnregisteredFrameworks []string          `json:"unregistered_frameworks"`
}

type legacyLeader struct {
	ID       string `json:"id"`
	PID      string `json:"pid"`
	Port     uint32 `json:"port"`
	Hostname string `json:"hostname"`
}

type legacySlave struct {
	ID                  string             `json:"id"`
	PID                 string             `json:"pid"`
	Hostname            string             `json:"hostname"`
	Port                int32              `json:"port"`
	RegisteredTime      float64            `json:"registered_time"`
	Resources           map[string]any     `json:"resources"`
	UsedResources       map[string]any     `json:"used_resources"`
	OfferedResources    map[string]any     `json:"offered_resources"`
	ReservedResources   map[string]any     `json:"reserved_resources"`
	UnreservedResources map[string]any     `json:"unreserved_resources"`
	Attributes          map[string]any     `json:"attributes"`
	Active              bool               `json:"active"`
	Deactivated         bool               `json:"deactivated"`
	Version             string             `json:"version"`
	Capabilities        []string           `json:"capabilities"`
	ReservedByRole      map[string]float64 `json:"-"`
}

type legacyFramework struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	PID              string         `json:"pid,omitempty"`
	User             string         `json:"user"`
	FailoverTimeout  float64        `json:"failover_timeout"`
	Checkpoint       bool           `json:"checkpoint"`
	Hostname         string         `json:"hostname"`
	WebUIURL         string         `json:"webui_url"`
	Principal        string         `json:"principal,omitempty"`
	Roles            []string       `json:"roles"`
	Capabilities     []string       `json:"capabilities"`
	OfferConstraints struct{}       `json:"offer_constraints"`
	Active           bool           `json:"active"`
	Connected        bool           `json:"connected"`
	Recovered        bool           `json:"recovered"`
	RegisteredTime   float64        `json:"registered_time"`
	ReregisteredTime float64        `json:"reregistered_time"`
	UnregisteredTime float64        `json:"unregistered_time,omitempty"`
	Resources        map[string]any `json:"resources"`
	UsedResources    map[string]any `json:"used_resources"`
	OfferedResources map[string]any `json:"offered_resources"`
	Tasks            []legacyTask   `json:"tasks"`
	UnreachableTasks []legacyTask   `json:"unreachable_tasks"`
	CompletedTasks   []legacyTask   `json:"completed_tasks"`
	Offers           []any          `json:"offers"`
	Executors        []any          `json:"executors"`
}

type legacyTask struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	FrameworkID string           `json:"framework_id"`
	ExecutorID  string           `json:"executor_id"`
	SlaveID     string           `json:"slave_id"`
	State       string           `json:"state"`
	Resources   map[string]any   `json:"resources"`
	Role        string           `json:"role"`
	Statuses    []legacyStatus   `json:"statuses"`
	Labels      []map[string]any `json:"labels,omitempty"`
}

type legacyStatus struct {
	State           string                `json:"state"`
	Timestamp       float64               `json:"timestamp"`
	ContainerStatus *legacyContainerState `json:"container_status,omitempty"`
}

type legacyContainerState struct {
	ContainerID  *mesos.ContainerID  `json:"container_id,omitempty"`
	NetworkInfos []legacyNetworkInfo `json:"network_infos,omitempty"`
}

type legacyNetworkInfo struct {
	IPAddresses []legacyIPAddress `json:"ip_addresses"`
}

type legacyIPAddress struct {
	Protocol  string `json:"protocol"`
	IPAddress string `json:"ip_address"`
}

// legacyFlags are the master's flags as /master/state lists them: those
// of a master started with default flags and --hostname_lookup=false.
func (c *Cluster) legacyFlags(host string, port string) map[string]string {
	return map[string]string{
		"agent_ping_timeout": "15secs", "agent_reregister_timeout": "10mins", "allocation_interval": c.cfg.AllocationInterval.String(),
		"allocator": "hierarchical", "allocator_agent_recovery_factor": "0.8", "allocator_recovery_timeout": "1mins",
		"authenticate_agents": "false", "authenticate_frameworks": "false", "authenticate_http_frameworks": "false",
		"authenticate_http_readonly": "false", "authenticate_http_readwrite": fmt.Sprint(c.cfg.Principal != ""),
		"authentication_v0_timeout": "15secs", "authenticators": "crammd5", "authorizers": "local", "cluster": "sim",
		"filter_gpu_resources": "true", "framework_sorter": "drf", "help": "false", "hostname": host,
		"hostname_lookup": "false", "http_authenticators": "basic", "initialize_driver_logging": "true", "ip": host,
		"log_auto_initialize": "true", "logbufsecs": "0", "logging_level": "INFO", "max_agent_ping_timeouts": "5",
		"max_completed_frameworks":              fmt.Sprint(c.cfg.MaxCompletedFrameworks),
		"max_completed_tasks_per_framework":     fmt.Sprint(c.cfg.MaxCompletedTasksPerFramework),
		"max_operator_event_stream_subscribers": "1000", "max_unreachable_tasks_per_framework": "1000",
		"memory_profiling": "false", "min_allocatable_resources": "cpus:0.01|mem:32",
		"offer_constraints_re2_max_mem": "4KB", "offer_constraints_re2_max_program_size": "100", "port": port,
		"publish_per_framework_metrics": "true", "quiet": "false", "recovery_agent_removal_limit": "100%",
		"registry": "in_memory", "registry_fetch_timeout": "1mins", "registry_gc_interval": "15mins",
		"registry_max_agent_age": "2weeks", "registry_max_agent_count": "102400", "registry_store_timeout": "20secs",
		"registry_strict": "false", "require_agent_domain": "false", "role_sorter": "drf", "root_submissions": "true",
		"version": "false", "webui_dir": "/usr/share/mesos/webui", "work_dir": "/var/lib/mesos/master",
		"zk_session_timeout": "10secs",
	}
}

// legacyResources is v0's resource object: every scalar (gpus included,
// 0 when absent) and ports as "[a-b, c-d]" when there are any.
func legacyResources(rs []mesos.Resource, withPorts bool) map[string]any {
	a := sumResources(rs)
	out := map[string]any{"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
	for k, v := range a.scalars {
		out[k] = round3(v)
	}
	if withPorts && len(a.ports) > 0 {
		var parts []string
		for _, p := range a.ports {
			parts = append(parts, fmt.Sprintf("%d-%d", p[0], p[1]))
		}
		out["ports"] = "[" + strings.Join(parts, ", ") + "]"
	}
	return out
}

func legacyAttributes(as []mesos.Attribute) map[string]any {
	out := map[string]any{}
	for _, at := range as {
		switch {
		case at.Scalar != nil:
			out[at.Name] = at.Scalar.Value
		case at.Text != nil:
			out[at.Name] = at.Text.Value
		case at.Ranges != nil:
			var parts []string
			for _, r := range at.Ranges.Range {
				parts = append(parts, fmt.Sprintf("%d-%d", r.Begin, r.End))
			}
			out[at.Name] = "[" + strings.Join(parts, ", ") + "]"
		}
	}
	return out
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (c *Cluster) legacyTaskLocked(t *task) legacyTask {
	out := legacyTask{ID: t.info.TaskID.Value, Name: t.info.Name, FrameworkID: t.framework, ExecutorID: "",
		SlaveID: t.info.AgentID.Value, State: t.state.String(), Resources: legacyResources(t.info.Resources, true), Role: "*"}
	if fw := c.frameworks[t.framework]; fw != nil {
		out.Role = frameworkRole(fw)
	}
	for _, l := range t.info.GetLabels().GetLabels() {
		out.Labels = append(out.Labels, map[string]any{"key": l.Key, "value": l.GetValue()})
	}
	// Newest first, as the master lists a task's statuses.
	for i := len(t.statuses) - 1; i >= 0; i-- {
		st := t.statuses[i]
		ls := legacyStatus{State: st.GetState().String(), Timestamp: st.GetTimestamp()}
		if cs := st.ContainerStatus; cs != nil {
			lc := &legacyContainerState{ContainerID: cs.ContainerID}
			for _, ni := range cs.NetworkInfos {
				var ips []legacyIPAddress
				for _, ip := range ni.IPAddresses {
					ips = append(ips, legacyIPAddress{Protocol: ip.GetProtocol().String(), IPAddress: ip.GetIPAddress()})
				}
				lc.NetworkInfos = append(lc.NetworkInfos, legacyNetworkInfo{IPAddresses: ips})
			}
			ls.ContainerStatus = lc
		}
		out.Statuses = append(out.Statuses, ls)
	}
	if out.Statuses == nil {
		out.Statuses = []legacyStatus{}
	}
	return out
}

func (c *Cluster) legacyStateLocked(m *masterEndpoint) legacyState {
	info := c.masterInfoLocked(m)
	leader := c.masterInfoLocked(nil)
	host, port, _ := strings.Cut(m.addr, ":")
	st := legacyState{
		Version: Version, GitSHA: gitSHA, GitBranch: gitBranch, BuildDate: buildDate, BuildTime: buildTime, BuildUser: buildUser,
		StartTime: seconds(c.startTime), ElectedTime: seconds(c.startTime), ID: c.masterID, PID: info.GetPID(), Hostname: info.GetHostname(),
		Capabilities: []string{"AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"}, Cluster: "sim",
		Leader:     leader.GetPID(),
		LeaderInfo: legacyLeader{ID: leader.ID, PID: leader.GetPID(), Port: leader.GetPort(), Hostname: leader.GetHostname()},
		Flags:      c.legacyFlags(host, port), Slaves: []legacySlave{}, RecoveredSlaves: []any{},
		Frameworks: []legacyFramework{}, CompletedFrameworks: []legacyFramework{}, OrphanTasks: []legacyTask{},
		UnregisteredFrameworks: []string{},
	}
	u := c.usageLocked()
	var caps []string
	for _, ac := range agentCapabilities {
		caps = append(caps, ac.Type.String())
	}
	for _, a := range c.agents {
		if !a.listed() {
			continue
		}
		if a.active {
			st.ActivatedSlaves++
		}
		id := a.info.ID.Value
		st.Slaves = append(st.Slaves, legacySlave{
			ID: id, PID: fmt.Sprintf("slave(1)@%s:%d", a.ip, a.info.GetPort()), Hostname: a.info.Hostname, Port: a.info.GetPort(), RegisteredTime: seconds(a.regTime),
			Resources: legacyResources(a.total, true), UsedResources: legacyResources(u.usedOn[id], false),
			OfferedResources: legacyResources(u.offeredOn[id], false), ReservedResources: map[string]any{},
			UnreservedResources: legacyResources(a.total, true), Attributes: legacyAttributes(a.info.Attributes),
			Active: a.active, Version: Version, Capabilities: caps,
		})
	}
	for _, id := range slices.Sorted(maps.Keys(c.frameworks)) {
		fw := c.frameworks[id]
		f := legacyFramework{ID: id, Name: fw.info.Name, User: fw.info.User, FailoverTimeout: fw.info.GetFailoverTimeout(),
			Checkpoint: fw.info.GetCheckpoint(), Hostname: fw.info.GetHostname(), WebUIURL: fw.info.GetWebUiURL(),
			Principal: fw.info.GetPrincipal(), Roles: fw.info.Roles, Active: fw.active && !fw.removed, Connected: fw.connected && !fw.removed,
			RegisteredTime: seconds(fw.regTime), ReregisteredTime: seconds(fw.reregTime),
			Resources: legacyResources(u.usedBy[id], false), UsedResources: legacyResources(u.usedBy[id], false),
			OfferedResources: legacyResources(u.offeredTo[id], false),
			Tasks:            []legacyTask{}, UnreachableTasks: []legacyTask{}, CompletedTasks: []legacyTask{}, Offers: []any{}, Executors: []any{},
		}
		if len(f.Roles) == 0 {
			f.Roles = []string{frameworkRole(fw)}
		}
		for _, fc := range fw.info.Capabilities {
			f.Capabilities = append(f.Capabilities, fc.Type.String())
		}
		for _, t := range c.sortedTasksLocked() {
			if t.framework == id {
				f.Tasks = append(f.Tasks, c.legacyTaskLocked(t))
			}
		}
		for _, t := range c.completedOfLocked(id) {
			f.CompletedTasks = append(f.CompletedTasks, c.legacyTaskLocked(t))
		}
		if fw.removed {
			f.UnregisteredTime = seconds(fw.unregTime)
			st.CompletedFrameworks = append(st.CompletedFrameworks, f)
			continue
		}
		st.Frameworks = append(st.Frameworks, f)
	}
	return st
}
