package reconcile

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/mesos"
	"github.com/sparkmesos/reconciler/render"
	"github.com/sparkmesos/reconciler/source"
)

// The cache reads the source only when it changed or a full reload is due;
// an unreadable source leaves the last good state in force with the error
// as its sync error; another error, or an unreadable source before any
// good read, fails the load.
func TestDesiredCache(t *testing.T) {
	now := t0
	reads, loaded := 0, 0
	var readErr error
	c := &DesiredCache{FullReload: time.Minute, Now: func() time.Time { return now }, Loaded: func(*Desired) { loaded++ },
		Read: func() (*Desired, v1.Problems, error) {
			reads++
			if readErr != nil {
				return nil, nil, readErr
			}
			return &Desired{Revision: "r", Source: &Source{Location: "/m"}}, nil, nil
		}}
	unreadable := &source.UnreadableError{Problems: v1.Problems{{Pos: v1.Position{File: "/m"}, Message: "cannot read: no such file or directory"}}}

	readErr = unreadable
	if _, err := c.Load(); !errors.As(err, &unreadable) || c.SourceError() == "" {
		t.Fatalf("first load of an unreadable source: %v", err)
	}
	readErr = nil
	c.Changed()
	first, err := c.Load()
	if err != nil || reads != 2 || loaded != 1 || c.SourceError() != "" {
		t.Fatalf("load: %v, %d reads, %d loaded", err, reads, loaded)
	}
	if d, _ := c.Load(); d != first || reads != 2 {
		t.Fatalf("unchanged source read again (%d reads)", reads)
	}
	now = now.Add(2 * time.Minute)
	if _, _ = c.Load(); reads != 3 {
		t.Fatalf("full reload not done (%d reads)", reads)
	}

	readErr = unreadable
	c.Changed()
	held, err := c.Load()
	if err != nil || held.Revision != "r" || held.Source.SyncError == "" || first.Source.SyncError != "" {
		t.Fatalf("unreadable after a good read: %+v %v (the cached state must not change)", held, err)
	}
	if _, err := c.Load(); err != nil || reads != 5 {
		t.Fatalf("an unreadable source is tried again on every load: %v, %d reads", err, reads)
	}
	readErr = errors.New("render: boom")
	c.Changed()
	if _, err := c.Load(); err == nil {
		t.Fatal("another error was hidden behind the last good state")
	}
}

// What a file declared stays desired, at its last good spec, while the
// file is broken; it goes when the file loads again without it.
func TestDesiredCacheCarriesWhatABrokenFileDeclared(t *testing.T) {
	pi := app(t, "pi", "")
	shuffle := shuffleService(t, "shuffle", "", "1g")
	role := &DesiredRole{Name: "etl", Role: "etl", Weight: 3, File: "etl.yaml"}
	next := []*Desired{
		{Apps: map[string]*DesiredApp{"pi": pi}, Services: []*DesiredService{shuffle}, Roles: []*DesiredRole{role}, BrokenFiles: map[string]bool{}},
		{Apps: map[string]*DesiredApp{}, BrokenFiles: map[string]bool{pi.File: true, shuffle.File: true, "etl.yaml": true}},
		{Apps: map[string]*DesiredApp{}, BrokenFiles: map[string]bool{pi.File: true, shuffle.File: true, "etl.yaml": true}},
		{Apps: map[string]*DesiredApp{}, BrokenFiles: map[string]bool{}},
	}
	i := 0
	c := &DesiredCache{Read: func() (*Desired, v1.Problems, error) { d := next[i]; i++; return d, nil, nil }}
	for pass := 0; pass < len(next); pass++ {
		c.Changed()
		d, err := c.Load()
		if err != nil {
			t.Fatal(err)
		}
		held := pass == 1 || pass == 2
		if got := d.Apps["pi"] != nil && len(d.Services) == 1 && len(d.Roles) == 1; got != (pass < 3) {
			t.Fatalf("pass %d (file broken: %v): apps %v, services %d, roles %d", pass, held, d.Apps, len(d.Services), len(d.Roles))
		}
		if held && d.Apps["pi"] != pi {
			t.Fatalf("pass %d: not the last good spec", pass)
		}
	}
}

