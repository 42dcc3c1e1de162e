package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sparkmesos/reconciler/store"
)

// Events are the store's events as they are written, numbered, for
// watchers: run serves them as Server-Sent Events at /events, and a client
// that reconnects with Last-Event-ID misses none that the broker still
// holds (the newest MaxStreamEvents). The vocabulary is the store's: every
// event a record or the source's meta gains (submitted, ended with its
// class, killed, deadline, blocked, held, adopted, new revision, ...),
// with the object it belongs to.

// StreamEvent is one event of the stream.
type StreamEvent struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Name     string    `json:"name"`
	Type     string    `json:"type"`
	Reason   string    `json:"reason"`
	Message  string    `json:"message"`
	Revision string    `json:"revision,omitempty"`
}

// MaxStreamEvents is how many events the broker keeps for reconnects.
const MaxStreamEvents = 2000

// Broker numbers events and hands them to subscribers.
type Broker struct {
	mu   sync.Mutex
	next int64
	// events are the newest, oldest first: up to twice MaxStreamEvents,
	// of which kept says which are kept (trimmed only when full, so that a
	// publish does not copy the events each time).
	events []StreamEvent
	wake   chan struct{} // closed and replaced on each publish
}

// NewBroker starts numbering after base (the process's start in
// microseconds, so that ids of a restarted run exceed the old ones).
func NewBroker(base int64) *Broker {
	return &Broker{next: base, wake: make(chan struct{})}
}

// Publish numbers an event and keeps it.
func (b *Broker) Publish(e StreamEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	e.ID = b.next
	if len(b.events) == 2*MaxStreamEvents {
		b.events = append(make([]StreamEvent, 0, 2*MaxStreamEvents), b.kept()[1:]...)
	}
	b.events = append(b.events, e)
	close(b.wake)
	b.wake = make(chan struct{})
}

// Recent returns the newest n events kept, oldest first.
func (b *Broker) Recent(n int) []StreamEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.kept()
	return slices.Clone(kept[max(len(kept)-n, 0):])
}

// kept are the newest MaxStreamEvents events, oldest first.
func (b *Broker) kept() []StreamEvent {
	return b.events[max(len(b.events)-MaxStreamEvents, 0):]
}

// since returns the events after id, whether some were dropped between
// id and the oldest kept, and a channel closed at the next publish.
func (b *Broker) since(id int64) ([]StreamEvent, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []StreamEvent
	kept := b.kept()
	for _, e := range kept {
		if e.ID > id {
			out = append(out, e)
		}
	}
	gap := id > 0 && len(kept) > 0 && kept[0].ID > id+1
	return out, gap, b.wake
}

// ServeHTTP streams the events as text/event-stream: after Last-Event-ID
// (the header, or ?since=) when given, else only new ones; ?name= keeps one
// object's; ?once=1 ends after the events kept. A gap (events dropped
// before the client came back) is sent as an event "gap".
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	last := int64(-1)
	for _, v := range []string{r.URL.Query().Get("since"), r.Header.Get("Last-Event-ID")} { // a reconnect's header wins
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			last = n
		}
	}
	name := r.URL.Query().Get("name")
	once := r.URL.Query().Get("once") != "" // the events kept, then the end
	// unnamed sends every event as the default type ("message"), for a
	// browser's EventSource.onmessage.
	unnamed := r.URL.Query().Get("unnamed") != ""
	if last < 0 {
		b.mu.Lock()
		last = b.next
		b.mu.Unlock()
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ctx := r.Context()
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		events, gap, wake := b.since(last)
		if gap {
			fmt.Fprintf(w, "event: gap\ndata: {\"after\":%d}\n\n", last)
		}
		for _, e := range events {
			last = e.ID
			if name != "" && e.Name != name {
				continue
			}
			data, _ := json.Marshal(e)
			if unnamed {
				fmt.Fprintf(w, "id: %d\ndata: %s\n\n", e.ID, data)
				continue
			}
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Reason, data)
		}
		flusher.Flush()
		if once {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			fmt.Fprint(w, ": heartbeat\n\n")
			flusher.Flush()
		case <-wake:
		}
	}
}

// PublishingStore is a store whose writes publish the events they add to
// a record or to the meta.
type PublishingStore struct {
	store.Store
	Broker *Broker
}

// Versions implements store.Versioned when the store underneath does.
func (s PublishingStore) Versions(ctx context.Context, kind string) (map[string]int64, error) {
	if vs, ok := s.Store.(store.Versioned); ok {
		return vs.Versions(ctx, kind)
	}
	return nil, errors.ErrUnsupported
}

// Put implements store.Store: after the write, the record's new events.
func (s PublishingStore) Put(ctx context.Context, rec *store.Record) (*store.Record, error) {
	res := s.PutAll(ctx, []*store.Record{rec})[0]
	return res.Record, res.Err
}

// PutAll implements store.Batch (one Put after another when the store
// underneath has no batch): after the writes, each record's new events.
func (s PublishingStore) PutAll(ctx context.Context, recs []*store.Record) []store.PutResult {
	old := make([][]store.Event, len(recs))
	for i, rec := range recs {
		if rec.Version > 0 {
			if prev, err := s.Store.Get(ctx, rec.Key); err == nil {
				old[i] = prev.Events
			}
		}
	}
	out := store.PutAll(ctx, s.Store, recs)
	for i, res := range out {
		if res.Err == nil {
			s.publish(recs[i].Key, old[i], res.Record.Events)
		}
	}
	return out
}

// publish publishes the events a write of key (a record, or the source's
// meta) added to those it had.
func (s PublishingStore) publish(key store.Key, old, now []store.Event) {
	for _, e := range added(old, now) {
		s.Broker.Publish(StreamEvent{Time: e.Time, Kind: key.Kind, Name: key.Name, Type: e.Type, Reason: e.Reason, Message: e.Message, Revision: e.Revision})
	}
}

// PutMeta implements store.Store: after the write, the source's new events.
func (s PublishingStore) PutMeta(ctx context.Context, m *store.Meta) (*store.Meta, error) {
	var old []store.Event
	if prev, err := s.Store.GetMeta(ctx); err == nil {
		old = prev.Events
	}
	saved, err := s.Store.PutMeta(ctx, m)
	if err == nil {
		s.publish(store.Key{Kind: "Source", Name: saved.Source}, old, saved.Events)
	}
	return saved, err
}

// added are the events of now that were not in before: those after
// before's last event (histories are bounded, so the oldest may be gone).
func added(before, now []store.Event) []store.Event {
	if len(before) == 0 {
		return now
	}
	last := before[len(before)-1]
	for i := len(now) - 1; i >= 0; i-- {
		if now[i] == last {
			return now[i+1:]
		}
	}
	return now // none in common: all are new
}
