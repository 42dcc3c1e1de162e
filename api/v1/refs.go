package v1

import (
	"slices"
	"sort"
	"strings"
)

var (
	specPath     = p("spec")
	templatePath = p("spec", "template")
)

func validateRefs(o Object, objs map[Ref]Object, roles map[string]bool, s problemSink) {
	switch x := o.(type) {
	case *SparkApplication:
		validateAppRefs(&x.Spec, specPath, objs, roles, s)
	case *ScheduledSparkApplication:
		validateAppRefs(&x.Spec.Template, templatePath, objs, roles, s)
	}
}

// validateAppRefs checks what an application spec (at base: a
// SparkApplication's spec, a schedule's template) refers to.
func validateAppRefs(spec *SparkApplicationSpec, base Path, objs map[Ref]Object, roles map[string]bool, s problemSink) {
	queue, fromConf := spec.Queue, false
	if q, ok := spec.SparkConf["spark.mesos.dispatcher.queue"]; ok && queue == "" {
		queue, fromConf = q, true
	}
	qat := base.Field("queue")
	if fromConf {
		qat = base.Field("sparkConf").Key("spark.mesos.dispatcher.queue")
	}
	if queue == "" && fromConf {
		// Spark looks an empty queue name up too, and fails.
		s.errorf(qat, "an empty queue name is no queue; remove it for the default queue (MesosClusterScheduler.scala fails the lookup)")
	}
	switch {
	case spec.Dispatcher.Name != "":
		d, _ := objs[Ref{Kind: KindDispatcher, Name: spec.Dispatcher.Name}].(*Dispatcher)
		if d == nil {
			s.errorf(base.Field("dispatcher").Field("name"), "no Dispatcher %q among the loaded manifests; load the file that defines it too, or use dispatcher.external", spec.Dispatcher.Name)
			return
		}
		if queue != "" && queue != "default" && d.Spec.QueueByName(queue) == nil {
			s.errorf(qat, "dispatcher %q has no queue %q; its queues are %s (an unknown queue is accepted, then stops the dispatcher from launching any driver)",
				d.Metadata.Name, queue, strings.Join(d.Spec.QueueNames(), ", "))
		}
	case spec.Dispatcher.External != nil && len(spec.Dispatcher.External.Queues) > 0:
		if queue != "" && queue != "default" && !slices.Contains(spec.Dispatcher.External.Queues, queue) {
			s.errorf(qat, "queue %q is not among the external dispatcher's queues (%s)", queue, strings.Join(spec.Dispatcher.External.Queues, ", "))
		}
	case spec.Dispatcher.External != nil && queue != "" && queue != "default":
		s.warnf(qat, "the external dispatcher's queues are not declared, so queue %q cannot be checked: a queue the dispatcher lacks is accepted, then stops it from launching any driver; list its queues in dispatcher.external.queues", queue)
	}
	if ss := spec.ShuffleService; ss != nil && ss.Name != "" {
		if objs[Ref{Kind: KindShuffleService, Name: ss.Name}] == nil {
			s.errorf(base.Field("shuffleService").Field("name"), "no ShuffleService %q among the loaded manifests", ss.Name)
		}
	}
	// The role its executors use: its own, or its queue's.
	role, at := spec.Role, base.Field("role")
	if role == "" && spec.Dispatcher.Name != "" {
		if d, _ := objs[Ref{Kind: KindDispatcher, Name: spec.Dispatcher.Name}].(*Dispatcher); d != nil {
			if q := d.Spec.QueueByName(queue); q != nil {
				role, at = q.Role, base.Field("queue")
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

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
