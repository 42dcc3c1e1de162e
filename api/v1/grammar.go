package v1

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Constraint is one attribute constraint on Mesos offers. An offer matches when
// the agent has the attribute and, if Values is not empty, the attribute's
// value is one of them (text attributes) or at least one of them is <= it
// (scalar attributes: Spark compares with >=, so rack: 1 also matches rack 2).
type Constraint struct {
	// Attribute is the agent attribute name, as given to the agent's --attributes.
	Attribute string `json:"attribute"`
	// Values lists accepted values; empty means the attribute only has to be present.
	Values []string `json:"values,omitempty"`
}

// Constraints is a list of attribute constraints that must all match. In a
// manifest it is written either as a list of {attribute, values} or as
// Spark's own string, "os:centos7;zone:us-east-1a,us-east-1b".
type Constraints []Constraint

// ParseConstraints parses Spark's constraint grammar exactly as
// MesosSchedulerUtils.parseConstraintString does: entries separated by ';',
// each "attribute:value,value" with exactly one ':'.
func ParseConstraints(s string) (Constraints, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out Constraints
	seen := map[string]bool{}
	for i, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("constraint %d of %q is empty (Spark rejects a trailing or doubled ';')", i+1, s)
		}
		parts := strings.Split(entry, ":")
		if len(parts) != 2 {
			return nil, fmt.Errorf("constraint %q must be attribute:value[,value...] with exactly one ':'", entry)
		}
		attr := parts[0]
		if seen[attr] {
			return nil, fmt.Errorf("attribute %q is constrained twice; list all its values in one entry", attr)
		}
		seen[attr] = true
		c := Constraint{Attribute: attr}
		if parts[1] != "" {
			c.Values = strings.Split(parts[1], ",")
		}
		out = append(out, c)
	}
	return out, nil
}

// UnmarshalScalar implements scalarUnmarshaler for the string form.
func (c *Constraints) UnmarshalScalar(s string) error {
	v, err := ParseConstraints(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// String renders the constraints in Spark's grammar.
func (c Constraints) String() string {
	parts := make([]string, len(c))
	for i, x := range c {
		parts[i] = x.Attribute + ":" + strings.Join(x.Values, ",")
	}
	return strings.Join(parts, ";")
}

// EscapeLabel escapes ',' and ':' with a backslash, as Spark's
// MesosProtoUtils.mesosLabels expects inside spark.mesos.*.labels.
func EscapeLabel(s string) string {
	if !strings.ContainsAny(s, ",:") {
		return s
	}
	s = strings.ReplaceAll(s, ":", `\:`)
	return strings.ReplaceAll(s, ",", `\,`)
}

// FormatLabels renders a label map as Spark's "k:v,k2:v2" with escaping, in
// sorted key order so that the result is deterministic.
func FormatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = EscapeLabel(k) + ":" + EscapeLabel(m[k])
	}
	return strings.Join(parts, ",")
}

// DockerVolume is a volume mounted into the executors' Docker container,
// written as {hostPath, containerPath, mode} or as Spark's
// "[host_path:]container_path[:ro|:rw]".
type DockerVolume struct {
	// HostPath is the path on the agent; empty for a volume inside the container only.
	HostPath string `json:"hostPath,omitempty"`
	// ContainerPath is where the volume appears in the container.
	ContainerPath string `json:"containerPath"`
	// Mode is ro or rw (default rw).
	Mode string `json:"mode,omitempty"`
}

// ParseDockerVolume parses Spark's volume grammar. Unlike Spark, which drops a
// malformed volume with only a log warning, it returns an error.
func ParseDockerVolume(s string) (DockerVolume, error) {
	parts := strings.Split(s, ":")
	isMode := func(m string) bool { return m == "ro" || m == "rw" }
	switch {
	case len(parts) == 1 && parts[0] != "":
		return DockerVolume{ContainerPath: parts[0]}, nil
	case len(parts) == 2 && isMode(parts[1]):
		return DockerVolume{ContainerPath: parts[0], Mode: parts[1]}, nil
	case len(parts) == 2:
		return DockerVolume{HostPath: parts[0], ContainerPath: parts[1]}, nil
	case len(parts) == 3 && isMode(parts[2]):
		return DockerVolume{HostPath: parts[0], ContainerPath: parts[1], Mode: parts[2]}, nil
	}
	return DockerVolume{}, fmt.Errorf("%q is not a Docker volume: write [host_path:]container_path[:ro|:rw] (mode in lower case: Spark's parseVolumesSpec drops a volume it cannot read, or takes RO for a container path)", s)
}

// UnmarshalScalar implements scalarUnmarshaler for the string form.
func (v *DockerVolume) UnmarshalScalar(s string) error {
	x, err := ParseDockerVolume(s)
	if err != nil {
		return err
	}
	*v = x
	return nil
}

// String renders the volume in Spark's grammar.
func (v DockerVolume) String() string {
	s := v.ContainerPath
	if v.HostPath != "" {
		s = v.HostPath + ":" + s
	}
	if v.Mode != "" {
		s += ":" + v.Mode
	}
	return s
}

// UnmarshalJSON reads either Spark's constraint string or a list of
// {attribute, values}, the two forms a manifest may use.
func (c *Constraints) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		return c.UnmarshalScalar(s)
	}
	var list []Constraint
	if err := json.Unmarshal(data, &list); err != nil {
		return fmt.Errorf("constraints must be a string such as \"os:centos7;zone:a,b\" or a list of {attribute, values}")
	}
	*c = list
	return nil
}

// UnmarshalJSON reads either Spark's volume string or a volume object.
func (v *DockerVolume) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		return v.UnmarshalScalar(s)
	}
	type plain DockerVolume
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("a volume must be a string such as \"/host:/container:ro\" or {hostPath, containerPath, mode}")
	}
	*v = DockerVolume(p)
	return nil
}
