// Package render turns validated manifests into the exact launch specs that
// Spark and Mesos receive: the Spark properties, the dispatcher's REST
// CreateSubmissionRequest, the equivalent spark-submit command, a
// spark-defaults.conf, the effective driver configuration after the
// dispatcher's driverDefaults, and the Mesos TaskInfo of long-running tasks.
//
// Everything here is pure: no I/O, no environment, no clock, no globals.
// Secrets are never resolved here. Where a secret goes, the output holds a
// placeholder naming its source (<redacted:env:NAME>, <redacted:file:PATH>,
// <redacted:inline>) and Secrets lists where each one goes, so that only the
// executor that really submits resolves them (see Resolve).
package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/internal/strs"
)

// Ownership label keys carried by every driver and executor task the
// reconciler submits, so that they can be found again without the store.
const (
	LabelOwner    = "sparkmesos.io/owner"
	LabelKind     = "sparkmesos.io/kind"
	LabelName     = "sparkmesos.io/name"
	LabelSpecHash = "sparkmesos.io/spec-hash"
	// LabelComponent tells a driver task (driver) from an executor task
	// (executor): both carry the other ownership labels.
	LabelComponent = "sparkmesos.io/component"
	// LabelIntent names the store intent a driver was submitted under, so
	// that a submission whose result was not recorded is found again.
	LabelIntent = "sparkmesos.io/intent"
	// LabelSchedule and LabelScheduledTime mark a run of a
	// ScheduledSparkApplication: the schedule's name and the time the run
	// is for (20261201T020000Z), so that a run is found again without the
	// store and a scheduled time never gets a second one.
	LabelSchedule      = "sparkmesos.io/schedule"
	LabelScheduledTime = "sparkmesos.io/scheduled-time"
)

// ScheduledTimeLayout formats LabelScheduledTime.
const ScheduledTimeLayout = "20060102T150405Z"

// DefaultOwner identifies this reconciler in ownership labels unless the
// operator configures another owner (one per reconciler instance).
const DefaultOwner = "spark-reconciler"

// Options are the inputs of rendering beyond the manifests.
type Options struct {
	// Owner is written into the ownership labels. Default: DefaultOwner.
	Owner string
	// ShufflePorts are the ports the loaded ShuffleServices declare, by
	// name: an application that names its shuffle service
	// (shuffleService.name) gets its port as spark.shuffle.service.port,
	// or its executors would look for the service on Spark's 7337.
	ShufflePorts map[string]int
	// Strings, when set, holds the strings rendered applications repeat
	// (their dispatcher's URLs), for a caller that keeps many.
	Strings *strs.Pool
}

// ShufflePortsOf lists the ports the manifests' ShuffleServices declare.
func ShufflePortsOf(m *v1.Manifests) map[string]int {
	out := map[string]int{}
	for _, o := range m.Objects {
		if ss, ok := o.(*v1.ShuffleService); ok && ss.Spec.Port != nil {
			out[ss.Metadata.Name] = *ss.Spec.Port
		}
	}
	return out
}

func (o Options) owner() string {
	if o.Owner == "" {
		return DefaultOwner
	}
	return o.Owner
}

// CreateSubmissionRequest is Spark's REST submission request, with fields in
// the alphabetical order Spark's Jackson mapper writes them.
type CreateSubmissionRequest struct {
	Action               string            `json:"action"`
	AppArgs              []string          `json:"appArgs"`
	AppResource          string            `json:"appResource"`
	ClientSparkVersion   string            `json:"clientSparkVersion"`
	EnvironmentVariables map[string]string `json:"environmentVariables"`
	MainClass            string            `json:"mainClass"`
	SparkProperties      map[string]string `json:"sparkProperties"`
}

// SecretRef says where a secret goes in a rendered spec: the property and the
// position in its comma-separated list, and where the value comes from.
type SecretRef struct {
	Property string          `json:"property"`
	Index    int             `json:"index"`
	Source   string          `json:"source"` // inline, env:NAME or file:PATH
	From     *v1.ValueSource `json:"-"`
	Inline   bool            `json:"-"`
	inline   string
}

// Placeholder is what stands in the rendered output for the secret.
func (s SecretRef) Placeholder() string { return "<redacted:" + s.Source + ">" }

