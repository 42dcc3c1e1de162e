package sim

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Agents serve their tasks' sandboxes as a Mesos 1.12 agent does, through
// its HTTP API on its own address: /files/read and /files/browse (and
// /files/download, /files/debug). Every task's executor directory is
// attached under its real path and under the virtual path
// /frameworks/FW/executors/EXECUTOR/runs/latest, and stays readable after
// the task ends until GarbageCollect removes it. The command executor
// writes its lines to stdout; a Spark driver writes its log (log4j's
// console appender) to stderr, and a failing one a stack trace.

// maxSandboxFile caps a simulated file (later writes are dropped).
const maxSandboxFile = 1 << 20

// sandbox is one executor directory with its files.
type sandbox struct {
	dir     string
	virtual string
	files   map[string]*sandboxFile // by name: stdout, stderr
	// done: the task ended; its sandbox is garbage-collectable.
	done bool
}

type sandboxFile struct {
	data  []byte
	mtime time.Time
}

func (s *sandbox) write(now time.Time, name, text string) {
	f := s.files[name]
	if f == nil {
		f = &sandboxFile{}
		s.files[name] = f
	}
	if len(f.data)+len(text) <= maxSandboxFile {
		f.data = append(f.data, text...)
	}
	f.mtime = now
}

// attachSandboxLocked gives a newly launched task its executor directory
// on its agent.
func (c *Cluster) attachSandboxLocked(t *task) {
	a := c.agentLocked(t.info.AgentID.Value)
	if a == nil {
		return
	}
	if t.containerID == "" {
		b := make([]byte, 16)
		c.rnd.Read(b)
		t.containerID = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		t.executorPID = uint32(1000 + c.rnd.Intn(60000))
	}
	exec := t.info.TaskID.Value // the command executor's id is its task's
	sb := &sandbox{
		dir: fmt.Sprintf("/var/lib/mesos/slaves/%s/frameworks/%s/executors/%s/runs/%s",
			a.info.ID.Value, t.framework, exec, t.containerID),
		virtual: fmt.Sprintf("/frameworks/%s/executors/%s/runs/latest", t.framework, exec),
		files:   map[string]*sandboxFile{},
	}
	now := c.now()
	sb.write(now, "stdout", "")
	sb.write(now, "stderr", "")
	if a.sandboxes == nil {
		a.sandboxes = map[string]*sandbox{}
	}
	a.sandboxes[sb.dir] = sb
	a.sandboxes[sb.virtual] = sb
	t.sandbox = sb
}

// executorLogLocked writes what the command executor prints to stdout
// for a task's status.
func (c *Cluster) executorLogLocked(t *task, state mesos.TaskState, msg string) {
	sb := t.sandbox
	if sb == nil {
		return
	}
	now := c.now()
	switch {
	case state == mesos.TASK_STARTING:
		host := ""
		if a := c.agentLocked(t.info.AgentID.Value); a != nil {
			host = a.info.Hostname
		}
		sb.write(now, "stdout", fmt.Sprintf("Received SUBSCRIBED event\nSubscribed executor on %s\nReceived LAUNCH event\nStarting task %s\n"+
			"Forked command at %d\n%s\n", host, t.info.TaskID.Value, t.executorPID+3, t.info.GetCommand().GetValue()))
	case isTerminal(state):
		if msg != "" {
			sb.write(now, "stdout", fmt.Sprintf("%s (pid: %d)\n", msg, t.executorPID+3))
		}
		sb.done = true
	}
}

// sparkLog formats a log4j console line as Spark's default template does.
func sparkLog(now time.Time, level, class, msg string) string {
	return fmt.Sprintf("%s %s %s: %s\n", now.UTC().Format("06/01/02 15:04:05"), level, class, msg)
}

// driverLogStartLocked writes a Spark driver's first log lines.
func (c *Cluster) driverLogStartLocked(t *task, drv *driver) {
	sb := t.sandbox
	if sb == nil {
		return
	}
	now := c.now()
	for _, l := range [][3]string{
		{"INFO", "SparkContext", "Running Spark version " + sparkVersion},
		{"INFO", "SparkContext", "Submitted application: " + drv.name},
		{"INFO", "SecurityManager", "Changing view acls to: root"},
		{"INFO", "Utils", "Successfully started service 'sparkDriver' on port 41234."},
		{"INFO", "Utils", "Successfully started service 'SparkUI' on port 4040."},
		{"INFO", "MesosCoarseGrainedSchedulerBackend", "Registered as framework ID " + drv.id},
	} {
		sb.write(now, "stderr", sparkLog(now, l[0], l[1], l[2]))
	}
}

