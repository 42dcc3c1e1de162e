package v1

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes one document may expand to, aliases included, so
// that an alias bomb fails fast instead of eating memory.
const maxNodes = 200_000

// decoder fills Go values from a YAML node tree using their json tags. Unlike
// a plain unmarshal it reports every problem it meets, each at its position,
// and it never stops at the first one.
type decoder struct {
	file     string
	problems *Problems
	budget   int
	active   map[*yaml.Node]bool // aliases being expanded, for cycle detection
	overrun  bool
	// stack is the path of the node being decoded; it is copied into a Path
	// only when a problem is reported, so decoding allocates no paths.
	stack Path
}

func (d *decoder) push(e PathElem) { d.stack = append(d.stack, e) }
func (d *decoder) pop()            { d.stack = d.stack[:len(d.stack)-1] }

// path returns a copy of the current path.
func (d *decoder) path() Path { return append(Path(nil), d.stack...) }

// errorAt reports a problem at node n for the current path.
func (d *decoder) errorAt(n *yaml.Node, format string, args ...any) {
	*d.problems = append(*d.problems, Problem{
		Pos:     Position{File: d.file, Line: n.Line, Column: n.Column},
		Path:    d.path(),
		Message: fmt.Sprintf(format, args...),
	})
}

// errorAtField reports a problem about the field name of the current mapping.
func (d *decoder) errorAtField(n *yaml.Node, name string, format string, args ...any) {
	d.push(PathElem{name: name, kind: 'f'})
	d.errorAt(n, format, args...)
	d.pop()
}

// resolve follows aliases, enforcing the node budget. Callers detect cycles
// (see enter) before resolving. It returns nil when the node must not be used.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	d.budget--
	if d.budget < 0 {
		if !d.overrun {
			d.overrun = true
			d.errorAt(n, "document expands to more than %d nodes (aliases included); split it or remove aliases", maxNodes)
		}
		return nil
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// enter marks an alias's target as being expanded. It reports and returns
// false when the target is already being expanded: the alias refers to itself.
// The caller calls the returned func when done.
func (d *decoder) enter(n *yaml.Node) (func(), bool) {
	if n.Kind != yaml.AliasNode {
		return func() {}, true
	}
	if d.active[n.Alias] {
		d.errorAt(n, "alias *%s refers to itself", n.Value)
		return nil, false
	}
	d.active[n.Alias] = true
	return func() { delete(d.active, n.Alias) }, true
}

type pair struct{ key, value *yaml.Node }

// pairs returns the key/value pairs of a mapping with merge keys (<<)
// expanded; explicit keys win over merged ones. Duplicate explicit keys are
// reported.
func (d *decoder) pairs(n *yaml.Node) []pair {
	var explicit, merged []pair
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.mergeSources(v)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorAt(k, "mapping keys must be plain strings")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorAtField(k, k.Value, "duplicate key %q (first at line %d); remove one", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		explicit = append(explicit, pair{k, v})
	}
	if len(merged) == 0 {
		return explicit
	}
	out := explicit
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) mergeSources(v *yaml.Node) []pair {
	leave, ok := d.enter(v)
	if !ok {
		return nil
	}
	defer leave()
	v = d.resolve(v)
	if v == nil {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		// Merged pairs are charged to the node budget: a merge of many
		// aliases of a large mapping must not expand without bound.
		ps := d.pairs(v)
		d.budget -= len(ps)
		if d.budget < 0 {
			if !d.overrun {
				d.overrun = true
				d.errorAt(v, "document expands to more than %d nodes (aliases included); split it or remove aliases", maxNodes)
			}
			return nil
		}
		return ps
	case yaml.SequenceNode:
		var out []pair
		for _, item := range v.Content {
			if d.overrun {
				return out
			}
			out = append(out, d.mergeSources(item)...)
		}
		return out
	}
	d.errorAt(v, "a merge key (<<) needs a mapping or a list of mappings")
	return nil
}

// field describes one json-tagged struct field.
type field struct {
	name     string
	index    []int
	required bool
}

type structInfo struct {
	fields map[string]field
	names  []string
}

var structCache sync.Map // reflect.Type -> *structInfo

func infoOf(t reflect.Type) *structInfo {
	if v, ok := structCache.Load(t); ok {
		return v.(*structInfo)
	}
	info := &structInfo{fields: map[string]field{}}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int{}, index...), i)
			if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
				walk(f.Type, idx)
				continue
			}
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			info.fields[name] = field{name: name, index: idx, required: !strings.Contains(opts, "omitempty")}
			info.names = append(info.names, name)
		}
	}
	walk(t, nil)
	sort.Strings(info.names)
	structCache.Store(t, info)
	return info
}

var (
	scalarUnmarshalerType = reflect.TypeOf((*scalarUnmarshaler)(nil)).Elem()
	scalarOnlyType        = reflect.TypeOf((*scalarOnly)(nil)).Elem()
)

// scalarOnly marks scalarUnmarshaler types that have no structured form.
type scalarOnly interface{ scalarOnly() }

func (ByteSize) scalarOnly() {}
func (Duration) scalarOnly() {}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!bool":
		return "the boolean " + n.Value
	case "!!int", "!!float":
		return "the number " + n.Value
	}
	return fmt.Sprintf("the string %q", n.Value)
}

