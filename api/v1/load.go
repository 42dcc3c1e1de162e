package v1

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// MaxFileSize bounds one manifest file. A larger file is refused with an
// error rather than parsed: manifests this large are a mistake or an attack.
const MaxFileSize = 8 << 20

// File is one manifest file's name (as shown in errors) and content.
type File struct {
	Name string
	Data []byte
}

// Origin records where an object was loaded from, so that later problems
// (validation, planning) can point at file:line:column.
type Origin struct {
	File string
	// Doc is the 0-based index of the document in the file.
	Doc int
	// Line and Column are where the document starts.
	Line, Column int
	// node is the document's YAML tree, kept while the object is validated
	// to place problems; Load releases it afterwards, keeping the positions
	// of the paths the checks between objects report at.
	node *yaml.Node
	// keptPaths are the paths whose positions kept holds, in its order
	// (specCrossPaths or templateCrossPaths, shared by every object).
	keptPaths []Path
	kept      []linePos
	// broken lists the fields that failed to decode; an object with any is
	// never valid, and validation says nothing more about those fields.
	broken []Path
}

// crossPaths are the paths the checks between objects report at: of an
// application spec at base (a SparkApplication's spec, a schedule's
// template).
func crossPaths(base Path) []Path {
	return []Path{
		Path{}.Field("metadata").Field("name"),
		base.Field("dispatcher").Field("name"),
		base.Field("queue"),
		base.Field("sparkConf").Key("spark.mesos.dispatcher.queue"),
		base.Field("shuffleService").Field("name"),
		base.Field("role"),
	}
}

var (
	specCrossPaths     = crossPaths(specPath)
	templateCrossPaths = crossPaths(templatePath)
)

// release drops the YAML tree, keeping the positions of the paths the
// checks between objects report at.
func (o *Origin) release(kind string) {
	if o.node == nil {
		return
	}
	paths := specCrossPaths
	if kind == KindScheduledSparkApplication {
		paths = templateCrossPaths
	}
	o.keptPaths, o.kept = paths, make([]linePos, len(paths))
	for i, p := range paths {
		pos := o.Position(p)
		o.kept[i] = linePos{Line: int32(pos.Line), Column: int32(pos.Column)}
	}
	o.node = nil
}

// linePos is a kept position in the object's file: a line and a column
// (no file name of its own: 8 bytes each, for every object loaded).
type linePos struct{ Line, Column int32 }

// Broken reports whether some field of the object failed to decode.
func (o *Origin) Broken() bool { return len(o.broken) > 0 }

// overlapsBroken reports whether a problem at path concerns a field that
// failed to decode (it lies inside one, or one lies inside it), so that a
// decode error is not echoed by a validation error about the same field.
func (o *Origin) overlapsBroken(path Path) bool {
	if len(path) < 2 {
		return false
	}
	for _, b := range o.broken {
		if isPrefix(b, path) || isPrefix(path, b) {
			return true
		}
	}
	return false
}

func isPrefix(prefix, path Path) bool {
	if len(prefix) > len(path) {
		return false
	}
	for i := range prefix {
		if prefix[i] != path[i] {
			return false
		}
	}
	return true
}

// Position returns where path lies in the object's document; the document's
// start when the path cannot be found or the tree was released.
func (o *Origin) Position(path Path) Position {
	if o == nil {
		return Position{}
	}
	if o.node == nil {
		for i, p := range o.keptPaths {
			if slices.Equal(p, path) {
				return Position{File: o.File, Line: int(o.kept[i].Line), Column: int(o.kept[i].Column)}
			}
		}
		return Position{File: o.File, Line: o.Line, Column: o.Column}
	}
	n := locate(o.node, path)
	return Position{File: o.File, Line: n.Line, Column: n.Column}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the problems yaml.v3's parser (not its scanner)
// reports: it numbers their lines from 0.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found undefined tag handle":             true,
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found duplicate %TAG directive":         true,
}

// tabIndented says line (1-based) of data starts with a tab after any spaces.
func tabIndented(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(lines[line-1], " "), []byte("\t"))
}

