package mesos

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/master/calls"

	"github.com/sparkmesos/reconciler/internal/strs"
	"github.com/sparkmesos/reconciler/render"
)

// The operator API's event stream (SUBSCRIBE): the master sends SUBSCRIBED
// with its whole state once, then an event per change (TASK_ADDED,
// TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED/UPDATED/
// REMOVED) and a HEARTBEAT every heartbeat_interval_seconds. A Watcher
// keeps a View of exactly what a Snapshot holds from it, so that a pass
// reads the cluster without asking the master anything. Neither holds the
// frameworks (every Spark driver is one; nothing read them): their events
// are skipped, and Client.Frameworks asks for them when needed.

// MaxCompletedPerFramework bounds the completed tasks a View keeps per
// framework: Mesos' own default (--max_completed_tasks_per_framework).
const MaxCompletedPerFramework = 1000

type viewKey struct{ framework, task string }

// View is the cluster as events told it. It keeps whole only the tasks
// the reconciler reads (keptWhole: drivers and services); of the others
// (executors, other frameworks' tasks: half of all tasks and more) it
// keeps what their agents' use needs, and their completion not at all.
type View struct {
	// The tasks are not changed once in the view: an update replaces one
	// (snapshots share them).
	live        map[viewKey]*Task
	unreachable map[viewKey]*Task
	completed   map[string][]*Task // by framework, oldest first
	others      map[viewKey]otherTask
	agents      []Agent // listed, in the order they came
	active      map[string]bool
	// strings holds the strings its tasks repeat; it goes with the view
	// (a new subscription or a consistency check starts another).
	strings *strs.Pool
	// snap is the Snapshot made since the last event, shared by every
	// pass that reads the view meanwhile (nil: make it).
	snap *Snapshot
}

// otherTask is what a view keeps of a task the reconciler does not read.
type otherTask struct {
	agent       string
	cpus, mem   float64
	unreachable bool
}

// keptWhole says whether a view keeps a task whole: a task a reconciler
// launched (it carries a sparkmesos.io kind label) that is not an
// executor. Snapshots of a view hold only those tasks; Diff compares
// only those.
func keptWhole(t *Task) bool {
	return t.Labels.Get(render.LabelKind) != "" && t.Labels.Get(render.LabelComponent) != "executor"
}

// NewView is the view of a state (SUBSCRIBED's, or a GET_STATE's).
func newView(gs *leanGetState) *View {
	v := &View{live: map[viewKey]*Task{}, unreachable: map[viewKey]*Task{}, completed: map[string][]*Task{}, others: map[viewKey]otherTask{},
		active: map[string]bool{}, strings: gs.pool}
	if v.strings == nil {
		v.strings = &strs.Pool{}
	}
	for _, t := range gs.Tasks {
		v.add(t, false)
	}
	for _, t := range gs.UnreachableTasks {
		v.add(t, true)
	}
	for _, t := range gs.CompletedTasks {
		if keptWhole(t) {
			v.completed[t.FrameworkID] = append(v.completed[t.FrameworkID], t)
		}
	}
	for _, a := range gs.Agents {
		v.agents = append(v.agents, a.agent())
		v.active[a.Info.ID.Value] = a.Active
	}
	return v
}

// add puts a live or unreachable task in the view.
func (v *View) add(t *Task, unreachable bool) {
	k := viewKey{t.FrameworkID, t.ID}
	switch {
	case !keptWhole(t):
		v.others[k] = otherTask{agent: t.AgentID, cpus: t.CPUs, mem: t.MemMiB, unreachable: unreachable}
	case unreachable:
		v.unreachable[k] = t
	default:
		v.live[k] = t
	}
}

// Snapshot is the view as GET_STATE's Snapshot would give it, of the
// tasks it keeps whole (keptWhole): tasks by
// framework and id, completed tasks by framework oldest first, agents in
// their order, each agent's use what its live tasks hold. It is made once
// per change of the view and shared: read only.
func (v *View) Snapshot() *Snapshot {
	if v.snap == nil {
		v.snap = v.snapshot()
	}
	return v.snap
}

