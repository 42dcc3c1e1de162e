// Package storetest is the conformance suite every store backend passes:
// the in-memory one, bbolt and ZooKeeper run the same tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/store"
)

// Run runs the conformance suite. open returns a fresh, empty store; reopen,
// when not nil, opens the same data again (durability).
func Run(t *testing.T, open func(t *testing.T) store.Store, reopen func(t *testing.T, s store.Store) store.Store) {
	ctx := context.Background()
	key := store.Key{Kind: "SparkApplication", Name: "etl"}

	t.Run("CreateGetUpdate", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of a missing record: %v, want ErrNotFound", err)
		}
		rec := &store.Record{Key: key, SpecHash: "h1", Status: store.Status{Phase: "Submitted"}}
		got, err := s.Put(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version == 0 || got.SpecHash != "h1" {
			t.Fatalf("Put returned %+v", got)
		}
		read, err := s.Get(ctx, key)
		if err != nil || read.Version != got.Version || read.Status.Phase != "Submitted" {
			t.Fatalf("Get = %+v, %v", read, err)
		}
		read.SpecHash = "h2"
		updated, err := s.Put(ctx, read)
		if err != nil {
			t.Fatal(err)
		}
		if updated.Version == read.Version {
			t.Fatal("an update did not change the version")
		}
	})

	t.Run("CompareAndSet", func(t *testing.T) {
		s := open(t)
		first, err := s.Put(ctx, &store.Record{Key: key, SpecHash: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, &store.Record{Key: key, SpecHash: "again"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("creating an existing record: %v, want ErrConflict", err)
		}
		stale := *first
		first.SpecHash = "b"
		if _, err := s.Put(ctx, first); err != nil {
			t.Fatal(err)
		}
		stale.SpecHash = "c"
		if _, err := s.Put(ctx, &stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a stale write: %v, want ErrConflict", err)
		}
		got, _ := s.Get(ctx, key)
		if got.SpecHash != "b" {
			t.Fatalf("stored %q after a refused stale write, want b", got.SpecHash)
		}
		if err := s.Delete(ctx, key, stale.Version); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a stale delete: %v, want ErrConflict", err)
		}
		if err := s.Delete(ctx, key, got.Version); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, key, got.Version); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleting twice: %v, want ErrNotFound", err)
		}
	})

	t.Run("ConcurrentWritersOneWins", func(t *testing.T) {
		s := open(t)
		base, err := s.Put(ctx, &store.Record{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts := 0, 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := *base
				r.SpecHash = fmt.Sprint(i)
				_, err := s.Put(ctx, &r)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrConflict):
					conflicts++
				default:
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		if wins != 1 || conflicts != 7 {
			t.Fatalf("%d writes won and %d conflicted, want 1 and 7", wins, conflicts)
		}
	})

	t.Run("ListByKind", func(t *testing.T) {
		s := open(t)
		for _, k := range []store.Key{{Kind: "SparkApplication", Name: "b"}, {Kind: "Dispatcher", Name: "main"}, {Kind: "SparkApplication", Name: "a"}} {
			if _, err := s.Put(ctx, &store.Record{Key: k}); err != nil {
				t.Fatal(err)
			}
		}
		apps, err := s.List(ctx, "SparkApplication")
		if err != nil {
			t.Fatal(err)
		}
		if len(apps) != 2 || apps[0].Key.Name != "a" || apps[1].Key.Name != "b" || apps[0].Version == 0 {
			t.Fatalf("List(SparkApplication) = %v", apps)
		}
		all, _ := s.List(ctx, "")
		if len(all) != 3 || all[0].Key.Kind != "Dispatcher" {
			t.Fatalf("List() = %d records, first %v", len(all), all[0].Key)
		}
	})

	t.Run("Versions", func(t *testing.T) {
		s := open(t)
		vs, ok := s.(store.Versioned)
		if !ok {
			t.Fatalf("%T does not say its records' versions (store.Versioned)", s)
		}
		put := func(r *store.Record) *store.Record {
			t.Helper()
			saved, err := s.Put(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return saved
		}
		a := put(&store.Record{Key: store.Key{Kind: "SparkApplication", Name: "a"}})
		put(&store.Record{Key: store.Key{Kind: "SparkApplication", Name: "b"}})
		put(&store.Record{Key: store.Key{Kind: "SparkApplicationX", Name: "c"}}) // a kind sharing the prefix
		put(&store.Record{Key: store.Key{Kind: "Dispatcher", Name: "a"}})
		a = put(a)
		a = put(a)
		if err := s.Delete(ctx, store.Key{Kind: "SparkApplication", Name: "b"}, 1); err != nil {
			t.Fatal(err)
		}
		got, err := vs.Versions(ctx, "SparkApplication")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got["a"] != a.Version || a.Version != 3 {
			t.Fatalf("Versions(SparkApplication) = %v, want a at version 3 (%d)", got, a.Version)
		}
		if got, err := vs.Versions(ctx, "ShuffleService"); err != nil || len(got) != 0 {
			t.Fatalf("Versions of a kind never written: %v %v", got, err)
		}
		recs, err := s.List(ctx, "SparkApplication")
		if err != nil || len(recs) != 1 || recs[0].Version != got["a"] {
			t.Fatalf("List disagrees with Versions: %v %v", recs, err)
		}
	})

	t.Run("PutAll", func(t *testing.T) {
		// Each record is written as Put would: a refused one (stale, an
		// existing one created again, the second write of a key in the
		// batch) leaves the others written. Through store.PutAll: the
		// store's Batch, else one Put after another.
		s := open(t)
		k := func(name string) store.Key { return store.Key{Kind: "SparkApplication", Name: name} }
		a, err := s.Put(ctx, &store.Record{Key: k("a"), SpecHash: "a1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, &store.Record{Key: k("b"), SpecHash: "b1"}); err != nil {
			t.Fatal(err)
		}
		a.SpecHash = "a2"
		res := store.PutAll(ctx, s, []*store.Record{
			a,
			{Key: k("b"), SpecHash: "b2"}, // exists: refused
			{Key: k("c"), SpecHash: "c1"},
			{Key: k("c"), SpecHash: "c2"}, // c was just created: refused
		})
		if len(res) != 4 {
			t.Fatalf("PutAll of 4 records gave %d results", len(res))
		}
		for i, want := range []string{"a2", "", "c1", ""} {
			r := res[i]
			if want == "" {
				if !errors.Is(r.Err, store.ErrConflict) || r.Record != nil {
					t.Errorf("record %d: %v %v, want ErrConflict", i, r.Record, r.Err)
				}
				continue
			}
			if r.Err != nil || r.Record == nil || r.Record.SpecHash != want {
				t.Fatalf("record %d: %+v %v, want %s written", i, r.Record, r.Err, want)
			}
			stored, err := s.Get(ctx, r.Record.Key)
			if err != nil || stored.Version != r.Record.Version || stored.SpecHash != want {
				t.Errorf("%s stored as %+v %v; PutAll returned version %d", want, stored, err, r.Record.Version)
			}
		}
		if b, _ := s.Get(ctx, k("b")); b.SpecHash != "b1" {
			t.Errorf("b after a refused write: %q, want b1", b.SpecHash)
		}
		if vs, ok := s.(store.Versioned); ok {
			got, err := vs.Versions(ctx, "SparkApplication")
			if err != nil || len(got) != 3 || got["a"] != res[0].Record.Version || got["b"] != 1 || got["c"] != res[2].Record.Version {
				t.Errorf("Versions after PutAll: %v %v", got, err)
			}
		}
		if res := store.PutAll(ctx, s, nil); len(res) != 0 {
			t.Errorf("PutAll of nothing: %v", res)
		}
	})

	t.Run("RecordContent", func(t *testing.T) {
		s := open(t)
		now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
		rec := &store.Record{Key: key, SpecHash: "h", Revision: "main@sha1:abc",
			Intent: &store.Intent{ID: "i1", Action: "submit", SpecHash: "h", CreatedAt: now},
			Status: store.Status{Phase: "Running", ObservedAt: now, Conditions: []store.Condition{{Type: "Ready", Status: "True"}}}}
		for i := 0; i < store.MaxEvents+5; i++ {
			rec.AddEvent(store.Event{Time: now, Type: "Normal", Reason: "Submitted", Message: fmt.Sprint(i)})
		}
		for i := 0; i < store.MaxSubmissions+3; i++ {
			rec.AddSubmission(store.Submission{ID: fmt.Sprintf("driver-%d", i), SpecHash: "h", Attempt: i, SubmittedAt: now, State: "RUNNING"}, store.MaxSubmissions)
		}
		if _, err := s.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Events) != store.MaxEvents || got.Events[len(got.Events)-1].Message != fmt.Sprint(store.MaxEvents+4) {
			t.Errorf("events: %d kept, last %q", len(got.Events), got.Events[len(got.Events)-1].Message)
		}
		if len(got.Submissions) != store.MaxSubmissions || got.Submissions[0].ID != "driver-3" {
			t.Errorf("submissions: %d kept, first %q", len(got.Submissions), got.Submissions[0].ID)
		}
		if got.Intent == nil || got.Intent.Action != "submit" || !got.Status.ObservedAt.Equal(now) || got.Revision != "main@sha1:abc" {
			t.Errorf("round trip lost content: %+v", got)
		}
	})

	t.Run("Meta", func(t *testing.T) {
		s := open(t)
		m, err := s.GetMeta(ctx)
		if err != nil || m.Version != 0 || m.FrameworkID != "" {
			t.Fatalf("GetMeta of a new store = %+v, %v", m, err)
		}
		m.FrameworkID = "fw-1"
		m.LastAppliedRevision = "main@sha1:1"
		m2, err := s.PutMeta(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutMeta(ctx, m); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale PutMeta: %v, want ErrConflict", err)
		}
		got, _ := s.GetMeta(ctx)
		if got.FrameworkID != "fw-1" || got.Version != m2.Version {
			t.Fatalf("GetMeta = %+v", got)
		}
	})

	t.Run("BadKeys", func(t *testing.T) {
		s := open(t)
		for _, k := range []store.Key{{Kind: "", Name: "x"}, {Kind: "K", Name: "a/b"}} {
			if _, err := s.Put(ctx, &store.Record{Key: k}); err == nil {
				t.Errorf("Put accepted the key %v", k)
			}
		}
	})

	if reopen != nil {
		t.Run("Durable", func(t *testing.T) {
			s := open(t)
			if _, err := s.Put(ctx, &store.Record{Key: key, SpecHash: "kept"}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutMeta(ctx, &store.Meta{FrameworkID: "fw"}); err != nil {
				t.Fatal(err)
			}
			s2 := reopen(t, s)
			got, err := s2.Get(ctx, key)
			if err != nil || got.SpecHash != "kept" {
				t.Fatalf("after reopening: %+v, %v", got, err)
			}
			if m, _ := s2.GetMeta(ctx); m.FrameworkID != "fw" {
				t.Fatalf("meta after reopening: %+v", m)
			}
		})
	}
}
