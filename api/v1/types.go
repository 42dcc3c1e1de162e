// Package v1 is the manifest API of the reconciler: the kinds people write
// (SparkApplication, Dispatcher, ShuffleService, MesosRole), how they are read
// from YAML or JSON with every error placed at file:line:column, their
// defaults, and their validation.
//
// A manifest is a Kubernetes-style document:
//
//	apiVersion: sparkmesos.io/v1
//	kind: SparkApplication
//	metadata:
//	  name: spark-pi
//	spec:
//	  dispatcher: {name: main}
//	  mainClass: org.apache.spark.examples.SparkPi
//	  mainApplicationFile: https://repo.example/spark-examples.jar
//
// Every Spark property that the "Running on Mesos" documentation names has a
// typed field; the field's `spark` struct tag names the property it sets.
// Anything else goes in spec.sparkConf, which may not set a property that a
// typed field owns.
//
// The package imports nothing else of the project.
package v1

import "time"

// APIVersion is the only apiVersion this package reads.
const APIVersion = "sparkmesos.io/v1"

// The kinds of this API version.
const (
	KindSparkApplication = "SparkApplication"
	KindDispatcher       = "Dispatcher"
	KindShuffleService   = "ShuffleService"
	KindMesosRole        = "MesosRole"
)

// Kinds lists every kind, in the order objects of different kinds are printed.
var Kinds = []string{KindMesosRole, KindDispatcher, KindShuffleService, KindSparkApplication, KindScheduledSparkApplication, KindNotifier}

// ObjectMeta is the metadata every object carries.
type ObjectMeta struct {
	// Name identifies the object among those of its kind: a DNS label
	// (lower-case letters, digits and '-', at most 63 characters).
	Name string `json:"name"`
	// Labels are free-form key/value pairs for selecting objects.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are free-form key/value pairs for tools and people.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// TypeMeta names the API version and kind of a document.
type TypeMeta struct {
	// APIVersion must be sparkmesos.io/v1.
	APIVersion string `json:"apiVersion"`
	// Kind is one of SparkApplication, Dispatcher, ShuffleService, MesosRole,
	// ScheduledSparkApplication.
	Kind string `json:"kind"`
}

// Object is implemented by every kind.
type Object interface {
	GetKind() string
	GetName() string
	GetMeta() *ObjectMeta
	// Origin tells where the object was loaded from.
	Origin() *Origin
}

// Ref names an object: its kind and name.
type Ref struct {
	Kind string
	Name string
}

// String formats the reference as Kind/name.
func (r Ref) String() string { return r.Kind + "/" + r.Name }

// RefOf returns the reference of an object.
func RefOf(o Object) Ref { return Ref{Kind: o.GetKind(), Name: o.GetName()} }

// SparkApplication is one Spark application submitted in cluster mode through
// a MesosClusterDispatcher: a batch job that runs to completion, or a
// long-running one (restartPolicy Always).
type SparkApplication struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta           `json:"metadata"`
	Spec     SparkApplicationSpec `json:"spec"`
	origin   Origin
}

