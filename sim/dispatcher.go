package sim

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// SparkVersion is the serverSparkVersion the simulated dispatcher reports.
const SparkVersion = "3.5.4"

// DispatcherConfig configures a simulated MesosClusterDispatcher.
type DispatcherConfig struct {
	// Addr to listen on; default 127.0.0.1:0.
	Addr string
	// Queues are spark.mesos.dispatcher.queue.<name> priorities; "default"
	// (0.0) always exists.
	Queues map[string]float64
	// DriverDefaults are spark.mesos.dispatcher.driverDefault.<key>
	// values: passed to every driver's --conf (its SparkConf, which sizes
	// its executors), never used to size the driver's own task.
	DriverDefaults map[string]string
	// Name is the framework name. Default "Spark Cluster".
	Name string
	// Role of the dispatcher's framework. Default "*".
	Role string
	// MaxDrivers bounds launched drivers (spark.mesos.maxDrivers, 200);
	// RetainedDrivers bounds finished ones kept (spark.mesos.retainedDrivers, 200).
	MaxDrivers, RetainedDrivers int
	// RegistrationDelay delays the framework's registration, and so the
	// opening of the REST port, this long after the dispatcher starts.
	RegistrationDelay time.Duration
	// Location is the time zone of submission ids. Default UTC.
	Location *time.Location
	// RetryWaitMax caps the supervise retry backoff (spark.mesos.cluster.retry.wait.max, 60s).
	RetryWaitMax time.Duration
	// RejectOfferDuration is how long offers no driver can use are declined
	// (spark.mesos.rejectOfferDuration, 120s).
	RejectOfferDuration time.Duration
}

// Dispatcher is a simulated Spark MesosClusterDispatcher: the REST
// submission server and the Mesos framework that launches drivers. Its state
// is guarded by the cluster's lock.
type Dispatcher struct {
	c      *Cluster
	cfg    DispatcherConfig
	server *http.Server
	addr   string

	fw         *framework
	registered bool
	// aborted says why its scheduler driver aborted: it launches nothing
	// until restarted.
	aborted  string
	counter  int
	queued   []*driver
	launched map[string]*driver
	retrying []*driver
	finished []*driver
	// retired are drivers retired by an outdated task's status while
	// their current task runs, by that task's id.
	retired map[string]*driver
}

type driver struct {
	id          string
	submitted   time.Time
	props       map[string]string
	env         map[string]string
	appResource string
	mainClass   string
	args        []string
	name        string
	cores       float64
	descMem     int64 // spark.driver.memory + first overhead: what --driver-memory gets
	taskMem     int64 // descMem + second overhead: the Mesos task's mem
	supervise   bool
	queue       string
	priority    float64
	retries     int
	nextRetry   time.Time
	retryWait   time.Duration
	taskID      string
	status      *mesos.TaskStatus
	app         *driverFramework
	runFor      time.Duration
	outcome     mesos.TaskState
	constraints map[string][]string // spark.mesos.driver.constraints, parsed
	badCons     bool                // malformed: Spark throws in the offer callback; never launched
	// launchErr is the SparkException createTaskInfo threw (the driver
	// finished without a task).
	launchErr string
}

// launchError is the SparkException Spark's createTaskInfo throws for a
// driver's properties, "" when it builds the task: malformed driver or
// network labels (MesosProtoUtils.mesosLabels), both value and reference
// secrets, or secrets that do not pair up with their file names or
// environment keys (MesosSchedulerBackendUtil.getSecretVolume,
// getSecretEnvVar).
func launchError(props map[string]string) string {
	labels := []string{props["spark.mesos.driver.labels"]}
	if props["spark.mesos.network.name"] != "" {
		labels = append(labels, props["spark.mesos.network.labels"])
	}
	for _, l := range labels {
		if l == "" {
			continue
		}
		for _, part := range labelSplit(l, ',') {
			if len(labelSplit(part, ':')) != 2 {
				return "Malformed label: " + part
			}
		}
	}
	list := func(k string) []string {
		if v := props["spark.mesos.driver.secret."+k]; v != "" {
			return strings.Split(v, ",")
		}
		return nil
	}
	names, values := list("names"), list("values")
	if len(names) > 0 && len(values) > 0 {
		return "Cannot specify both value-type and reference-type secrets."
	}
	secrets := max(len(names), len(values))
	if f := list("filenames"); len(f) > 0 && len(f) != secrets {
		return "Need to give equal numbers of secrets and file paths for file-based reference secrets"
	}
	if e := list("envkeys"); len(e) > 0 && len(e) != secrets {
		return "Need to give equal numbers of secrets and environment keys for environment-based reference secrets"
	}
	return ""
}

// labelSplit splits on an unescaped separator as MesosProtoUtils'
// splitUnescaped does: nothing from "", every piece (empty ones too)
// otherwise, so "k:" is a label with an empty value and "a:b," ends in an
// empty, malformed label.
func labelSplit(s string, sep byte) []string {
	if s == "" {
		return nil
	}
	return splitUnescaped(s, sep)
}

// abortLocked is the dispatcher's scheduler driver aborting on an
// exception thrown in its offer callback: the driver stops, so the
// framework disconnects from the master and gets no more offers; Spark's
// error callback only marks an error, and the REST server keeps answering
// 200 (a queued driver stays QUEUED, a kill of one still works).
func (d *Dispatcher) abortLocked(why string) {
	d.aborted = why
	d.fw.connected, d.fw.active = false, false
}