// Application is everything a SparkApplication renders to.
type Application struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// SpecHash identifies the launch spec; it changes when anything sent
	// changes and only then.
	SpecHash string `json:"specHash"`
	// DispatcherURL is the REST server's base URL; SubmitURL is where the
	// request is POSTed.
	DispatcherURL string                  `json:"dispatcherURL"`
	SubmitURL     string                  `json:"submitURL"`
	Request       CreateSubmissionRequest `json:"request"`
	// Secrets lists the placeholders in Request and where their values come from.
	Secrets []SecretRef `json:"secrets,omitempty"`
	// Effective is what Spark will do with the request.
	Effective Effective `json:"effective"`
	// HistoryServerURL is the dispatcher's history server, where each
	// driver's application is found by its framework id.
	HistoryServerURL string `json:"historyServerURL,omitempty"`
}

// Effective is what the dispatcher and Spark will do with a submission: the
// driver's configuration after the dispatcher's driverDefaults are folded
// in, and the resources Spark's defaults lead to.
type Effective struct {
	// props and defaults are the submission's properties and the
	// dispatcher's driverDefaults (nil when unknown): DriverConf is made
	// from them.
	props, defaults map[string]string
	// FromDriverDefaults lists the keys of DriverConf that came from the
	// dispatcher's driverDefaults.
	FromDriverDefaults []string `json:"fromDriverDefaults,omitempty"`
	// DriverDefaultsKnown is false when the dispatcher is external and its
	// driverDefaults are unknown.
	DriverDefaultsKnown bool      `json:"driverDefaultsKnown"`
	Driver              Resources `json:"driver"`
	Executor            Executors `json:"executor"`
	// Reject-offer durations in effect.
	RejectOfferDuration                 string `json:"rejectOfferDuration"`
	RejectOfferDurationUnmetConstraints string `json:"rejectOfferDurationForUnmetConstraints"`
	RejectOfferDurationReachedMaxCores  string `json:"rejectOfferDurationForReachedMaxCores"`
}

// Resources are the driver task's resources.
type Resources struct {
	Cores float64 `json:"cores"`
	// HeapMiB is spark.driver.memory; DriverMemoryArgMiB is the
	// --driver-memory the dispatcher passes (heap plus a first overhead), and
	// TaskMemMiB the Mesos task's mem (that plus a second overhead).
	HeapMiB            int64 `json:"heapMiB"`
	DriverMemoryArgMiB int64 `json:"driverMemoryArgMiB"`
	TaskMemMiB         int64 `json:"taskMemMiB"`
}

// Executors are the executors' resources.
type Executors struct {
	// CoresEach is 0 when spark.executor.cores is unset: each executor then
	// takes all the cores of its offer.
	CoresEach  int   `json:"coresEach"`
	HeapMiB    int64 `json:"heapMiB"`
	TaskMemMiB int64 `json:"taskMemMiB"`
	// MaxCores is spark.cores.max rounded down to a multiple of CoresEach; 0
	// means unbounded.
	MaxCores int `json:"maxCores"`
	// Count is MaxCores / CoresEach when both are known; 0 when unknown.
	Count int `json:"count"`
	// Dynamic is true with dynamic allocation: Count is then an upper bound.
	Dynamic bool `json:"dynamic,omitempty"`
}

// Spark's defaults, as the Mesos backend applies them.
const (
	defaultMemMiB        = 1024
	minOverheadMiB       = 384
	overheadFactor       = 0.10
	defaultRejectSeconds = "120s"
)

