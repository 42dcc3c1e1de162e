package app

import (
	"runtime"
	"runtime/metrics"
)

// idleCollector runs the garbage collector between passes when the next
// pass would otherwise start a collection: when the heap, grown by what
// was allocated since the pass before ended, would reach the point where
// the runtime starts one. A collection that starts inside a pass runs
// beside it (its marking takes a core, its assists slow the pass's
// allocations): at 10,000 running applications a steady plan took 5-6
// ms, and 13-27 ms when a collection ran during it, about one pass in
// four. Collected while idle, the cycles happen between passes instead
// of inside them. They come earlier, so there are more of them: at most
// one a pass (a steady pass at 10,000 allocates about 7 MB against some
// 11 MB of runway; the runtime alone ran about 0.85 a pass there).
type idleCollector struct {
	samples []metrics.Sample
	last    uint64 // the allocations counter when the last pass ended
	collect func()
}

func newIdleCollector() *idleCollector {
	return &idleCollector{collect: runtime.GC, samples: []metrics.Sample{ // in afterPass's order
		{Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}}
}

// afterPass is called when a pass has ended and no other is due yet.
func (c *idleCollector) afterPass() {
	metrics.Read(c.samples)
	var v [4]uint64
	for i, s := range c.samples {
		if s.Value.Kind() != metrics.KindUint64 {
			return // a runtime without these metrics: leave the GC alone
		}
		v[i] = s.Value.Uint64()
	}
	allocs, objects, live, goal := v[0], v[1], v[2], v[3]
	next := allocs - c.last
	if c.last == 0 {
		next = 0 // the first pass: nothing to go by yet
	}
	c.last = allocs
	if collectNow(objects, next, live, goal) {
		c.collect()
	}
}

// collectNow decides: the heap holds objects bytes (live and not yet
// freed), the next pass is expected to allocate next bytes, and the last
// collection left live bytes with a goal of goal. The runtime starts a
// collection no earlier than 70% of the way from live to goal (its
// pacer's lower bound on the trigger); reaching that within the next
// pass means collecting now. A goal not above live (a heap at its
// memory limit) is left to the runtime.
func collectNow(objects, next, live, goal uint64) bool {
	if goal <= live {
		return false
	}
	trigger := live + (goal-live)/10*7
	return objects+next >= trigger
}