// SparkApplicationSpec is what a SparkApplication asks for.
type SparkApplicationSpec struct {
	// Dispatcher is where the application is submitted: a Dispatcher object by
	// name, or an external dispatcher by URL. Sets spark.master.
	Dispatcher DispatcherRef `json:"dispatcher"`
	// Queue is the dispatcher queue the driver waits in; it must be one of the
	// dispatcher's queues. Default: the dispatcher's "default" queue.
	Queue string `json:"queue,omitempty" spark:"spark.mesos.dispatcher.queue"`
	// Role is the Mesos role the application's executors use (the driver task
	// runs under the dispatcher's role). Default: *.
	Role string `json:"role,omitempty" spark:"spark.mesos.role"`
	// AppName is the Spark application name, also the name of the driver's Mesos
	// framework. Default: metadata.name.
	AppName string `json:"appName,omitempty" spark:"spark.app.name"`
	// SparkVersion is the Spark version sent as clientSparkVersion. Default: 3.4.1.
	SparkVersion string `json:"sparkVersion,omitempty"`
	// Type is the application's language: Java, Scala, Python or R. Default: Scala.
	Type string `json:"type,omitempty" jsonschema:"enum=Java,enum=Scala,enum=Python,enum=R"`
	// MainClass is the entry point of a JVM application. Required for Java and Scala.
	MainClass string `json:"mainClass,omitempty"`
	// MainApplicationFile is the application jar or script, a URI the agents can
	// fetch (http, https, hdfs, s3a, file, local...).
	MainApplicationFile string `json:"mainApplicationFile"`
	// Arguments are passed to the main class or script.
	Arguments []string `json:"arguments,omitempty"`
	// AppJarLocalResolution says how a local:// application file is found: host
	// (the Mesos fetcher copies it from the agent) or container (used in place).
	AppJarLocalResolution string `json:"appJarLocalResolution,omitempty" spark:"spark.mesos.appJar.local.resolution.mode" jsonschema:"enum=host,enum=container"`
	// Mode is coarse (one long-lived Mesos task per executor, the default) or
	// fine (one Mesos task per Spark task; deprecated since Spark 2.0).
	Mode string `json:"mode,omitempty" spark:"spark.mesos.coarse" jsonschema:"enum=coarse,enum=fine"`
	// Driver sizes and places the driver task.
	Driver DriverSpec `json:"driver,omitempty"`
	// Executor sizes and places the executors.
	Executor ExecutorSpec `json:"executor,omitempty"`
	// Docker runs the driver and executors in a container image.
	Docker *DockerSpec `json:"docker,omitempty"`
	// Network attaches the driver and executor containers to a named (CNI) network.
	Network *NetworkSpec `json:"network,omitempty"`
	// URIs are downloaded into the sandbox of the driver and of every executor.
	URIs []string `json:"uris,omitempty" spark:"spark.mesos.uris"`
	// FetcherCache caches every downloaded URI in the Mesos fetcher cache.
	FetcherCache *bool `json:"fetcherCache,omitempty" spark:"spark.mesos.fetcherCache.enable"`
	// RejectOfferDurations say how long offers the application cannot use are refused.
	RejectOfferDurations *RejectOfferDurations `json:"rejectOfferDurations,omitempty"`
	// Credentials authenticate the driver's framework to Mesos.
	Credentials *Credentials `json:"credentials,omitempty"`
	// ShuffleService makes executors use the external shuffle service (see the
	// ShuffleService kind), which dynamic allocation needs.
	ShuffleService *ShuffleServiceUse `json:"shuffleService,omitempty"`
	// DynamicAllocation scales the number of executors with the workload.
	DynamicAllocation *DynamicAllocation `json:"dynamicAllocation,omitempty"`
	// BlockManagerPort pins the block manager port; it must be inside the agents'
	// ports resource and means one executor per agent.
	BlockManagerPort *int `json:"blockManagerPort,omitempty" spark:"spark.blockManager.port"`
	// SparkConf holds any other Spark property. A key that a typed field sets is
	// an error naming both places.
	SparkConf map[string]string `json:"sparkConf,omitempty"`
	// RestartPolicy says when the reconciler submits the application again after
	// its driver ended.
	RestartPolicy RestartPolicy `json:"restartPolicy,omitempty"`
	// ChangePolicy says what a change of this spec does to a running driver:
	// Restart (kill it and submit the new spec now, the default) or NextRun
	// (let it finish; the next submission uses the new spec).
	ChangePolicy string `json:"changePolicy,omitempty" jsonschema:"enum=Restart,enum=NextRun"`
	// Suspend kills the driver and keeps it from being submitted or
	// restarted, keeping the application's record; removing it resumes
	// the application (a batch run that suspend killed is submitted again).
	Suspend bool `json:"suspend,omitempty"`
	// StartDeadline bounds the time from submission to the driver running:
	// a driver still queued in the dispatcher (no offer fits it) or still
	// starting (an image that never pulls) is killed, a failure of class
	// deadline, counted against maxRetries.
	StartDeadline *Duration `json:"startDeadline,omitempty"`
	// ActiveDeadline bounds a run's time from submission to its end: a
	// driver still running then is killed, a failure of class deadline,
	// never restarted but under restartPolicy Always.
	ActiveDeadline *Duration `json:"activeDeadline,omitempty"`
	// HistoryLimit is how many runs the application's record keeps (the
	// newest; status, history and logs read them). Default 10, at most 50.
	HistoryLimit *int `json:"historyLimit,omitempty"`
}

