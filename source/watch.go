package source

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long the first change after a quiet interval waits for the
// writes that come with it.
const settle = 5 * time.Millisecond

// Watch watches the directory trees under paths and sends on the returned
// channel when files change: at once for the first change after a quiet
// debounce interval (leading edge: one edit reaches the loop in the time
// of one pass), then at most once more per interval while changes keep
// coming (a burst is coalesced into a trailing signal). The channel has
// room for one signal and a send never blocks: signals coalesce, and the
// receiver rereads everything (level-triggered; a file caught half
// written fails to load and is held, and the trailing signal reads it
// whole). New directories are watched as they appear. It stops when ctx
// ends.
func Watch(ctx context.Context, paths []string, debounce time.Duration) (<-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	add := func(root string) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // vanished meanwhile
			}
			if d.IsDir() {
				if p != root && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return w.Add(p)
			}
			return nil
		})
	}
	for _, p := range paths {
		if err := add(p); err != nil {
			w.Close()
			return nil, err
		}
	}
	out := make(chan struct{}, 1)
	go func() {
		defer w.Close()
		var timer *time.Timer
		var fire <-chan time.Time
		pending := false // changes came during the current interval
		leading := false // the timer is the short settle before a leading signal
		signal := func() {
			select {
			case out <- struct{}{}:
			default: // a signal is already pending
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Op&fsnotify.Create != 0 {
					if info, err := os.Stat(ev.Name); err == nil && info.IsDir() {
						_ = add(ev.Name)
					}
				}
				switch {
				case timer == nil:
					// The first change after a quiet interval: signal after a
					// few milliseconds, so that a file's create and its write
					// (os.WriteFile's two events) are read as one.
					timer, leading = time.NewTimer(min(settle, debounce)), true
					fire = timer.C
				case !leading:
					pending = true
				}
			case <-w.Errors:
			case <-fire:
				if leading {
					signal()
					leading, pending = false, false
					timer.Reset(debounce)
					continue
				}
				if pending {
					signal() // the burst's trailing edge; stay in the interval
					pending = false
					timer.Reset(debounce)
					continue
				}
				timer, fire = nil, nil
			}
		}
	}()
	return out, nil
}