// Aborted says why the dispatcher's scheduler driver aborted ("" while
// it runs).
func (d *Dispatcher) Aborted() string {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	return d.aborted
}

// StartDispatcher starts a dispatcher registered with the cluster.
func (c *Cluster) StartDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startDispatcherLocked(cfg)
}

func (c *Cluster) startDispatcherLocked(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Name == "" {
		cfg.Name = "Spark Cluster"
	}
	if cfg.Role == "" {
		cfg.Role = "*"
	}
	if cfg.MaxDrivers == 0 {
		cfg.MaxDrivers = 200
	}
	if cfg.RetainedDrivers == 0 {
		cfg.RetainedDrivers = 200
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.RetryWaitMax == 0 {
		cfg.RetryWaitMax = 60 * time.Second
	}
	if cfg.RejectOfferDuration == 0 {
		cfg.RejectOfferDuration = 120 * time.Second
	}
	d := &Dispatcher{c: c, cfg: cfg, launched: map[string]*driver{}}
	if err := d.listen(); err != nil {
		return nil, err
	}
	c.dispatchers = append(c.dispatchers, d)
	d.registerLocked("")
	return d, nil
}

// listen reserves the REST address (a port that cannot be bound fails the
// start, as it fails Spark's). The port itself opens only once the
// framework is registered (openLocked): MesosClusterDispatcher starts its
// REST server after scheduler.start() returns, which waits for the
// registration (MesosClusterDispatcher.scala ~86-91), so before that a
// client's connection is refused.
func (d *Dispatcher) listen() error {
	l, err := net.Listen("tcp", d.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	d.addr = l.Addr().String()
	d.cfg.Addr = d.addr
	return l.Close()
}

// openLocked opens the REST port, if it is not open.
func (d *Dispatcher) openLocked() {
	if d.server != nil {
		return
	}
	l, err := net.Listen("tcp", d.addr)
	if err != nil {
		return // taken since it was reserved: the port stays closed, as a real one would
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", d.serve)
	d.server = &http.Server{Handler: d.c.recorded("dispatcher", d.c.faultyAs("dispatcher", mux)), ReadHeaderTimeout: 10 * time.Second}
	srv := d.server
	go func() { _ = srv.Serve(l) }()
}

// closeLocked closes the REST port: the process ended.
func (d *Dispatcher) closeLocked() {
	if d.server != nil {
		_ = d.server.Close()
		d.server = nil
	}
}

// URL is the dispatcher's REST base URL.
func (d *Dispatcher) URL() string { return "http://" + d.addr }

// FrameworkID is the dispatcher's current Mesos framework id.
func (d *Dispatcher) FrameworkID() string {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	if d.fw == nil {
		return ""
	}
	return d.fw.id
}

// registerLocked registers the dispatcher's framework (with a persisted id
// when recovering), after the configured delay.
func (d *Dispatcher) registerLocked(id string) {
	c := d.c
	if id == "" {
		id = fmt.Sprintf("%s-%04d", c.masterID, c.next("framework"))
	}
	ft := float64(math.MaxInt32) // Integer.MAX_VALUE seconds, as Spark sets
	ck := true
	user := "root"
	role := d.cfg.Role
	d.fw = &framework{id: id, internal: dispatcherScheduler{d}, regTime: c.now()}
	d.fw.reregTime = d.fw.regTime
	d.fw.info = mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: id}, Name: d.cfg.Name, User: user,
		FailoverTimeout: &ft, Checkpoint: &ck, Role: &role, Hostname: strPtr("127.0.0.1"),
		WebUiURL: strPtr(d.URL())}
	c.frameworks[id] = d.fw
	fw := d.fw
	activate := func() {
		fw.connected, fw.active = true, true
		d.registered = true
		d.openLocked()
	}
	if d.cfg.RegistrationDelay > 0 {
		c.after(d.cfg.RegistrationDelay, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if d.fw == fw {
				activate()
			}
		})
		return
	}
	activate()
}

// Restart stops and starts the dispatcher process. With recover (ZooKeeper
// recovery) it keeps its framework id and its queued, launched and retrying
// drivers, and reconciles them; finished drivers are forgotten either way.
// Without recovery the old framework stays registered but disconnected
// (its failover timeout is ~68 years) with its driver tasks still running,
// and the new process registers a new framework with no drivers.
func (d *Dispatcher) Restart(recover bool) error {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	d.aborted = ""
	d.counter = 0 // the REST server's nextDriverNumber is per process, recovery or not
	d.closeLocked()
	d.stopLocked(recover)
	d.startAgainLocked()
	return nil
}

// stopLocked is the process ending: its framework disconnects (its failover
// timeout is ~68 years: its drivers keep running). With recover the state
// stays (it is in ZooKeeper) for the next process; without it is gone.
func (d *Dispatcher) stopLocked(recover bool) {
	old := d.fw
	old.connected, old.active = false, false
	d.registered = false
	d.finished = nil
	if !recover {
		old.internal = orphanScheduler{}
		d.queued, d.retrying, d.launched = nil, nil, map[string]*driver{}
		d.fw = nil
	}
}

// startAgainLocked is a new process: with recovered state it registers
// with the old framework id and reconciles its drivers.
func (d *Dispatcher) startAgainLocked() {
	c := d.c
	if d.fw == nil {
		d.registerLocked("")
		return
	}
	old := d.fw
	d.registerLocked(old.id)
	for _, drv := range d.launched {
		if t := c.tasks[taskKey(old.id, drv.taskID)]; t != nil && len(t.statuses) > 0 {
			st := t.statuses[len(t.statuses)-1]
			drv.status = &st
		}
	}
}

