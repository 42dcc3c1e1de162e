package sim

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// The ledger an offer cycle reads equals what the live tasks and the
// outstanding offers hold, recomputed, through drivers starting, ending
// and being killed, offers made and declined, and an agent lost.
func TestLedgerEqualsTasksAndOffers(t *testing.T) {
	c, d := startWithDispatcher(t, fastConfig(), DispatcherConfig{})
	check := func(when string) {
		t.Helper()
		c.mu.Lock()
		defer c.mu.Unlock()
		want := ledger{}
		for _, x := range c.tasks {
			want.change(x.info.AgentID.Value, x.framework, x.chargedRole, sumResources(x.info.Resources), 1)
		}
		for _, o := range c.offers {
			want.change(o.agent.info.ID.Value, o.framework, o.chargedRole, sumResources(o.resources), 1)
		}
		for id, h := range c.ledger.onAgent {
			w := want.onAgent[id]
			for name, v := range h.scalars {
				var wv float64
				if w != nil {
					wv = w.scalars[name]
				}
				if math.Abs(v-wv) > 1e-6 {
					t.Fatalf("%s: agent %s holds %v %s in the ledger, %v recomputed", when, id, v, name, wv)
				}
			}
			if w == nil && len(h.ports) > 0 || w != nil && len(h.ports) != len(w.ports) {
				t.Fatalf("%s: agent %s holds ports %v in the ledger, recomputed %v", when, id, h.ports, w)
			}
		}
		for id, u := range c.ledger.byFramework {
			w := want.byFramework[id]
			if w == nil {
				w = &[2]float64{}
			}
			if math.Abs(u[0]-w[0]) > 1e-6 || math.Abs(u[1]-w[1]) > 1e-6 {
				t.Fatalf("%s: framework %s holds %v in the ledger, %v recomputed", when, id, *u, *w)
			}
		}
	}
	for i := 0; i < 6; i++ {
		submit(t, d, map[string]string{"spark.app.name": fmt.Sprint("l", i), "spark.cores.max": "2"},
			fmt.Sprintf("--sim-duration=%dms", 100+100*i), "--sim-outcome=TASK_FINISHED")
	}
	for k := 0; k < 15; k++ {
		time.Sleep(50 * time.Millisecond)
		check(fmt.Sprintf("after %d ms", 50*(k+1)))
	}
	if err := c.LoseAgent(c.AgentIDs()[0]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	check("after an agent was lost")
	time.Sleep(700 * time.Millisecond)
	check("after the drivers ended")
}
