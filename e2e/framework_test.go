package e2e

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
)

// idle is a scheduler with nothing to run.
type idle struct{}

func (idle) Offers([]mesos.Offer) map[string][]mesos.Launch { return nil }
func (idle) Update(mesos.TaskStatus)                        {}
func (idle) Wants() bool                                    { return false }
func (idle) Known() []mesos.TaskRef                         { return nil }
func (idle) Kills() []mesos.TaskRef                         { return nil }
func (idle) Revive() bool                                   { return false }

// When the store refuses the new framework id (a write conflict), the
// framework subscribes again as the same framework, never as a second one
// beside it, and persists the id then.
func TestFrameworkIDKeptWhenSavingFails(t *testing.T) {
	c := sim.New(sim.Config{Seed: 8, NumAgents: 1, AllocationInterval: 20 * time.Millisecond})
	if err := c.Start(sim.ServeOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	cl, err := mesos.New(mesos.Options{Master: c.MasterURL()})
	if err != nil {
		t.Fatal(err)
	}
	var saves atomic.Int64
	var saved atomic.Value
	fw := mesos.NewFramework(cl, idle{}, mesos.FrameworkOptions{Name: "fw-test", Role: "*", FailoverTimeout: time.Hour,
		SaveID: func(id string) error {
			if saves.Add(1) == 1 {
				return errors.New("version conflict")
			}
			saved.Store(id)
			return nil
		}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = fw.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for saved.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the framework id was never saved (%d attempts)", saves.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	fws, err := cl.Frameworks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range fws {
		if f.Name == "fw-test" {
			ids = append(ids, f.ID)
		}
	}
	if len(ids) != 1 || ids[0] != saved.Load().(string) {
		t.Fatalf("frameworks %v after a failed save; saved %v", ids, saved.Load())
	}
}