func (v *View) snapshot() *Snapshot {
	s := &Snapshot{Tasks: sortedTasks(v.live), UnreachableTasks: sortedTasks(v.unreachable), Capacity: map[string]float64{}}
	for _, fw := range slices.Sorted(maps.Keys(v.completed)) {
		s.CompletedTasks = append(s.CompletedTasks, v.completed[fw]...)
	}
	used := map[string][2]float64{}
	for _, t := range v.live {
		u := used[t.AgentID]
		used[t.AgentID] = [2]float64{u[0] + t.CPUs, u[1] + t.MemMiB}
	}
	for _, t := range v.others {
		if !t.unreachable {
			u := used[t.agent]
			used[t.agent] = [2]float64{u[0] + t.cpus, u[1] + t.mem}
		}
	}
	for _, a := range v.agents {
		for name, x := range map[string]float64{"cpus": a.CPUs, "mem": a.MemMiB, "disk": a.DiskMiB, "gpus": a.GPUs} {
			if x > 0 {
				s.Capacity[name] += x
			}
		}
		if v.active[a.ID] {
			u := used[a.ID]
			a.UsedCPUs, a.UsedMemMiB = u[0], u[1]
			s.Agents = append(s.Agents, a)
		}
	}
	return s
}

// sortedTasks are the tasks in taskOrder. (The keys are sorted, not the
// tasks: their strings are compared without reaching into the tasks.)
func sortedTasks(m map[viewKey]*Task) []*Task {
	keys := make([]viewKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b viewKey) int {
		if d := strings.Compare(a.framework, b.framework); d != 0 {
			return d
		}
		return strings.Compare(a.task, b.task)
	})
	out := make([]*Task, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// taskOrder orders tasks by framework, then id.
func taskOrder(x, y *Task) int {
	if d := strings.Compare(x.FrameworkID, y.FrameworkID); d != 0 {
		return d
	}
	return strings.Compare(x.ID, y.ID)
}

// event is one operator API event, as much of it as a View uses.
type event struct {
	Type       string
	Subscribed *struct {
		GetState  leanGetState
		Heartbeat float64
	}
	TaskAdded    *leanTask
	TaskUpdated  *leanTaskUpdated
	AgentAdded   *leanAgent
	AgentRemoved string
}

// leanTaskUpdated is master.proto's Event.TaskUpdated.
type leanTaskUpdated struct {
	FrameworkID leanID `json:"framework_id"`
	// State is the task's latest state (the status may be an older one
	// being retried).
	State  string `json:"state"`
	Status struct {
		TaskID    leanID  `json:"task_id"`
		AgentID   leanID  `json:"agent_id"`
		State     string  `json:"state"`
		Reason    string  `json:"reason"`
		Message   string  `json:"message"`
		Timestamp float64 `json:"timestamp"`
	} `json:"status"`
}

// apply changes the view by one event and says whether it changed.
func (v *View) apply(e *event) bool {
	v.snap = nil
	switch e.Type {
	case "TASK_ADDED":
		if e.TaskAdded == nil {
			return false
		}
		v.add(e.TaskAdded.task(v.strings), false)
		return true
	case "TASK_UPDATED":
		u := e.TaskUpdated
		if u == nil {
			return false
		}
		k := viewKey{u.FrameworkID.Value, u.Status.TaskID.Value}
		state := u.State // the task's latest; else the status's
		if state == "" {
			state = u.Status.State
		}
		if o, ok := v.others[k]; ok {
			if u.Status.AgentID.Value != "" {
				o.agent = v.strings.Intern(u.Status.AgentID.Value)
			}
			o.unreachable = state == "TASK_UNREACHABLE"
			if terminal(state) {
				delete(v.others, k)
			} else {
				v.others[k] = o
			}
			return true
		}
		old, ok := v.live[k]
		if !ok {
			if old, ok = v.unreachable[k]; !ok {
				return false // a task never added (TASK_ERROR, TASK_DROPPED) or long gone
			}
		}
		t := new(Task)
		*t = *old // a snapshot may hold old: it is not changed
		t.State = v.strings.Intern(state)
		if u.Status.AgentID.Value != "" {
			t.AgentID = v.strings.Intern(u.Status.AgentID.Value)
		}
		t.Reason, t.Message = v.strings.Intern(u.Status.Reason), v.strings.Intern(u.Status.Message)
		if u.Status.State == "TASK_RUNNING" && t.Started.IsZero() {
			t.Started = seconds(u.Status.Timestamp)
		}
		delete(v.live, k)
		delete(v.unreachable, k)
		switch {
		case t.State == "TASK_UNREACHABLE":
			v.unreachable[k] = t
		case terminal(t.State):
			list := append(v.completed[k.framework], t)
			if n := len(list) - MaxCompletedPerFramework; n > 0 {
				list = append([]*Task(nil), list[n:]...)
			}
			v.completed[k.framework] = list
		default:
			v.live[k] = t
		}
		return true
	case "AGENT_ADDED":
		if e.AgentAdded == nil {
			return false
		}
		a := e.AgentAdded.agent()
		if i := slices.IndexFunc(v.agents, func(x Agent) bool { return x.ID == a.ID }); i >= 0 {
			v.agents[i] = a
		} else {
			v.agents = append(v.agents, a)
		}
		v.active[a.ID] = e.AgentAdded.Active
		return true
	case "AGENT_REMOVED":
		i := slices.IndexFunc(v.agents, func(x Agent) bool { return x.ID == e.AgentRemoved })
		if i < 0 {
			return false
		}
		v.agents = slices.Delete(v.agents, i, i+1)
		delete(v.active, e.AgentRemoved)
		return true
	}
	return false
}

func terminal(state string) bool {
	switch state {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR":
		return true
	}
	return false
}

// decodeEvent reads one event's JSON from dec, streaming: SUBSCRIBED's
// state is decoded a task at a time, whatever its size.
func decodeEvent(dec *json.Decoder) (*event, error) {
	e := &event{}
	err := object(dec, func(key string) error {
		switch key {
		case "type":
			return dec.Decode(&e.Type)
		case "subscribed":
			e.Subscribed = &struct {
				GetState  leanGetState
				Heartbeat float64
			}{GetState: leanGetState{pool: &strs.Pool{}}}
			return object(dec, func(key string) error {
				switch key {
				case "get_state":
					return e.Subscribed.GetState.decode(dec)
				case "heartbeat_interval_seconds":
					return dec.Decode(&e.Subscribed.Heartbeat)
				}
				return skip(dec)
			})
		case "task_added":
			e.TaskAdded = &leanTask{}
			return member(dec, "task", e.TaskAdded)
		case "task_updated":
			e.TaskUpdated = &leanTaskUpdated{}
			return dec.Decode(e.TaskUpdated)
		case "agent_added":
			e.AgentAdded = &leanAgent{}
			return member(dec, "agent", e.AgentAdded)
		case "agent_removed":
			var id leanID
			err := member(dec, "agent_id", &id)
			e.AgentRemoved = id.Value
			return err
		}
		return skip(dec)
	})
	return e, err
}

// member decodes the one member of an object that matters into out.
func member(dec *json.Decoder, name string, out any) error {
	return object(dec, func(key string) error {
		if key == name {
			return dec.Decode(out)
		}
		return skip(dec)
	})
}

// readRecord reads one RecordIO record ("<length>\n<bytes>") and decodes
// its event.
func readRecord(r *bufio.Reader) (*event, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("RecordIO: bad record length %q", strings.TrimSpace(line))
	}
	body := io.LimitReader(r, n)
	e, err := decodeEvent(json.NewDecoder(body))
	if _, derr := io.Copy(io.Discard, body); err == nil {
		err = derr
	}
	return e, err
}

