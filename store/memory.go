package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/sparkmesos/reconciler/internal/strs"
)

// Memory is an in-memory Store for tests and dry runs. Records are copied in
// and out (through JSON, as the durable backends do), so callers never share
// state with the store.
type Memory struct {
	mu      sync.Mutex
	records map[Key][]byte
	version map[Key]int64
	meta    []byte
	metaVer int64
	closed  bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{records: map[Key][]byte{}, version: map[Key]int64{}}
}

func (m *Memory) check() error {
	if m.closed {
		return fmt.Errorf("store is closed")
	}
	return nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key Key) (*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	b, ok := m.records[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return DecodeRecord(b, m.version[key])
}

// List implements Store.
func (m *Memory) List(_ context.Context, kind string) ([]*Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	var out []*Record
	for k, b := range m.records {
		if kind != "" && k.Kind != kind {
			continue
		}
		r, err := DecodeRecord(b, m.version[k])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	SortRecords(out)
	return out, nil
}

// Versions implements Versioned.
func (m *Memory) Versions(_ context.Context, kind string) (map[string]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for k := range m.records {
		if k.Kind == kind {
			out[k.Name] = m.version[k]
		}
	}
	return out, nil
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, rec *Record) (*Record, error) {
	b, err := EncodeRecord(rec)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if cur := m.version[rec.Key]; cur != rec.Version {
		return nil, fmt.Errorf("put %s at version %d, stored %d: %w", rec.Key, rec.Version, cur, ErrConflict)
	}
	m.records[rec.Key] = b
	m.version[rec.Key]++
	return DecodeRecord(b, m.version[rec.Key])
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key Key, version int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return err
	}
	cur, ok := m.version[key]
	if !ok {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if cur != version {
		return fmt.Errorf("delete %s at version %d, stored %d: %w", key, version, cur, ErrConflict)
	}
	delete(m.records, key)
	delete(m.version, key)
	return nil
}

// GetMeta implements Store.
func (m *Memory) GetMeta(context.Context) (*Meta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	return DecodeMeta(m.meta, m.metaVer)
}

// PutMeta implements Store.
func (m *Memory) PutMeta(_ context.Context, meta *Meta) (*Meta, error) {
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	if meta.Version != m.metaVer {
		return nil, fmt.Errorf("put meta at version %d, stored %d: %w", meta.Version, m.metaVer, ErrConflict)
	}
	m.meta = b
	m.metaVer++
	return DecodeMeta(b, m.metaVer)
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// EncodeRecord checks a record's key and encodes it for storage. Backends
// share it with DecodeRecord.
func EncodeRecord(rec *Record) ([]byte, error) {
	if err := rec.Key.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", rec.Key, err)
	}
	return b, nil
}

// DecodeRecord decodes a stored record and sets its version. Backends share it.
func DecodeRecord(b []byte, version int64) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	r.Version = version
	return &r, nil
}

// ShareStrings replaces the strings that many records repeat (kinds,
// states, phases, triggers, revisions, the dispatcher's framework, agents
// and hosts) by pool's copy, for a cache that keeps many records decoded
// (a loop keeps every record it owns, tens of thousands of them). A
// driver's task id, its submission id in all but retries, is held once
// too.
func (r *Record) ShareStrings(pool *strs.Pool) {
	intern := pool.Intern
	r.Key.Kind = intern(r.Key.Kind)
	r.Revision, r.HistoryServer = intern(r.Revision), intern(r.HistoryServer)
	for i := range r.Submissions {
		s := &r.Submissions[i]
		s.Revision, s.Trigger, s.State, s.DriverState, s.Class = intern(s.Revision), intern(s.Trigger), intern(s.State), intern(s.DriverState), intern(s.Class)
		s.FrameworkID, s.AgentID, s.Hostname, s.Reason = intern(s.FrameworkID), intern(s.AgentID), intern(s.Hostname), intern(s.Reason)
		if s.TaskID == s.ID {
			s.TaskID = s.ID
		}
	}
	r.Status.Phase = intern(r.Status.Phase)
	for i := range r.Status.Conditions {
		c := &r.Status.Conditions[i]
		c.Type, c.Status, c.Reason = intern(c.Type), intern(c.Status), intern(c.Reason)
	}
	for i := range r.Events {
		e := &r.Events[i]
		e.Type, e.Reason, e.Revision = intern(e.Type), intern(e.Reason), intern(e.Revision)
	}
}

// DecodeMeta decodes stored meta (empty: never written) and sets its version.
func DecodeMeta(b []byte, version int64) (*Meta, error) {
	var m Meta
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("decode meta: %w", err)
		}
	}
	m.Version = version
	return &m, nil
}

// SortRecords orders records by kind, then name.
func SortRecords(rs []*Record) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Key.Kind != rs[j].Key.Kind {
			return rs[i].Key.Kind < rs[j].Key.Kind
		}
		return rs[i].Key.Name < rs[j].Key.Name
	})
}
