// Package source finds the desired manifests: files and directory trees on
// disk, or standard input, and watches directories (Watch); source/git
// follows a Git repository.
//
// A directory is read recursively. Files ending in .yaml, .yml or .json are
// manifests; hidden files and directories (names starting with '.') are
// skipped, so a .git directory or an editor's swap file is never read.
// Symbolic links are followed, and a link that leads back into a directory
// already being read is skipped, so link loops cannot hang a read. A file
// named on the command line is read whatever its name.
package source

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/sparkmesos/reconciler/api/v1"
)

// Stdin is the path that stands for standard input.
const Stdin = "-"

// Read collects the manifest files under paths. Problems name the paths that
// could not be read; the files that could are returned all the same.
func Read(paths []string, stdin io.Reader) ([]v1.File, v1.Problems) {
	files, problems, _ := ReadSource(paths, stdin)
	return files, problems
}

// ReadSource is Read for a source that is acted on: it also returns an
// *UnreadableError when a path given, standard input, or a directory
// under them could not be read. Then what the source declares is not
// known, and nothing in it may be taken as deleted. (A single file that
// cannot be read is only a problem: its objects are held, as a file that
// fails to load.)
func ReadSource(paths []string, stdin io.Reader) ([]v1.File, v1.Problems, error) {
	r := &reader{stdin: stdin, seen: map[string]bool{}}
	for _, p := range paths {
		r.readPath(p)
	}
	if len(r.unreadable) > 0 {
		return r.files, r.problems, &UnreadableError{Problems: r.unreadable}
	}
	return r.files, r.problems, nil
}

// UnreadableError says the source could not be read whole.
type UnreadableError struct {
	Problems v1.Problems
}

func (e *UnreadableError) Error() string {
	var parts []string
	for _, p := range e.Problems {
		parts = append(parts, p.Error())
	}
	return "the manifests could not be read (" + strings.Join(parts, "; ") + "): nothing is planned from them; check the path and its permissions"
}

type reader struct {
	stdin      io.Reader
	files      []v1.File
	problems   v1.Problems
	unreadable v1.Problems     // the paths given and directories that could not be read
	seen       map[string]bool // real paths of directories and files already read
}

func (r *reader) fail(name, format string, args ...any) {
	r.problems = append(r.problems, v1.Problem{Pos: v1.Position{File: name}, Message: fmt.Sprintf(format, args...)})
}

// failAll records a problem that leaves the source's content unknown.
func (r *reader) failAll(name, format string, args ...any) {
	r.fail(name, format, args...)
	r.unreadable = append(r.unreadable, r.problems[len(r.problems)-1])
}

func (r *reader) readPath(p string) {
	if p == Stdin {
		if r.stdin == nil {
			r.failAll("<stdin>", "standard input is not available")
			return
		}
		data, err := readLimited(r.stdin)
		if err != nil {
			r.failAll("<stdin>", "%v", err)
			return
		}
		r.files = append(r.files, v1.File{Name: "<stdin>", Data: data})
		return
	}
	info, err := os.Stat(p)
	if err != nil {
		r.failAll(p, "cannot read: %v", unwrapPathError(err))
		return
	}
	if info.IsDir() {
		r.readDir(p)
		return
	}
	r.readFile(p)
}

func (r *reader) readDir(dir string) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		r.failAll(dir, "cannot read: %v", unwrapPathError(err))
		return
	}
	if r.seen[real] {
		return // a link back into a tree being read: a loop, or read already
	}
	r.seen[real] = true
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.failAll(dir, "cannot read directory: %v", unwrapPathError(err))
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		full := filepath.Join(dir, name)
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			info, err := os.Stat(full)
			if err != nil {
				r.fail(full, "broken symbolic link: %v", unwrapPathError(err))
				continue
			}
			mode = info.Mode().Type()
		}
		switch {
		case mode.IsDir():
			r.readDir(full)
		case mode.IsRegular() && IsManifestName(name):
			r.readFile(full)
		}
	}
}

// IsManifestName says whether a file of that name is read as a manifest
// when its directory is: .yaml, .yml or .json, in any case.
func IsManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func (r *reader) readFile(name string) {
	if real, err := filepath.EvalSymlinks(name); err == nil {
		if r.seen[real] {
			return
		}
		r.seen[real] = true
	}
	f, err := os.Open(name)
	if err != nil {
		r.fail(name, "cannot read: %v", unwrapPathError(err))
		return
	}
	defer f.Close()
	data, err := readLimited(f)
	if err != nil {
		r.fail(name, "%v", err)
		return
	}
	r.files = append(r.files, v1.File{Name: name, Data: data})
}

// readLimited reads at most v1.MaxFileSize bytes, failing beyond that without
// reading the rest.
func readLimited(rd io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(rd, v1.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if len(data) > v1.MaxFileSize {
		return nil, fmt.Errorf("larger than %d MiB; manifest files are limited to that size: split it", v1.MaxFileSize>>20)
	}
	return data, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
