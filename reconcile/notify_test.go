package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/notify"
	"github.com/sparkmesos/reconciler/store"
)

func notifier(name string, spec v1.NotifierSpec) *DesiredNotifier {
	if spec.Webhook == nil && spec.Slack == nil && spec.Command == nil {
		spec.Webhook = &v1.WebhookTarget{URL: "http://127.0.0.1:1/hook"}
	}
	return &DesiredNotifier{Notifier: &v1.Notifier{Metadata: v1.ObjectMeta{Name: name}, Spec: spec}, File: "n.yaml"}
}

// appObject is an application whose latest run is in state (a class
// when it ended), with labels.
func appObject(name, run, state, class, phase string, at time.Time, labels map[string]string) NotifyObject {
	s := store.Submission{ID: run, State: state, Class: class, SubmittedAt: at.Add(-time.Minute), StartedAt: at.Add(-30 * time.Second)}
	if class != "" {
		s.FinishedAt = at
	}
	r := &store.Record{Key: store.Key{Kind: v1.KindSparkApplication, Name: name}, Submissions: []store.Submission{s},
		Status: store.Status{Phase: phase, Message: "why", ObservedAt: at}}
	return NotifyObject{Kind: v1.KindSparkApplication, Name: name, Record: r, Labels: labels}
}

func events(st *store.NotifyState) []string {
	var out []string
	for _, d := range st.Outbox {
		out = append(out, d.Notification.Event+" "+d.Notification.Name)
	}
	return out
}

func TestNotifyOncePerStateChange(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	n := notifier("hook", v1.NotifierSpec{})
	// A new notifier: what is already wrong is known, not sent.
	st, changed := DecideNotifications(n, nil, []NotifyObject{appObject("old", "d-0", "TASK_FAILED", ClassApplication, PhaseFailed, t0, nil)}, t0)
	if !changed || len(st.Outbox) != 0 || len(st.Sent["SparkApplication/old"]) == 0 {
		t.Fatalf("baseline: outbox %v sent %v", events(st), st.Sent)
	}
	objs := func(pi NotifyObject) []NotifyObject {
		return []NotifyObject{appObject("old", "d-0", "TASK_FAILED", ClassApplication, PhaseFailed, t0, nil), pi}
	}
	// pi fails: one Failed.
	t1 := t0.Add(time.Minute)
	st, _ = DecideNotifications(n, st, objs(appObject("pi", "d-1", "TASK_FAILED", ClassApplication, PhasePending, t1, nil)), t1)
	if got := events(st); len(got) != 1 || got[0] != "Failed pi" {
		t.Fatalf("after the failure: %v", got)
	}
	id := st.Outbox[0].Notification.ID
	if id != NotificationID("SparkApplication/pi", v1.NotifyFailed, "run:d-1") {
		t.Errorf("id %s is not the occurrence's", id)
	}
	st.Outbox = nil // delivered
	// The same on later passes: nothing.
	for i := 2; i < 5; i++ {
		now := t0.Add(time.Duration(i) * time.Minute)
		var c bool
		st, c = DecideNotifications(n, st, objs(appObject("pi", "d-1", "TASK_FAILED", ClassApplication, PhasePending, t1, nil)), now)
		if len(st.Outbox) != 0 {
			t.Fatalf("pass %d sent again: %v (changed %v)", i, events(st), c)
		}
	}
	// Restarted, failed again with the same class within the window: held back.
	t2 := t0.Add(10 * time.Minute)
	st, _ = DecideNotifications(n, st, objs(appObject("pi", "d-2", "TASK_FAILED", ClassApplication, PhasePending, t2, nil)), t2)
	if len(st.Outbox) != 0 {
		t.Fatalf("the same failure within the dedup window was sent: %v", events(st))
	}
	// Another class: sent.
	t3 := t0.Add(20 * time.Minute)
	st, _ = DecideNotifications(n, st, objs(appObject("pi", "d-3", "TASK_LOST", ClassInfrastructure, PhasePending, t3, nil)), t3)
	if got := events(st); len(got) != 1 || got[0] != "Failed pi" || st.Outbox[0].Notification.Class != ClassInfrastructure {
		t.Fatalf("another class: %v", got)
	}
	st.Outbox = nil
	// Running, but not for recoveredAfter yet: nothing; then long enough: Recovered once.
	t4 := t0.Add(30 * time.Minute)
	running := appObject("pi", "d-4", "TASK_RUNNING", "", PhaseRunning, t4, nil)
	running.Record.Submissions[0].StartedAt = t4
	st, _ = DecideNotifications(n, st, objs(running), t4.Add(10*time.Second))
	if len(st.Outbox) != 0 {
		t.Fatalf("recovered too early: %v", events(st))
	}
	st, _ = DecideNotifications(n, st, objs(running), t4.Add(2*time.Minute))
	if got := events(st); len(got) != 1 || got[0] != "Recovered pi" {
		t.Fatalf("recovery: %v", got)
	}
	st.Outbox = nil
	st, _ = DecideNotifications(n, st, objs(running), t4.Add(3*time.Minute))
	if len(st.Outbox) != 0 {
		t.Fatalf("recovered twice: %v", events(st))
	}
	// Fails again after recovering, same class as before and within the window: sent.
	t5 := t4.Add(4 * time.Minute)
	st, _ = DecideNotifications(n, st, objs(appObject("pi", "d-4", "TASK_FAILED", ClassApplication, PhasePending, t5, nil)), t5)
	if got := events(st); len(got) != 1 || got[0] != "Failed pi" {
		t.Fatalf("a failure after a recovery: %v", got)
	}
	// The known failure of "old" recovering sends nothing: it was never told.
	st.Outbox = nil
	st, _ = DecideNotifications(n, st, []NotifyObject{appObject("old", "d-9", "TASK_FINISHED", ClassSucceeded, PhaseSucceeded, t5, nil)}, t5)
	if len(st.Outbox) != 0 {
		t.Fatalf("recovery of a condition never sent: %v", events(st))
	}
	if _, ok := st.Sent["SparkApplication/pi"]; ok {
		t.Errorf("the memory of a gone object is kept: %v", st.Sent)
	}
}

