package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// masterEndpoint is one master process: its own listener and HTTP server.
type masterEndpoint struct {
	index  int
	addr   string
	l      net.Listener
	server *http.Server
	up     bool
}

// Request is one HTTP request a simulated server received, for tests that
// assert what a client sent.
type Request struct {
	Server string // "master" or "dispatcher"
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// JSON is the request's call as JSON whatever its encoding: a protobuf
// call to /api/v1 or /api/v1/scheduler written as mesos-go writes JSON,
// any other body as it came.
func (r Request) JSON() string {
	if r.Header.Get("Content-Type") != "application/x-protobuf" {
		return string(r.Body)
	}
	var m interface {
		Unmarshal([]byte) error
	}
	switch r.Path {
	case "/api/v1":
		m = &master.Call{}
	case "/api/v1/scheduler":
		m = &scheduler.Call{}
	default:
		return string(r.Body)
	}
	if err := m.Unmarshal(r.Body); err != nil {
		return string(r.Body)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return string(r.Body)
	}
	return string(b)
}

// CallType is the type of the request's v1 API call ("" for other requests).
func (r Request) CallType() string {
	var call struct {
		Type string `json:"type"`
	}
	if json.Unmarshal([]byte(r.JSON()), &call) != nil {
		return ""
	}
	return call.Type
}

// ServeOptions say where and how to serve.
type ServeOptions struct {
	// MasterAddrs are the masters' listen addresses (default one 127.0.0.1:0
	// per configured master).
	MasterAddrs []string
	// TLS, when set, serves the masters over HTTPS.
	TLS *tls.Config
}

// Start serves the masters and runs the allocator.
func (c *Cluster) Start(opts ServeOptions) error {
	for i := 0; i < c.cfg.Masters; i++ {
		addr := "127.0.0.1:0"
		if i < len(opts.MasterAddrs) {
			addr = opts.MasterAddrs[i]
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			c.Stop()
			return fmt.Errorf("master %d: %w", i, err)
		}
		m := &masterEndpoint{index: i, addr: l.Addr().String(), l: l}
		c.masters = append(c.masters, m)
	}
	for _, m := range c.masters {
		c.serveMaster(m, opts.TLS)
	}
	c.mu.Lock()
	c.serving = true
	for _, a := range c.agents {
		if err := c.startAgentServerLocked(a); err != nil {
			c.mu.Unlock()
			c.Stop()
			return err
		}
	}
	c.mu.Unlock()
	c.wgMu.Lock()
	c.wg.Add(1)
	c.wgMu.Unlock()
	go c.loop()
	return nil
}

func (c *Cluster) serveMaster(m *masterEndpoint, tlsConfig *tls.Config) {
	srv := &http.Server{Handler: c.masterHandler(m), ReadHeaderTimeout: 10 * time.Second}
	l := m.l
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	c.mu.Lock()
	m.server, m.up = srv, true
	c.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// MasterURL is the leading master's base URL (http://host:port).
func (c *Cluster) MasterURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "http://" + c.masters[c.leader].addr
}

// MasterURLs are every master's base URL, leader or not.
func (c *Cluster) MasterURLs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.masters {
		out = append(out, "http://"+m.addr)
	}
	return out
}

// Stop shuts everything down.
func (c *Cluster) Stop() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.mu.Lock()
	for _, fw := range c.frameworks {
		if fw.stream != nil {
			fw.stream.close()
		}
	}
	for _, s := range c.watchers {
		s.close()
	}
	for _, s := range c.services {
		s.l.Close()
	}
	var servers []*http.Server
	for _, m := range c.masters {
		if m.server != nil {
			servers = append(servers, m.server)
		}
	}
	for _, a := range c.agents {
		if a.server != nil {
			servers = append(servers, a.server)
		}
	}
	for _, d := range c.dispatchers { // those running as tasks too: their ports are freed
		if d.server != nil {
			servers = append(servers, d.server)
		}
	}
	c.mu.Unlock()
	for _, srv := range servers {
		_ = srv.Close()
	}
	c.wgMu.Lock()
	c.stopped = true
	c.wgMu.Unlock()
	c.wg.Wait()
}

