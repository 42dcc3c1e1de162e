package git

import (
	"context"
	"fmt"
	"testing"

	"github.com/sparkmesos/reconciler/internal/gittest"
)

// BenchmarkSyncNewCommit measures a sync that finds one new commit in a
// repository of 500 manifests: ref listing, fetch, and reading the tree.
func BenchmarkSyncNewCommit(b *testing.B) {
	o := gittest.New(b)
	files := map[string]string{}
	for i := range 500 {
		files[fmt.Sprintf("apps/a%05d.yaml", i)] = fmt.Sprintf("apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: a%05d}\n", i)
	}
	o.Commit("main", files)
	r, err := Open(Options{URL: o.FileURL(), CacheDir: b.TempDir(), Depth: 1})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		o.Commit("main", map[string]string{fmt.Sprintf("apps/n%05d.yaml", i): "x: 1\n"})
		i++
		b.StartTimer()
		if _, err := r.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