// SparkApplication renders one application. d is its Dispatcher when the
// application names one (nil for an external dispatcher).
func SparkApplication(app *v1.SparkApplication, d *v1.Dispatcher, opts Options) (*Application, error) {
	spec := &app.Spec
	base, err := dispatcherBase(spec, d)
	if err != nil {
		return nil, err
	}
	props, secrets := SparkProperties(spec, p("spec"))
	dispatcherURL := opts.Strings.Intern(base.String())
	props["spark.master"] = opts.Strings.Intern("mesos://" + base.Host)
	props["spark.submit.deployMode"] = "cluster"
	if spec.AppName == "" {
		props["spark.app.name"] = app.Metadata.Name
	}
	if ss := spec.ShuffleService; ss != nil && ss.Enabled && ss.Name != "" {
		if port, ok := opts.ShufflePorts[ss.Name]; ok {
			if _, set := props["spark.shuffle.service.port"]; !set {
				props["spark.shuffle.service.port"] = strconv.Itoa(port)
			}
		}
	}
	if spec.Role == "" && d != nil {
		if q := d.Spec.QueueByName(spec.Queue); q != nil && q.Role != "" {
			props["spark.mesos.role"] = q.Role // the queue maps to a weighted role
		}
	}
	mainClass := spec.MainClass
	if spec.Type == "Python" || spec.Type == "R" {
		mainClass = "" // as spark-submit sends for Python and R in Mesos cluster mode
	}
	version := spec.SparkVersion
	if version == "" {
		version = v1.DefaultSparkVersion
	}
	req := CreateSubmissionRequest{
		Action:               "CreateSubmissionRequest",
		AppArgs:              append([]string{}, spec.Arguments...),
		AppResource:          spec.MainApplicationFile,
		ClientSparkVersion:   version,
		EnvironmentVariables: map[string]string{},
		MainClass:            mainClass,
		SparkProperties:      props,
	}
	own := map[string]string{LabelOwner: opts.owner(), LabelKind: v1.KindSparkApplication, LabelName: app.Metadata.Name}
	hash := specHash(dispatcherURL, req)
	own[LabelSpecHash] = hash
	own[LabelComponent] = "driver"
	props["spark.mesos.driver.labels"] = v1.FormatLabels(merge(spec.Driver.Labels, own))
	own[LabelComponent] = "executor"
	props["spark.mesos.task.labels"] = v1.FormatLabels(merge(spec.Executor.Labels, own))

	out := &Application{
		Kind:          v1.KindSparkApplication,
		Name:          app.Metadata.Name,
		SpecHash:      hash,
		DispatcherURL: dispatcherURL,
		SubmitURL:     opts.Strings.Intern(dispatcherURL + "/v1/submissions/create"),
		Request:       req,
		Secrets:       secrets,
	}
	out.Effective = effective(props, d)
	if d != nil {
		out.HistoryServerURL = d.Spec.HistoryServerURL
	}
	return out, nil
}

func p(names ...string) v1.Path {
	var out v1.Path
	for _, n := range names {
		out = out.Field(n)
	}
	return out
}

func dispatcherBase(spec *v1.SparkApplicationSpec, d *v1.Dispatcher) (*url.URL, error) {
	switch {
	case spec.Dispatcher.External != nil:
		return v1.DispatcherURL(spec.Dispatcher.External.URL)
	case d == nil:
		return nil, fmt.Errorf("dispatcher %q is not loaded", spec.Dispatcher.Name)
	case d.Spec.External != nil:
		return v1.DispatcherURL(d.Spec.External.URL)
	default:
		return ManagedDispatcherURL(d), nil
	}
}

// ManagedDispatcherURL is where a managed dispatcher's REST server is reached
// before its task is observed: its Mesos-DNS style name and port. The control
// loop replaces it by the address of the running task.
func ManagedDispatcherURL(d *v1.Dispatcher) *url.URL {
	port := 7077
	if d.Spec.Managed != nil && d.Spec.Managed.Port != nil {
		port = *d.Spec.Managed.Port
	}
	return &url.URL{Scheme: "http", Host: fmt.Sprintf("%s.dispatcher:%d", d.Metadata.Name, port)}
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// specHash hashes the canonical launch spec: the target and the request as
// rendered (placeholders included, so a changed secret source changes it, a
// changed secret value does not), before ownership labels are added.
// Rendering is canonical (sizes in their largest exact unit, maps sorted,
// constraints and labels in one grammar), so reformatting the manifest
// does not change the hash.
func specHash(target string, req CreateSubmissionRequest) string {
	return specHashAny(struct {
		Target  string                  `json:"target"`
		Request CreateSubmissionRequest `json:"request"`
	}{target, req})
}

// specHashAny hashes v's JSON encoding, which is canonical for the values
// render produces (struct fields in order, map keys sorted).
func specHashAny(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("render: spec hash of an unencodable value: %v", err)) // a programming error
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:10])
}

