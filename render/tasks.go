package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	v1 "github.com/sparkmesos/reconciler/api/v1"
)

// Service is what a Dispatcher or ShuffleService renders to: the process's
// Spark properties and, when the reconciler runs it, the Mesos TaskInfo.
type Service struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	SpecHash string `json:"specHash"`
	// URL is a dispatcher's REST base URL.
	URL string `json:"url,omitempty"`
	// Properties are the Spark properties of the service process.
	Properties map[string]string `json:"properties"`
	Secrets    []SecretRef       `json:"secrets,omitempty"`
	// Task is the Mesos task that runs the service; nil for an external dispatcher.
	Task *mesos.TaskInfo `json:"task,omitempty"`
}

// MarshalJSON writes the task as Mesos itself writes a TaskInfo: fields
// that are unset or empty are left out (mesos-go writes them as null), in
// the protobuf's field order, so that the output can be sent in a Mesos
// call or compared with the master's state.
func (s Service) MarshalJSON() ([]byte, error) {
	type plain Service
	out := struct {
		plain
		Task json.RawMessage `json:"task,omitempty"`
	}{plain: plain(s)}
	if s.Task != nil {
		b, err := json.Marshal(s.Task)
		if err != nil {
			return nil, err
		}
		if out.Task, err = withoutUnset(b); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(out)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// withoutUnset copies JSON without its null members and empty lists,
// keeping the members' order.
func withoutUnset(in []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	var out bytes.Buffer
	var copyValue func(first json.Token) error
	copyValue = func(t json.Token) error {
		switch t {
		case json.Delim('{'):
			out.WriteByte('{')
			n := 0
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				v, err := dec.Token()
				if err != nil {
					return err
				}
				if v == nil {
					continue
				}
				if v == json.Delim('[') && !dec.More() {
					if _, err := dec.Token(); err != nil { // ]
						return err
					}
					continue
				}
				if n > 0 {
					out.WriteByte(',')
				}
				n++
				key, _ := json.Marshal(k)
				out.Write(key)
				out.WriteByte(':')
				if err := copyValue(v); err != nil {
					return err
				}
			}
			_, err := dec.Token() // }
			out.WriteByte('}')
			return err
		case json.Delim('['):
			out.WriteByte('[')
			for n := 0; dec.More(); n++ {
				v, err := dec.Token()
				if err != nil {
					return err
				}
				if n > 0 {
					out.WriteByte(',')
				}
				if err := copyValue(v); err != nil {
					return err
				}
			}
			_, err := dec.Token() // ]
			out.WriteByte(']')
			return err
		}
		var enc bytes.Buffer
		e := json.NewEncoder(&enc)
		e.SetEscapeHTML(false)
		if err := e.Encode(t); err != nil {
			return err
		}
		out.Write(bytes.TrimSuffix(enc.Bytes(), []byte("\n")))
		return nil
	}
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if err := copyValue(t); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// AgentPlaceholder stands for the agent a task is launched on, which only an
// offer decides.
const AgentPlaceholder = "AGENT_ID"

// Defaults of the managed services.
const (
	defaultDispatcherPort  = 7077
	defaultWebUIPort       = 8081
	defaultShufflePort     = 7337
	daemonOverheadMiB      = 384
	defaultDaemonMemory    = "1g"
	defaultImageSparkHome  = "/opt/spark"
	dispatcherClass        = "org.apache.spark.deploy.mesos.MesosClusterDispatcher"
	shuffleServiceClass    = "org.apache.spark.deploy.mesos.MesosExternalShuffleService"
	defaultDispatcherName  = "Spark Cluster"
	defaultShuffleCPUs     = 0.5
	defaultDispatcherCPUs  = 1.0
	frameworkSecretEnvName = "SPARK_MESOS_SECRET"
	killGracePeriod        = 30 * time.Second
)

// Dispatcher renders a Dispatcher: its properties (queues, recovery, driver
// defaults, UI URLs, credentials) and, for a managed one, the TaskInfo that
// runs MesosClusterDispatcher in the foreground.
func Dispatcher(d *v1.Dispatcher, opts Options) (*Service, error) {
	props, secrets := SparkProperties(&d.Spec, p("spec"))
	out := &Service{Kind: v1.KindDispatcher, Name: d.Metadata.Name, Properties: props, Secrets: secrets}
	if d.Spec.External != nil {
		u, err := v1.DispatcherURL(d.Spec.External.URL)
		if err != nil {
			return nil, err
		}
		out.URL = u.String()
		out.SpecHash = hashOf(out.URL, props)
		return out, nil
	}
	m := d.Spec.Managed
	out.URL = ManagedDispatcherURL(d).String()
	port, uiPort := intOr(m.Port, defaultDispatcherPort), intOr(m.WebUIPort, defaultWebUIPort)
	name := m.FrameworkName
	if name == "" {
		name = defaultDispatcherName
	}
	// The framework secret goes in the task's environment, where Spark reads
	// SPARK_MESOS_SECRET, not on its command line.
	env := map[string]string{"SPARK_DAEMON_MEMORY": memOr(m.Memory).String(), "SPARK_NO_DAEMONIZE": "1"}
	confProps := map[string]string{}
	for k, v := range props {
		if k == "spark.mesos.secret" && strings.HasPrefix(v, "<redacted:") {
			env[frameworkSecretEnvName] = v
			continue
		}
		confProps[k] = v
	}
	for i := range out.Secrets {
		if out.Secrets[i].Property == "spark.mesos.secret" {
			out.Secrets[i].Property = "env:" + frameworkSecretEnvName
		}
	}
	args := []string{sparkClass(m.SparkHome, m.SparkURI, m.Image), dispatcherClass,
		"--master", m.Master, "--port", fmt.Sprint(port), "--webui-port", fmt.Sprint(uiPort), "--name", name}
	for _, k := range sortedKeys(confProps) {
		args = append(args, "--conf", k+"="+confProps[k])
	}
	task := baseTask(d.Metadata.Name, v1.KindDispatcher, opts,
		intOrF(m.CPUs, defaultDispatcherCPUs), memOr(m.Memory).MiB()+daemonOverheadMiB, []int{port, uiPort})
	task.TaskID = mesos.TaskID{Value: "dispatcher-" + d.Metadata.Name}
	task.Command = command(args, env, m.SparkURI)
	task.Container = container(m.Image, nil)
	out.SpecHash = hashOf(out.URL, task)
	task.AgentID = mesos.AgentID{Value: AgentPlaceholder} // an offer decides
	setHashLabel(task, out.SpecHash)
	out.Task = task
	return out, nil
}

// ShuffleService renders a ShuffleService for one agent: the service's
// properties and the TaskInfo that runs MesosExternalShuffleService there.
// agentID is AgentPlaceholder when no agent is known yet.
func ShuffleService(s *v1.ShuffleService, agentID string, opts Options) (*Service, error) {
	props, secrets := SparkProperties(&s.Spec, p("spec"))
	props["spark.shuffle.service.enabled"] = "true"
	port := intOr(s.Spec.Port, defaultShufflePort)
	props["spark.shuffle.service.port"] = fmt.Sprint(port)
	out := &Service{Kind: v1.KindShuffleService, Name: s.Metadata.Name, Properties: props, Secrets: secrets}
	var opt []string
	for _, k := range sortedKeys(props) {
		opt = append(opt, "-D"+k+"="+props[k])
	}
	env := map[string]string{
		"SPARK_DAEMON_MEMORY": memOr(s.Spec.Memory).String(),
		"SPARK_SHUFFLE_OPTS":  strings.Join(opt, " "),
		"SPARK_NO_DAEMONIZE":  "1",
	}
	args := []string{sparkClass(s.Spec.SparkHome, s.Spec.SparkURI, s.Spec.Image), shuffleServiceClass}
	task := baseTask(s.Metadata.Name, v1.KindShuffleService, opts,
		intOrF(s.Spec.CPUs, defaultShuffleCPUs), memOr(s.Spec.Memory).MiB()+daemonOverheadMiB, []int{port})
	task.TaskID = mesos.TaskID{Value: "shuffle-" + s.Metadata.Name + "-" + agentID}
	task.AgentID = mesos.AgentID{Value: agentID}
	task.Command = command(args, env, s.Spec.SparkURI)
	task.Container = container(s.Spec.Image, s.Spec.LocalDirs)
	// The hash covers the spec, not the agent: every agent's task has the same.
	task.AgentID.Value, task.TaskID.Value = "", ""
	out.SpecHash = hashOf("", task)
	task.TaskID = mesos.TaskID{Value: "shuffle-" + s.Metadata.Name + "-" + agentID}
	task.AgentID = mesos.AgentID{Value: agentID}
	setHashLabel(task, out.SpecHash)
	out.Task = task
	return out, nil
}

func intOr(v *int, def int) int {
	if v == nil {
		return def
	}
	return *v
}

func intOrF(v *float64, def float64) float64 {
	if v == nil {
		return def
	}
	return *v
}

func memOr(m *v1.ByteSize) v1.ByteSize {
	if m == nil {
		return v1.MustByteSize(defaultDaemonMemory)
	}
	return *m
}

// sparkClass is the path of bin/spark-class: under SparkHome, inside the
// distribution the fetcher unpacks from SparkURI, or in the image.
func sparkClass(home, uri, image string) string {
	switch {
	case home != "":
		return path.Join(home, "bin/spark-class")
	case uri != "":
		return "./" + distDir(uri) + "/bin/spark-class"
	case image != "":
		return path.Join(defaultImageSparkHome, "bin/spark-class")
	}
	return "bin/spark-class"
}

// distDir is the directory a Spark tarball unpacks to: its file name without
// the archive extension, as Spark's own dispatcher assumes.
func distDir(uri string) string {
	base := path.Base(uri)
	for _, ext := range []string{".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".tar"} {
		if strings.HasSuffix(base, ext) {
			return strings.TrimSuffix(base, ext)
		}
	}
	return base
}

func baseTask(name, kind string, opts Options, cpus float64, memMiB int64, ports []int) *mesos.TaskInfo {
	scalar, ranges := mesos.SCALAR, mesos.RANGES
	sort.Ints(ports)
	var rs []mesos.Value_Range
	for _, port := range ports {
		rs = append(rs, mesos.Value_Range{Begin: uint64(port), End: uint64(port)})
	}
	own := []mesos.Label{
		{Key: LabelKind, Value: strPtr(kind)},
		{Key: LabelName, Value: strPtr(name)},
		{Key: LabelOwner, Value: strPtr(opts.owner())},
	}
	grace := int64(killGracePeriod)
	return &mesos.TaskInfo{
		Name: kind + "/" + name,
		// SIGTERM first, so the JVM shuts down cleanly (the dispatcher
		// persists its state), then SIGKILL after the grace period.
		KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: grace}},
		Resources: []mesos.Resource{
			{Name: "cpus", Type: &scalar, Scalar: &mesos.Value_Scalar{Value: cpus}},
			{Name: "mem", Type: &scalar, Scalar: &mesos.Value_Scalar{Value: float64(memMiB)}},
			{Name: "ports", Type: &ranges, Ranges: &mesos.Value_Ranges{Range: rs}},
		},
		Labels: &mesos.Labels{Labels: own},
	}
}