// DefaultHistoryLimit and MaxHistoryLimit bound the runs a record keeps.
const (
	DefaultHistoryLimit = 10
	MaxHistoryLimit     = 50
)

// DispatcherRef points at the dispatcher an application is submitted to.
// Exactly one of Name and External is set.
type DispatcherRef struct {
	// Name of a Dispatcher object among the loaded manifests.
	Name string `json:"name,omitempty"`
	// External is a dispatcher the manifests do not describe.
	External *ExternalDispatcher `json:"external,omitempty"`
}

// ExternalDispatcher is a MesosClusterDispatcher managed outside these manifests.
type ExternalDispatcher struct {
	// URL of the dispatcher's REST server: mesos://host:7077 or http://host:7077.
	URL string `json:"url"`
	// Queues the dispatcher is known to have, besides "default"; when set, an
	// application's queue is checked against them.
	Queues []string `json:"queues,omitempty"`
}

// DriverSpec sizes and places the driver.
type DriverSpec struct {
	// Cores of the driver task; fractions are allowed. Default: 1.
	Cores *float64 `json:"cores,omitempty" spark:"spark.driver.cores"`
	// Memory is the driver's JVM heap, such as 2g. Default: 1g.
	Memory *ByteSize `json:"memory,omitempty" spark:"spark.driver.memory"`
	// MemoryOverhead is the memory the driver task gets beyond its heap, a whole
	// number of MiB. Default: max(384m, 10% of memory).
	MemoryOverhead *ByteSize `json:"memoryOverhead,omitempty" spark:"spark.mesos.driver.memoryOverhead,mib"`
	// Supervise makes the dispatcher relaunch the driver when it fails or is lost.
	Supervise *bool `json:"supervise,omitempty" spark:"spark.driver.supervise"`
	// Constraints restrict the agents the driver may run on.
	Constraints Constraints `json:"constraints,omitempty" spark:"spark.mesos.driver.constraints"`
	// Labels are added to the driver's Mesos task, next to the reconciler's own
	// ownership labels.
	Labels map[string]string `json:"labels,omitempty" spark:"spark.mesos.driver.labels"`
	// Env sets environment variables of the driver process.
	Env map[string]string `json:"env,omitempty" spark:"spark.mesos.driverEnv.*"`
	// WebUIURL is the webui_url of the driver's framework. Default: Spark's own UI.
	WebUIURL string `json:"webUIURL,omitempty" spark:"spark.mesos.driver.webui.url"`
	// FailoverTimeout is how long Mesos keeps the executors after the driver
	// disconnects. Default: 0s (torn down at once).
	FailoverTimeout *Duration `json:"failoverTimeout,omitempty" spark:"spark.mesos.driver.failoverTimeout,seconds"`
	// Secrets are delivered to the driver as environment variables or files.
	Secrets []Secret `json:"secrets,omitempty" spark:"spark.mesos.driver.secret.*"`
}

