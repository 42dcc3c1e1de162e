package v1

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// KindScheduledSparkApplication is the kind of a schedule of runs.
const KindScheduledSparkApplication = "ScheduledSparkApplication"

// ScheduledSparkApplication runs a SparkApplication template on a cron
// schedule: each scheduled time gets one run, a SparkApplication named
// after the schedule and the time (nightly-etl-20261201t0200z), whatever
// crashes, restarts or leader changes happen in between.
type ScheduledSparkApplication struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta   `json:"metadata"`
	Spec     ScheduleSpec `json:"spec"`
	origin   Origin
}

// The concurrency policies of a schedule.
const (
	ConcurrencyAllow   = "Allow"
	ConcurrencyForbid  = "Forbid"
	ConcurrencyReplace = "Replace"
)

// The catch-up rules of a schedule.
const (
	CatchUpLatest = "Latest"
	CatchUpAll    = "All"
)

// History and catch-up defaults of a schedule.
const (
	DefaultSuccessfulRunsHistory = 3
	DefaultFailedRunsHistory     = 1
	// MaxCatchUp bounds the missed runs catchUp All runs after a downtime:
	// older ones are skipped.
	MaxCatchUp = 20
)

// ScheduleSpec is what a ScheduledSparkApplication asks for.
type ScheduleSpec struct {
	// Schedule is a cron expression: five fields (minute hour day-of-month
	// month day-of-week), such as "0 2 * * *" for 02:00 every day, or one of
	// @yearly, @monthly, @weekly, @daily, @midnight, @hourly.
	Schedule string `json:"schedule"`
	// TimeZone is the IANA time zone the schedule is read in, such as
	// Europe/Berlin. Default: UTC. A time skipped when clocks spring forward
	// runs once, at the first valid instant after it; a time repeated when
	// they fall back runs once, at its first occurrence.
	TimeZone string `json:"timeZone,omitempty"`
	// ConcurrencyPolicy says what happens when a run is due while another
	// is still active: Allow (run both), Forbid (the default: the new time
	// waits for the active run to end, and is skipped when its
	// startingDeadline passes or a newer time comes due), or Replace (kill
	// the active run, start the new one).
	ConcurrencyPolicy string `json:"concurrencyPolicy,omitempty" jsonschema:"enum=Allow,enum=Forbid,enum=Replace"`
	// StartingDeadline: a run not started within this time after its
	// scheduled time is skipped, with an event saying so. Default: none.
	StartingDeadline *Duration `json:"startingDeadline,omitempty"`
	// CatchUp says which scheduled times missed while the reconciler was
	// down (or waiting) run: Latest (the default: only the newest, if within
	// the startingDeadline) or All (each in order, at most the newest 20).
	CatchUp string `json:"catchUp,omitempty" jsonschema:"enum=Latest,enum=All"`
	// Suspend stops new runs: true lets an active run finish, kill also
	// kills it. Times that come due while suspended are skipped.
	Suspend Suspend `json:"suspend,omitempty"`
	// SuccessfulRunsHistoryLimit is how many succeeded runs are kept
	// (records, status); older ones are forgotten. Default: 3.
	SuccessfulRunsHistoryLimit *int `json:"successfulRunsHistoryLimit,omitempty"`
	// FailedRunsHistoryLimit is how many failed or stopped runs are kept.
	// Default: 1.
	FailedRunsHistoryLimit *int `json:"failedRunsHistoryLimit,omitempty"`
	// Template is the SparkApplication spec every run is submitted with;
	// a run's metadata.name is the schedule's name and the scheduled time.
	Template SparkApplicationSpec `json:"template"`
}

// Suspend is a suspension: "" or false (not suspended), true (no new runs),
// or kill (no new runs, and the active ones are killed).
type Suspend string

// The suspensions.
const (
	SuspendNone Suspend = ""
	SuspendNew  Suspend = "true"
	SuspendKill Suspend = "kill"
)

// Suspended says new runs are stopped.
func (s Suspend) Suspended() bool { return s == SuspendNew || s == SuspendKill }

// UnmarshalScalar reads true, false or kill.
func (s *Suspend) UnmarshalScalar(v string) error {
	switch strings.TrimSpace(v) {
	case "false", "":
		*s = SuspendNone
	case "true":
		*s = SuspendNew
	case "kill":
		*s = SuspendKill
	default:
		return fmt.Errorf("%q is not a suspension: use true (no new runs), kill (no new runs, and kill the active ones) or false", v)
	}
	return nil
}

// MarshalJSON writes true, false or "kill".
func (s Suspend) MarshalJSON() ([]byte, error) {
	switch s {
	case SuspendKill:
		return json.Marshal("kill")
	case SuspendNew:
		return []byte("true"), nil
	}
	return []byte("false"), nil
}

