package reconcile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/store"
)

// desiredOf loads valid manifests (one file) into a desired state.
func desiredOf(t *testing.T, file, docs string) *Desired {
	t.Helper()
	m, ps := v1.Load([]v1.File{{Name: file, Data: []byte(docs)}})
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	d, err := BuildDesired(m, ps, render.Options{Owner: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func shuffleService(t *testing.T, name, constraints, memory string) *DesiredService {
	t.Helper()
	d := desiredOf(t, name+".yaml", "apiVersion: sparkmesos.io/v1\nkind: ShuffleService\nmetadata: {name: "+name+
		"}\nspec:\n  constraints: \""+constraints+"\"\n  memory: "+memory+"\n  sparkHome: /opt/spark\n")
	if len(d.Services) != 1 {
		t.Fatalf("services %v", d.Services)
	}
	return d.Services[0]
}

type keeperFixture struct {
	t   *testing.T
	k   *ServiceKeeper
	now time.Time
	n   int
}

func newKeeper(t *testing.T, services ...*DesiredService) *keeperFixture {
	f := &keeperFixture{t: t, now: time.Unix(1_700_000_000, 0)}
	f.k = &ServiceKeeper{Now: func() time.Time { return f.now }, BackoffBase: 10 * time.Second, BackoffMax: time.Minute}
	f.k.SetDesired(services, nil, false)
	f.k.SetObserved(nil)
	return f
}

func zone(id, z string) Agent {
	return Agent{ID: id, Hostname: id + ".host", Attributes: map[string]Attribute{"zone": {Text: z}}}
}

func (f *keeperFixture) offer(a Agent, ports ...[2]uint64) mesos.Offer {
	f.n++
	if len(ports) == 0 {
		ports = [][2]uint64{{7337, 7337}}
	}
	attrs := map[string]mesos.Attribute{}
	for k, v := range a.Attributes {
		attrs[k] = mesos.Attribute{Text: v.Text}
	}
	return mesos.Offer{ID: "o" + strings.Repeat("x", f.n), AgentID: a.ID, Hostname: a.Hostname, CPUs: 4, MemMiB: 8192, Ports: ports, Attributes: attrs}
}

// placeEverywhere gives the keeper a plan that launches every service on
// every agent, leaving the keeper's own checks (constraints, a task there
// already, backoff, room) to decide.
func (f *keeperFixture) placeEverywhere(agents ...Agent) {
	var p Plan
	for _, s := range f.k.services {
		a := ServiceAction{Type: ActionLaunch, Kind: s.Kind, Name: s.Name}
		for _, ag := range agents {
			a.AgentIDs = append(a.AgentIDs, ag.ID)
		}
		p.Services = append(p.Services, a)
	}
	f.k.SetPlan(p)
}

// launch offers each agent once and returns agent -> launched task ids.
func (f *keeperFixture) launch(agents ...Agent) map[string][]string {
	f.placeEverywhere(agents...)
	var offers []mesos.Offer
	for _, a := range agents {
		offers = append(offers, f.offer(a))
	}
	out := map[string][]string{}
	for _, o := range offers {
		for _, l := range f.k.Offers([]mesos.Offer{o})[o.ID] {
			out[o.AgentID] = append(out[o.AgentID], l.TaskID)
		}
	}
	return out
}

func (f *keeperFixture) update(id, agent, state string) {
	f.k.Update(mesos.TaskStatus{TaskID: id, AgentID: agent, State: state})
}

func TestKeeperPlacesOnePerMatchingAgent(t *testing.T) {
	f := newKeeper(t, shuffleService(t, "shuffle", "zone:a", "1g"))
	a1, a2, b := zone("a1", "a"), zone("a2", "a"), zone("b1", "b")
	f.k.SetAgents([]Agent{a1, a2, b})
	f.placeEverywhere(a1, a2, b)
	if !f.k.Wants() {
		t.Fatal("agents lack the service but the keeper wants no offers")
	}
	got := f.launch(a1, a2, b)
	if len(got) != 2 || len(got["a1"]) != 1 || len(got["a2"]) != 1 {
		t.Fatalf("launched %v, want one on a1 and one on a2", got)
	}
	// Launched (not yet running): no second task, nothing wanted.
	if again := f.launch(a1, a2, b); len(again) != 0 || f.k.Wants() {
		t.Fatalf("second round launched %v (wants %v)", again, f.k.Wants())
	}
	for a, ids := range got {
		f.update(ids[0], a, "TASK_RUNNING")
	}
	// A new matching agent is wanted at once, with a revive (its offers may
	// be filtered by an earlier decline).
	f.k.Revive()
	f.k.SetAgents([]Agent{a1, a2, b, zone("a3", "a")})
	f.placeEverywhere(a1, a2, b, zone("a3", "a")) // the next pass places it
	if !f.k.Wants() || !f.k.Revive() || f.k.Revive() {
		t.Fatal("new agent a3 not wanted, or not revived exactly once")
	}
	// An agent without port 7337 in its offers is reported and not wanted.
	a3 := zone("a3", "a")
	o := f.offer(a3, [2]uint64{31000, 32000})
	if l := f.k.Offers([]mesos.Offer{o}); len(l) != 0 {
		t.Fatalf("launched on an agent without the port: %v", l)
	}
	if f.k.Wants() {
		t.Error("still wanting offers for an agent that cannot host the service")
	}
	var why string
	for _, st := range f.k.Status() {
		if st.Agent == "a3" {
			why = st.Why
		}
	}
	if !strings.Contains(why, "does not offer port(s) [7337]") {
		t.Errorf("status for a3: %q", why)
	}
}

func TestKeeperRelaunchesWithBackoffOnTheSameAgent(t *testing.T) {
	f := newKeeper(t, shuffleService(t, "shuffle", "zone:a", "1g"))
	a1 := zone("a1", "a")
	f.k.SetAgents([]Agent{a1})
	id := f.launch(a1)["a1"][0]
	f.update(id, "a1", "TASK_RUNNING")
	// Doubling from 10s, capped at the keeper's 1m, with the shared
	// backoff's jitter of up to 20% (never beyond the cap).
	for i, wait := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute} {
		f.update(id, "a1", "TASK_FAILED")
		failed := f.now
		f.now = failed.Add(wait - time.Second)
		if got := f.launch(a1); len(got) != 0 || f.k.Wants() {
			t.Fatalf("failure %d: relaunched before the %s backoff", i+1, wait)
		}
		f.now = failed.Add(min(wait*6/5, time.Minute))
		got := f.launch(a1)
		if len(got["a1"]) != 1 {
			t.Fatalf("failure %d: not relaunched after %s and its jitter", i+1, wait)
		}
		id = got["a1"][0]
	}
	// Running again resets the backoff.
	f.update(id, "a1", "TASK_RUNNING")
	f.update(id, "a1", "TASK_FAILED")
	f.now = f.now.Add(12 * time.Second)
	if got := f.launch(a1); len(got["a1"]) != 1 {
		t.Fatal("backoff not reset by a run")
	}
}

func TestKeeperRollsChangesOneAgentAtATime(t *testing.T) {
	old := shuffleService(t, "shuffle", "zone:a", "1g")
	f := newKeeper(t, old)
	agents := []Agent{zone("a1", "a"), zone("a2", "a"), zone("a3", "a")}
	f.k.SetAgents(agents)
	for a, ids := range f.launch(agents...) {
		f.update(ids[0], a, "TASK_RUNNING")
	}
	if k := f.k.Kills(); len(k) != 0 {
		t.Fatalf("kills with nothing changed: %v", k)
	}
	f.k.SetDesired([]*DesiredService{shuffleService(t, "shuffle", "zone:a", "2g")}, nil, false)
	kills := f.k.Kills()
	if len(kills) != 1 {
		t.Fatalf("first roll step kills %v, want one task", kills)
	}
	if more := f.k.Kills(); len(more) != 0 {
		t.Fatalf("killed %v while the first is being replaced", more)
	}
	f.update(kills[0].TaskID, kills[0].AgentID, "TASK_KILLED")
	if more := f.k.Kills(); len(more) != 0 {
		t.Fatalf("killed %v while %s has no task", more, kills[0].AgentID)
	}
	// The replacement fails: the roll stops there.
	repl := f.launch(agents...)
	if len(repl) != 1 || len(repl[kills[0].AgentID]) != 1 {
		t.Fatalf("replacement launches %v", repl)
	}
	f.update(repl[kills[0].AgentID][0], kills[0].AgentID, "TASK_FAILED")
	if more := f.k.Kills(); len(more) != 0 {
		t.Fatalf("the roll went on past a failing replacement: %v", more)
	}
	// It runs at last: the next agent rolls.
	f.now = f.now.Add(time.Minute)
	repl = f.launch(agents...)
	f.update(repl[kills[0].AgentID][0], kills[0].AgentID, "TASK_RUNNING")
	if next := f.k.Kills(); len(next) != 1 || next[0].AgentID == kills[0].AgentID {
		t.Fatalf("second roll step kills %v", next)
	}
}

func TestKeeperPrunesOnlyWithPruneAndNeverHeldServices(t *testing.T) {
	s := shuffleService(t, "shuffle", "zone:a", "1g")
	f := newKeeper(t, s)
	a1 := zone("a1", "a")
	f.k.SetAgents([]Agent{a1})
	id := f.launch(a1)["a1"][0]
	f.update(id, "a1", "TASK_RUNNING")

	f.k.SetDesired(nil, map[string]bool{"shuffle.yaml": true}, true) // its file is broken
	if k := f.k.Kills(); len(k) != 0 {
		t.Fatalf("killed %v of a service whose file failed to load", k)
	}
	f.k.SetDesired(nil, nil, false) // removed, without prune
	if k := f.k.Kills(); len(k) != 0 {
		t.Fatalf("killed %v without --prune", k)
	}
	f.k.SetDesired(nil, nil, true)
	if k := f.k.Kills(); len(k) != 0 {
		t.Fatalf("killed %v that the plan did not allow (running apps depend on it)", k)
	}
	f.k.SetPlan(Plan{Services: []ServiceAction{{Type: ActionKill, Kind: v1.KindShuffleService, Name: "shuffle"}}})
	if k := f.k.Kills(); len(k) != 1 || k[0].TaskID != id {
		t.Fatalf("prune kills %v, want %s", k, id)
	}
}

func TestKeeperLaunchesNothingBeforeTheFirstObservation(t *testing.T) {
	s := shuffleService(t, "shuffle", "zone:a", "1g")
	k := &ServiceKeeper{}
	k.SetDesired([]*DesiredService{s}, nil, false)
	a1 := zone("a1", "a")
	k.SetAgents([]Agent{a1})
	f := &keeperFixture{t: t, k: k}
	if got := f.launch(a1); len(got) != 0 || k.Wants() {
		t.Fatalf("launched %v before seeing what the master runs", got)
	}
	// The master shows a task from before a restart: it is placed.
	old := serviceTaskID(v1.KindShuffleService, "shuffle", s.Rendered.SpecHash, 3)
	k.SetObserved([]ServiceTask{{Kind: v1.KindShuffleService, Name: "shuffle", TaskID: old, AgentID: "a1", State: "TASK_RUNNING"}})
	if got := f.launch(a1); len(got) != 0 || k.Wants() || len(k.Kills()) != 0 {
		t.Fatalf("a second task launched beside %s: %v", old, got)
	}
	if !k.Revive() {
		t.Error("no revive after the first observation (offers declined before it stay filtered)")
	}
}

func TestKeeperAdoptsReconciledTasks(t *testing.T) {
	s := shuffleService(t, "shuffle", "zone:a", "1g")
	f := newKeeper(t, s)
	a1 := zone("a1", "a")
	f.k.SetAgents([]Agent{a1})
	id := serviceTaskID(v1.KindShuffleService, "shuffle", s.Rendered.SpecHash, 7)
	f.k.Update(mesos.TaskStatus{TaskID: id, AgentID: "a1", State: "TASK_RUNNING", Reconciliation: true})
	f.k.Update(mesos.TaskStatus{TaskID: "someone-else", AgentID: "a1", State: "TASK_RUNNING"})
	if got := f.launch(a1); len(got) != 0 || f.k.Wants() || len(f.k.Kills()) != 0 {
		t.Fatalf("a reconciled task was not taken as running: launched %v", got)
	}
	if known := f.k.Known(); len(known) != 1 || known[0].TaskID != id {
		t.Errorf("known %v", known)
	}
}

func TestPlanServices(t *testing.T) {
	s := shuffleService(t, "shuffle", "zone:a", "1g")
	agents := []Agent{zone("a1", "a"), zone("a2", "a"), zone("b1", "b")}
	task := func(agent, hash string) ServiceTask {
		return ServiceTask{Kind: v1.KindShuffleService, Name: "shuffle", TaskID: "sparkmesos.shuffle.shuffle.x." + agent, AgentID: agent, State: "TASK_RUNNING", SpecHash: hash}
	}
	cur := s.Rendered.SpecHash
	for _, tc := range []struct {
		name     string
		services []*DesiredService
		tasks    []ServiceTask
		prune    bool
		want     string
		live     []Driver
		force    bool
	}{
		{"none running", []*DesiredService{s}, nil, false, "launch shuffle [a1.host a2.host] launch on 2 of 2 matching agents", nil, false},
		{"one missing, one stale", []*DesiredService{s}, []ServiceTask{task("a1", "old")}, false, "launch shuffle [a2.host] launch on 1 of 2 matching agents; then roll 1 changed task(s) one agent at a time", nil, false},
		{"stale", []*DesiredService{s}, []ServiceTask{task("a1", "old"), task("a2", cur)}, false, "roll shuffle [a1.host] spec changed: replace 1 task(s) one agent at a time", nil, false},
		{"converged", []*DesiredService{s}, []ServiceTask{task("a1", cur), task("a2", cur)}, false, "unchanged shuffle [] running on all 2 matching agents", nil, false},
		{"removed, kept", nil, []ServiceTask{task("a1", cur)}, false, "unchanged shuffle [a1] no longer in the manifests; its 1 task(s) keep running without --prune", nil, false},
		{"removed, pruned", nil, []ServiceTask{task("a1", cur)}, true, "kill shuffle [a1] no longer in the manifests: kill its 1 task(s)", nil, false},
		{"no agent", []*DesiredService{shuffleService(t, "shuffle", "zone:c", "1g")}, nil, false, `blocked shuffle [] no agent matches the constraints "zone:c"`, nil, false},
		{"removed, in use", nil, []ServiceTask{task("a1", cur)}, true, "blocked shuffle [a1] no longer in the manifests, but the running application(s) dyn depend on it: not removed (--force removes it)",
			[]Driver{{App: "dyn", State: "TASK_RUNNING"}, {App: "plain", State: "TASK_RUNNING"}}, false},
		{"removed, in use, forced", nil, []ServiceTask{task("a1", cur)}, true, "kill shuffle [a1] no longer in the manifests: kill its 1 task(s)",
			[]Driver{{App: "dyn", State: "TASK_RUNNING"}}, true},
	} {
		d := &Desired{Apps: map[string]*DesiredApp{}, Services: tc.services}
		o := &Observed{Agents: agents, ServiceTasks: tc.tasks, Live: tc.live, Records: map[string]*store.Record{
			"dyn":   {Properties: map[string]string{"spark.shuffle.service.enabled": "true"}},
			"plain": {Properties: map[string]string{}},
		}}
		got, _ := planServices(d, o, t0, Options{Prune: tc.prune, Force: tc.force})
		if len(got) != 1 {
			t.Fatalf("%s: %+v", tc.name, got)
		}
		line := fmt.Sprintf("%s %s %v %s", got[0].Type, got[0].Name, got[0].Agents, got[0].Reason)
		if line != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, line, tc.want)
		}
	}
}

