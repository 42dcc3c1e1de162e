package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/sim"
	"github.com/sparkmesos/reconciler/store"
)

// The records a Reconciler keeps between passes stay what the store holds
// at their versions, through submissions, failures and restarts, a spec
// change's resubmission and a prune: nothing writes into a shared record,
// nor into one the store returned. A steady pass decodes none, and a
// record the executor wrote is kept, not read back.
func TestRecordCacheStaysTheStores(t *testing.T) {
	c, disp, mc := startCluster(t, sim.Config{Seed: 5, NumAgents: 4, AllocationInterval: 10 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond})
	app := func(name, policy, conf string) string {
		return fmt.Sprintf("apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: %s}\nspec:\n  dispatcher: {name: d}\n  mainClass: a.Main\n  mainApplicationFile: https://r/a.jar\n  driver: {cores: 0.1, memory: 512m}\n  executor: {cores: 1, maxCores: 1, memory: 512m}\n  restartPolicy: {type: %s, backoff: {initial: 1ms, max: 1ms}}\n  sparkConf: {spark.sql.shuffle.partitions: %q}\n", name, policy, conf)
	}
	desired := func(apps ...string) *Desired {
		return desiredOf(t, "all.yaml", strings.Join(append(apps, fmt.Sprintf("apiVersion: sparkmesos.io/v1\nkind: Dispatcher\nmetadata: {name: d}\nspec:\n  external: {url: %q}\n", disp.URL())), "---\n"))
	}
	st := &returnedStore{Memory: store.NewMemory(), returned: map[*store.Record][]byte{}}
	r := &Reconciler{Master: rolesless{mc}, Dispatchers: &DispatcherPool{}, Store: st, Owner: "t", Lookup: func(v1.ValueSource) (string, error) { return "", nil },
		Options: Options{Prune: true}}
	ctx := context.Background()
	// check: every record kept is what the store holds at its version, and
	// one kept across a pass was not written into meanwhile (even if the
	// store moved on since, as when the write in place was then put).
	seen := map[*store.Record][]byte{}
	check := func(when string) {
		t.Helper()
		r.records.mu.Lock()
		defer r.records.mu.Unlock()
		now := map[*store.Record][]byte{}
		for name, kept := range r.records.recs {
			a, _ := store.EncodeRecord(kept)
			if prev, ok := seen[kept]; ok && !bytes.Equal(a, prev) {
				t.Fatalf("%s: the record kept of %s at version %d was written into:\nbefore %s\nafter  %s", when, name, kept.Version, prev, a)
			}
			now[kept] = a
			stored, err := st.Get(ctx, kept.Key)
			if err != nil || stored.Version != kept.Version {
				continue // changed since: decoded again at the next pass
			}
			if b, _ := store.EncodeRecord(stored); !bytes.Equal(a, b) {
				t.Fatalf("%s: the record kept of %s at version %d is not the store's:\nkept   %s\nstored %s", when, name, kept.Version, a, b)
			}
		}
		seen = now
		// The index kept for the next pass, if any, is of the records
		// kept: each, in order, and nothing else.
		if x := r.records.last; x != nil {
			if len(x.list) != len(r.records.recs) || len(x.names) != len(x.list) || len(x.byName) != len(x.list) {
				t.Fatalf("%s: the index holds %d records (%d names, %d by name), the cache %d", when, len(x.list), len(x.names), len(x.byName), len(r.records.recs))
			}
			for i, rec := range x.list {
				if kept := r.records.recs[rec.Key.Name]; kept != rec || x.names[i] != rec.Key.Name || x.byName[rec.Key.Name] != rec || i > 0 && x.names[i-1] >= rec.Key.Name {
					t.Fatalf("%s: the index's record %d (%s, version %d) is not the one kept in order", when, i, rec.Key.Name, rec.Version)
				}
			}
		}
		// No record the store returned was written into: the executor
		// hands them to the cache (Executor.Written) and works on copies.
		for rec, b := range st.returned {
			if a, _ := store.EncodeRecord(rec); !bytes.Equal(a, b) {
				t.Fatalf("%s: the record of %s the store returned at version %d was written into:\nreturned %s\nnow      %s", when, rec.Key.Name, rec.Version, b, a)
			}
		}
	}
	pass := func(d *Desired, when string) Plan {
		t.Helper()
		res, err := r.Pass(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		check(when)
		return res.Plan
	}
	until := func(d *Desired, what string, ok func(Plan) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for p := pass(d, what); !ok(p); p = pass(d, what) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never; last plan %s", what, types(p))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	runningAll := func(n int) func(Plan) bool {
		return func(p Plan) bool {
			k := 0
			for _, a := range p.Actions {
				if a.Type == ActionUnchanged && a.Phase == PhaseRunning {
					k++
				}
			}
			return k == n && p.Changes() == 0
		}
	}
	apps := []string{app("a", "OnFailure", "1"), app("b", "Always", "1"), app("c", "Never", "1"), app("d", "OnFailure", "1")}
	d := desired(apps...)
	until(d, "all four running", runningAll(4))

	pass(d, "settling") // the pass that saw them running recorded where they run
	before := r.records.decoded
	pass(d, "steady")
	if got := r.records.decoded - before; got != 0 {
		t.Fatalf("a steady pass decoded %d records, want 0", got)
	}
	sharesDesired(t, r, d)

	// Drivers fail and are restarted (a, b) or stay failed (c).
	snap, err := mc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range snap.Tasks {
		if name := task.Labels.Get(render.LabelName); task.Labels.Get(render.LabelComponent) == "driver" && (name == "a" || name == "b" || name == "c") {
			if err := c.EndTask(task.ID, 3 /* TASK_FAILED */, "Command exited with status 1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	runs := func(name string) string {
		rec, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range rec.Submissions {
			got = append(got, s.State)
		}
		return strings.Join(got, " ")
	}
	until(d, "a and b restarted, c failed for good", func(p Plan) bool {
		// (A driver's phase is running from TASK_STARTING on: its record
		// says TASK_RUNNING once the task does.)
		return runningAll(3)(p) && runs("a") == "TASK_FAILED TASK_RUNNING" && runs("b") == "TASK_FAILED TASK_RUNNING" && runs("c") == "TASK_FAILED"
	})
	// A spec change resubmits d; a is removed and pruned.
	apps[3] = app("d", "OnFailure", "2")
	d = desired(apps[1:]...)
	until(d, "d resubmitted, a pruned", func(p Plan) bool {
		_, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "a"})
		return runningAll(2)(p) && err != nil
	})
	if rec, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: "d"}); err != nil || len(rec.Submissions) != 2 {
		t.Fatalf("d after its spec changed: %v %v, want two runs", rec, err)
	}
	if _, ok := r.records.recs["a"]; ok {
		t.Fatal("the pruned record of a is still kept")
	}
	// Only the executor wrote the records: each was kept as the store
	// returned it (Executor.Written), none read back.
	if r.records.decoded != 0 {
		t.Fatalf("the passes read %d records back from the store, want 0", r.records.decoded)
	}
}

