// Package sim is a protocol-faithful simulated Apache Mesos cluster (a
// master, or several with leader changes, and agents) and a Spark
// MesosClusterDispatcher, served over real HTTP on loopback. It is the test
// double the reconciler's tests and demo run against; it follows the wire
// formats of Mesos 1.12 (operator and scheduler HTTP APIs, v1) and of Spark
// 3.4/3.5's REST submission protocol, and it is meant to be checked against a
// real master line by line (conformance_test.go lists each behaviour).
//
// It imports nothing of the reconciler: it behaves like Mesos and Spark do,
// not like the reconciler expects.
package sim

import (
	"fmt"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/quota"
)

// Version is the Mesos version the simulated master reports.
const Version = "1.12.0"

// Clock is the simulator's time source; tests may inject their own.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// AgentConfig describes one agent.
type AgentConfig struct {
	Hostname string
	CPUs     float64
	MemMiB   float64
	DiskMiB  float64
	GPUs     float64
	// Ports are inclusive ranges; default 31000-32000.
	Ports [][2]uint64
	// Attributes as an agent's --attributes gives them: a number is a
	// SCALAR, [a-b,c-d] is RANGES, anything else TEXT.
	Attributes map[string]string
}

// Config configures a simulated cluster.
type Config struct {
	// Agents to start with; when empty, NumAgents default agents.
	Agents    []AgentConfig
	NumAgents int
	// Masters is how many master endpoints to serve (default 1); one leads,
	// the others redirect to it.
	Masters int
	// Seed makes ids and choices deterministic.
	Seed  int64
	Clock Clock
	// Principal and Secret, when set, require HTTP basic authentication.
	Principal, Secret string
	// HeartbeatInterval of event streams. Default 15s.
	HeartbeatInterval time.Duration
	// AllocationInterval between offer cycles. Default 200ms (Mesos: 1s).
	AllocationInterval time.Duration
	// TaskStepDelay between a task's STAGING, STARTING and RUNNING. Default 20ms.
	TaskStepDelay time.Duration
	// AgentIPPrefix is the loopback prefix agents' services bind to:
	// agent i gets PREFIX.(i+1). Default 127.0.1.
	AgentIPPrefix string
	// MaxCompletedTasksPerFramework and MaxCompletedFrameworks are the
	// master's --max_completed_tasks_per_framework (1000) and
	// --max_completed_frameworks (50): older ones vanish from its state.
	MaxCompletedTasksPerFramework int
	MaxCompletedFrameworks        int
	// AgentReregisterTimeout is how long a disconnected agent stays listed
	// (inactive) before the master marks it unreachable (10m).
	AgentReregisterTimeout time.Duration
}

func (c *Config) defaults() {
	if len(c.Agents) == 0 {
		n := c.NumAgents
		if n == 0 {
			n = 3
		}
		for i := 0; i < n; i++ {
			c.Agents = append(c.Agents, AgentConfig{
				CPUs: 8, MemMiB: 32768, DiskMiB: 100000,
				Attributes: map[string]string{"zone": fmt.Sprintf("zone-%c", 'a'+i%3), "os": "ubuntu"},
			})
		}
	}
	if c.Masters == 0 {
		c.Masters = 1
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 15 * time.Second
	}
	if c.AllocationInterval == 0 {
		c.AllocationInterval = 200 * time.Millisecond
	}
	if c.TaskStepDelay == 0 {
		c.TaskStepDelay = 20 * time.Millisecond
	}
	if c.AgentIPPrefix == "" {
		c.AgentIPPrefix = "127.0.1"
	}
	if c.MaxCompletedTasksPerFramework == 0 {
		c.MaxCompletedTasksPerFramework = 1000
	}
	if c.MaxCompletedFrameworks == 0 {
		c.MaxCompletedFrameworks = 50
	}
	if c.AgentReregisterTimeout == 0 {
		c.AgentReregisterTimeout = 10 * time.Minute
	}
}

