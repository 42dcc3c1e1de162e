package schemas

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// TestCheckedInUpToDate fails when schemas/*.json or the manifest reference
// differ from what the api/v1 types generate: run make schemas.
func TestCheckedInUpToDate(t *testing.T) {
	t.Chdir("..")
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	files["../docs/manifest-reference.md"] = ref
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("schemas", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing: run make schemas", name)
		}
	}
}

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	paths, _ := filepath.Glob("*.json")
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := c.AddResource(BaseURL+p, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(BaseURL + "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func documents(t *testing.T, data []byte) []any {
	t.Helper()
	var out []any
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// TestExamplesValidate checks every example manifest against the schemas.
func TestExamplesValidate(t *testing.T) {
	s := compile(t)
	paths, _ := filepath.Glob("../examples/manifests/*.yaml")
	if len(paths) < 5 {
		t.Fatalf("found %d examples", len(paths))
	}
	n := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range documents(t, data) {
			n++
			if err := s.Validate(doc); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	if n < 9 {
		t.Fatalf("validated only %d documents", n)
	}
}

// TestSchemaRejects shows the schemas catch what editors should flag.
func TestSchemaRejects(t *testing.T) {
	s := compile(t)
	bad := map[string]string{
		"unknown field": "apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: a}\nspec: {mainClas: x, dispatcher: {name: d}, mainApplicationFile: x}\n",
		"bare memory":   "apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: a}\nspec: {dispatcher: {name: d}, mainApplicationFile: x, driver: {memory: \"4096\"}}\n",
		"wrong kind":    "apiVersion: sparkmesos.io/v1\nkind: Sparkapplication\nmetadata: {name: a}\n",
		"bad enum":      "apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: a}\nspec: {dispatcher: {name: d}, mainApplicationFile: x, mode: medium}\n",
	}
	for name, y := range bad {
		if err := s.Validate(documents(t, []byte(y))[0]); err == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}
