package v1

import (
	"fmt"
	"path"
	"strings"
)

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
			// Spark takes the property and keeps 0.0 (Running on Mesos:
			// "a single queue with 0.0 priority (cannot be overridden)").
			s.warnf(qi.Field("name"), "the default queue always has priority 0.0 in Spark, which ignores this one (Running on Mesos: it cannot be overridden); give the queue another name")
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
	validateSparkConf(d.SparkConf, d, SparkFields(d, at), at.Field("sparkConf"), reservedKeys{
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
	validateSparkConf(sp.SparkConf, sp, SparkFields(sp, at), at.Field("sparkConf"), reservedKeys{
		"spark.shuffle.service.enabled": "the external shuffle service always runs with it enabled",
	}, s)
}
