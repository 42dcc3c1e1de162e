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

// Watch watches the directory trees under paths and sends on the returned
// channel, at most once per debounce interval, after files change. The
// channel has room for one signal and a send never blocks: signals coalesce,
// and the receiver rereads everything (level-triggered). New directories are
// watched as they appear. It stops when ctx ends.
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
				if timer == nil {
					timer = time.NewTimer(debounce)
					fire = timer.C
				}
			case <-w.Errors:
			case <-fire:
				timer, fire = nil, nil
				select {
				case out <- struct{}{}:
				default: // a signal is already pending
				}
			}
		}
	}()
	return out, nil
}