// ExecutorSpec sizes and places the executors.
type ExecutorSpec struct {
	// Cores per executor. Without it one executor takes every core of an offer.
	Cores *int `json:"cores,omitempty" spark:"spark.executor.cores"`
	// Memory is each executor's JVM heap, such as 4g. Default: 1g.
	Memory *ByteSize `json:"memory,omitempty" spark:"spark.executor.memory"`
	// MemoryOverhead is the memory each executor task gets beyond its heap, a
	// whole number of MiB. Default: max(384m, 10% of memory).
	MemoryOverhead *ByteSize `json:"memoryOverhead,omitempty" spark:"spark.mesos.executor.memoryOverhead,mib"`
	// MaxCores caps the cores of all executors together; executors =
	// maxCores / cores. Without it the application takes every core offered.
	MaxCores *int `json:"maxCores,omitempty" spark:"spark.cores.max"`
	// ExtraCores are advertised to the driver beyond the allocated cores, to
	// raise parallelism (coarse mode).
	ExtraCores *int `json:"extraCores,omitempty" spark:"spark.mesos.extra.cores"`
	// MesosExecutorCores are the cores of each Mesos executor itself (fine mode
	// only). Default: 1.
	MesosExecutorCores *float64 `json:"mesosExecutorCores,omitempty" spark:"spark.mesos.mesosExecutor.cores"`
	// MaxGPUs caps the GPUs the application acquires. Default: 0.
	MaxGPUs *int `json:"maxGPUs,omitempty" spark:"spark.mesos.gpus.max"`
	// Home is where Spark is installed on the agents, when URI is not set.
	Home string `json:"home,omitempty" spark:"spark.mesos.executor.home"`
	// URI is a Spark distribution the agents download for the executors.
	URI string `json:"uri,omitempty" spark:"spark.executor.uri"`
	// Env sets environment variables of the executors.
	Env map[string]string `json:"env,omitempty" spark:"spark.executorEnv.*"`
	// Labels are added to every executor's Mesos task, next to the reconciler's
	// ownership labels.
	Labels map[string]string `json:"labels,omitempty" spark:"spark.mesos.task.labels"`
	// Constraints restrict the agents executors may run on.
	Constraints Constraints `json:"constraints,omitempty" spark:"spark.mesos.constraints"`
	// Secrets are delivered to every executor as environment variables or files.
	Secrets []Secret `json:"secrets,omitempty" spark:"spark.mesos.executor.secret.*"`
}

// Secret is one secret delivered to the driver or the executors. Its content is
// either a reference into the Mesos secret store (Name) or a value the
// reconciler resolves at submission (Value or ValueFrom); all secrets of one
// list must be of the same sort. It is delivered as an environment variable
// (EnvKey), a file (FileName), or both; all secrets of one list must use the
// same delivery.
type Secret struct {
	// Name references a secret in the Mesos secret store.
	Name string `json:"name,omitempty"`
	// Value is the secret itself. It is never printed; prefer ValueFrom.
	Value string `json:"value,omitempty"`
	// ValueFrom reads the secret from the reconciler's environment or a file at
	// submission time.
	ValueFrom *ValueSource `json:"valueFrom,omitempty"`
	// EnvKey is the environment variable the secret is delivered in.
	EnvKey string `json:"envKey,omitempty"`
	// FileName is the file, relative to the sandbox, the secret is delivered in.
	FileName string `json:"fileName,omitempty"`
}

// ValueSource is where the reconciler reads a secret at submission time.
// Exactly one field is set.
type ValueSource struct {
	// Env is an environment variable of the reconciler process.
	Env string `json:"env,omitempty"`
	// File is a file readable by the reconciler process; its content is used verbatim.
	File string `json:"file,omitempty"`
}

// Describe names the source, never its value: env:NAME or file:PATH.
func (v ValueSource) Describe() string {
	if v.Env != "" {
		return "env:" + v.Env
	}
	return "file:" + v.File
}

// Credentials authenticate a framework to Mesos.
type Credentials struct {
	// Principal is the framework principal.
	Principal *CredentialSource `json:"principal,omitempty" spark:"spark.mesos.principal"`
	// Secret is the framework secret; it needs a principal.
	Secret *CredentialSource `json:"secret,omitempty" spark:"spark.mesos.secret"`
}

// CredentialSource gives a principal or secret in exactly one of the ways
// Spark reads them. Spark's own preference order (property, SPARK_MESOS_*
// variable, .file property, SPARK_MESOS_*_FILE variable) never has to decide,
// because a manifest may give only one.
type CredentialSource struct {
	// Value is the credential itself (spark.mesos.principal or
	// spark.mesos.secret). A secret given this way is never printed.
	Value string `json:"value,omitempty"`
	// File is a path readable by the driver on its agent
	// (spark.mesos.principal.file or spark.mesos.secret.file).
	File string `json:"file,omitempty"`
	// ValueFrom reads the credential from the reconciler's environment or a file
	// at submission time and sends it as the value.
	ValueFrom *ValueSource `json:"valueFrom,omitempty"`
}