// WatchStats count what a Watcher did.
type WatchStats struct {
	// Subscriptions made, events applied, consistency checks made and the
	// checks that found the view had drifted from the master's state.
	Subscriptions, Events, Checks, Drifts int
	// Current says the view follows a live stream.
	Current bool
}

// Watcher keeps a View from the master's event stream: subscribed again
// with a backoff when the stream drops or its heartbeats stop (a master
// failover ends the stream: the new leader's SUBSCRIBED replaces the
// view), checked against a full GET_STATE every CheckEvery.
type Watcher struct {
	Client *Client
	// Changed is called after each change of the view (keep it short: the
	// stream waits).
	Changed func()
	// CheckEvery is how often a full GET_STATE is compared with the view
	// and replaces it. Default 10m.
	CheckEvery time.Duration
	Log        *slog.Logger

	mu          sync.Mutex
	view        *View
	current     bool
	unsupported bool     // the master refused SUBSCRIBE
	pending     []*event // events during a check, applied on its state
	checking    bool
	stats       WatchStats
	// wanted is closed by the first Snapshot: Run subscribes only then,
	// so that the state's decoding never overlaps the caller's start (a
	// control loop loading its manifests).
	wanted     chan struct{}
	wantedOnce sync.Once
	// subscribing is closed when the subscription under way is current
	// or has failed (nil when none is under way): a pass then waits for
	// the view rather than reading the whole state a second time.
	subscribing chan struct{}
	// heard is when the stream last sent a byte (unix nanoseconds): a
	// SUBSCRIBED still arriving is a stream at work, however long it
	// takes (a minute at 100,000 tasks).
	heard atomic.Int64
	// StallAfter is how long a stream may send nothing before a pass
	// waiting for its SUBSCRIBED stops waiting and reads GET_STATE
	// itself. Default 30s.
	StallAfter time.Duration
}

