package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/notify"
	"github.com/sparkmesos/reconciler/store"
)

// Notifications are decided like everything else here: level-triggered,
// from the records as a pass leaves them. Each Notifier's record remembers
// which condition of which object it told about (Sent) and holds the
// deliveries not yet acknowledged (Outbox); both are written in one write
// before anything is sent. So a crash or a leader change between a run's
// end and its delivery loses nothing (the next pass decides it again, or
// the outbox still holds it, under the same id), the same condition seen
// on every pass is sent once, and a delivery is removed only once its
// target acknowledged it (at least once; a redelivery has the same id).

// DesiredNotifier is a Notifier of the manifests.
type DesiredNotifier struct {
	Notifier *v1.Notifier
	File     string
}

// Name is the notifier's name.
func (n *DesiredNotifier) Name() string { return n.Notifier.Metadata.Name }

// NotifyObject is one object as notifications see it: an application's
// record, or the source (Meta).
type NotifyObject struct {
	Kind, Name string
	// Schedule names the schedule of a run; Labels are the application's
	// (a run's: its schedule's).
	Schedule string
	Labels   map[string]string
	Record   *store.Record
	Meta     *store.Meta
}

// Key is the object's Kind/name.
func (o NotifyObject) Key() string { return o.Kind + "/" + o.Name }

// notifyCondition is something wrong with an object that a notifier may
// be told about: its event, the key that tells it from another condition
// of the same event (the same key again within the dedup window is not
// sent), and its occurrence (a run, a time), which makes its id.
type notifyCondition struct {
	event, key, occurrence string
	run, class, message    string
}

// conditionsOf says what is wrong with an object now, and whether it is
// well (a notifier that told about it sends Recovered).
func conditionsOf(o NotifyObject, spec *v1.NotifierSpec, now time.Time) (conds []notifyCondition, well bool) {
	if m := o.Meta; m != nil {
		if m.SourceError != "" {
			conds = append(conds, notifyCondition{event: v1.NotifySyncFailed, key: "sync", occurrence: "sync:" + shortHash(m.SourceError),
				message: "the source failed to sync; the last good revision stays in force: " + m.SourceError})
		}
		if len(m.SourceProblems) > 0 {
			msg := "manifests failed to load; what they declared is held: " + m.SourceProblems[0]
			if n := len(m.SourceProblems) - 1; n > 0 {
				msg += fmt.Sprintf(" (and %d more)", n)
			}
			h := shortHash(strings.Join(m.SourceProblems, "\n"))
			conds = append(conds, notifyCondition{event: v1.NotifyHeld, key: h, occurrence: "held:" + h, message: msg})
		}
		return conds, len(conds) == 0
	}
	r := o.Record
	var latest *store.Submission
	if n := len(r.Submissions); n > 0 {
		latest = &r.Submissions[n-1]
	}
	phase := r.Status.Phase
	ended := latest != nil && !latest.FinishedAt.IsZero() && latest.Class != ""
	if ended && failed(latest.Class) {
		c := notifyCondition{event: v1.NotifyFailed, key: latest.Class, occurrence: "run:" + latest.ID, run: latest.ID, class: latest.Class,
			message: fmt.Sprintf("driver %s ended: %s, class %s", latest.ID, DescribeRun(latest), latest.Class)}
		if latest.Class == ClassDeadline {
			c.event, c.key = v1.NotifyDeadlineExceeded, "deadline"
		}
		conds = append(conds, c)
	}
	if phase == PhaseFailed && (latest == nil || latest.Class != ClassDeadline) {
		c := notifyCondition{event: v1.NotifyRetriesExhausted, key: "gave-up", occurrence: "failed:" + r.Status.ObservedAt.UTC().Format(time.RFC3339Nano),
			message: "will not run again: " + r.Status.Message}
		if latest != nil {
			c.occurrence, c.run, c.class = "run:"+latest.ID, latest.ID, latest.Class
		}
		conds = append(conds, c)
	}
	if phase == PhaseBlocked {
		since := r.Status.ObservedAt
		for i := len(r.Events) - 1; i >= 0; i-- {
			if r.Events[i].Reason == "Blocked" {
				since = r.Events[i].Time
				break
			}
		}
		if now.Sub(since) >= micros(v1.DurationOr(spec.BlockedFor, v1.DefaultBlockedFor).Micros) {
			conds = append(conds, notifyCondition{event: v1.NotifyBlocked, key: "blocked", occurrence: "blocked:" + since.UTC().Format(time.RFC3339Nano),
				message: fmt.Sprintf("blocked for %s: %s", now.Sub(since).Round(time.Second), r.Status.Message)})
		}
	}
	if latest == nil || phase == PhaseFailed || phase == PhaseBlocked {
		return conds, false
	}
	switch {
	case ended && latest.Class == ClassSucceeded:
		well = true
	case latest.State == "TASK_RUNNING" && !latest.StartedAt.IsZero():
		well = now.Sub(latest.StartedAt) >= micros(v1.DurationOr(spec.RecoveredAfter, v1.DefaultRecoveredAfter).Micros)
	}
	return conds, well
}

