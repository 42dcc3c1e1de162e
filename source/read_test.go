package source

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/sparkmesos/reconciler/api/v1"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func names(files []v1.File, root string) []string {
	var out []string
	for _, f := range files {
		rel, _ := filepath.Rel(root, f.Name)
		out = append(out, filepath.ToSlash(rel))
	}
	sort.Strings(out)
	return out
}

func TestReadDirectoryTree(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.yaml"), "a")
	write(t, filepath.Join(root, "b.YML"), "b")
	write(t, filepath.Join(root, "nested/deeper/c.json"), "c")
	write(t, filepath.Join(root, "notes.txt"), "not a manifest")
	write(t, filepath.Join(root, ".hidden.yaml"), "skipped")
	write(t, filepath.Join(root, ".git/config.yaml"), "skipped")
	write(t, filepath.Join(root, "nested/.swp/x.yaml"), "skipped")
	// A link loop back to the root and a link to a directory outside.
	if err := os.Symlink(root, filepath.Join(root, "nested/loop")); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	write(t, filepath.Join(outside, "shared.yaml"), "shared")
	if err := os.Symlink(outside, filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "missing"), filepath.Join(root, "broken.yaml")); err != nil {
		t.Fatal(err)
	}

	files, problems := Read([]string{root}, nil)
	want := []string{"a.yaml", "b.YML", "linked/shared.yaml", "nested/deeper/c.json"}
	if diff := cmp.Diff(want, names(files, root)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Message, "broken symbolic link") {
		t.Errorf("problems = %v, want one about the broken link", problems)
	}
}

func TestReadExplicitFileAndStdin(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "manifest.txt"), "named explicitly, so read")
	files, problems := Read([]string{filepath.Join(root, "manifest.txt"), Stdin, filepath.Join(root, "nope.yaml")}, strings.NewReader("from stdin"))
	if len(files) != 2 || string(files[1].Data) != "from stdin" || files[1].Name != "<stdin>" {
		t.Fatalf("files = %+v", files)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "nope.yaml: cannot read: no such file or directory") {
		t.Errorf("problems = %v", problems)
	}
}

func TestReadRefusesHugeFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "huge.yaml"), strings.Repeat("#", v1.MaxFileSize+1))
	files, problems := Read([]string{root}, nil)
	if len(files) != 0 || len(problems) != 1 || !strings.Contains(problems[0].Message, "split it") {
		t.Fatalf("files %d, problems %v", len(files), problems)
	}
}

func TestReadSameFileOnce(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.yaml"), "a")
	files, _ := Read([]string{root, filepath.Join(root, "a.yaml")}, nil)
	if len(files) != 1 {
		t.Fatalf("read %d files, want the file once", len(files))
	}
}

// A source acted on must be read whole: a missing path or an unreadable
// directory (anywhere under it) or standard input is an UnreadableError, a file that cannot
// be read or is too large is only a problem of that file.
func TestReadSourceUnreadable(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.yaml"), "a")
	write(t, filepath.Join(root, "huge.yaml"), strings.Repeat("#", v1.MaxFileSize+1))
	if _, problems, err := ReadSource([]string{root}, nil); err != nil || len(problems) != 1 {
		t.Fatalf("readable tree: %v, problems %v", err, problems)
	}
	var ue *UnreadableError
	_, _, err := ReadSource([]string{filepath.Join(root, "livx")}, nil)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "livx: cannot read: no such file or directory") {
		t.Fatalf("missing path: %v", err)
	}
	if _, _, err := ReadSource([]string{Stdin}, nil); !errors.As(err, &ue) {
		t.Fatalf("no standard input: %v", err)
	}
}