// SparkProperties renders the Spark properties that a spec's typed fields
// and sparkConf set, and the secrets among them. spec is a
// *v1.SparkApplicationSpec, *v1.DispatcherSpec or *v1.ShuffleServiceSpec.
func SparkProperties(spec any, base v1.Path) (map[string]string, []SecretRef) {
	props := map[string]string{}
	var secrets []SecretRef
	for _, f := range v1.SparkFields(spec, base) {
		val, refs := formatField(f)
		props[f.Key] = val
		secrets = append(secrets, refs...)
	}
	conf := reflect.ValueOf(spec).Elem().FieldByName("SparkConf")
	if conf.IsValid() {
		for k, v := range conf.Interface().(map[string]string) {
			props[k] = v
		}
	}
	sort.Slice(secrets, func(i, j int) bool {
		if secrets[i].Property != secrets[j].Property {
			return secrets[i].Property < secrets[j].Property
		}
		return secrets[i].Index < secrets[j].Index
	})
	return props, secrets
}

func formatField(f v1.SparkField) (string, []SecretRef) {
	switch x := f.Value.Interface().(type) {
	case []v1.Secret:
		return formatSecrets(f.Key, f.Part, x)
	case v1.CredentialSource:
		if x.ValueFrom != nil || strings.HasSuffix(f.Key, ".secret") {
			ref := credentialRef(f.Key, x)
			return ref.Placeholder(), []SecretRef{ref}
		}
		return x.Value, nil
	}
	if f.Key == "spark.mesos.coarse" {
		return strconv.FormatBool(f.Value.String() != "fine"), nil
	}
	return formatValue(f.Value, f.Unit), nil
}

func credentialRef(key string, c v1.CredentialSource) SecretRef {
	ref := SecretRef{Property: key, From: c.ValueFrom}
	switch {
	case c.ValueFrom != nil:
		ref.Source = c.ValueFrom.Describe()
	default:
		ref.Source, ref.Inline, ref.inline = "inline", true, c.Value
	}
	return ref
}

func formatSecrets(key, part string, list []v1.Secret) (string, []SecretRef) {
	items := make([]string, len(list))
	var refs []SecretRef
	for i, s := range list {
		switch part {
		case "names":
			items[i] = s.Name
		case "envkeys":
			items[i] = s.EnvKey
		case "filenames":
			items[i] = s.FileName
		case "values":
			ref := credentialRef(key, v1.CredentialSource{Value: s.Value, ValueFrom: s.ValueFrom})
			ref.Index = i
			items[i] = ref.Placeholder()
			refs = append(refs, ref)
		}
	}
	return strings.Join(items, ","), refs
}

func formatValue(v reflect.Value, unit string) string {
	switch x := v.Interface().(type) {
	case v1.ByteSize:
		if unit == "mib" {
			return strconv.FormatInt(x.MiB(), 10)
		}
		return x.String()
	case v1.Duration:
		if unit == "seconds" {
			return formatFloat(x.Seconds())
		}
		return x.String()
	case v1.Constraints:
		return x.String()
	case map[string]string:
		return v1.FormatLabels(x)
	case []string:
		return strings.Join(x, ",")
	case []v1.DockerParameter:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = p.Key + "=" + p.Value
		}
		return strings.Join(parts, ",")
	case []v1.DockerVolume:
		parts := make([]string, len(x))
		for i, vol := range x {
			parts[i] = vol.String()
		}
		return strings.Join(parts, ",")
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return formatFloat(x)
	}
	return fmt.Sprint(v.Interface())
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// stripped are the properties the dispatcher removes from the
// submission's conf before passing it to the driver (generateCmdOption's
// replicatedOptionsBlacklist); the driverDefaults are passed whole.
var stripped = map[string]bool{"spark.jars": true, "spark.master": true, "spark.submit.deployMode": true}

