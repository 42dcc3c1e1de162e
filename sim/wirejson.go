package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Mesos writes protobuf messages as JSON with stout's rules: an optional
// field is written when set, a repeated one when it has elements, and an
// unset optional field that declares a default (not deprecated) with that
// default. mesos-go's ffjson writes every field of its structs, nil ones as
// null, and knows only the enum values of its v0.0.11 protos. masterJSON
// is the one path by which every JSON answer and event of the simulated
// master is written: ffjson's output, rewritten to what a real master
// sends (checked against a Mesos 1.12.0 master's transcript by
// TestFidelityAgainstRealMaster).
func masterJSON(m message) ([]byte, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	w := wireRewriter{in: raw, out: make([]byte, 0, len(raw))}
	if err := w.value(nil); err != nil {
		return nil, fmt.Errorf("rewrite %T as Mesos JSON: %w", m, err)
	}
	return w.out, nil
}

// alwaysListed are the lists a master's operator API writes even when
// empty (master/http.cpp writes these sections itself, field by field),
// by the key of the object that holds them.
var alwaysListed = map[string][]string{
	"get_tasks":      {"tasks", "unreachable_tasks", "completed_tasks"},
	"get_frameworks": {"frameworks", "completed_frameworks"},
	"get_agents":     {"agents", "recovered_agents"},
	"get_executors":  {"executors"},
}

// withDefaults are the fields written with their declared default when
// unset, by the key of the object that holds them (mesos.proto's
// [default = ...] fields the simulator leaves unset).
var withDefaults = map[string][]member{
	"framework_info": {{"checkpoint", "false"}},
}

// newerFields are fields of Mesos 1.12 that mesos-go v0.0.11's structs
// lack, written as the simulated master would set them, by the key of the
// object (or of the list of objects) that holds them.
var newerFields = map[string][]member{
	// AgentInfo.checkpoint: agents checkpoint by default since 1.4.
	"agent_info": {{"checkpoint", "true"}},
	// Framework.offer_constraints: none set, written empty.
	"frameworks":           {{"offer_constraints", "{}"}},
	"completed_frameworks": {{"offer_constraints", "{}"}},
}

// newerEnumNames name enum values mesos-go v0.0.11 has no name for (its
// ffjson writes them as numbers), by the key of the list whose elements'
// "type" they are, under the object key that holds that list.
var newerEnumNames = map[[2]string]map[string]string{
	{"master_info", "capabilities"}: {"3": "QUOTA_V2"},
}

type member struct{ key, value string }

// wireRewriter copies compact JSON (ffjson's output) from in to out,
// applying the rules above. Each object knows the key it stands under (for
// an element of a list, the list's key) and its parent's key.
type wireRewriter struct {
	in  []byte
	i   int
	out []byte
}

func (w *wireRewriter) value(path []string) error {
	if w.i >= len(w.in) {
		return fmt.Errorf("unexpected end at %d", w.i)
	}
	switch w.in[w.i] {
	case '{':
		return w.object(path)
	case '[':
		return w.array(path)
	case '"':
		s, err := w.str()
		w.out = append(w.out, s...)
		return err
	default:
		start := w.i
		for w.i < len(w.in) && !bytes.ContainsRune([]byte(",]}"), rune(w.in[w.i])) {
			w.i++
		}
		w.out = append(w.out, w.in[start:w.i]...)
		return nil
	}
}

// str reads a string token, quotes included.
func (w *wireRewriter) str() ([]byte, error) {
	start := w.i
	w.i++
	for w.i < len(w.in) {
		switch w.in[w.i] {
		case '\\':
			w.i += 2
			continue
		case '"':
			w.i++
			return w.in[start:w.i], nil
		}
		w.i++
	}
	return nil, fmt.Errorf("unterminated string at %d", start)
}

// empty reports whether the value at i is null or [] (and skips it).
func (w *wireRewriter) empty() bool {
	switch {
	case bytes.HasPrefix(w.in[w.i:], []byte("null")):
		w.i += 4
		return true
	case bytes.HasPrefix(w.in[w.i:], []byte("[]")):
		w.i += 2
		return true
	}
	return false
}

func last(path []string, n int) string {
	if len(path) < n {
		return ""
	}
	return path[len(path)-n]
}

func (w *wireRewriter) object(path []string) error {
	self, parent := last(path, 1), last(path, 2)
	w.i++ // {
	w.out = append(w.out, '{')
	first := true
	seen := map[string]bool{}
	put := func(key string) {
		if !first {
			w.out = append(w.out, ',')
		}
		first = false
		w.out = append(w.out, strconv.Quote(key)...)
		w.out = append(w.out, ':')
	}
	for w.i < len(w.in) && w.in[w.i] != '}' {
		rawKey, err := w.str()
		if err != nil {
			return err
		}
		key, err := strconv.Unquote(string(rawKey))
		if err != nil || w.i >= len(w.in) || w.in[w.i] != ':' {
			return fmt.Errorf("bad member at %d", w.i)
		}
		w.i++ // :
		if w.empty() {
			if slices.Contains(alwaysListed[self], key) {
				put(key)
				w.out = append(w.out, '[', ']')
				seen[key] = true
			}
		} else {
			put(key)
			seen[key] = true
			if names := newerEnumNames[[2]string{parent, self}]; key == "type" && names != nil {
				start := w.i
				if err := w.value(append(path, key)); err != nil {
					return err
				}
				// ffjson writes a value it has no name for as "3" or 3.
				if name, ok := names[strings.Trim(string(w.in[start:w.i]), `"`)]; ok {
					w.out = append(w.out[:len(w.out)-(w.i-start)], strconv.Quote(name)...)
				}
			} else if err := w.value(append(path, key)); err != nil {
				return err
			}
		}
		if w.i < len(w.in) && w.in[w.i] == ',' {
			w.i++
		}
	}
	if w.i >= len(w.in) {
		return fmt.Errorf("unterminated object")
	}
	w.i++ // }
	for _, m := range append(withDefaults[self], newerFields[self]...) {
		if !seen[m.key] {
			put(m.key)
			w.out = append(w.out, m.value...)
		}
	}
	for _, key := range alwaysListed[self] {
		if !seen[key] {
			put(key)
			w.out = append(w.out, '[', ']')
		}
	}
	w.out = append(w.out, '}')
	return nil
}

// array copies a list; its elements stand under the list's key.
func (w *wireRewriter) array(path []string) error {
	w.i++ // [
	w.out = append(w.out, '[')
	for n := 0; w.i < len(w.in) && w.in[w.i] != ']'; n++ {
		if n > 0 {
			w.out = append(w.out, ',')
		}
		if err := w.value(path); err != nil {
			return err
		}
		if w.i < len(w.in) && w.in[w.i] == ',' {
			w.i++
		}
	}
	if w.i >= len(w.in) {
		return fmt.Errorf("unterminated list")
	}
	w.i++ // ]
	w.out = append(w.out, ']')
	return nil
}