// DockerSpec runs the driver and executors in a Docker image.
type DockerSpec struct {
	// Image has Spark installed (see executor.home) and a compatible libmesos.
	Image string `json:"image" spark:"spark.mesos.executor.docker.image"`
	// ForcePull makes agents pull the image even when they have it cached.
	ForcePull *bool `json:"forcePull,omitempty" spark:"spark.mesos.executor.docker.forcePullImage"`
	// Parameters are passed to docker run (docker containerizer only).
	Parameters []DockerParameter `json:"parameters,omitempty" spark:"spark.mesos.executor.docker.parameters"`
	// Volumes are mounted into the container.
	Volumes []DockerVolume `json:"volumes,omitempty" spark:"spark.mesos.executor.docker.volumes"`
	// Containerizer is docker (the default) or mesos (the Mesos containerizer
	// running the Docker image).
	Containerizer string `json:"containerizer,omitempty" spark:"spark.mesos.containerizer" jsonschema:"enum=docker,enum=mesos"`
}

// DockerParameter is one docker run parameter, key=value.
type DockerParameter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// NetworkSpec attaches containers to a named network.
type NetworkSpec struct {
	// Name of the CNI network.
	Name string `json:"name" spark:"spark.mesos.network.name"`
	// Labels are passed to the CNI plugins.
	Labels map[string]string `json:"labels,omitempty" spark:"spark.mesos.network.labels"`
}

// RejectOfferDurations say how long offers an application cannot use are refused.
type RejectOfferDurations struct {
	// Default applies when no more specific duration is set. Default: 120s.
	Default *Duration `json:"default,omitempty" spark:"spark.mesos.rejectOfferDuration"`
	// UnmetConstraints applies to offers that do not match the constraints.
	UnmetConstraints *Duration `json:"unmetConstraints,omitempty" spark:"spark.mesos.rejectOfferDurationForUnmetConstraints"`
	// ReachedMaxCores applies once executor.maxCores is reached.
	ReachedMaxCores *Duration `json:"reachedMaxCores,omitempty" spark:"spark.mesos.rejectOfferDurationForReachedMaxCores"`
}

// ShuffleServiceUse makes executors serve shuffle files through the external
// shuffle service running on every agent.
type ShuffleServiceUse struct {
	// Enabled turns the external shuffle service on for this application.
	Enabled bool `json:"enabled" spark:"spark.shuffle.service.enabled"`
	// Name of the ShuffleService object the application relies on, checked when
	// the manifests are loaded together. Optional.
	Name string `json:"name,omitempty"`
}

// DynamicAllocation scales the number of executors with the workload.
type DynamicAllocation struct {
	// Enabled turns dynamic allocation on; it needs the external shuffle service.
	Enabled bool `json:"enabled" spark:"spark.dynamicAllocation.enabled"`
	// MinExecutors is the lower bound. Default: 0.
	MinExecutors *int `json:"minExecutors,omitempty" spark:"spark.dynamicAllocation.minExecutors"`
	// MaxExecutors is the upper bound. Default: unbounded.
	MaxExecutors *int `json:"maxExecutors,omitempty" spark:"spark.dynamicAllocation.maxExecutors"`
	// InitialExecutors is how many executors to start with. Default: minExecutors.
	InitialExecutors *int `json:"initialExecutors,omitempty" spark:"spark.dynamicAllocation.initialExecutors"`
	// ExecutorIdleTimeout removes an executor idle for this long. Default: 60s.
	ExecutorIdleTimeout *Duration `json:"executorIdleTimeout,omitempty" spark:"spark.dynamicAllocation.executorIdleTimeout"`
}

// Restart policy types.
const (
	RestartNever     = "Never"
	RestartOnFailure = "OnFailure"
	RestartAlways    = "Always"
)

// Change policy types.
const (
	ChangeRestart = "Restart"
	ChangeNextRun = "NextRun"
)

