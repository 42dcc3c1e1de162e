package reconcile

import (
	"context"
	"errors"
	"sync"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/internal/strs"
	"github.com/sparkmesos/reconciler/store"
)

// RecordCache keeps the applications' records between passes: a pass asks
// the store for their versions (store.Versioned: no record decoded) and
// decodes only those that changed since the pass before. Over 10,000
// applications a bolt List decoded every record, most of a steady pass.
//
// The records it returns are shared between passes: they are read only
// (the executor works on copies). A store that cannot say its versions is
// listed whole every time.
type RecordCache struct {
	mu   sync.Mutex
	recs map[string]*store.Record
	// strings holds the strings the kept records repeat; it starts again
	// with each full List, so that it holds only the current records'.
	strings strs.Pool
	// decoded counts the records read from the store, for tests.
	decoded int
	// last is the index list returned last, while no record changed since
	// (nil after any change): a steady pass takes it again instead of
	// sorting and indexing every record (at 100,000, about 60 ms a pass).
	last *recordIndex
}

// recordIndex is the applications' records sorted by key, their names in
// that order and the records by name: read only, shared by the passes
// that find the same records.
type recordIndex struct {
	list   []*store.Record
	names  []string
	byName map[string]*store.Record
}

func newRecordIndex(recs []*store.Record) *recordIndex {
	x := &recordIndex{list: recs, names: make([]string, len(recs)), byName: make(map[string]*store.Record, len(recs))}
	for i, r := range recs {
		x.names[i] = r.Key.Name
		x.byName[r.Key.Name] = r
	}
	return x
}

// list returns the store's records of SparkApplications, indexed;
// share is applied to each record as it is decoded (shareDesired).
func (c *RecordCache) list(ctx context.Context, st store.Store, share func(*store.Record)) (*recordIndex, error) {
	vs, ok := st.(store.Versioned)
	if c == nil || !ok {
		recs, err := st.List(ctx, v1.KindSparkApplication)
		if err != nil {
			return nil, err
		}
		if share != nil {
			for _, r := range recs {
				share(r)
			}
		}
		return newRecordIndex(recs), nil // List sorts them
	}
	versions, err := vs.Versions(ctx, v1.KindSparkApplication)
	if errors.Is(err, errors.ErrUnsupported) {
		return (*RecordCache)(nil).list(ctx, st, share)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recs == nil {
		c.recs = map[string]*store.Record{}
	}
	for name := range c.recs {
		if _, ok := versions[name]; !ok {
			delete(c.recs, name)
			c.last = nil
		}
	}
	stale := 0
	for name, version := range versions {
		if r := c.recs[name]; r == nil || r.Version != version {
			stale++
		}
	}
	if stale == 0 && c.last != nil && len(c.last.list) == len(versions) {
		return c.last, nil
	}
	c.last = nil
	if stale > len(versions)/2 {
		// Most changed (the first pass): one List, which a store reads
		// faster than as many Gets.
		recs, err := st.List(ctx, v1.KindSparkApplication)
		if err != nil {
			return nil, err
		}
		clear(c.recs)
		c.strings = strs.Pool{}
		for _, r := range recs {
			c.decoded++
			c.keep(r, share)
		}
		c.last = newRecordIndex(recs) // List sorts them
		return c.last, nil
	}
	out := make([]*store.Record, 0, len(versions))
	for name, version := range versions {
		if r := c.recs[name]; r != nil && r.Version == version {
			out = append(out, r)
			continue
		}
		r, err := st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: name})
		if errors.Is(err, store.ErrNotFound) {
			delete(c.recs, name) // deleted since its version was read
			continue
		}
		if err != nil {
			return nil, err
		}
		c.decoded++
		c.keep(r, share)
		out = append(out, r)
	}
	store.SortRecords(out)
	c.last = newRecordIndex(out)
	return c.last, nil
}

// kept are the records kept, sorted by key (read only), and false before
// a pass kept any (or for a store that cannot say its versions).
func (c *RecordCache) kept() ([]*store.Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recs == nil {
		return nil, false
	}
	out := make([]*store.Record, 0, len(c.recs))
	for _, r := range c.recs {
		out = append(out, r)
	}
	store.SortRecords(out)
	return out, true
}

// written keeps a record the executor wrote, as the store returned it
// (Executor.Written): the next pass finds its version unchanged and does
// not read it back. After adopting or submitting most applications, a
// pass read them all again (at 10,000, 20 MB more at once).
func (c *RecordCache) written(r *store.Record, share func(*store.Record)) {
	if r.Key.Kind != v1.KindSparkApplication {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recs != nil {
		c.keep(r, share)
		c.last = nil
	}
}

// keep holds a record as the store has it, its strings pooled and share
// applied.
func (c *RecordCache) keep(r *store.Record, share func(*store.Record)) {
	r.ShareStrings(&c.strings)
	if share != nil {
		share(r)
	}
	c.recs[r.Key.Name] = r
}