// returnedStore remembers each record its Put returned, as returned.
type returnedStore struct {
	*store.Memory
	returned map[*store.Record][]byte
}

func (s *returnedStore) Put(ctx context.Context, rec *store.Record) (*store.Record, error) {
	saved, err := s.Memory.Put(ctx, rec)
	if err == nil {
		s.returned[saved], _ = store.EncodeRecord(saved)
	}
	return saved, err
}

// rolesless is a master without roles (none are desired).
type rolesless struct{ *mesos.Client }

// sharesDesired fails unless every record r keeps holds its desired
// application's properties, spec hashes and origin, not copies of them.
func sharesDesired(t *testing.T, r *Reconciler, d *Desired) {
	t.Helper()
	same := func(a, b string) bool { return a == b && unsafe.StringData(a) == unsafe.StringData(b) }
	r.records.mu.Lock()
	defer r.records.mu.Unlock()
	for name, kept := range r.records.recs {
		da := d.Apps[name]
		if da == nil {
			continue
		}
		hash := da.Rendered.SpecHash
		ok := kept.Properties != nil &&
			fmt.Sprintf("%p", kept.Properties) == fmt.Sprintf("%p", da.Rendered.Request.SparkProperties) &&
			same(kept.SpecHash, hash) && same(kept.Origin, da.File) && kept.Counters != nil && same(kept.Counters.SpecHash, hash)
		for _, s := range kept.Submissions {
			ok = ok && (s.SpecHash != hash || same(s.SpecHash, hash))
		}
		if !ok {
			t.Errorf("the record kept of %s holds copies of its desired properties, spec hash or origin", name)
		}
	}
}
