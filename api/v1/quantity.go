package v1

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// scalarUnmarshaler is implemented by types written in a manifest as one YAML
// scalar with a grammar of their own (byte sizes, durations, constraint
// strings). The decoder hands them the scalar's literal text.
type scalarUnmarshaler interface {
	UnmarshalScalar(s string) error
}

// ByteSize is an amount of memory written as Spark writes it: an integer with
// a binary unit suffix (k, m, g, t, p, optionally followed by b), as Spark's
// JavaUtils.byteStringAsBytes parses it. 4g and 4096m are the same size.
// A bare number is rejected: Spark reads it as bytes, which for memory
// settings is almost never what was meant ("4096" is 0 MiB to Spark).
type ByteSize struct {
	Bytes int64
}

var byteUnits = []struct {
	suffix string
	shift  uint
}{
	{"p", 50}, {"t", 40}, {"g", 30}, {"m", 20}, {"k", 10},
}

// ParseByteSize parses a Spark byte string such as 512m, 4g or 1t.
func ParseByteSize(s string) (ByteSize, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(in) && in[i] >= '0' && in[i] <= '9' {
		i++
	}
	num, unit := in[:i], in[i:]
	if num == "" {
		return ByteSize{}, fmt.Errorf("%q is not a Spark byte size: write an integer with a unit, such as 512m or 4g", s)
	}
	if strings.HasPrefix(unit, ".") {
		return ByteSize{}, fmt.Errorf("%q: Spark does not accept fractional sizes; use a smaller unit (1.5g is 1536m)", s)
	}
	if unit == "" {
		hint := num + "m for MiB"
		if n, err := strconv.ParseInt(num, 10, 64); err == nil && n >= 1024 && n%1024 == 0 {
			hint = fmt.Sprintf("%sm (= %dg)", num, n/1024)
		}
		return ByteSize{}, fmt.Errorf("%q has no unit and Spark would read it as bytes; write %s", s, hint)
	}
	shift := uint(0)
	switch strings.TrimSuffix(unit, "b") {
	case "":
		shift = 0
	case "k":
		shift = 10
	case "m":
		shift = 20
	case "g":
		shift = 30
	case "t":
		shift = 40
	case "p":
		shift = 50
	default:
		return ByteSize{}, fmt.Errorf("%q: unknown unit %q; Spark knows b, k, m, g, t, p (optionally followed by b)", s, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return ByteSize{}, fmt.Errorf("%q is too large", s)
	}
	return ByteSize{Bytes: n << shift}, nil
}

// MustByteSize parses s or panics; for tests and constants.
func MustByteSize(s string) ByteSize {
	b, err := ParseByteSize(s)
	if err != nil {
		panic(err)
	}
	return b
}

// MiB returns the size in whole mebibytes, rounded down, as Spark's
// Utils.memoryStringToMb does.
func (b ByteSize) MiB() int64 { return b.Bytes >> 20 }

// String renders the size in Spark's form with the largest unit that divides
// it exactly, so that 4096m and 4g render (and hash) alike.
func (b ByteSize) String() string {
	if b.Bytes == 0 {
		return "0b"
	}
	for _, u := range byteUnits {
		if b.Bytes%(1<<u.shift) == 0 {
			return strconv.FormatInt(b.Bytes>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(b.Bytes, 10) + "b"
}

// UnmarshalScalar implements scalarUnmarshaler.
func (b *ByteSize) UnmarshalScalar(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalJSON writes the canonical Spark string.
func (b ByteSize) MarshalJSON() ([]byte, error) { return json.Marshal(b.String()) }

// UnmarshalJSON reads a Spark byte string.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("a byte size must be a string such as \"4g\"")
	}
	return b.UnmarshalScalar(s)
}

// Duration is a span of time written as Spark writes it: an integer with a
// unit (us, ms, s, m or min, h, d), as JavaUtils.timeStringAs parses it.
type Duration struct {
	Micros int64
}

var timeUnits = []struct {
	suffix string
	micros int64
}{
	{"d", 86_400_000_000}, {"h", 3_600_000_000}, {"min", 60_000_000}, {"s", 1_000_000}, {"ms", 1000}, {"us", 1},
}

// ParseDuration parses a Spark time string such as 120s, 5min or 100ms.
func ParseDuration(s string) (Duration, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(in) && in[i] >= '0' && in[i] <= '9' {
		i++
	}
	num, unit := in[:i], in[i:]
	if num == "" {
		return Duration{}, fmt.Errorf("%q is not a Spark duration: write an integer with a unit, such as 120s, 5min or 2h", s)
	}
	if unit == "" {
		return Duration{}, fmt.Errorf("%q has no unit: write %ss for seconds or %sms for milliseconds", s, num, num)
	}
	if strings.HasPrefix(unit, ".") {
		return Duration{}, fmt.Errorf("%q: Spark does not accept fractional durations; use a smaller unit", s)
	}
	var mult int64
	switch unit {
	case "us":
		mult = 1
	case "ms":
		mult = 1000
	case "s":
		mult = 1_000_000
	case "m", "min":
		mult = 60_000_000
	case "h":
		mult = 3_600_000_000
	case "d":
		mult = 86_400_000_000
	default:
		return Duration{}, fmt.Errorf("%q: unknown unit %q; Spark knows us, ms, s, m or min, h, d", s, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return Duration{}, fmt.Errorf("%q is too large", s)
	}
	return Duration{Micros: n * mult}, nil
}

// MustDuration parses s or panics; for tests and constants.
func MustDuration(s string) Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Seconds returns the duration in seconds.
func (d Duration) Seconds() float64 { return float64(d.Micros) / 1e6 }

// String renders the duration with the largest unit that divides it exactly.
func (d Duration) String() string {
	if d.Micros == 0 {
		return "0s"
	}
	for _, u := range timeUnits {
		if d.Micros%u.micros == 0 {
			return strconv.FormatInt(d.Micros/u.micros, 10) + u.suffix
		}
	}
	return strconv.FormatInt(d.Micros, 10) + "us"
}

// UnmarshalScalar implements scalarUnmarshaler.
func (d *Duration) UnmarshalScalar(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes the canonical Spark string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a Spark time string.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"120s\"")
	}
	return d.UnmarshalScalar(s)
}
