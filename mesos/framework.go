package mesos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Offer is a resource offer in the project's terms.
type Offer struct {
	ID         string
	AgentID    string
	Hostname   string
	Role       string
	CPUs       float64
	MemMiB     float64
	Ports      [][2]uint64
	Attributes map[string]Attribute
}

// HasPorts reports whether the offer holds every port of ports.
func (o Offer) HasPorts(ports []uint64) bool {
	for _, p := range ports {
		ok := false
		for _, r := range o.Ports {
			if r[0] <= p && p <= r[1] {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Launch is a task to start on an offer: Task is a rendered TaskInfo whose
// agent and resources' allocation role the framework fills from the offer.
type Launch struct {
	Task   *mesoslib.TaskInfo
	TaskID string
}

// TaskStatus is a status update in the project's terms.
type TaskStatus struct {
	TaskID  string
	AgentID string
	State   string // TASK_RUNNING, ...
	Reason  string
	Message string
	// Reconciliation is true for the master's answer to RECONCILE.
	Reconciliation bool
}

// TaskRef names a task to reconcile or kill.
type TaskRef struct {
	TaskID, AgentID string
}

// Scheduler is what the framework asks what to do. Its methods are called
// from the framework's one event goroutine.
type Scheduler interface {
	// Offers returns the tasks to launch on each offer (by offer id); the
	// offers given none are declined.
	Offers(offers []Offer) map[string][]Launch
	// Update reports a task status.
	Update(st TaskStatus)
	// Wants is false when no offer could be used: the framework suppresses.
	Wants() bool
	// Known lists the tasks to reconcile explicitly after subscribing.
	Known() []TaskRef
	// Kills returns tasks to kill now.
	Kills() []TaskRef
	// Revive reports (once) that something new is wanted since it was last
	// asked — a new service or agent — so that offers declined with a
	// filter are made again at once.
	Revive() bool
}

// FrameworkOptions configure a Framework.
type FrameworkOptions struct {
	Name, Role, User string
	// Principal and Secret authenticate the framework (HTTP basic).
	Principal, Secret string
	// FailoverTimeout is how long Mesos keeps the tasks of a disconnected
	// framework; 0 would kill them at the first disconnection.
	FailoverTimeout time.Duration
	// FrameworkID resubscribes as an earlier instance; SaveID persists the
	// id Mesos assigns before anything is launched under it.
	FrameworkID string
	SaveID      func(id string) error
	// RefuseSeconds is the decline filter for unused offers.
	RefuseSeconds time.Duration
	Log           *slog.Logger
}

// Framework is a Mesos framework on the v1 scheduler HTTP API: it
// subscribes (again with its id after a restart or a master failover),
// watches heartbeats, reconciles its tasks, acknowledges updates, declines
// what it does not use with filters, and suppresses offers while it wants
// none.
type Framework struct {
	client *Client
	opts   FrameworkOptions
	sched  Scheduler
	log    *slog.Logger
	id     string
	saved  string // the id SaveID last persisted
	// unconfirmed is when a SUBSCRIBE without an id was accepted (200)
	// but no SUBSCRIBED event was read: the master may have registered a
	// framework whose id we never learnt.
	unconfirmed time.Time
	// suppressed is what Mesos was last told.
	suppressed bool
}

// NewFramework returns a framework that reaches the master through c.
func NewFramework(c *Client, s Scheduler, opts FrameworkOptions) *Framework {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.User == "" {
		opts.User = "root"
	}
	if opts.Principal == "" {
		opts.Principal, opts.Secret = c.opts.Principal, c.opts.Secret
	}
	if opts.RefuseSeconds == 0 {
		opts.RefuseSeconds = 30 * time.Second
	}
	return &Framework{client: c, opts: opts, sched: s, log: opts.Log, id: opts.FrameworkID, saved: opts.FrameworkID}
}

// ID is the framework id (empty before the first subscription).
func (f *Framework) ID() string { return f.id }

// Run keeps the framework subscribed until ctx ends, resubscribing with
// capped exponential backoff.
func (f *Framework) Run(ctx context.Context) error {
	backoff := 500 * time.Millisecond
	for {
		start := time.Now()
		err := f.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return err
		}
		if time.Since(start) > time.Minute {
			backoff = 500 * time.Millisecond
		}
		f.log.Warn("framework subscription ended; subscribing again", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 15*time.Second)
	}
}

// fatalError ends Run: Mesos refuses this framework for good.
type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

func (f *Framework) info() *mesoslib.FrameworkInfo {
	ft, ck := f.opts.FailoverTimeout.Seconds(), true
	info := &mesoslib.FrameworkInfo{
		User: f.opts.User, Name: f.opts.Name, Roles: []string{f.opts.Role},
		FailoverTimeout: &ft, Checkpoint: &ck,
		Capabilities: []mesoslib.FrameworkInfo_Capability{
			{Type: mesoslib.FrameworkInfo_Capability_MULTI_ROLE},
			{Type: mesoslib.FrameworkInfo_Capability_PARTITION_AWARE},
		},
	}
	if f.opts.Principal != "" {
		info.Principal = &f.opts.Principal
	}
	if f.id != "" {
		info.ID = &mesoslib.FrameworkID{Value: f.id}
	}
	return info
}

// orphanSlack allows for the master's clock being behind ours when
// matching a framework's registration time to our SUBSCRIBE.
const orphanSlack = 5 * time.Minute

// adoptOrphan finds the framework that an accepted SUBSCRIBE registered
// when its SUBSCRIBED event never arrived: ours by name and principal,
// disconnected (we dropped that stream), registered since the attempt.
// Subscribing as a new framework instead would leave that one holding its
// failover timeout beside us, once per retry.
func (f *Framework) adoptOrphan(ctx context.Context) error {
	fws, err := f.client.Frameworks(ctx)
	if err != nil {
		return fmt.Errorf("look for the framework an earlier SUBSCRIBE registered: %w", err)
	}
	var found *RegisteredFramework
	for i, fw := range fws {
		if fw.Name != f.opts.Name || fw.Principal != f.opts.Principal || fw.Connected ||
			fw.Registered.Before(f.unconfirmed.Add(-orphanSlack)) {
			continue
		}
		if found == nil || fw.Registered.After(found.Registered) {
			found = &fws[i]
		}
	}
	f.unconfirmed = time.Time{}
	if found != nil {
		f.id = found.ID
		f.log.Warn("resuming the framework registered by a SUBSCRIBE whose answer was lost", "framework_id", f.id)
	}
	return nil
}

// session is one subscription: from SUBSCRIBE to the end of its stream.
func (f *Framework) session(ctx context.Context) error {
	if f.id == "" && !f.unconfirmed.IsZero() {
		if err := f.adoptOrphan(ctx); err != nil {
			return err
		}
	}
	base, err := f.client.Leader(ctx)
	if err != nil {
		return err
	}
	opts := []httpcli.ConfigOpt{httpcli.Timeout(10 * time.Second)}
	if f.opts.Principal != "" {
		opts = append(opts, httpcli.BasicAuth(f.opts.Principal, f.opts.Secret))
	}
	if f.client.tls != nil {
		opts = append(opts, httpcli.TLSConfig(f.client.tls))
	}
	cli := httpcli.New(
		httpcli.Endpoint(base+"/api/v1/scheduler"),
		// Protobuf: gogo's decoders tolerate what newer masters add
		// (unknown enum values and fields); mesos-go's JSON decoder
		// refuses a 1.12 master's SUBSCRIBED event.
		httpcli.Codec(protobufCodec),
		httpcli.Do(httpcli.With(opts...)),
	)
	caller := httpsched.NewCaller(cli, httpsched.AllowReconnection(true))
	sub := calls.Subscribe(f.info())
	if f.id != "" {
		sub = sub.With(calls.Framework(f.id))
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	attempt := time.Now()
	resp, err := caller.Call(sctx, sub)
	if resp != nil {
		defer resp.Close()
	}
	if err != nil {
		return fmt.Errorf("SUBSCRIBE at %s: %w", base, err)
	}
	if f.id == "" {
		f.unconfirmed = attempt // until SUBSCRIBED names the id
	}
	events := make(chan *scheduler.Event)
	errc := make(chan error, 1)
	go func() {
		for {
			var e scheduler.Event
			if err := resp.Decode(&e); err != nil {
				if errors.Is(err, io.EOF) {
					err = errors.New("the master closed the event stream")
				}
				errc <- err
				return
			}
			select {
			case events <- &e:
			case <-sctx.Done():
				return
			}
		}
	}()
	call := func(c *scheduler.Call) error {
		c = c.With(calls.Framework(f.id))
		r, err := caller.Call(sctx, c)
		if r != nil {
			r.Close()
		}
		if err != nil {
			f.log.Warn("framework call failed", "call", c.Type.String(), "err", err)
		}
		return err
	}
	heartbeat := 15 * time.Second
	timeout := time.NewTimer(5 * heartbeat)
	defer timeout.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	subscribed := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case <-timeout.C:
			return fmt.Errorf("no event from the master in %s (5 heartbeats)", 5*heartbeat)
		case <-tick.C:
			if subscribed {
				f.act(call)
			}
		case e := <-events:
			timeout.Reset(5 * heartbeat)
			switch e.GetType() {
			case scheduler.Event_SUBSCRIBED:
				s := e.GetSubscribed()
				id := s.GetFrameworkID().GetValue()
				// Kept before it is persisted: a subscription that ends
				// because the store refused resubscribes as this same
				// framework (and tries to persist it again), never as a
				// new one beside it.
				f.id, f.unconfirmed = id, time.Time{}
				if f.opts.SaveID != nil && id != f.saved {
					if err := f.opts.SaveID(id); err != nil {
						return fmt.Errorf("persist framework id %s: %w", id, err)
					}
					f.saved = id
				}
				if hb := s.GetHeartbeatIntervalSeconds(); hb > 0 {
					heartbeat = time.Duration(hb * float64(time.Second))
					timeout.Reset(5 * heartbeat)
				}
				subscribed = true
				f.suppressed = false // a new subscription starts unsuppressed
				f.log.Info("framework subscribed", "framework_id", id, "master", base)
				f.reconcile(call)
				f.act(call)
			case scheduler.Event_OFFERS:
				f.offers(call, e.GetOffers().GetOffers())
				f.act(call)
			case scheduler.Event_RESCIND:
				// Nothing kept: offers are answered as they come.
			case scheduler.Event_UPDATE:
				f.update(call, e.GetUpdate().GetStatus())
				f.act(call)
			case scheduler.Event_ERROR:
				msg := e.GetError().GetMessage()
				if msg == "Framework has been removed" {
					return &fatalError{msg: fmt.Sprintf("Mesos removed framework %s (torn down or failover timeout passed): start with a new framework id", f.id)}
				}
				return fmt.Errorf("mesos ERROR: %s", msg)
			case scheduler.Event_FAILURE:
				// An agent or executor failure: task updates follow.
			}
		}
	}
}

// reconcile asks the master for the state of every task we know, so that
// tasks launched before a restart or a failover are found again.
func (f *Framework) reconcile(call func(*scheduler.Call) error) {
	known := f.sched.Known()
	tasks := map[string]string{}
	for _, t := range known {
		tasks[t.TaskID] = t.AgentID
	}
	// An explicit list for the tasks we know, then an implicit one: the
	// master answers with every task it has of ours.
	if len(tasks) > 0 {
		_ = call(calls.Reconcile(calls.ReconcileTasks(tasks)))
	}
	_ = call(calls.Reconcile())
}

// act carries out kills and keeps the suppression in line with the wants.
func (f *Framework) act(call func(*scheduler.Call) error) {
	for _, k := range f.sched.Kills() {
		f.log.Info("killing task", "task_id", k.TaskID, "agent_id", k.AgentID)
		_ = call(calls.Kill(k.TaskID, k.AgentID))
	}
	revive := f.sched.Revive()
	switch wants := f.sched.Wants(); {
	case wants && (f.suppressed || revive):
		if call(calls.Revive()) == nil {
			f.suppressed = false
		}
	case !wants && !f.suppressed:
		if call(calls.Suppress()) == nil {
			f.suppressed = true
		}
	}
}

func (f *Framework) offers(call func(*scheduler.Call) error, offers []mesoslib.Offer) {
	in := make([]Offer, 0, len(offers))
	byID := map[string]mesoslib.Offer{}
	for _, o := range offers {
		in = append(in, offerOf(o))
		byID[o.ID.Value] = o
	}
	launches := f.sched.Offers(in)
	var decline []mesoslib.OfferID
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := byID[id]
		ls := launches[id]
		if len(ls) == 0 {
			decline = append(decline, o.ID)
			continue
		}
		var tis []mesoslib.TaskInfo
		for _, l := range ls {
			tis = append(tis, taskFor(l, o))
			f.log.Info("launching task", "task_id", l.TaskID, "agent_id", o.AgentID.Value, "host", o.Hostname)
		}
		_ = call(calls.Accept(calls.OfferOperations{calls.OpLaunch(tis...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(f.opts.RefuseSeconds)))
	}
	if len(decline) > 0 {
		_ = call(calls.Decline(decline...).With(calls.RefuseSeconds(f.opts.RefuseSeconds)))
	}
}

// taskFor fills a rendered TaskInfo for an offer: its id, the agent, and the
// offer's allocation role on every resource (MULTI_ROLE).
func taskFor(l Launch, o mesoslib.Offer) mesoslib.TaskInfo {
	ti := *l.Task
	ti.TaskID = mesoslib.TaskID{Value: l.TaskID}
	ti.AgentID = o.AgentID
	role := "*"
	if o.AllocationInfo != nil && o.AllocationInfo.Role != nil {
		role = *o.AllocationInfo.Role
	}
	ti.Resources = make([]mesoslib.Resource, len(l.Task.Resources))
	for i, r := range l.Task.Resources {
		r.AllocationInfo = &mesoslib.Resource_AllocationInfo{Role: &role}
		ti.Resources[i] = r
	}
	return ti
}

func (f *Framework) update(call func(*scheduler.Call) error, st mesoslib.TaskStatus) {
	ts := TaskStatus{TaskID: st.TaskID.Value, AgentID: st.GetAgentID().GetValue(), State: st.GetState().String(), Message: st.GetMessage()}
	if st.Reason != nil {
		ts.Reason = st.Reason.String()
	}
	ts.Reconciliation = st.Reason != nil && *st.Reason == mesoslib.REASON_RECONCILIATION
	if !ts.Reconciliation {
		f.log.Info("task update", "task_id", ts.TaskID, "state", ts.State, "reason", ts.Reason, "message", ts.Message)
	}
	f.sched.Update(ts)
	if len(st.UUID) > 0 {
		_ = call(calls.Acknowledge(ts.AgentID, ts.TaskID, st.UUID))
	}
}

func offerOf(o mesoslib.Offer) Offer {
	out := Offer{ID: o.ID.Value, AgentID: o.AgentID.Value, Hostname: o.Hostname, Role: "*", Attributes: map[string]Attribute{}}
	if o.AllocationInfo != nil && o.AllocationInfo.Role != nil {
		out.Role = *o.AllocationInfo.Role
	}
	for _, r := range o.Resources {
		switch {
		case r.Scalar != nil && r.Name == "cpus":
			out.CPUs += r.Scalar.Value
		case r.Scalar != nil && r.Name == "mem":
			out.MemMiB += r.Scalar.Value
		case r.Ranges != nil && r.Name == "ports":
			for _, x := range r.Ranges.Range {
				out.Ports = append(out.Ports, [2]uint64{x.Begin, x.End})
			}
		}
	}
	for _, at := range o.Attributes {
		switch {
		case at.Scalar != nil:
			v := at.Scalar.Value
			out.Attributes[at.Name] = Attribute{Scalar: &v}
		case at.Text != nil:
			out.Attributes[at.Name] = Attribute{Text: at.Text.Value}
		}
	}
	return out
}