func (c *Cluster) masterHandler(m *masterEndpoint) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1", func(w http.ResponseWriter, r *http.Request) {
		if c.redirectToLeader(m, w, r) || !c.authorized(w, r, "mesos-master-readwrite") {
			return
		}
		c.serveOperator(m, w, r)
	})
	mux.HandleFunc("/api/v1/scheduler", func(w http.ResponseWriter, r *http.Request) {
		if c.redirectToLeader(m, w, r) || !c.authorized(w, r, "mesos-master-scheduler") {
			return
		}
		c.serveScheduler(m, w, r)
	})
	// GET /master/redirect and /redirect: 307 to the leading master,
	// from any master.
	redirect := func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		leader := c.masters[c.leader].addr
		c.mu.Unlock()
		w.Header().Set("Location", "//"+leader)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}
	mux.HandleFunc("/master/redirect", redirect)
	mux.HandleFunc("/redirect", redirect)
	state := func(w http.ResponseWriter, r *http.Request) {
		if c.redirectToLeader(m, w, r) || !c.authorized(w, r, "mesos-master-readonly") {
			return
		}
		c.mu.Lock()
		b, _ := json.Marshal(c.legacyStateLocked(m))
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	}
	mux.HandleFunc("/master/state", state)
	mux.HandleFunc("/state", state)
	mux.HandleFunc("/master/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Handle("/sim/", c.controlHandler())
	return c.recorded("master", c.faulty(mux))
}

// redirectToLeader answers 307 from a master that does not lead, with the
// protocol-relative Location Mesos sends: //leader:port/path.
func (c *Cluster) redirectToLeader(m *masterEndpoint, w http.ResponseWriter, r *http.Request) bool {
	c.mu.Lock()
	leader := c.masters[c.leader]
	c.mu.Unlock()
	if leader == m {
		return false
	}
	w.Header().Set("Location", "//"+leader.addr+r.URL.Path)
	w.WriteHeader(http.StatusTemporaryRedirect)
	return true
}

// authorized enforces HTTP basic authentication when credentials are set.
func (c *Cluster) authorized(w http.ResponseWriter, r *http.Request, realm string) bool {
	if c.cfg.Principal == "" {
		return true
	}
	p, s, ok := r.BasicAuth()
	if ok && p == c.cfg.Principal && s == c.cfg.Secret {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	httpError(w, http.StatusUnauthorized, "")
	return false
}

// recorded keeps every request (body included) for Requests.
func (c *Cluster) recorded(server string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/sim/") {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			c.log.add(Request{Server: server, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		}
		next.ServeHTTP(w, r)
	})
}

type requestLog struct {
	mu   sync.Mutex
	reqs []Request
}

func (l *requestLog) add(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
	if len(l.reqs) > 10000 {
		l.reqs = l.reqs[len(l.reqs)-10000:]
	}
}

// Requests returns the requests received so far (a copy).
func (c *Cluster) Requests() []Request {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	return append([]Request(nil), c.log.reqs...)
}

// ResetRequests forgets the requests received so far.
func (c *Cluster) ResetRequests() {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	c.log.reqs = nil
}