// Decode parses one file's documents into objects. Problems are returned for
// everything wrong with the file. An object whose fields did not all decode is
// returned too, marked Broken, so that validation can still report the rest of
// its problems; Validate never accepts it. Empty documents are skipped; a
// file with no document at all is a problem.
func Decode(f File) ([]Object, Problems) {
	var problems Problems
	fail := func(line int, format string, args ...any) ([]Object, Problems) {
		problems = append(problems, Problem{Pos: Position{File: f.Name, Line: line, Column: boolInt(line > 0)}, Message: fmt.Sprintf(format, args...)})
		return nil, problems
	}
	if len(f.Data) > MaxFileSize {
		return fail(0, "file is %d bytes; manifest files are limited to %d MiB: split it", len(f.Data), MaxFileSize>>20)
	}
	if bytes.IndexByte(f.Data, 0) >= 0 {
		return fail(0, "file contains NUL bytes: not a YAML or JSON manifest")
	}
	if !utf8.Valid(f.Data) {
		line := 1 + bytes.Count(f.Data[:invalidUTF8Offset(f.Data)], []byte("\n"))
		return fail(line, "file is not valid UTF-8: save it as UTF-8")
	}
	var objects []Object
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for doc := 0; ; doc++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			line := 0
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
				if parserProblems[msg] {
					line++ // yaml.v3 gives a parser error's line 0-based, a scanner error's 1-based
				}
				if strings.HasPrefix(msg, "found character that cannot start any token") && tabIndented(f.Data, line) {
					msg = "a tab indents this line: YAML allows only spaces for indentation"
				}
			}
			return fail(line, "document %d is not valid YAML: %s", doc+1, msg)
		}
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = *root.Content[0]
		}
		if root.Kind == 0 || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
			continue // an empty document, as between two '---'
		}
		obj, ps := decodeObject(f.Name, doc, &root)
		problems = append(problems, ps...)
		if obj != nil {
			objects = append(objects, obj)
		}
	}
	if len(objects) == 0 && len(problems) == 0 {
		// A file truncated to nothing is far more often an accident (a
		// failed write, a bad merge) than a deletion: it is not taken as one.
		return fail(0, "holds no manifest (empty, or only comments): whatever it declared before keeps its last good spec; to remove those objects, delete the file")
	}
	return objects, problems
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// newObject returns an empty object of a kind, or nil for an unknown kind.
func newObject(kind string) Object {
	switch kind {
	case KindSparkApplication:
		return &SparkApplication{}
	case KindDispatcher:
		return &Dispatcher{}
	case KindShuffleService:
		return &ShuffleService{}
	case KindMesosRole:
		return &MesosRole{}
	case KindScheduledSparkApplication:
		return &ScheduledSparkApplication{}
	case KindNotifier:
		return &Notifier{}
	}
	return nil
}

func decodeObject(file string, doc int, root *yaml.Node) (Object, Problems) {
	var problems Problems
	d := &decoder{file: file, problems: &problems, budget: maxNodes, active: map[*yaml.Node]bool{}}
	if root.Kind != yaml.MappingNode {
		d.errorAt(root, "a manifest must be a mapping with apiVersion, kind, metadata and spec; got %s", kindName(root))
		return nil, problems
	}
	var apiVersion, kind *yaml.Node
	for _, p := range d.pairs(root) {
		switch p.key.Value {
		case "apiVersion":
			apiVersion = d.resolve(p.value)
		case "kind":
			kind = d.resolve(p.value)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	switch {
	case apiVersion == nil:
		d.errorAtField(root, "apiVersion", "missing; set apiVersion: %s", APIVersion)
	case apiVersion.Value != APIVersion:
		d.errorAtField(apiVersion, "apiVersion", "unsupported apiVersion %q; this reconciler reads %s", apiVersion.Value, APIVersion)
	}
	var obj Object
	switch {
	case kind == nil:
		d.errorAtField(root, "kind", "missing; set kind to one of %s", strings.Join(Kinds, ", "))
	default:
		if obj = newObject(kind.Value); obj == nil {
			d.errorAtField(kind, "kind", "unknown kind %q%s", kind.Value, suggestKind(kind.Value))
		}
	}
	if obj == nil || len(problems) > 0 {
		return nil, problems
	}
	d.decode(root, reflect.ValueOf(obj).Elem())
	origin := Origin{File: file, Doc: doc, Line: root.Line, Column: root.Column, node: root}
	for _, p := range problems {
		origin.broken = append(origin.broken, p.Path)
	}
	if d.overrun {
		return nil, problems // an alias bomb: nothing in it is worth validating
	}
	*obj.Origin() = origin
	return obj, problems
}

func suggestKind(got string) string {
	for _, k := range Kinds {
		if strings.HasPrefix(strings.ToLower(k), strings.ToLower(got)) || strings.HasPrefix(strings.ToLower(got), strings.ToLower(k)) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	s := suggest(got, Kinds)
	if i := strings.Index(s, "(did you mean"); i >= 0 {
		return " " + s[i:]
	}
	return "; kinds are " + strings.Join(Kinds, ", ")
}
