package render

import (
	"fmt"
	"testing"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/internal/benchdata"
)

// BenchmarkRender10k renders 10,000 loaded applications.
func BenchmarkRender10k(b *testing.B) {
	files := []v1.File{{Name: "dispatcher.yaml", Data: []byte(benchdata.Dispatcher)}}
	for i := 0; i < 10_000; i++ {
		files = append(files, v1.File{Name: fmt.Sprintf("app-%05d.yaml", i), Data: []byte(benchdata.Application(i))})
	}
	m, problems := v1.Load(files)
	if err := problems.Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, o := range m.Objects {
			if _, err := Object(o, m, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
