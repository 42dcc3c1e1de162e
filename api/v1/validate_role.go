package v1

import (
	"strconv"
	"strings"
	"unicode"
)

func validateRole(r *MesosRole, at Path, s problemSink) {
	name := r.RoleName()
	rp := at.Field("role")
	if r.Spec.Role == "" {
		rp = p("metadata", "name")
	}
	validateRoleName(name, rp, s)
	if name == "*" {
		s.errorf(rp, "the default role * cannot be managed")
	}
	if w := r.Spec.Weight; w != nil && *w <= 0 {
		s.errorf(at.Field("weight"), "must be more than 0")
	}
	if r.Spec.External && (r.Spec.Weight != nil || r.Spec.Quota != nil) {
		s.errorf(at.Field("external"), "an external role's weight and quota are managed elsewhere: remove weight and quota, or external")
	}
	q := r.Spec.Quota
	if q == nil {
		return
	}
	qp := at.Field("quota")
	checkRes := func(res *Resources, rp Path) {
		if res == nil {
			return
		}
		for name, v := range map[string]*float64{"cpus": res.CPUs, "gpus": res.GPUs} {
			if v != nil && *v < 0 {
				s.errorf(rp.Field(name), "must not be negative")
			}
		}
	}
	checkRes(q.Guarantees, qp.Field("guarantees"))
	checkRes(q.Limits, qp.Field("limits"))
	if q.Guarantees != nil && q.Limits != nil {
		g, l := q.Guarantees, q.Limits
		cmp := func(name string, gv, lv float64, gs, ls string) {
			if gv > lv {
				s.errorf(qp.Field("guarantees").Field(name), "guarantee %s is more than the limit %s", gs, ls)
			}
		}
		if g.CPUs != nil && l.CPUs != nil {
			cmp("cpus", *g.CPUs, *l.CPUs, fmtFloat(*g.CPUs), fmtFloat(*l.CPUs))
		}
		if g.GPUs != nil && l.GPUs != nil {
			cmp("gpus", *g.GPUs, *l.GPUs, fmtFloat(*g.GPUs), fmtFloat(*l.GPUs))
		}
		if g.Mem != nil && l.Mem != nil {
			cmp("mem", float64(g.Mem.Bytes), float64(l.Mem.Bytes), g.Mem.String(), l.Mem.String())
		}
		if g.Disk != nil && l.Disk != nil {
			cmp("disk", float64(g.Disk.Bytes), float64(l.Disk.Bytes), g.Disk.String(), l.Disk.String())
		}
	}
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// validateRoleName applies Mesos' role name rules (roles::validate): "*", or
// '/'-separated components none of which is empty, ".", "..", starts with '-'
// or contains white space or control characters.
func validateRoleName(role string, at Path, s problemSink) {
	if role == "*" {
		return
	}
	for _, c := range strings.Split(role, "/") {
		bad := c == "" || c == "." || c == ".." || strings.HasPrefix(c, "-") || strings.Contains(c, "*") ||
			strings.IndexFunc(c, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r > unicode.MaxASCII }) >= 0
		if bad {
			s.errorf(at, "%q is not a Mesos role: components separated by '/' must not be empty, '.', '..', start with '-' or contain '*', spaces or control characters", role)
			return
		}
	}
}
