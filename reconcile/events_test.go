package reconcile

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

// readStream reads an /events answer: the ids and reasons, and whether a
// gap was announced.
func readStream(t *testing.T, url string, lastID string) (ids []int64, reasons []string, gap bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "event: gap" {
			gap = true
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok && !strings.Contains(d, `"after"`) {
			var e StreamEvent
			if err := json.Unmarshal([]byte(d), &e); err != nil {
				t.Fatal(err)
			}
			ids, reasons = append(ids, e.ID), append(reasons, e.Reason)
		}
	}
	return
}

// A record's new events are published once each, in order, numbered; a
// client resumes after its Last-Event-ID; one that comes back after the
// broker dropped what it missed is told so.
func TestEventStreamResumesAndSaysGaps(t *testing.T) {
	b := NewBroker(1000)
	st := PublishingStore{Store: store.NewMemory(), Broker: b}
	ctx := context.Background()
	rec := &store.Record{Key: store.Key{Kind: v1.KindSparkApplication, Name: "pi"}}
	rec.AddEvent(store.Event{Time: t0, Type: "Normal", Reason: "Submitted", Message: "driver-1"})
	rec, err := st.Put(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.AddEvent(store.Event{Time: t0.Add(1), Type: "Warning", Reason: "Ended", Message: "class application"})
	rec.AddEvent(store.Event{Time: t0.Add(2), Type: "Normal", Reason: "Submitted", Message: "driver-2"})
	if rec, err = st.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Status.Phase = "Running" // no new event: nothing published
	if _, err = st.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	defer srv.Close()
	ids, reasons, _ := readStream(t, srv.URL+"?once=1&since=0", "")
	if strings.Join(reasons, ",") != "Submitted,Ended,Submitted" || ids[0] != 1001 || ids[2] != 1003 {
		t.Fatalf("stream: %v %v", ids, reasons)
	}
	ids, reasons, gap := readStream(t, srv.URL+"?once=1", "1001")
	if len(ids) != 2 || ids[0] != 1002 || reasons[0] != "Ended" || gap {
		t.Errorf("after Last-Event-ID 1001: %v %v gap %v", ids, reasons, gap)
	}
	for i := 0; i < MaxStreamEvents+10; i++ {
		b.Publish(StreamEvent{Kind: "x", Name: strconv.Itoa(i), Reason: "Flood"})
	}
	if _, _, gap := readStream(t, srv.URL+"?once=1", "1001"); !gap {
		t.Error("a client behind the kept events was not told of the gap")
	}
}

// The broker keeps exactly the newest MaxStreamEvents however many were
// published (it trims only when full), and says so to a client behind.
func TestBrokerKeepsTheNewest(t *testing.T) {
	b := NewBroker(0)
	for n := 1; n <= 3*MaxStreamEvents+7; n++ {
		b.Publish(StreamEvent{Name: strconv.Itoa(n)})
		kept := b.Recent(2 * MaxStreamEvents)
		if len(kept) != min(n, MaxStreamEvents) || kept[len(kept)-1].ID != int64(n) || kept[0].ID != int64(n-len(kept)+1) {
			t.Fatalf("after %d published: %d kept, ids %d..%d", n, len(kept), kept[0].ID, kept[len(kept)-1].ID)
		}
	}
	events, gap, _ := b.since(int64(MaxStreamEvents))
	if !gap || len(events) != MaxStreamEvents || events[0].ID != 2*MaxStreamEvents+8 {
		t.Errorf("since %d: %d events from %d, gap %v", MaxStreamEvents, len(events), events[0].ID, gap)
	}
}

// A batch write publishes the new events of each record written, and none
// of one refused.
func TestPublishingStoreBatch(t *testing.T) {
	b := NewBroker(0)
	st := PublishingStore{Store: store.NewMemory(), Broker: b}
	ctx := context.Background()
	a := &store.Record{Key: store.Key{Kind: v1.KindSparkApplication, Name: "a"}}
	a.AddEvent(store.Event{Time: t0, Reason: "Submitted"})
	a, err := st.Put(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	a.AddEvent(store.Event{Time: t0.Add(1), Reason: "Adopted"})
	stale := &store.Record{Key: a.Key, Version: a.Version} // a is written first: then stale
	stale.AddEvent(store.Event{Time: t0.Add(2), Reason: "Refused"})
	c := &store.Record{Key: store.Key{Kind: v1.KindSparkApplication, Name: "c"}}
	c.AddEvent(store.Event{Time: t0.Add(3), Reason: "Created"})
	res := st.PutAll(ctx, []*store.Record{a, stale, c})
	if res[0].Err != nil || !errors.Is(res[1].Err, store.ErrConflict) || res[2].Err != nil {
		t.Fatalf("PutAll: %v %v %v", res[0].Err, res[1].Err, res[2].Err)
	}
	var got []string
	for _, e := range b.Recent(10) {
		got = append(got, e.Name+":"+e.Reason)
	}
	if strings.Join(got, " ") != "a:Submitted a:Adopted c:Created" {
		t.Errorf("published %v, want a:Submitted a:Adopted c:Created", got)
	}
}

// The status page keeps the first MaxLastEntries entries of a pass that
// do something and counts the rest; steady ones are counted apart.
func TestLastPassKeepsTheFirstEntries(t *testing.T) {
	var p Plan
	for i := 0; i < MaxLastEntries+100; i++ {
		p.Actions = append(p.Actions, Action{App: strconv.Itoa(i), Type: ActionAdopt, Phase: PhaseRunning})
	}
	for i := 0; i < 7; i++ {
		p.Actions = append(p.Actions, Action{App: "steady" + strconv.Itoa(i), Type: ActionUnchanged, Phase: PhaseRunning})
	}
	last := lastPassOf(t0, p)
	if len(last.Entries) != MaxLastEntries || last.More != 100 || last.Steady != 7 || last.Entries[0].Name != "0" {
		t.Fatalf("kept %d entries (first %q), %d more, %d steady; want %d, 100, 7", len(last.Entries), last.Entries[0].Name, last.More, last.Steady, MaxLastEntries)
	}
}
