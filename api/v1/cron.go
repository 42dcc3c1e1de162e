package v1

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Cron is a parsed schedule: a cron expression read in a time zone.
//
// Its times are wall-clock times of that zone, each run once:
//   - a time that does not exist (the hour skipped when clocks spring
//     forward) runs at the first valid instant after it, the moment the
//     clocks jump; several such times run once there, together with a time
//     scheduled at that moment;
//   - a time that exists twice (the hour repeated when clocks fall back)
//     runs at its first occurrence only.
//
// So 30 2 * * * in Europe/Berlin runs at 03:00 CEST on the last Sunday of
// March and at 02:30 CEST (not again at 02:30 CET) on the last Sunday of
// October. The expression is parsed by robfig/cron; the times are computed
// here, because its own Next skips a spring-forward time and runs a
// fall-back one twice.
type Cron struct {
	spec    *cron.SpecSchedule
	loc     *time.Location
	text    string
	seconds bool
}

// starBit marks a field written as * (robfig/cron's representation), which
// changes how day-of-month and day-of-week combine.
const starBit = 1 << 63

// yearsAhead bounds the search for the next time: an expression with no
// time within it (February 30th) never fires.
const yearsAhead = 5

// ParseCron parses a five-field cron expression (minute hour day-of-month
// month day-of-week, with names such as MON or JAN, ranges, lists and
// steps) or a descriptor (@yearly, @annually, @monthly, @weekly, @daily,
// @midnight, @hourly), read in the IANA time zone tz ("" is UTC). With
// seconds, a six-field expression with seconds first is accepted too: only
// tests use it, through the reconciler's hidden --schedule-seconds.
func ParseCron(expr, tz string, seconds bool) (*Cron, error) {
	text := strings.TrimSpace(expr)
	switch {
	case text == "":
		return nil, fmt.Errorf("empty: write a cron expression such as \"0 2 * * *\" (02:00 every day) or @daily")
	case strings.HasPrefix(text, "TZ=") || strings.HasPrefix(text, "CRON_TZ="):
		return nil, fmt.Errorf("%q: set the time zone in spec.timeZone, not in the expression", expr)
	case strings.HasPrefix(text, "@every"):
		return nil, fmt.Errorf("%q: @every is an interval, not a calendar schedule; write a cron expression such as \"*/15 * * * *\"", expr)
	}
	loc, err := LoadZone(tz)
	if err != nil {
		return nil, err
	}
	opts := cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor
	want := "five fields (minute hour day-of-month month day-of-week)"
	if seconds {
		opts |= cron.SecondOptional
		want = "five fields, or six with seconds first"
	}
	s, err := cron.NewParser(opts).Parse(text)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "expected exactly") {
			msg = fmt.Sprintf("%d fields; a schedule has %s, or is a descriptor such as @daily", len(strings.Fields(text)), want)
		}
		return nil, fmt.Errorf("%q is not a cron expression: %s", expr, msg)
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%q is not a calendar schedule", expr)
	}
	c := &Cron{spec: spec, loc: loc, text: text, seconds: seconds && !strings.HasPrefix(text, "@") && len(strings.Fields(text)) == 6}
	probe := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
	if c.Next(probe).IsZero() {
		return nil, fmt.Errorf("%q never fires (no such date within %d years)", expr, yearsAhead)
	}
	return c, nil
}

// LoadZone loads an IANA time zone; "" is UTC. Local is refused: a
// schedule must not depend on the machine the reconciler runs on.
func LoadZone(tz string) (*time.Location, error) {
	switch tz {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, fmt.Errorf("\"Local\" depends on the machine: name an IANA time zone such as Europe/Berlin or UTC")
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("%q is not a known IANA time zone; write a name such as Europe/Berlin, America/New_York or UTC", tz)
	}
	return loc, nil
}

// Location is the time zone the schedule is read in.
func (c *Cron) Location() *time.Location { return c.loc }

// String is the expression as written.
func (c *Cron) String() string { return c.text }

// Seconds says the expression has a seconds field.
func (c *Cron) Seconds() bool { return c.seconds }

// Next returns the first scheduled instant strictly after t, or the zero
// time when there is none within five years.
func (c *Cron) Next(t time.Time) time.Time {
	local := t.In(c.loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	startSec := local.Hour()*3600 + local.Minute()*60 + local.Second()
	for i := 0; i < yearsAhead*366; i, startSec = i+1, 0 {
		d := day.AddDate(0, 0, i)
		if 1<<uint(d.Month())&c.spec.Month == 0 || !c.dayMatches(d) {
			continue
		}
		for h := startSec / 3600; h < 24; h++ {
			if 1<<uint(h)&c.spec.Hour == 0 {
				continue
			}
			for m := 0; m < 60; m++ {
				if 1<<uint(m)&c.spec.Minute == 0 || h*3600+m*60+59 < startSec {
					continue
				}
				for s := 0; s < 60; s++ {
					if 1<<uint(s)&c.spec.Second == 0 || h*3600+m*60+s < startSec {
						continue
					}
					if at := civil(d.Year(), d.Month(), d.Day(), h, m, s, c.loc); at.After(t) {
						return at
					}
				}
			}
		}
	}
	return time.Time{}
}

// dayMatches applies cron's rule: when both day-of-month and day-of-week
// are restricted, either may match; otherwise both must.
func (c *Cron) dayMatches(d time.Time) bool {
	dom := 1<<uint(d.Day())&c.spec.Dom != 0
	dow := 1<<uint(d.Weekday())&c.spec.Dow != 0
	if c.spec.Dom&starBit != 0 || c.spec.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// civil is the instant a wall-clock time of loc stands for: its first
// occurrence, or, for a time in a gap (clocks sprang forward over it), the
// instant the gap ends.
func civil(y int, mo time.Month, d, h, mi, s int, loc *time.Location) time.Time {
	wall := time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	var first time.Time
	// The offsets in force a day before and a day after: a wall-clock time
	// is read with one of them (no zone changes twice within two days).
	for _, probe := range []time.Time{wall.Add(-24 * time.Hour), wall.Add(24 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		at := wall.Add(-time.Duration(off) * time.Second)
		if r := at.In(loc); r.Year() == y && r.Month() == mo && r.Day() == d && r.Hour() == h && r.Minute() == mi && r.Second() == s {
			if first.IsZero() || at.Before(first) {
				first = at
			}
		}
	}
	if !first.IsZero() {
		return first
	}
	_, before := wall.Add(-24 * time.Hour).In(loc).Zone()
	start, _ := wall.Add(-time.Duration(before) * time.Second).In(loc).ZoneBounds()
	return start
}
