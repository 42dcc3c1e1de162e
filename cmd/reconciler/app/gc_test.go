package app

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func TestCollectNow(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		name                      string
		objects, next, live, goal uint64
		want                      bool
	}{
		{"far from the trigger", 42 * mb, 1 * mb, 40 * mb, 50 * mb, false},
		{"the next pass reaches 70% of the runway", 44 * mb, 3 * mb, 40 * mb, 50 * mb, true},
		{"the heap is past the trigger already", 49 * mb, 0, 40 * mb, 50 * mb, true},
		{"just short of it", 44 * mb, 3*mb - 1, 40 * mb, 50 * mb, false},
		{"GOGC=off: no goal to reach", 4000 * mb, 100 * mb, 40 * mb, math.MaxUint64, false},
		{"a heap at its memory limit", 60 * mb, 1 * mb, 60 * mb, 60 * mb, false},
	} {
		if got := collectNow(c.objects, c.next, c.live, c.goal); got != c.want {
			t.Errorf("%s: collectNow(%d, %d, %d, %d) = %v, want %v", c.name, c.objects, c.next, c.live, c.goal, got, c.want)
		}
	}
}

var sink [][]byte

// passes runs 20 passes of a loop that holds 40 MB and allocates per MB
// in each pass, calling the collector after each, and counts the
// collections that ran during passes and those the collector made.
func passes(per int, collect bool) (during, made int) {
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	live := make([][]byte, 40)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	c := newIdleCollector()
	c.collect = func() {
		made++
		if collect {
			runtime.GC()
		}
	}
	cycles := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	for range 20 {
		metrics.Read(cycles)
		before := cycles[0].Value.Uint64()
		for range per {
			sink = append(sink, make([]byte, 1<<20))
		}
		sink = nil
		metrics.Read(cycles)
		during += int(cycles[0].Value.Uint64() - before)
		c.afterPass()
	}
	runtime.KeepAlive(live)
	return during, made
}

func TestIdleCollectorKeepsCollectionsOutOfPasses(t *testing.T) {
	// Control: the runtime alone collects during these passes (a heap of
	// 40 MB at GOGC=25 has about 10 MB of runway, and a pass allocates 4).
	if during, _ := passes(4, false); during < 3 {
		t.Fatalf("without idle collections, %d of 20 passes ran a collection: the test would not see the collector work", during)
	}
	during, made := passes(4, true)
	if during > 1 {
		t.Errorf("with idle collections, %d collections ran during the 20 passes, want at most 1 (the first pass has no estimate)", during)
	}
	if made == 0 || made > 20 {
		t.Errorf("the collector collected %d times after 20 passes", made)
	}
	// A pass that allocates little leaves the runtime to collect when it
	// would: not after every pass.
	if _, made := passes(1, true); made > 7 {
		t.Errorf("passes of 1 MB against 10 MB of runway: %d idle collections in 20 passes, want about one in four", made)
	}
}
