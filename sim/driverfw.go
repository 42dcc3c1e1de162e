package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// driverFramework is a running driver's own framework, as Spark's
// MesosCoarseGrainedSchedulerBackend registers it: named after the
// application, with id <dispatcher framework id>-<submission id>, launching
// executors up to spark.cores.max on agents matching spark.mesos.constraints.
type driverFramework struct {
	fw          *framework
	execCores   int     // spark.executor.cores; 0: all the cores of an offer
	execMem     float64 // executor memory plus overhead, MiB
	maxCores    int     // spark.cores.max rounded down; MaxInt when unset
	acquired    int
	next        int
	constraints map[string][]string
	labels      *mesos.Labels
	rejectMax   float64
	rejectUnmet float64
}

func startDriverFramework(c *Cluster, d *Dispatcher, drv *driver) *driverFramework {
	// The driver starts with the dispatcher's driverDefaults under the
	// submission's own properties (generateCmdOption: defaultConf ++
	// driverConf); its executors are sized from that.
	props := map[string]string{}
	for k, v := range d.cfg.DriverDefaults {
		props[k] = v
	}
	for k, v := range drv.props {
		props[k] = v
	}
	df := &driverFramework{maxCores: math.MaxInt32, labels: sparkLabels(props["spark.mesos.task.labels"])}
	if v, err := strconv.Atoi(props["spark.executor.cores"]); err == nil && v > 0 {
		df.execCores = v
	}
	if v, err := strconv.ParseFloat(props["spark.cores.max"], 64); err == nil {
		df.maxCores = int(v)
		if df.execCores > 0 {
			df.maxCores -= df.maxCores % df.execCores
		}
	}
	mem := int64(1024)
	if v, ok := props["spark.executor.memory"]; ok {
		mem, _ = byteStringToMiB(v)
	}
	overhead := max(int64(0.10*float64(mem)), 384)
	if v, err := strconv.Atoi(props["spark.mesos.executor.memoryOverhead"]); err == nil {
		overhead = int64(v)
	}
	df.execMem = float64(mem + overhead)
	df.constraints, _ = parseSparkConstraints(props["spark.mesos.constraints"])
	reject := sparkSeconds(props["spark.mesos.rejectOfferDuration"], 120)
	df.rejectMax = sparkSeconds(props["spark.mesos.rejectOfferDurationForReachedMaxCores"], reject)
	df.rejectUnmet = sparkSeconds(props["spark.mesos.rejectOfferDurationForUnmetConstraints"], reject)

	id := d.fw.id + "-" + drv.taskID
	ft := 0.0
	if v, err := strconv.ParseFloat(props["spark.mesos.driver.failoverTimeout"], 64); err == nil {
		ft = v
	}
	role := "*"
	if r := props["spark.mesos.role"]; r != "" {
		role = r
	}
	fw := &framework{id: id, internal: df, regTime: c.now(), connected: true, active: true}
	fw.reregTime = fw.regTime
	fw.info = mesos.FrameworkInfo{ID: &mesos.FrameworkID{Value: id}, Name: drv.name, User: "root", FailoverTimeout: &ft, Role: &role}
	if u := props["spark.mesos.driver.webui.url"]; u != "" {
		fw.info.WebUiURL = &u
	}
	if v, err := strconv.Atoi(props["spark.mesos.gpus.max"]); err == nil && v > 0 {
		fw.info.Capabilities = append(fw.info.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_GPU_RESOURCES})
	}
	df.fw = fw
	c.frameworks[id] = fw
	return df
}

// sparkSeconds parses a Spark time string as seconds (a bare number is seconds).
func sparkSeconds(s string, def float64) float64 {
	if s == "" {
		return def
	}
	units := []struct {
		suffix string
		secs   float64
	}{{"min", 60}, {"ms", 0.001}, {"us", 1e-6}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			if v, err := strconv.ParseFloat(n, 64); err == nil {
				return v * u.secs
			}
		}
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v
	}
	return def
}

