// Package schemas generates the JSON Schema of each manifest kind from the
// api/v1 Go types (their doc comments become descriptions) and the manifest
// reference in docs/. Both are checked in; a test fails when they are stale.
// Editors use them through a modeline in each manifest:
//
//	# yaml-language-server: $schema=../../schemas/manifest.json
package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"

	v1 "github.com/sparkmesos/reconciler/api/v1"
)

const module = "github.com/sparkmesos/reconciler"

// BaseURL is where the schemas are published; $id values are relative to it.
const BaseURL = "https://sparkmesos.io/schemas/v1/"

var kinds = []struct {
	name    string
	obj     any
	example string // a file of examples/manifests that shows the kind
}{
	{v1.KindSparkApplication, &v1.SparkApplication{}, "etl-nightly.yaml"},
	{v1.KindDispatcher, &v1.Dispatcher{}, "dispatcher.yaml"},
	{v1.KindShuffleService, &v1.ShuffleService{}, "dynamic-allocation.yaml"},
	{v1.KindMesosRole, &v1.MesosRole{}, "dispatcher.yaml"},
	{v1.KindScheduledSparkApplication, &v1.ScheduledSparkApplication{}, "nightly-schedule.yaml"},
	{v1.KindNotifier, &v1.Notifier{}, "notifiers.yaml"},
}

func reflector() (*jsonschema.Reflector, error) {
	r := &jsonschema.Reflector{
		Mapper: mapType,
	}
	// Run from the repository root: comments are read from api/v1's source.
	if err := r.AddGoComments(module, "api/v1"); err != nil {
		return nil, fmt.Errorf("read api/v1 comments (run from the repository root): %w", err)
	}
	return r, nil
}

func mapType(t reflect.Type) *jsonschema.Schema {
	switch t {
	case reflect.TypeOf(v1.ByteSize{}):
		return &jsonschema.Schema{Type: "string", Pattern: `^\s*[0-9]+\s*([kKmMgGtTpP][bB]?|[bB])\s*$`,
			Description: "A Spark byte size: an integer with a unit, such as 512m or 4g.", Examples: []any{"512m", "4g"}}
	case reflect.TypeOf(v1.Duration{}):
		return &jsonschema.Schema{Type: "string", Pattern: `^\s*[0-9]+\s*(us|ms|s|m|min|h|d)\s*$`,
			Description: "A Spark duration: an integer with a unit, such as 120s or 5min.", Examples: []any{"120s", "5min"}}
	case reflect.TypeOf(v1.Suspend("")):
		return &jsonschema.Schema{
			Description: "true (no new runs), kill (no new runs, and kill the active ones) or false.",
			OneOf:       []*jsonschema.Schema{{Type: "boolean"}, {Type: "string", Enum: []any{"kill"}}}}
	case reflect.TypeOf(v1.Constraints{}):
		return &jsonschema.Schema{
			Description: "Attribute constraints: Spark's string (os:centos7;zone:a,b) or a list of {attribute, values}.",
			OneOf: []*jsonschema.Schema{
				{Type: "string"},
				{Type: "array", Items: &jsonschema.Schema{Ref: "#/$defs/Constraint"}},
			}}
	case reflect.TypeOf(v1.DockerVolume{}):
		return &jsonschema.Schema{
			Description: "A Docker volume: [host_path:]container_path[:ro|:rw] or {hostPath, containerPath, mode}.",
			OneOf: []*jsonschema.Schema{
				{Type: "string"},
				{Ref: "#/$defs/DockerVolumeObject"},
			}}
	}
	return nil
}

// Generate returns the schema files: one per kind and manifest.json, which
// picks the kind's schema by the document's kind. Run from the repository root.
func Generate() (map[string][]byte, error) {
	r, err := reflector()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	var branches []*jsonschema.Schema
	for _, k := range kinds {
		s := r.Reflect(k.obj)
		s.ID = jsonschema.ID(BaseURL + strings.ToLower(k.name) + ".json")
		s.Title = k.name
		// Constraint and the object form of DockerVolume are referenced by the mappers.
		if s.Definitions == nil {
			s.Definitions = jsonschema.Definitions{}
		}
		s.Definitions["Constraint"] = r.Reflect(&v1.Constraint{}).Definitions["Constraint"]
		s.Definitions["DockerVolumeObject"] = dockerVolumeObject(r)
		pinKind(s, k.name)
		b, err := marshal(s)
		if err != nil {
			return nil, err
		}
		file := strings.ToLower(k.name) + ".json"
		out[file] = b
		branches = append(branches, &jsonschema.Schema{
			If:   withProps(&jsonschema.Schema{Required: []string{"kind"}}, "kind", &jsonschema.Schema{Const: k.name}),
			Then: &jsonschema.Schema{Ref: file},
		})
	}
	kindNames := make([]any, len(kinds))
	for i, k := range kinds {
		kindNames[i] = k.name
	}
	all := withProps(&jsonschema.Schema{
		Version:     jsonschema.Version,
		ID:          jsonschema.ID(BaseURL + "manifest.json"),
		Title:       "sparkmesos.io/v1 manifest",
		Description: "Any manifest of the reconciler: the schema of its kind applies.",
		Type:        "object",
		Required:    []string{"apiVersion", "kind"},
		AllOf:       branches,
	}, "apiVersion", &jsonschema.Schema{Const: v1.APIVersion}, "kind", &jsonschema.Schema{Enum: kindNames})
	b, err := marshal(all)
	if err != nil {
		return nil, err
	}
	out["manifest.json"] = b
	return out, nil
}