// Fault makes matching requests fail or slow down.
type Fault struct {
	// Server is "master", "dispatcher" or "" for both.
	Server string `json:"server,omitempty"`
	// PathPrefix selects requests by path, such as /api/v1 or /v1/submissions/create.
	PathPrefix string `json:"pathPrefix"`
	// Status, when not 0, is answered instead of serving the request.
	Status int `json:"status,omitempty"`
	// Latency delays the request.
	Latency time.Duration `json:"latency,omitempty"`
	// Drop closes the connection without an answer.
	Drop bool `json:"drop,omitempty"`
	// BytesPerSecond, when not 0, writes the answer at that rate (a busy
	// master, a slow link): a SUBSCRIBED or a state then takes its time.
	BytesPerSecond int `json:"bytesPerSecond,omitempty"`
	// Count limits how many requests the fault applies to; 0 means all.
	Count int `json:"count,omitempty"`
	// Call selects v1 API calls by type (UPDATE_WEIGHTS, ACCEPT, ...),
	// whatever their encoding; Message is the text answered with Status.
	Call    string `json:"call,omitempty"`
	Message string `json:"message,omitempty"`
}

type faults struct {
	mu    sync.Mutex
	rules []*Fault
}

// AddFault installs a fault.
func (c *Cluster) AddFault(f Fault) {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	c.faults.rules = append(c.faults.rules, &f)
}

// ClearFaults removes every fault.
func (c *Cluster) ClearFaults() {
	c.faults.mu.Lock()
	defer c.faults.mu.Unlock()
	c.faults.rules = nil
}

func (fs *faults) match(server string, r Request) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.rules {
		if (f.Server == "" || f.Server == server) && strings.HasPrefix(r.Path, f.PathPrefix) && (f.Call == "" || r.CallType() == f.Call) {
			applied := *f
			if f.Count > 0 {
				f.Count--
				if f.Count == 0 {
					fs.rules = append(fs.rules[:i], fs.rules[i+1:]...)
				}
			}
			return &applied
		}
	}
	return nil
}

func (c *Cluster) faulty(next http.Handler) http.Handler {
	return c.faultyAs("master", next)
}

func (c *Cluster) faultyAs(server string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sim/") {
			next.ServeHTTP(w, r)
			return
		}
		req := Request{Path: r.URL.Path, Header: r.Header}
		if r.Body != nil && r.Method == http.MethodPost {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			req.Body = body
		}
		f := c.faults.match(server, req)
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		if f.Latency > 0 {
			select {
			case <-time.After(f.Latency):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case f.Drop:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case f.Status != 0:
			msg := f.Message
			if msg == "" {
				msg = fmt.Sprintf("injected fault: %d", f.Status)
			}
			httpError(w, f.Status, msg)
		case f.BytesPerSecond > 0:
			next.ServeHTTP(&throttled{ResponseWriter: w, rate: f.BytesPerSecond, ctx: r.Context()}, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// throttled writes an answer at rate bytes a second, in twentieths of a
// second, flushing each piece so that the client sees them arrive.
type throttled struct {
	http.ResponseWriter
	rate int
	ctx  context.Context
}

func (t *throttled) Write(b []byte) (int, error) {
	piece := max(t.rate/20, 1)
	n := 0
	for n < len(b) {
		k := min(piece, len(b)-n)
		m, err := t.ResponseWriter.Write(b[n : n+k])
		n += m
		if err != nil {
			return n, err
		}
		t.Flush()
		select {
		case <-time.After(time.Second * time.Duration(k) / time.Duration(t.rate)):
		case <-t.ctx.Done():
			return n, t.ctx.Err()
		}
	}
	return n, nil
}

func (t *throttled) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// FailOver makes the next master lead: the old leader's scheduler
// subscriptions end (frameworks must re-subscribe at the new leader, within
// their failover timeout), and the old leader redirects.
func (c *Cluster) FailOver() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leader = (c.leader + 1) % len(c.masters)
	for _, fw := range c.frameworks {
		if fw.stream != nil && fw.internal == nil {
			fw.stream.close()
		}
	}
	for _, s := range c.watchers {
		s.close()
	}
	c.onLeaderChangeLocked()
}

// DropEventStreams closes every operator API event stream (SUBSCRIBE), as
// a master does when it restarts or a proxy drops long connections.
func (c *Cluster) DropEventStreams() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.watchers {
		s.close()
	}
}

// StallEventStreams leaves every operator event stream open but silent:
// no event and no heartbeat is written any more (a hung master, a
// half-open connection). Events still change the cluster.
func (c *Cluster) StallEventStreams() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.watchers {
		s.stalled.Store(true)
	}
}