func (df *driverFramework) offers(c *Cluster, fw *framework, offers []*offer) {
	for _, o := range offers {
		avail := sumResources(o.resources)
		switch {
		case df.acquired >= df.maxCores:
			c.removeOfferLocked(o.id)
			c.refuseLocked(fw, o.agent.info.ID.Value, sumResources(o.resources), df.rejectMax)
			continue
		case !matchesConstraints(df.constraints, o.agent.info.Attributes):
			c.removeOfferLocked(o.id)
			c.refuseLocked(fw, o.agent.info.ID.Value, sumResources(o.resources), df.rejectUnmet)
			continue
		}
		var tasks []mesos.TaskInfo
		for {
			cores := df.execCores
			if cores == 0 {
				cores = min(int(avail.scalars["cpus"]), df.maxCores-df.acquired)
			}
			if cores <= 0 || float64(cores) > avail.scalars["cpus"]+1e-9 || df.acquired+cores > df.maxCores || df.execMem > avail.scalars["mem"]+1e-9 {
				break
			}
			cpus, mem := scalar("cpus", float64(cores)), scalar("mem", df.execMem)
			cpus.AllocationInfo, mem.AllocationInfo = &mesos.Resource_AllocationInfo{Role: &o.role}, &mesos.Resource_AllocationInfo{Role: &o.role}
			shell := true
			cmd := fmt.Sprintf("./bin/spark-class org.apache.spark.executor.CoarseGrainedExecutorBackend --executor-id %d --cores %d --app-id %s", df.next, cores, fw.id)
			tasks = append(tasks, mesos.TaskInfo{
				Name: fmt.Sprintf("%s %d", fw.info.Name, df.next), TaskID: mesos.TaskID{Value: strconv.Itoa(df.next)},
				AgentID: *o.agent.info.ID, Resources: []mesos.Resource{cpus, mem},
				Command: &mesos.CommandInfo{Shell: &shell, Value: &cmd}, Labels: df.labels,
			})
			df.next++
			df.acquired += cores
			avail = avail.minus(sumResources(tasks[len(tasks)-1].Resources))
			if df.execCores == 0 {
				break // one big executor per offer
			}
		}
		if len(tasks) == 0 {
			c.removeOfferLocked(o.id)
			c.refuseLocked(fw, o.agent.info.ID.Value, sumResources(o.resources), 5)
			continue
		}
		_ = c.acceptLocked(fw, []string{o.id}, tasks, 5)
	}
}

// wantsOffers: Spark declines every offer for
// spark.mesos.rejectOfferDurationForReachedMaxCores once it holds
// spark.cores.max; until an executor ends, it has no use for offers.
func (df *driverFramework) wantsOffers() bool { return df.acquired < df.maxCores }

func (df *driverFramework) update(c *Cluster, fw *framework, t *task) {
	if isTerminal(t.state) {
		if n, err := strconv.Atoi(sumCores(t.info.Resources)); err == nil {
			df.acquired -= n
		}
	}
}

func sumCores(rs []mesos.Resource) string {
	return strconv.Itoa(int(sumResources(rs).scalars["cpus"]))
}

// end tears the driver's framework down when the driver exits: its
// executors are killed and the framework is removed.
func (df *driverFramework) end(c *Cluster) { c.removeFrameworkLocked(df.fw) }

// parseSparkConstraints parses spark.mesos.constraints as Spark's
// MesosSchedulerUtils does: entries split on ';' (trimmed), each with exactly
// one ':', values split on ','. A trailing ';' or a repeated key is an error.
func parseSparkConstraints(s string) (map[string][]string, error) {
	out := map[string][]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, e := range strings.Split(s, ";") {
		e = strings.TrimSpace(e)
		kv := strings.Split(e, ":")
		if e == "" || len(kv) != 2 {
			return nil, fmt.Errorf("Bad constraint string: %s", s)
		}
		if _, dup := out[kv[0]]; dup {
			return nil, fmt.Errorf("Bad constraint string: duplicate key %s", kv[0])
		}
		if kv[1] == "" {
			out[kv[0]] = nil
		} else {
			out[kv[0]] = strings.Split(kv[1], ",")
		}
	}
	return out, nil
}

// matchesConstraints applies Spark's matching: a missing attribute never
// matches; no values means presence; TEXT must be one of the values; SCALAR
// matches when any value is <= the agent's; RANGES never match with values.
func matchesConstraints(cons map[string][]string, attrs []mesos.Attribute) bool {
	for name, values := range cons {
		var attr *mesos.Attribute
		for i := range attrs {
			if attrs[i].Name == name {
				attr = &attrs[i]
			}
		}
		if attr == nil {
			return false
		}
		if len(values) == 0 {
			continue
		}
		ok := false
		switch attr.Type {
		case mesos.TEXT:
			for _, v := range values {
				if attr.Text != nil && attr.Text.Value == v {
					ok = true
				}
			}
		case mesos.SCALAR:
			for _, v := range values {
				if f, err := strconv.ParseFloat(v, 64); err == nil && attr.Scalar != nil && f <= attr.Scalar.Value {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