func TestShuffleNoteNamesAgentsWithoutTheService(t *testing.T) {
	d := desiredOf(t, "a.yaml", `apiVersion: sparkmesos.io/v1
kind: SparkApplication
metadata: {name: dyn}
spec:
  dispatcher: {external: {url: "mesos://d:7077"}}
  mainClass: a.Main
  mainApplicationFile: https://r/a.jar
  executor: {constraints: "zone:a"}
  dynamicAllocation: {enabled: true}
  shuffleService: {enabled: true, name: s}
---
apiVersion: sparkmesos.io/v1
kind: ShuffleService
metadata: {name: s}
spec: {sparkHome: /opt/spark}
`)
	agents := []Agent{zone("a1", "a"), zone("a2", "a"), zone("b1", "b")}
	for i := range agents {
		agents[i].CPUs, agents[i].MemMiB = 8, 16384
	}
	o := &Observed{Agents: agents,
		ServiceTasks: []ServiceTask{{Kind: v1.KindShuffleService, Name: "s", AgentID: "a1", State: "TASK_RUNNING"}}}
	p := Compute(d, o, time.Now(), Options{})
	if len(p.Actions) != 1 || !strings.HasSuffix(p.Actions[0].Reason, "; no shuffle service is up on a2.host, where its executors may run") {
		t.Errorf("plan %+v", p.Actions)
	}
}

