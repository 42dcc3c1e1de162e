package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

// ErrRefused: the schedule's concurrency policy refuses the run-now.
var ErrRefused = errors.New("run-now refused")

// ErrUnknownApp: the store has no record of the application.
var ErrUnknownApp = errors.New("no such application in the store")

// RequestRunNow records one more run now, with overrides (nil for none),
// of NAME: a schedule's run, which its next pass starts through the
// concurrency policy (Forbid refuses it while a run is active, unless
// force), or a SparkApplication's, which the next pass submits, killing a
// running driver first, whatever its restart policy. It says what was
// recorded.
func RequestRunNow(ctx context.Context, st store.Store, name string, ov *store.Overrides, force bool, now time.Time) (string, error) {
	if err := CheckOverrides(ov); err != nil {
		return "", err
	}
	srec, err := st.Get(ctx, store.Key{Kind: v1.KindScheduledSparkApplication, Name: name})
	switch {
	case err == nil && srec.Schedule != nil:
		sched := srec.Schedule
		var active []string
		for _, r := range sched.Runs {
			if r.Stopped != "" {
				continue
			}
			rr, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: r.Name})
			if err == nil && (rr.Status.Phase == PhaseSucceeded || rr.Status.Phase == PhaseFailed || rr.Status.Phase == PhaseStopped) {
				continue
			}
			active = append(active, r.Name)
		}
		if why := RunNowDecision(sched.Policy, active, force); why != "" {
			return "", fmt.Errorf("%w: %s", ErrRefused, why)
		}
		req := store.RunRequest{ID: newID(), At: now.UTC().Truncate(time.Second), Overrides: ov, Force: force}
		sched.Pending = append(sched.Pending, req)
		srec.AddEvent(store.Event{Time: now, Type: "Normal", Reason: "RunNowRequested", Message: "run-now requested" + ov.Describe()})
		if _, err := st.Put(ctx, srec); err != nil {
			return "", err
		}
		return fmt.Sprintf("run-now of schedule %s requested (request %s): the next pass starts run %s", name, req.ID, v1.ManualRunName(name, req.At)), nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	rec, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: name})
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%s: %w (apply it first)", name, ErrUnknownApp)
	}
	if err != nil {
		return "", err
	}
	rec.RerunRequested = now
	rec.RerunOverrides = ov
	rec.AddEvent(store.Event{Time: now, Type: "Normal", Reason: "RunNowRequested", Message: "run-now requested" + ov.Describe()})
	if _, err := st.Put(ctx, rec); err != nil {
		return "", err
	}
	return fmt.Sprintf("run-now of %s requested%s; the next pass submits it", name, ov.Describe()), nil
}

// secretLike are property names Spark redacts by default
// (spark.redaction.regex): a run-now may not carry them, because what it
// asks for is recorded.
var secretLike = regexp.MustCompile(`(?i)secret|password|token|access[.]key|credential`)

// CheckOverrides refuses run-now overrides that the reconciler owns or
// that would put a secret into the store.
func CheckOverrides(ov *store.Overrides) error {
	if ov == nil {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(ov.Conf)) {
		if why := v1.ReservedProperty(k); why != "" {
			return fmt.Errorf("--conf %s: the reconciler sets it (%s)", k, why)
		}
		if secretLike.MatchString(k) {
			return fmt.Errorf("--conf %s looks like a secret, and run-now requests are recorded: put it in the manifest's secrets instead", k)
		}
		if !strings.HasPrefix(k, "spark.") {
			return fmt.Errorf("--conf %s: Spark reads only properties starting with spark.", k)
		}
	}
	return nil
}

// Delete kills an application's latest submission, unless it ended, and
// forgets the application. If its manifest still exists, the next pass
// submits it again.
func Delete(ctx context.Context, st store.Store, dispatchers Dispatchers, name string) (string, error) {
	rec, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: name})
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%s: %w", name, ErrUnknownApp)
	}
	if err != nil {
		return "", err
	}
	msg := "no driver to kill"
	if n := len(rec.Submissions); n > 0 {
		s := rec.Submissions[n-1]
		if base := DispatcherOf(rec); base != "" && !isTerminalTask(s.State) && s.ID != "" {
			res, err := dispatchers.For(base).Kill(ctx, s.ID)
			if err != nil {
				return "", fmt.Errorf("kill %s: %w", s.ID, err)
			}
			msg = fmt.Sprintf("driver %s: %s", s.ID, res.Message)
		}
	}
	if err := st.Delete(ctx, rec.Key, rec.Version); err != nil {
		return "", err
	}
	return msg, nil
}
