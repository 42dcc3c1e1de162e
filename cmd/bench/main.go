// Command bench measures the reconciler against its targets and prints a
// table of ratios: load+validate (and render) of 10,000 generated manifests
// against a bare sigs.k8s.io/yaml decode of the same bytes.
package main

import (
	"fmt"
	"os"
	"testing"
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
	bare := measure(func() {
		for _, f := range files[1:] {
			var app v1.SparkApplication
			if err := yaml.Unmarshal(f.Data, &app); err != nil {
				failed = err
			}
		}
	})
	load := measure(func() {
		if _, ps := v1.Load(files); ps.Err() != nil {
			failed = ps.Err()
		}
	})
	loadRender := measure(func() {
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
	})
	if failed != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", failed)
		os.Exit(1)
	}
	fmt.Printf("%d generated SparkApplication manifests (%d bytes each on average)\n\n", n, avg(files))
	fmt.Printf("%-44s %12s %8s %8s\n", "measure", "time", "ratio", "target")
	row := func(name string, d time.Duration, target string) {
		fmt.Printf("%-44s %12s %7.2fx %8s\n", name, d.Round(time.Millisecond), float64(d)/float64(bare), target)
	}
	row("bare sigs.k8s.io/yaml decode (baseline)", bare, "")
	row("load + validate", load, "<= 1.3x")
	row("load + validate + render", loadRender, "<= 1.3x")
}

// measure returns the time per run of f, as testing.Benchmark finds it.
func measure(f func()) time.Duration {
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			f()
		}
	})
	return time.Duration(r.NsPerOp())
}

func avg(files []v1.File) int {
	total := 0
	for _, f := range files[1:] {
		total += len(f.Data)
	}
	return total / (len(files) - 1)
}