// EndTask ends a running task with a terminal state, as if its process
// exited (TASK_FAILED, TASK_FINISHED) or was killed outside Mesos.
func (c *Cluster) EndTask(taskID string, state mesos.TaskState, message string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.tasks {
		if t.info.TaskID.Value == taskID {
			c.endLocked(t, state, message)
			return nil
		}
	}
	return fmt.Errorf("no task %s: %w", taskID, errNotFound)
}

// EndTaskOf is EndTask for the task of one framework, found at once (the
// search of EndTask takes a millisecond at 20,000 tasks: as long as the
// event it makes takes to reach a watcher).
func (c *Cluster) EndTaskOf(frameworkID, taskID string, state mesos.TaskState, message string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tasks[taskKey(frameworkID, taskID)]
	if t == nil {
		return fmt.Errorf("no task %s of framework %s: %w", taskID, frameworkID, errNotFound)
	}
	c.endLocked(t, state, message)
	return nil
}

func (c *Cluster) endLocked(t *task, state mesos.TaskState, message string) {
	if message == "" {
		message = "Command exited with status 1"
	}
	c.finishLocked(t, state, message)
}

// TaskRun is one task the master ever launched, for tests that check
// a whole history (no two drivers of an application at once).
type TaskRun struct {
	ID, FrameworkID, State string
	Labels                 map[string]string
	Launched, Ended        time.Time // Ended is zero while it runs
}

// TaskHistory lists every task launched so far, in launch order, however
// long ago it ended.
func (c *Cluster) TaskHistory() []TaskRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TaskRun, 0, len(c.history))
	for _, t := range c.history {
		r := TaskRun{ID: t.info.TaskID.Value, FrameworkID: t.framework, State: t.state.String(), Labels: map[string]string{},
			Launched: t.startedAt, Ended: t.endedAt}
		for _, l := range t.info.GetLabels().GetLabels() {
			r.Labels[l.Key] = l.GetValue()
		}
		out = append(out, r)
	}
	return out
}

// KillTaskProcess kills a task's process from outside Mesos (the OOM
// killer, an operator's kill -9): the command executor reports it as a
// Mesos 1.12 agent does, TASK_FAILED from SOURCE_EXECUTOR with no reason
// and "Command terminated with signal Killed".
func (c *Cluster) KillTaskProcess(taskID string) error {
	return c.EndTask(taskID, mesos.TASK_FAILED, "Command terminated with signal Killed")
}

// StopMaster stops master i's listener (connections are refused) until
// StartMaster.
func (c *Cluster) StopMaster(i int) {
	c.mu.Lock()
	m := c.masters[i]
	srv, up := m.server, m.up
	m.up = false
	c.mu.Unlock()
	if up {
		_ = srv.Close()
	}
}

// StartMaster serves master i again on its address.
func (c *Cluster) StartMaster(i int) error {
	c.mu.Lock()
	m := c.masters[i]
	up := m.up
	c.mu.Unlock()
	if up {
		return nil
	}
	l, err := net.Listen("tcp", m.addr)
	if err != nil {
		return err
	}
	m.l = l
	c.serveMaster(m, nil)
	return nil
}

// LoseAgent makes an agent unreachable: it is removed from the agent list,
// its offers are rescinded, and its tasks become TASK_LOST
// (TASK_UNREACHABLE for partition-aware frameworks).
func (c *Cluster) LoseAgent(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.agentLocked(id)
	if a == nil || !a.listed() {
		return fmt.Errorf("no listed agent %s", id)
	}
	c.loseAgentLocked(a)
	return nil
}