// The keeper launches only where the pass's plan places a task: an offer
// from another agent is declined, and before any plan nothing is launched.
func TestKeeperLaunchesOnlyWhereThePlanPlaces(t *testing.T) {
	f := newKeeper(t, shuffleService(t, "shuffle", "zone:a", "1g"))
	a1, a2 := zone("a1", "a"), zone("a2", "a")
	f.k.SetAgents([]Agent{a1, a2})
	o := f.offer(a1)
	if got := f.k.Offers([]mesos.Offer{o}); len(got[o.ID]) != 0 || f.k.Wants() {
		t.Fatalf("launched %v before any plan", got)
	}
	f.k.SetPlan(Plan{Services: []ServiceAction{{Type: ActionLaunch, Kind: v1.KindShuffleService, Name: "shuffle", AgentIDs: []string{"a2"}}}})
	o1, o2 := f.offer(a1), f.offer(a2)
	got := f.k.Offers([]mesos.Offer{o1, o2})
	if len(got[o1.ID]) != 0 || len(got[o2.ID]) != 1 {
		t.Fatalf("launches %v: want one on a2 (the plan's placement), none on a1", got)
	}
}

// An observation read just before the framework heard of a task's end
// (the master's state or its event stream trail the framework's own
// updates by a moment) does not bring the task back: the service is
// relaunched after its backoff.
func TestKeeperIgnoresAStaleObservationOfAnEndedTask(t *testing.T) {
	f := newKeeper(t, shuffleService(t, "shuffle", "zone:a", "1g"))
	a1 := zone("a1", "a")
	f.k.SetAgents([]Agent{a1})
	id := f.launch(a1)["a1"][0]
	f.update(id, "a1", "TASK_RUNNING")
	f.update(id, "a1", "TASK_FAILED")
	f.k.SetObserved([]ServiceTask{{Kind: "ShuffleService", Name: "shuffle", TaskID: id, AgentID: "a1", State: "TASK_RUNNING"}})
	f.now = f.now.Add(13 * time.Second)
	if !f.k.Wants() {
		t.Fatal("a stale observation made the ended task live again: the keeper wants no offer")
	}
	if got := f.launch(a1); len(got["a1"]) != 1 {
		t.Fatalf("not relaunched: %v", got)
	}
}
