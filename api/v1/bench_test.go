package v1

import (
	"fmt"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/sparkmesos/reconciler/internal/benchdata"
)

func benchFiles(n int) []File {
	files := []File{{Name: "dispatcher.yaml", Data: []byte(benchdata.Dispatcher)}}
	for i := 0; i < n; i++ {
		files = append(files, File{Name: fmt.Sprintf("app-%05d.yaml", i), Data: []byte(benchdata.Application(i))})
	}
	return files
}

// BenchmarkLoad10k loads and validates 10,000 generated manifests.
func BenchmarkLoad10k(b *testing.B) {
	files := benchFiles(10_000)
	b.ReportAllocs()
	for b.Loop() {
		m, problems := Load(files)
		if err := problems.Err(); err != nil || len(m.Objects) != len(files)+2 { // the dispatcher file holds two roles too
			b.Fatalf("load: %v (%d objects)", err, len(m.Objects))
		}
	}
}

// BenchmarkBareYAML10k decodes the same bytes with a bare sigs.k8s.io/yaml
// Unmarshal: the baseline of the ratio make bench reports.
func BenchmarkBareYAML10k(b *testing.B) {
	files := benchFiles(10_000)
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range files[1:] {
			var app SparkApplication
			if err := yaml.Unmarshal(f.Data, &app); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestBenchDataIsValid keeps the generated manifests valid, so that the
// benchmark measures the successful path, and checks the bare decode agrees.
func TestBenchDataIsValid(t *testing.T) {
	files := benchFiles(50)
	m, problems := Load(files)
	if err := problems.Err(); err != nil {
		t.Fatal(err)
	}
	for i, f := range files[1:] {
		var bare SparkApplication
		if err := yaml.Unmarshal(f.Data, &bare); err != nil {
			t.Fatal(err)
		}
		ours := m.Objects[len(m.Objects)-len(files)+1+i].(*SparkApplication) // after the dispatcher file's objects
		if bare.Spec.Executor.Memory.String() != ours.Spec.Executor.Memory.String() || bare.Spec.Executor.Constraints.String() != ours.Spec.Executor.Constraints.String() {
			t.Fatalf("bare decode and loader disagree on %s", f.Name)
		}
	}
}