func setHashLabel(t *mesos.TaskInfo, hash string) {
	t.Labels.Labels = append(t.Labels.Labels, mesos.Label{Key: LabelSpecHash, Value: strPtr(hash)})
}

func strPtr(s string) *string { return &s }

// command builds a shell CommandInfo running argv in the foreground (exec, so
// that a kill reaches the JVM), with env and the Spark distribution to fetch.
func command(argv []string, env map[string]string, sparkURI string) *mesos.CommandInfo {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = shellQuote(a)
	}
	shell, value := true, "exec "+strings.Join(words, " ")
	c := &mesos.CommandInfo{Shell: &shell, Value: &value}
	if sparkURI != "" {
		extract := true
		c.URIs = []mesos.CommandInfo_URI{{Value: sparkURI, Extract: &extract}}
	}
	var vars []mesos.Environment_Variable
	for _, k := range sortedKeys(env) {
		vars = append(vars, mesos.Environment_Variable{Name: k, Value: strPtr(env[k])})
	}
	c.Environment = &mesos.Environment{Variables: vars}
	return c
}

// container runs the task in a Docker image on the host network (the
// services listen on fixed ports), with localDirs bind-mounted at the same
// paths so the shuffle service sees the executors' files.
func container(image string, localDirs []string) *mesos.ContainerInfo {
	if image == "" {
		return nil
	}
	var vols []mesos.Volume
	for _, d := range localDirs {
		vols = append(vols, mesos.Volume{HostPath: strPtr(d), ContainerPath: d, Mode: mesos.RW.Enum()})
	}
	return &mesos.ContainerInfo{
		Type:    mesos.ContainerInfo_DOCKER.Enum(),
		Docker:  &mesos.ContainerInfo_DockerInfo{Image: image, Network: mesos.ContainerInfo_DockerInfo_HOST.Enum()},
		Volumes: vols,
	}
}

