package v1

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the # want: lines of testdata/invalid-*.yaml from what the loader reports")

// formatProblems renders problems as "line:col: path: message" without the
// file name, the form the # want: lines of testdata use.
func formatProblems(ps Problems) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		s := strings.TrimPrefix(p.Error(), p.Pos.File+":")
		out = append(out, s)
	}
	return out
}

func readCase(t *testing.T, path string) (File, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range strings.Split(string(data), "\n") {
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			want = append(want, w)
		}
	}
	return File{Name: filepath.Base(path), Data: data}, want
}

// TestInvalidCases loads each testdata/invalid-*.yaml and compares every
// problem, position included, with the file's # want: lines.
func TestInvalidCases(t *testing.T) {
	t.Parallel()
	paths, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(paths) < 10 {
		t.Fatalf("expected the invalid cases in testdata, found %d", len(paths))
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			f, want := readCase(t, path)
			_, problems := Load([]File{f})
			got := formatProblems(problems)
			if *update {
				rewriteWant(t, path, got)
				return
			}
			if len(want) == 0 {
				t.Fatal("an invalid case needs # want: lines")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if problems.Err() == nil && len(problems.Errors()) > 0 {
				t.Error("Err() is nil although there are errors")
			}
		})
	}
}

// TestValidCases loads each testdata/valid-* file and the examples, which
// must load without errors.
func TestValidCases(t *testing.T) {
	t.Parallel()
	paths, _ := filepath.Glob("testdata/valid-*")
	examples, _ := filepath.Glob("../../examples/manifests/*.yaml")
	demo, _ := filepath.Glob("../../examples/demo/*.yaml")
	examples = append(examples, demo...)
	paths = append(paths, examples...)
	if len(examples) < 5 {
		t.Fatalf("expected the example manifests, found %d", len(examples))
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			f, _ := readCase(t, path)
			m, problems := Load([]File{f})
			if strings.Contains(path, "examples") && !strings.HasSuffix(path, "dispatcher.yaml") {
				// Examples reference the dispatcher in their directory's dispatcher.yaml: load it alongside.
				d, _ := readCase(t, filepath.Join(filepath.Dir(path), "dispatcher.yaml"))
				m, problems = Load([]File{f, d})
			}
			if err := problems.Err(); err != nil {
				t.Fatalf("unexpected errors:\n%v", err)
			}
			if len(m.Objects) == 0 {
				t.Fatal("no objects loaded")
			}
		})
	}
}

func TestMergeKeysExplicitWins(t *testing.T) {
	t.Parallel()
	f, _ := readCase(t, "testdata/valid-merge-keys.yaml")
	m, problems := Load([]File{f})
	if err := problems.Err(); err != nil {
		t.Fatal(err)
	}
	app := m.Get(KindSparkApplication, "merged").(*SparkApplication)
	if got := *app.Spec.Executor.Cores; got != 2 {
		t.Errorf("executor.cores = %d, want the explicit 2 over the merged 1", got)
	}
	if got := app.Spec.Executor.Memory.String(); got != "2g" {
		t.Errorf("executor.memory = %s, want 2g merged from the driver", got)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	f, _ := readCase(t, "testdata/valid-json.json")
	m, problems := Load([]File{f})
	if err := problems.Err(); err != nil {
		t.Fatal(err)
	}
	app := m.Get(KindSparkApplication, "from-json").(*SparkApplication)
	got := []string{app.Spec.AppName, app.Spec.SparkVersion, app.Spec.Type, app.Spec.RestartPolicy.Type, app.Spec.ChangePolicy}
	want := []string{"from-json", DefaultSparkVersion, "Scala", RestartNever, ChangeRestart}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if app.Spec.Driver.Memory != nil {
		t.Error("Spark's own defaults must not be filled in: driverDefaults of the dispatcher would be overridden")
	}
}

// TestHostileInput feeds inputs that break naive parsers; each must give a
// clean error, never a panic or a hang (the test's own timeout bounds it).
func TestHostileInput(t *testing.T) {
	t.Parallel()
	// A billion-laughs bomb through merge keys, which expand mappings: each
	// level merges ten copies of the previous one.
	var bomb strings.Builder
	bomb.WriteString("apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: bomb}\nspec:\n  sparkConf:\n    l0: &l0 {spark.a: b, spark.c: d}\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&bomb, "    l%d: &l%d {<<: [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]}\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	fmt.Fprintf(&bomb, "    <<: *l11\n")
	cases := map[string]struct {
		data string
		want string
	}{
		"alias bomb":   {bomb.String(), "expands to more than"},
		"deep lists":   {strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "exceeded max depth"},
		"deep maps":    {strings.Repeat("{a: ", 20000) + "1" + strings.Repeat("}", 20000), "exceeded max depth"},
		"binary":       {"\x00\x01\x02\xff garbage", "NUL bytes"},
		"invalid utf8": {"apiVersion: sparkmesos.io/v1\nkind: \xff\xfe\n", "not valid UTF-8"},
		"huge":         {strings.Repeat("#", MaxFileSize+1), "limited to 8 MiB"},
		"tabs":         {"a:\n\tb: 1\n", "not valid YAML"},
		"scalar doc":   {"just a string", "must be a mapping"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, problems := Load([]File{{Name: "hostile.yaml", Data: []byte(c.data)}})
			err := problems.Err()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func rewriteWant(t *testing.T, path string, got []string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var body []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "# want: ") {
			body = append(body, line)
		}
	}
	for len(body) > 0 && body[len(body)-1] == "" {
		body = body[:len(body)-1]
	}
	for _, g := range got {
		body = append(body, "# want: "+g)
	}
	if err := os.WriteFile(path, []byte(strings.Join(body, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
