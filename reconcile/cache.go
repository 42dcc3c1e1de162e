package reconcile

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/source"
)

// DesiredCache keeps run's desired state between passes: 10,000 manifests
// need not be parsed on every pass, so the source is read again only when
// it changed (Changed) or every FullReload in case a change went unseen
// (NFS, a watch limit). When the source cannot be read at all
// (source.UnreadableError) the last good desired state stays in force, the
// error shown as its source's sync error and by SourceError.
type DesiredCache struct {
	// Read reads the source's desired state and its manifest problems.
	Read       func() (*Desired, v1.Problems, error)
	FullReload time.Duration // default 5 minutes
	Log        *slog.Logger
	Now        func() time.Time
	// Loaded is called with each desired state newly read.
	Loaded func(*Desired)

	dirty     atomic.Bool
	sourceErr atomic.Value // string

	mu       sync.Mutex
	cached   *Desired
	cachedAt time.Time
	reported string // the problems (or source error) last logged
}

// Changed marks the source as changed: the next Load reads it.
func (c *DesiredCache) Changed() { c.dirty.Store(true) }

// SourceError says why the source could not be read the last time ("" if
// it could).
func (c *DesiredCache) SourceError() string {
	s, _ := c.sourceErr.Load().(string)
	return s
}

// Load returns the desired state to act on.
func (c *DesiredCache) Load() (*Desired, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.FullReload == 0 {
		c.FullReload = 5 * time.Minute
	}
	if c.cached != nil && !c.dirty.Load() && c.Now().Sub(c.cachedAt) < c.FullReload {
		return c.cached, nil
	}
	c.dirty.Store(false)
	d, problems, err := c.Read()
	if err != nil {
		c.dirty.Store(true)
		c.sourceErr.Store(err.Error())
		var unreadable *source.UnreadableError
		if !errors.As(err, &unreadable) || c.cached == nil {
			return nil, err
		}
		held := *c.cached
		if c.cached.Source != nil {
			src := *c.cached.Source
			src.SyncError = err.Error()
			held.Source = &src
		}
		c.report(err.Error(), func() {
			c.log().Error("source unreadable; the last good desired state stays in force", "err", err)
		})
		return &held, nil
	}
	c.sourceErr.Store("")
	var text strings.Builder
	for _, p := range problems.Errors() {
		text.WriteString(p.Error() + "\n")
	}
	c.report(text.String(), func() {
		for _, p := range problems.Errors() {
			c.log().Error("manifest problem; objects from this file keep their last good spec", "problem", p.Error(), "revision", d.Revision)
		}
	})
	if c.cached != nil {
		carryHeld(d, c.cached)
	}
	c.cached, c.cachedAt = d, c.Now()
	if c.Loaded != nil {
		c.Loaded(d)
	}
	return d, nil
}

// report logs what is wrong once, not on every read.
func (c *DesiredCache) report(what string, log func()) {
	if what != c.reported {
		c.reported = what
		log()
	}
}

func (c *DesiredCache) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// carryHeld puts back into d the objects that a file, broken in d, declared
// in the last good state prev: their last good spec stays in force (a held
// application's restart policy applies, a held service's failed task is
// relaunched, a held role keeps its weight), and nothing about them
// changes until the file loads again. Objects d declares elsewhere win.
func carryHeld(d, prev *Desired) {
	if len(d.BrokenFiles) == 0 {
		return
	}
	for name, a := range prev.Apps {
		if _, ok := d.Apps[name]; !ok && d.BrokenFiles[a.File] {
			d.Apps[name] = a
		}
	}
	d.indexNames()
	d.Services = carry(d.Services, prev.Services, d.BrokenFiles, func(s *DesiredService) (string, string) { return s.Key(), s.File })
	d.Schedules = carry(d.Schedules, prev.Schedules, d.BrokenFiles, func(s *DesiredSchedule) (string, string) { return s.Name(), s.File })
	d.Roles = carry(d.Roles, prev.Roles, d.BrokenFiles, func(r *DesiredRole) (string, string) { return r.Name, r.File })
	d.Notifiers = carry(d.Notifiers, prev.Notifiers, d.BrokenFiles, func(n *DesiredNotifier) (string, string) { return n.Name(), n.File })
}

// carry appends to cur the objects of prev that a broken file declared
// and cur lacks; of names its object's key and file.
func carry[T any](cur, prev []T, broken map[string]bool, of func(T) (key, file string)) []T {
	have := make(map[string]bool, len(cur))
	for _, x := range cur {
		k, _ := of(x)
		have[k] = true
	}
	for _, x := range prev {
		if k, f := of(x); !have[k] && broken[f] {
			cur = append(cur, x)
		}
	}
	return cur
}
