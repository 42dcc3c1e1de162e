package v1

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// DefaultSparkVersion is sent as clientSparkVersion when a spec names none.
const DefaultSparkVersion = "3.4.1"

// Manifests is a set of objects loaded and validated together. Only objects
// without errors are in it.
type Manifests struct {
	Objects []Object
	index   map[Ref]Object
}

// Get returns the object of a kind and name, or nil.
func (m *Manifests) Get(kind, name string) Object {
	if m == nil {
		return nil
	}
	return m.index[Ref{Kind: kind, Name: name}]
}

// Dispatcher returns the named Dispatcher, or nil.
func (m *Manifests) Dispatcher(name string) *Dispatcher {
	d, _ := m.Get(KindDispatcher, name).(*Dispatcher)
	return d
}

// Load decodes every file, validates every object and the references between
// them, and applies defaults to the valid ones. It returns the valid objects
// and every problem found, errors and warnings, sorted by position. An object
// with an error is left out of the result, never half-loaded.
//
// Each object is checked as soon as its file is decoded, and its YAML tree
// is then released (keeping the few positions the checks between objects
// need), so that loading many files does not hold every tree at once.
func Load(files []File) (*Manifests, Problems) {
	var all []Object
	var problems Problems
	own := map[Object]int{} // errors of an object's own checks
	for _, f := range files {
		objs, ps := Decode(f)
		problems = append(problems, ps...)
		for _, o := range objs {
			ops := checkObject(o)
			own[o] = len(ops.Errors())
			problems = append(problems, ops...)
			o.Origin().release()
		}
		all = append(all, objs...)
	}
	setProblems := checkSet(all)
	problems = append(problems, setProblems...)
	bad := map[Object]bool{}
	for _, o := range all {
		if own[o] > 0 || o.Origin().Broken() {
			bad[o] = true
		}
	}
	for _, p := range setProblems.Errors() {
		bad[p.object] = true
	}
	var valid []Object
	for _, o := range all {
		if !bad[o] {
			Default(o)
			valid = append(valid, o)
		}
	}
	m := &Manifests{Objects: valid, index: make(map[Ref]Object, len(valid))}
	for _, o := range valid {
		m.index[RefOf(o)] = o
	}
	problems.Sort()
	return m, problems
}

// Validate checks each object and the references between them. It returns the
// objects that have no errors (warnings are fine) and all problems.
func Validate(objs []Object) ([]Object, Problems) {
	var problems Problems
	bad := map[Object]bool{}
	for _, o := range objs {
		ps := checkObject(o)
		if len(ps.Errors()) > 0 || o.Origin().Broken() {
			bad[o] = true
		}
		problems = append(problems, ps...)
	}
	setProblems := checkSet(objs)
	for _, p := range setProblems.Errors() {
		bad[p.object] = true
	}
	problems = append(problems, setProblems...)
	var valid []Object
	for _, o := range objs {
		if !bad[o] {
			valid = append(valid, o)
		}
	}
	return valid, problems
}

// checkObject applies an object's own rules; problems about a field that
// failed to decode are left out (the decode error says it already).
func checkObject(o Object) Problems {
	var ps Problems
	validateObject(o, sinkFor(o, &ps))
	return dropBroken(o, ps)
}

// checkSet applies the rules between objects: unique names per kind, and
// references (dispatcher, queue, shuffle service).
func checkSet(objs []Object) Problems {
	var out Problems
	add := func(o Object, ps Problems) {
		for _, p := range dropBroken(o, ps) {
			p.object = o
			out = append(out, p)
		}
	}
	first := map[Ref]Object{}
	for _, o := range objs {
		ref := RefOf(o)
		prev, dup := first[ref]
		if !dup || ref.Name == "" {
			first[ref] = o
			continue
		}
		var ps Problems
		sinkFor(o, &ps).errorf(Path{}.Field("metadata").Field("name"), "%s %q is defined twice; the first is at %s",
			ref.Kind, ref.Name, prev.Origin().Position(Path{}.Field("metadata").Field("name")))
		add(o, ps)
	}
	roles := map[string]bool{}
	for _, o := range objs {
		if r, ok := o.(*MesosRole); ok {
			roles[r.RoleName()] = true
		}
	}
	for _, o := range objs {
		var ps Problems
		validateRefs(o, first, roles, sinkFor(o, &ps))
		add(o, ps)
	}
	return out
}

func dropBroken(o Object, ps Problems) Problems {
	origin := o.Origin()
	var out Problems
	for _, p := range ps {
		if !origin.overlapsBroken(p.Path) {
			out = append(out, p)
		}
	}
	return out
}

func sinkFor(o Object, out *Problems) problemSink {
	origin := o.Origin()
	return problemSink{out: out, locate: origin.Position}
}

// Default fills the reconciler's own defaults into a valid object. Spark's
// defaults (driver memory, overheads, ...) are not filled in: a submission
// that does not set a property lets the dispatcher's driverDefaults apply.
func Default(o Object) {
	switch x := o.(type) {
	case *SparkApplication:
		s := &x.Spec
		if s.AppName == "" {
			s.AppName = x.Metadata.Name
		}
		if s.SparkVersion == "" {
			s.SparkVersion = DefaultSparkVersion
		}
		if s.Type == "" {
			s.Type = "Scala"
		}
		if s.RestartPolicy.Type == "" {
			s.RestartPolicy.Type = RestartNever
		}
		if s.ChangePolicy == "" {
			s.ChangePolicy = ChangeRestart
		}
	case *MesosRole:
		if x.Spec.Role == "" {
			x.Spec.Role = x.Metadata.Name
		}
	}
}

// RoleName returns the Mesos role name of a MesosRole.
func (r *MesosRole) RoleName() string {
	if r.Spec.Role != "" {
		return r.Spec.Role
	}
	return r.Metadata.Name
}

