package v1

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
func Load(files []File) (*Manifests, Problems) { return LoadWith(files, LoadOptions{}) }

// LoadOptions change what Load accepts.
type LoadOptions struct {
	// ScheduleSeconds accepts six-field schedules (seconds first), for
	// tests that cannot wait minutes between runs.
	ScheduleSeconds bool
}

// LoadWith is Load with options.
func LoadWith(files []File, opts LoadOptions) (*Manifests, Problems) {
	var all []Object
	var problems Problems
	own := map[Object]int{} // errors of an object's own checks
	for _, f := range files {
		objs, ps := Decode(f)
		problems = append(problems, ps...)
		for _, o := range objs {
			ops := checkObject(o, opts)
			own[o] = len(ops.Errors())
			problems = append(problems, ops...)
			o.Origin().release(o.GetKind())
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

// checkObject applies an object's own rules; problems about a field that
// failed to decode are left out (the decode error says it already).
func checkObject(o Object, opts LoadOptions) Problems {
	var ps Problems
	validateObject(o, opts, sinkFor(o, &ps))
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
	case *ScheduledSparkApplication:
		if x.Spec.ConcurrencyPolicy == "" {
			x.Spec.ConcurrencyPolicy = ConcurrencyForbid
		}
		if x.Spec.CatchUp == "" {
			x.Spec.CatchUp = CatchUpLatest
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