// RestartPolicy says when the reconciler submits an application again after
// its driver ended.
type RestartPolicy struct {
	// Type is Never (the default: a batch job runs once per spec), OnFailure
	// (again after a failed, killed or lost driver) or Always (again after any
	// end: a long-running application).
	Type string `json:"type,omitempty" jsonschema:"enum=Never,enum=OnFailure,enum=Always"`
	// MaxRetries bounds the restarts of one spec after failures of the
	// application itself (the driver exited non-zero, was killed by
	// someone else, or missed its startDeadline). Default: 3 for
	// OnFailure, unbounded for Always.
	MaxRetries *int `json:"maxRetries,omitempty"`
	// OnInfrastructureFailureRetries bounds the restarts after failures of
	// the infrastructure (the agent was lost or removed, the container
	// failed to launch or was killed by the agent, the dispatcher lost the
	// driver before it launched), counted apart from maxRetries. Default:
	// 3 for OnFailure, unbounded for Always, 0 for Never (set it to retry
	// only those).
	OnInfrastructureFailureRetries *int `json:"onInfrastructureFailureRetries,omitempty"`
	// MaxConsecutiveFailures stops restarting after that many failures in
	// a row of any class. Default: no such limit.
	MaxConsecutiveFailures *int `json:"maxConsecutiveFailures,omitempty"`
	// ResetAfter: a run that stayed up at least this long resets the
	// failure counters when it ends. Default: only a success or a new spec
	// resets them.
	ResetAfter *Duration `json:"resetAfter,omitempty"`
	// Backoff spaces restarts: initial, doubled after each failure, capped at max.
	Backoff *Backoff `json:"backoff,omitempty"`
}

// The restart defaults, of applications (restartPolicy) and of the
// reconciler's long-running services alike.
const (
	DefaultBackoffInitial   = 10 * time.Second
	DefaultBackoffMax       = 5 * time.Minute
	DefaultOnFailureRetries = 3
)

// Backoff is a capped exponential backoff.
type Backoff struct {
	// Initial delay before the first restart. Default: 10s.
	Initial *Duration `json:"initial,omitempty"`
	// Max caps the delay. Default: 5min.
	Max *Duration `json:"max,omitempty"`
}

// Dispatcher is a MesosClusterDispatcher that applications are submitted to:
// managed (the reconciler keeps it running as a Mesos task) or external (only
// its URL is known).
type Dispatcher struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta     `json:"metadata"`
	Spec     DispatcherSpec `json:"spec"`
	origin   Origin
}

// DispatcherSpec describes a dispatcher.
type DispatcherSpec struct {
	// External is a dispatcher run by someone else, reached at its URL.
	External *ExternalDispatcher `json:"external,omitempty"`
	// Managed is a dispatcher the reconciler runs as a Mesos task.
	Managed *ManagedDispatcher `json:"managed,omitempty"`
	// Queues are the dispatcher's priority queues besides "default" (priority 0).
	Queues []Queue `json:"queues,omitempty" spark:"spark.mesos.dispatcher.queue.*"`
	// Recovery keeps the dispatcher's state in ZooKeeper so that a relaunched
	// dispatcher recovers its queued and running drivers.
	Recovery *Recovery `json:"recovery,omitempty"`
	// DriverDefaults are Spark properties every driver submitted through this
	// dispatcher gets unless its submission sets them. They reach the
	// driver's conf (and so size its executors), never the driver's own
	// Mesos task, which Spark sizes from the submission alone.
	DriverDefaults map[string]string `json:"driverDefaults,omitempty" spark:"spark.mesos.dispatcher.driverDefault.*"`
	// WebUIURL is the webui_url of the dispatcher's framework.
	WebUIURL string `json:"webUIURL,omitempty" spark:"spark.mesos.dispatcher.webui.url"`
	// HistoryServerURL links each driver to its history server entry.
	HistoryServerURL string `json:"historyServerURL,omitempty" spark:"spark.mesos.dispatcher.historyServer.url"`
	// ProxyBaseURL is the Mesos master's URL as seen by users (Mesos >= 1.4), so
	// the dispatcher UI links each driver's sandbox.
	ProxyBaseURL string `json:"proxyBaseURL,omitempty" spark:"spark.mesos.proxy.baseURL"`
	// Role is the Mesos role of the dispatcher's framework, which driver tasks use.
	Role string `json:"role,omitempty" spark:"spark.mesos.role"`
	// Credentials authenticate the dispatcher's framework to Mesos.
	Credentials *Credentials `json:"credentials,omitempty"`
	// URIs are downloaded into every driver's sandbox.
	URIs []string `json:"uris,omitempty" spark:"spark.mesos.uris"`
	// FetcherCache caches the drivers' URIs in the Mesos fetcher cache.
	FetcherCache *bool `json:"fetcherCache,omitempty" spark:"spark.mesos.fetcherCache.enable"`
	// SparkConf holds other properties of the dispatcher process.
	SparkConf map[string]string `json:"sparkConf,omitempty"`
}