var (
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	queueName  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)
	hostPort   = regexp.MustCompile(`^[A-Za-z0-9.-]+:[0-9]{1,5}$`)
	sparkKeyRE = regexp.MustCompile(`^[A-Za-z0-9_.\-\[\]]+$`)
)

// uriSchemes are the schemes Spark and the Mesos fetcher can fetch.
var uriSchemes = map[string]bool{
	"http": true, "https": true, "ftp": true, "ftps": true, "hdfs": true, "viewfs": true, "webhdfs": true,
	"s3": true, "s3a": true, "s3n": true, "gs": true, "wasb": true, "wasbs": true, "abfs": true, "abfss": true,
	"file": true, "local": true, "maprfs": true, "alluxio": true,
}

func p(names ...string) Path {
	var out Path
	for _, n := range names {
		out = out.Field(n)
	}
	return out
}

func validateObject(o Object, s problemSink) {
	validateMeta(o.GetMeta(), s)
	switch x := o.(type) {
	case *SparkApplication:
		validateApplication(&x.Spec, p("spec"), s)
	case *Dispatcher:
		validateDispatcher(&x.Spec, p("spec"), s)
	case *ShuffleService:
		validateShuffleService(&x.Spec, p("spec"), s)
	case *MesosRole:
		validateRole(x, p("spec"), s)
	}
}

func validateMeta(m *ObjectMeta, s problemSink) {
	at := p("metadata", "name")
	switch {
	case m.Name == "":
		s.errorf(at, "required: every object needs a name")
	case len(m.Name) > 63 || !dnsLabel.MatchString(m.Name):
		s.errorf(at, "%q is not a valid name: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit", m.Name)
	}
}

func validateApplication(a *SparkApplicationSpec, at Path, s problemSink) {
	validateDispatcherRef(&a.Dispatcher, at.Field("dispatcher"), s)
	if a.Role != "" {
		validateRoleName(a.Role, at.Field("role"), s)
	}
	switch a.Type {
	case "", "Scala", "Java":
		if a.MainClass == "" {
			s.errorf(at.Field("mainClass"), "required for a JVM application: the fully qualified class to run, such as org.apache.spark.examples.SparkPi")
		}
	case "Python", "R":
		if a.MainClass != "" {
			s.errorf(at.Field("mainClass"), "must be empty for a %s application; the script in mainApplicationFile is run", a.Type)
		}
	default:
		s.errorf(at.Field("type"), "%q is not an application type: use Java, Scala, Python or R", a.Type)
	}
	if a.MainApplicationFile == "" {
		s.errorf(at.Field("mainApplicationFile"), "required: the application jar or script, a URI the agents can fetch")
	} else {
		validateURI(a.MainApplicationFile, at.Field("mainApplicationFile"), s)
	}
	switch a.AppJarLocalResolution {
	case "", "host":
	case "container":
		if !strings.HasPrefix(a.MainApplicationFile, "local:") {
			s.warnf(at.Field("appJarLocalResolution"), "container resolution only affects local:// application files; %q is fetched as usual", a.MainApplicationFile)
		}
	default:
		s.errorf(at.Field("appJarLocalResolution"), "%q is not a resolution mode: use host or container", a.AppJarLocalResolution)
	}
	switch a.Mode {
	case "", "coarse":
		if a.Executor.MesosExecutorCores != nil {
			s.warnf(at.Field("executor").Field("mesosExecutorCores"), "only used in fine-grained mode; coarse mode ignores it")
		}
	case "fine":
		s.warnf(at.Field("mode"), "fine-grained mode is deprecated since Spark 2.0; prefer coarse mode with dynamicAllocation")
	default:
		s.errorf(at.Field("mode"), "%q is not a mode: use coarse or fine", a.Mode)
	}
	validateDriver(&a.Driver, at.Field("driver"), s)
	validateExecutor(&a.Executor, at.Field("executor"), s)
	if d := a.Docker; d != nil {
		validateDocker(d, at.Field("docker"), s)
	}
	if n := a.Network; n != nil {
		if n.Name == "" {
			s.errorf(at.Field("network").Field("name"), "required: the name of the CNI network")
		}
		validateLabels(n.Labels, at.Field("network").Field("labels"), s)
	}
	validateURIs(a.URIs, at.Field("uris"), s)
	if r := a.RejectOfferDurations; r != nil {
		r2 := at.Field("rejectOfferDurations")
		for name, d := range map[string]*Duration{"default": r.Default, "unmetConstraints": r.UnmetConstraints, "reachedMaxCores": r.ReachedMaxCores} {
			if d != nil && d.Micros == 0 {
				s.warnf(r2.Field(name), "0s makes Spark re-offer unusable resources immediately, which floods the allocator")
			}
		}
	}
	validateCredentials(a.Credentials, at.Field("credentials"), s)
	if da := a.DynamicAllocation; da != nil && da.Enabled {
		dp := at.Field("dynamicAllocation")
		if a.ShuffleService == nil || !a.ShuffleService.Enabled {
			s.errorf(dp.Field("enabled"), "dynamic allocation on Mesos needs the external shuffle service: set spec.shuffleService.enabled: true (and run a ShuffleService)")
		}
		nonNeg(da.MinExecutors, dp.Field("minExecutors"), s)
		nonNeg(da.InitialExecutors, dp.Field("initialExecutors"), s)
		if da.MaxExecutors != nil && *da.MaxExecutors < 1 {
			s.errorf(dp.Field("maxExecutors"), "must be at least 1")
		}
		if da.MinExecutors != nil && da.MaxExecutors != nil && *da.MinExecutors > *da.MaxExecutors {
			s.errorf(dp.Field("minExecutors"), "%d is more than maxExecutors %d", *da.MinExecutors, *da.MaxExecutors)
		}
		if da.InitialExecutors != nil && da.MaxExecutors != nil && *da.InitialExecutors > *da.MaxExecutors {
			s.errorf(dp.Field("initialExecutors"), "%d is more than maxExecutors %d", *da.InitialExecutors, *da.MaxExecutors)
		}
	} else if da != nil && (da.MinExecutors != nil || da.MaxExecutors != nil || da.InitialExecutors != nil) {
		s.warnf(at.Field("dynamicAllocation").Field("enabled"), "executor bounds are ignored while dynamic allocation is not enabled")
	}
	if port := a.BlockManagerPort; port != nil {
		if *port < 1 || *port > 65535 {
			s.errorf(at.Field("blockManagerPort"), "%d is not a port: use 1-65535", *port)
		} else {
			s.warnf(at.Field("blockManagerPort"), "a fixed block manager port must be in the agents' ports resource and allows only one executor per agent")
		}
	}
	validateSparkConf(a.SparkConf, SparkFields(a, at), at.Field("sparkConf"), appReserved, s)
	validateRestart(&a.RestartPolicy, a.Driver.Supervise, at.Field("restartPolicy"), s)
	switch a.ChangePolicy {
	case "", ChangeRestart, ChangeNextRun:
	default:
		s.errorf(at.Field("changePolicy"), "%q is not a change policy: use Restart or NextRun", a.ChangePolicy)
	}
}

