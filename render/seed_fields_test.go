package render

import (
	"strings"
	"testing"

	v1 "github.com/sparkmesos/reconciler/api/v1"
)

// seedFields says, for every property of seed-properties.txt, which manifest
// field sets it ("Kind spec.path"). Templated keys name one instance from the
// examples. The test proves each against the example manifests.
var seedFields = map[string]string{
	"spark.mesos.appJar.local.resolution.mode":            "SparkApplication spec.appJarLocalResolution",
	"spark.mesos.coarse":                                  "SparkApplication spec.mode",
	"spark.mesos.constraints":                             "SparkApplication spec.executor.constraints",
	"spark.mesos.containerizer":                           "SparkApplication spec.docker.containerizer",
	"spark.mesos.dispatcher.driverDefault.[PropertyName]": "Dispatcher spec.driverDefaults[\"spark.executor.memory\"]",
	"spark.mesos.dispatcher.historyServer.url":            "Dispatcher spec.historyServerURL",
	"spark.mesos.dispatcher.queue":                        "SparkApplication spec.queue",
	"spark.mesos.dispatcher.queue.[QueueName]":            "Dispatcher spec.queues[0].priority",
	"spark.mesos.dispatcher.webui.url":                    "Dispatcher spec.webUIURL",
	"spark.mesos.driver.constraints":                      "SparkApplication spec.driver.constraints",
	"spark.mesos.driver.failoverTimeout":                  "SparkApplication spec.driver.failoverTimeout",
	"spark.mesos.driver.labels":                           "SparkApplication spec.driver.labels",
	"spark.mesos.driver.memoryOverhead":                   "SparkApplication spec.driver.memoryOverhead",
	"spark.mesos.driver.secret.envkeys":                   "SparkApplication spec.driver.secrets",
	"spark.mesos.driver.secret.filenames":                 "SparkApplication spec.driver.secrets",
	"spark.mesos.driver.secret.names":                     "SparkApplication spec.driver.secrets",
	"spark.mesos.driver.secret.values":                    "SparkApplication spec.driver.secrets",
	"spark.mesos.driver.webui.url":                        "SparkApplication spec.driver.webUIURL",
	"spark.mesos.driverEnv.[EnvironmentVariableName]":     "SparkApplication spec.driver.env[\"TZ\"]",
	"spark.mesos.executor.docker.forcePullImage":          "SparkApplication spec.docker.forcePull",
	"spark.mesos.executor.docker.image":                   "SparkApplication spec.docker.image",
	"spark.mesos.executor.docker.parameters":              "SparkApplication spec.docker.parameters",
	"spark.mesos.executor.docker.volumes":                 "SparkApplication spec.docker.volumes",
	"spark.mesos.executor.home":                           "SparkApplication spec.executor.home",
	"spark.mesos.executor.memoryOverhead":                 "SparkApplication spec.executor.memoryOverhead",
	"spark.mesos.executor.secret.envkeys":                 "SparkApplication spec.executor.secrets",
	"spark.mesos.executor.secret.filenames":               "SparkApplication spec.executor.secrets",
	"spark.mesos.executor.secret.names":                   "SparkApplication spec.executor.secrets",
	"spark.mesos.executor.secret.values":                  "SparkApplication spec.executor.secrets",
	"spark.mesos.extra.cores":                             "SparkApplication spec.executor.extraCores",
	"spark.mesos.fetcherCache.enable":                     "SparkApplication spec.fetcherCache",
	"spark.mesos.gpus.max":                                "SparkApplication spec.executor.maxGPUs",
	"spark.mesos.mesosExecutor.cores":                     "SparkApplication spec.executor.mesosExecutorCores",
	"spark.mesos.network.labels":                          "SparkApplication spec.network.labels",
	"spark.mesos.network.name":                            "SparkApplication spec.network.name",
	"spark.mesos.principal":                               "SparkApplication spec.credentials.principal",
	"spark.mesos.principal.file":                          "SparkApplication spec.credentials.principal.file",
	"spark.mesos.rejectOfferDuration":                     "SparkApplication spec.rejectOfferDurations.default",
	"spark.mesos.rejectOfferDurationForReachedMaxCores":   "SparkApplication spec.rejectOfferDurations.reachedMaxCores",
	"spark.mesos.rejectOfferDurationForUnmetConstraints":  "SparkApplication spec.rejectOfferDurations.unmetConstraints",
	"spark.mesos.role":                                    "SparkApplication spec.role",
	"spark.mesos.secret":                                  "SparkApplication spec.credentials.secret",
	"spark.mesos.secret.file":                             "SparkApplication spec.credentials.secret.file",
	"spark.mesos.task.labels":                             "SparkApplication spec.executor.labels",
	"spark.mesos.uris":                                    "SparkApplication spec.uris",
	"spark.mesos.proxy.baseURL":                           "Dispatcher spec.proxyBaseURL",
	"spark.executor.uri":                                  "SparkApplication spec.executor.uri",
	"spark.executor.memory":                               "SparkApplication spec.executor.memory",
	"spark.executor.cores":                                "SparkApplication spec.executor.cores",
	"spark.cores.max":                                     "SparkApplication spec.executor.maxCores",
	"spark.driver.memory":                                 "SparkApplication spec.driver.memory",
	"spark.driver.cores":                                  "SparkApplication spec.driver.cores",
	"spark.driver.supervise":                              "SparkApplication spec.driver.supervise",
	"spark.blockManager.port":                             "SparkApplication spec.blockManagerPort",
	"spark.shuffle.service.enabled":                       "SparkApplication spec.shuffleService.enabled",
	"spark.dynamicAllocation.enabled":                     "SparkApplication spec.dynamicAllocation.enabled",
	"spark.executorEnv.[EnvironmentVariableName]":         "SparkApplication spec.executor.env[\"TZ\"]",
	"spark.deploy.recoveryMode":                           "Dispatcher spec.recovery.zookeeper",
	"spark.deploy.zookeeper.url":                          "Dispatcher spec.recovery.zookeeper.url",
	"spark.deploy.zookeeper.dir":                          "Dispatcher spec.recovery.zookeeper.dir",
	"spark.app.name":                                      "SparkApplication spec.appName",
	"spark.master":                                        "render: from spec.dispatcher",
	"spark.submit.deployMode":                             "render: always cluster",
}