// driverLogProgressLocked writes one line of a running driver's progress.
func (c *Cluster) driverLogProgressLocked(t *task, n int) {
	if sb := t.sandbox; sb != nil {
		now := c.now()
		sb.write(now, "stderr", sparkLog(now, "INFO", "DAGScheduler", fmt.Sprintf("Job %d finished: collect at Main.scala:%d, took 0.%03d s", n, 40+n, 100+n)))
	}
}

// driverLogEndLocked writes a driver's last lines: a stack trace when it
// fails, a clean stop when it succeeds.
func (c *Cluster) driverLogEndLocked(t *task, drv *driver, outcome mesos.TaskState) {
	sb := t.sandbox
	if sb == nil {
		return
	}
	now := c.now()
	if outcome == mesos.TASK_FINISHED {
		sb.write(now, "stderr", sparkLog(now, "INFO", "SparkContext", "Successfully stopped SparkContext"))
	} else {
		sb.write(now, "stderr", sparkLog(now, "ERROR", "TaskSetManager", "Task 0 in stage 1.0 failed 4 times; aborting job"))
		sb.write(now, "stderr", fmt.Sprintf(`Exception in thread "main" org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 1.0 failed 4 times, most recent failure: Lost task 0.3 in stage 1.0 (TID 7) (%s executor 1): java.lang.IllegalStateException: simulated failure of %s
	at %s.main(Main.scala:42)
	at org.apache.spark.rdd.RDD.$anonfun$mapPartitions$2(RDD.scala:855)
	at org.apache.spark.scheduler.ResultTask.runTask(ResultTask.scala:93)
	at org.apache.spark.executor.Executor$TaskRunner.run(Executor.scala:620)
	at java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)
	at java.base/java.lang.Thread.run(Thread.java:840)
Driver stacktrace:
	at org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2856)
	at org.apache.spark.deploy.SparkSubmit.doRunMain$1(SparkSubmit.scala:1029)
`, t.agentIP, drv.name, drv.mainClass))
	}
	sb.write(now, "stderr", sparkLog(now, "INFO", "ShutdownHookManager", "Shutdown hook called"))
}

// sparkVersion is the Spark version the simulated drivers report.
const sparkVersion = "3.5.1"

// GarbageCollect removes the sandboxes of ended tasks from every agent, as
// an agent's --gc_delay does: their files are gone (404).
func (c *Cluster) GarbageCollect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.agents {
		for p, sb := range a.sandboxes {
			if sb.done {
				delete(a.sandboxes, p)
			}
		}
	}
}