// DisconnectAgent breaks an agent's connection to the master (the agent
// process restarts, or its link drops): the master deactivates it (listed
// with active false, no offers from it, its tasks left running) and, if
// it has not reregistered within AgentReregisterTimeout, marks it
// unreachable as LoseAgent does.
func (c *Cluster) DisconnectAgent(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.agentLocked(id)
	if a == nil || !a.active {
		return fmt.Errorf("no active agent %s", id)
	}
	a.active, a.disconnected = false, true
	c.rescindAgentOffersLocked(a)
	since := c.now()
	a.goneTime = since
	c.after(c.cfg.AgentReregisterTimeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if a.disconnected && a.goneTime.Equal(since) {
			c.loseAgentLocked(a)
		}
	})
	return nil
}

// ReconnectAgent reregisters a disconnected agent with its tasks.
func (c *Cluster) ReconnectAgent(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.agentLocked(id)
	if a == nil || !a.disconnected {
		return fmt.Errorf("no disconnected agent %s", id)
	}
	a.active, a.disconnected = true, false
	return nil
}

func (c *Cluster) rescindAgentOffersLocked(a *agent) {
	for oid, o := range c.offers {
		if o.agent == a {
			c.removeOfferLocked(oid)
			if fw := c.frameworks[o.framework]; fw != nil {
				c.sendRescindLocked(fw, oid)
			}
		}
	}
}

func (c *Cluster) loseAgentLocked(a *agent) {
	id := a.info.ID.Value
	a.active, a.disconnected, a.goneTime = false, false, c.now()
	c.rescindAgentOffersLocked(a)
	defer c.agentRemovedLocked(a) // after its tasks' updates, as Mesos' __removeSlave sends it
	reason := mesos.REASON_AGENT_REMOVED
	for _, t := range c.sortedTasksLocked() {
		if t.info.AgentID.Value != id {
			continue
		}
		state := mesos.TASK_LOST
		if fw := c.frameworks[t.framework]; fw != nil && hasCapability(fw.info, mesos.FrameworkInfo_Capability_PARTITION_AWARE) {
			state = mesos.TASK_UNREACHABLE
		}
		c.statusLocked(t, state, mesos.SOURCE_MASTER, &reason, "Agent "+a.info.Hostname+" is unreachable", false)
		if state == mesos.TASK_UNREACHABLE {
			// Unreachable is not terminal; the task is gone from the agent list's view.
			key := taskKey(t.framework, t.info.TaskID.Value)
			if t.behavior.stop != nil {
				t.behavior.stop(c, t)
			}
			c.removeTaskLocked(key)
			c.unreachable[key] = t // listed apart, as Mesos lists them
		}
	}
}

// ReturnAgent brings a lost agent back, empty (its tasks did not survive).
func (c *Cluster) ReturnAgent(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.agentLocked(id)
	if a == nil || a.listed() {
		return fmt.Errorf("no lost agent %s", id)
	}
	a.active, a.regTime = true, c.now()
	c.agentAddedLocked(a)
	return nil
}

// AddAgent joins a new agent and returns its id.
func (c *Cluster) AddAgent(ac AgentConfig) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.addAgentLocked(len(c.agents), ac)
	c.agentAddedLocked(a)
	if c.serving {
		if err := c.startAgentServerLocked(a); err != nil {
			panic(err) // a loopback listen: nothing a test could recover from
		}
	}
	return a.info.ID.Value
}

// AgentIDs lists the active agents' ids.
func (c *Cluster) AgentIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, a := range c.agents {
		if a.active {
			out = append(out, a.info.ID.Value)
		}
	}
	return out
}

func (c *Cluster) sortedTasksLocked() []*task {
	out := make([]*task, 0, len(c.tasks))
	for _, t := range c.tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		return taskKey(out[i].framework, out[i].info.TaskID.Value) < taskKey(out[j].framework, out[j].info.TaskID.Value)
	})
	return out
}

var errNotFound = errors.New("not found")
