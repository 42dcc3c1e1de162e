package v1

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// typedKey is a property a typed field sets: the field's type, its unit
// (from the spark tag) and its path relative to the spec.
type typedKey struct {
	typ  reflect.Type
	unit string
	path Path
}

var typedKeysOf sync.Map // spec type -> map[string]typedKey

// typedKeys lists, for a spec type, every property one of its typed fields
// could set (wildcard keys, such as spark.mesos.driverEnv.*, left out).
func typedKeys(spec reflect.Type) map[string]typedKey {
	if m, ok := typedKeysOf.Load(spec); ok {
		return m.(map[string]typedKey)
	}
	out := map[string]typedKey{}
	var walk func(t reflect.Type, at Path, depth int)
	walk = func(t reflect.Type, at Path, depth int) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || depth > 6 {
			return
		}
		for _, f := range planOf(t) {
			ft := t.Field(f.index).Type
			if !f.tagged {
				walk(ft, at.Field(f.name), depth+1)
				continue
			}
			if f.key == "" || strings.HasSuffix(f.key, "*") {
				continue
			}
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if _, dup := out[f.key]; !dup {
				out[f.key] = typedKey{typ: ft, unit: f.unit, path: at.Field(f.name)}
			}
		}
	}
	walk(spec, Path{}, 0)
	typedKeysOf.Store(spec, out)
	return out
}

// offerCallbackKeys are read by Spark's MesosClusterScheduler inside its
// offer callback, outside the try that catches SparkException
// (MesosClusterScheduler.scala, resourceOffers/scheduleTasks, Spark 3.5):
// a value it cannot parse there aborts the scheduler driver, and from then
// on the dispatcher launches no driver of anyone, while its REST API keeps
// accepting submissions.
var offerCallbackKeys = map[string]bool{
	"spark.mesos.driver.constraints":    true,
	"spark.mesos.driver.memoryOverhead": true,
	"spark.driver.memoryOverheadFactor": true,
}

// checkTypedValue checks a sparkConf value of a property a typed field
// could set, with that field's grammar; "" when it is fine.
func checkTypedValue(key, value string, tk typedKey) string {
	switch tk.typ {
	case reflect.TypeOf(Constraints{}):
		if _, err := ParseConstraints(value); err != nil {
			return err.Error()
		}
	case reflect.TypeOf(ByteSize{}):
		if tk.unit == "mib" {
			if n, err := strconv.Atoi(strings.TrimSpace(value)); err != nil || n < 0 {
				return fmt.Sprintf("%q is not a whole number of MiB: Spark reads %s as an integer (write 512, not 512m)", value, key)
			}
			return ""
		}
		if _, err := ParseByteSize(value); err != nil {
			return err.Error()
		}
	case reflect.TypeOf(Duration{}):
		if tk.unit == "seconds" {
			if _, err := strconv.ParseFloat(value, 64); err != nil {
				return fmt.Sprintf("%q is not a number of seconds", value)
			}
			return ""
		}
		if _, err := ParseDuration(value); err != nil {
			return err.Error()
		}
	default:
		switch tk.typ.Kind() {
		case reflect.Bool:
			if !strings.EqualFold(value, "true") && !strings.EqualFold(value, "false") {
				return fmt.Sprintf("%q is not true or false", value)
			}
		case reflect.Int, reflect.Int64:
			if _, err := strconv.Atoi(value); err != nil {
				return fmt.Sprintf("%q is not a whole number", value)
			}
		case reflect.Float64:
			if _, err := strconv.ParseFloat(value, 64); err != nil {
				return fmt.Sprintf("%q is not a number", value)
			}
		}
	}
	return ""
}

// checkUntypedValue checks the properties without a typed field that
// Spark parses where a bad value stops the dispatcher.
func checkUntypedValue(key, value string) string {
	if key == "spark.driver.memoryOverheadFactor" {
		if f, err := strconv.ParseFloat(value, 64); err != nil || f <= 0 {
			return fmt.Sprintf("%q is not a number above 0 (Spark requires a factor > 0)", value)
		}
	}
	return ""
}
