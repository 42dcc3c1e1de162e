package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

func reasons(m *store.Meta) []string {
	var out []string
	for _, e := range m.Events {
		out = append(out, e.Reason+"@"+e.Revision)
	}
	return out
}

// The source's record follows passes: attempted always, applied only when
// the pass was whole, problems and sync errors with an event each time
// they change, and nothing rewritten when nothing changed.
func TestRecordSource(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	pass := func(rev string, src Source, outcomes ...Outcome) *store.Meta {
		t.Helper()
		d := &Desired{Revision: rev, Source: &src}
		if err := RecordSource(ctx, st, d, outcomes, now); err != nil {
			t.Fatal(err)
		}
		m, err := st.GetMeta(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	loc := "file:///repo.git path spark/"
	m := pass("main@sha1:1", Source{Location: loc})
	if m.Source != loc || m.LastAttemptedRevision != "main@sha1:1" || m.LastAppliedRevision != "main@sha1:1" {
		t.Fatalf("first pass: %+v", m)
	}
	v := m.Version
	if m = pass("main@sha1:1", Source{Location: loc}); m.Version != v {
		t.Fatal("an unchanged pass rewrote the record")
	}

	m = pass("main@sha1:2", Source{Location: loc, Problems: []string{"spark/a.yaml:3:5: spec.x: unknown field"}})
	if m.LastAttemptedRevision != "main@sha1:2" || m.LastAppliedRevision != "main@sha1:1" || len(m.SourceProblems) != 1 {
		t.Fatalf("broken commit: %+v", m)
	}
	m = pass("main@sha1:3", Source{Location: loc}, Outcome{Action: &Action{Type: ActionSubmit, App: "a"}, Err: errors.New("dispatcher down")})
	if m.LastAppliedRevision != "main@sha1:1" || len(m.SourceProblems) != 0 {
		t.Fatalf("failed action: %+v", m)
	}
	m = pass("main@sha1:3", Source{Location: loc}, Outcome{Action: &Action{Type: ActionBlocked, Phase: PhaseOrphaned, App: "b"}})
	if m.LastAppliedRevision != "main@sha1:1" {
		t.Fatalf("refused prune counted as applied: %+v", m)
	}
	m = pass("main@sha1:3", Source{Location: loc}, Outcome{Role: &RoleAction{Type: ActionUpdate, Name: "etl"}, Err: errors.New("403 Forbidden")})
	if m.LastAppliedRevision != "main@sha1:1" {
		t.Fatalf("failed role update counted as applied: %+v", m)
	}
	m = pass("main@sha1:3", Source{Location: loc}, Outcome{Role: &RoleAction{Type: ActionBlocked, Name: "etl", pruneRefused: true}},
		Outcome{Service: &ServiceAction{Type: ActionBlocked, Kind: v1.KindShuffleService, Name: "s", pruneRefused: true}})
	if m.LastAppliedRevision != "main@sha1:1" {
		t.Fatalf("refused role and service prunes counted as applied: %+v", m)
	}
	m = pass("main@sha1:3", Source{Location: loc, SyncError: "list refs: connection refused"}, Outcome{Action: &Action{Type: ActionBlocked, Phase: PhaseBlocked, App: "c"}})
	if m.LastAppliedRevision != "main@sha1:3" || m.SourceError == "" {
		t.Fatalf("whole pass (a blocked submission is not a failure) with a sync error: %+v", m)
	}
	m = pass("main@sha1:4", Source{Location: loc, Rewritten: true})
	want := []string{"Revision@main@sha1:1", "Applied@main@sha1:1", "Revision@main@sha1:2", "ManifestProblems@main@sha1:2",
		"Revision@main@sha1:3", "ManifestsLoaded@main@sha1:3", "SyncFailed@main@sha1:3", "Applied@main@sha1:3",
		"HistoryRewritten@main@sha1:4", "SyncRecovered@main@sha1:4", "Applied@main@sha1:4"}
	got := reasons(m)
	if len(got) != len(want) {
		t.Fatalf("events %v\nwant   %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v\nwant   %v", got, want)
		}
	}
}

// A write that races another writer of the record (the framework saving
// its id) is retried on the fresh record, keeping both.
func TestRecordSourceRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	st := &racingStore{Store: store.NewMemory()}
	d := &Desired{Revision: "main@sha1:1", Source: &Source{Location: "x"}}
	if err := RecordSource(ctx, st, d, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	m, _ := st.GetMeta(ctx)
	if m.FrameworkID != "fw-1" || m.LastAppliedRevision != "main@sha1:1" {
		t.Fatalf("after a race: %+v", m)
	}
}

// racingStore writes the framework id between the first read and write.
type racingStore struct {
	store.Store
	raced bool
}

func (s *racingStore) PutMeta(ctx context.Context, m *store.Meta) (*store.Meta, error) {
	if !s.raced {
		s.raced = true
		other, _ := s.Store.GetMeta(ctx)
		other.FrameworkID = "fw-1"
		if _, err := s.Store.PutMeta(ctx, other); err != nil {
			return nil, err
		}
	}
	return s.Store.PutMeta(ctx, m)
}

// Thousands of broken files do not overflow the record: the first 100
// are kept with a count of the rest, and the event names three.
func TestRecordSourceBoundsProblems(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	var problems []string
	for i := range 150 {
		problems = append(problems, fmt.Sprintf("apps/a%03d.yaml:1:1: broken", i))
	}
	d := &Desired{Revision: "main@sha1:1", Source: &Source{Location: "x", Problems: problems}}
	if err := RecordSource(ctx, st, d, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	m, _ := st.GetMeta(ctx)
	if len(m.SourceProblems) != MaxSourceProblems+1 || m.SourceProblems[MaxSourceProblems] != "... and 50 more (the log has them all)" {
		t.Fatalf("%d problems kept, last %q", len(m.SourceProblems), m.SourceProblems[len(m.SourceProblems)-1])
	}
	ev := m.Events[len(m.Events)-1]
	if ev.Reason != "ManifestProblems" || !strings.Contains(ev.Message, "150 problem(s)") || !strings.HasSuffix(ev.Message, "; and 147 more") {
		t.Fatalf("event %+v", ev)
	}
}