func (w *Watcher) want() {
	w.mu.Lock()
	if w.wanted == nil {
		w.wanted = make(chan struct{})
	}
	wanted := w.wanted
	w.mu.Unlock()
	w.wantedOnce.Do(func() { close(wanted) })
}

func (w *Watcher) startSubscribing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subscribing == nil {
		w.subscribing = make(chan struct{})
	}
}

func (w *Watcher) doneSubscribing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subscribing != nil {
		close(w.subscribing)
		w.subscribing = nil
	}
}

func (w *Watcher) log() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}

// Stats says what the watcher did so far.
func (w *Watcher) Stats() WatchStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Current = w.current
	return s
}

// TaskState is the state of a task the view keeps whole (keptWhole) ("" when
// the view does not have it, or follows no stream): for measuring how
// soon an update shows.
func (w *Watcher) TaskState(frameworkID, taskID string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.current {
		return ""
	}
	k := viewKey{frameworkID, taskID}
	if t, ok := w.view.live[k]; ok {
		return t.State
	}
	if t, ok := w.view.unreachable[k]; ok {
		return t.State
	}
	for _, t := range w.view.completed[frameworkID] {
		if t.ID == taskID {
			return t.State
		}
	}
	return ""
}

// Snapshot is the view while it follows a live stream (no call to the
// master; shared with every caller until the view changes: read only);
// otherwise one GET_STATE.
func (w *Watcher) Snapshot(ctx context.Context) (*Snapshot, error) {
	w.want()
	w.mu.Lock()
	if !w.current && w.subscribing != nil {
		// A subscription is under way: its SUBSCRIBED is the state.
		wait := w.subscribing
		w.mu.Unlock()
		w.awaitSubscription(ctx, wait)
		w.mu.Lock()
	}
	if w.current {
		s := w.view.Snapshot()
		w.mu.Unlock()
		return s, nil
	}
	w.mu.Unlock()
	return w.Client.Snapshot(ctx)
}

// awaitSubscription waits until the subscription under way is done, or
// its stream has sent nothing for StallAfter. (Reading GET_STATE beside a
// SUBSCRIBED still arriving would only load the master twice: at 100,000
// tasks such a GET_STATE failed against the busy master.)
func (w *Watcher) awaitSubscription(ctx context.Context, done <-chan struct{}) {
	stall := w.StallAfter
	if stall <= 0 {
		stall = 30 * time.Second
	}
	since := time.Now()
	tick := time.NewTicker(max(stall/20, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		last := since
		if h := time.Unix(0, w.heard.Load()); h.After(last) {
			last = h
		}
		if time.Since(last) > stall {
			return
		}
	}
}

// heardFrom notes every read that brings bytes of the stream.
type heardFrom struct {
	r     io.Reader
	heard func()
}

func (h heardFrom) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.heard()
	}
	return n, err
}

// ErrSubscribeRefused: the master does not serve the event stream (an
// old master, or a proxy that refuses streams); passes read GET_STATE.
var ErrSubscribeRefused = errors.New("the master refused the operator event stream (SUBSCRIBE)")

// Start runs the watcher in the background until ctx ends. From its
// return on, the first Snapshot waits for the first subscription instead
// of reading the state beside it (go w.Run(ctx) would leave that to the
// scheduler).
func (w *Watcher) Start(ctx context.Context) {
	w.prepare()
	go w.Run(ctx)
}

func (w *Watcher) prepare() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wanted == nil {
		w.wanted = make(chan struct{})
	}
	// Until the first Snapshot, a subscription counts as under way: that
	// Snapshot waits for it instead of reading the state beside it.
	if w.subscribing == nil {
		w.subscribing = make(chan struct{})
	}
	return w.wanted
}

