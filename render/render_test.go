package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	v1 "github.com/sparkmesos/reconciler/api/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func loadDir(t *testing.T, paths ...string) *v1.Manifests {
	t.Helper()
	var files []v1.File
	for _, pattern := range paths {
		matches, _ := filepath.Glob(pattern)
		for _, p := range matches {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, v1.File{Name: filepath.ToSlash(p), Data: data})
		}
	}
	m, problems := v1.Load(files)
	if err := problems.Err(); err != nil {
		t.Fatalf("load: %v", err)
	}
	return m
}

// TestGolden renders every example manifest and every render test case in
// every format and compares with testdata/golden (go test ./render -update).
func TestGolden(t *testing.T) {
	m := loadDir(t, "../examples/manifests/*.yaml", "testdata/*.yaml")
	if len(m.Objects) < 10 {
		t.Fatalf("only %d objects loaded", len(m.Objects))
	}
	for _, obj := range m.Objects {
		r, err := Object(obj, m, Options{})
		if err != nil {
			t.Fatalf("%s: %v", v1.RefOf(obj), err)
		}
		for _, format := range Formats {
			name := filepath.Join("testdata", "golden", obj.GetKind()+"-"+obj.GetName()+"."+format)
			got, err := r.Format(format)
			if errors.Is(err, ErrNotSubmitted) && format == "request" && obj.GetKind() != v1.KindSparkApplication {
				continue // only applications have a submission request
			}
			if err != nil {
				t.Fatalf("%s %s: %v", v1.RefOf(obj), format, err)
			}
			if format == "request" && !json.Valid(got) {
				t.Errorf("%s -o request is not pure JSON (curl -d @- sends it as is):\n%s", v1.RefOf(obj), got)
			}
			if *update {
				if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(name, got, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(name)
			if err != nil {
				t.Fatalf("%v (run go test ./render -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-golden +got):\n%s", name, diff)
			}
		}
	}
}

// TestSeedPropertiesCovered proves that every property the seeds name is
// produced, under exactly its key, by at least one golden case.
func TestSeedPropertiesCovered(t *testing.T) {
	m := loadDir(t, "../examples/manifests/*.yaml", "testdata/*.yaml")
	produced := map[string]bool{}
	for _, obj := range m.Objects {
		r, err := Object(obj, m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for k := range r.Props {
			produced[k] = true
		}
	}
	seeds := seedProperties(t)
	for _, seed := range seeds {
		key := seed
		if prefix, templated := strings.CutSuffix(key, "[PropertyName]"); templated {
			key = prefix
		} else if i := strings.Index(key, "["); i >= 0 {
			key = key[:i]
		}
		found := produced[key]
		if strings.HasSuffix(key, ".") {
			for k := range produced {
				if strings.HasPrefix(k, key) && len(k) > len(key) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no golden case produces %s", seed)
		}
	}
	n := len(seeds)
	if n < 60 {
		t.Fatalf("read only %d seed properties", n)
	}
}

// seedProperties reads the properties the seeds name: the shared reference
// when it is beside the repository, else the copy kept in testdata.
func seedProperties(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../shared/reference/seed-properties.txt")
	if err != nil {
		f, err = os.Open("../testdata/seed-properties.txt")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// TestSecretCanary renders a manifest full of secrets in every format and
// looks for the secrets' values, which must never appear. The env and file
// sources hold canaries too: rendering must not read them.
func TestSecretCanary(t *testing.T) {
	t.Setenv("CANARY_ENV", "CANARY-FROM-ENV")
	m := loadDir(t, "testdata/secrets-canary.yaml")
	canaries := []string{"CANARY-DRIVER-INLINE", "CANARY-FROM-ENV", "CANARY-FRAMEWORK-SECRET", "CANARY-DISPATCHER-SECRET", "CANARY-FROM-FILE"}
	for _, obj := range m.Objects {
		r, err := Object(obj, m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range Formats {
			out, err := r.Format(format)
			if errors.Is(err, ErrNotSubmitted) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range canaries {
				if strings.Contains(string(out), c) {
					t.Errorf("%s -o %s contains the secret %s", v1.RefOf(obj), format, c)
				}
			}
			if !strings.Contains(string(out), "redacted") && format != "submit" && format != "request" {
				t.Errorf("%s -o %s shows no redaction placeholder", v1.RefOf(obj), format)
			}
		}
	}
	// Resolve puts every value where its placeholder was, and only there.
	app := m.Get(v1.KindSparkApplication, "canary").(*v1.SparkApplication)
	a, err := SparkApplication(app, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A file's trailing newlines are dropped, as the printed command's
	// $(cat FILE) drops them: one rule for what is sent and what is printed.
	req, err := Resolve(a, func(s v1.ValueSource) (string, error) {
		if s.Env != "" {
			return "CANARY-FROM-ENV", nil
		}
		return "CANARY-FROM-FILE\n\n", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"spark.mesos.driver.secret.values": "CANARY-DRIVER-INLINE,CANARY-FROM-ENV,CANARY-FROM-FILE",
		"spark.mesos.secret":               "CANARY-FRAMEWORK-SECRET",
	}
	for k, v := range want {
		if req.SparkProperties[k] != v {
			t.Errorf("resolved %s = %q, want %q", k, req.SparkProperties[k], v)
		}
	}
	if strings.Contains(a.Request.SparkProperties["spark.mesos.secret"], "CANARY") {
		t.Error("Resolve changed the rendered application's own request")
	}
}

func appHash(t *testing.T, yamlText string) string {
	t.Helper()
	m, problems := v1.Load([]v1.File{{Name: "h.yaml", Data: []byte(yamlText)}})
	if err := problems.Err(); err != nil {
		t.Fatal(err)
	}
	a, err := SparkApplication(m.Objects[0].(*v1.SparkApplication), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return a.SpecHash
}

// TestSpecHashInvariant: formatting, key order and unit-equivalent values
// do not change the hash.
func TestSpecHashInvariant(t *testing.T) {
	a := appHash(t, `apiVersion: sparkmesos.io/v1
kind: SparkApplication
metadata: {name: h}
spec:
  dispatcher: {external: {url: "mesos://d:7077"}}
  mainClass: a.Main
  mainApplicationFile: https://r/app.jar
  driver: {memory: 4g, labels: {a: "1", b: "2"}, failoverTimeout: 1min}
  executor:
    maxCores: 4
    constraints: "zone:a,b;rack:1"
    memoryOverhead: 1g
  sparkConf: {spark.x: "1", spark.y: "2"}
`)
	b := appHash(t, `# reformatted, reordered, other units
kind: SparkApplication
apiVersion: sparkmesos.io/v1
spec:
  sparkConf:
    spark.y: "2"
    spark.x: "1"
  executor:
    memoryOverhead: 1024m
    constraints:
      - attribute: zone
        values: [a, b]
      - {attribute: rack, values: ["1"]}
    maxCores: 4
  driver:
    failoverTimeout: 60s
    labels: {b: "2", a: "1"}
    memory: 4096M
  mainApplicationFile: https://r/app.jar
  mainClass: a.Main
  dispatcher:
    external:
      url: mesos://d:7077
metadata:
  name: h
`)
	if a != b {
		t.Errorf("equivalent manifests hash differently: %s vs %s", a, b)
	}
}

// TestSpecHashSensitive: changing any typed field of the example
// applications changes the hash (and so the rendered launch spec).
func TestSpecHashSensitive(t *testing.T) {
	m := loadDir(t, "../examples/manifests/*.yaml")
	checked := 0
	for _, obj := range m.Objects {
		app, ok := obj.(*v1.SparkApplication)
		if !ok {
			continue
		}
		d := m.Dispatcher(app.Spec.Dispatcher.Name)
		base, err := SparkApplication(app, d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range v1.SparkFields(&app.Spec, nil) {
			saved := reflect.New(f.Value.Type()).Elem()
			saved.Set(f.Value)
			if !perturb(f.Value) {
				continue
			}
			changed, err := SparkApplication(app, d, Options{})
			f.Value.Set(saved)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			if changed.SpecHash == base.SpecHash {
				t.Errorf("%s: changing %s (%s) kept the hash", app.Metadata.Name, f.Path, f.Key)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d fields perturbed", checked)
	}
}

// perturb changes a settable value in place; false when it cannot.
func perturb(v reflect.Value) bool {
	if !v.CanSet() {
		return false
	}
	switch x := v.Interface().(type) {
	case v1.ByteSize:
		v.Set(reflect.ValueOf(v1.ByteSize{Bytes: x.Bytes + 1<<20}))
	case v1.Duration:
		v.Set(reflect.ValueOf(v1.Duration{Micros: x.Micros + 1_000_000}))
	case v1.Constraints:
		v.Set(reflect.ValueOf(append(append(v1.Constraints{}, x...), v1.Constraint{Attribute: "extra"})))
	case string:
		if x == "coarse" || x == "fine" {
			v.SetString(map[string]string{"coarse": "fine", "fine": "coarse"}[x])
		} else {
			v.SetString(x + "x")
		}
	case bool:
		v.SetBool(!x)
	case int:
		v.SetInt(int64(x + 1))
	case float64:
		v.SetFloat(x + 0.5)
	case []string:
		v.Set(reflect.ValueOf(append(append([]string{}, x...), "extra")))
	case map[string]string:
		c := map[string]string{"extra": "1"}
		for k, val := range x {
			c[k] = val
		}
		v.Set(reflect.ValueOf(c))
	case []v1.DockerParameter:
		v.Set(reflect.ValueOf(append(append([]v1.DockerParameter{}, x...), v1.DockerParameter{Key: "k", Value: "v"})))
	case []v1.DockerVolume:
		v.Set(reflect.ValueOf(append(append([]v1.DockerVolume{}, x...), v1.DockerVolume{ContainerPath: "/x"})))
	default:
		return false
	}
	return true
}

// A managed dispatcher's framework secret reaches only the launched task.
func TestResolveTaskPlacesSecretsInTheLaunchOnly(t *testing.T) {
	m := loadDir(t, "../examples/manifests/*.yaml")
	d := m.Get(v1.KindDispatcher, "main").(*v1.Dispatcher)
	svc, err := Dispatcher(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	task, err := ResolveTask(svc, func(v1.ValueSource) (string, error) { return "s3cr3t", nil })
	if err != nil {
		t.Fatal(err)
	}
	env := func(ti *mesos.TaskInfo) string {
		for _, v := range ti.Command.Environment.Variables {
			if v.Name == "SPARK_MESOS_SECRET" {
				return v.GetValue()
			}
		}
		return ""
	}
	if got := env(task); got != "s3cr3t" {
		t.Errorf("launched task's SPARK_MESOS_SECRET = %q", got)
	}
	if got := env(svc.Task); got != "<redacted:env:DISPATCHER_MESOS_SECRET>" {
		t.Errorf("rendered task's SPARK_MESOS_SECRET = %q: the rendered task must keep the placeholder", got)
	}
	if _, err := ResolveTask(svc, func(v1.ValueSource) (string, error) { return "", errors.New("unset") }); err == nil || !strings.Contains(err.Error(), "env:DISPATCHER_MESOS_SECRET") {
		t.Errorf("lookup failure: %v", err)
	}
}

// The rendered TaskInfo reads back as the same TaskInfo (it can be sent in
// a Mesos call as printed) and holds no null or empty list, as a master's
// own JSON does not.
func TestRenderedTaskIsMesosJSON(t *testing.T) {
	m := loadDir(t, "../examples/manifests/*.yaml")
	svc, err := ShuffleService(m.Get(v1.KindShuffleService, "shuffle").(*v1.ShuffleService), AgentPlaceholder, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(svc)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Task json.RawMessage `json:"task"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(doc.Task, []byte("null")) || bytes.Contains(doc.Task, []byte("[]")) {
		t.Errorf("rendered task has unset fields: %s", doc.Task)
	}
	var back mesos.TaskInfo
	if err := json.Unmarshal(doc.Task, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(svc.Task) {
		t.Errorf("read back:\n%+v\nwant\n%+v", back, *svc.Task)
	}
}

// An application that names its ShuffleService gets the service's port,
// and so does a schedule's run; without the name, Spark's default stays.
func TestShuffleServicePortReachesItsApplications(t *testing.T) {
	doc := `apiVersion: sparkmesos.io/v1
kind: ShuffleService
metadata: {name: shuffle}
spec: {port: 7447, sparkHome: /opt/spark}
---
apiVersion: sparkmesos.io/v1
kind: SparkApplication
metadata: {name: named}
spec:
  dispatcher: {external: {url: "http://d:7077"}}
  mainClass: a.Main
  mainApplicationFile: https://r/app.jar
  executor: {maxCores: 2}
  shuffleService: {enabled: true, name: shuffle}
---
apiVersion: sparkmesos.io/v1
kind: SparkApplication
metadata: {name: unnamed}
spec:
  dispatcher: {external: {url: "http://d:7077"}}
  mainClass: a.Main
  mainApplicationFile: https://r/app.jar
  executor: {maxCores: 2}
  shuffleService: {enabled: true}
---
apiVersion: sparkmesos.io/v1
kind: ScheduledSparkApplication
metadata: {name: nightly}
spec:
  schedule: "@daily"
  template:
    dispatcher: {external: {url: "http://d:7077"}}
    mainClass: a.Main
    mainApplicationFile: https://r/app.jar
    executor: {maxCores: 2}
    shuffleService: {enabled: true, name: shuffle}
`
	m, ps := v1.Load([]v1.File{{Name: "m.yaml", Data: []byte(doc)}})
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"named": "7447", "unnamed": "", "nightly": "7447"}
	for _, o := range m.Objects {
		w, ok := want[o.GetName()]
		if !ok {
			continue
		}
		r, err := Object(o, m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Props["spark.shuffle.service.port"]; got != w {
			t.Errorf("%s: spark.shuffle.service.port %q, want %q", o.GetName(), got, w)
		}
	}
}

// The driver's task is sized from the submission's own properties
// (MesosRestServer.buildDriverDescription; Spark's MesosClusterSchedulerSuite
// SPARK-22256 for the second overhead), never from the dispatcher's
// driverDefaults, which only reach the driver's --conf, spark.jars
// included (generateCmdOption strips it from the submission only).
func TestDriverSizeFromTheSubmissionOnly(t *testing.T) {
	load := func(doc string) (*v1.SparkApplication, *v1.Dispatcher) {
		m, problems := v1.Load([]v1.File{{Name: "x.yaml", Data: []byte(doc)}})
		if err := problems.Err(); err != nil {
			t.Fatal(err)
		}
		return m.Get(v1.KindSparkApplication, "app").(*v1.SparkApplication), m.Get(v1.KindDispatcher, "d").(*v1.Dispatcher)
	}
	const dispatcher = `apiVersion: sparkmesos.io/v1
kind: Dispatcher
metadata: {name: d}
spec:
  external: {url: "mesos://d:7077"}
  driverDefaults: {spark.driver.memory: 4g, spark.driver.memoryOverhead: "2048", spark.jars: "https://r/extra.jar", spark.executor.memory: 2g}
---
apiVersion: sparkmesos.io/v1
kind: SparkApplication
metadata: {name: app}
spec:
  dispatcher: {name: d}
  mainClass: a.Main
  mainApplicationFile: https://r/app.jar
  executor: {maxCores: 2}
`
	app, d := load(dispatcher)
	a, err := SparkApplication(app, d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 1024 + 384, then + 384: the defaults' 4g and 2048 do not size it.
	if got := a.Effective.Driver; got.HeapMiB != 1024 || got.DriverMemoryArgMiB != 1408 || got.TaskMemMiB != 1792 {
		t.Errorf("driver: %+v, want heap 1024, --driver-memory 1408M, task 1792 MiB", got)
	}
	if a.Effective.DriverConf()["spark.driver.memory"] != "4g" || a.Effective.DriverConf()["spark.jars"] != "https://r/extra.jar" {
		t.Errorf("the driver's conf: %v", a.Effective.DriverConf())
	}
	if ex := a.Effective.Executor; ex.HeapMiB != 2048 {
		t.Errorf("executors are sized by the driver's conf (defaults included): %+v", ex)
	}
	// spark.driver.memoryOverheadFactor: 5000M with 0.2 is 6000M.
	app, d = load(strings.Replace(dispatcher, "  executor: {maxCores: 2}\n", "  executor: {maxCores: 2}\n  sparkConf: {spark.driver.memory: 5000m, spark.driver.memoryOverheadFactor: \"0.2\"}\n", 1))
	if a, err = SparkApplication(app, d, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := a.Effective.Driver.DriverMemoryArgMiB; got != 6000 {
		t.Errorf("--driver-memory with factor 0.2: %d, want 6000", got)
	}
}
