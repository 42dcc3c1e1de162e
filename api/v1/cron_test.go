package v1

import (
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// times lists the n scheduled instants after from, in UTC RFC 3339.
func times(t *testing.T, expr, tz string, from time.Time, n int) []string {
	t.Helper()
	c, err := ParseCron(expr, tz, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	at := from
	for range n {
		at = c.Next(at)
		out = append(out, at.UTC().Format(time.RFC3339))
	}
	return out
}

func TestCronNextAcrossDST(t *testing.T) {
	berlin, ny := mustZone(t, "Europe/Berlin"), mustZone(t, "America/New_York")
	cases := []struct {
		name, expr, tz string
		from           time.Time
		want           []string
	}{
		// Berlin springs forward on 2026-03-29 at 02:00 CET (01:00 UTC) to 03:00 CEST.
		{"spring-forward time in the gap runs once at 03:00 CEST", "30 2 * * *", "Europe/Berlin", time.Date(2026, 3, 28, 12, 0, 0, 0, berlin),
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"every 15 minutes: the gap's four times run once, with 03:00", "*/15 1-3 29 3 *", "Europe/Berlin", time.Date(2026, 3, 29, 1, 40, 0, 0, berlin),
			[]string{"2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z"}},
		// Berlin falls back on 2026-10-25 at 03:00 CEST (01:00 UTC) to 02:00 CET.
		{"fall-back time runs once, at its first occurrence", "30 2 * * *", "Europe/Berlin", time.Date(2026, 10, 24, 12, 0, 0, 0, berlin),
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"hourly across fall-back: 02:00 once, then 03:00 CET", "0 * * * *", "Europe/Berlin", time.Date(2026, 10, 25, 1, 30, 0, 0, berlin),
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z"}},
		// New York springs forward on 2026-03-08 at 02:00 EST (07:00 UTC), falls back on 2026-11-01 at 02:00 EDT (06:00 UTC).
		{"New York spring forward", "30 2 * * *", "America/New_York", time.Date(2026, 3, 7, 12, 0, 0, 0, ny),
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"New York fall back", "30 1 * * *", "America/New_York", time.Date(2026, 10, 31, 12, 0, 0, 0, ny),
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"a search from inside the repeated hour finds the next day", "30 1 * * *", "America/New_York", time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC),
			[]string{"2026-11-02T06:30:00Z"}},
		{"day of month or day of week, both restricted", "0 0 13 * 5", "UTC", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			[]string{"2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z", "2026-11-20T00:00:00Z"}},
		{"@daily in UTC", "@daily", "", time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC),
			[]string{"2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z"}},
		{"strictly after: a time equal to from is not returned", "0 2 * * *", "UTC", time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC),
			[]string{"2026-12-02T02:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := times(t, tc.expr, tc.tz, tc.from, len(tc.want))
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("times after %s: got %v, want %v", tc.from, got, tc.want)
				}
			}
		})
	}
}

func TestParseCronRefuses(t *testing.T) {
	for expr, want := range map[string]string{
		"":                 "empty",
		"@every 5m":        "@every is an interval",
		"TZ=UTC 0 2 * * *": "spec.timeZone",
		"* * * *":          "4 fields",
		"0 0 30 2 *":       "never fires",
		"*/5 * * * * *":    "6 fields",
	} {
		if _, err := ParseCron(expr, "", false); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCron(%q) = %v, want an error saying %q", expr, err, want)
		}
	}
	if _, err := ParseCron("*/5 * * * * *", "", true); err != nil {
		t.Errorf("a seconds field is accepted when asked for: %v", err)
	}
	if _, err := LoadZone("Local"); err == nil {
		t.Error("Local is refused")
	}
}
