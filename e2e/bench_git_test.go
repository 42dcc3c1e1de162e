package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/internal/gittest"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/sim"
)

// BenchmarkLoopGitCommitToSubmit measures, with reconciler run following a
// Git repository of 500 applications, the time from a commit adding one
// being pushed to the dispatcher receiving its create request: announced
// by a signed webhook right after the push (target 1 s), and found by
// polling every second, committing at a random phase of the poll (no
// target: it is half the interval on average, plus the webhook's path).
func BenchmarkLoopGitCommitToSubmit(b *testing.B) {
	for _, mode := range []struct {
		name    string
		samples int
		args    []string
	}{
		{"webhook", 20, []string{"--git-poll", "1h"}},
		{"poll-1s", 10, []string{"--git-poll", "1s"}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				c := sim.New(sim.Config{Seed: 4, AllocationInterval: 20 * time.Millisecond, TaskStepDelay: 5 * time.Millisecond, Agents: bigAgents(4)})
				if err := c.Start(sim.ServeOptions{}); err != nil {
					b.Fatal(err)
				}
				disp, err := c.StartDispatcher(sim.DispatcherConfig{MaxDrivers: 10_000})
				if err != nil {
					b.Fatal(err)
				}
				o := gittest.New(b)
				files := map[string]string{"spark/d.yaml": fmt.Sprintf("apiVersion: sparkmesos.io/v1\nkind: Dispatcher\nmetadata: {name: d}\nspec:\n  external: {url: %q}\n", disp.URL())}
				for i := range 500 {
					files[fmt.Sprintf("spark/apps/a%05d.yaml", i)] = smallApp(i)
				}
				o.Commit("main", files)
				secret := filepath.Join(b.TempDir(), "secret")
				os.WriteFile(secret, []byte("s"), 0o600)
				listen := freeAddr(b)
				args := append([]string{"run", "--git", o.FileURL(), "--git-path", "spark", "--git-cache", b.TempDir(),
					"--git-webhook-secret-file", secret, "--listen", listen, "--resync", "1h"}, mode.args...)
				cmd := exec.Command(binary, args...)
				cmd.Env = append(os.Environ(), "RECONCILER_MASTER="+c.MasterURL(), "RECONCILER_STORE=bolt:"+filepath.Join(b.TempDir(), "state.db"))
				startStopped(b, cmd)
				waitDriversRunning(b, c, 500) // the first commit's applications run: a steady state
				var lat []time.Duration
				for i := 500; i < 500+mode.samples; i++ {
					if mode.name != "webhook" {
						// Commit at a random phase of the poll, as people do.
						time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
					}
					c.ResetRequests()
					o.Commit("main", map[string]string{fmt.Sprintf("spark/apps/a%05d.yaml", i): smallApp(i)})
					start := time.Now()
					if mode.name == "webhook" {
						hook(b, listen, "s")
					}
					lat = append(lat, waitCreate(b, c, fmt.Sprintf("app-%05d", i), start))
				}
				c.Stop()
				reportLatency(b, lat)
			}
		})
	}
}

// waitDriversRunning waits until n driver tasks run.
func waitDriversRunning(b *testing.B, c *sim.Cluster, n int) {
	b.Helper()
	cl, err := mesos.New(mesos.Options{Master: c.MasterURL()})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for {
		snap, err := cl.Snapshot(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		running := 0
		for _, t := range snap.Tasks {
			if t.Labels.Get("sparkmesos.io/component") == "driver" && t.State == "TASK_RUNNING" {
				running++
			}
		}
		if running == n {
			return
		}
		if time.Since(start) > time.Minute {
			b.Fatalf("%d of %d drivers running after a minute", running, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