// inPlanOrder sorts drivers by application, then submission id, moving
// each driver whole: over random lists (repeated applications, already
// sorted and reversed runs) it gives what a sort of the drivers gives.
func TestDriversInPlanOrder(t *testing.T) {
	byPlan := func(x, y Driver) int {
		return compareLive(liveKey{app: x.App, sub: x.SubmissionID}, liveKey{app: y.App, sub: y.SubmissionID})
	}
	rnd := rand.New(rand.NewSource(5))
	for round := 0; round < 300; round++ {
		n := rnd.Intn(40)
		drivers := make([]Driver, n)
		for i := range drivers {
			app := fmt.Sprintf("app-%d", rnd.Intn(max(n/2, 1)))
			drivers[i] = Driver{App: app, SubmissionID: fmt.Sprintf("driver-%03d", rnd.Intn(1000)), TaskID: fmt.Sprint("t", i), AgentID: fmt.Sprint("a", rnd.Intn(5))}
		}
		switch round % 3 {
		case 1:
			slices.SortFunc(drivers, byPlan)
		case 2:
			slices.SortFunc(drivers, func(x, y Driver) int { return byPlan(y, x) })
		}
		want := slices.Clone(drivers)
		slices.SortStableFunc(want, byPlan)
		got := slices.Clone(drivers)
		inPlanOrder(got)
		if !slices.IsSortedFunc(got, byPlan) {
			t.Fatalf("round %d: not in order: %v", round, got)
		}
		// The same drivers, each whole (ties may come in either order).
		byTask := func(ds []Driver) []Driver {
			return slices.SortedFunc(slices.Values(ds), func(x, y Driver) int { return strings.Compare(x.TaskID, y.TaskID) })
		}
		if !reflect.DeepEqual(byTask(got), byTask(want)) {
			t.Fatalf("round %d: drivers lost or mixed:\n got %v\nwant %v", round, got, want)
		}
	}
}

// A LiveCache hands the same drivers to every pass that reads the same
// state, and finds them anew for another state or owner. A driver's
// application name and spec hash are the desired state's strings when
// equal to them.
func TestLiveCacheKeepsTheDriversOfOneState(t *testing.T) {
	driver := func(app, id, hash string) *mesos.Task {
		return &mesos.Task{ID: id, FrameworkID: "dispatcher", AgentID: "a1", State: "TASK_RUNNING", Labels: mesos.Labels{
			{Key: render.LabelOwner, Value: "me"}, {Key: render.LabelKind, Value: v1.KindSparkApplication},
			{Key: render.LabelComponent, Value: "driver"}, {Key: render.LabelName, Value: strings.Clone(app)},
			{Key: render.LabelSpecHash, Value: strings.Clone(hash)}}}
	}
	state := &mesos.Snapshot{Tasks: []*mesos.Task{driver("b", "driver-1", "hb"), driver("a", "driver-2", "old"), driver("a", "driver-0", "ha")}}
	d := &Desired{Apps: map[string]*DesiredApp{"a": {Name: "a", Rendered: &render.Application{SpecHash: "ha"}}}}
	var c LiveCache
	first := c.of(state, "me", d)
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	for _, dr := range first.drivers {
		desired := dr.App == "a"
		if same(dr.App, d.Apps["a"].Name) != desired || same(dr.SpecHash, d.Apps["a"].Rendered.SpecHash) != (dr.SubmissionID == "driver-0") {
			t.Errorf("driver %s of %s (%s): its strings are the desired state's where equal to them, and only there", dr.SubmissionID, dr.App, dr.SpecHash)
		}
	}
	var order []string
	for _, dr := range first.drivers {
		order = append(order, dr.App+"/"+dr.SubmissionID)
	}
	if want := []string{"a/driver-0", "a/driver-2", "b/driver-1"}; !slices.Equal(order, want) || len(first.visible) != 3 {
		t.Fatalf("drivers %v (visible %v), want %v", order, first.visible, want)
	}
	if again := c.of(state, "me", d); again != first {
		t.Error("the same state's drivers were found again")
	}
	changed := &mesos.Snapshot{Tasks: state.Tasks[:1]}
	if l := c.of(changed, "me", nil); l == first || len(l.drivers) != 1 {
		t.Errorf("another state got the drivers of the last: %d", len(l.drivers))
	}
	if l := c.of(changed, "someone else", nil); len(l.drivers) != 0 {
		t.Errorf("another owner got %d drivers", len(l.drivers))
	}
}
