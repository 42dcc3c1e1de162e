package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatchSignalsChangesCoalesced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, []string{dir}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // a burst of writes...
		write(t, filepath.Join(dir, "a.yaml"), "x")
	}
	select {
	case <-ch: // ...is one signal
	case <-time.After(2 * time.Second):
		t.Fatal("no signal after writes")
	}
	select {
	case <-ch:
		t.Fatal("a burst gave two signals")
	case <-time.After(200 * time.Millisecond):
	}
	// A new subdirectory is watched too.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no signal for a new directory")
	}
	time.Sleep(100 * time.Millisecond)
	write(t, filepath.Join(dir, "sub", "b.yaml"), "y")
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no signal for a file in a new directory")
	}
}
