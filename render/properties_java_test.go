package render

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Spark reads -o properties and -o conf with java.util.Properties.load: a
// real JVM reads what render prints back into exactly the properties.
func TestPropertiesReadByJava(t *testing.T) {
	if _, err := exec.LookPath("java"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("java is needed to read properties as Spark does; .ci/run installs it")
		}
		t.Skip("no java on this machine")
	}
	props := map[string]string{
		"spark.mesos.driver.labels":   `note:a\,b,path:c\:d`, // Spark's own label escapes
		"spark.mesos.task.labels":     `team:data`,
		"spark.driverEnv.GREETING":    " leading space, trailing space ",
		"spark.example.hash":          "#not a comment",
		"spark.example.bang":          "!not a comment",
		"spark.example.newline":       "line one\nline two\tand a tab",
		"spark.example.unicode":       "naïve café ✓",
		"spark.example.equals":        "a=b:c",
		"spark.example.backslash.end": `C:\dir\`,
		"spark.example.empty":         "",
	}
	dir := t.TempDir()
	for format, text := range map[string]string{"properties": PropertiesText(props), "conf": DefaultsConf(props)} {
		file := filepath.Join(dir, format)
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("java", "testdata/java/LoadProperties.java", file).CombinedOutput()
		if err != nil {
			t.Fatalf("java: %v\n%s", err, out)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			k, v, _ := strings.Cut(line, " ")
			kb, err1 := base64.StdEncoding.DecodeString(k)
			vb, err2 := base64.StdEncoding.DecodeString(v)
			if err1 != nil || err2 != nil {
				t.Fatalf("java printed %q", line)
			}
			got[string(kb)] = string(vb)
		}
		if diff := cmp.Diff(props, got); diff != "" {
			t.Errorf("-o %s read by java.util.Properties (-want +got):\n%s\n%s", format, diff, text)
		}
	}
}