// startAgentServerLocked serves an agent's HTTP API on its own address
// (an ephemeral port, which the master reports as the agent's port).
func (c *Cluster) startAgentServerLocked(a *agent) error {
	l, err := net.Listen("tcp", net.JoinHostPort(a.ip, "0"))
	if err != nil {
		return fmt.Errorf("agent %s: %w", a.info.ID.Value, err)
	}
	_, p, _ := net.SplitHostPort(l.Addr().String())
	port, _ := strconv.Atoi(p)
	p32 := int32(port)
	a.info.Port = &p32
	a.port = port
	mux := http.NewServeMux()
	mux.HandleFunc("/files/read", func(w http.ResponseWriter, r *http.Request) { c.filesRead(a, w, r) })
	mux.HandleFunc("/files/browse", func(w http.ResponseWriter, r *http.Request) { c.filesBrowse(a, w, r) })
	mux.HandleFunc("/files/download", func(w http.ResponseWriter, r *http.Request) { c.filesDownload(a, w, r) })
	mux.HandleFunc("/files/debug", func(w http.ResponseWriter, r *http.Request) { c.filesDebug(a, w, r) })
	a.server = &http.Server{Handler: c.recorded("agent", c.agentUp(a, mux)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.server.Serve(l) }()
	return nil
}

// agentUp refuses requests to an agent that is gone (its process is
// unreachable): the connection is closed without an answer.
func (c *Cluster) agentUp(a *agent, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		up := a.listed()
		c.mu.Unlock()
		if !up {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if !c.authorized(w, r, "mesos-agent-readonly") {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// resolveLocked finds a path as the agent's files process does: the
// longest attached prefix, then a file inside it.
func (a *agent) resolveLocked(p string) (sb *sandbox, file string, ok bool) {
	p = strings.TrimSuffix(p, "/")
	if sb := a.sandboxes[p]; sb != nil {
		return sb, "", true
	}
	dir, name := path.Split(p)
	if sb := a.sandboxes[strings.TrimSuffix(dir, "/")]; sb != nil && sb.files[name] != nil {
		return sb, name, true
	}
	return nil, "", false
}

func (c *Cluster) filesRead(a *agent, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := pathOf(w, r)
	if !ok {
		return
	}
	offset, length := int64(-1), int64(-1)
	if v := q.Get("offset"); q.Has("offset") {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("Failed to parse offset: Failed to convert '%s' to number.\n", v))
			return
		}
		offset = n
	}
	if v := q.Get("length"); q.Has("length") {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("Failed to parse length: Failed to convert '%s' to number.\n", v))
			return
		}
		length = n
	}
	if offset < -1 {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("Negative offset provided: %d.\n", offset))
		return
	}
	data, ok := c.fileOf(a, w, p, "Cannot read a directory.\n")
	if !ok {
		return
	}
	size := int64(len(data))
	if offset == -1 {
		offset = size
	}
	if length == -1 {
		length = size - offset
	}
	length = min(length, 16*4096)
	out := map[string]any{"offset": size, "data": ""}
	if offset < size {
		end := min(offset+max(length, 0), size)
		out = map[string]any{"offset": offset, "data": string(data[offset:end])}
	}
	writeJSON(w, out)
}

func (c *Cluster) filesBrowse(a *agent, w http.ResponseWriter, r *http.Request) {
	p, ok := pathOf(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	sb, name, ok := a.resolveLocked(p)
	type entry struct {
		GID   string  `json:"gid"`
		Mode  string  `json:"mode"`
		MTime float64 `json:"mtime"`
		NLink int     `json:"nlink"`
		Path  string  `json:"path"`
		Size  int     `json:"size"`
		UID   string  `json:"uid"`
	}
	list := []entry{}
	if ok && name == "" {
		for n, f := range sb.files {
			list = append(list, entry{GID: "root", Mode: "-rw-r--r--", MTime: float64(f.mtime.Unix()), NLink: 1,
				Path: strings.TrimSuffix(p, "/") + "/" + n, Size: len(f.data), UID: "root"})
		}
	}
	c.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	writeJSON(w, list)
}

func (c *Cluster) filesDownload(a *agent, w http.ResponseWriter, r *http.Request) {
	p, ok := pathOf(w, r)
	if !ok {
		return
	}
	data, ok := c.fileOf(a, w, p, "Cannot download a directory.\n")
	if ok {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", "attachment; filename="+path.Base(p))
		_, _ = w.Write(data)
	}
}

// fileOf copies a sandbox file's content, or answers as the agent does
// when the path is no file: 404, or 400 for a directory.
func (c *Cluster) fileOf(a *agent, w http.ResponseWriter, p, isDir string) ([]byte, bool) {
	c.mu.Lock()
	sb, name, ok := a.resolveLocked(p)
	var data []byte
	if ok && name != "" {
		data = append([]byte(nil), sb.files[name].data...)
	}
	c.mu.Unlock()
	switch {
	case !ok:
		w.WriteHeader(http.StatusNotFound)
		return nil, false
	case name == "":
		httpError(w, http.StatusBadRequest, isDir)
		return nil, false
	}
	return data, true
}

func (c *Cluster) filesDebug(a *agent, w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	out := map[string]string{}
	for p, sb := range a.sandboxes {
		out[p] = sb.dir
	}
	c.mu.Unlock()
	writeJSON(w, out)
}

// progressLocked writes a running driver's progress every 500ms until
// it ends.
func (c *Cluster) progressLocked(t *task, n int) {
	c.after(500*time.Millisecond, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if isTerminal(t.state) {
			return
		}
		c.driverLogProgressLocked(t, n)
		c.progressLocked(t, n+1)
	})
}

// pathOf is a files request's path, or answers 400 as the agent does
// without one.
func pathOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	p := r.URL.Query().Get("path")
	if p == "" {
		httpError(w, http.StatusBadRequest, "Expecting 'path=value' in query.\n")
	}
	return p, p != ""
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