func validateDispatcherRef(r *DispatcherRef, at Path, s problemSink) {
	switch {
	case r.Name == "" && r.External == nil:
		s.errorf(at, "required: name a Dispatcher (dispatcher: {name: main}) or give an external one (dispatcher: {external: {url: mesos://host:7077}})")
	case r.Name != "" && r.External != nil:
		s.errorf(at, "set either name or external, not both")
	case r.External != nil:
		validateExternal(r.External, at.Field("external"), s)
	}
}

func validateExternal(e *ExternalDispatcher, at Path, s problemSink) {
	if e.URL == "" {
		s.errorf(at.Field("url"), "required: the dispatcher's REST URL, such as mesos://dispatcher.example:7077")
	} else if _, err := DispatcherURL(e.URL); err != nil {
		s.errorf(at.Field("url"), "%v", err)
	}
	for i, q := range e.Queues {
		if !queueName.MatchString(q) {
			s.errorf(at.Field("queues").Index(i), "%q is not a queue name: use letters, digits, '_' and '-'", q)
		}
	}
}

// DispatcherURL turns a dispatcher address as users write it (mesos://h:7077,
// http://h:7077 or https://h:7077) into the base URL of its REST server.
func DispatcherURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%q is not a dispatcher URL: write mesos://host:7077 or http://host:7077", raw)
	}
	switch u.Scheme {
	case "mesos", "http":
		u.Scheme = "http"
	case "https":
	default:
		return nil, fmt.Errorf("%q: scheme %q is not mesos, http or https", raw, u.Scheme)
	}
	if u.Port() == "" {
		u.Host += ":7077"
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("%q: a dispatcher URL has no path (the REST API lives at /v1/submissions)", raw)
	}
	u.Path = ""
	return u, nil
}

func validateDriver(d *DriverSpec, at Path, s problemSink) {
	if d.Cores != nil && *d.Cores <= 0 {
		s.errorf(at.Field("cores"), "must be more than 0 (fractions such as 0.5 are allowed)")
	}
	validateMemory(d.Memory, at.Field("memory"), s)
	validateOverhead(d.MemoryOverhead, at.Field("memoryOverhead"), s)
	validateConstraints(d.Constraints, at.Field("constraints"), s)
	validateLabels(d.Labels, at.Field("labels"), s)
	validateEnv(d.Env, at.Field("env"), s)
	if d.WebUIURL != "" {
		validateHTTPURL(d.WebUIURL, at.Field("webUIURL"), s)
	}
	validateSecrets(d.Secrets, at.Field("secrets"), s)
}

func validateExecutor(e *ExecutorSpec, at Path, s problemSink) {
	if e.Cores != nil && *e.Cores < 1 {
		s.errorf(at.Field("cores"), "must be at least 1")
	}
	validateMemory(e.Memory, at.Field("memory"), s)
	validateOverhead(e.MemoryOverhead, at.Field("memoryOverhead"), s)
	if e.MaxCores != nil {
		switch {
		case *e.MaxCores < 1:
			s.errorf(at.Field("maxCores"), "must be at least 1")
		case e.Cores != nil && *e.Cores >= 1 && *e.MaxCores < *e.Cores:
			s.errorf(at.Field("maxCores"), "%d is less than executor.cores %d: no executor could ever start", *e.MaxCores, *e.Cores)
		case e.Cores != nil && *e.Cores >= 1 && *e.MaxCores%*e.Cores != 0:
			n := *e.MaxCores / *e.Cores
			s.warnf(at.Field("maxCores"), "not a multiple of executor.cores %d: Spark rounds it down to %d (%d executors)", *e.Cores, n**e.Cores, n)
		}
	} else {
		s.warnf(at.Field("maxCores"), "not set: the application will take every core Mesos offers it; set it on a shared cluster")
	}
	nonNeg(e.ExtraCores, at.Field("extraCores"), s)
	if e.MesosExecutorCores != nil && *e.MesosExecutorCores <= 0 {
		s.errorf(at.Field("mesosExecutorCores"), "must be more than 0")
	}
	nonNeg(e.MaxGPUs, at.Field("maxGPUs"), s)
	if e.Home != "" && !path.IsAbs(e.Home) {
		s.errorf(at.Field("home"), "%q must be an absolute path on the agents", e.Home)
	}
	if e.URI != "" {
		validateURI(e.URI, at.Field("uri"), s)
	}
	validateEnv(e.Env, at.Field("env"), s)
	validateLabels(e.Labels, at.Field("labels"), s)
	validateConstraints(e.Constraints, at.Field("constraints"), s)
	validateSecrets(e.Secrets, at.Field("secrets"), s)
}