// ManagedDispatcher is how the reconciler runs a dispatcher as a Mesos task.
type ManagedDispatcher struct {
	// Master is the Mesos master URL the dispatcher registers with:
	// mesos://host:5050 or mesos://zk://h1:2181,h2:2181/mesos.
	Master string `json:"master"`
	// FrameworkName is the dispatcher's Mesos framework name. Default: "Spark Cluster".
	FrameworkName string `json:"frameworkName,omitempty"`
	// Port of the REST submission server. Default: 7077.
	Port *int `json:"port,omitempty"`
	// WebUIPort of the dispatcher UI. Default: 8081.
	WebUIPort *int `json:"webUIPort,omitempty"`
	// CPUs of the dispatcher task. Default: 1.
	CPUs *float64 `json:"cpus,omitempty"`
	// Memory of the dispatcher JVM (SPARK_DAEMON_MEMORY); the task gets 384m
	// more. Default: 1g.
	Memory *ByteSize `json:"memory,omitempty"`
	// Constraints restrict the agents the dispatcher may run on.
	Constraints Constraints `json:"constraints,omitempty"`
	// SparkHome is where Spark is installed on the agent (or in the image).
	SparkHome string `json:"sparkHome,omitempty"`
	// SparkURI is a Spark distribution to download instead of SparkHome.
	SparkURI string `json:"sparkURI,omitempty"`
	// Image runs the dispatcher in this Docker image.
	Image string `json:"image,omitempty"`
}

// Queue is a dispatcher queue with a priority: higher runs first.
type Queue struct {
	// Name of the queue, as applications name it in spec.queue.
	Name string `json:"name"`
	// Priority of the queue; higher numbers are served first. The default queue has 0.
	Priority float64 `json:"priority"`
	// Role is the Mesos role drivers of this queue should use, so that a queue
	// maps to a weighted role; applications in the queue get it unless they set
	// spec.role.
	Role string `json:"role,omitempty"`
}

// Recovery configures the dispatcher's ZooKeeper recovery.
type Recovery struct {
	// ZooKeeper holds the dispatcher's state.
	ZooKeeper *ZooKeeperRecovery `json:"zookeeper,omitempty" spark:"spark.deploy.recoveryMode"`
}

// ZooKeeperRecovery is where in ZooKeeper the dispatcher keeps its state.
type ZooKeeperRecovery struct {
	// URL is a ZooKeeper connect string, host1:2181,host2:2181 (no zk:// prefix).
	URL string `json:"url" spark:"spark.deploy.zookeeper.url"`
	// Dir is the znode under which state is kept. Default: /spark_mesos_dispatcher.
	Dir string `json:"dir,omitempty" spark:"spark.deploy.zookeeper.dir"`
}

// ShuffleService keeps exactly one Spark external shuffle service task on
// every agent that matches its constraints, for dynamic allocation.
type ShuffleService struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta         `json:"metadata"`
	Spec     ShuffleServiceSpec `json:"spec"`
	origin   Origin
}

// ShuffleServiceSpec describes the shuffle service tasks.
type ShuffleServiceSpec struct {
	// Port the service listens on; it must be in the agents' ports resource. Default: 7337.
	Port *int `json:"port,omitempty" spark:"spark.shuffle.service.port"`
	// Constraints select the agents that get a shuffle service.
	Constraints Constraints `json:"constraints,omitempty"`
	// CPUs of each task. Default: 0.5.
	CPUs *float64 `json:"cpus,omitempty"`
	// Memory of each service's JVM (SPARK_DAEMON_MEMORY). Default: 1g.
	Memory *ByteSize `json:"memory,omitempty"`
	// Role the tasks are launched under. Default: *.
	Role string `json:"role,omitempty"`
	// SparkHome is where Spark is installed on the agents (or in the image).
	SparkHome string `json:"sparkHome,omitempty"`
	// SparkURI is a Spark distribution to download instead of SparkHome.
	SparkURI string `json:"sparkURI,omitempty"`
	// Image runs the service in this Docker image (host network).
	Image string `json:"image,omitempty"`
	// LocalDirs are the executors' spark.local.dir paths on the agents; the
	// service must see the same paths to serve their files.
	LocalDirs []string `json:"localDirs,omitempty" spark:"spark.local.dir"`
	// CleanerInterval is how often data of finished applications is removed. Default: 30s.
	CleanerInterval *Duration `json:"cleanerInterval,omitempty" spark:"spark.shuffle.cleaner.interval"`
	// SparkConf holds other properties of the service (passed as -D options).
	SparkConf map[string]string `json:"sparkConf,omitempty"`
}

