package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

// schedule carries out a schedule's action on its record: the runs it
// starts are written here before their submissions (so a crash never
// gives a scheduled time a second run), then the skipped times, stopped
// and forgotten runs, and decided run-now requests.
func (x *execution) schedule(ctx context.Context, a ScheduleAction) (string, error) {
	key := store.Key{Kind: v1.KindScheduledSparkApplication, Name: a.Name}
	var rec store.Record
	if r := x.o.ScheduleRecords[a.Name]; r != nil {
		rec = *r
		rec.Events = slices.Clone(r.Events)
	} else {
		rec.Key = key
	}
	switch a.Type {
	case ActionHold:
		return "", nil
	case ActionPrune:
		if rec.Version == 0 {
			return "pruned", nil
		}
		if err := x.e.Store.Delete(ctx, key, rec.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("forget %s: %w", key, err)
		}
		return "pruned", nil
	}
	var st store.ScheduleState
	if rec.Schedule != nil {
		st = *rec.Schedule
		st.Runs = slices.Clone(st.Runs)
		st.Skipped = slices.Clone(st.Skipped)
		st.Pending = slices.Clone(st.Pending)
		st.Decided = slices.Clone(st.Decided)
	}
	changed := rec.Version == 0
	if !a.Since.IsZero() && st.Since.IsZero() {
		st.Since, changed = a.Since, true
	}
	if st.Policy != a.Policy {
		st.Policy, changed = a.Policy, true
	}
	if !a.LastScheduled.IsZero() && a.LastScheduled.After(st.LastScheduled) {
		st.LastScheduled, changed = a.LastScheduled, true
	}
	for _, r := range a.Adopt {
		st.Runs = append(st.Runs, r)
		x.event(&rec, "Normal", "Adopted", fmt.Sprintf("run %s found by its labels", r.Name))
		changed = true
	}
	for _, r := range a.Start {
		st.Runs = append(st.Runs, r)
		msg := fmt.Sprintf("run %s for %s", r.Name, r.Scheduled.UTC().Format("2006-01-02T15:04:05Z"))
		if r.Trigger == TriggerRunNow {
			msg = fmt.Sprintf("run-now: run %s%s", r.Name, r.Overrides.Describe())
		}
		x.event(&rec, "Normal", "RunStarted", msg)
		changed = true
	}
	for _, n := range slices.Sorted(maps.Keys(a.Stop)) {
		for i := range st.Runs {
			if st.Runs[i].Name == n && st.Runs[i].Stopped == "" {
				st.Runs[i].Stopped = a.Stop[n]
				x.event(&rec, "Warning", "RunStopped", fmt.Sprintf("run %s: %s", n, a.Stop[n]))
				changed = true
			}
		}
	}
	for _, k := range a.Skip {
		st.AddSkipped(k)
		msg := fmt.Sprintf("%s: %s", k.Scheduled.UTC().Format("2006-01-02T15:04:05Z"), k.Reason)
		if k.Count > 1 {
			msg = fmt.Sprintf("%d times from %s to %s: %s", k.Count, k.Scheduled.UTC().Format("2006-01-02T15:04:05Z"), k.Until.UTC().Format("2006-01-02T15:04:05Z"), k.Reason)
		}
		x.event(&rec, "Warning", "Skipped", msg)
		changed = true
	}
	for _, req := range a.Decided {
		st.Pending = slices.DeleteFunc(st.Pending, func(p store.RunRequest) bool { return p.ID == req.ID })
		st.AddDecided(req)
		if req.Run == "" {
			x.event(&rec, "Warning", "RunNowRefused", req.Outcome)
		}
		changed = true
	}
	var forgotten []string
	if len(a.Forget) > 0 {
		st.Runs = slices.DeleteFunc(st.Runs, func(r store.ScheduleRun) bool { return slices.Contains(a.Forget, r.Name) })
		forgotten = a.Forget
		changed = true
	}
	if rewritesStatus(rec.Status, a.Type, a.Phase, a.Reason) {
		rec.Status = store.Status{Phase: a.Phase, Message: a.Reason, ObservedAt: x.now()}
		changed = true
	}
	for _, ds := range x.d.Schedules {
		if ds.Name() == a.Name && rec.Origin != ds.File {
			rec.Origin, changed = ds.File, true
		}
	}
	if !changed {
		return "", nil
	}
	rec.Schedule = &st
	if _, err := x.e.Store.Put(ctx, &rec); err != nil {
		return "", fmt.Errorf("record %s: %w", key, err)
	}
	// The runs beyond the history limits go once the schedule no longer
	// lists them.
	for _, n := range forgotten {
		r := x.current(n)
		if r == nil || r.Version == 0 {
			continue
		}
		if err := x.e.Store.Delete(ctx, r.Key, r.Version); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("forget run %s: %w", n, err)
		}
		x.forget(n)
	}
	return a.Reason, nil
}
