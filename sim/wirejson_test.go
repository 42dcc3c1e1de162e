package sim

import (
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

func TestMasterJSON(t *testing.T) {
	cpus := scalar("cpus", 1)
	port := uint32(5050)
	for _, c := range []struct {
		name string
		msg  message
		want string
	}{
		{"empty sections are written as lists", &master.Response{Type: master.Response_GET_TASKS, GetTasks: &master.Response_GetTasks{}},
			`{"type":"GET_TASKS","get_tasks":{"tasks":[],"unreachable_tasks":[],"completed_tasks":[]}}`},
		{"null and empty fields are left out", &master.Response{Type: master.Response_GET_AGENTS, GetAgents: &master.Response_GetAgents{
			Agents: []master.Response_GetAgents_Agent{{AgentInfo: mesos.AgentInfo{Hostname: "h", Resources: []mesos.Resource{cpus}}, Version: "1.12.0"}}}},
			`{"type":"GET_AGENTS","get_agents":{"agents":[{"agent_info":{"hostname":"h","resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}],"checkpoint":true},"active":false,"version":"1.12.0"}],"recovered_agents":[]}}`},
		{"enum values newer than mesos-go are named", &master.Response{Type: master.Response_GET_MASTER, GetMaster: &master.Response_GetMaster{
			MasterInfo: &mesos.MasterInfo{ID: "m", Port: &port, Capabilities: []mesos.MasterInfo_Capability{{Type: 1}, {Type: 3}}}}},
			`{"type":"GET_MASTER","get_master":{"master_info":{"id":"m","ip":0,"port":5050,"capabilities":[{"type":"AGENT_UPDATE"},{"type":"QUOTA_V2"}]}}}`},
		{"defaults of unset fields", &master.Response{Type: master.Response_GET_FRAMEWORKS, GetFrameworks: &master.Response_GetFrameworks{
			Frameworks: []master.Response_GetFrameworks_Framework{{FrameworkInfo: mesos.FrameworkInfo{User: "u", Name: "n"}}}}},
			`{"type":"GET_FRAMEWORKS","get_frameworks":{"frameworks":[{"framework_info":{"user":"u","name":"n","checkpoint":false},"active":false,"connected":false,"recovered":false,"offer_constraints":{}}],"completed_frameworks":[]}}`},
	} {
		got, err := masterJSON(c.msg)
		if err != nil || string(got) != c.want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", c.name, got, err, c.want)
		}
	}
}
