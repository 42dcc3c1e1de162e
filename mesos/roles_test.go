package mesos

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/sim"
)

// masterCalls counts the master's calls of a type since the last reset.
func masterCalls(c *sim.Cluster, typ string) int {
	n := 0
	for _, r := range c.Requests() {
		if r.Server == "master" && strings.Contains(r.JSON(), `"type":"`+typ+`"`) {
			n++
		}
	}
	return n
}

// The cache asks the master once per MaxAge, again after a change made
// through it (and sees the change), again after the watcher subscribed
// anew, and sees a change somebody else made once MaxAge passed.
func TestRoleCacheReadsOncePerMaxAgeAndAfterChanges(t *testing.T) {
	x := startWatched(t, sim.Config{Seed: 3})
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	rc := &RoleCache{Client: x.client, Watcher: x.w, MaxAge: 30 * time.Second, Now: clock}

	read := func(what string, wantCalls int, wantWeight float64) {
		t.Helper()
		x.c.ResetRequests()
		for i := 0; i < 3; i++ {
			w, err := rc.Weights(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rc.Quotas(ctx); err != nil {
				t.Fatal(err)
			}
			if w["etl"] != wantWeight {
				t.Fatalf("%s: etl weighs %v, want %v", what, w["etl"], wantWeight)
			}
			w["etl"] = 99 // a caller's change stays its own
		}
		if got := masterCalls(x.c, "GET_WEIGHTS") + masterCalls(x.c, "GET_QUOTA"); got != wantCalls {
			t.Fatalf("%s: %d calls to the master for three reads of both, want %d", what, got, wantCalls)
		}
	}
	if err := x.client.UpdateWeights(ctx, map[string]float64{"etl": 2}); err != nil {
		t.Fatal(err)
	}
	read("first reads", 2, 2)
	read("within MaxAge", 0, 2)

	if err := rc.UpdateWeights(ctx, map[string]float64{"etl": 3}); err != nil {
		t.Fatal(err)
	}
	read("after our change", 1, 3) // the weights again; the quotas still good

	if err := x.client.UpdateWeights(ctx, map[string]float64{"etl": 4}); err != nil { // somebody else
		t.Fatal(err)
	}
	read("another's change, within MaxAge", 0, 3)
	advance(31 * time.Second)
	read("another's change, after MaxAge", 2, 4)

	subs := x.w.Stats().Subscriptions
	x.c.DropEventStreams()
	for x.w.Stats().Subscriptions == subs || !x.w.Stats().Current {
		time.Sleep(5 * time.Millisecond)
	}
	read("after a new subscription", 2, 4)
}