func TestSeedPropertyFields(t *testing.T) {
	m := loadDir(t, "../examples/manifests/*.yaml")
	// Which field sets each key, per kind, across the examples.
	setBy := map[string]map[string]bool{}
	for _, o := range m.Objects {
		var spec any
		switch x := o.(type) {
		case *v1.SparkApplication:
			spec = &x.Spec
		case *v1.Dispatcher:
			spec = &x.Spec
		case *v1.ShuffleService:
			spec = &x.Spec
		default:
			continue
		}
		for _, f := range v1.SparkFields(spec, nil) {
			if setBy[f.Key] == nil {
				setBy[f.Key] = map[string]bool{}
			}
			setBy[f.Key][o.GetKind()+" spec."+f.Path.String()] = true
		}
	}
	seeds := seedProperties(t)
	for _, seed := range seeds {
		want, ok := seedFields[seed]
		if !ok {
			t.Errorf("%s: no entry in seedFields says which field sets it", seed)
			continue
		}
		if strings.HasPrefix(want, "render: ") {
			continue // checked below
		}
		key := seed
		if i := strings.Index(seed, "["); i >= 0 {
			// The instance named in the table: env["TZ"] -> ...TZ, queues[0] -> URGENT.
			switch {
			case strings.Contains(want, `["`):
				key = seed[:i] + want[strings.Index(want, `["`)+2:strings.LastIndex(want, `"]`)]
			case strings.Contains(seed, "queue."):
				key = seed[:i] + "URGENT"
			}
		}
		if !setBy[key][want] {
			t.Errorf("%s: expected %s to set %s; the examples show %v", seed, want, key, setBy[key])
		}
	}
	if len(seeds) != len(seedFields) {
		t.Errorf("seed-properties.txt has %d entries, the table %d", len(seeds), len(seedFields))
	}
	// The keys render itself sets.
	app := m.Get(v1.KindSparkApplication, "spark-pi").(*v1.SparkApplication)
	a, err := SparkApplication(app, m.Dispatcher("main"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Request.SparkProperties["spark.master"]; got != "mesos://main.dispatcher:7077" {
		t.Errorf("spark.master = %q, want the dispatcher named by spec.dispatcher", got)
	}
	if got := a.Request.SparkProperties["spark.submit.deployMode"]; got != "cluster" {
		t.Errorf("spark.submit.deployMode = %q", got)
	}
}