// dispatcherBehavior runs "spark-class ...MesosClusterDispatcher" as a
// task: a dispatcher on the agent's address and --port, named --name, with
// the --conf queues and role. With ZooKeeper recovery
// (spark.deploy.recoveryMode=ZOOKEEPER) its state outlives the task: the next
// task with the same spark.deploy.zookeeper.url and dir recovers it.
func dispatcherBehavior(cmd string) behavior {
	words := shellWords(cmd)
	cfg := DispatcherConfig{Queues: map[string]float64{}}
	conf := map[string]string{}
	port := "7077"
	for i := 0; i+1 < len(words); i++ {
		switch words[i] {
		case "--port", "-p":
			port = words[i+1]
		case "--name":
			cfg.Name = words[i+1]
		case "--conf":
			if k, v, ok := strings.Cut(words[i+1], "="); ok {
				conf[k] = v
			}
		}
	}
	for k, v := range conf {
		if q, ok := strings.CutPrefix(k, "spark.mesos.dispatcher.queue."); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				cfg.Queues[q] = f
			}
		}
		if key, ok := strings.CutPrefix(k, "spark.mesos.dispatcher.driverDefault."); ok {
			if cfg.DriverDefaults == nil {
				cfg.DriverDefaults = map[string]string{}
			}
			cfg.DriverDefaults[key] = v
		}
	}
	cfg.Role = conf["spark.mesos.role"]
	recovery := ""
	if conf["spark.deploy.recoveryMode"] == "ZOOKEEPER" {
		recovery = conf["spark.deploy.zookeeper.url"] + "|" + conf["spark.deploy.zookeeper.dir"]
	}
	return behavior{
		start: func(c *Cluster, t *task) error {
			a := c.agentLocked(t.info.AgentID.Value)
			if a == nil {
				return fmt.Errorf("agent %s is gone", t.info.AgentID.Value)
			}
			cfg.Addr = a.ip + ":" + port
			key := taskKey(t.framework, t.info.TaskID.Value)
			if d := c.recoverable[recovery]; recovery != "" && d != nil {
				delete(c.recoverable, recovery)
				d.cfg.Addr = cfg.Addr
				if err := d.listen(); err != nil {
					c.recoverable[recovery] = d
					return fmt.Errorf("Failed to bind %s: %v", cfg.Addr, err)
				}
				d.startAgainLocked()
				c.dispatcherTasks[key] = d
				return nil
			}
			d, err := c.startDispatcherLocked(cfg)
			if err != nil {
				return err
			}
			c.dispatcherTasks[key] = d
			return nil
		},
		stop: func(c *Cluster, t *task) {
			key := taskKey(t.framework, t.info.TaskID.Value)
			d := c.dispatcherTasks[key]
			if d == nil {
				return
			}
			delete(c.dispatcherTasks, key)
			d.closeLocked()
			d.stopLocked(recovery != "")
			if recovery != "" {
				c.recoverable[recovery] = d
			}
		},
	}
}