// Run follows the stream until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	if w.CheckEvery == 0 {
		w.CheckEvery = 10 * time.Minute
	}
	wanted := w.prepare()
	select {
	case <-wanted:
	case <-ctx.Done():
		return
	}
	go w.checks(ctx)
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := w.follow(ctx)
		w.mu.Lock()
		w.current = false
		w.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		wait := backoff
		if errors.Is(err, ErrSubscribeRefused) {
			w.mu.Lock()
			w.unsupported = true
			w.mu.Unlock()
			wait = w.CheckEvery // passes read GET_STATE meanwhile
		}
		if time.Since(start) > time.Minute {
			backoff = 250 * time.Millisecond // it ran well: the next drop starts over
		} else {
			backoff = min(backoff*2, 30*time.Second)
		}
		w.log().Warn("mesos event stream ended; passes read GET_STATE until it is back", "err", err, "retry-in", wait)
		if w.Changed != nil {
			w.Changed() // a pass now reads the state itself
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// follow subscribes once and applies events until the stream ends.
func (w *Watcher) follow(ctx context.Context) error {
	w.startSubscribing()
	defer w.doneSubscribing()
	c := w.Client
	lctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	base, err := c.Leader(lctx)
	cancel()
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.opts.Master, err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	req, err := http.NewRequestWithContext(sctx, http.MethodPost, base+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.opts.Principal != "" {
		req.SetBasicAuth(c.opts.Principal, c.opts.Secret)
	}
	hc := c.redirectClient()
	hc.Timeout = 0 // a stream
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusPermanentRedirect:
		c.redetect(ctx, base)
		return fmt.Errorf("%s: %w", base, ErrNotLeader)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusNotImplemented:
		return fmt.Errorf("%w: %s", ErrSubscribeRefused, resp.Status)
	case resp.StatusCode != http.StatusOK:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &MasterError{Code: resp.StatusCode, Text: strings.TrimSpace(string(b))}
	}
	// Heartbeats: a stream silent for three intervals is taken as dead
	// (a half-open connection, a master that stopped). Any byte counts:
	// a long SUBSCRIBED is not silence.
	var mu sync.Mutex
	interval := 15 * time.Second
	last := time.Now()
	heard := func() {
		now := time.Now()
		w.heard.Store(now.UnixNano())
		mu.Lock()
		last = now
		mu.Unlock()
	}
	heard()
	watchdog := time.NewTicker(time.Second)
	defer watchdog.Stop()
	go func() {
		for {
			select {
			case <-sctx.Done():
				return
			case <-watchdog.C:
				mu.Lock()
				dead := time.Since(last) > 3*interval
				mu.Unlock()
				if dead {
					w.log().Warn("mesos event stream: no heartbeat", "silent-for", time.Since(last).Round(time.Second))
					stop()
					return
				}
			}
		}
	}()
	r := bufio.NewReaderSize(heardFrom{resp.Body, heard}, 64<<10)
	first := true
	for {
		e, err := readRecord(r)
		if err != nil {
			if sctx.Err() != nil && ctx.Err() == nil {
				return errors.New("no heartbeat within three intervals")
			}
			return err
		}
		mu.Lock()
		if e.Subscribed != nil && e.Subscribed.Heartbeat > 0 {
			interval = time.Duration(e.Subscribed.Heartbeat * float64(time.Second))
		}
		mu.Unlock()
		if first {
			if e.Type != "SUBSCRIBED" || e.Subscribed == nil {
				return fmt.Errorf("the stream began with %s, not SUBSCRIBED", e.Type)
			}
			first = false
			w.mu.Lock()
			w.view, w.current, w.unsupported = newView(&e.Subscribed.GetState), true, false
			w.stats.Subscriptions++
			w.mu.Unlock()
			w.doneSubscribing()
			w.log().Info("mesos event stream: subscribed", "master", base, "heartbeat", interval)
			if w.Changed != nil {
				w.Changed()
			}
			continue
		}
		if e.Type == "HEARTBEAT" {
			continue
		}
		w.mu.Lock()
		changed := w.view.apply(e)
		w.stats.Events++
		if w.checking {
			w.pending = append(w.pending, e)
		}
		w.mu.Unlock()
		if changed && w.Changed != nil {
			w.Changed()
		}
	}
}

// checks compares the view with a full GET_STATE every CheckEvery and
// replaces it with that state (and the events that came meanwhile).
func (w *Watcher) checks(ctx context.Context) {
	t := time.NewTicker(w.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.Check(ctx); err != nil && ctx.Err() == nil {
			w.log().Warn("mesos event stream: consistency check failed", "err", err)
		}
	}
}

// Check reads a full GET_STATE and replaces the view with it, the events
// that arrived while it was read applied on top; a view that differed
// from it is counted as a drift and logged.
func (w *Watcher) Check(ctx context.Context) error {
	w.mu.Lock()
	if !w.current {
		w.mu.Unlock()
		return nil // no view to check: passes read GET_STATE
	}
	w.checking, w.pending = true, nil
	w.mu.Unlock()
	st := leanState{GetState: leanGetState{pool: &strs.Pool{}}}
	err := w.Client.call(ctx, calls.GetState(), &st)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checking = false
	pending := w.pending
	w.pending = nil
	if err != nil {
		return fmt.Errorf("mesos GET_STATE: %w", err)
	}
	if !w.current {
		return nil
	}
	fresh := newView(&st.GetState)
	for _, e := range pending {
		fresh.apply(e)
	}
	w.stats.Checks++
	if d := Diff(w.view.Snapshot(), fresh.Snapshot()); d != "" {
		w.stats.Drifts++
		w.log().Warn("mesos event stream: the view had drifted from the master's state; replaced", "difference", d)
	}
	w.view = fresh
	return nil
}

// Diff says how two snapshots differ ("" when they hold the same tasks a
// view keeps whole (keptWhole) and the same agents with the same use), for
// consistency checks and tests: a view's snapshot compares with a
// GET_STATE's.
func Diff(a, b *Snapshot) string {
	a, b = ordered(a), ordered(b)
	var out []string
	cmpTasks := func(what string, x, y []*Task) {
		if len(x) != len(y) {
			out = append(out, fmt.Sprintf("%s: %d vs %d", what, len(x), len(y)))
			return
		}
		for i := range x {
			if !sameTask(x[i], y[i]) {
				out = append(out, fmt.Sprintf("%s: %+v vs %+v", what, x[i], y[i]))
				return
			}
		}
	}
	cmpTasks("tasks", a.Tasks, b.Tasks)
	cmpTasks("unreachable tasks", a.UnreachableTasks, b.UnreachableTasks)
	cmpTasks("completed tasks", a.CompletedTasks, b.CompletedTasks)
	if len(a.Agents) != len(b.Agents) {
		out = append(out, fmt.Sprintf("agents: %d vs %d", len(a.Agents), len(b.Agents)))
	} else {
		for i := range a.Agents {
			x, y := a.Agents[i], b.Agents[i]
			if x.ID != y.ID || x.Hostname != y.Hostname || x.CPUs != y.CPUs || x.MemMiB != y.MemMiB || !near(x.UsedCPUs, y.UsedCPUs) || !near(x.UsedMemMiB, y.UsedMemMiB) {
				out = append(out, fmt.Sprintf("agent %s: %+v vs %+v", x.ID, x, y))
				break
			}
		}
	}
	return strings.Join(out, "; ")
}

// ordered is a copy of a snapshot's tasks a view keeps whole and its
// agents, in one order (a master lists tasks and agents in an order of
// its own): tasks by framework and id, completed
// tasks by framework (oldest first within one), agents by id.
func ordered(s *Snapshot) *Snapshot {
	c := *s
	read := func(ts []*Task) []*Task {
		return slices.DeleteFunc(slices.Clone(ts), func(t *Task) bool { return !keptWhole(t) })
	}
	c.Tasks = slices.SortedFunc(slices.Values(read(s.Tasks)), taskOrder)
	c.UnreachableTasks = slices.SortedFunc(slices.Values(read(s.UnreachableTasks)), taskOrder)
	c.CompletedTasks = read(s.CompletedTasks)
	slices.SortStableFunc(c.CompletedTasks, func(x, y *Task) int { return strings.Compare(x.FrameworkID, y.FrameworkID) })
	c.Agents = slices.SortedFunc(slices.Values(s.Agents), func(x, y Agent) int { return strings.Compare(x.ID, y.ID) })
	return &c
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func sameTask(a, b *Task) bool {
	if a.ID != b.ID || a.FrameworkID != b.FrameworkID || a.AgentID != b.AgentID || a.State != b.State ||
		a.Reason != b.Reason || a.Message != b.Message || !a.Started.Equal(b.Started) || !near(a.CPUs, b.CPUs) || !near(a.MemMiB, b.MemMiB) ||
		!slices.Equal(a.Labels, b.Labels) {
		return false
	}
	return true
}