func TestNotifyDecisionIsDeterministic(t *testing.T) {
	// A crash between the run's end and the notifier's write: the next
	// leader decides the same notification, with the same id.
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	n := notifier("hook", v1.NotifierSpec{})
	base, _ := DecideNotifications(n, nil, nil, t0)
	obj := []NotifyObject{appObject("pi", "d-1", "TASK_FAILED", ClassApplication, PhaseFailed, t0, nil)}
	a, _ := DecideNotifications(n, base, obj, t0.Add(time.Second))
	b, _ := DecideNotifications(n, base, obj, t0.Add(5*time.Second))
	if len(a.Outbox) != 2 || len(b.Outbox) != 2 {
		t.Fatalf("outboxes %v / %v", events(a), events(b))
	}
	for i := range a.Outbox {
		if a.Outbox[i].Notification.ID != b.Outbox[i].Notification.ID {
			t.Errorf("ids differ: %s / %s", a.Outbox[i].Notification.ID, b.Outbox[i].Notification.ID)
		}
	}
}

func TestNotifySelectorEventsBlockedAndSource(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	blockedFor := v1.Duration{Micros: 5 * 60 * 1e6}
	n := notifier("data", v1.NotifierSpec{Events: []string{v1.NotifyFailed, v1.NotifyBlocked, v1.NotifyHeld}, BlockedFor: &blockedFor,
		Selector: &v1.Selector{MatchLabels: map[string]string{"team": "data"}}})
	st, _ := DecideNotifications(n, nil, nil, t0)
	blocked := appObject("etl", "d-1", "TASK_RUNNING", "", PhaseBlocked, t0, map[string]string{"team": "data"})
	objs := []NotifyObject{
		appObject("other", "d-2", "TASK_FAILED", ClassApplication, PhasePending, t0, map[string]string{"team": "web"}),
		appObject("mine", "d-3", "TASK_FAILED", ClassApplication, PhaseFailed, t0, map[string]string{"team": "data", "tier": "1"}),
		blocked,
		{Kind: "Source", Name: "/manifests", Meta: &store.Meta{Source: "/manifests", SourceProblems: []string{"a.yaml:3:1: bad"}, SourceError: "unreachable"}},
	}
	st, _ = DecideNotifications(n, st, objs, t0.Add(time.Minute))
	if got := fmt.Sprint(events(st)); got != "[Failed mine Held /manifests]" {
		t.Fatalf("got %s: the selector keeps mine only, RetriesExhausted and SyncFailed are not asked for, etl is not blocked long enough", got)
	}
	st, _ = DecideNotifications(n, st, objs, t0.Add(6*time.Minute))
	if got := fmt.Sprint(events(st)); got != "[Failed mine Held /manifests Blocked etl]" {
		t.Fatalf("after blockedFor: %s", got)
	}
}

