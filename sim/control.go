package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// controlHandler serves the simulator's own control API under /sim/:
//
//	GET    /sim/requests                      requests received (JSON)
//	DELETE /sim/requests                      forget them
//	POST   /sim/faults                        add a Fault (JSON body)
//	DELETE /sim/faults                        clear faults
//	POST   /sim/agents                        add an agent (AgentConfig JSON)
//	POST   /sim/agents/{id}/lose              make an agent unreachable
//	POST   /sim/agents/{id}/return            bring it back
//	POST   /sim/agents/{id}/disconnect        drop its connection (listed inactive)
//	POST   /sim/agents/{id}/reconnect         it reregisters with its tasks
//	POST   /sim/master/failover               the next master leads
//	POST   /sim/tasks/{id}/end?state=TASK_FAILED&message=...  a task's process exits
//	POST   /sim/tasks/{id}/kill               its process is killed (SIGKILL)
//	POST   /sim/dispatcher/restart?recover=1  restart the (first) dispatcher
//	POST   /sim/drivers/{id}/finish?state=TASK_FAILED&message=...
func (c *Cluster) controlHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/sim/"), "/"), "/")
		fail := func(code int, err error) { httpError(w, code, err.Error()) }
		ok := func() { w.WriteHeader(http.StatusNoContent) }
		switch {
		case parts[0] == "requests" && r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(c.Requests())
		case parts[0] == "requests" && r.Method == http.MethodDelete:
			c.ResetRequests()
			ok()
		case parts[0] == "faults" && r.Method == http.MethodPost:
			var f struct {
				Fault
				LatencyMS int `json:"latencyMs"`
			}
			if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			if f.LatencyMS > 0 {
				f.Latency = time.Duration(f.LatencyMS) * time.Millisecond
			}
			c.AddFault(f.Fault)
			ok()
		case parts[0] == "faults" && r.Method == http.MethodDelete:
			c.ClearFaults()
			ok()
		case parts[0] == "agents" && len(parts) == 1 && r.Method == http.MethodPost:
			var ac AgentConfig
			if err := json.NewDecoder(r.Body).Decode(&ac); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"id": c.AddAgent(ac)})
		case parts[0] == "agents" && len(parts) == 3 && r.Method == http.MethodPost:
			var err error
			switch parts[2] {
			case "lose":
				err = c.LoseAgent(parts[1])
			case "return":
				err = c.ReturnAgent(parts[1])
			case "disconnect":
				err = c.DisconnectAgent(parts[1])
			case "reconnect":
				err = c.ReconnectAgent(parts[1])
			default:
				http.NotFound(w, r)
				return
			}
			if err != nil {
				fail(http.StatusNotFound, err)
				return
			}
			ok()
		case parts[0] == "tasks" && len(parts) == 3 && parts[2] == "kill" && r.Method == http.MethodPost:
			if err := c.KillTaskProcess(parts[1]); err != nil {
				fail(http.StatusNotFound, err)
				return
			}
			ok()
		case parts[0] == "tasks" && len(parts) == 3 && parts[2] == "end" && r.Method == http.MethodPost:
			state, ok2 := mesos.TaskState_value[r.URL.Query().Get("state")]
			if !ok2 {
				fail(http.StatusBadRequest, fmt.Errorf("state must be a Mesos task state such as TASK_FAILED"))
				return
			}
			if err := c.EndTask(parts[1], mesos.TaskState(state), r.URL.Query().Get("message")); err != nil {
				fail(http.StatusNotFound, err)
				return
			}
			ok()
		case parts[0] == "master" && len(parts) == 2 && parts[1] == "failover" && r.Method == http.MethodPost:
			c.FailOver()
			ok()
		case parts[0] == "dispatcher" && len(parts) == 2 && parts[1] == "restart" && r.Method == http.MethodPost:
			d := c.firstDispatcher()
			if d == nil {
				fail(http.StatusNotFound, errNotFound)
				return
			}
			if err := d.Restart(r.URL.Query().Get("recover") != ""); err != nil {
				fail(http.StatusInternalServerError, err)
				return
			}
			ok()
		case parts[0] == "drivers" && len(parts) == 3 && parts[2] == "finish" && r.Method == http.MethodPost:
			d := c.firstDispatcher()
			state := mesos.TASK_FINISHED
			if s, found := mesos.TaskState_value[r.URL.Query().Get("state")]; found {
				state = mesos.TaskState(s)
			}
			if d == nil {
				fail(http.StatusNotFound, errNotFound)
				return
			}
			if err := d.Finish(parts[1], state, r.URL.Query().Get("message")); err != nil {
				fail(http.StatusNotFound, err)
				return
			}
			ok()
		default:
			http.NotFound(w, r)
		}
	})
}

func (c *Cluster) firstDispatcher() *Dispatcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dispatchers) == 0 {
		return nil
	}
	return c.dispatchers[0]
}