// NotificationID names an occurrence of an event of an object, the same
// whoever decides it and however often.
func NotificationID(object, event, occurrence string) string {
	return "n-" + shortHash(object+"\x00"+event+"\x00"+occurrence)
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// DecideNotifications is one notifier's decision over the objects: from
// what it remembers (nil: a new notifier), the state to write, with the new
// deliveries in its outbox, and whether anything changed. It is pure.
//
//   - A condition is sent once per occurrence; a new occurrence with the
//     same key (the same failure class again, the source still failing)
//     within the dedup window is not sent, unless the object recovered.
//   - An object that was told about and is well again gets Recovered.
//   - A new notifier remembers what is already wrong as known (not sent):
//     adding one does not replay the past.
//   - Beyond rateLimit per window, or with MaxOutbox deliveries waiting,
//     notifications are folded into one summary, sent when the window ends.
func DecideNotifications(n *DesiredNotifier, prev *store.NotifyState, objects []NotifyObject, now time.Time) (*store.NotifyState, bool) {
	spec := &n.Notifier.Spec
	st := cloneNotifyState(prev)
	baseline := prev == nil
	if baseline {
		st.Since = now
	}
	changed := baseline
	if t := spec.TargetType(); st.Target != t {
		st.Target, changed = t, true
	}
	dedup := micros(v1.DurationOr(spec.DedupWindow, v1.DefaultDedupWindow).Micros)
	limit, per := v1.DefaultRateCount, v1.DefaultRatePer
	if r := spec.RateLimit; r != nil {
		limit, per = r.Count, v1.DurationOr(r.Per, v1.DefaultRatePer)
	}
	if st.Window.IsZero() || !now.Before(st.Window.Add(micros(per.Micros))) {
		if o := st.Overflow; o != nil && o.Count > 0 {
			id := NotificationID(v1.KindNotifier+"/"+n.Name(), "Summary", o.Since.UTC().Format(time.RFC3339Nano))
			st.Outbox = append(st.Outbox, store.Delivery{Notification: store.Notification{ID: id, Event: "Summary", Time: now, Kind: v1.KindNotifier, Name: n.Name(),
				Message: summaryMessage(o), Summary: o}})
		}
		st.Window, st.InWindow, st.Overflow = now, 0, nil
		changed = true
	}
	enqueue := func(note store.Notification) {
		if st.InWindow >= limit || len(st.Outbox) >= store.MaxOutbox {
			o := st.Overflow
			if o == nil {
				o = &store.Overflow{Since: now, ByEvent: map[string]int{}}
				st.Overflow = o
			}
			o.Count++
			o.ByEvent[note.Event]++
			if name := note.Kind + "/" + note.Name; len(o.Names) < store.MaxSummaryNames && !slices.Contains(o.Names, name) {
				o.Names = append(o.Names, name)
			}
			return
		}
		st.InWindow++
		st.Outbox = append(st.Outbox, store.Delivery{Notification: note})
	}
	seen := make(map[string]bool, len(objects))
	for _, o := range objects {
		key := o.Key()
		seen[key] = true
		if o.Meta == nil && !spec.Selector.Matches(o.Labels) {
			continue
		}
		conds, well := conditionsOf(o, spec, now)
		sent := st.Sent[key]
		note := func(event, id string, c notifyCondition) store.Notification {
			out := store.Notification{ID: id, Event: event, Time: now, Kind: o.Kind, Name: o.Name, Labels: o.Labels, Schedule: o.Schedule,
				Run: c.run, Class: c.class, Message: c.message}
			if r := o.Record; r != nil {
				out.Phase, out.Revision = r.Status.Phase, r.Revision
			} else if o.Meta != nil {
				out.Revision = o.Meta.LastAttemptedRevision
			}
			return out
		}
		if well {
			if len(sent) == 0 {
				continue
			}
			var last *store.Notified
			for i := range sent {
				if !sent[i].Quiet && (last == nil || sent[i].At.After(last.At)) {
					last = &sent[i]
				}
			}
			if last != nil && spec.Wants(v1.NotifyRecovered) {
				enqueue(note(v1.NotifyRecovered, NotificationID(key, v1.NotifyRecovered, last.ID),
					notifyCondition{message: fmt.Sprintf("recovered (was %s: told in %s)", last.Event, last.ID)}))
			}
			delete(st.Sent, key)
			changed = true
			continue
		}
		for _, c := range conds {
			if !spec.Wants(c.event) {
				continue
			}
			id := NotificationID(key, c.event, c.occurrence)
			i := slices.IndexFunc(sent, func(s store.Notified) bool { return s.Event == c.event })
			if i >= 0 && (sent[i].ID == id || (!sent[i].Quiet && sent[i].Key == c.key && now.Sub(sent[i].At) < dedup)) {
				continue // told already, or the same again within the window
			}
			entry := store.Notified{Event: c.event, Key: c.key, ID: id, At: now, Quiet: baseline}
			if i >= 0 {
				sent[i] = entry
			} else {
				sent = append(sent, entry)
			}
			if st.Sent == nil {
				st.Sent = map[string][]store.Notified{}
			}
			st.Sent[key] = sent
			changed = true
			if !baseline {
				enqueue(note(c.event, id, c))
			}
		}
	}
	for key := range st.Sent {
		if !seen[key] {
			delete(st.Sent, key) // the object is gone
			changed = true
		}
	}
	return st, changed
}

func summaryMessage(o *store.Overflow) string {
	events := slices.Sorted(maps.Keys(o.ByEvent))
	parts := make([]string, len(events))
	for i, e := range events {
		parts[i] = fmt.Sprintf("%d %s", o.ByEvent[e], e)
	}
	msg := fmt.Sprintf("%d notifications held back by the rate limit since %s: %s", o.Count, o.Since.UTC().Format(time.RFC3339), strings.Join(parts, ", "))
	if len(o.Names) > 0 {
		msg += "; among them " + strings.Join(o.Names, ", ")
	}
	return msg
}

func cloneNotifyState(prev *store.NotifyState) *store.NotifyState {
	if prev == nil {
		return &store.NotifyState{}
	}
	st := *prev
	st.Outbox = slices.Clone(prev.Outbox)
	st.Sent = make(map[string][]store.Notified, len(prev.Sent))
	for k, v := range prev.Sent {
		st.Sent[k] = slices.Clone(v)
	}
	if o := prev.Overflow; o != nil {
		c := *o
		c.ByEvent = maps.Clone(o.ByEvent)
		c.Names = slices.Clone(o.Names)
		st.Overflow = &c
	}
	return &st
}

// NotifierStatus says how a notifier's deliveries go, for status and the
// page: Delivering (its
// outbox is empty or flowing) or Retrying (its oldest delivery failed).
func NotifierStatus(n *store.NotifyState) (phase, msg string) {
	phase = "Delivering"
	msg = fmt.Sprintf("%s: %d delivered, %d waiting", n.Target, n.Delivered, len(n.Outbox))
	if len(n.Outbox) > 0 && n.Outbox[0].Attempts > 0 {
		head := n.Outbox[0]
		phase = "Retrying"
		msg += fmt.Sprintf("; %s of %s/%s failed %d times (%s), next attempt %s", head.Notification.Event, head.Notification.Kind, head.Notification.Name,
			head.Attempts, head.LastError, head.NextAttempt.Format(time.RFC3339))
	}
	if o := n.Overflow; o != nil && o.Count > 0 {
		msg += fmt.Sprintf("; %d held back by the rate limit", o.Count)
	}
	return phase, msg
}

// NotifyObjects are the objects notifications look at after a pass: the
// applications' records as the pass left them (a schedule's runs with
// the schedule's labels) and the source.
func NotifyObjects(d *Desired, recs, scheduleRecs map[string]*store.Record, meta *store.Meta) []NotifyObject {
	runOf := map[string]string{}
	for name, sr := range scheduleRecs {
		if sr.Schedule != nil {
			for _, run := range sr.Schedule.Runs {
				runOf[run.Name] = name
			}
		}
	}
	scheduleLabels := map[string]map[string]string{}
	for _, s := range d.Schedules {
		scheduleLabels[s.Name()] = s.Schedule.Metadata.Labels
	}
	out := make([]NotifyObject, 0, len(recs)+1)
	for name, r := range recs {
		o := NotifyObject{Kind: v1.KindSparkApplication, Name: name, Record: r}
		if da := d.Apps[name]; da != nil && da.Schedule != "" {
			o.Schedule = da.Schedule
		} else if s := runOf[name]; s != "" {
			o.Schedule = s
		}
		switch {
		case o.Schedule != "":
			o.Labels = scheduleLabels[o.Schedule]
		case d.Apps[name] != nil:
			o.Labels = d.Apps[name].Labels
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if meta != nil && meta.Source != "" {
		out = append(out, NotifyObject{Kind: "Source", Name: meta.Source, Meta: meta})
	}
	return out
}

// Notifications decide, after each pass, what the Notifiers send, and
// deliver it (Run). Only the leader runs them.
type Notifications struct {
	Store  store.Store
	Lookup notify.Lookup
	Log    *slog.Logger
	Now    func() time.Time
	// NewTarget makes a notifier's target (default notify.New).
	NewTarget func(*v1.NotifierSpec) (notify.Target, error)
	// Retry is the first retry's delay (doubling up to MaxRetry).
	Retry, MaxRetry time.Duration
	// Delivered, when set, counts each attempt (err nil: acknowledged).
	Delivered func(notifier, event string, err error)
	// Prune removes the records (memory and outbox) of notifiers no longer
	// in the manifests, as run --prune does applications; Force allows it
	// beyond half of them.
	Prune, Force bool

	mu        sync.Mutex // the decision's and the deliveries' writes
	notifiers map[string]*DesiredNotifier
	wake      chan struct{}
}

func (n *Notifications) now() time.Time {
	if n.Now == nil {
		return time.Now()
	}
	return n.Now()
}

func (n *Notifications) log() *slog.Logger {
	if n.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.Log
}

// wakeup is the channel that wakes the deliveries (made at first use).
func (n *Notifications) wakeup() chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.wake == nil {
		n.wake = make(chan struct{}, 1)
	}
	return n.wake
}

func (n *Notifications) poke() {
	select {
	case n.wakeup() <- struct{}{}:
	default:
	}
}

// Decide is the step after a pass: each desired notifier's decision over
// the objects, written to its record. With Prune, the records of notifiers
// no longer desired (and not held by a broken file) are removed, outbox
// and all; without, they stay, and nothing is delivered for them.
func (n *Notifications) Decide(ctx context.Context, d *Desired, objects []NotifyObject) error {
	n.mu.Lock()
	n.notifiers = map[string]*DesiredNotifier{}
	for _, dn := range d.Notifiers {
		n.notifiers[dn.Name()] = dn
	}
	n.mu.Unlock()
	recs, err := n.Store.List(ctx, v1.KindNotifier)
	if err != nil {
		return err
	}
	have := map[string]*store.Record{}
	for _, r := range recs {
		have[r.Key.Name] = r
	}
	var errs []error
	pending := false
	for _, dn := range d.Notifiers {
		n.mu.Lock()
		rec := have[dn.Name()]
		if rec == nil {
			rec = &store.Record{Key: store.Key{Kind: v1.KindNotifier, Name: dn.Name()}}
		} else if fresh, err := n.Store.Get(ctx, rec.Key); err == nil {
			rec = fresh // a delivery may have written it since the list
		}
		st, changed := DecideNotifications(dn, rec.Notify, objects, n.now())
		if changed || rec.Origin != dn.File {
			copied := *rec
			copied.Notify, copied.Origin, copied.Revision = st, dn.File, d.Revision
			if _, err := n.Store.Put(ctx, &copied); err != nil {
				errs = append(errs, fmt.Errorf("notifier %s: %w", dn.Name(), err))
			}
		}
		pending = pending || len(st.Outbox) > 0
		n.mu.Unlock()
	}
	var gone []*store.Record
	for name, r := range have {
		if n.notifiers[name] == nil && !d.Holds(r.Origin) {
			gone = append(gone, r)
		}
	}
	switch {
	case len(gone) == 0:
	case !n.Prune:
		gone = nil // kept, inert: nothing is delivered for a notifier not desired
	case len(gone)*2 > len(have) && !n.Force:
		n.log().Warn("notifications: not pruning the records of removed notifiers: more than half of them (--force allows it)", "removed", len(gone), "owned", len(have))
		gone = nil
	}
	for _, r := range gone {
		name := r.Key.Name
		n.mu.Lock()
		if err := n.Store.Delete(ctx, r.Key, r.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, fmt.Errorf("notifier %s: %w", name, err))
		}
		n.mu.Unlock()
	}
	if pending {
		n.poke()
	}
	return errors.Join(errs...)
}

// Run delivers the outboxes until ctx ends: each notifier's deliveries in
// order, the first not acknowledged retried with a doubling delay before
// those after it (a Recovered never overtakes its failure).
func (n *Notifications) Run(ctx context.Context) {
	if n.Retry == 0 {
		n.Retry = time.Second
	}
	if n.MaxRetry == 0 {
		n.MaxRetry = 5 * time.Minute
	}
	n.poke() // what a crash or the previous leader left
	targets := map[string]notify.Target{}
	specs := map[string]*v1.NotifierSpec{}
	for {
		next := n.deliverDue(ctx, targets, specs)
		wait := 30 * time.Second
		if !next.IsZero() {
			wait = max(next.Sub(n.now()), 10*time.Millisecond)
		}
		w := n.wakeup()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliverDue delivers what is due and returns when the next retry is.
func (n *Notifications) deliverDue(ctx context.Context, targets map[string]notify.Target, specs map[string]*v1.NotifierSpec) time.Time {
	recs, err := n.Store.List(ctx, v1.KindNotifier)
	if err != nil {
		if ctx.Err() == nil {
			n.log().Warn("notifications: cannot read the outboxes", "err", err)
		}
		return n.now().Add(n.Retry)
	}
	var next time.Time
	for _, r := range recs {
		if r.Notify == nil || len(r.Notify.Outbox) == 0 {
			continue
		}
		n.mu.Lock()
		dn := n.notifiers[r.Key.Name]
		n.mu.Unlock()
		if dn == nil {
			continue // not decided on yet by this leader (its first pass comes)
		}
		target := targets[r.Key.Name]
		if target == nil || specs[r.Key.Name] != &dn.Notifier.Spec {
			newTarget := n.NewTarget
			if newTarget == nil {
				newTarget = func(s *v1.NotifierSpec) (notify.Target, error) { return notify.New(s, n.Lookup, nil) }
			}
			if target, err = newTarget(&dn.Notifier.Spec); err != nil {
				n.log().Warn("notifications: no target", "notifier", r.Key.Name, "err", err)
				continue
			}
			targets[r.Key.Name], specs[r.Key.Name] = target, &dn.Notifier.Spec
		}
		if t := n.deliverOne(ctx, r.Key, target); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// deliverOne delivers a notifier's due deliveries in order; it returns
// when its next retry is due (zero: nothing waits).
func (n *Notifications) deliverOne(ctx context.Context, key store.Key, target notify.Target) time.Time {
	for ctx.Err() == nil {
		rec, err := n.Store.Get(ctx, key)
		if err != nil || rec.Notify == nil || len(rec.Notify.Outbox) == 0 {
			return time.Time{}
		}
		head := rec.Notify.Outbox[0]
		if now := n.now(); head.NextAttempt.After(now) {
			return head.NextAttempt
		}
		derr := target.Deliver(ctx, head.Notification)
		if n.Delivered != nil {
			n.Delivered(key.Name, head.Notification.Event, derr)
		}
		if derr != nil && ctx.Err() != nil {
			return time.Time{} // stopping (leadership lost): the outbox keeps it
		}
		n.mu.Lock()
		next, err := n.settle(ctx, key, head, derr)
		n.mu.Unlock()
		if err != nil {
			n.log().Warn("notifications: cannot record a delivery", "notifier", key.Name, "id", head.Notification.ID, "err", err)
			return n.now().Add(n.Retry)
		}
		if derr != nil {
			n.log().Warn("notification not delivered", "notifier", key.Name, "id", head.Notification.ID, "event", head.Notification.Event,
				"object", head.Notification.Kind+"/"+head.Notification.Name, "attempt", head.Attempts+1, "retry-at", next.Format(time.RFC3339), "err", derr)
			return next
		}
		n.log().Info("notification delivered", "notifier", key.Name, "id", head.Notification.ID, "event", head.Notification.Event,
			"object", head.Notification.Kind+"/"+head.Notification.Name)
	}
	return time.Time{}
}

// settle records a delivery's result in the notifier's record (read again:
// a pass may have added deliveries): acknowledged, it leaves the outbox;
// else its attempt is counted and its retry set.
func (n *Notifications) settle(ctx context.Context, key store.Key, d store.Delivery, derr error) (time.Time, error) {
	for try := 0; ; try++ {
		rec, err := n.Store.Get(ctx, key)
		if err != nil {
			return time.Time{}, err
		}
		st := cloneNotifyState(rec.Notify)
		i := slices.IndexFunc(st.Outbox, func(x store.Delivery) bool { return x.Notification.ID == d.Notification.ID })
		if i < 0 {
			return time.Time{}, nil
		}
		now := n.now()
		var next time.Time
		note := d.Notification
		if derr == nil {
			st.Outbox = slices.Delete(st.Outbox, i, i+1)
			st.Delivered++
			st.LastDelivered, st.LastError = now, ""
			rec.AddEvent(store.Event{Time: now, Type: "Normal", Reason: "Notified",
				Message: fmt.Sprintf("%s of %s/%s sent to the %s (id %s)", note.Event, note.Kind, note.Name, st.Target, note.ID)})
		} else {
			x := &st.Outbox[i]
			x.Attempts++
			delay := n.Retry << min(x.Attempts-1, 20)
			if delay > n.MaxRetry || delay <= 0 {
				delay = n.MaxRetry
			}
			next = now.Add(delay)
			x.NextAttempt, x.LastError = next, derr.Error()
			st.LastError = derr.Error()
			rec.AddEvent(store.Event{Time: now, Type: "Warning", Reason: "NotifyFailed",
				Message: fmt.Sprintf("%s of %s/%s (id %s), attempt %d: %s; retrying in %s", note.Event, note.Kind, note.Name, note.ID, x.Attempts, derr, delay)})
		}
		rec.Notify = st
		if _, err := n.Store.Put(ctx, rec); err != nil {
			if errors.Is(err, store.ErrConflict) && try < 3 {
				continue
			}
			return time.Time{}, err
		}
		return next, nil
	}
}
