package v1

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	multierror "github.com/hashicorp/go-multierror"
)

// Position is a place in a manifest file. Line and Column are 1-based; zero
// means unknown (the whole file, or a document whose parser gave no place).
type Position struct {
	File   string
	Line   int
	Column int
}

// String formats the position as file:line:col, the form editors jump to.
func (p Position) String() string {
	file := p.File
	if file == "" {
		file = "<input>"
	}
	if p.Line == 0 {
		return file
	}
	return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Column)
}

// PathElem is one step of a field path: a field name, a list index or a map key.
type PathElem struct {
	name  string // the field name or the map key
	index int
	kind  byte // 'f' field, 'i' index or 'k' key
}

// Path is a field path inside one object, such as spec.driver.secrets[1].envKey.
type Path []PathElem

// Field returns the path extended by a field name.
func (p Path) Field(name string) Path { return p.add(PathElem{name: name, kind: 'f'}) }

// Index returns the path extended by a list index.
func (p Path) Index(i int) Path { return p.add(PathElem{index: i, kind: 'i'}) }

// Key returns the path extended by a map key.
func (p Path) Key(k string) Path { return p.add(PathElem{name: k, kind: 'k'}) }

func (p Path) add(e PathElem) Path {
	out := make(Path, len(p), len(p)+1)
	copy(out, p)
	return append(out, e)
}

// String renders the path the way the manifest reference writes it. Map keys
// that are plain words print as .key; anything else is quoted: sparkConf["spark.x"].
func (p Path) String() string {
	var b strings.Builder
	for i, e := range p {
		switch e.kind {
		case 'f':
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.name)
		case 'i':
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		case 'k':
			b.WriteString("[" + strconv.Quote(e.name) + "]")
		}
	}
	return b.String()
}

// Severity tells errors from warnings.
type Severity int

const (
	SeverityError Severity = iota
	SeverityWarning
)

// Problem is one thing wrong (or worth a warning) in a manifest: where it is,
// which field, and a message that says what and how to fix it.
type Problem struct {
	Pos      Position
	Path     Path
	Message  string
	Severity Severity
	object   Object // the object it is about, for the checks between objects
}

// Error formats the problem as file:line:col: field.path: message.
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Pos.String())
	b.WriteString(": ")
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if len(p.Path) > 0 {
		b.WriteString(p.Path.String())
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems, sorted by position when printed.
type Problems []Problem

// Errors returns only the problems of error severity.
func (ps Problems) Errors() Problems { return ps.filter(SeverityError) }

// Warnings returns only the problems of warning severity.
func (ps Problems) Warnings() Problems { return ps.filter(SeverityWarning) }

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Sort orders problems by file, line, column, then message, so output is stable.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Pos, ps[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return ps[i].Message < ps[j].Message
	})
}

// problemSink collects problems for one object; it resolves positions from the
// object's YAML node tree lazily, only when a problem is reported.
type problemSink struct {
	out    *Problems
	locate func(Path) Position
}

func (s problemSink) errorf(path Path, format string, args ...any) {
	s.add(SeverityError, path, fmt.Sprintf(format, args...))
}

func (s problemSink) warnf(path Path, format string, args ...any) {
	s.add(SeverityWarning, path, fmt.Sprintf(format, args...))
}

func (s problemSink) add(sev Severity, path Path, msg string) {
	var pos Position
	if s.locate != nil {
		pos = s.locate(path)
	}
	*s.out = append(*s.out, Problem{Pos: pos, Path: path, Message: msg, Severity: sev})
}

// Err aggregates the errors (not the warnings) into one error, nil when there
// are none. Each line of its message is one problem.
func (ps Problems) Err() error {
	var result *multierror.Error
	for _, p := range ps.Errors() {
		result = multierror.Append(result, p)
	}
	if result == nil {
		return nil
	}
	result.ErrorFormat = func(errs []error) string {
		lines := make([]string, len(errs))
		for i, err := range errs {
			lines[i] = err.Error()
		}
		return strings.Join(lines, "\n")
	}
	return result
}