func effective(props map[string]string, d *v1.Dispatcher) Effective {
	e := Effective{props: props, DriverDefaultsKnown: d != nil}
	if d != nil {
		e.defaults = d.Spec.DriverDefaults
		for k := range d.Spec.DriverDefaults {
			if _, set := props[k]; !set || stripped[k] {
				e.FromDriverDefaults = append(e.FromDriverDefaults, k)
			}
		}
		sort.Strings(e.FromDriverDefaults)
	}
	mib := func(conf func(string) (string, bool), key string) int64 {
		if s, ok := conf(key); ok {
			if b, err := v1.ParseByteSize(s); err == nil {
				return b.MiB()
			}
		}
		return defaultMemMiB
	}
	overhead := func(conf func(string) (string, bool), key string, mem int64, factor float64) int64 {
		if s, ok := conf(key); ok {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
		}
		return max(int64(factor*float64(mem)), minOverheadMiB)
	}
	submitted := func(k string) (string, bool) { v, ok := props[k]; return v, ok }
	// The driver's task is sized from the submission's own properties
	// (MesosRestServer.buildDriverDescription; the driverDefaults reach
	// only the driver's --conf): spark.driver.memory plus its overhead
	// (spark.driver.memoryOverhead, else spark.driver.memoryOverheadFactor
	// of it, at least 384) is --driver-memory; spark.mesos.driver.memoryOverhead
	// (else 10% of that, at least 384) is added for the task.
	cores := 1.0
	if s, ok := props["spark.driver.cores"]; ok {
		cores, _ = strconv.ParseFloat(s, 64)
	}
	factor := overheadFactor
	if s, ok := props["spark.driver.memoryOverheadFactor"]; ok {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			factor = f
		}
	}
	heap := mib(submitted, "spark.driver.memory")
	arg := heap + overhead(submitted, "spark.driver.memoryOverhead", heap, factor)
	e.Driver = Resources{Cores: cores, HeapMiB: heap, DriverMemoryArgMiB: arg, TaskMemMiB: arg + overhead(submitted, "spark.mesos.driver.memoryOverhead", arg, overheadFactor)}

	// Executors are sized by the driver, from the conf it starts with.
	conf := e.conf
	get := func(k string) string { v, _ := conf(k); return v }
	ex := Executors{HeapMiB: mib(conf, "spark.executor.memory")}
	ex.TaskMemMiB = ex.HeapMiB + overhead(conf, "spark.mesos.executor.memoryOverhead", ex.HeapMiB, overheadFactor)
	ex.CoresEach, _ = strconv.Atoi(get("spark.executor.cores"))
	ex.MaxCores, _ = strconv.Atoi(get("spark.cores.max"))
	if ex.CoresEach > 0 && ex.MaxCores > 0 {
		ex.MaxCores -= ex.MaxCores % ex.CoresEach
		ex.Count = ex.MaxCores / ex.CoresEach
	}
	ex.Dynamic = get("spark.dynamicAllocation.enabled") == "true"
	e.Executor = ex

	e.RejectOfferDuration = orDefault(get("spark.mesos.rejectOfferDuration"), defaultRejectSeconds)
	e.RejectOfferDurationUnmetConstraints = orDefault(get("spark.mesos.rejectOfferDurationForUnmetConstraints"), e.RejectOfferDuration)
	e.RejectOfferDurationReachedMaxCores = orDefault(get("spark.mesos.rejectOfferDurationForReachedMaxCores"), e.RejectOfferDuration)
	return e
}

// conf is one property of the configuration the driver starts with: the
// submission's, unless the dispatcher strips it, else the driverDefaults'.
func (e *Effective) conf(k string) (string, bool) {
	if !stripped[k] {
		if v, ok := e.props[k]; ok {
			return v, true
		}
	}
	v, ok := e.defaults[k]
	return v, ok
}

// DriverConf is the configuration the driver starts with: the
// dispatcher's driverDefaults overridden by the submission, minus what the
// dispatcher strips (spark.jars, spark.master, spark.submit.deployMode).
// It is made when asked for (render's output): a desired application
// keeps only the maps it was rendered from.
func (e *Effective) DriverConf() map[string]string {
	out := make(map[string]string, len(e.props)+len(e.defaults))
	for k := range e.defaults {
		out[k], _ = e.conf(k)
	}
	for k := range e.props {
		if v, ok := e.conf(k); ok {
			out[k] = v
		}
	}
	return out
}

// MarshalJSON writes DriverConf first, then the other fields. It escapes
// no HTML: the encoder that called it escapes as it was told to.
func (e Effective) MarshalJSON() ([]byte, error) {
	type fields Effective // without this method
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		DriverConf map[string]string `json:"driverConf"`
		fields
	}{e.DriverConf(), fields(e)})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
