// Package depcheck holds the test that keeps imports pointing the way
// DESIGN.md says: each layer imports only layers below it, and each
// third-party dependency stays inside the package that owns it.
package depcheck

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sparkmesos/reconciler"

// layers lists the project's packages from the top down. A package may import
// project packages of later entries only. Prefix matches: "store" covers
// store/zk too.
var layers = []string{
	"cmd",
	"e2e",
	"web",
	"reconcile",
	"notify",
	"source",
	"mesos",
	"dispatcher",
	"store",
	"render",
	"schemas",
	"api/v1",
	"internal/benchdata",
	"internal/gittest",
	"internal/strs",
}

// isolated packages may import no other project package: the simulator is a
// test double of Mesos and Spark and must not borrow product logic.
// cmd/mesos-sim, its command, may import the simulator and nothing else.
var isolated = []string{"sim", "internal/depcheck"}

// thirdParty says which project packages may import a third-party module.
var thirdParty = map[string][]string{
	"go.yaml.in/yaml/v3":                    {"api/v1"},
	"github.com/hashicorp/go-multierror":    {"api/v1"},
	"github.com/robfig/cron/v3":             {"api/v1"}, // parses schedules; their times are computed in api/v1
	"github.com/spf13/cobra":                {"cmd"},
	"github.com/spf13/pflag":                {"cmd"},
	"sigs.k8s.io/yaml":                      {"render", "cmd"},
	"github.com/invopop/jsonschema":         {"schemas"},
	"github.com/santhosh-tekuri/jsonschema": {"schemas"},
	"github.com/fsnotify/fsnotify":          {"source"},
	"github.com/go-git/go-git":              {"source/git"},
	"golang.org/x/crypto/ssh":               {"source/git"}, // known_hosts checking for go-git
	"github.com/go-zookeeper/zk":            {"store", "mesos", "sim"},
	"go.etcd.io/bbolt":                      {"store"},
	"github.com/prometheus/client_golang":   {"reconcile", "cmd"},
	// mesos-go: its protobuf types are what render produces (TaskInfo) and
	// what sim speaks; its HTTP client and scheduler only mesos/ uses.
	"github.com/mesos/mesos-go/api/v1/lib": {"mesos", "render", "sim"},
	"github.com/mesos/mesos-go":            {"mesos", "sim"},
	"github.com/gogo/protobuf":             {"mesos", "render", "sim"},
	// chromedp drives Debian's chromium in the status page's browser test.
	"github.com/chromedp": {"e2e"},
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
}

func under(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

func layerOf(p string) int {
	for i, l := range layers {
		if under(p, l) {
			return i
		}
	}
	return -1
}

func isIsolated(p string) bool {
	for _, s := range isolated {
		if under(p, s) {
			return true
		}
	}
	return false
}

func TestImportDirection(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 3 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		from := rel(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := rel(imp)
			switch {
			case under(from, "cmd/mesos-sim"):
				if !under(to, "sim") {
					t.Errorf("cmd/mesos-sim imports %s: it may import only sim", to)
				}
			case isIsolated(from):
				t.Errorf("%s imports %s: %s may not import project packages", from, to, from)
			case isIsolated(to) && !under(from, "e2e") && !under(from, "cmd/mesos-sim"):
				t.Errorf("%s imports %s: only tests (e2e) and cmd/mesos-sim may use the simulator", from, to)
			case isIsolated(to):
			case layerOf(from) < 0:
				t.Errorf("%s is not in the layer table of this test: add it where DESIGN.md puts it", from)
			case layerOf(to) < 0:
				t.Errorf("%s imports %s, which is not in the layer table", from, to)
			case layerOf(to) <= layerOf(from) && layers[layerOf(to)] != layers[layerOf(from)]:
				t.Errorf("%s imports %s: imports must point down the layers of DESIGN.md", from, to)
			}
		}
	}
}

func TestThirdPartyConfinement(t *testing.T) {
	for _, p := range listPackages(t) {
		from := rel(p.ImportPath)
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") || !strings.Contains(strings.Split(imp, "/")[0], ".") {
				continue // the project's own, or the standard library
			}
			allowed, known := allowedFor(imp)
			if !known {
				t.Errorf("%s imports %s, which no rule of this test covers: say which package owns it", from, imp)
				continue
			}
			ok := false
			for _, a := range allowed {
				if under(from, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s; only %s may", from, imp, strings.Join(allowed, ", "))
			}
		}
	}
}

// allowedFor finds the most specific rule for an import path.
func allowedFor(imp string) ([]string, bool) {
	best := ""
	for prefix := range thirdParty {
		if under(imp, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return nil, false
	}
	return thirdParty[best], true
}