func nonNeg(v *int, at Path, s problemSink) {
	if v != nil && *v < 0 {
		s.errorf(at, "must not be negative")
	}
}

func validateMemory(m *ByteSize, at Path, s problemSink) {
	if m != nil && m.Bytes < 1<<20 {
		s.errorf(at, "%s is less than 1m; Spark counts memory in MiB", m)
	}
}

func validateOverhead(m *ByteSize, at Path, s problemSink) {
	if m == nil {
		return
	}
	if m.Bytes%(1<<20) != 0 || m.Bytes == 0 {
		s.errorf(at, "%s is not a whole, positive number of MiB; Spark reads this setting as an integer of MiB", m)
	}
}

func validateConstraints(cs Constraints, at Path, s problemSink) {
	seen := map[string]int{}
	for i, c := range cs {
		ci := at.Index(i)
		switch {
		case c.Attribute == "":
			s.errorf(ci.Field("attribute"), "required: the agent attribute to match")
		case strings.ContainsAny(c.Attribute, ":;,") || strings.TrimSpace(c.Attribute) != c.Attribute:
			s.errorf(ci.Field("attribute"), "%q cannot contain ':', ';', ',' or surrounding spaces (Spark's constraint grammar)", c.Attribute)
		}
		if j, dup := seen[c.Attribute]; dup {
			s.errorf(ci.Field("attribute"), "attribute %q is already constrained by item %d; list all its values there", c.Attribute, j)
		}
		seen[c.Attribute] = i
		for k, v := range c.Values {
			switch {
			case v == "":
				s.errorf(ci.Field("values").Index(k), "empty value; leave values out to require only that the attribute exists")
			case strings.ContainsAny(v, ":;,"):
				s.errorf(ci.Field("values").Index(k), "%q cannot contain ':', ';' or ',' (Spark's constraint grammar)", v)
			}
			if _, err := strconv.ParseFloat(v, 64); err == nil && len(c.Values) > 0 && k == 0 {
				s.warnf(ci.Field("values").Index(k), "for a scalar attribute Spark matches agents whose value is >= %s, not only equal to it", v)
			}
		}
	}
}