func TestNotifyRateLimitSummary(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	per := v1.Duration{Micros: 60 * 1e6}
	n := notifier("hook", v1.NotifierSpec{RateLimit: &v1.RateLimit{Count: 5, Per: &per}})
	st, _ := DecideNotifications(n, nil, nil, t0)
	var objs []NotifyObject
	for i := range 12 {
		objs = append(objs, appObject(fmt.Sprintf("app-%02d", i), "d", "TASK_FAILED", ClassApplication, PhasePending, t0, nil))
	}
	st, _ = DecideNotifications(n, st, objs, t0.Add(10*time.Second))
	if len(st.Outbox) != 5 || st.Overflow == nil || st.Overflow.Count != 7 {
		t.Fatalf("outbox %d, overflow %+v: want 5 and 7", len(st.Outbox), st.Overflow)
	}
	st, _ = DecideNotifications(n, st, objs, t0.Add(30*time.Second))
	if len(st.Outbox) != 5 || st.Overflow.Count != 7 {
		t.Fatalf("the same failures counted again: outbox %d, overflow %+v", len(st.Outbox), st.Overflow)
	}
	st, _ = DecideNotifications(n, st, objs, t0.Add(61*time.Second))
	if len(st.Outbox) != 6 || st.Outbox[5].Notification.Summary == nil || st.Outbox[5].Notification.Summary.Count != 7 || st.Overflow != nil {
		t.Fatalf("no summary at the window's end: %v %+v", events(st), st.Overflow)
	}
	t.Log(st.Outbox[5].Notification.Message)
}

// fakeTarget fails its first fails deliveries, then acknowledges.
type fakeTarget struct {
	mu    sync.Mutex
	fails int
	got   []store.Notification
	tries int
}

func (f *fakeTarget) Deliver(_ context.Context, n store.Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if f.tries <= f.fails {
		return errors.New("answered 500 Internal Server Error")
	}
	f.got = append(f.got, n)
	return nil
}