// MesosRole is a Mesos role with a weight and a quota, converged through the
// Mesos operator API.
type MesosRole struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta    `json:"metadata"`
	Spec     MesosRoleSpec `json:"spec"`
	origin   Origin
}

// MesosRoleSpec describes a role.
type MesosRoleSpec struct {
	// Role is the Mesos role name when it differs from metadata.name (Mesos
	// roles may contain upper case and '/'). Default: metadata.name.
	Role string `json:"role,omitempty"`
	// Weight of the role in the allocator's fair sharing. Default: 1.
	Weight *float64 `json:"weight,omitempty"`
	// Quota guarantees and limits resources of the role.
	Quota *Quota `json:"quota,omitempty"`
	// External declares a role managed outside the reconciler: applications
	// may use it; its weight and quota are shown, never set or reset.
	External bool `json:"external,omitempty"`
}

// Quota is a role's guaranteed and maximum resources.
type Quota struct {
	// Guarantees are resources the role is always offered.
	Guarantees *Resources `json:"guarantees,omitempty"`
	// Limits are resources the role is never offered more of.
	Limits *Resources `json:"limits,omitempty"`
	// Force sets the quota even when the guarantees of all roles exceed
	// the cluster's capacity, which Mesos otherwise refuses (UPDATE_QUOTA's
	// force flag): for guarantees meant for agents still to join.
	Force bool `json:"force,omitempty"`
}

// Resources is an amount of Mesos scalar resources.
type Resources struct {
	CPUs *float64  `json:"cpus,omitempty"`
	Mem  *ByteSize `json:"mem,omitempty"`
	Disk *ByteSize `json:"disk,omitempty"`
	GPUs *float64  `json:"gpus,omitempty"`
}

func (o *SparkApplication) GetKind() string      { return KindSparkApplication }
func (o *SparkApplication) GetName() string      { return o.Metadata.Name }
func (o *SparkApplication) GetMeta() *ObjectMeta { return &o.Metadata }
func (o *SparkApplication) Origin() *Origin      { return &o.origin }
func (o *Dispatcher) GetKind() string            { return KindDispatcher }
func (o *Dispatcher) GetName() string            { return o.Metadata.Name }
func (o *Dispatcher) GetMeta() *ObjectMeta       { return &o.Metadata }
func (o *Dispatcher) Origin() *Origin            { return &o.origin }
func (o *ShuffleService) GetKind() string        { return KindShuffleService }
func (o *ShuffleService) GetName() string        { return o.Metadata.Name }
func (o *ShuffleService) GetMeta() *ObjectMeta   { return &o.Metadata }
func (o *ShuffleService) Origin() *Origin        { return &o.origin }
func (o *MesosRole) GetKind() string             { return KindMesosRole }
func (o *MesosRole) GetName() string             { return o.Metadata.Name }
func (o *MesosRole) GetMeta() *ObjectMeta        { return &o.Metadata }
func (o *MesosRole) Origin() *Origin             { return &o.origin }
func (o *ScheduledSparkApplication) GetKind() string {
	return KindScheduledSparkApplication
}
func (o *ScheduledSparkApplication) GetName() string      { return o.Metadata.Name }
func (o *ScheduledSparkApplication) GetMeta() *ObjectMeta { return &o.Metadata }
func (o *ScheduledSparkApplication) Origin() *Origin      { return &o.origin }

var (
	_ Object = (*SparkApplication)(nil)
	_ Object = (*Dispatcher)(nil)
	_ Object = (*ShuffleService)(nil)
	_ Object = (*MesosRole)(nil)
)
