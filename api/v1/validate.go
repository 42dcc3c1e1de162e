package v1

import (
	"fmt"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

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

func validateObject(o Object, opts LoadOptions, s problemSink) {
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
	case *ScheduledSparkApplication:
		validateSchedule(x, opts.ScheduleSeconds, s)
	case *Notifier:
		validateNotifier(&x.Spec, p("spec"), s)
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
		if da := a.DynamicAllocation; da != nil && da.Enabled {
			s.errorf(at.Field("dynamicAllocation").Field("enabled"), "Mesos supports dynamic allocation only with coarse-grained mode (Running on Mesos): set mode: coarse, or disable dynamic allocation")
		}
	default:
		s.errorf(at.Field("mode"), "%q is not a mode: use coarse or fine", a.Mode)
	}
	image := a.Docker != nil && a.Docker.Image != ""
	validateDriver(&a.Driver, at.Field("driver"), image, s)
	validateExecutor(&a.Executor, at.Field("executor"), image, s)
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
	validateSparkConf(a.SparkConf, a, SparkFields(a, at), at.Field("sparkConf"), appReserved, s)
	validateRestart(&a.RestartPolicy, a.Driver.Supervise, at.Field("restartPolicy"), s)
	positiveDuration(a.StartDeadline, at.Field("startDeadline"), s)
	positiveDuration(a.ActiveDeadline, at.Field("activeDeadline"), s)
	if d, st := a.ActiveDeadline, a.StartDeadline; d != nil && st != nil && d.Micros > 0 && d.Micros <= st.Micros {
		s.errorf(at.Field("activeDeadline"), "%s is not more than startDeadline %s: a run would be killed before it may start", d, st)
	}
	if h := a.HistoryLimit; h != nil && (*h < 1 || *h > MaxHistoryLimit) {
		s.errorf(at.Field("historyLimit"), "%d is out of range: keep 1 to %d runs", *h, MaxHistoryLimit)
	}
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

func validateDriver(d *DriverSpec, at Path, image bool, s problemSink) {
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
	validateSecrets(d.Secrets, at.Field("secrets"), image, s)
}

func validateExecutor(e *ExecutorSpec, at Path, image bool, s problemSink) {
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
	validateSecrets(e.Secrets, at.Field("secrets"), image, s)
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
	switch {
	case m.Bytes%(1<<20) != 0:
		s.errorf(at, "%s is not a whole number of MiB; Spark reads this setting as an integer of MiB", m)
	case m.Bytes == 0:
		// Spark takes 0 (MesosRestServer: driverMemoryOverhead.toInt).
		s.warnf(at, "0: the task gets the heap and nothing more, and the JVM's off-heap memory (metaspace, threads, direct buffers) takes it over the limit, where the agent's memory isolator kills it")
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
			case v == "" && k == len(c.Values)-1:
				// parseConstraintString splits values with Java's split,
				// which drops a trailing empty string: "a:b," is {b}.
				s.warnf(ci.Field("values").Index(k), "a trailing ',': Spark drops it; leave it out")
			case v == "":
				s.warnf(ci.Field("values").Index(k), "an empty value: Spark keeps it, and no agent's attribute matches it; leave it out")
			case strings.ContainsAny(v, ":;,"):
				s.errorf(ci.Field("values").Index(k), "%q cannot contain ':', ';' or ',' (Spark's constraint grammar)", v)
			case strings.HasPrefix(v, "{"):
				s.warnf(ci.Field("values").Index(k), "%q looks like part of a Mesos set literal: Spark has no sets in constraints, it splits {a,b} at the comma into \"{a\" and \"b}\", which no agent matches; list the values plainly (zone:a,b)", v)
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

// validateSecrets checks secrets lists; image says the containers have an
// image of their own (docker.image), where an absolute fileName lands.
func validateSecrets(list []Secret, at Path, image bool, s problemSink) {
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
			case path.IsAbs(f) && !image:
				// Spark passes it on as the secret volume's container path
				// (its own tests use /topsecret); Mesos mounts an absolute
				// one in the container's own filesystem.
				s.warnf(si.Field("fileName"), "%q is absolute: Mesos mounts it in the container's own filesystem, which only a container image (docker.image) gives; without one, write a path relative to the sandbox", f)
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

// ReservedProperty says why a SparkApplication may not set a Spark
// property (the reconciler sets it), "" if it may.
func ReservedProperty(key string) string { return appReserved[key] }

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

func validateSparkConf(conf map[string]string, spec any, typed []SparkField, at Path, reserved reservedKeys, s problemSink) {
	grammar := typedKeys(reflect.TypeOf(spec))
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
		// The same grammar as the typed field that could set it.
		why := checkUntypedValue(k, conf[k])
		if tk, ok := grammar[k]; ok && why == "" {
			why = checkTypedValue(k, conf[k], tk)
			if why != "" {
				field := append(append(Path{}, at[:len(at)-1]...), tk.path...)
				why += fmt.Sprintf(" (the grammar of %s, which sets %s: prefer that field)", field, k)
			}
		}
		if why != "" {
			if offerCallbackKeys[k] {
				why += "; Spark parses it when it launches the driver, and this would stop the dispatcher from launching any driver, of every user"
			}
			s.errorf(kp, "%s", why)
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

// positiveDuration refuses a duration of zero or less.
func positiveDuration(d *Duration, at Path, s problemSink) {
	if d != nil && d.Micros <= 0 {
		s.errorf(at, "must be more than 0s")
	}
}

func validateRestart(r *RestartPolicy, supervise *bool, at Path, s problemSink) {
	switch r.Type {
	case "", RestartNever:
		infra := r.OnInfrastructureFailureRetries != nil && *r.OnInfrastructureFailureRetries > 0
		switch {
		case r.MaxRetries != nil && r.Backoff != nil && !infra:
			s.warnf(at, "maxRetries and backoff are ignored with restart policy Never")
		case r.MaxRetries != nil:
			s.warnf(at.Field("maxRetries"), "ignored with restart policy Never (onInfrastructureFailureRetries alone retries a Never application)")
		case r.Backoff != nil && !infra:
			s.warnf(at.Field("backoff"), "ignored with restart policy Never and no onInfrastructureFailureRetries")
		}
	case RestartOnFailure, RestartAlways:
		if supervise != nil && *supervise {
			s.warnf(at.Field("type"), "driver.supervise also makes the dispatcher relaunch failed drivers; with both, a failure can be retried twice over")
		}
	default:
		s.errorf(at.Field("type"), "%q is not a restart policy: use Never, OnFailure or Always", r.Type)
	}
	nonNeg(r.MaxRetries, at.Field("maxRetries"), s)
	nonNeg(r.OnInfrastructureFailureRetries, at.Field("onInfrastructureFailureRetries"), s)
	if r.MaxConsecutiveFailures != nil && *r.MaxConsecutiveFailures < 1 {
		s.errorf(at.Field("maxConsecutiveFailures"), "must be at least 1 (leave it out for no limit)")
	}
	positiveDuration(r.ResetAfter, at.Field("resetAfter"), s)
	if b := r.Backoff; b != nil {
		if b.Initial != nil && b.Initial.Micros <= 0 {
			s.errorf(at.Field("backoff").Field("initial"), "must be more than 0s")
		}
		if b.Initial != nil && b.Max != nil && b.Max.Micros < b.Initial.Micros {
			s.errorf(at.Field("backoff").Field("max"), "%s is less than initial %s", b.Max, b.Initial)
		}
	}
}
