package reconcile

import (
	"errors"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
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
