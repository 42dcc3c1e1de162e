package sim

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// behavior is what a task does once running.
type behavior struct {
	// runFor > 0 ends the task after that long with exitState/exitMessage.
	runFor      time.Duration
	exitState   mesos.TaskState
	exitMessage string
	// start runs as the task turns RUNNING; an error fails the task.
	start func(c *Cluster, t *task) error
	// stop runs when the task ends, however it ends.
	stop func(c *Cluster, t *task)
}

// service is a listener a task holds open, as the shuffle service does.
type service struct {
	addr string
	l    net.Listener
}

var (
	exitCmd  = regexp.MustCompile(`^(?:exec\s+)?exit\s+(\d+)\s*$`)
	sleepCmd = regexp.MustCompile(`^(?:exec\s+)?sleep\s+(\d+(?:\.\d+)?)\s*$`)
	portOpt  = regexp.MustCompile(`-Dspark\.shuffle\.service\.port=(\d+)`)
)

// behaviorOf decides what a command task does: "exit N" ends at once with
// that status, "sleep S" finishes after S seconds, Spark's external shuffle
// service listens on its port on the agent's address, anything else runs
// until killed.
func behaviorOf(ti mesos.TaskInfo) behavior {
	cmd := strings.TrimSpace(ti.GetCommand().GetValue())
	if m := exitCmd.FindStringSubmatch(cmd); m != nil {
		code, _ := strconv.Atoi(m[1])
		state := mesos.TASK_FAILED
		if code == 0 {
			state = mesos.TASK_FINISHED
		}
		return behavior{runFor: 10 * time.Millisecond, exitState: state, exitMessage: fmt.Sprintf("Command exited with status %d", code)}
	}
	if m := sleepCmd.FindStringSubmatch(cmd); m != nil {
		secs, _ := strconv.ParseFloat(m[1], 64)
		return behavior{runFor: time.Duration(secs * float64(time.Second)), exitState: mesos.TASK_FINISHED, exitMessage: "Command exited with status 0"}
	}
	if strings.Contains(cmd, "org.apache.spark.deploy.mesos.MesosClusterDispatcher") {
		return dispatcherBehavior(cmd)
	}
	if strings.Contains(cmd, "org.apache.spark.deploy.mesos.MesosExternalShuffleService") {
		port := 7337
		for _, v := range ti.GetCommand().GetEnvironment().GetVariables() {
			if m := portOpt.FindStringSubmatch(v.GetValue()); m != nil {
				port, _ = strconv.Atoi(m[1])
			}
		}
		return serviceBehavior(port)
	}
	return behavior{}
}

func serviceBehavior(port int) behavior {
	return behavior{
		start: func(c *Cluster, t *task) error {
			a := c.agentLocked(t.info.AgentID.Value)
			if a == nil {
				return fmt.Errorf("agent %s is gone", t.info.AgentID.Value)
			}
			addr := fmt.Sprintf("%s:%d", a.ip, port)
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("Failed to bind %s: %v", addr, err)
			}
			go func() {
				for {
					conn, err := l.Accept()
					if err != nil {
						return
					}
					conn.Close()
				}
			}()
			c.services[taskKey(t.framework, t.info.TaskID.Value)] = &service{addr: addr, l: l}
			return nil
		},
		stop: func(c *Cluster, t *task) {
			key := taskKey(t.framework, t.info.TaskID.Value)
			if s, ok := c.services[key]; ok {
				s.l.Close()
				delete(c.services, key)
			}
		},
	}
}

func (c *Cluster) agentLocked(id string) *agent {
	for _, a := range c.agents {
		if a.info.ID.Value == id {
			return a
		}
	}
	return nil
}