func hashOf(target string, v any) string {
	return specHashAny(struct {
		Target string `json:"target"`
		Spec   any    `json:"spec"`
	}{target, v})
}

// ResolveTask returns a copy of a service's task with its secrets' values
// in place of their placeholders, for the launch only: the rendered task
// (printed, hashed, stored) keeps the placeholders.
func ResolveTask(s *Service, lookup Lookup) (*mesos.TaskInfo, error) {
	if s.Task == nil {
		return nil, fmt.Errorf("%s %s has no task", s.Kind, s.Name)
	}
	t := *s.Task
	if s.Task.Command == nil || len(s.Secrets) == 0 {
		return &t, nil
	}
	cmd := *s.Task.Command
	t.Command = &cmd
	value := cmd.GetValue()
	var vars []mesos.Environment_Variable
	if cmd.Environment != nil {
		vars = append(vars, cmd.Environment.Variables...)
	}
	for _, ref := range s.Secrets {
		secret, err := ref.value(lookup)
		if err != nil {
			return nil, err
		}
		ph := ref.Placeholder()
		if strings.Contains(value, ph) {
			if strings.ContainsAny(secret, "'\n") {
				return nil, fmt.Errorf("secret for %s from %s contains a quote or a newline; it cannot go on the command line", ref.Property, ref.Source)
			}
			value = strings.ReplaceAll(value, ph, secret)
		}
		for i := range vars {
			if v := vars[i].GetValue(); strings.Contains(v, ph) {
				resolved := strings.ReplaceAll(v, ph, secret)
				vars[i].Value = &resolved
			}
		}
	}
	cmd.Value = &value
	if cmd.Environment != nil {
		cmd.Environment = &mesos.Environment{Variables: vars}
	}
	return &t, nil
}