// Cluster is the simulated cluster's state. All of it is guarded by mu.
type Cluster struct {
	mu  sync.Mutex
	cfg Config
	rnd *rand.Rand

	masterID   string
	startTime  time.Time
	agents     []*agent
	frameworks map[string]*framework
	tasks      map[string]*task // by framework id + "/" + task id
	// completed are the terminal tasks kept, by framework, oldest first
	// (--max_completed_tasks_per_framework); completedFrameworks the
	// removed frameworks kept, oldest first (--max_completed_frameworks).
	completed map[string][]*task
	// ledger is what tasks and offers hold (putTaskLocked, putOfferLocked).
	ledger ledger
	// unreachable are the tasks of partition-aware frameworks on agents
	// marked unreachable (GET_TASKS' unreachable_tasks), by task key.
	unreachable         map[string]*task
	completedFrameworks []string
	// history is every task ever launched, for tests (TaskHistory).
	history  []*task
	offers   map[string]*offer
	seq      map[string]int
	watchers []*stream // operator API SUBSCRIBE streams

	faults   *faults
	log      requestLog
	masters  []*masterEndpoint
	leader   int
	services map[string]*service // running service tasks (shuffle services)

	dispatchers []*Dispatcher
	// dispatcherTasks are dispatchers running as tasks, by task key;
	// recoverable holds the state of those that ended with ZooKeeper
	// recovery, by ZooKeeper URL and dir, for the next one.
	// weights are the roles' weights set by UPDATE_WEIGHTS (default 1);
	// quotas their guarantees and limits set by UPDATE_QUOTA.
	weights         map[string]float64
	quotas          map[string]quota.QuotaConfig
	dispatcherTasks map[string]*Dispatcher
	recoverable     map[string]*Dispatcher
	zk              *zkRegistration
	// serving: Start ran (agents serve their HTTP API).
	serving bool

	stop chan struct{}
	wg   sync.WaitGroup
	// wgMu orders timers being added against Stop waiting for them.
	wgMu    sync.Mutex
	stopped bool
}

type agent struct {
	info   mesos.AgentInfo
	ip     string
	active bool
	// disconnected: inactive but still listed, its tasks running, until
	// it reregisters or its reregister timeout passes.
	disconnected bool
	regTime      time.Time
	total        []mesos.Resource
	goneTime     time.Time
	// sandboxes are its executor directories, by real and virtual path;
	// server serves its HTTP API (the files of sandboxes) on port.
	sandboxes map[string]*sandbox
	server    *http.Server
	port      int
}

type framework struct {
	id         string
	info       mesos.FrameworkInfo
	connected  bool
	active     bool
	removed    bool
	suppressed bool
	regTime    time.Time
	reregTime  time.Time
	unregTime  time.Time
	stream     *stream // HTTP scheduler subscription, nil when not connected
	internal   internalScheduler
	filters    map[string]filter // agent id -> refused resources

	failedAt time.Time
}

// internalScheduler is a framework run inside the simulator (the Spark
// dispatcher and the drivers it launches). Its callbacks run with the
// cluster lock held.
type internalScheduler interface {
	offers(c *Cluster, fw *framework, offers []*offer)
	update(c *Cluster, fw *framework, t *task)
	// wantsOffers is false when the framework would decline any offer for
	// a long time (a driver with all its cores). The simulator then skips
	// it rather than making and declining offers nobody outside can see:
	// the same to every client, and allocation stays cheap with thousands
	// of drivers.
	wantsOffers() bool
}

// filter refuses an agent's resources to a framework until a time, as long
// as what the agent has available is no more than what was refused
// (Mesos filters resource sets: when more becomes available, it is offered).
type filter struct {
	until   time.Time
	refused amounts
}

type task struct {
	info      mesos.TaskInfo
	framework string
	state     mesos.TaskState
	statuses  []mesos.TaskStatus
	lastUUID  []byte
	behavior  behavior
	startedAt time.Time
	killing   bool
	// endedAt is when it reached a terminal state.
	endedAt time.Time
	// The container the command executor reports (set at its first
	// update); agentIP is its agent's address.
	containerID string
	executorPID uint32
	agentIP     string
	sandbox     *sandbox
	res         *amounts // its resources summed, once
	chargedRole string   // the role the ledger charges it to
}

type offer struct {
	id        string
	framework string
	agent     *agent
	resources []mesos.Resource
	role      string
	res       *amounts // its resources summed, once
	// chargedRole is the role the ledger charges it to.
	chargedRole string
}

// listed reports whether the master lists the agent: active, or
// disconnected and not yet marked unreachable.
func (a *agent) listed() bool { return a.active || a.disconnected }

// New builds a cluster; Start serves it.
func New(cfg Config) *Cluster {
	cfg.defaults()
	c := &Cluster{
		cfg:             cfg,
		rnd:             rand.New(rand.NewSource(cfg.Seed)),
		frameworks:      map[string]*framework{},
		tasks:           map[string]*task{},
		completed:       map[string][]*task{},
		unreachable:     map[string]*task{},
		offers:          map[string]*offer{},
		seq:             map[string]int{},
		faults:          &faults{},
		services:        map[string]*service{},
		dispatcherTasks: map[string]*Dispatcher{},
		weights:         map[string]float64{},
		quotas:          map[string]quota.QuotaConfig{},
		recoverable:     map[string]*Dispatcher{},
		stop:            make(chan struct{}),
	}
	c.startTime = cfg.Clock.Now()
	c.masterID = c.uuid()
	for i, ac := range cfg.Agents {
		c.addAgentLocked(i, ac)
	}
	return c
}