func TestNotificationsDeliverInOrderWithRetries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := store.NewMemory()
	t0 := time.Now()
	target := &fakeTarget{fails: 2}
	d := &Desired{Apps: map[string]*DesiredApp{}, Notifiers: []*DesiredNotifier{notifier("hook", v1.NotifierSpec{})}}
	newN := func(tg notify.Target) *Notifications {
		return &Notifications{Store: st, Retry: 20 * time.Millisecond, MaxRetry: 100 * time.Millisecond,
			NewTarget: func(*v1.NotifierSpec) (notify.Target, error) { return tg, nil }}
	}
	first := newN(&fakeTarget{fails: 1 << 30}) // a target down: nothing is acknowledged
	if err := first.Decide(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	failing := appObject("pi", "d-1", "TASK_FAILED", ClassApplication, PhasePending, t0, nil)
	if err := first.Decide(ctx, d, []NotifyObject{failing}); err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	go first.Run(rctx)
	time.Sleep(150 * time.Millisecond)
	stop() // the leader goes away with the delivery unacknowledged
	rec, err := st.Get(ctx, store.Key{Kind: v1.KindNotifier, Name: "hook"})
	if err != nil || len(rec.Notify.Outbox) != 1 || rec.Notify.Outbox[0].Attempts < 2 {
		t.Fatalf("the outbox after failed attempts: %+v, %v", rec.Notify, err)
	}
	id := rec.Notify.Outbox[0].Notification.ID

	// A new leader: its first pass sees the app recovered, so a Recovered
	// queues behind the Failed; its target fails twice more, then takes both.
	second := newN(target)
	well := appObject("pi", "d-2", "TASK_FINISHED", ClassSucceeded, PhaseSucceeded, t0, nil)
	if err := second.Decide(ctx, d, []NotifyObject{well}); err != nil {
		t.Fatal(err)
	}
	go second.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		target.mu.Lock()
		n := len(target.got)
		target.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	target.mu.Lock()
	defer target.mu.Unlock()
	if target.got[0].ID != id || target.got[0].Event != v1.NotifyFailed || target.got[1].Event != v1.NotifyRecovered {
		t.Fatalf("delivered %+v; want the Failed %s, then Recovered", target.got, id)
	}
	if target.tries != 4 {
		t.Errorf("%d attempts, want 2 failed + 2 delivered", target.tries)
	}
	rec, _ = st.Get(ctx, store.Key{Kind: v1.KindNotifier, Name: "hook"})
	if len(rec.Notify.Outbox) != 0 || rec.Notify.Delivered != 2 {
		t.Errorf("outbox %v, delivered %d", events(rec.Notify), rec.Notify.Delivered)
	}
}

func TestRemovedNotifiersArePrunedOnlyWithPruneAndBelowHalf(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	all := &Desired{Apps: map[string]*DesiredApp{}}
	for _, name := range []string{"a", "b", "c"} {
		all.Notifiers = append(all.Notifiers, notifier(name, v1.NotifierSpec{}))
	}
	count := func() int {
		recs, _ := st.List(ctx, v1.KindNotifier)
		return len(recs)
	}
	n := &Notifications{Store: st}
	if err := n.Decide(ctx, all, nil); err != nil || count() != 3 {
		t.Fatalf("%d records, %v", count(), err)
	}
	none := &Desired{Apps: map[string]*DesiredApp{}, Notifiers: all.Notifiers[:1]}
	if err := n.Decide(ctx, none, nil); err != nil || count() != 3 {
		t.Fatalf("without Prune: %d records, %v", count(), err)
	}
	n.Prune = true
	if err := n.Decide(ctx, none, nil); err != nil || count() != 3 {
		t.Fatalf("pruning 2 of 3 without Force: %d records, %v", count(), err)
	}
	if err := n.Decide(ctx, &Desired{Apps: map[string]*DesiredApp{}, Notifiers: all.Notifiers[:2]}, nil); err != nil || count() != 2 {
		t.Fatalf("pruning 1 of 3: %d records, %v", count(), err)
	}
	held := &Desired{Apps: map[string]*DesiredApp{}, BrokenFiles: map[string]bool{"n.yaml": true}}
	n.Force = true
	if err := n.Decide(ctx, held, nil); err != nil || count() != 2 {
		t.Fatalf("a broken file pruned its notifiers: %d records, %v", count(), err)
	}
	if err := n.Decide(ctx, &Desired{Apps: map[string]*DesiredApp{}}, nil); err != nil || count() != 0 {
		t.Fatalf("with Force: %d records, %v", count(), err)
	}
}