// shellWords splits a shell command line into words, honouring single and
// double quotes and backslashes (enough for the commands render writes).
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote == '\'':
			if ch == '\'' {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case quote == '"':
			switch {
			case ch == '"':
				quote = 0
			case ch == '\\' && i+1 < len(s):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote, in = ch, true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// SubmittedArgs returns the application arguments of the latest
// submission whose spark.app.name is name, among those it still knows.
func (d *Dispatcher) SubmittedArgs(name string) []string {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	var found *driver
	consider := func(drv *driver) {
		if drv.props["spark.app.name"] == name && (found == nil || drv.submitted.After(found.submitted)) {
			found = drv
		}
	}
	for _, drv := range d.launched {
		consider(drv)
	}
	for _, drv := range d.finished {
		consider(drv)
	}
	if found == nil {
		return nil
	}
	return append([]string(nil), found.args...)
}

// Finished counts the drivers the dispatcher has seen end (at most
// RetainedDrivers are kept, as Spark keeps them).
func (d *Dispatcher) Finished() int {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	return len(d.finished)
}

// Finish ends a running driver with a task state (TASK_FINISHED,
// TASK_FAILED, TASK_KILLED, TASK_LOST...), as if its process exited.
func (d *Dispatcher) Finish(submissionID string, state mesos.TaskState, message string) error {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	drv := d.launched[submissionID]
	if drv == nil {
		return fmt.Errorf("driver %s is not running: %w", submissionID, errNotFound)
	}
	t := c.tasks[taskKey(d.fw.id, drv.taskID)]
	if t == nil {
		return fmt.Errorf("driver %s has no task: %w", submissionID, errNotFound)
	}
	c.finishLocked(t, state, message)
	return nil
}

// jackson writes a JSON object as Spark's Jackson mapper does: keys sorted,
// nulls omitted, pretty-printed with "key" : value.
func jackson(fields map[string]any) []byte {
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if v != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{\n")
	for i, k := range keys {
		v, _ := json.Marshal(fields[k])
		if list, ok := fields[k].([]string); ok {
			// Jackson's DefaultPrettyPrinter: [ "a", "b" ] on one line.
			quoted := make([]string, len(list))
			for j, s := range list {
				q, _ := json.Marshal(s)
				quoted[j] = string(q)
			}
			v = []byte("[ " + strings.Join(quoted, ", ") + " ]")
		}
		fmt.Fprintf(&b, "  %q : %s", k, v)
		if i < len(keys)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}")
	return []byte(b.String())
}

func writeJackson(w http.ResponseWriter, code int, fields map[string]any) {
	fields["serverSparkVersion"] = SparkVersion
	b := jackson(fields)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeErrorResponse(w http.ResponseWriter, code int, msg string) {
	fields := map[string]any{"action": "ErrorResponse", "message": msg}
	if code == 468 {
		fields["highestProtocolVersion"] = "v1"
	}
	writeJackson(w, code, fields)
}

// writeHTML answers as Jetty 9.4's ErrorHandler does for a servlet's
// sendError or uncaught exception when the client sends no Accept header
// (the reconciler's client sends none): text/html in ISO-8859-1 with the
// status and message in the title and heading, a table of URI, STATUS,
// MESSAGE, SERVLET and, for an exception, CAUSED BY, its stack trace
// (showStacks is on by default), and the "Powered by" line.
func writeHTML(w http.ResponseWriter, r *http.Request, code int, msg, servlet string, exception bool) {
	esc := html.EscapeString
	w.Header().Set("Content-Type", "text/html;charset=iso-8859-1")
	w.Header().Set("Cache-Control", "must-revalidate,no-cache,no-store")
	w.WriteHeader(code)
	var b strings.Builder
	fmt.Fprintf(&b, "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n<title>Error %d %s</title>\n</head>\n<body>", code, esc(msg))
	fmt.Fprintf(&b, "<h2>HTTP ERROR %d %s</h2>\n<table>\n", code, esc(msg))
	fmt.Fprintf(&b, "<tr><th>URI:</th><td>%s</td></tr>\n<tr><th>STATUS:</th><td>%d</td></tr>\n<tr><th>MESSAGE:</th><td>%s</td></tr>\n", esc(r.URL.Path), code, esc(msg))
	fmt.Fprintf(&b, "<tr><th>SERVLET:</th><td>org.apache.spark.deploy.rest.mesos.%s-5b8a2fd4</td></tr>\n", servlet)
	if exception {
		fmt.Fprintf(&b, "<tr><th>CAUSED BY:</th><td>%s</td></tr>\n</table>\n", esc(msg))
		fmt.Fprintf(&b, "<h3>Caused by:</h3><pre>%s\n\tat org.apache.spark.deploy.rest.mesos.MesosSubmitRequestServlet.handleSubmit(MesosRestServer.scala:166)\n"+
			"\tat org.apache.spark.deploy.rest.SubmitRequestServlet.doPost(RestSubmissionServer.scala:260)\n\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:523)\n</pre>\n", esc(msg))
	} else {
		b.WriteString("</table>\n")
	}
	b.WriteString("<hr><a href=\"https://eclipse.org/jetty\">Powered by Jetty:// 9.4.54.v20240208</a><hr/>\n\n</body>\n</html>\n")
	_, _ = io.WriteString(w, b.String())
}

const missingAction = "Missing an action: please specify one of /create, /kill, or /status. Please submit requests through http://[host]:[port]/v1/submissions/..."

// serve routes as RestSubmissionServer does: /v1/submissions/{create,
// kill,status}/* to their servlets, anything else to its ErrorServlet,
// which answers by the path's non-empty segments: none, 400 "Missing
// protocol version."; v1 alone, 400 "Missing the /submissions prefix.";
// v1/submissions/..., 400 "Missing an action"; any other first segment —
// v1 followed by anything but submissions included — 468 "Unknown protocol
// version '<it>'." with highestProtocolVersion v1.
func (d *Dispatcher) serve(w http.ResponseWriter, r *http.Request) {
	raw := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var parts []string
	for _, p := range raw {
		if p != "" {
			parts = append(parts, p)
		}
	}
	const please = " Please submit requests through http://[host]:[port]/v1/submissions/..."
	switch {
	case len(parts) == 0:
		writeErrorResponse(w, http.StatusBadRequest, "Missing protocol version."+please)
		return
	case parts[0] == "v1" && len(parts) == 1:
		writeErrorResponse(w, http.StatusBadRequest, "Missing the /submissions prefix."+please)
		return
	case parts[0] != "v1" || parts[1] != "submissions":
		writeErrorResponse(w, 468, fmt.Sprintf("Unknown protocol version '%s'."+please, parts[0]))
		return
	case len(parts) == 2 || len(raw) < 3 || raw[1] != "submissions":
		writeErrorResponse(w, http.StatusBadRequest, missingAction)
		return
	}
	parts = raw
	id := ""
	if len(parts) > 3 {
		id = parts[3]
	}
	routes := map[string]struct {
		method  string
		needID  bool
		servlet string
		serve   func()
	}{
		"create": {http.MethodPost, false, "MesosSubmitRequestServlet", func() { d.create(w, r) }},
		"status": {http.MethodGet, true, "MesosStatusRequestServlet", func() { d.status(w, id) }},
		"kill":   {http.MethodPost, true, "MesosKillRequestServlet", func() { d.kill(w, id) }},
	}
	route, ok := routes[parts[2]]
	switch {
	case !ok:
		writeErrorResponse(w, http.StatusBadRequest, missingAction)
	case r.Method != route.method:
		writeHTML(w, r, http.StatusMethodNotAllowed, "HTTP method "+r.Method+" is not supported by this URL", route.servlet, false)
	case route.needID && id == "":
		writeErrorResponse(w, http.StatusBadRequest, "Submission ID is missing in "+parts[2]+" request.")
	default:
		route.serve()
	}
}

// createFields are CreateSubmissionRequest's JSON fields (with those of
// SubmitRestProtocolRequest and SubmitRestProtocolMessage).
var createFields = map[string]bool{"action": true, "message": true, "clientSparkVersion": true, "appResource": true, "mainClass": true,
	"appArgs": true, "sparkProperties": true, "environmentVariables": true}

// knownActions are the message classes Spark 3.5 has (a kill or status
// request has no message class there: SubmitRestProtocolMessage.fromJson
// throws ClassNotFoundException, a 500).
var knownActions = map[string]bool{"CreateSubmissionRequest": true,
	"CreateSubmissionResponse": true, "KillSubmissionResponse": true, "SubmissionStatusResponse": true, "ErrorResponse": true}

const validationFailed = "Malformed request: org.apache.spark.deploy.rest.SubmitRestProtocolException: Validation of message CreateSubmissionRequest failed!\n\tat org.apache.spark.deploy.rest.SubmitRestProtocolMessage.validate(SubmitRestProtocolMessage.scala:75)"

func (d *Dispatcher) create(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		writeErrorResponse(w, http.StatusBadRequest, "Malformed request: com.fasterxml.jackson.core.JsonParseException: "+err.Error())
		return
	}
	action, ok := raw["action"].(string)
	if !ok {
		writeErrorResponse(w, http.StatusBadRequest, "Malformed request: org.apache.spark.deploy.rest.SubmitRestMissingFieldException: Action field not found in JSON")
		return
	}
	if !knownActions[action] {
		writeHTML(w, r, http.StatusInternalServerError, "java.lang.ClassNotFoundException: org.apache.spark.deploy.rest."+action, "MesosSubmitRequestServlet", true)
		return
	}
	if action != "CreateSubmissionRequest" {
		// A response class parses, then validate() wants its own required
		// fields (SubmitRestProtocolResponse: serverSparkVersion and
		// success; ErrorResponse: message): without them a 400 "Malformed
		// request"; with them handleSubmit's unexpected type.
		required := []string{"serverSparkVersion", "success"}
		if action == "ErrorResponse" {
			required = []string{"serverSparkVersion", "message"}
		}
		for _, f := range required {
			if raw[f] == nil {
				writeErrorResponse(w, http.StatusBadRequest, "Malformed request: org.apache.spark.deploy.rest.SubmitRestProtocolException: Validation of message "+action+" failed!\n"+
					"\tat org.apache.spark.deploy.rest.SubmitRestProtocolMessage.validate(SubmitRestProtocolMessage.scala:75)")
				return
			}
		}
		writeErrorResponse(w, http.StatusBadRequest, "Received message of unexpected type "+action+".")
		return
	}
	var req struct {
		AppResource          *string           `json:"appResource"`
		MainClass            *string           `json:"mainClass"`
		AppArgs              []string          `json:"appArgs"`
		ClientSparkVersion   *string           `json:"clientSparkVersion"`
		EnvironmentVariables map[string]string `json:"environmentVariables"`
		SparkProperties      map[string]string `json:"sparkProperties"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeErrorResponse(w, http.StatusBadRequest, "Malformed request: "+err.Error())
		return
	}
	props := req.SparkProperties
	valid := req.ClientSparkVersion != nil && props != nil && req.AppResource != nil && req.AppArgs != nil && req.EnvironmentVariables != nil && props["spark.app.name"] != ""
	if valid {
		if v, ok := props["spark.driver.supervise"]; ok && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			valid = false
		}
		for _, k := range []string{"spark.driver.cores", "spark.cores.max"} {
			if v, ok := props[k]; ok {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					valid = false
				}
			}
		}
		for _, k := range []string{"spark.driver.memory", "spark.executor.memory"} {
			if v, ok := props[k]; ok {
				if _, err := byteStringToMiB(v); err != nil {
					valid = false
				}
			}
		}
	}
	if !valid {
		writeErrorResponse(w, http.StatusBadRequest, validationFailed)
		return
	}
	if req.MainClass == nil {
		writeErrorResponse(w, http.StatusBadRequest, "Malformed request: org.apache.spark.deploy.rest.SubmitRestMissingFieldException: Main class is missing.")
		return
	}
	drv, err := newDriver(req.AppResource, req.MainClass, req.AppArgs, props, req.EnvironmentVariables)
	if err != nil {
		writeHTML(w, r, http.StatusInternalServerError, err.Error(), "MesosSubmitRequestServlet", true)
		return
	}
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(d.launched) >= d.cfg.MaxDrivers {
		writeJackson(w, http.StatusOK, map[string]any{"action": "CreateSubmissionResponse", "success": false, "message": "Already reached maximum submission size"})
		return
	}
	if drv.queue != "default" {
		p, ok := d.cfg.Queues[drv.queue]
		if !ok {
			writeHTML(w, r, http.StatusInternalServerError, "java.util.NoSuchElementException: key not found: "+drv.queue, "MesosSubmitRequestServlet", true)
			return
		}
		drv.priority = p
	}
	d.counter++
	now := c.now()
	drv.submitted = now
	drv.id = fmt.Sprintf("driver-%s-%04d", now.In(d.cfg.Location).Format("20060102150405"), d.counter)
	d.queued = append(d.queued, drv)
	d.fw.filters = nil // reviveOffers
	resp := map[string]any{"action": "CreateSubmissionResponse", "success": true, "submissionId": drv.id}
	// RestServlet.findUnknownFields: the request's fields a
	// CreateSubmissionRequest does not have, which Spark ignored.
	var unknown []string
	for k := range raw {
		if !createFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		resp["unknownFields"] = unknown
	}
	writeJackson(w, http.StatusOK, resp)
}

// newDriver builds a driver description as MesosRestServer does, including
// its memory arithmetic; an exception it would throw comes back as an error.
func newDriver(appResource, mainClass *string, args []string, props, env map[string]string) (*driver, error) {
	drv := &driver{props: props, env: env, appResource: *appResource, mainClass: *mainClass, args: args, queue: "default", outcome: mesos.TASK_FINISHED}
	drv.name = props["spark.app.name"]
	drv.supervise = strings.EqualFold(props["spark.driver.supervise"], "true")
	mem := int64(1024)
	if v, ok := props["spark.driver.memory"]; ok {
		mem, _ = byteStringToMiB(v)
	}
	factor := 0.10
	if v, ok := props["spark.driver.memoryOverheadFactor"]; ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("java.lang.NumberFormatException: For input string: %q", v)
		}
		factor = f
	}
	overhead1 := max(int64(factor*float64(mem)), 384)
	if v, ok := props["spark.driver.memoryOverhead"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("java.lang.NumberFormatException: For input string: %q", v)
		}
		overhead1 = int64(n)
	}
	drv.descMem = mem + overhead1
	overhead2 := max(int64(0.10*float64(drv.descMem)), 384)
	if v, ok := props["spark.mesos.driver.memoryOverhead"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("java.lang.NumberFormatException: For input string: %q", v)
		}
		overhead2 = int64(n)
	}
	drv.taskMem = drv.descMem + overhead2
	drv.cores = 1
	if v, ok := props["spark.driver.cores"]; ok {
		drv.cores, _ = strconv.ParseFloat(v, 64)
	}
	if q, ok := props["spark.mesos.dispatcher.queue"]; ok { // set but empty: a queue named "", which no lookup finds
		drv.queue = q
	}
	var err error
	if drv.constraints, err = parseSparkConstraints(props["spark.mesos.driver.constraints"]); err != nil {
		drv.badCons = true
	}
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--sim-duration="); ok {
			drv.runFor, _ = time.ParseDuration(v)
		}
		if v, ok := strings.CutPrefix(a, "--sim-outcome="); ok {
			if s, ok := mesos.TaskState_value[v]; ok {
				drv.outcome = mesos.TaskState(s)
			}
		}
	}
	return drv, nil
}

// byteStringToMiB is Spark's Utils.memoryStringToMb: JavaUtils'
// byteStringAsBytes / 1024 / 1024, so a bare number is bytes.
func byteStringToMiB(s string) (int64, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(in) && in[i] >= '0' && in[i] <= '9' {
		i++
	}
	if i == 0 || strings.HasPrefix(in[i:], ".") {
		return 0, fmt.Errorf("invalid byte string %q", s)
	}
	n, err := strconv.ParseInt(in[:i], 10, 64)
	if err != nil {
		return 0, err
	}
	shift := map[string]uint{"": 0, "b": 0, "k": 10, "kb": 10, "m": 20, "mb": 20, "g": 30, "gb": 30, "t": 40, "tb": 40, "p": 50, "pb": 50}
	sh, ok := shift[in[i:]]
	if !ok {
		return 0, fmt.Errorf("invalid suffix %q", in[i:])
	}
	return (n << sh) >> 20, nil
}

func (d *Dispatcher) status(w http.ResponseWriter, id string) {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := map[string]any{"action": "SubmissionStatusResponse", "submissionId": id, "success": true}
	find := func(list []*driver) *driver {
		for _, x := range list {
			if x.id == id {
				return x
			}
		}
		return nil
	}
	switch {
	case find(d.queued) != nil:
		resp["driverState"] = "QUEUED"
	case d.launched[id] != nil:
		resp["driverState"] = "RUNNING"
		if st := d.launched[id].status; st != nil {
			resp["message"] = textFormat(*st)
		}
	case find(d.finished) != nil:
		resp["driverState"] = "FINISHED"
		if st := find(d.finished).status; st != nil {
			resp["message"] = textFormat(*st)
		}
	case find(d.retrying) != nil:
		resp["driverState"] = "RETRYING"
		if st := find(d.retrying).status; st != nil {
			resp["message"] = textFormat(*st)
		}
	default:
		resp["driverState"] = "NOT_FOUND"
		resp["success"] = false
	}
	writeJackson(w, http.StatusOK, resp)
}

func (d *Dispatcher) kill(w http.ResponseWriter, id string) {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := map[string]any{"action": "KillSubmissionResponse", "submissionId": id}
	remove := func(list *[]*driver) bool {
		for i, x := range *list {
			if x.id == id {
				*list = append((*list)[:i], (*list)[i+1:]...)
				return true
			}
		}
		return false
	}
	switch {
	case d.launched[id] != nil:
		if t := c.tasks[taskKey(d.fw.id, d.launched[id].taskID)]; t != nil {
			c.killLocked(t)
		}
		resp["success"], resp["message"] = true, "Killing running driver"
	case remove(&d.queued):
		resp["success"], resp["message"] = true, "Removed driver while it's still pending"
	case remove(&d.retrying):
		resp["success"], resp["message"] = true, "Removed driver while it's being retried"
	default:
		resp["success"] = false
		resp["message"] = "Cannot find driver"
		for _, x := range d.finished {
			if x.id == id {
				resp["message"] = "Driver already terminated"
			}
		}
	}
	writeJackson(w, http.StatusOK, resp)
}

// textFormat renders a status as protobuf TextFormat of Mesos' v0
// TaskStatus (v0 field names, fields in field-number order), as the
// dispatcher's status message carries it.
func textFormat(st mesos.TaskStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "task_id {\n  value: %q\n}\n", st.TaskID.Value)
	if st.State != nil {
		fmt.Fprintf(&b, "state: %s\n", st.State.String())
	}
	if st.Message != nil {
		fmt.Fprintf(&b, "message: %q\n", *st.Message)
	}
	if st.AgentID != nil {
		fmt.Fprintf(&b, "slave_id {\n  value: %q\n}\n", st.AgentID.Value)
	}
	if st.Timestamp != nil {
		fmt.Fprintf(&b, "timestamp: %s\n", strconv.FormatFloat(*st.Timestamp, 'f', -1, 64))
	}
	if st.Source != nil {
		fmt.Fprintf(&b, "source: %s\n", st.Source.String())
	}
	if st.Reason != nil {
		fmt.Fprintf(&b, "reason: %s\n", st.Reason.String())
	}
	if len(st.UUID) > 0 {
		b.WriteString("uuid: \"")
		for _, c := range st.UUID {
			fmt.Fprintf(&b, "\\%03o", c)
		}
		b.WriteString("\"\n")
	}
	return b.String()
}

// dispatcherScheduler is the dispatcher's framework logic.
type dispatcherScheduler struct{ d *Dispatcher }

func (s dispatcherScheduler) offers(c *Cluster, fw *framework, offers []*offer) {
	d := s.d
	now := c.now()
	var candidates []*driver
	for _, drv := range d.retrying {
		if !drv.nextRetry.After(now) {
			candidates = append(candidates, drv)
		}
	}
	queued := append([]*driver(nil), d.queued...)
	sort.SliceStable(queued, func(i, j int) bool {
		if queued[i].priority != queued[j].priority {
			return queued[i].priority > queued[j].priority
		}
		return queued[i].submitted.Before(queued[j].submitted)
	})
	candidates = append(candidates, queued...)
	type plan struct {
		left  amounts
		tasks []mesos.TaskInfo
		drvs  []*driver
	}
	plans := map[string]*plan{}
	for _, o := range offers {
		plans[o.id] = &plan{left: sumResources(o.resources)}
	}
	for _, drv := range candidates {
		if drv.badCons {
			// parseConstraintString throws in resourceOffers, outside
			// scheduleTasks' try (MesosClusterScheduler.scala ~646-660):
			// the exception aborts Mesos' scheduler driver. Nothing of
			// this round launches, and nothing ever will until the
			// process restarts.
			d.abortLocked(fmt.Sprintf("Bad constraint string: %s (driver %s)", drv.props["spark.mesos.driver.constraints"], drv.id))
			for _, o := range offers {
				c.removeOfferLocked(o.id)
			}
			return
		}
		for _, o := range offers {
			p := plans[o.id]
			if p.left.scalars["cpus"]+1e-9 < drv.cores || p.left.scalars["mem"]+1e-9 < float64(drv.taskMem) || !matchesConstraints(drv.constraints, o.agent.info.Attributes) {
				continue
			}
			if err := launchError(drv.props); err != "" {
				// MesosClusterScheduler.scheduleTasks (Spark 3.5 ~680-690):
				// createTaskInfo threw a SparkException; the driver leaves
				// the queue for the finished ones with no task status.
				d.dequeue(drv)
				drv.status, drv.launchErr = nil, err
				d.finished = append(d.finished, drv)
				break
			}
			ti := d.driverTask(drv, o)
			p.left = p.left.minus(sumResources(ti.Resources))
			p.tasks = append(p.tasks, ti)
			p.drvs = append(p.drvs, drv)
			break
		}
	}
	for _, o := range offers {
		p := plans[o.id]
		if len(p.tasks) == 0 {
			c.removeOfferLocked(o.id)
			c.refuseLocked(fw, o.agent.info.ID.Value, sumResources(o.resources), d.cfg.RejectOfferDuration.Seconds())
			continue
		}
		for _, drv := range p.drvs {
			d.dequeue(drv)
			d.launched[drv.id] = drv
		}
		_ = c.acceptLocked(fw, []string{o.id}, p.tasks, 5)
	}
}

func (d *Dispatcher) dequeue(drv *driver) {
	for _, list := range []*[]*driver{&d.queued, &d.retrying} {
		for i, x := range *list {
			if x == drv {
				*list = append((*list)[:i], (*list)[i+1:]...)
				return
			}
		}
	}
}

func (d *Dispatcher) driverTask(drv *driver, o *offer) mesos.TaskInfo {
	drv.taskID = drv.id
	if drv.retries > 0 {
		drv.taskID = fmt.Sprintf("%s-retry-%d", drv.id, drv.retries)
	}
	cpus, mem := scalar("cpus", drv.cores), scalar("mem", float64(drv.taskMem))
	cpus.AllocationInfo, mem.AllocationInfo = &mesos.Resource_AllocationInfo{Role: &o.role}, &mesos.Resource_AllocationInfo{Role: &o.role}
	shell := true
	cmd := fmt.Sprintf("bin/spark-submit --name %s --master mesos://%s --driver-cores %s --driver-memory %dM",
		shellEscape(drv.name), d.c.masterAddrLocked(), strconv.FormatFloat(drv.cores, 'f', 1, 64), drv.descMem)
	if drv.mainClass != "" {
		cmd += " --class " + shellEscape(drv.mainClass)
	}
	cmd += " " + shellEscape(drv.appResource)
	for _, a := range drv.args {
		cmd += " " + shellEscape(a)
	}
	return mesos.TaskInfo{
		Name:      "Driver for " + drv.name,
		TaskID:    mesos.TaskID{Value: drv.taskID},
		AgentID:   *o.agent.info.ID,
		Resources: []mesos.Resource{cpus, mem},
		Command:   &mesos.CommandInfo{Shell: &shell, Value: &cmd},
		Labels:    sparkLabels(drv.props["spark.mesos.driver.labels"]),
	}
}

// shellEscape is MesosClusterScheduler.shellEscape: a value already
// wrapped in quotes is left alone; one with a shell special character is
// double-quoted with ", `, $ and \ escaped; anything else is untouched.
func shellEscape(s string) string {
	if len(s) >= 3 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s // "The user quoted his args, don't touch it!"
	}
	if strings.ContainsAny(s, " '<>&|?*;!#\\()\"$`") {
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", "$", `\$`)
		return `"` + r.Replace(s) + `"`
	}
	return s
}

func (c *Cluster) masterAddrLocked() string { return c.masters[c.leader].addr }

// sparkLabels parses Spark's "k:v,k2:v2" label grammar with \: and \, escapes.
func sparkLabels(s string) *mesos.Labels {
	if s == "" {
		return nil
	}
	out := &mesos.Labels{}
	for _, part := range splitUnescaped(s, ',') {
		kv := splitUnescaped(part, ':')
		if len(kv) != 2 {
			continue
		}
		unescape := strings.NewReplacer(`\,`, ",", `\:`, ":")
		v := unescape.Replace(kv[1])
		out.Labels = append(out.Labels, mesos.Label{Key: unescape.Replace(kv[0]), Value: &v})
	}
	return out
}

func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == sep && (i == 0 || s[i-1] != '\\') {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// wantsOffers: the dispatcher looks at every offer (it declines what it
// cannot use with a filter).
func (s dispatcherScheduler) wantsOffers() bool { return true }

func (s dispatcherScheduler) update(c *Cluster, fw *framework, t *task) {
	d := s.d
	// The driver's task id is its submission id, with -retry-N on retries.
	id := t.info.TaskID.Value
	if i := strings.LastIndex(id, "-retry-"); i > 0 {
		id = id[:i]
	}
	drv := d.launched[id]
	if drv == nil {
		if r := d.retired[t.info.TaskID.Value]; r != nil && isTerminal(t.state) && r.app != nil {
			// The task of a driver the dispatcher retired early ended: its
			// executors go with it.
			r.app.end(c)
			r.app = nil
			delete(d.retired, t.info.TaskID.Value)
		}
		return
	}
	st := t.statuses[len(t.statuses)-1]
	if drv.taskID != t.info.TaskID.Value {
		// An outdated task's status (an earlier attempt of a supervised
		// driver, from an agent that came back): statusUpdate ignores a
		// relaunchable one (isTaskOutdated), but a finished one retires
		// the driver, whose current task runs on; the status is kept.
		if drv.supervise && (t.state == mesos.TASK_FAILED || t.state == mesos.TASK_LOST) {
			return
		}
		drv.status = &st
		if isTerminal(t.state) {
			delete(d.launched, drv.id)
			d.retire(drv)
			if d.retired == nil {
				d.retired = map[string]*driver{}
			}
			d.retired[drv.taskID] = drv
		}
		return
	}
	drv.status = &st
	switch {
	case t.state == mesos.TASK_RUNNING && drv.app == nil:
		drv.app = startDriverFramework(c, d, drv)
		c.driverLogStartLocked(t, drv)
		if drv.runFor > 0 {
			outcome := drv.outcome
			c.progressLocked(t, 1)
			c.after(drv.runFor, func() {
				msg := "Command exited with status 0"
				if outcome != mesos.TASK_FINISHED {
					msg = "Command exited with status 1"
				}
				c.mu.Lock()
				defer c.mu.Unlock()
				if !isTerminal(t.state) {
					c.driverLogEndLocked(t, drv, outcome)
				}
				c.finishLocked(t, outcome, msg)
			})
		}
	case isTerminal(t.state):
		if drv.app != nil {
			drv.app.end(c)
			drv.app = nil
		}
		delete(d.launched, drv.id)
		if drv.supervise && (t.state == mesos.TASK_FAILED || t.state == mesos.TASK_LOST) {
			drv.retries++
			if drv.retryWait == 0 {
				drv.retryWait = time.Second
			} else {
				drv.retryWait = min(2*drv.retryWait, d.cfg.RetryWaitMax)
			}
			drv.nextRetry = c.now().Add(drv.retryWait)
			d.retrying = append(d.retrying, drv)
			d.fw.filters = nil
			return
		}
		d.retire(drv)
	}
}

// retire keeps a finished driver, the oldest tenth dropped past
// RetainedDrivers (retireDriver).
func (d *Dispatcher) retire(drv *driver) {
	d.finished = append(d.finished, drv)
	if n := len(d.finished); n > d.cfg.RetainedDrivers {
		drop := max(n/10, 1)
		d.finished = d.finished[drop:]
	}
}

// orphanScheduler is a dispatcher framework whose process is gone.
type orphanScheduler struct{}

func (orphanScheduler) offers(c *Cluster, fw *framework, offers []*offer) {
	for _, o := range offers {
		c.removeOfferLocked(o.id)
	}
}
func (orphanScheduler) update(*Cluster, *framework, *task) {}

// wantsOffers: a dispatcher process that is gone takes no offers.
func (orphanScheduler) wantsOffers() bool { return false }