func validateLabels(m map[string]string, at Path, s problemSink) {
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch {
		case k == "":
			s.errorf(at.Key(k), "empty label key")
		case v == "":
			s.errorf(at.Key(k), "empty label value: Spark rejects \"key:\" as a malformed label")
		case strings.HasSuffix(k, `\`) || strings.HasSuffix(v, `\`):
			s.errorf(at.Key(k), "a label key or value cannot end with a backslash: it would escape the separator that follows")
		}
	}
}

func validateEnv(m map[string]string, at Path, s problemSink) {
	for _, k := range sortedKeys(m) {
		if !envName.MatchString(k) {
			s.errorf(at.Key(k), "%q is not an environment variable name: use letters, digits and '_', not starting with a digit", k)
		}
	}
}

func validateSecrets(list []Secret, at Path, s problemSink) {
	if len(list) == 0 {
		return
	}
	byRef := list[0].Name != ""
	withEnv, withFile := list[0].EnvKey != "", list[0].FileName != ""
	for i, sec := range list {
		si := at.Index(i)
		n := boolInt(sec.Name != "") + boolInt(sec.Value != "") + boolInt(sec.ValueFrom != nil)
		if n != 1 {
			s.errorf(si, "set exactly one of name (a secret store reference), value or valueFrom")
			continue
		}
		if (sec.Name != "") != byRef {
			s.errorf(si, "mixes secret store references (name) with values: Spark sends either secret.names or secret.values for all secrets of a list")
		}
		if sec.ValueFrom != nil {
			validateValueSource(sec.ValueFrom, si.Field("valueFrom"), s)
		}
		if sec.Value != "" && strings.Contains(sec.Value, ",") {
			s.errorf(si.Field("value"), "a secret value cannot contain ',' (Spark splits the list on commas)")
		}
		if strings.Contains(sec.Name, ",") {
			s.errorf(si.Field("name"), "a secret name cannot contain ','")
		}
		if sec.EnvKey == "" && sec.FileName == "" {
			s.errorf(si, "delivered nowhere: set envKey, fileName or both")
			continue
		}
		if (sec.EnvKey != "") != withEnv {
			s.errorf(si.Field("envKey"), "either every secret of the list has an envKey or none has (Spark pairs secret.envkeys with the secrets by position)")
		}
		if (sec.FileName != "") != withFile {
			s.errorf(si.Field("fileName"), "either every secret of the list has a fileName or none has (Spark pairs secret.filenames with the secrets by position)")
		}
		if sec.EnvKey != "" && !envName.MatchString(sec.EnvKey) {
			s.errorf(si.Field("envKey"), "%q is not an environment variable name", sec.EnvKey)
		}
		if f := sec.FileName; f != "" {
			clean := path.Clean(f)
			switch {
			case path.IsAbs(f):
				s.errorf(si.Field("fileName"), "%q must be relative to the sandbox", f)
			case clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(f, "/../"):
				s.errorf(si.Field("fileName"), "%q must not leave the sandbox with '..'", f)
			case strings.Contains(f, ","):
				s.errorf(si.Field("fileName"), "%q cannot contain ','", f)
			}
		}
	}
}

func validateValueSource(v *ValueSource, at Path, s problemSink) {
	if boolInt(v.Env != "")+boolInt(v.File != "") != 1 {
		s.errorf(at, "set exactly one of env (a variable of the reconciler's environment) or file (a file the reconciler reads)")
		return
	}
	if v.Env != "" && !envName.MatchString(v.Env) {
		s.errorf(at.Field("env"), "%q is not an environment variable name", v.Env)
	}
	if v.File != "" && !path.IsAbs(v.File) {
		s.errorf(at.Field("file"), "%q must be an absolute path", v.File)
	}
}

func validateCredentials(c *Credentials, at Path, s problemSink) {
	if c == nil {
		return
	}
	check := func(src *CredentialSource, name string) {
		if src == nil {
			return
		}
		sp := at.Field(name)
		if boolInt(src.Value != "")+boolInt(src.File != "")+boolInt(src.ValueFrom != nil) != 1 {
			s.errorf(sp, "set exactly one of value, file (a path on the driver's agent) or valueFrom (read by the reconciler)")
			return
		}
		if src.ValueFrom != nil {
			validateValueSource(src.ValueFrom, sp.Field("valueFrom"), s)
		}
		if src.File != "" && !path.IsAbs(src.File) {
			s.errorf(sp.Field("file"), "%q must be an absolute path", src.File)
		}
		if name == "secret" && src.Value != "" {
			s.warnf(sp.Field("value"), "a secret written in the manifest is readable by anyone who can read the manifest; prefer valueFrom or file")
		}
	}
	check(c.Principal, "principal")
	check(c.Secret, "secret")
	if c.Secret != nil && c.Principal == nil {
		s.errorf(at.Field("principal"), "required when a secret is given: Spark refuses a secret without a principal")
	}
}

func validateDocker(d *DockerSpec, at Path, s problemSink) {
	if d.Image == "" {
		s.errorf(at.Field("image"), "required: the Docker image with Spark installed")
	}
	switch d.Containerizer {
	case "", "docker":
	case "mesos":
		if len(d.Parameters) > 0 {
			s.warnf(at.Field("parameters"), "docker parameters are only used by the docker containerizer; the mesos containerizer ignores them")
		}
	default:
		s.errorf(at.Field("containerizer"), "%q is not a containerizer: use docker or mesos", d.Containerizer)
	}
	for i, prm := range d.Parameters {
		pi := at.Field("parameters").Index(i)
		switch {
		case prm.Key == "":
			s.errorf(pi.Field("key"), "required: the docker run option without dashes, such as memory-swappiness")
		case strings.ContainsAny(prm.Key, "=,"):
			s.errorf(pi.Field("key"), "%q cannot contain '=' or ','", prm.Key)
		}
		if strings.Contains(prm.Value, ",") {
			s.errorf(pi.Field("value"), "%q cannot contain ',' (Spark splits the parameter list on commas)", prm.Value)
		}
	}
	for i, v := range d.Volumes {
		vi := at.Field("volumes").Index(i)
		if v.ContainerPath == "" {
			s.errorf(vi.Field("containerPath"), "required: where the volume appears in the container")
		}
		for name, val := range map[string]string{"hostPath": v.HostPath, "containerPath": v.ContainerPath} {
			if strings.ContainsAny(val, ":,") {
				s.errorf(vi.Field(name), "%q cannot contain ':' or ',' (Spark's volume grammar)", val)
			}
		}
		if v.HostPath != "" && !path.IsAbs(v.HostPath) {
			s.errorf(vi.Field("hostPath"), "%q must be an absolute path on the agent", v.HostPath)
		}
		if v.Mode != "" && v.Mode != "ro" && v.Mode != "rw" {
			s.errorf(vi.Field("mode"), "%q is not a mode: use ro or rw (lower case)", v.Mode)
		}
	}
}

func validateURI(raw string, at Path, s problemSink) {
	if strings.Contains(raw, ",") {
		s.errorf(at, "%q cannot contain ',' (Spark splits URI lists on commas)", raw)
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		s.errorf(at, "%q is not a URI: %v", raw, err)
		return
	}
	if u.Scheme == "" {
		if path.IsAbs(raw) {
			s.warnf(at, "%q has no scheme: it is read from the agent's file system; write file://%s or local://%s to say so", raw, raw, raw)
			return
		}
		s.errorf(at, "%q is neither a URI nor an absolute path: the agents cannot fetch it", raw)
		return
	}
	if !uriSchemes[u.Scheme] {
		s.errorf(at, "scheme %q cannot be fetched by Spark on Mesos; use one of %s", u.Scheme, strings.Join(sortedKeys(uriSchemes), ", "))
	}
}

func validateURIs(list []string, at Path, s problemSink) {
	for i, u := range list {
		validateURI(u, at.Index(i), s)
	}
}

func validateHTTPURL(raw string, at Path, s problemSink) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		s.errorf(at, "%q is not an http(s) URL", raw)
	}
}

// reservedKeys are properties a sparkConf may not set, with the reason.
type reservedKeys map[string]string

var appReserved = reservedKeys{
	"spark.master":                   "the reconciler sets it from spec.dispatcher",
	"spark.submit.deployMode":        "applications are always submitted in cluster mode",
	"spark.app.name":                 "set spec.appName (default: metadata.name)",
	"spark.mesos.driver.labels":      "set spec.driver.labels; the reconciler adds its ownership labels to them",
	"spark.mesos.task.labels":        "set spec.executor.labels; the reconciler adds its ownership labels to them",
	"spark.mesos.driver.frameworkId": "the dispatcher sets it",
	"spark.mesos.principal":          "set spec.credentials.principal",
	"spark.mesos.principal.file":     "set spec.credentials.principal.file",
	"spark.mesos.secret":             "set spec.credentials.secret so that it is never printed",
	"spark.mesos.secret.file":        "set spec.credentials.secret.file",
}

var secretConfPrefixes = []string{"spark.mesos.driver.secret.", "spark.mesos.executor.secret."}

// mesosTraps are properties that look right but do nothing (or harm) on Mesos.
var mesosTraps = map[string]struct {
	err bool
	msg string
}{
	"spark.executor.instances":      {false, "ignored by Spark's Mesos backend: executors = executor.maxCores / executor.cores"},
	"spark.executor.memoryOverhead": {false, "ignored on Mesos; set spec.executor.memoryOverhead"},
	"spark.jars":                    {false, "never reaches a driver launched by the dispatcher; list extra jars in spec.uris and add them to the class path"},
	"spark.io.encryption.enabled":   {true, "Spark refuses I/O encryption on Mesos"},
}

func validateSparkConf(conf map[string]string, typed []SparkField, at Path, reserved reservedKeys, s problemSink) {
	owner := make(map[string]Path, len(typed))
	for _, f := range typed {
		owner[f.Key] = f.Path
	}
	for _, k := range sortedKeys(conf) {
		kp := at.Key(k)
		if k == "" || !sparkKeyRE.MatchString(k) {
			s.errorf(kp, "%q is not a property key", k)
			continue
		}
		if fp, ok := owner[k]; ok {
			s.errorf(kp, "%s is also set by %s; set it in one place only", k, fp)
			continue
		}
		if why, ok := reserved[k]; ok {
			s.errorf(kp, "%s cannot be set in sparkConf: %s", k, why)
			continue
		}
		if hasAnyPrefix(k, secretConfPrefixes) {
			s.errorf(kp, "%s cannot be set in sparkConf: declare secrets under driver.secrets or executor.secrets so that they are never printed", k)
			continue
		}
		if trap, ok := mesosTraps[k]; ok {
			if trap.err && conf[k] == "true" {
				s.errorf(kp, "%s", trap.msg)
			} else if !trap.err {
				s.warnf(kp, "%s", trap.msg)
			}
			continue
		}
		if !strings.HasPrefix(k, "spark.") {
			s.warnf(kp, "%s does not start with spark.: spark-submit ignores it", k)
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func validateRestart(r *RestartPolicy, supervise *bool, at Path, s problemSink) {
	switch r.Type {
	case "", RestartNever:
		if r.MaxRetries != nil || r.Backoff != nil {
			s.warnf(at, "maxRetries and backoff are ignored with restart policy Never")
		}
	case RestartOnFailure, RestartAlways:
		if supervise != nil && *supervise {
			s.warnf(at.Field("type"), "driver.supervise also makes the dispatcher relaunch failed drivers; with both, a failure can be retried twice over")
		}
	default:
		s.errorf(at.Field("type"), "%q is not a restart policy: use Never, OnFailure or Always", r.Type)
	}
	nonNeg(r.MaxRetries, at.Field("maxRetries"), s)
	if b := r.Backoff; b != nil {
		if b.Initial != nil && b.Initial.Micros <= 0 {
			s.errorf(at.Field("backoff").Field("initial"), "must be more than 0s")
		}
		if b.Initial != nil && b.Max != nil && b.Max.Micros < b.Initial.Micros {
			s.errorf(at.Field("backoff").Field("max"), "%s is less than initial %s", b.Max, b.Initial)
		}
	}
}

func validateDispatcher(d *DispatcherSpec, at Path, s problemSink) {
	switch {
	case d.External == nil && d.Managed == nil:
		s.errorf(at, "set managed (the reconciler runs the dispatcher) or external (it runs elsewhere, at a URL)")
	case d.External != nil && d.Managed != nil:
		s.errorf(at, "set either managed or external, not both")
	case d.External != nil:
		validateExternal(d.External, at.Field("external"), s)
		if len(d.External.Queues) > 0 {
			s.errorf(at.Field("external").Field("queues"), "list a Dispatcher's queues under spec.queues")
		}
	case d.Managed != nil:
		validateManaged(d.Managed, at.Field("managed"), s)
	}
	seen := map[string]int{}
	for i, q := range d.Queues {
		qi := at.Field("queues").Index(i)
		switch {
		case q.Name == "":
			s.errorf(qi.Field("name"), "required")
		case q.Name == "default":
			s.errorf(qi.Field("name"), "the default queue always exists with priority 0 and cannot be redefined")
		case !queueName.MatchString(q.Name):
			s.errorf(qi.Field("name"), "%q is not a queue name: use letters, digits, '_' and '-'", q.Name)
		}
		if j, dup := seen[q.Name]; dup {
			s.errorf(qi.Field("name"), "queue %q is already defined by item %d", q.Name, j)
		}
		seen[q.Name] = i
		if q.Role != "" {
			validateRoleName(q.Role, qi.Field("role"), s)
		}
	}
	if r := d.Recovery; r != nil {
		rp := at.Field("recovery")
		if r.ZooKeeper == nil {
			s.errorf(rp.Field("zookeeper"), "required: recovery needs ZooKeeper (the only recovery mode besides none)")
		} else {
			validateCurator(r.ZooKeeper.URL, rp.Field("zookeeper").Field("url"), s)
			if dir := r.ZooKeeper.Dir; dir != "" && (!strings.HasPrefix(dir, "/") || strings.HasSuffix(dir, "/")) {
				s.errorf(rp.Field("zookeeper").Field("dir"), "%q must be an absolute znode path such as /spark_mesos_dispatcher, with no trailing '/'", dir)
			}
		}
	}
	for _, k := range sortedKeys(d.DriverDefaults) {
		kp := at.Field("driverDefaults").Key(k)
		switch {
		case !strings.HasPrefix(k, "spark."):
			s.errorf(kp, "%q is not a Spark property (driver defaults are spark.* keys)", k)
		case k == "spark.mesos.secret" || hasAnyPrefix(k, secretConfPrefixes):
			s.errorf(kp, "secrets cannot be driver defaults: they would be printed wherever the dispatcher's configuration is")
		}
	}
	for name, u := range map[string]string{"webUIURL": d.WebUIURL, "historyServerURL": d.HistoryServerURL, "proxyBaseURL": d.ProxyBaseURL} {
		if u != "" {
			validateHTTPURL(u, at.Field(name), s)
		}
	}
	if d.Role != "" {
		validateRoleName(d.Role, at.Field("role"), s)
	}
	validateCredentials(d.Credentials, at.Field("credentials"), s)
	validateURIs(d.URIs, at.Field("uris"), s)
	validateSparkConf(d.SparkConf, SparkFields(d, at), at.Field("sparkConf"), reservedKeys{
		"spark.mesos.secret":        "set spec.credentials.secret so that it is never printed",
		"spark.deploy.recoveryMode": "set spec.recovery",
	}, s)
}

func validateManaged(m *ManagedDispatcher, at Path, s problemSink) {
	if m.Master == "" {
		s.errorf(at.Field("master"), "required: the Mesos master, mesos://host:5050 or mesos://zk://host:2181/mesos")
	} else if err := ValidateMasterURL(m.Master); err != nil {
		s.errorf(at.Field("master"), "%v", err)
	}
	validatePort(m.Port, at.Field("port"), s)
	validatePort(m.WebUIPort, at.Field("webUIPort"), s)
	if m.CPUs != nil && *m.CPUs <= 0 {
		s.errorf(at.Field("cpus"), "must be more than 0")
	}
	validateMemory(m.Memory, at.Field("memory"), s)
	validateConstraints(m.Constraints, at.Field("constraints"), s)
	validateInstall(m.SparkHome, m.SparkURI, m.Image, at, s)
}

func validateInstall(home, uri, image string, at Path, s problemSink) {
	if home == "" && uri == "" && image == "" {
		s.errorf(at, "say where Spark comes from: set sparkHome (installed on the agents), sparkURI (downloaded) or image")
	}
	if home != "" && !path.IsAbs(home) {
		s.errorf(at.Field("sparkHome"), "%q must be an absolute path", home)
	}
	if uri != "" {
		validateURI(uri, at.Field("sparkURI"), s)
	}
}

func validatePort(port *int, at Path, s problemSink) {
	if port != nil && (*port < 1 || *port > 65535) {
		s.errorf(at, "%d is not a port: use 1-65535", *port)
	}
}

// ValidateMasterURL checks a Mesos master URL: mesos://host:port or
// mesos://zk://[user:pass@]host:port[,host:port]/path.
func ValidateMasterURL(raw string) error {
	rest, ok := strings.CutPrefix(raw, "mesos://")
	if !ok {
		return fmt.Errorf("%q is not a Mesos master URL: write mesos://host:5050 or mesos://zk://host:2181/mesos", raw)
	}
	if zk, ok := strings.CutPrefix(rest, "zk://"); ok {
		hosts, znode, found := strings.Cut(zk, "/")
		if _, after, ok := strings.Cut(hosts, "@"); ok {
			hosts = after
		}
		if !found || znode == "" {
			return fmt.Errorf("%q has no znode path: write mesos://zk://host:2181/mesos", raw)
		}
		for _, h := range strings.Split(hosts, ",") {
			if !hostPort.MatchString(h) {
				return fmt.Errorf("%q: %q is not host:port", raw, h)
			}
		}
		return nil
	}
	if !hostPort.MatchString(rest) {
		return fmt.Errorf("%q: %q is not host:port", raw, rest)
	}
	return nil
}

func validateCurator(raw string, at Path, s problemSink) {
	if raw == "" {
		s.errorf(at, "required: a ZooKeeper connect string such as zk1:2181,zk2:2181")
		return
	}
	if strings.HasPrefix(raw, "zk://") {
		s.errorf(at, "%q: Spark wants a plain connect string (host1:2181,host2:2181), not a zk:// URL; remove the prefix", raw)
		return
	}
	hosts, _, _ := strings.Cut(raw, "/")
	for _, h := range strings.Split(hosts, ",") {
		if !hostPort.MatchString(h) {
			s.errorf(at, "%q: %q is not host:port", raw, h)
			return
		}
	}
}

func validateShuffleService(sp *ShuffleServiceSpec, at Path, s problemSink) {
	validatePort(sp.Port, at.Field("port"), s)
	if sp.CPUs != nil && *sp.CPUs <= 0 {
		s.errorf(at.Field("cpus"), "must be more than 0")
	}
	validateMemory(sp.Memory, at.Field("memory"), s)
	validateConstraints(sp.Constraints, at.Field("constraints"), s)
	if sp.Role != "" {
		validateRoleName(sp.Role, at.Field("role"), s)
	}
	validateInstall(sp.SparkHome, sp.SparkURI, sp.Image, at, s)
	for i, d := range sp.LocalDirs {
		if !path.IsAbs(d) || strings.Contains(d, ",") {
			s.errorf(at.Field("localDirs").Index(i), "%q must be an absolute path without ','", d)
		}
	}
	if sp.CleanerInterval != nil && sp.CleanerInterval.Micros <= 0 {
		s.errorf(at.Field("cleanerInterval"), "must be more than 0s")
	}
	validateSparkConf(sp.SparkConf, SparkFields(sp, at), at.Field("sparkConf"), reservedKeys{
		"spark.shuffle.service.enabled": "the external shuffle service always runs with it enabled",
	}, s)
}

func validateRole(r *MesosRole, at Path, s problemSink) {
	name := r.RoleName()
	rp := at.Field("role")
	if r.Spec.Role == "" {
		rp = p("metadata", "name")
	}
	validateRoleName(name, rp, s)
	if name == "*" {
		s.errorf(rp, "the default role * cannot be managed")
	}
	if w := r.Spec.Weight; w != nil && *w <= 0 {
		s.errorf(at.Field("weight"), "must be more than 0")
	}
	if r.Spec.External && (r.Spec.Weight != nil || r.Spec.Quota != nil) {
		s.errorf(at.Field("external"), "an external role's weight and quota are managed elsewhere: remove weight and quota, or external")
	}
	q := r.Spec.Quota
	if q == nil {
		return
	}
	qp := at.Field("quota")
	checkRes := func(res *Resources, rp Path) {
		if res == nil {
			return
		}
		for name, v := range map[string]*float64{"cpus": res.CPUs, "gpus": res.GPUs} {
			if v != nil && *v < 0 {
				s.errorf(rp.Field(name), "must not be negative")
			}
		}
	}
	checkRes(q.Guarantees, qp.Field("guarantees"))
	checkRes(q.Limits, qp.Field("limits"))
	if q.Guarantees != nil && q.Limits != nil {
		g, l := q.Guarantees, q.Limits
		cmp := func(name string, gv, lv float64, gs, ls string) {
			if gv > lv {
				s.errorf(qp.Field("guarantees").Field(name), "guarantee %s is more than the limit %s", gs, ls)
			}
		}
		if g.CPUs != nil && l.CPUs != nil {
			cmp("cpus", *g.CPUs, *l.CPUs, fmtFloat(*g.CPUs), fmtFloat(*l.CPUs))
		}
		if g.GPUs != nil && l.GPUs != nil {
			cmp("gpus", *g.GPUs, *l.GPUs, fmtFloat(*g.GPUs), fmtFloat(*l.GPUs))
		}
		if g.Mem != nil && l.Mem != nil {
			cmp("mem", float64(g.Mem.Bytes), float64(l.Mem.Bytes), g.Mem.String(), l.Mem.String())
		}
		if g.Disk != nil && l.Disk != nil {
			cmp("disk", float64(g.Disk.Bytes), float64(l.Disk.Bytes), g.Disk.String(), l.Disk.String())
		}
	}
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// validateRoleName applies Mesos' role name rules (roles::validate): "*", or
// '/'-separated components none of which is empty, ".", "..", starts with '-'
// or contains white space or control characters.
func validateRoleName(role string, at Path, s problemSink) {
	if role == "*" {
		return
	}
	for _, c := range strings.Split(role, "/") {
		bad := c == "" || c == "." || c == ".." || strings.HasPrefix(c, "-") || strings.Contains(c, "*") ||
			strings.IndexFunc(c, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII }) >= 0
		if bad {
			s.errorf(at, "%q is not a Mesos role: components separated by '/' must not be empty, '.', '..', start with '-' or contain '*', spaces or control characters", role)
			return
		}
	}
}

func validateRefs(o Object, objs map[Ref]Object, roles map[string]bool, s problemSink) {
	app, ok := o.(*SparkApplication)
	if !ok {
		return
	}
	spec := &app.Spec
	queue := spec.Queue
	switch {
	case spec.Dispatcher.Name != "":
		d, _ := objs[Ref{Kind: KindDispatcher, Name: spec.Dispatcher.Name}].(*Dispatcher)
		if d == nil {
			s.errorf(p("spec", "dispatcher", "name"), "no Dispatcher %q among the loaded manifests; load the file that defines it too, or use dispatcher.external", spec.Dispatcher.Name)
			return
		}
		if queue != "" && queue != "default" && d.Spec.QueueByName(queue) == nil {
			s.errorf(p("spec", "queue"), "dispatcher %q has no queue %q; its queues are %s", d.Metadata.Name, queue, strings.Join(d.Spec.QueueNames(), ", "))
		}
	case spec.Dispatcher.External != nil && len(spec.Dispatcher.External.Queues) > 0:
		if queue != "" && queue != "default" && !contains(spec.Dispatcher.External.Queues, queue) {
			s.errorf(p("spec", "queue"), "queue %q is not among the external dispatcher's queues (%s)", queue, strings.Join(spec.Dispatcher.External.Queues, ", "))
		}
	}
	if ss := spec.ShuffleService; ss != nil && ss.Name != "" {
		if objs[Ref{Kind: KindShuffleService, Name: ss.Name}] == nil {
			s.errorf(p("spec", "shuffleService", "name"), "no ShuffleService %q among the loaded manifests", ss.Name)
		}
	}
	// The role its executors use: its own, or its queue's.
	role, at := spec.Role, p("spec", "role")
	if role == "" && spec.Dispatcher.Name != "" {
		if d, _ := objs[Ref{Kind: KindDispatcher, Name: spec.Dispatcher.Name}].(*Dispatcher); d != nil {
			if q := d.Spec.QueueByName(queue); q != nil {
				role, at = q.Role, p("spec", "queue")
			}
		}
	}
	if role != "" && role != "*" && !roles[role] {
		s.errorf(at, "role %q is not declared: add a MesosRole for it (with external: true if it is managed outside the reconciler)", role)
	}
}

// QueueByName returns the named queue, or nil.
func (d *DispatcherSpec) QueueByName(name string) *Queue {
	for i := range d.Queues {
		if d.Queues[i].Name == name {
			return &d.Queues[i]
		}
	}
	return nil
}

// QueueNames lists "default" and the dispatcher's queues.
func (d *DispatcherSpec) QueueNames() []string {
	out := []string{"default"}
	for _, q := range d.Queues {
		out = append(out, q.Name)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