// uuid returns a deterministic UUID-shaped id from the seeded source.
func (c *Cluster) uuid() string {
	b := make([]byte, 16)
	c.rnd.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (c *Cluster) next(kind string) int {
	c.seq[kind]++
	return c.seq[kind] - 1
}

func (c *Cluster) addAgentLocked(i int, ac AgentConfig) *agent {
	if ac.Hostname == "" {
		// As an agent with --hostname_lookup=false: its address.
		ac.Hostname = agentIP(c.cfg.AgentIPPrefix, i)
	}
	if len(ac.Ports) == 0 {
		ac.Ports = [][2]uint64{{31000, 32000}}
	}
	id := fmt.Sprintf("%s-S%d", c.masterID, c.next("agent"))
	port := int32(5051)
	a := &agent{
		ip:      agentIP(c.cfg.AgentIPPrefix, i),
		active:  true,
		regTime: c.cfg.Clock.Now(),
	}
	a.info = mesos.AgentInfo{Hostname: ac.Hostname, Port: &port, ID: &mesos.AgentID{Value: id}, Attributes: parseAttributes(ac.Attributes)}
	a.total = append(a.total, scalar("cpus", ac.CPUs), scalar("mem", ac.MemMiB), scalar("disk", ac.DiskMiB))
	if ac.GPUs > 0 {
		a.total = append(a.total, scalar("gpus", ac.GPUs))
	}
	a.total = append(a.total, rangesResource("ports", ac.Ports))
	a.info.Resources = a.total
	c.agents = append(c.agents, a)
	return a
}

// agentIP is agent i's loopback address: PREFIX.(i+1) for the first 254,
// then on through the next third octets (127.0.2.1, ...), so that a
// cluster of thousands of agents binds.
func agentIP(prefix string, i int) string {
	if i < 254 {
		return fmt.Sprintf("%s.%d", prefix, i+1)
	}
	k := strings.LastIndexByte(prefix, '.')
	n, err := strconv.Atoi(prefix[k+1:])
	if k < 0 || err != nil {
		return fmt.Sprintf("%s.%d", prefix, i%254+1)
	}
	return fmt.Sprintf("%s.%d.%d", prefix[:k], n+i/254, i%254+1)
}

// parseAttributes follows Mesos' --attributes parsing: a number is a
// SCALAR, [a-b,c-d] is RANGES, anything else TEXT.
func parseAttributes(m map[string]string) []mesos.Attribute {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []mesos.Attribute
	for _, k := range keys {
		v := m[k]
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			t := mesos.SCALAR
			out = append(out, mesos.Attribute{Name: k, Type: t, Scalar: &mesos.Value_Scalar{Value: f}})
			continue
		}
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			var rs [][2]uint64
			for _, part := range strings.Split(strings.Trim(v, "[]"), ",") {
				lo, hi, _ := strings.Cut(strings.TrimSpace(part), "-")
				a, _ := strconv.ParseUint(lo, 10, 64)
				b, _ := strconv.ParseUint(hi, 10, 64)
				rs = append(rs, [2]uint64{a, b})
			}
			t := mesos.RANGES
			out = append(out, mesos.Attribute{Name: k, Type: t, Ranges: toRanges(rs)})
			continue
		}
		t := mesos.TEXT
		out = append(out, mesos.Attribute{Name: k, Type: t, Text: &mesos.Value_Text{Value: v}})
	}
	return out
}

func scalar(name string, v float64) mesos.Resource {
	t := mesos.SCALAR
	return mesos.Resource{Name: name, Type: &t, Scalar: &mesos.Value_Scalar{Value: v}}
}

func toRanges(rs [][2]uint64) *mesos.Value_Ranges {
	out := &mesos.Value_Ranges{}
	for _, r := range rs {
		out.Range = append(out.Range, mesos.Value_Range{Begin: r[0], End: r[1]})
	}
	return out
}

func rangesResource(name string, rs [][2]uint64) mesos.Resource {
	t := mesos.RANGES
	return mesos.Resource{Name: name, Type: &t, Ranges: toRanges(rs)}
}

// now returns the simulator's time.
func (c *Cluster) now() time.Time { return c.cfg.Clock.Now() }

func timeInfo(t time.Time) *mesos.TimeInfo {
	if t.IsZero() {
		return nil
	}
	return &mesos.TimeInfo{Nanoseconds: t.UnixNano()}
}

func taskKey(fw, id string) string { return fw + "/" + id }
