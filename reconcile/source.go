package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sparkmesos/reconciler/store"
)

// RecordSource records in the store's Meta where the desired state came
// from after a pass over it: the revision attempted; the revision applied
// when every manifest loaded, no action failed and no prune was refused;
// the manifest problems; the sync error; and an event for each change of
// these. It writes only when something changed, and retries a write that
// raced another (the framework saving its id).
func RecordSource(ctx context.Context, st store.Store, d *Desired, outcomes []Outcome, now time.Time) error {
	if d.Source == nil {
		return nil
	}
	src := d.Source
	failed := !Complete(outcomes)
	for try := 0; ; try++ {
		m, err := st.GetMeta(ctx)
		if err != nil {
			return err
		}
		if !updateMeta(m, d, src, failed, now) {
			return nil
		}
		_, err = st.PutMeta(ctx, m)
		if err == nil || !errors.Is(err, store.ErrConflict) || try == 3 {
			return err
		}
	}
}

// Complete says a pass carried its plan out whole: no action failed and
// no prune was refused.
func Complete(outcomes []Outcome) bool {
	for _, out := range outcomes {
		if out.Err != nil || out.PruneRefused() {
			return false
		}
	}
	return true
}

// MaxSourceProblems bounds the problems kept in the store (a ZooKeeper
// node holds 1 MB); the log has them all.
const MaxSourceProblems = 100

// boundProblems keeps the first MaxSourceProblems and says how many more.
func boundProblems(ps []string) []string {
	if len(ps) <= MaxSourceProblems {
		return ps
	}
	out := slices.Clone(ps[:MaxSourceProblems])
	return append(out, fmt.Sprintf("... and %d more (the log has them all)", len(ps)-MaxSourceProblems))
}

func updateMeta(m *store.Meta, d *Desired, src *Source, failed bool, now time.Time) bool {
	changed := false
	event := func(typ, reason, msg string) {
		m.AddEvent(store.Event{Time: now, Type: typ, Reason: reason, Message: msg, Revision: d.Revision})
		changed = true
	}
	if m.Source != src.Location {
		m.Source, changed = src.Location, true
	}
	if d.Revision != m.LastAttemptedRevision {
		switch {
		case m.LastAttemptedRevision == "":
			event("Normal", "Revision", "following "+d.Revision)
		case src.Rewritten:
			event("Warning", "HistoryRewritten", fmt.Sprintf("%s does not descend from %s (a force-push?); pruning still needs --prune and, beyond half of what is owned, --force", d.Revision, m.LastAttemptedRevision))
		default:
			event("Normal", "Revision", fmt.Sprintf("%s (was %s)", d.Revision, m.LastAttemptedRevision))
		}
		m.LastAttemptedRevision = d.Revision
	}
	if problems := boundProblems(src.Problems); !slices.Equal(m.SourceProblems, problems) {
		if len(problems) > 0 {
			first := problems[:min(3, len(problems))]
			more := ""
			if len(src.Problems) > len(first) {
				more = fmt.Sprintf("; and %d more", len(src.Problems)-len(first))
			}
			event("Warning", "ManifestProblems", fmt.Sprintf("%d problem(s) at %s; objects from those files keep their last good spec: %s%s",
				len(src.Problems), orDefault(d.Revision, src.Location), strings.Join(first, "; "), more))
		} else if len(m.SourceProblems) > 0 {
			event("Normal", "ManifestsLoaded", "every manifest loads again")
		}
		m.SourceProblems = slices.Clone(problems)
	}
	if src.SyncError != m.SourceError {
		if src.SyncError != "" {
			event("Warning", "SyncFailed", src.SyncError)
		} else {
			event("Normal", "SyncRecovered", "the source can be read again")
		}
		m.SourceError = src.SyncError
	}
	if d.Revision != "" && !failed && len(src.Problems) == 0 && m.LastAppliedRevision != d.Revision {
		m.LastAppliedRevision = d.Revision
		event("Normal", "Applied", d.Revision+" applied")
	}
	return changed
}