// decode fills v (settable) from n, reporting problems under path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value) {
	leave, ok := d.enter(n)
	if !ok {
		return
	}
	defer leave()
	n = d.resolve(n)
	if n == nil {
		return
	}
	isNull := n.Kind == yaml.ScalarNode && n.Tag == "!!null"

	if v.Kind() == reflect.Pointer {
		if isNull {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem())
		return
	}
	if isNull {
		return // an empty value leaves the zero value; validation reports what is required
	}

	if reflect.PointerTo(v.Type()).Implements(scalarUnmarshalerType) {
		if n.Kind == yaml.ScalarNode {
			if err := v.Addr().Interface().(scalarUnmarshaler).UnmarshalScalar(n.Value); err != nil {
				d.errorAt(n, "%v", err)
			}
			return
		}
		if v.Type().Implements(scalarOnlyType) {
			d.errorAt(n, "expected a string, got %s", kindName(n))
			return
		}
	}

	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.errorAt(n, "expected a mapping, got %s", kindName(n))
			return
		}
		info := infoOf(v.Type())
		for _, p := range d.pairs(n) {
			f, ok := info.fields[p.key.Value]
			if !ok {
				d.errorAtField(p.key, p.key.Value, "unknown field%s", suggest(p.key.Value, info.names))
				continue
			}
			d.push(PathElem{name: f.name, kind: 'f'})
			d.decode(p.value, v.FieldByIndex(f.index))
			d.pop()
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorAt(n, "expected a mapping, got %s", kindName(n))
			return
		}
		ps := d.pairs(n)
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(v.Type(), len(ps)))
		}
		for _, p := range ps {
			elem := reflect.New(v.Type().Elem()).Elem()
			d.push(PathElem{name: p.key.Value, kind: 'k'})
			d.decode(p.value, elem)
			d.pop()
			v.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), elem)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorAt(n, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.push(PathElem{index: i, kind: 'i'})
			d.decode(item, s.Index(i))
			d.pop()
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorAt(n, "expected a string, got %s", kindName(n))
			return
		}
		// A scalar is taken as written: version: 3.10 stays "3.10".
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.errorAt(n, "expected true or false, got %s", kindName(n))
			return
		}
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			hint := ""
			if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
				if _, err := strconv.Atoi(n.Value); err == nil {
					hint = "; remove the quotes"
				}
			}
			d.errorAt(n, "expected a whole number, got %s%s", kindName(n), hint)
			return
		}
		var i int64
		if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
			d.errorAt(n, "%s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			hint := ""
			if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
				if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
					hint = "; remove the quotes"
				}
			}
			d.errorAt(n, "expected a number, got %s%s", kindName(n), hint)
			return
		}
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorAt(n, "%s is not a finite number", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		d.errorAt(n, "cannot decode into %s", v.Type())
	}
}

// suggest returns ` (did you mean "x"?)` for the closest known name, or a list
// of the known names when none is close.
func suggest(got string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(strings.ToLower(got), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= 2+len(got)/4 {
		return fmt.Sprintf(" %q (did you mean %q?)", got, best)
	}
	return fmt.Sprintf(" %q; known fields: %s", got, strings.Join(known, ", "))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// locate finds the node at path under root, following aliases and merge keys.
// When the path does not exist (a missing field) it returns the key of the
// deepest mapping that does, so that "required" points at the mapping's name.
func locate(root *yaml.Node, path Path) *yaml.Node {
	n, key := root, (*yaml.Node)(nil)
	for _, e := range path {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var nextKey, next *yaml.Node
		switch e.kind {
		case 'f', 'k':
			want := e.name
			if n.Kind == yaml.MappingNode {
				budget := maxLocateVisits
				nextKey, next = findKey(n, want, 0, &budget)
			}
		case 'i':
			if n.Kind == yaml.SequenceNode && e.index < len(n.Content) {
				next = n.Content[e.index]
			}
		}
		if next == nil {
			if key != nil {
				return key
			}
			return n
		}
		n, key = next, nextKey
	}
	return n
}

// maxLocateVisits bounds the mapping entries one lookup inspects through
// merge keys; past it the lookup gives up and the parent's position is used.
const maxLocateVisits = 10_000

func findKey(n *yaml.Node, key string, depth int, budget *int) (*yaml.Node, *yaml.Node) {
	*budget -= len(n.Content) / 2
	if depth > 16 || *budget < 0 {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Tag != "!!merge" && k.Value == key {
			return k, n.Content[i+1]
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Tag != "!!merge" {
			continue
		}
		src := n.Content[i+1]
		for src.Kind == yaml.AliasNode && src.Alias != nil {
			src = src.Alias
		}
		srcs := []*yaml.Node{src}
		if src.Kind == yaml.SequenceNode {
			srcs = src.Content
		}
		for _, s := range srcs {
			for s.Kind == yaml.AliasNode && s.Alias != nil {
				s = s.Alias
			}
			if s.Kind == yaml.MappingNode {
				if k, v := findKey(s, key, depth+1, budget); v != nil {
					return k, v
				}
			}
		}
	}
	return nil, nil
}