// UnmarshalJSON reads true, false or "kill".
func (s *Suspend) UnmarshalJSON(data []byte) error {
	var str string
	if json.Unmarshal(data, &str) == nil {
		return s.UnmarshalScalar(str)
	}
	return s.UnmarshalScalar(string(data))
}

func (Suspend) scalarOnly() {}

// MaxScheduleName is the longest schedule name: its runs' names add the
// time (-20261201t0200z, or -m20261201t020000z for a run-now) and must stay
// within 63 characters.
const MaxScheduleName = 63 - len("-m20261201t020000z")

// RunName is the name of a schedule's run for a scheduled time (UTC, to
// the minute; to the second for a schedule with seconds).
func RunName(schedule string, at time.Time, seconds bool) string {
	layout := "20060102t1504z"
	if seconds {
		layout = "20060102t150405z"
	}
	return schedule + "-" + strings.ToLower(at.UTC().Format(layout))
}

// ManualRunName is the name of a run asked for by run-now at a time.
func ManualRunName(schedule string, at time.Time) string {
	return schedule + "-m" + strings.ToLower(at.UTC().Format("20060102t150405z"))
}

// Cron parses the schedule's expression and time zone (seconds: allow a
// seconds field, for tests).
func (s *ScheduleSpec) Cron(seconds bool) (*Cron, error) {
	return ParseCron(s.Schedule, s.TimeZone, seconds)
}

// RunApplication is the SparkApplication of one run: the template, named
// name, labelled with the schedule.
func (o *ScheduledSparkApplication) RunApplication(name string) *SparkApplication {
	app := &SparkApplication{
		TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindSparkApplication},
		Metadata: ObjectMeta{Name: name, Labels: o.Metadata.Labels, Annotations: o.Metadata.Annotations},
		Spec:     o.Spec.Template,
		origin:   Origin{File: o.origin.File, Doc: o.origin.Doc, Line: o.origin.Line, Column: o.origin.Column},
	}
	Default(app)
	return app
}

// HistoryLimits are the numbers of succeeded and failed runs kept.
func (s *ScheduleSpec) HistoryLimits() (succeeded, failed int) {
	succeeded, failed = DefaultSuccessfulRunsHistory, DefaultFailedRunsHistory
	if s.SuccessfulRunsHistoryLimit != nil {
		succeeded = *s.SuccessfulRunsHistoryLimit
	}
	if s.FailedRunsHistoryLimit != nil {
		failed = *s.FailedRunsHistoryLimit
	}
	return succeeded, failed
}

func validateSchedule(o *ScheduledSparkApplication, seconds bool, s problemSink) {
	spec := &o.Spec
	at := p("spec")
	if len(o.Metadata.Name) > MaxScheduleName {
		s.errorf(p("metadata", "name"), "%q is too long for a schedule: its runs are named after it and the time, so use at most %d characters", o.Metadata.Name, MaxScheduleName)
	}
	if _, err := LoadZone(spec.TimeZone); err != nil {
		s.errorf(at.Field("timeZone"), "%s", err.Error())
	}
	if _, err := ParseCron(spec.Schedule, "", seconds); err != nil {
		s.errorf(at.Field("schedule"), "%s", err.Error())
	}
	switch spec.ConcurrencyPolicy {
	case "", ConcurrencyAllow, ConcurrencyForbid, ConcurrencyReplace:
	default:
		s.errorf(at.Field("concurrencyPolicy"), "%q is not a concurrency policy: use Allow, Forbid or Replace", spec.ConcurrencyPolicy)
	}
	switch spec.CatchUp {
	case "", CatchUpLatest, CatchUpAll:
	default:
		s.errorf(at.Field("catchUp"), "%q is not a catch-up rule: use Latest (only the newest missed run) or All (each missed run, in order)", spec.CatchUp)
	}
	if d := spec.StartingDeadline; d != nil && d.Micros < 1_000_000 {
		s.errorf(at.Field("startingDeadline"), "%s is too short for a run to be started: use at least 1s", d)
	}
	nonNeg(spec.SuccessfulRunsHistoryLimit, at.Field("successfulRunsHistoryLimit"), s)
	nonNeg(spec.FailedRunsHistoryLimit, at.Field("failedRunsHistoryLimit"), s)
	validateApplication(&spec.Template, at.Field("template"), s)
	if spec.Template.RestartPolicy.Type == RestartAlways {
		s.errorf(at.Field("template").Field("restartPolicy").Field("type"), "a scheduled run must end: use Never or OnFailure (a long-running application is a SparkApplication with restartPolicy Always)")
	}
	if spec.Template.Suspend {
		s.errorf(at.Field("template").Field("suspend"), "suspend the schedule instead: spec.suspend")
	}
}