func dockerVolumeObject(r *jsonschema.Reflector) *jsonschema.Schema {
	s := r.Reflect(&struct {
		HostPath      string `json:"hostPath,omitempty"`
		ContainerPath string `json:"containerPath"`
		Mode          string `json:"mode,omitempty" jsonschema:"enum=ro,enum=rw"`
	}{})
	for _, d := range s.Definitions {
		d.Description = "A Docker volume as an object."
		return d
	}
	return s
}

// pinKind makes the kind's schema accept only its own apiVersion and kind.
func pinKind(s *jsonschema.Schema, kind string) {
	root := s
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/$defs/")
		root = s.Definitions[name]
	}
	if root == nil || root.Properties == nil {
		return
	}
	if p, ok := root.Properties.Get("apiVersion"); ok {
		p.Const = v1.APIVersion
	}
	if p, ok := root.Properties.Get("kind"); ok {
		p.Const = kind
	}
}

// withProps sets s's properties from name, schema pairs, in order.
func withProps(s *jsonschema.Schema, kv ...any) *jsonschema.Schema {
	s.Properties = jsonschema.NewProperties()
	for i := 0; i+1 < len(kv); i += 2 {
		s.Properties.Set(kv[i].(string), kv[i+1].(*jsonschema.Schema))
	}
	return s
}

func marshal(s *jsonschema.Schema) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Reference renders docs/manifest-reference.md: every field of every kind,
// the Spark property it sets, and its description (default included).
func Reference() ([]byte, error) {
	r, err := reflector()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# Manifest reference\n\n")
	b.WriteString("Generated from `api/v1` by `make schemas`; do not edit. Every manifest is\n")
	b.WriteString("`apiVersion: sparkmesos.io/v1`, a `kind`, `metadata` (`name`, `labels`,\n")
	b.WriteString("`annotations`) and a `spec`. The JSON Schemas in `schemas/` say the same for editors.\n\n")
	b.WriteString("Values: sizes are Spark byte strings (`512m`, `4g`; a bare number is refused because\n")
	b.WriteString("Spark would read it as bytes), durations are Spark time strings (`120s`, `5min`).\n")
	b.WriteString("`spec.sparkConf` takes any other property, but not one a typed field sets.\n")
	b.WriteString("Examples of every field are in `examples/manifests/`.\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "\n## %s\n\n", k.name)
		if c := r.CommentMap[module+"/api/v1."+k.name]; c != "" {
			fmt.Fprintf(&b, "%s\n\n", oneLine(c))
		}
		b.WriteString("| field | type | Spark property | description |\n|---|---|---|---|\n")
		t := reflect.TypeOf(k.obj).Elem()
		f, _ := t.FieldByName("Spec")
		writeFields(&b, r, f.Type, "spec", map[reflect.Type]bool{})
		example, err := os.ReadFile(filepath.Join("examples", "manifests", k.example))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "\nExample (`examples/manifests/%s`):\n\n```yaml\n%s```\n", k.example, example)
	}
	return b.Bytes(), nil
}

func writeFields(b *bytes.Buffer, r *jsonschema.Reflector, t reflect.Type, prefix string, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	type row struct{ path, typ, prop, doc string }
	var rows []row
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := prefix + "." + name
		prop, _, _ := strings.Cut(f.Tag.Get("spark"), ",")
		prop = strings.ReplaceAll(prop, "*", "&lt;key&gt;")
		if prop != "" {
			prop = "`" + prop + "`"
		}
		doc := oneLine(r.CommentMap[module+"/api/v1."+t.Name()+"."+f.Name])
		rows = append(rows, row{path, typeName(f.Type), prop, doc})
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			if ft.Kind() == reflect.Slice {
				path += "[]"
			}
			ft = ft.Elem()
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", rows[len(rows)-1].path, rows[len(rows)-1].typ, rows[len(rows)-1].prop, rows[len(rows)-1].doc)
		if ft.Kind() == reflect.Struct && ft.PkgPath() == module+"/api/v1" && mapType(ft) == nil && ft != reflect.TypeOf(v1.Constraint{}) {
			writeFields(b, r, ft, path, seen)
		}
	}
}

func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(v1.ByteSize{}), reflect.TypeOf(&v1.ByteSize{}):
		return "size"
	case reflect.TypeOf(v1.Duration{}), reflect.TypeOf(&v1.Duration{}):
		return "duration"
	case reflect.TypeOf(v1.Constraints{}):
		return "constraints"
	case reflect.TypeOf(v1.Suspend("")):
		return "true, false or kill"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	case reflect.Struct:
		return "object"
	case reflect.Float64:
		return "number"
	case reflect.Int:
		return "integer"
	}
	return t.Kind().String()
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", "\\|")
}
