package v1

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the loader. It must never panic or
// hang, and whatever it accepts must validate as it did the first time.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*")
	examples, _ := filepath.Glob("../../examples/manifests/*.yaml")
	for _, p := range append(seeds, examples...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("{<<: {<<: {}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, problems := Load([]File{{Name: "fuzz.yaml", Data: data}})
		for _, p := range problems {
			if p.Message == "" {
				t.Fatalf("a problem without a message at %s", p.Pos)
			}
		}
		if m == nil {
			t.Fatal("Load returned no manifests set")
		}
		for _, o := range m.Objects {
			if _, ps := Validate([]Object{o}); len(ps.Errors()) > 0 && len(problems.Errors()) == 0 {
				t.Fatalf("%s was accepted but does not validate again: %v", RefOf(o), ps.Err())
			}
			SparkFields(o, nil)
		}
	})
}

// Validate (a test helper) checks each object and the references between them. It returns the
// objects that have no errors (warnings are fine) and all problems.
func Validate(objs []Object) ([]Object, Problems) {
	var problems Problems
	bad := map[Object]bool{}
	for _, o := range objs {
		ps := checkObject(o, LoadOptions{})
		if len(ps.Errors()) > 0 || o.Origin().Broken() {
			bad[o] = true
		}
		problems = append(problems, ps...)
	}
	setProblems := checkSet(objs)
	for _, p := range setProblems.Errors() {
		bad[p.object] = true
	}
	problems = append(problems, setProblems...)
	var valid []Object
	for _, o := range objs {
		if !bad[o] {
			valid = append(valid, o)
		}
	}
	return valid, problems
}
