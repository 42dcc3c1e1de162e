package v1

import (
	"reflect"
	"sort"
	"strings"
	"sync"
)

// SparkField is one Spark property that a typed field of a spec sets: the
// exact property key, the field path it comes from, and the field's value.
type SparkField struct {
	// Key is the exact property key, such as spark.executor.memory or
	// spark.mesos.driverEnv.JAVA_HOME.
	Key string
	// Path is the manifest field that sets it, relative to the object.
	Path Path
	// Value is the field's value with pointers removed. For secret lists it is
	// the whole list and Part tells which list property is meant.
	Value reflect.Value
	// Part is, for a secret list, one of names, values, envkeys, filenames;
	// for a credential, "value" or "file"; empty otherwise.
	Part string
	// Unit is the tag's unit option: "mib" (render as whole MiB) or
	// "seconds" (render as seconds); empty otherwise.
	Unit string
}

// SparkFields lists the Spark properties that the typed fields of spec (a
// *SparkApplicationSpec, *DispatcherSpec or *ShuffleServiceSpec) set, in
// field order. Unset fields set nothing. spec.sparkConf is not included.
func SparkFields(spec any, base Path) []SparkField {
	var out []SparkField
	walkSpark(reflect.ValueOf(spec), base, &out)
	return out
}

// sparkPlan is the parsed json and spark tags of one struct type's fields.
type sparkPlan []struct {
	index      int
	name       string // json name
	key, unit  string // from the spark tag; key empty when untagged
	tagged     bool
	structLike bool // untagged struct or pointer to struct: walked into
}

var sparkPlans sync.Map // reflect.Type -> sparkPlan

func planOf(t reflect.Type) sparkPlan {
	if p, ok := sparkPlans.Load(t); ok {
		return p.(sparkPlan)
	}
	var plan sparkPlan
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		tag, tagged := sf.Tag.Lookup("spark")
		key, unit, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		structLike := ft.Kind() == reflect.Struct
		if !tagged && !structLike {
			continue
		}
		plan = append(plan, struct {
			index      int
			name       string
			key, unit  string
			tagged     bool
			structLike bool
		}{i, name, key, unit, tagged, structLike})
	}
	sparkPlans.Store(t, plan)
	return plan
}

func walkSpark(v reflect.Value, path Path, out *[]SparkField) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	for _, f := range planOf(v.Type()) {
		fv := v.Field(f.index)
		if fv.IsZero() && !(f.tagged && fv.Kind() == reflect.Bool) {
			continue // unset: sets nothing (a false bool of a present struct still does)
		}
		if !f.tagged {
			walkSpark(fv, path.Field(f.name), out)
			continue
		}
		emitSpark(f.key, f.unit, fv, path.Field(f.name), out)
	}
}

func emitSpark(key, unit string, fv reflect.Value, path Path, out *[]SparkField) {
	add := func(k string, p Path, val reflect.Value, part string) {
		*out = append(*out, SparkField{Key: k, Path: p, Value: val, Part: part, Unit: unit})
	}
	switch x := fv.Interface().(type) {
	case []Secret:
		if len(x) == 0 {
			return
		}
		prefix := strings.TrimSuffix(key, "*")
		if x[0].Name != "" {
			add(prefix+"names", path, fv, "names")
		} else {
			add(prefix+"values", path, fv, "values")
		}
		if x[0].EnvKey != "" {
			add(prefix+"envkeys", path, fv, "envkeys")
		}
		if x[0].FileName != "" {
			add(prefix+"filenames", path, fv, "filenames")
		}
		return
	case []Queue:
		prefix := strings.TrimSuffix(key, "*")
		for i, q := range x {
			add(prefix+q.Name, path.Index(i).Field("priority"), reflect.ValueOf(q.Priority), "")
		}
		return
	case *CredentialSource:
		if x == nil {
			return
		}
		if x.File != "" {
			add(key+".file", path.Field("file"), reflect.ValueOf(x.File), "file")
		} else {
			add(key, path, fv.Elem(), "value")
		}
		return
	case *ZooKeeperRecovery:
		if x == nil {
			return
		}
		add(key, path, reflect.ValueOf("ZOOKEEPER"), "")
		walkSpark(fv, path, out)
		return
	}
	switch fv.Kind() {
	case reflect.Pointer:
		if !fv.IsNil() {
			add(key, path, fv.Elem(), "")
		}
	case reflect.String:
		if fv.Len() > 0 {
			add(key, path, fv, "")
		}
	case reflect.Slice:
		if fv.Len() > 0 {
			add(key, path, fv, "")
		}
	case reflect.Map:
		if fv.Len() == 0 {
			return
		}
		if !strings.HasSuffix(key, ".*") {
			add(key, path, fv, "")
			return
		}
		keys := make([]string, 0, fv.Len())
		for _, k := range fv.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		prefix := strings.TrimSuffix(key, "*")
		for _, k := range keys {
			add(prefix+k, path.Key(k), fv.MapIndex(reflect.ValueOf(k)), "")
		}
	case reflect.Bool:
		add(key, path, fv, "")
	default:
		if !fv.IsZero() {
			add(key, path, fv, "")
		}
	}
}
