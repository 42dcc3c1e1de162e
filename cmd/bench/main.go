// Command bench measures the reconciler against its targets and prints a
// table of ratios: load+validate (and render) of 10,000 generated manifests
// against a bare sigs.k8s.io/yaml decode of the same bytes.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"sigs.k8s.io/yaml"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/internal/benchdata"
	"github.com/sparkmesos/reconciler/render"
)

const n = 10_000

func main() {
	files := []v1.File{{Name: "dispatcher.yaml", Data: []byte(benchdata.Dispatcher)}}
	for i := 0; i < n; i++ {
		files = append(files, v1.File{Name: fmt.Sprintf("app-%05d.yaml", i), Data: []byte(benchdata.Application(i))})
	}
	var failed error
	bareRun := func() {
		for _, f := range files[1:] {
			var app v1.SparkApplication
			if err := yaml.Unmarshal(f.Data, &app); err != nil {
				failed = err
			}
		}
	}
	loadRun := func() {
		if _, ps := v1.Load(files); ps.Err() != nil {
			failed = ps.Err()
		}
	}
	renderRun := func() {
		m, ps := v1.Load(files)
		if ps.Err() != nil {
			failed = ps.Err()
			return
		}
		for _, o := range m.Objects {
			if _, err := render.Object(o, m, render.Options{}); err != nil {
				failed = err
			}
		}
	}
	// The three measures interleave over several rounds, each from a
	// collected heap, and the medians are compared: one run of a 1-2 s
	// operation is at the mercy of the garbage collector.
	times := medians(rounds, bareRun, loadRun, renderRun)
	bare, load, loadRender := times[0], times[1], times[2]
	if failed != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", failed)
		os.Exit(1)
	}
	fmt.Printf("%d generated SparkApplication manifests (%d bytes each on average), median of %d rounds\n\n", n, avg(files), rounds)
	fmt.Printf("%-44s %12s %8s %8s\n", "measure", "time", "ratio", "target")
	row := func(name string, d time.Duration, target string) {
		fmt.Printf("%-44s %12s %7.2fx %8s\n", name, d.Round(time.Millisecond), float64(d)/float64(bare), target)
	}
	row("bare sigs.k8s.io/yaml decode (baseline)", bare, "")
	row("load + validate", load, "<= 1.3x")
	row("load + validate + render", loadRender, "<= 1.3x")
}

// rounds of each measure.
const rounds = 7

// medians runs each function once per round, in turn, from a collected heap,
// and returns each one's median time.
func medians(n int, fs ...func()) []time.Duration {
	samples := make([][]time.Duration, len(fs))
	for r := 0; r < n; r++ {
		for i, f := range fs {
			runtime.GC()
			start := time.Now()
			f()
			samples[i] = append(samples[i], time.Since(start))
		}
	}
	out := make([]time.Duration, len(fs))
	for i, s := range samples {
		sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
		out[i] = s[len(s)/2]
	}
	return out
}

func avg(files []v1.File) int {
	total := 0
	for _, f := range files[1:] {
		total += len(f.Data)
	}
	return total / (len(files) - 1)
}
